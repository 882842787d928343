/**
 * bench/seed-spread.ts end to end on tiny trainings (built dist/, as `npm test` builds it): the
 * summary JSON's fields, that the headline ESS is lnz's and its quartiles those of the runs, the
 * exact-ln Z deviation where the theory has one, and the refusals.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fiveNumberSummary } from "../src/analysis/quantiles.js";
import { runProcess } from "./run-cli.js";

const SCRIPT = join(__dirname, "..", "dist", "bench", "seed-spread.js");
const TINY = ["--steps", "3", "--L", "4", "--layers", "2", "--hidden", "4", "--batch", "8"];
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-seeds-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const seedSpread = (...args: string[]) => runProcess(process.execPath, [SCRIPT, ...args]);

interface Summary {
  n: number;
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
}
type Run = Record<string, unknown> & { seed: number; error: string | null; ess: number };
interface Side {
  seeds: number[];
  summary: Record<string, Summary | null>;
  runs: Run[];
}
interface Result {
  preset: string;
  train_flags: string[];
  ess_draws: number;
  mh: number;
  jobs: number;
  quartiles: string;
  interrupted: boolean;
  latticeflow: Side;
  pytorch: Side & { skipped: string | null; args: string[] | null };
}

const read = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Result;

describe("bench/seed-spread", () => {
  it("trains phi4-notebook over two seeds on two jobs and summarises lnz's ESS", async () => {
    const out = join(tmp, "notebook.json");
    const keep = join(tmp, "runs");
    const r = await seedSpread(
      ...["--preset", "phi4-notebook", "--seeds", "1-2", "--jobs", "2", "--ess-draws", "64", "--mh", "32"],
      ...["--torch-seeds", "", "--keep", keep, "--out", out, "--", ...TINY],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^latticeflow seed 1: ESS 0\.\d{3} \(64 draws; batch 0\.\d{3}\)/m);
    expect(r.stdout).toMatch(/^latticeflow seed 2: /m);
    expect(r.stdout).toMatch(/^ {2}ESS \(lnz, 64 draws\) +2 /m);
    expect(r.stdout).not.toMatch(/PyTorch training reference|pytorch/);
    const s = read(out);
    expect(s).toMatchObject({ preset: "phi4-notebook", train_flags: TINY, ess_draws: 64, mh: 32, jobs: 2 });
    expect(s.quartiles).toMatch(/type 7/);
    expect(s.interrupted).toBe(false);
    expect(s.latticeflow.seeds).toEqual([1, 2]);
    expect(s.latticeflow.runs.map((x) => x.seed)).toEqual([1, 2]);
    for (const run of s.latticeflow.runs) {
      expect(run.error).toBeNull();
      const train = run.train as Record<string, number>;
      const lnz = run.lnz as Record<string, number | null>;
      // The headline ESS is lnz's over 64 fresh draws; the batch ESS is train's.
      expect(lnz.n).toBe(64);
      expect(run.ess).toBe(lnz.ess);
      expect(run.batch_ess).toBe(train.ess);
      expect(train.steps).toBe(3);
      expect(run.ess).toBeGreaterThan(0);
      expect(run.ess).toBeLessThanOrEqual(1);
      for (const k of ["loss", "ms_per_step", "wall_s", "lnZ", "lnZ_error", "mh_acceptance"])
        expect(typeof run[k], k).toBe("number");
      // φ⁴ has no exact ln Z.
      expect(run.lnZ_exact).toBeNull();
      expect(run.lnZ_n_sigma).toBeNull();
      expect((run.sample as Record<string, number>).n).toBe(32);
      expect(run.run_dir).toBe(join(keep, String(run.seed)));
      expect(existsSync(join(keep, String(run.seed), "config.json"))).toBe(true);
    }
    const essSummary = fiveNumberSummary(s.latticeflow.runs.map((x) => x.ess));
    expect(s.latticeflow.summary.ess).toEqual(essSummary);
    expect(essSummary.n).toBe(2);
    for (const k of ["batch_ess", "mh_acceptance", "wall_s"]) expect(s.latticeflow.summary[k]!.n, k).toBe(2);
    expect(s.latticeflow.summary.lnZ_n_sigma).toBeNull();
    expect(s.pytorch).toMatchObject({ skipped: "no --torch-seeds", seeds: [], runs: [], args: null });
  });

  it("reports ln Z against the exact value and skips PyTorch, in one line, for another preset", async () => {
    const out = join(tmp, "u1.json");
    const r = await seedSpread(
      ...["--preset", "u1-tutorial", "--seeds", "1", "--ess-draws", "64", "--out", out, "--"],
      ...["--steps", "2", "--layers", "2", "--hidden", "4", "--batch", "8"],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(
      "no PyTorch training reference for u1-tutorial (only phi4-notebook)",
    );
    const s = read(out);
    const run = s.latticeflow.runs[0]!;
    const lnz = run.lnz as Record<string, number>;
    expect(typeof run.lnZ_exact).toBe("number");
    expect(run.lnZ_n_sigma).toBe(lnz.lnZ_n_sigma);
    expect(run.lnZ_n_sigma as number).toBeCloseTo(((run.lnZ as number) - lnz.lnZ_exact) / lnz.lnZ_error, 9);
    expect(s.latticeflow.summary.lnZ_n_sigma!.n).toBe(1);
    expect(s.pytorch.runs).toEqual([]);
    expect(s.pytorch.skipped).toMatch(/no PyTorch training reference/);
  });

  it("trains a preset's whole chain per seed, each stage from the last, and resumes a kept study", async () => {
    const keep = join(tmp, "chain");
    const tiny = ["--steps", "2", "--ode-steps", "2", "--batch", "2", "--L", "8"];
    const args = [
      "--preset",
      "phi4-l32",
      "--seeds",
      "1",
      "--ess-draws",
      "16",
      "--mh",
      "8",
      "--torch-seeds",
      "",
    ];
    args.push("--keep", keep);
    const first = await seedSpread(...args, "--out", join(tmp, "chain1.json"), "--", ...tiny);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.split("\n")[0]).toMatch(
      /^seed-spread: phi4-l32-start → phi4-l32-refine → phi4-l32; /,
    );
    expect(first.stdout).toMatch(
      /^latticeflow seed 1: ESS .*\(\d+\.\d \+ \d+\.\d \+ \d+\.\d s of training\)/m,
    );
    const a = read(join(tmp, "chain1.json"));
    expect(a).toMatchObject({ preset: "phi4-l32", chain: ["phi4-l32-start", "phi4-l32-refine", "phi4-l32"] });
    const run = a.latticeflow.runs[0]!;
    const stages = run.stages as { preset: string; resumed: boolean; train_s: number }[];
    expect(stages.map((x) => [x.preset, x.resumed])).toEqual([
      ["phi4-l32-start", false],
      ["phi4-l32-refine", false],
      ["phi4-l32", false],
    ]);
    expect(run.train_s).toBeCloseTo(
      stages.reduce((t, x) => t + x.train_s, 0),
      9,
    );
    // Each stage after the first started from the one before it.
    for (const [stage, from] of [
      ["phi4-l32-refine", "phi4-l32-start"],
      ["phi4-l32", "phi4-l32-refine"],
    ]) {
      const init = JSON.parse(readFileSync(join(keep, "1", stage!, "init_from.json"), "utf8"));
      expect(JSON.stringify(init)).toContain(join(keep, "1", from!));
    }
    const config = JSON.parse(readFileSync(join(keep, "1", "phi4-l32", "config.json"), "utf8"));
    expect(config.train).toMatchObject({ gradientEstimator: "path", steps: 2, seed: 1 });
    // The same command again: every stage is resumed (finished: nothing to train), and lnz and
    // the MH chain give the same numbers.
    const again = await seedSpread(...args, "--out", join(tmp, "chain2.json"), "--", ...tiny);
    const fine = await seedSpread(
      ...args,
      "--ode-steps",
      "3",
      "--out",
      join(tmp, "chain4.json"),
      "--",
      ...tiny,
    );
    expect(fine.code, fine.stderr).toBe(0);
    expect((read(join(tmp, "chain4.json")).latticeflow.runs[0]!.lnz as { ode_steps: number }).ode_steps).toBe(
      3,
    );
    expect(again.code, again.stderr).toBe(0);
    const b = read(join(tmp, "chain2.json"));
    const rerun = b.latticeflow.runs[0]!;
    expect((rerun.stages as { resumed: boolean }[]).map((x) => x.resumed)).toEqual([true, true, true]);
    expect(rerun.ess).toBe(run.ess);
    expect(rerun.mh_acceptance).toBe(run.mh_acceptance);
    expect(rerun.train_s).toBe(run.train_s);
    // A kept directory holding another seed's run is refused, in one line.
    cpSync(join(keep, "1"), join(keep, "2"), { recursive: true });
    const wrong = await seedSpread(
      ...args.map((a) => (a === "1" ? "2" : a)),
      "--out",
      join(tmp, "chain5.json"),
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim().split("\n")).toHaveLength(1);
    expect(wrong.stderr).toMatch(
      /phi4-l32-start holds a run of seed 1, not 2: give --seed 1, or another --keep directory/,
    );
    expect(existsSync(join(tmp, "chain5.json"))).toBe(false);
    const init = await seedSpread(...args, "--out", join(tmp, "chain3.json"), "--", "--init-from", keep);
    expect(init.code).toBe(2);
    expect(init.stderr).toMatch(/--init-from is set by the script/);
  }, 120_000);

  const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch, numpy"]).status === 0;
  it.skipIf(!hasTorch)("runs the PyTorch reference with the mirrored train flags", async () => {
    const out = join(tmp, "torch.json");
    const r = await seedSpread(
      "--seeds",
      "",
      "--torch-seeds",
      "1",
      "--ess-draws",
      "64",
      "--out",
      out,
      "--",
      ...TINY,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pytorch seed 1: ESS 0\.\d{3} \(64 draws; batch 0\.\d{3}\)/m);
    const s = read(out);
    expect(s.pytorch.skipped).toBeNull();
    const args = s.pytorch.args!;
    for (const [flag, value] of [
      ["--max-steps", "3"],
      ["--L", "4"],
      ["--hidden", "4"],
      ["--batch", "8"],
      ["--dtype", "float64"],
      ["--threads", "1"],
      ["--ess-draws", "64"],
    ])
      expect(args[args.indexOf(flag) + 1], flag).toBe(value);
    const run = s.pytorch.runs[0]!;
    expect(run.error).toBeNull();
    expect(run.ess).toBeGreaterThan(0);
    expect(run.ess).toBe((run.torch as Record<string, number>).draws_ess);
    expect(s.pytorch.summary.ess!.n).toBe(1);
    expect(s.latticeflow.runs).toEqual([]);
  });

  it("refuses an unknown preset, train flags before --, flags it sets itself, and nothing to run", async () => {
    const out = join(tmp, "refused.json");
    const unknown = await seedSpread("--preset", "phi4-nope", "--out", out);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1);
    expect(unknown.stderr).toMatch(
      /^seed-spread: error: unknown preset 'phi4-nope': use one of phi4-notebook, /,
    );
    const steps = await seedSpread("--steps", "3", "--out", out);
    expect(steps.code).toBe(2);
    expect(steps.stderr).toMatch(/train flags go after --/);
    const seed = await seedSpread("--out", out, "--", "--seed", "3");
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(/--seed is set by the script/);
    // The reference has no --lr: the PyTorch side is skipped in one line, and then nothing is left.
    const lr = await seedSpread("--seeds", "", "--out", out, "--", "--lr", "2e-3");
    expect(lr.code).toBe(2);
    expect(lr.stdout.trim()).toBe("the PyTorch reference has no equivalent of --lr: PyTorch side skipped");
    expect(lr.stderr.trim()).toBe("seed-spread: error: no seeds to run");
    expect(existsSync(out)).toBe(false);
  });
});
