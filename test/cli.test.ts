/**
 * The command line as a user runs it (the built dist/ CLI in a child process): JSON summaries,
 * exact resume, MH ensembles numpy can open, and bad input → one line, exit 2, nothing written.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lastJson, runCli, runProcess } from "./run-cli.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = runCli;
const TINY = [
  "--L",
  "4",
  "--layers",
  "2",
  "--hidden",
  "4",
  "--batch",
  "8",
  "--checkpoint-every",
  "3",
  "--quiet",
];
const hasNumpy = spawnSync("/usr/bin/python3", ["-c", "import numpy"]).status === 0;

describe("latticeflow train", () => {
  it("prints one JSON summary as the last stdout line", async () => {
    const r = await run("train", ...TINY, "--steps", "4", "--out", join(tmp, "a"), "--json");
    expect(r.code).toBe(0);
    const s = lastJson(r.stdout);
    expect(Object.keys(s)).toEqual(
      expect.arrayContaining(["steps", "loss", "ess", "ms_per_step", "checkpoint"]),
    );
    expect(s.steps).toBe(4);
    const metrics = readFileSync(join(tmp, "a", "metrics.jsonl"), "utf8")
      .trim()
      .split("\n");
    expect(metrics).toHaveLength(4);
  });

  it("--resume continues exactly where the run stopped", async () => {
    const straight = join(tmp, "straight");
    const split = join(tmp, "split");
    const a = await run("train", ...TINY, "--steps", "6", "--seed", "3", "--out", straight, "--json");
    expect(a.code).toBe(0);
    expect((await run("train", ...TINY, "--steps", "3", "--seed", "3", "--out", split)).code).toBe(0);
    const b = await run("train", "--resume", "--steps", "6", "--out", split, "--quiet", "--json");
    expect(b.code).toBe(0);
    // The summary's ESS covers the run's last steps, those before the resume included.
    expect(lastJson(b.stdout).ess).toBe(lastJson(a.stdout).ess);
    const losses = (d: string) =>
      readFileSync(join(d, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).loss);
    expect(losses(split)).toEqual(losses(straight));
    const weights = (d: string) => readFileSync(join(d, "checkpoint.safetensors"));
    expect(weights(split).equals(weights(straight))).toBe(true);
  });

  it("refuses to overwrite an existing run", async () => {
    const r = await run("train", ...TINY, "--steps", "1", "--out", join(tmp, "a"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds a run.*--resume/);
  });
});

describe("latticeflow sample", () => {
  it("writes an MH ensemble [N, ...sites] float64 with acceptance", async () => {
    const out = join(tmp, "a", "ens.npy");
    const r = await run(
      "sample",
      "--run",
      join(tmp, "a"),
      "--n",
      "50",
      "--mh",
      "--seed",
      "1",
      "--out",
      out,
      "--json",
    );
    expect(r.code).toBe(0);
    const s = lastJson(r.stdout);
    expect(s.n).toBe(50);
    expect(s.acceptance as number).toBeGreaterThanOrEqual(0);
    expect(s.acceptance as number).toBeLessThanOrEqual(1);
    expect(existsSync(`${out}.json`)).toBe(true);
    if (hasNumpy) {
      const py = await runProcess("/usr/bin/python3", [
        "-c",
        `import numpy as np; a = np.load("${out}"); print(a.shape, a.dtype)`,
      ]);
      expect(py.stdout.trim()).toBe("(50, 4, 4) float64");
    }
  });

  it("the same seed gives the same ensemble", async () => {
    const a = join(tmp, "s1.npy");
    const b = join(tmp, "s2.npy");
    await run("sample", "--run", join(tmp, "a"), "--n", "20", "--mh", "--seed", "7", "--out", a);
    await run("sample", "--run", join(tmp, "a"), "--n", "20", "--mh", "--seed", "7", "--out", b);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });
});

describe("latticeflow demo (what npm start runs)", () => {
  it("trains, samples with MH and prints the observables", async () => {
    const out = join(tmp, "demo");
    const r = await run("demo", "--steps", "3", "--n", "64", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/flow MH: 64 configurations/);
    expect(r.stdout).toMatch(/chi2 = <M\^2>\/V|not measurable from this chain/);
    expect(existsSync(join(out, "ensemble.npy"))).toBe(true);
  });
});

describe("bad input: one line naming the problem and the fix, exit 2, nothing written", () => {
  const bad: [string, string[], RegExp][] = [
    ["unknown preset", ["train", "--preset", "nope"], /unknown preset 'nope'.*phi4-notebook/],
    [
      "a preset that goes on from another, without --init-from",
      ["train", "--preset", "phi4-l32"],
      /preset phi4-l32 goes on from a trained phi4-l32-refine run: add --init-from .*npm run seeds -- --preset phi4-l32/,
    ],
    ["odd L", ["train", "--L", "7"], /L = 7 is odd.*even/],
    ["L <= 0", ["train", "--L", "0"], /--L must be an integer/],
    ["non-numeric flag", ["train", "--m2", "abc"], /--m2 expects a number/],
    ["unknown flag", ["train", "--bogus"], /unknown option '--bogus'/],
    ["negative lambda", ["train", "--lam", "-1"], /--lam/],
    // issue 16's cases: an extent that would exhaust memory, a kernel wider than the lattice
    ["L = 1e9", ["train", "--L", "1e9"], /--L must be an integer from 1/],
    ["kernel wider than L", ["train", "--L", "8", "--kernel", "9"], /kernel = 9 is wider than the lattice/],
    ["a flag of another theory", ["train", "--beta", "2"], /--beta is a setting of theory 'u1'/],
    [
      "a flag of another flow",
      ["train", "--partition", "stripes"],
      /--partition is a setting of flow 'realnvp-mlp'/,
    ],
    [
      "a real-field flow on U(1) links",
      ["train", "--theory", "u1", "--flow", "affine-cnn"],
      /flow 'affine-cnn' transforms real fields, but theory 'u1' has link angles: use --flow ncp/,
    ],
  ];
  for (const [name, args, msg] of bad) {
    it(name, async () => {
      const out = join(tmp, `bad-${name.replace(/\W/g, "")}`);
      const r = await run(...args, "--out", out);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
      expect(existsSync(out)).toBe(false);
    });
  }

  it("malformed config file", async () => {
    const f = join(tmp, "bad.json");
    writeFileSync(f, '{"L": 8,');
    const r = await run("train", "--config", f, "--out", join(tmp, "badcfg"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not valid JSON/);
    const g = join(tmp, "bad2.json");
    writeFileSync(g, '{"Lx": 8}');
    expect((await run("train", "--config", g, "--out", join(tmp, "badcfg"))).stderr).toMatch(
      /unknown setting 'Lx'/,
    );
  });

  it("sample --batch 0, -1, 1.5: one line, exit 2, nothing written (0 looped for ever in v0.1)", async () => {
    const d = join(tmp, "batch-run");
    expect((await run("train", ...TINY, "--steps", "1", "--out", d)).code).toBe(0);
    for (const batch of ["0", "-1", "1.5"]) {
      const out = join(tmp, `batch${batch}.npy`);
      const r = await run("sample", "--run", d, "--n", "20", "--mh", "--batch", batch, "--out", out);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/--batch must be a positive integer/);
      expect(existsSync(out)).toBe(false);
    }
  });

  it("missing run directory and missing or truncated checkpoint", async () => {
    expect((await run("sample", "--run", join(tmp, "nothing"), "--n", "5")).stderr).toMatch(
      /not a run directory/,
    );
    const d = join(tmp, "trunc");
    expect((await run("train", ...TINY, "--steps", "1", "--out", d)).code).toBe(0);
    const ckpt = join(d, "checkpoint.safetensors");
    truncateSync(ckpt, 200);
    const out = join(tmp, "trunc.npy");
    const r = await run("sample", "--run", d, "--n", "5", "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/truncated/);
    expect(existsSync(out)).toBe(false);
    rmSync(ckpt);
    expect((await run("sample", "--run", d, "--n", "5", "--out", out)).stderr).toMatch(/no checkpoint/);
  });
});
