/**
 * Training schedules (issue 14): the step decay of the learning rate, lr·γ^⌊t/n⌋, and batch
 * growth, min(B_max, B·2^⌊t/n⌋), against hand values; their spec fields and validation lines;
 * a tiny φ⁴ run whose batch changes at the right steps on the plain trainer, the CLI's
 * runTraining and the parallel trainer; and a run interrupted and resumed equal to an
 * uninterrupted one bit for bit, on 1 thread (in process) and on 2 (the built dist/, as
 * test/parallel.test.ts and test/cli-threads.test.ts use it).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { flagOfKey, inFlagTerms, TRAIN_FLAGS } from "../src/cli/spec-flags.js";
import { runTraining } from "../src/cli/train-command.js";
import { Tensor } from "../src/engine/index.js";
import {
  applySettings,
  buildModel,
  parseRunConfig,
  presetConfig,
  type RunConfig,
  SpecError,
} from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";
import { adamOf } from "../src/train/adam.js";
import { batchAt, batchScheduleOf } from "../src/train/batch-schedule.js";
import { objectiveOf } from "../src/train/mixed-objective.js";
import {
  cosineDecay,
  learningRateAt,
  learningRateOf,
  linearWarmup,
  STEP_DECAY_FACTOR,
  stepDecay,
} from "../src/train/schedule.js";
import { createTrainer, type TrainState } from "../src/train/trainer.js";
import { runCli } from "./run-cli.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-schedules-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tiny φ⁴ run (4×4, 2 affine-cnn layers) whose batch grows 4, 4, 8, 8, 12, 12 (capped at 12). */
const TINY = { L: 4, layers: 2, hidden: [4], batch: 4, seed: 3, checkpointEvery: 3, lr: 1e-2 };
const GROWTH = { batchGrowthEvery: 2, batchMax: 12 };
const BATCHES = [4, 4, 8, 8, 12, 12];
const configOf = (over: Record<string, unknown> = {}): RunConfig =>
  applySettings(presetConfig("phi4-notebook"), { ...TINY, ...over }, "test");

/** The one line of the SpecError that `f` throws. */
function specError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SpecError);
    const m = (e as Error).message;
    expect(m.split("\n")).toHaveLength(1);
    return m;
  }
  throw new Error("expected a SpecError");
}

describe("step decay of the learning rate", () => {
  it("lr·γ^⌊t/n⌋: hand values, default γ = 0.5", () => {
    const f = stepDecay(1e-2, 3);
    expect([0, 1, 2, 3, 5, 6, 8, 9, 12].map(f)).toEqual([
      1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3, 1.25e-3, 6.25e-4,
    ]);
    expect(STEP_DECAY_FACTOR).toBe(0.5);
    const g = stepDecay(1, 2, 0.1);
    expect(g(1)).toBe(1);
    expect(g(2)).toBeCloseTo(0.1, 16);
    expect(g(5)).toBeCloseTo(0.01, 17);
    expect(g(7)).toBeCloseTo(1e-3, 18);
    for (const [every, factor] of [
      [0, 0.5],
      [1.5, 0.5],
      [2, 0],
      [2, 1],
      [2, -0.5],
    ] as const)
      expect(() => stepDecay(1, every, factor)).toThrow(RangeError);
  });

  it("a run's spec chooses it; Adam's rate at update t is the schedule's", () => {
    const c = applySettings(undefined, { lrSchedule: "step", lrDecayEvery: 10, lr: 0.01 }, "flags");
    expect(c.train).toMatchObject({ lrSchedule: "step", lrDecayEvery: 10 });
    expect("lrDecayFactor" in c.train).toBe(false);
    const s = learningRateOf(c.train);
    expect([0, 9, 10, 19, 20].map((t) => learningRateAt(s, t))).toEqual([0.01, 0.01, 0.005, 0.005, 0.0025]);
    const f = learningRateOf({ ...c.train, lrDecayFactor: 0.25 });
    expect(learningRateAt(f, 20)).toBe(0.01 / 16);
    expect(() => learningRateOf({ lr: 1, steps: 5, lrSchedule: "step" })).toThrow(RangeError);
    // Adam's update of a constant gradient: the step size follows the schedule (Adam's m̂/√v̂ = ±1 here).
    const opt = adamOf({ ...c.train, lrDecayEvery: 1, lrDecayFactor: 0.5 });
    const g = { w: new Tensor(Float64Array.from([0.3]), [1]) };
    let st = opt.init(g);
    const sizes: number[] = [];
    for (let k = 0; k < 3; k++) {
      const r = opt.update(g, st);
      st = r.state;
      sizes.push(-r.updates.w!.data[0]!);
    }
    // (|Δθ| = lr(t)·|g|/(|g| + ε) with ε = 1e-8.)
    for (let k = 0; k < 3; k++) expect(Math.abs(sizes[k]! / (0.01 / 2 ** k) - 1)).toBeLessThan(1e-7);
  });
});

