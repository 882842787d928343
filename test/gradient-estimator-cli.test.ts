/**
 * `train --gradient-estimator` through the built CLI (a child process; LATTICEFLOW_CLI may point
 * at a private build): the estimator is recorded in config.json and the reported loss is the
 * reverse KL of the batch; an unknown estimator, one with the mixed objective, and REINFORCE
 * with fewer than 2 samples per thread are one line and exit code 2, before anything is written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runProcess } from "./run-cli.js";

const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-estimator-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runProcess(process.execPath, [CLI, ...args]);
const QUICK = ["train", "--preset", "phi4-notebook", "--steps", "4", "--batch", "8", "--quiet"];

describe("train --gradient-estimator", () => {
  it("path and reinforce train, are recorded, and report the batch's reverse KL", async () => {
    const runs = await Promise.all(
      ["path", "reinforce"].map((e) => run(...QUICK, "--gradient-estimator", e, "--out", join(tmp, e))),
    );
    for (const [i, e] of ["path", "reinforce"].entries()) {
      expect(runs[i]!.code, runs[i]!.stderr).toBe(0);
      const config = JSON.parse(readFileSync(join(tmp, e, "config.json"), "utf8"));
      expect(config.train.gradientEstimator).toBe(e);
      const m = readFileSync(join(tmp, e, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(m.map((r) => r.step)).toEqual([1, 2, 3, 4]);
      for (const r of m) expect(r.loss).toBeCloseTo(r.logq - r.logp, 9);
    }
  }, 120_000);

  it("bad input is one line, exit 2, nothing written", async () => {
    const cases: [string[], RegExp][] = [
      [["--gradient-estimator", "score"], /--gradient-estimator.*reparameterization.*path.*reinforce/],
      [["--gradient-estimator", "path", "--nll-weight", "1"], /not of the mixed objective/],
      [
        ["--gradient-estimator", "reinforce", "--batch", "3", "--threads", "2"],
        /at least 2 samples per thread/,
      ],
    ];
    for (const [k, [args, message]] of cases.entries()) {
      const out = join(tmp, `bad${k}`);
      const r = await run(...QUICK, ...args, "--out", out);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  }, 60_000);
});
