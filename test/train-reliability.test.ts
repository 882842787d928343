/**
 * Training runs that lose nothing and fail loudly (issue 16), in process (runTraining) and on
 * the command line (the built dist/ CLI):
 * - a run directory is resumable from its first step, and from every state a kill can leave
 *   (config.json alone, a save cut between its renames, temp files of a dead writer);
 * - config.json and the checkpoint are checked against each other, before anything is written;
 * - `--resume --steps` below the step reached is refused, at it there is nothing to do;
 * - metrics.jsonl is repaired to the checkpoint's step, and a line a crash cut is restored;
 * - a diverging run stops with one line and exit code 1, keeping the last good checkpoint.
 */
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { loadTraining, loadWeights, readConfig, recoverRunDir } from "../src/cli/run-dir.js";
import { DIVERGENCE, DivergenceError, runTraining, type TrainSummary } from "../src/cli/train-command.js";
import { applySettings, buildModel, presetConfig, type RunConfig } from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";
import { adam } from "../src/train/adam.js";
import { createTrainer } from "../src/train/trainer.js";
import { lastJson, runCli } from "./run-cli.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-reliability-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = { L: 4, layers: 2, hidden: [4], batch: 8, seed: 3, checkpointEvery: 4 };
const configOf = (over: Record<string, unknown>): RunConfig =>
  applySettings(presetConfig("phi4-notebook"), { ...TINY, ...over }, "test");
const train = (out: string, over: Record<string, unknown>): Promise<TrainSummary> =>
  runTraining({ out, config: configOf(over), resume: false, quiet: true });
const resume = (out: string, changes: Record<string, unknown> = {}): Promise<TrainSummary> =>
  runTraining({ out, resume: true, changes, quiet: true });