describe("linear warm-up of the learning rate", () => {
  it("min(1, (t+1)/n)·lr(t): hand values on a constant and a cosine schedule", () => {
    const f = linearWarmup(0.01, 4);
    expect([0, 1, 2, 3, 4, 100].map(f)).toEqual([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
    const cos = cosineDecay(1, 10);
    const g = linearWarmup(cos, 2);
    expect(g(0)).toBe(0.5 * cos(0));
    expect([1, 5, 10].map(g)).toEqual([1, 5, 10].map(cos));
    for (const n of [0, -1, 1.5]) expect(() => linearWarmup(0.01, n)).toThrow(RangeError);
  });

  it("a run's spec chooses it on top of its schedule; absent, the schedule is unchanged", () => {
    const c = applySettings(undefined, { lr: 0.01, lrSchedule: "cosine", steps: 100, lrWarmup: 10 }, "flags");
    expect(c.train.lrWarmup).toBe(10);
    const s = learningRateOf(c.train);
    const plain = learningRateOf({ ...c.train, lrWarmup: undefined });
    expect(learningRateAt(s, 0)).toBe(0.1 * learningRateAt(plain, 0));
    expect(learningRateAt(s, 4)).toBe(0.5 * learningRateAt(plain, 4));
    for (const t of [9, 50, 99]) expect(learningRateAt(s, t)).toBe(learningRateAt(plain, t));
    expect(learningRateOf({ lr: 0.01, steps: 5 })).toBe(0.01);
    expect(specError(() => applySettings(undefined, { lrWarmup: 0 }, "flags"))).toMatch(/'train\.lrWarmup'/);
    expect(TRAIN_FLAGS.find((f) => f.key === "lrWarmup")!.flag).toBe("--lr-warmup <n>");
  });
});

describe("batch growth", () => {
  it("min(B_max, B·2^⌊t/n⌋): hand values; no growth without both fields", () => {
    const spec = { batch: 3, batchGrowthEvery: 2, batchMax: 20 };
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 1e9].map((t) => batchAt(spec, t))).toEqual([
      3, 3, 6, 6, 12, 12, 20, 20, 20, 20, 20,
    ]);
    expect(batchAt({ batch: 5, batchGrowthEvery: 1, batchMax: 40 }, 3)).toBe(40);
    expect(batchAt({ batch: 5, batchGrowthEvery: 1, batchMax: 5 }, 7)).toBe(5);
    expect(batchAt({ batch: 7 }, 1000)).toBe(7);
    expect(batchScheduleOf({ batch: 7 })).toBeUndefined();
    const f = batchScheduleOf(spec)!;
    expect([0, 2, 4, 6].map(f)).toEqual([3, 6, 12, 20]);
    expect(() => batchScheduleOf({ batch: 8, batchGrowthEvery: 2, batchMax: 4 })).toThrow(RangeError);
    expect(() => batchScheduleOf({ batch: 8, batchGrowthEvery: 0, batchMax: 16 })).toThrow(RangeError);
  });
});

