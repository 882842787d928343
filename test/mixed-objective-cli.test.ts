/**
 * NeuralRG's weight decay and mixed objective through the built CLI (a child process;
 * LATTICEFLOW_CLI may point at a private build): `train --nll-weight --weight-decay` records
 * the NLL term and the MH chains' acceptance in metrics.jsonl and the summary; a plain run's
 * files have none of the new keys; δ = ω = 0 and --nll-weight on several threads are one line
 * and exit code 2, before anything is written; a resume may change the weights, not the threads.
 * Adam's --beta1/--beta2 reach config.json; a rate outside [0, 1) is one line and exit code 2.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "./run-cli.js";

const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-mclearn-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runProcess(process.execPath, [CLI, ...args]);
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field below
const lines = (path: string): any[] =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field below
function lastJson(stdout: string): Record<string, any> {
  const ls = stdout.trim().split("\n");
  return JSON.parse(ls[ls.length - 1]!);
}

const QUICK = ["train", "--preset", "ising-mera-quick", "--steps", "5", "--batch", "16", "--quiet"];
const MIXED = join(tmp, "mixed");
const PLAIN = join(tmp, "plain");
let mixed: Awaited<ReturnType<typeof run>>;
let plain: Awaited<ReturnType<typeof run>>;

beforeAll(async () => {
  [mixed, plain] = await Promise.all([
    run(
      ...QUICK,
      "--nll-weight",
      "0.5",
      "--weight-decay",
      "0.001",
      "--beta1",
      "0.8",
      "--beta2",
      "0.9",
      "--out",
      MIXED,
      "--json",
    ),
    run(...QUICK, "--steps", "2", "--out", PLAIN, "--json"),
  ]);
}, 120_000);

describe("train --nll-weight --weight-decay (NeuralRG's MClearn)", () => {
  it("records the NLL term and the chains' acceptance per step, and the mean in the summary", () => {
    expect(mixed.code, mixed.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(MIXED, "config.json"), "utf8"));
    expect(config.train).toMatchObject({
      weightDecay: 0.001,
      nllWeight: 0.5,
      threads: 1,
      beta1: 0.8,
      beta2: 0.9,
    });
    expect("klWeight" in config.train).toBe(false);
    const m = lines(join(MIXED, "metrics.jsonl"));
    expect(m.map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    for (const r of m) {
      expect(r.accepted).toBe(true);
      expect(Number.isFinite(r.loss) && Number.isFinite(r.nll)).toBe(true);
    }
    // The chains start at step 1's batch: an acceptance from step 2 on.
    expect("mhAcceptance" in m[0]).toBe(false);
    for (const r of m.slice(1)) {
      expect(r.mhAcceptance).toBeGreaterThanOrEqual(0);
      expect(r.mhAcceptance).toBeLessThanOrEqual(1);
      expect(Number.isInteger(r.mhAcceptance * 16)).toBe(true);
    }
    const s = lastJson(mixed.stdout);
    expect(s.steps).toBe(5);
    expect(s.loss).toBe(m[4].loss); // the reported loss is the reverse-KL term
    const mean = m.slice(1).reduce((a, r) => a + r.mhAcceptance, 0) / 4;
    expect(s.mh_acceptance).toBeCloseTo(mean, 12);
  });

  it("a plain run's config, metrics and summary have none of the new keys", () => {
    expect(plain.code, plain.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(PLAIN, "config.json"), "utf8"));
    for (const k of ["weightDecay", "nllWeight", "klWeight"]) expect(k in config.train).toBe(false);
    for (const r of lines(join(PLAIN, "metrics.jsonl")))
      expect(Object.keys(r)).toEqual(["step", "loss", "logp", "logq", "ess", "accepted", "seconds"]);
    expect("mh_acceptance" in lastJson(plain.stdout)).toBe(false);
    expect(config.train).toMatchObject({ beta1: 0.9, beta2: 0.999 });
  });

  it("--beta1 1 is one line, exit 2, nothing written", async () => {
    const out = join(tmp, "beta");
    const r = await run(...QUICK, "--beta1", "1", "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^latticeflow: error: .*--beta1: must be at least 0 and below 1/);
    expect(existsSync(out)).toBe(false);
  });

  it("δ = ω = 0 is one line, exit 2, nothing written", async () => {
    const out = join(tmp, "zero");
    const r = await run(...QUICK, "--nll-weight", "0", "--kl-weight", "0", "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^latticeflow: error: .*--kl-weight = 0 and --nll-weight = 0.*nothing to train/);
    expect(existsSync(out)).toBe(false);
  });

  it("--nll-weight on two threads is one line, exit 2: the mixed objective runs on one thread", async () => {
    const out = join(tmp, "threads");
    const r = await run(...QUICK, "--nll-weight", "0.5", "--threads", "2", "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--nll-weight = 0\.5 with --threads = 2: .*runs on one thread; use --threads 1/);
    expect(existsSync(out)).toBe(false);
  });

  it("a resume may change --kl-weight (the chains restart empty), not to two threads", async () => {
    const threads = await run(
      "train",
      "--resume",
      "--out",
      MIXED,
      "--steps",
      "6",
      "--threads",
      "2",
      "--quiet",
    );
    expect(threads.code).toBe(2);
    expect(threads.stderr).toMatch(/--threads = 2: .*runs on one thread/);
    const r = await run("train", "--resume", "--out", MIXED, "--steps", "7", "--kl-weight", "0.5", "--quiet");
    expect(r.code, r.stderr).toBe(0);
    const m = lines(join(MIXED, "metrics.jsonl"));
    expect(m.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect("mhAcceptance" in m[5]).toBe(false); // step 6 starts the chains again
    expect(typeof m[6].mhAcceptance).toBe("number");
    expect(JSON.parse(readFileSync(join(MIXED, "config.json"), "utf8")).train.klWeight).toBe(0.5);
  }, 60_000);
});