const file = (d: string, f: string) => readFileSync(join(d, f));
const metrics = (d: string) =>
  readFileSync(join(d, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const losses = (d: string) => metrics(d).map((m) => m.loss);
/** Every file of a directory and its bytes: to see that nothing was written. */
const contents = (d: string) =>
  Object.fromEntries(
    readdirSync(d)
      .sort()
      .map((f) => [f, readFileSync(join(d, f)).toString("base64")]),
  );
const copy = (from: string, to: string) => cpSync(from, to, { recursive: true });
/** The pid of a process that has ended. */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!;

/** The run continued in `dir` ends as the uninterrupted `ref`: checkpoint, train_state and losses. */
function expectSameRun(dir: string, ref: string): void {
  expect(file(dir, "checkpoint.safetensors").equals(file(ref, "checkpoint.safetensors"))).toBe(true);
  expect(file(dir, "train_state.safetensors").equals(file(ref, "train_state.safetensors"))).toBe(true);
  expect(metrics(dir).map((m) => m.step)).toEqual(metrics(ref).map((m) => m.step));
  expect(losses(dir)).toEqual(losses(ref));
  expect(readdirSync(dir).filter((f) => f.includes(".tmp-") || f.includes("pending"))).toEqual([]);
}

async function thrown(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

// Reference runs: the same seed and settings, 4, 8 and 12 steps, a checkpoint every 4.
const ref = { 4: join(tmp, "ref4"), 8: join(tmp, "ref8"), 12: join(tmp, "ref12") };
const refs = (async () => {
  for (const [n, d] of Object.entries(ref)) await train(d, { steps: Number(n) });
})();

describe("resumable from the first step", () => {
  it("a new run writes config.json and a checkpoint of step 0 before its first step", async () => {
    await refs;
    const d = join(tmp, "zero");
    await train(d, { steps: 0 });
    const config = readConfig(d);
    const like = buildModel(config).flow.initParams(new Rng(config.train.seed), config.train.dtype);
    expect(loadTraining(d, like).step).toBe(0);
    expect(metrics(d)).toEqual([]);
    await resume(d, { steps: 12 });
    expectSameRun(d, ref[12]);
  });

  it("config.json without a checkpoint (killed between the two writes) resumes from the start", async () => {
    await refs;
    const d = join(tmp, "config-only");
    mkdirSync(d);
    cpSync(join(ref[12], "config.json"), join(d, "config.json"));
    const s = await resume(d);
    expect(s.steps).toBe(12);
    expectSameRun(d, ref[12]);
  });

  it("a directory that holds only a dead writer's temp file takes a new run", async () => {
    await refs;
    const d = join(tmp, "temp-only");
    mkdirSync(d);
    writeFileSync(join(d, `.config.json.tmp-${deadPid()}-abc123`), '{"thr');
    await train(d, { steps: 12 });
    expectSameRun(d, ref[12]);
  });
});

describe("a kill in mid-save leaves a resumable pair", () => {
  const cases: [string, (d: string) => void, number][] = [
    [
      "pending train_state written, checkpoint not yet replaced: the old pair",
      (d) => {
        copy(ref[4], d);
        cpSync(join(ref[8], "train_state.safetensors"), join(d, "train_state.pending.safetensors"));
      },
      4,
    ],
    [
      "checkpoint replaced, pending train_state not yet renamed: rolled forward",
      (d) => {
        copy(ref[8], d);
        cpSync(join(ref[4], "train_state.safetensors"), join(d, "train_state.safetensors"));
        cpSync(join(ref[8], "train_state.safetensors"), join(d, "train_state.pending.safetensors"));
      },
      8,
    ],
    [
      "a pending train_state cut short: removed",
      (d) => {
        copy(ref[4], d);
        writeFileSync(
          join(d, "train_state.pending.safetensors"),
          file(ref[8], "train_state.safetensors").subarray(0, 100),
        );
      },
      4,
    ],
    [
      "temp files of a dead writer: removed",
      (d) => {
        copy(ref[4], d);
        const pid = deadPid();
        writeFileSync(join(d, `.checkpoint.safetensors.tmp-${pid}-x1`), "half");
        writeFileSync(join(d, `.metrics.jsonl.tmp-${pid}-x2`), '{"st');
      },
      4,
    ],
  ];
  for (const [name, make, from] of cases) {
    it(name, async () => {
      await refs;
      const d = join(tmp, name.replace(/\W+/g, "-"));
      make(d);
      recoverRunDir(d);
      const config = readConfig(d);
      const like = buildModel(config).flow.initParams(new Rng(config.train.seed), config.train.dtype);
      expect(loadTraining(d, like).step).toBe(from);
      await resume(d, { steps: 12 });
      expectSameRun(d, ref[12]);
    });
  }

  it("a checkpoint and train_state of different steps (no pending file): one line naming --out", async () => {
    await refs;
    const d = join(tmp, "mismatched-pair");
    copy(ref[8], d);
    cpSync(join(ref[4], "train_state.safetensors"), join(d, "train_state.safetensors"));
    const e = await thrown(resume(d, { steps: 12 }));
    expect(e.message).toMatch(
      /checkpoint is from step 8 but train_state from step 4; delete .* or train a new run with another --out/,
    );
  });
});

describe("config.json and the checkpoint are checked against each other", () => {
  const edit = (d: string, f: (c: RunConfig) => void) => {
    const c = JSON.parse(readFileSync(join(d, "config.json"), "utf8"));
    f(c);
    writeFileSync(join(d, "config.json"), JSON.stringify(c, null, 2));
  };

  it("config.json edited to L = 16 beside 4×4 weights: refused in one line, nothing written", async () => {
    await refs;
    const d = join(tmp, "edited");
    copy(ref[8], d);
    edit(d, (c) => {
      c.theory.latticeShape = [16, 16];
    });
    const before = contents(d);
    const e = await thrown(resume(d, { steps: 12 }));
    expect(e.message).toMatch(
      /config\.json does not match the checkpoint .*checkpoint\.safetensors \(step 8\): theory\.latticeShape \[16,16\] \(checkpoint: \[4,4\]\); put the checkpoint's values back in config\.json, or train a new run with another --out$/,
    );
    expect(e.message).not.toContain("\n");
    expect(contents(d)).toEqual(before); // metrics.jsonl not appended to, nothing else written
    // Every reader of the checkpoint refuses it the same way (sample, lnz, plot).
    const config = readConfig(d);
    const like = buildModel(config).flow.initParams(new Rng(0), config.train.dtype);
    expect(() => loadWeights(d, like)).toThrow(/does not match the checkpoint/);
  });

  it("each fixed setting is named: flow, seed, dtype, batch", async () => {
    await refs;
    const d = join(tmp, "edited2");
    copy(ref[8], d);
    edit(d, (c) => {
      c.flow.hidden = [6];
      c.train.seed = 9;
      c.train.batch = 16;
    });
    const e = await thrown(resume(d, { steps: 12 }));
    expect(e.message).toMatch(
      /flow\.hidden \[6\] \(checkpoint: \[4\]\); train\.seed 9 \(checkpoint: 3\); train\.batch 16 \(checkpoint: 8\)/,
    );
  });

  it("settings that may change mid-run (lr, steps, …) may differ", async () => {
    await refs;
    const d = join(tmp, "lr-changed");
    copy(ref[8], d);
    edit(d, (c) => {
      c.train.lr = 3e-4;
    });
    expect((await resume(d, { steps: 9 })).steps).toBe(9);
  });
});

describe("--resume --steps", () => {
  it("below the step reached: refused, nothing written; at it: nothing to do, nothing written", async () => {
    await refs;
    const d = join(tmp, "steps");
    copy(ref[8], d);
    const before = contents(d);
    const e = await thrown(resume(d, { steps: 5 }));
    expect(e.message).toMatch(
      /^--steps 5 is below the step the run in .* has reached, 8 \(its checkpoint\).*give --steps above 8/,
    );
    expect(contents(d)).toEqual(before);
    const s = await resume(d, { steps: 8, lr: 1e-4 });
    expect(s).toMatchObject({ steps: 8, upToDate: true, interrupted: false });
    expect(s.loss).toBe(losses(ref[8]).at(-1));
    expect(contents(d)).toEqual(before);
    expect((await resume(d)).upToDate).toBe(true);
  });

  it("settings that may not change are refused with the values the run keeps", async () => {
    await refs;
    const e = await thrown(resume(ref[8], { L: 16, hidden: [2], lr: 1e-4 }));
    expect(e.message).toMatch(
      /^--resume keeps the run's --L 4 \(16 given\), --hidden 4 \(2 given\), recorded in .*config\.json; only --steps, --threads, --lr, --clip-norm, --weight-decay, --nll-weight, --kl-weight, --chain-hmc, --gradient-estimator, --checkpoint-every may change/,
    );
  });
});

describe("metrics.jsonl is repaired to the checkpoint's step", () => {
  it("a last line cut mid-line by a crash is restored from the checkpoint; later steps recomputed", async () => {
    await refs;
    const d = join(tmp, "torn");
    copy(ref[8], d);
    const m = join(d, "metrics.jsonl");
    truncateSync(m, readFileSync(m).length - 30); // step 8's line, the checkpoint's, cut
    expect(metrics.bind(null, d)).toThrow(); // not even JSON any more
    await resume(d, { steps: 12 });
    expectSameRun(d, ref[12]);
    expect(metrics(d)[7]).toMatchObject({ step: 8, seconds: null });
  });

  it("lines past the checkpoint (written before a kill) are dropped and recomputed", async () => {
    await refs;
    const d = join(tmp, "ahead");
    copy(ref[4], d);
    const extra = readFileSync(join(ref[8], "metrics.jsonl"), "utf8").split("\n").slice(4, 7).join("\n");
    writeFileSync(
      join(d, "metrics.jsonl"),
      `${readFileSync(join(d, "metrics.jsonl"), "utf8")}${extra}\n{"step":8,"lo`,
    );
    await resume(d, { steps: 12 });
    expectSameRun(d, ref[12]);
  });

  it("a step lost before its checkpoint (a machine crash) is a warning, not a stop", async () => {
    await refs;
    const d = join(tmp, "gap");
    copy(ref[8], d);
    const l = readFileSync(join(d, "metrics.jsonl"), "utf8").split("\n");
    writeFileSync(join(d, "metrics.jsonl"), [...l.slice(0, 2), ...l.slice(3)].join("\n"));
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      await resume(d, { steps: 12 });
      expect(err.mock.calls.map((c) => String(c[0])).join("")).toMatch(
        /warning: .*metrics\.jsonl lacks 1 of the steps 1\.\.8 \(first 3\)/,
      );
    } finally {
      err.mockRestore();
    }
    expect(metrics(d).map((r) => r.step)).toEqual([1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });
});

/** Does the divergence rule hold after the steps `rejected` (true: rejected)? */
function diverges(rejected: boolean[]): boolean {
  const window = rejected.slice(-DIVERGENCE.window);
  const tail = rejected.length - rejected.lastIndexOf(false) - 1;
  return tail >= DIVERGENCE.inARow || window.filter(Boolean).length > DIVERGENCE.maxInWindow;
}

describe("divergence is loud", () => {
  it("a finite gradient that would overflow float32 weights is a rejected step", () => {
    const c = configOf({ dtype: "float32" });
    const { flow, theory } = buildModel(c);
    const trainer = createTrainer({
      flow,
      theory,
      optimizer: adam({ lr: 1e300 }),
      batch: 8,
      dtype: "float32",
    });
    const state = trainer.init(new Rng(1));
    const params = state.params;
    const m = trainer.step(state);
    expect(Number.isFinite(m.loss)).toBe(true);
    expect(m.accepted).toBe(false);
    expect(state.params).toBe(params);
    expect(state.rejected).toBe(1);
  });

  // lr 1e9: sporadic rejections, then mostly; lr 1e300: every step rejected (the update overflows).
  const cases = [
    { lr: 1e9, checkpointEvery: 5 },
    { lr: 1e9, checkpointEvery: 1 },
    { lr: 1e300, checkpointEvery: 1 },
  ];
  for (const { lr, checkpointEvery } of cases) {
    it(`--lr ${lr} --dtype float32 stops with one line at the rule's first step, keeping a good checkpoint (--checkpoint-every ${checkpointEvery})`, async () => {
      const d = join(tmp, `diverge-${lr}-${checkpointEvery}`);
      const e = await thrown(train(d, { lr, dtype: "float32", steps: 1000, checkpointEvery, seed: 0 }));
      expect(e).toBeInstanceOf(DivergenceError);
      expect(e.message).not.toContain("\n");
      const m =
        /^training diverged at step (\d+): .* \(non-finite loss, gradient or weights\); kept the last good checkpoint, step (\d+) \(.*checkpoint\.safetensors\), and the metrics; lower --lr \(now (?:1000000000|1e\+300)\) or add --clip-norm, then continue with: latticeflow train --resume --out \S+ --lr <smaller>$/.exec(
          e.message,
        );
      expect(m, e.message).not.toBeNull();
      const [step, kept] = [Number(m![1]), Number(m![2])];
      // The rule (DIVERGENCE) holds at the step it stopped, and at no step before.
      const rejected = metrics(d).map((r) => r.accepted === false);
      expect(rejected).toHaveLength(step);
      expect(diverges(rejected)).toBe(true);
      for (let s = 1; s < step; s++) expect(diverges(rejected.slice(0, s)), `step ${s}`).toBe(false);
      // The checkpoint kept: finite weights, and (unless step 0) the step after it was accepted.
      const config = readConfig(d);
      const like = buildModel(config).flow.initParams(new Rng(0), "float32");
      expect(loadTraining(d, like).step).toBe(kept);
      if (kept > 0) expect(rejected[kept]).toBe(false);
      // --resume with a sane learning rate continues from it.
      const s = await resume(d, { lr: 1e-3, steps: kept + 5 });
      expect(s.steps).toBe(kept + 5);
      expect(metrics(d).map((r) => r.step)).toEqual(Array.from({ length: kept + 5 }, (_, i) => i + 1));
    });
  }
});

describe("on the command line (dist/)", () => {
  const one = (stderr: string) => {
    const l = stderr.trim().split("\n");
    expect(l, stderr).toHaveLength(1);
    return l[0]!;
  };

  it("train --lr 1e9 --dtype float32 (the notebook's flow): one line, exit 1", async () => {
    const d = join(tmp, "cli-diverge");
    const r = await runCli(
      "train",
      "--lr",
      "1e9",
      "--dtype",
      "float32",
      "--steps",
      "100",
      "--quiet",
      "--out",
      d,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe("");
    expect(one(r.stderr)).toMatch(
      /^latticeflow: error: training diverged at step \d+: .*kept the last good checkpoint, step 0 .*lower --lr \(now 1000000000\) or add --clip-norm/,
    );
  });

  it("--resume: steps below (exit 2), steps reached (exit 0), edited config (exit 2, sample too), --preset (exit 2)", async () => {
    await refs;
    const d = join(tmp, "cli-resume");
    copy(ref[8], d);
    const below = await runCli("train", "--resume", "--steps", "5", "--out", d);
    expect(below.code).toBe(2);
    expect(one(below.stderr)).toMatch(/^latticeflow: error: --steps 5 is below the step the run in/);
    const at = await runCli("train", "--resume", "--out", d);
    expect(at.code, at.stderr).toBe(0);
    expect(at.stdout).toMatch(
      /^nothing to do: the run in .* is already at step 8, its --steps; to train on: latticeflow train --resume --out \S+ --steps <more than 8>\n$/,
    );
    const preset = await runCli("train", "--resume", "--preset", "phi4-broken", "--out", d);
    expect(preset.code).toBe(2);
    expect(one(preset.stderr)).toMatch(
      /--resume takes the run's settings from .*config\.json: drop --preset/,
    );

    const c = JSON.parse(readFileSync(join(d, "config.json"), "utf8"));
    c.theory.latticeShape = [16, 16];
    writeFileSync(join(d, "config.json"), JSON.stringify(c));
    const before = contents(d);
    const edited = await runCli("train", "--resume", "--steps", "12", "--out", d);
    expect(edited.code).toBe(2);
    expect(one(edited.stderr)).toMatch(
      /does not match the checkpoint .*theory\.latticeShape \[16,16\] \(checkpoint: \[4,4\]\)/,
    );
    const out = join(tmp, "never.npy");
    const sample = await runCli("sample", "--run", d, "--n", "4", "--out", out);
    expect(sample.code).toBe(2);
    expect(one(sample.stderr)).toMatch(/does not match the checkpoint/);
    expect(existsSync(out)).toBe(false);
    expect(contents(d)).toEqual(before);
  });

  it("a resume says what it keeps and what it changes (stderr, unless --quiet)", async () => {
    await refs;
    const d = join(tmp, "cli-info");
    copy(ref[4], d);
    const r = await runCli("train", "--resume", "--steps", "6", "--lr", "0.0005", "--out", d);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /latticeflow: resuming \S+ at step 4 of 6: keeps phi4 4x4 m2=-4 lam=8; affine-cnn 2 layers, hidden \[4\], kernel 3; batch 8, seed 3, float64; changes --steps 4 → 6, --lr 0\.001 → 0\.0005/,
    );
  });
});

describe("--stop-at: a pause on the schedule of --steps", () => {
  // A cosine rate, so that the schedule depends on --steps; 6 is not a checkpoint step.
  const cos = { steps: 12, lrSchedule: "cosine" };
  const cosRef = join(tmp, "stop-ref");
  const cosRefRun = refs.then(() => train(cosRef, cos));

  it("paused at 6, resumed to 12: the uninterrupted run, bit for bit; at the pause again: nothing written", async () => {
    await cosRefRun;
    const d = join(tmp, "stop-6");
    const s = await runTraining({ out: d, config: configOf(cos), resume: false, quiet: true, stopAt: 6 });
    expect(s).toMatchObject({
      steps: 6,
      paused: true,
      plannedSteps: 12,
      interrupted: false,
      upToDate: false,
    });
    expect(loadTraining(d, buildModel(configOf(cos)).flow.initParams(new Rng(3), "float64")).step).toBe(6);
    const before = contents(d);
    expect(await runTraining({ out: d, resume: true, quiet: true, stopAt: 6 })).toMatchObject({
      steps: 6,
      paused: true,
      upToDate: true,
    });
    expect(contents(d)).toEqual(before);
    expect(await resume(d)).toMatchObject({ steps: 12, paused: false });
    expectSameRun(d, cosRef);
  });

  it("beyond --steps, below the step reached, or not a positive integer: one line, nothing written", async () => {
    await cosRefRun;
    const fresh = join(tmp, "stop-beyond");
    expect(
      (
        await thrown(
          runTraining({ out: fresh, config: configOf(cos), resume: false, quiet: true, stopAt: 13 }),
        )
      ).message,
    ).toBe(
      "--stop-at 13 is beyond --steps 12, where the run ends anyway: give --stop-at at most 12, or raise --steps",
    );
    expect(existsSync(fresh)).toBe(false);
    const d = join(tmp, "stop-below");
    copy(ref[8], d);
    const before = contents(d);
    expect(
      (await thrown(runTraining({ out: d, resume: true, quiet: true, changes: { steps: 12 }, stopAt: 5 })))
        .message,
    ).toMatch(
      /^--stop-at 5 is below the step the run in .* has reached, 8 \(its checkpoint\): a run cannot go back; give --stop-at above 8, or drop it to train on to --steps 12$/,
    );
    expect((await thrown(runTraining({ out: d, resume: true, quiet: true, stopAt: 9 }))).message).toMatch(
      /^--stop-at 9 is beyond --steps 8/,
    );
    for (const bad of [0, 2.5]) {
      expect((await thrown(runTraining({ out: d, resume: true, quiet: true, stopAt: bad }))).message).toBe(
        `--stop-at must be a step, a positive integer, got ${bad}`,
      );
    }
    expect(contents(d)).toEqual(before);
  });

  it("the CLI: a pause says where it stopped and how to go on (exit 0); --json says paused", async () => {
    await cosRefRun;
    const d = join(tmp, "stop-cli");
    copy(ref[4], d);
    const r = await runCli("train", "--resume", "--steps", "8", "--stop-at", "6", "--quiet", "--out", d);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^paused at step 6 of 8 \(--stop-at\): loss \S+; checkpoint \S+; go on with: latticeflow train --resume --out \S+ \(and any change --resume allows\)\n$/,
    );
    const j = await runCli("train", "--resume", "--stop-at", "7", "--quiet", "--json", "--out", d);
    expect(j.code, j.stderr).toBe(0);
    expect(lastJson(j.stdout)).toMatchObject({ steps: 7, paused: true });
  });
});