describe("the schedules' spec fields", () => {
  const bad = (over: Record<string, unknown>) => specError(() => applySettings(undefined, over, "flags"));

  it("each misuse is one line naming the problem and the fix", () => {
    expect(bad({ lrSchedule: "step" })).toBe(
      "flags: 'train.lrSchedule' = step without 'train.lrDecayEvery': the step decay multiplies the learning rate by 'train.lrDecayFactor' (absent: 0.5) once every 'train.lrDecayEvery' steps; give 'train.lrDecayEvery' (a positive integer)",
    );
    expect(bad({ lrDecayEvery: 100 })).toMatch(
      /'train\.lrDecayEvery' = 100 with 'train\.lrSchedule' = constant: .*give 'train\.lrSchedule' step, or drop 'train\.lrDecayEvery'$/,
    );
    expect(bad({ lrSchedule: "cosine", lrDecayFactor: 0.3 })).toMatch(
      /'train\.lrDecayFactor' = 0\.3 with 'train\.lrSchedule' = cosine: /,
    );
    for (const f of [0, 1, 2])
      expect(bad({ lrSchedule: "step", lrDecayEvery: 5, lrDecayFactor: f })).toMatch(
        /'train\.lrDecayFactor': must be between 0 and 1/,
      );
    expect(bad({ lrSchedule: "step", lrDecayEvery: 0 })).toMatch(/'train\.lrDecayEvery'/);
    expect(bad({ batchGrowthEvery: 100 })).toMatch(
      /'train\.batchGrowthEvery' = 100 without 'train\.batchMax': .*needs both; give 'train\.batchMax', or drop 'train\.batchGrowthEvery'$/,
    );
    expect(bad({ batchMax: 256 })).toMatch(
      /'train\.batchMax' = 256 without 'train\.batchGrowthEvery': .*give 'train\.batchGrowthEvery', or drop 'train\.batchMax'$/,
    );
    expect(bad({ batch: 64, batchGrowthEvery: 10, batchMax: 32 })).toMatch(
      /'train\.batchMax' = 32 is below 'train\.batch' = 64: .*give 'train\.batchMax' ≥ 64, or a smaller 'train\.batch'$/,
    );
    expect(bad({ batchGrowthEvery: 10, batchMax: 128, nllWeight: 1 })).toMatch(
      /'train\.batchGrowthEvery' with 'train\.nllWeight' = 1: the mixed objective.*drop one of them$/,
    );
    expect(bad({ batchGrowthEvery: 1.5, batchMax: 128 })).toMatch(/'train\.batchGrowthEvery'/);
    // The memory check takes the largest batch (64 of a 2048² lattice pass: 2 GiB per field array).
    expect(applySettings(undefined, { L: 2048, batch: 64 }, "flags").train.batch).toBe(64);
    expect(bad({ L: 2048, batch: 64, batchGrowthEvery: 10, batchMax: 128 })).toMatch(
      /batch 128 of this lattice needs 4\.0 GiB.*use a smaller 'train\.batchMax' or L/,
    );
  });

  it("in the words of the command line; every field has its flag", () => {
    expect(inFlagTerms(bad({ lrSchedule: "step" }))).toMatch(
      /--lr-schedule = step without --lr-decay-every: .*give --lr-decay-every/,
    );
    expect(inFlagTerms(bad({ batch: 64, batchGrowthEvery: 10, batchMax: 32 }))).toMatch(
      /--batch-max = 32 is below --batch = 64/,
    );
    const flags = TRAIN_FLAGS.map((f) => f.flag.split(" ")[0]);
    for (const k of ["lrDecayEvery", "lrDecayFactor", "batchGrowthEvery", "batchMax"])
      expect(flags).toContain(flagOfKey(k));
    expect(TRAIN_FLAGS.find((f) => f.key === "lrSchedule")!.help).toMatch(/step/);
  });

  it("absent fields are the old behaviour; stored runs without them still parse", () => {
    const c = configOf();
    for (const k of ["lrDecayEvery", "lrDecayFactor", "batchGrowthEvery", "batchMax"])
      expect(k in c.train).toBe(false);
    expect(batchScheduleOf(c.train)).toBeUndefined();
    const legacy = {
      L: 4,
      dim: 2,
      m2: -4,
      lam: 8,
      layers: 2,
      hidden: [4],
      kernel: 3,
      identityInit: true,
      batch: 8,
      steps: 10,
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      clipNorm: null,
      seed: 1,
      dtype: "float64",
      checkpointEvery: 5,
    };
    expect(parseRunConfig(legacy, "config.json").train.batch).toBe(8);
    const g = configOf(GROWTH);
    expect(parseRunConfig(JSON.parse(JSON.stringify(g)), "config.json")).toEqual(g);
  });
});

/** A trainer's state as a checkpoint restores it: the random stream from its saved state. */
const restored = (s: TrainState): TrainState => ({ ...s, rng: Rng.fromState(s.rng.state()) });

describe("a φ⁴ run with batch growth, one thread", () => {
  const plainTrainer = (c: RunConfig) =>
    createTrainer({
      ...buildModel(c),
      optimizer: adamOf(c.train),
      batch: c.train.batch,
      batchAt: batchScheduleOf(c.train),
      dtype: c.train.dtype,
    });

  it("the trainer draws the batch of each step; a constant batchAt is the constant batch bit for bit", () => {
    const c = configOf(GROWTH);
    const tr = plainTrainer(c);
    const st = tr.init(new Rng(c.train.seed));
    const ms = BATCHES.map(() => tr.step(st));
    expect(ms.map((m) => m.batchLogp.length)).toEqual(BATCHES);
    expect(ms.every((m) => m.accepted && Number.isFinite(m.loss))).toBe(true);
    // The first two steps draw what a constant-batch run draws; the third does not.
    const flat = plainTrainer(configOf());
    const sf = flat.init(new Rng(c.train.seed));
    const mf = BATCHES.map(() => flat.step(sf));
    expect(ms.slice(0, 2).map((m) => m.loss)).toEqual(mf.slice(0, 2).map((m) => m.loss));
    expect(ms[2]!.loss).not.toBe(mf[2]!.loss);
    const same = createTrainer({
      ...buildModel(c),
      optimizer: adamOf(c.train),
      batch: 4,
      batchAt: () => 4,
      dtype: "float64",
    });
    const ss = same.init(new Rng(c.train.seed));
    expect(BATCHES.map(() => same.step(ss).loss)).toEqual(mf.map((m) => m.loss));
    expect(() =>
      createTrainer({
        ...buildModel(c),
        optimizer: adamOf(c.train),
        batch: 4,
        batchAt: () => 0,
        dtype: "float64",
      }).step(ss),
    ).toThrow(RangeError);
  });

  it("interrupted at any step and resumed on a fresh trainer: the same run bit for bit", () => {
    const c = configOf(GROWTH);
    const tr = plainTrainer(c);
    const st = tr.init(new Rng(c.train.seed));
    const straight = BATCHES.map(() => tr.step(st).loss);
    for (const cut of [1, 3]) {
      const a = plainTrainer(c);
      const sa = a.init(new Rng(c.train.seed));
      const head = Array.from({ length: cut }, () => a.step(sa).loss);
      const b = plainTrainer(c);
      const sb = restored(sa);
      const tail = Array.from({ length: BATCHES.length - cut }, () => b.step(sb).loss);
      expect([...head, ...tail]).toEqual(straight);
      expect(Array.from(sb.params[Object.keys(sb.params)[0]!]!.data)).toEqual(
        Array.from(st.params[Object.keys(st.params)[0]!]!.data),
      );
    }
    expect(st.step).toBe(6);
  });

  it("the trainer refuses batch growth with the mixed objective (the spec too: above)", () => {
    const c = configOf(GROWTH);
    const o = objectiveOf({ nllWeight: 1 });
    expect(() =>
      createTrainer({
        ...buildModel(c),
        optimizer: adamOf(c.train),
        batch: 4,
        batchAt: batchScheduleOf(c.train),
        dtype: "float64",
        objective: o,
      }),
    ).toThrow(/batch growth needs the plain reverse KL/);
  });

  const file = (d: string, f: string) => readFileSync(join(d, f));
  const losses = (d: string) =>
    readFileSync(join(d, "metrics.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).loss as number);

  it("runTraining (the CLI's loop): grows the batch, and a resumed run equals the uninterrupted one", async () => {
    const straight = join(tmp, "straight");
    const split = join(tmp, "split");
    const flat = join(tmp, "flat");
    await runTraining({
      out: straight,
      config: configOf({ ...GROWTH, steps: 6 }),
      resume: false,
      quiet: true,
    });
    await runTraining({ out: flat, config: configOf({ steps: 6 }), resume: false, quiet: true });
    // Interrupted at step 3 (its checkpoint), then resumed to 6.
    await runTraining({ out: split, config: configOf({ ...GROWTH, steps: 3 }), resume: false, quiet: true });
    await runTraining({ out: split, resume: true, changes: { steps: 6 }, quiet: true });
    for (const f of ["checkpoint.safetensors", "train_state.safetensors"])
      expect(file(split, f).equals(file(straight, f))).toBe(true);
    expect(losses(split)).toEqual(losses(straight));
    // The run's batch grew at step 3: its first two steps are the constant run's, the third is not.
    expect(losses(straight).slice(0, 2)).toEqual(losses(flat).slice(0, 2));
    expect(losses(straight)[2]).not.toBe(losses(flat)[2]);
    // The same losses as the library's trainer with the spec's schedule.
    const c = configOf(GROWTH);
    const tr = plainTrainer(c);
    const st = tr.init(new Rng(c.train.seed));
    expect(BATCHES.map(() => tr.step(st).loss)).toEqual(losses(straight));
    // The schedule is the run's: a resume may not change it.
    await expect(
      runTraining({ out: split, resume: true, changes: { steps: 8, batchMax: 16 }, quiet: true }),
    ).rejects.toThrow(/--resume keeps the run's --batch-max 12 \(16 given\)/);
  });
});

const dist = process.env.LATTICEFLOW_DIST ?? join(__dirname, "..", "dist");
const built = existsSync(join(dist, "src", "cli", "thread-worker.js"));

describe.skipIf(!built)("a φ⁴ run with batch growth, two threads (the built dist/)", () => {
  const load = async () => {
    const m = (p: string) => import(join(dist, "src", p));
    return {
      ...(await m("parallel/shard.js")),
      ...(await m("cli/threads.js")),
      ...(await m("model/index.js")),
      ...(await m("rng/philox.js")),
      ...(await m("train/adam.js")),
      ...(await m("train/batch-schedule.js")),
      ...(await m("train/trainer.js")),
    };
  };

  it("the parallel trainer draws the batch of each step, resumes bit for bit, and matches 1 thread within rounding", async () => {
    const L = await load();
    const c = L.applySettings(L.presetConfig("phi4-notebook"), { ...TINY, ...GROWTH }, "test");
    const make = (threads: number) =>
      L.createParallelTrainer({
        spec: L.modelSpecOf(c),
        optimizer: L.adamOf(c.train),
        batch: c.train.batch,
        batchAt: L.batchScheduleOf(c.train),
        threads,
        spawn: L.nodeSpawn,
      });
    const two = make(2);
    const cut = make(2);
    const resumed = make(2);
    try {
      const st = two.init(new L.Rng(c.train.seed));
      const ms = BATCHES.map(() => two.step(st));
      expect(ms.map((m: { batchLogp: Float64Array }) => m.batchLogp.length)).toEqual(BATCHES);
      const straight = ms.map((m: { loss: number }) => m.loss);
      const sa = cut.init(new L.Rng(c.train.seed));
      const head = [0, 1, 2].map(() => cut.step(sa).loss);
      const sb = { ...sa, rng: L.Rng.fromState(sa.rng.state()) };
      const tail = [0, 1, 2].map(() => resumed.step(sb).loss);
      expect([...head, ...tail]).toEqual(straight);
      const one = L.createTrainer({
        ...L.buildModel(c),
        optimizer: L.adamOf(c.train),
        batch: c.train.batch,
        batchAt: L.batchScheduleOf(c.train),
        dtype: c.train.dtype,
      });
      const s1 = one.init(new L.Rng(c.train.seed));
      const single = BATCHES.map(() => one.step(s1).loss);
      expect(straight[0]).toBe(single[0]);
      for (let i = 0; i < BATCHES.length; i++)
        expect(Math.abs(straight[i]! - single[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(single[i]!)));
    } finally {
      two.close();
      cut.close();
      resumed.close();
    }
  });

  it("the CLI on 2 threads: the flags, and --resume to the same bytes", async () => {
    const straight = join(tmp, "cli-straight");
    const split = join(tmp, "cli-split");
    const common = [
      "train",
      ...["--L", "4", "--layers", "2", "--hidden", "4", "--batch", "4", "--seed", "3", "--lr", "1e-2"],
      ...["--batch-growth-every", "2", "--batch-max", "12", "--lr-schedule", "step", "--lr-decay-every", "2"],
      ...["--lr-decay-factor", "0.7", "--threads", "2", "--checkpoint-every", "3", "--quiet", "--json"],
    ];
    const [a, b] = await Promise.all([
      runCli(...common, "--steps", "6", "--out", straight),
      runCli(...common, "--steps", "3", "--out", split),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(straight, "config.json"), "utf8"));
    expect(config.train).toMatchObject({
      batch: 4,
      batchGrowthEvery: 2,
      batchMax: 12,
      lrSchedule: "step",
      lrDecayEvery: 2,
      lrDecayFactor: 0.7,
      threads: 2,
    });
    const r = await runCli("train", "--resume", "--steps", "6", "--out", split, "--quiet", "--json");
    expect(r.code, r.stderr).toBe(0);
    for (const f of ["checkpoint.safetensors", "train_state.safetensors", "metrics.jsonl"]) {
      const strip = (d: string) =>
        f === "metrics.jsonl"
          ? readFileSync(join(d, f), "utf8").replace(/,"seconds":[^}]*/g, "")
          : readFileSync(join(d, f)).toString("base64");
      expect(strip(split)).toEqual(strip(straight));
    }
    const bad = await runCli("train", "--L", "4", "--lr-schedule", "step", "--out", join(tmp, "cli-bad"));
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/--lr-schedule = step without --lr-decay-every: .*give --lr-decay-every/);
    expect(existsSync(join(tmp, "cli-bad"))).toBe(false);
  });
});
