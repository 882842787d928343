/**
 * `latticeflow train`: reverse-KL training into a run directory, resumable exactly from any
 * moment (src/cli/run-dir.ts says what a kill leaves and how a resume repairs it), stopped
 * with one line when it diverges.
 */
import { closeSync, existsSync, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { Params } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import { ensureOutputDirectory } from "../io/files.js";
import {
  applySettings,
  buildModel,
  describeFlow,
  describeTheory,
  flatten,
  modelSpecOf,
  PRESETS,
  presetBefore,
  presetChain,
  SpecError,
  speedWarnings,
} from "../model/index.js";
import { exactReferences } from "../model/references.js";
import { createParallelTrainer } from "../parallel/shard.js";
import { Rng } from "../rng/philox.js";
import { adamOf } from "../train/adam.js";
import { batchScheduleOf } from "../train/batch-schedule.js";
import { gradientEstimatorOf } from "../train/gradient-estimator.js";
import { objectiveOf } from "../train/mixed-objective.js";
import { createTrainer, type StepMetrics, type TrainState } from "../train/trainer.js";
import { fmt, num, printJson } from "./args.js";
import { mergedConfig, presetConfig, type RunConfig } from "./config.js";
import { UsageError } from "./errors.js";
import { frameRecorder, truncateFrames } from "./frames.js";
import { INIT_FROM_FILE, loadInitialWeights, writeInitFrom } from "./init-from.js";
import { ERA_STEPS, recordEra, refreshTrainingPlots, truncateEras } from "./plot-command.js";
import { progressSink } from "./progress.js";
import {
  hasCheckpoint,
  isNonEmptyDir,
  loadTraining,
  type MetricRecord,
  RUN_FILES,
  readConfig,
  readMetrics,
  recoverRunDir,
  repairMetrics,
  type SavedTraining,
  type StepRecord,
  saveTraining,
  writeConfig,
} from "./run-dir.js";
import { trainSolverGuard } from "./solver-check.js";
import {
  addSpecFlags,
  FLOW_FLAGS,
  flagOfKey,
  inFlagTerms,
  settingsFromFlags,
  THEORY_FLAGS,
  TRAIN_FLAGS,
} from "./spec-flags.js";
import { nodeSpawn, resolveThreads } from "./threads.js";

export interface TrainOptions {
  out: string;
  /** Merged configuration for a new run; ignored when resuming (see `changes`). */
  config?: RunConfig;
  resume: boolean;
  /**
   * On resume: settings to change (flat spec fields). Those of RESUME_MAY_CHANGE apply; any
   * other is refused, since the run's model, stream and lattice are fixed at its start.
   */
  changes?: Record<string, unknown>;
  quiet: boolean;
  /** Refresh the training figures in <out>/plots every this many steps (0 or undefined: never). */
  plotEvery?: number;
  /** Record the batch's log p and log q at the first step of every era of this many steps (eras.jsonl; 0: off). */
  eraEvery?: number;
  /**
   * Record the flow's 16 configurations from a fixed z (frames.jsonl, for plot's evolution.gif)
   * at step 0, every this many steps and at the last step (0 or undefined: off; the CLI passes
   * its --era-every).
   */
  frameEvery?: number;
  /** A new run only: start from the weights of the run in this directory (src/cli/init-from.ts). */
  initFrom?: string;
  /**
   * Stop, checkpointed, on reaching this step (≤ --steps), the schedule still the one of
   * --steps: a pause at which a --resume may change the rate or the estimator.
   */
  stopAt?: number;
}

/**
 * Settings a resumed run may change: they alter neither the model nor the random stream of the
 * prior draws (the mixed objective's MH chains and buffer, --nll-weight, restart empty on any
 * resume: they are not checkpointed).
 */
export const RESUME_MAY_CHANGE = [
  "steps",
  "threads",
  "lr",
  "clipNorm",
  "weightDecay",
  "nllWeight",
  "klWeight",
  "chainHmc",
  "gradientEstimator",
  "checkpointEvery",
];

/**
 * When a run counts as diverged: `inARow` rejected steps in a row, or more than `maxInWindow`
 * of the last `window` steps rejected (a step is rejected when its loss, gradient or updated
 * weights are not finite). The steps before a resume count, so where a run stops does not
 * depend on where it was interrupted; a resume that changes --lr or --clip-norm starts afresh.
 */
export const DIVERGENCE = { inARow: 10, window: 20, maxInWindow: 10 } as const;

/**
 * A training run that diverged, or whose ODE solver's log q error passed SOLVER_ERROR_STOP
 * (src/cli/solver-check.ts): one line (the step, what happened, the checkpoint kept, the fix);
 * the CLI exits with code 1. Not the user's input as such, so not a UsageError.
 */
export class DivergenceError extends Error {
  override name = "DivergenceError";
}

export interface TrainSummary {
  steps: number;
  loss: number;
  /** Mean ESS of the last 100 steps (those of rejected steps, which have none, left out). */
  ess: number;
  ms_per_step: number;
  rejected: number;
  checkpoint: string;
  interrupted: boolean;
  /** A resume found the run already at its --steps (or --stop-at): nothing was trained or written. */
  upToDate: boolean;
  /** The run stopped at --stop-at, before its --steps. */
  paused: boolean;
  /** The run's --steps, where its schedule ends. */
  plannedSteps: number;
  /** Threads the steps ran on. */
  threads: number;
  /** The exact floor of the loss, −ln ∫ e^{−S} (src/model/references.ts), or null if unknown. */
  lossFloor: number | null;
  /**
   * The mixed objective (--nll-weight): mean acceptance of its MH chains over the last 100
   * steps that report one; null for plain reverse-KL runs.
   */
  mhAcceptance: number | null;
  /** ODE flows: the last solver check's max |log q_N − log q_2N| (null: not finite); absent for others. */
  solverError?: number | null;
}

/** Where a training starts: a checkpoint, or (null) step 0 from the seed. */
interface Start {
  config: RunConfig;
  saved: SavedTraining | null;
  /** metrics.jsonl up to the start (repaired). */
  history: MetricRecord[];
  /** The divergence rule counts the steps of `history` (false after a change of --lr or --clip-norm). */
  countHistory: boolean;
  /** A new run's initial weights from --init-from (absent: the seed's initialisation). */
  initParams?: Params;
}

const valueText = (v: unknown): string =>
  v === undefined || v === null ? "none" : Array.isArray(v) ? v.join(",") : String(v);

/** A flat setting's value in `config` (`L` and `dim` from the lattice shape). */
function settingOf(config: RunConfig, key: string): unknown {
  if (key === "L") return config.theory.latticeShape[0];
  if (key === "dim") return config.theory.latticeShape.length;
  return flatten(config as unknown as Parameters<typeof flatten>[0])[key];
}

/**
 * The run's config with the resume's `changes` applied: those of RESUME_MAY_CHANGE; any other
 * is refused with one line listing the values the run keeps.
 */
function applyResumeChanges(out: string, config: RunConfig, changes: Record<string, unknown>): RunConfig {
  const changed = { ...changes };
  const fixed = Object.keys(changed).filter((k) => !RESUME_MAY_CHANGE.includes(k));
  if (fixed.length > 0) {
    const kept = fixed.map((k) => {
      const v = settingOf(config, k);
      const given = valueText(changed[k]);
      return v === undefined
        ? `${flagOfKey(k)} unset (${flagOfKey(k)} ${given} given)`
        : `${flagOfKey(k)} ${valueText(v)} (${given} given)`;
    });
    throw new UsageError(
      `--resume keeps the run's ${kept.join(", ")}, recorded in ${join(out, RUN_FILES.config)}; only ${RESUME_MAY_CHANGE.map(flagOfKey).join(", ")} may change: drop the others, or train a new run with another --out`,
    );
  }
  if (changed.threads === "auto") changed.threads = resolveThreads("auto", config.train.batch);
  if (Object.keys(changed).length === 0) return config;
  const source = Object.keys(changed).map(flagOfKey).join(", ");
  try {
    return applySettings(config, changed, source);
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    throw new SpecError(inFlagTerms(e.message)); // in the words of the command line
  }
}

/** `--lr 0.001 → 0.0003, --steps 2500 → 5000`: what a resume changes. */
function changeText(before: RunConfig, after: RunConfig): string {
  const out: string[] = [];
  for (const k of RESUME_MAY_CHANGE) {
    const a = settingOf(before, k);
    const b = settingOf(after, k);
    if (JSON.stringify(a) !== JSON.stringify(b))
      out.push(`${flagOfKey(k)} ${valueText(a)} → ${valueText(b)}`);
  }
  return out.length > 0 ? `changes ${out.join(", ")}` : "changes nothing";
}

/** Mean MH acceptance of the records that have one; null when none has. */
function mhAcceptanceOf(records: readonly { mhAcceptance?: number | null }[]): number | null {
  const a = records.map((r) => r.mhAcceptance).filter((x): x is number => typeof x === "number");
  return a.length > 0 ? finiteMean(a) : null;
}

/** `{solverError}` of the last record that has a solverError, or {} (no ODE flow, or none checked). */
function lastSolverError(records: readonly StepRecord[]): { solverError?: number | null } {
  for (let i = records.length - 1; i >= 0; i--) {
    const e = records[i]!.solverError;
    if (e !== undefined) return { solverError: e };
  }
  return {};
}

const finiteMean = (xs: readonly (number | null)[]): number => {
  const f = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  return f.length > 0 ? f.reduce((a, b) => a + b, 0) / f.length : Number.NaN;
};

/** --stop-at beyond --steps would never be reached: refused rather than ignored. */
function checkStopAt(stopAt: number | undefined, steps: number): void {
  if (stopAt !== undefined && stopAt > steps) {
    throw new UsageError(
      `--stop-at ${stopAt} is beyond --steps ${steps}, where the run ends anyway: give --stop-at at most ${steps}, or raise --steps`,
    );
  }
}

/**
 * Train (or resume) the run in `opts.out`. The loop yields to the event loop every
 * {@link YIELD_MS} ms so that SIGINT/SIGTERM are seen: the step under way finishes, the
 * checkpoint, train_state and metrics are written as at a normal end, and the summary says
 * `interrupted` (the command then exits 130). A second signal kills the process at once
 * (its files are written atomically, so it leaves the last complete checkpoint).
 *
 * A resume checks config.json against the checkpoint, refuses a --steps below the step
 * reached (and does nothing, `upToDate`, at it), repairs metrics.jsonl, and changes only what
 * RESUME_MAY_CHANGE lists; all of that before it writes anything. A run that diverges
 * ({@link DIVERGENCE}) throws {@link DivergenceError}, keeping the last good checkpoint.
 */
export async function runTraining(opts: TrainOptions): Promise<TrainSummary> {
  for (const [flag, v] of [
    ["--plot-every", opts.plotEvery],
    ["--era-every", opts.eraEvery],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0))
      throw new UsageError(`${flag} must be a non-negative integer, got ${v}`);
  }
  const stopAt = opts.stopAt;
  if (stopAt !== undefined && !(Number.isInteger(stopAt) && stopAt >= 1))
    throw new UsageError(`--stop-at must be a step, a positive integer, got ${stopAt}`);
  let start: Start;
  let flow: Flow;
  let theory: ReturnType<typeof buildModel>["theory"];
  if (opts.resume) {
    if (opts.initFrom !== undefined) {
      throw new UsageError(
        `--init-from starts a new run; --resume continues ${opts.out} from its own checkpoint: drop --init-from`,
      );
    }
    const out = opts.out;
    const recorded = readConfig(out);
    recoverRunDir(out);
    const config = applyResumeChanges(out, recorded, opts.changes ?? {});
    ({ theory, flow } = buildModel(recorded));
    const saved = hasCheckpoint(out)
      ? loadTraining(out, flow.initParams(new Rng(recorded.train.seed), recorded.train.dtype))
      : null;
    // A run started by --init-from and killed before its step-0 checkpoint: starting it from
    // the seed would silently drop the weights it was meant to start from.
    if (saved === null && existsSync(join(out, INIT_FROM_FILE))) {
      throw new UsageError(
        `${out} was started with --init-from and stopped before its first checkpoint: delete it and start it again with --init-from`,
      );
    }
    const step = saved?.step ?? 0;
    if (config.train.steps < step) {
      throw new UsageError(
        `--steps ${config.train.steps} is below the step the run in ${out} has reached, ${step} (its checkpoint): a run cannot go back; give --steps above ${step} to train on, or train a new run with another --out`,
      );
    }
    checkStopAt(stopAt, config.train.steps);
    if (stopAt !== undefined && stopAt < step) {
      throw new UsageError(
        `--stop-at ${stopAt} is below the step the run in ${out} has reached, ${step} (its checkpoint): a run cannot go back; give --stop-at above ${step}, or drop it to train on to --steps ${config.train.steps}`,
      );
    }
    // Where this invocation ends: --steps, or the pause --stop-at asks for.
    const target = Math.min(config.train.steps, stopAt ?? config.train.steps);
    if (target === step) {
      const history = readMetrics(out).filter((r) => r.step <= step);
      return {
        steps: step,
        loss: history.at(-1)?.step === step ? (history.at(-1)!.loss ?? Number.NaN) : Number.NaN,
        ess: finiteMean(history.slice(-100).map((r) => r.ess)),
        ms_per_step: Number.NaN,
        rejected: saved?.rejected ?? 0,
        checkpoint: join(out, RUN_FILES.checkpoint),
        interrupted: false,
        upToDate: true,
        paused: target < config.train.steps,
        plannedSteps: config.train.steps,
        threads: config.train.threads,
        lossFloor: exactReferences(config.theory).lossFloor,
        mhAcceptance: mhAcceptanceOf(history.slice(-100)),
        ...lastSolverError(history),
      };
    }
    // Every check passed: from here on the run directory changes.
    if (config !== recorded) writeConfig(out, config);
    const { records, missing } = repairMetrics(out, step, saved?.metrics);
    truncateEras(out, step);
    truncateFrames(out, step);
    if (missing.length > 0) {
      process.stderr.write(
        `latticeflow: warning: ${join(out, RUN_FILES.metrics)} lacks ${missing.length} of the steps 1..${step} (first ${missing[0]}), lost in a crash of the machine; the training figures will have a gap\n`,
      );
    }
    if (!opts.quiet) {
      const t = config.train;
      process.stderr.write(
        `latticeflow: resuming ${out} at step ${step}${saved === null ? " (no checkpoint yet: from the start)" : ""} of ${t.steps}: ` +
          `keeps ${describeTheory(config.theory)}; ${describeFlow(config.flow)}; batch ${t.batch}, seed ${t.seed}, ${t.dtype}; ${changeText(recorded, config)}\n`,
      );
    }
    const sameOptimiser =
      config.train.lr === recorded.train.lr &&
      config.train.lrSchedule === recorded.train.lrSchedule &&
      (config.train.lrSchedule !== "cosine" || config.train.steps === recorded.train.steps) &&
      config.train.clipNorm === recorded.train.clipNorm &&
      (config.train.weightDecay ?? 0) === (recorded.train.weightDecay ?? 0) &&
      (config.train.nllWeight ?? 0) === (recorded.train.nllWeight ?? 0) &&
      (config.train.klWeight ?? 1) === (recorded.train.klWeight ?? 1) &&
      (config.train.chainHmc ?? 0) === (recorded.train.chainHmc ?? 0) &&
      config.train.lrDecayEvery === recorded.train.lrDecayEvery &&
      config.train.lrDecayFactor === recorded.train.lrDecayFactor &&
      config.train.lrWarmup === recorded.train.lrWarmup &&
      config.train.batchGrowthEvery === recorded.train.batchGrowthEvery &&
      config.train.batchMax === recorded.train.batchMax;
    start = { config, saved, history: records, countHistory: sameOptimiser };
  } else {
    if (!opts.config) throw new UsageError("no configuration: pass --preset, --config or flags");
    if (isNonEmptyDir(opts.out)) {
      throw new UsageError(
        existsSync(join(opts.out, RUN_FILES.config))
          ? `${opts.out} already holds a run: pass --resume to continue it, or choose another --out`
          : `${opts.out} is not empty and holds no run: choose another --out`,
      );
    }
    checkStopAt(stopAt, opts.config.train.steps);
    ({ theory, flow } = buildModel(opts.config));
    const t = opts.config.train;
    const init =
      opts.initFrom === undefined
        ? undefined
        : loadInitialWeights(opts.initFrom, flow.initParams(new Rng(t.seed), t.dtype), opts.config);
    ensureOutputDirectory(opts.out, "--out");
    // config.json first: from here on the directory is a run that --resume continues.
    writeConfig(opts.out, opts.config);
    if (init !== undefined) writeInitFrom(opts.out, opts.initFrom!, init.step);
    start = {
      config: opts.config,
      saved: null,
      history: [],
      countHistory: true,
      ...(init === undefined ? {} : { initParams: init.params }),
    };
  }
  const config = start.config;
  const t = config.train;
  for (const w of speedWarnings(config)) process.stderr.write(`latticeflow: warning: ${w}\n`);
  const optimizer = adamOf(t);
  // One thread: the plain trainer (or, with --nll-weight/--kl-weight, NeuralRG's mixed
  // objective, whose MH chains and buffer start empty here: not checkpointed, so a resume
  // restarts them). More: the same reverse-KL step with the batch split over worker threads
  // (src/parallel/shard.ts), which must be closed however the run ends; validateRunConfig
  // refuses --nll-weight with more than one thread.
  const trainer: Trainer =
    t.threads > 1
      ? createParallelTrainer({
          spec: modelSpecOf(config),
          optimizer,
          batch: t.batch,
          batchAt: batchScheduleOf(t),
          threads: t.threads,
          spawn: nodeSpawn,
          ...(t.gradientEstimator ? { gradientEstimator: t.gradientEstimator } : {}),
        })
      : {
          ...createTrainer({
            flow,
            theory,
            optimizer,
            batch: t.batch,
            batchAt: batchScheduleOf(t),
            dtype: t.dtype,
            objective: objectiveOf(t),
            gradientEstimator: gradientEstimatorOf(t),
          }),
          close() {},
        };
  try {
    return await trainLoop(opts, start, trainer);
  } finally {
    trainer.close();
  }
}

interface Trainer {
  init(rng: Rng, params?: Params): TrainState;
  step(state: TrainState): StepMetrics;
  close(): void;
}

/**
 * How long the training loop runs between two yields to the event loop (where signal
 * handlers run). One yield costs microseconds, so this bounds the reaction time to Ctrl-C
 * (plus one step) without slowing the steps measurably.
 */
const YIELD_MS = 100;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A step's record in the one form checkpoints store (same keys, same order, whatever its source);
 * the mixed objective's `nll`, `mhAcceptance` and `hmcAcceptance` follow when the step has them.
 */
function stepRecord(r: StepRecord): StepRecord {
  const out: StepRecord = {
    step: r.step,
    loss: r.loss,
    logp: r.logp,
    logq: r.logq,
    ess: r.ess,
    accepted: r.accepted,
  };
  if (r.nll !== undefined) out.nll = r.nll;
  if (r.mhAcceptance !== undefined) out.mhAcceptance = r.mhAcceptance;
  if (r.hmcAcceptance !== undefined) out.hmcAcceptance = r.hmcAcceptance;
  if (r.solverError !== undefined) out.solverError = r.solverError;
  return out;
}

/** The state to save (its arrays are never changed in place, so references do). */
function snapshot(state: TrainState, metrics: StepRecord | undefined): SavedTraining {
  return {
    step: state.step,
    params: state.params,
    opt: state.opt,
    rng: state.rng.state(),
    rejected: state.rejected,
    metrics,
  };
}

async function trainLoop(opts: TrainOptions, start: Start, trainer: Trainer): Promise<TrainSummary> {
  const { config, saved, history } = start;
  const out = opts.out;
  const checkpointPath = join(out, RUN_FILES.checkpoint);
  let state: TrainState;
  /** The metrics of `state.step` (kept in train_state: a crash may cut that line of metrics.jsonl). */
  let last: StepRecord | undefined;
  /** The step of the checkpoint on disk. */
  let savedStep: number;
  if (saved !== null) {
    state = {
      step: saved.step,
      params: saved.params,
      opt: saved.opt,
      rng: Rng.fromState(saved.rng),
      rejected: saved.rejected,
    };
    const line = history.find((r) => r.step === saved.step);
    last = saved.metrics ?? (line ? stepRecord(line) : undefined);
    savedStep = saved.step;
  } else {
    // The first checkpoint, at step 0: resumable from the first step.
    state = trainer.init(new Rng(config.train.seed), start.initParams);
    saveTraining(out, snapshot(state, undefined), config);
    savedStep = 0;
  }

  const metricsPath = join(out, RUN_FILES.metrics);
  const startStep = state.step;
  const end = Math.min(config.train.steps, opts.stopAt ?? config.train.steps);
  const progress = progressSink({
    total: end,
    start: startStep,
    quiet: opts.quiet,
    label: "train",
  });
  let interrupted = false;
  // `once`: the first signal asks for a clean stop; a second one finds no listener and so
  // ends the process at once (Node's default).
  const onSignal = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const eraEvery = opts.eraEvery ?? ERA_STEPS;
  const recordFrame = frameRecorder(out, config, opts.frameEvery ?? 0);
  // ODE flows: log q with N against 2N RK4 steps, on draws of its own stream (solver-check.ts).
  const solver = trainSolverGuard(config, out);
  recordFrame(state.step, state.params);
  const plotEvery = opts.plotEvery ?? 0;
  let plotFailed = false;
  const refreshPlots = () => {
    if (plotFailed) return;
    try {
      refreshTrainingPlots(out);
    } catch (e) {
      plotFailed = true; // a figure must never stop a training run
      process.stderr.write(
        `latticeflow: warning: cannot refresh the training figures: ${(e as Error).message}\n`,
      );
    }
  };
  // The summary's ESS is over the run's last 100 steps, those before a resume included; the
  // divergence window likewise, unless the resume changed the optimiser (a new --lr gets a
  // fresh window).
  const recentEss: (number | null)[] = history.slice(-100).map((r) => r.ess);
  const recentRejected: boolean[] = start.countHistory
    ? history.slice(-DIVERGENCE.window).map((r) => r.accepted === false)
    : [];
  let inARow = 0;
  for (const r of recentRejected) inARow = r ? inARow + 1 : 0;
  let lastLoss = history.at(-1)?.loss ?? Number.NaN;
  const recentRecords: StepRecord[] = history.slice(-100);
  /**
   * A checkpoint that is due, held until the next step is accepted: a checkpoint's weights
   * are then known to give a finite step, so the checkpoint a diverged run keeps is a good one.
   */
  let held: SavedTraining | undefined;
  const metricsFd = openSync(metricsPath, "a");
  const save = (s: SavedTraining) => {
    fsyncSync(metricsFd); // the metrics a checkpoint covers are on disk before it
    saveTraining(out, s, config);
    savedStep = s.step;
  };
  const t0 = performance.now();
  let lastYield = t0;
  try {
    while (state.step < end && !interrupted) {
      const m = trainer.step(state);
      const now = performance.now();
      const seconds = (now - t0) / 1000;
      last = stepRecord(m);
      const solverError = solver?.check(state.step, state.params, state.step === end);
      if (solverError !== undefined) last.solverError = solverError;
      writeSync(metricsFd, `${JSON.stringify({ ...last, seconds: Number(seconds.toFixed(3)) })}\n`);
      recordEra(out, m, eraEvery);
      recordFrame(state.step, state.params);
      if (plotEvery > 0 && state.step % plotEvery === 0) refreshPlots();
      recentEss.push(m.ess);
      if (recentEss.length > 100) recentEss.shift();
      lastLoss = m.loss;
      recentRecords.push(last);
      if (recentRecords.length > 100) recentRecords.shift();
      progress.update(state.step, m);
      if (held !== undefined && m.accepted) save(held);
      held = state.step % config.train.checkpointEvery === 0 ? snapshot(state, last) : undefined;
      recentRejected.push(!m.accepted);
      if (recentRejected.length > DIVERGENCE.window) recentRejected.shift();
      inARow = m.accepted ? 0 : inARow + 1;
      const inWindow = recentRejected.filter(Boolean).length;
      if (inARow >= DIVERGENCE.inARow || inWindow > DIVERGENCE.maxInWindow) {
        throw new DivergenceError(
          divergedLine(
            out,
            config,
            state.step,
            inARow >= DIVERGENCE.inARow
              ? `the last ${inARow} steps were all rejected`
              : `${inWindow} of the last ${recentRejected.length} steps were rejected`,
            savedStep,
          ),
        );
      }
      const solverStop = solver?.stopLine(savedStep, shellWord(out));
      if (solverStop) throw new DivergenceError(solverStop);
      if (now - lastYield >= YIELD_MS) {
        await yieldToEventLoop(); // lets a pending SIGINT/SIGTERM set `interrupted`
        lastYield = performance.now();
      }
    }
    save(snapshot(state, last));
    recordFrame(state.step, state.params, true);
  } finally {
    closeSync(metricsFd);
    progress.stop();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  if (plotEvery > 0 && state.step % plotEvery !== 0) refreshPlots();
  const done = state.step - startStep;
  return {
    steps: state.step,
    loss: lastLoss ?? Number.NaN,
    ess: finiteMean(recentEss),
    ms_per_step: done > 0 ? (performance.now() - t0) / done : Number.NaN,
    rejected: state.rejected,
    checkpoint: checkpointPath,
    interrupted,
    upToDate: false,
    paused: !interrupted && state.step < config.train.steps,
    plannedSteps: config.train.steps,
    threads: config.train.threads,
    lossFloor: exactReferences(config.theory).lossFloor,
    mhAcceptance: mhAcceptanceOf(recentRecords),
    ...lastSolverError(recentRecords),
  };
}

/** The one line of a diverged run: what happened, at which step, what was kept, what to do. */
function divergedLine(out: string, config: RunConfig, step: number, what: string, savedStep: number): string {
  const t = config.train;
  const fix =
    t.clipNorm === null
      ? `lower --lr (now ${t.lr}) or add --clip-norm`
      : `lower --lr (now ${t.lr}) or --clip-norm (now ${t.clipNorm})`;
  return (
    `training diverged at step ${step}: ${what} (non-finite loss, gradient or weights); ` +
    `kept the last good checkpoint, step ${savedStep} (${join(out, RUN_FILES.checkpoint)}), and the metrics; ` +
    `${fix}, then continue with: latticeflow train --resume --out ${shellWord(out)} --lr <smaller>`
  );
}

/** `path` as a shell word (quoted only when it needs to be), for commands we suggest. */
export function shellWord(path: string): string {
  return /^[\w./:@%+,=-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
}

/**
 * The one line an interrupted run prints (on stderr): where it stopped, what was saved, and
 * the command that continues it.
 */
export function interruptedLine(s: TrainSummary, out: string): string {
  return (
    `latticeflow: interrupted at step ${s.steps}; checkpoint ${s.checkpoint} saved; ` +
    `continue with: latticeflow train --resume --out ${shellWord(out)}`
  );
}

export function registerTrainCommand(program: Command): void {
  const train = program
    .command("train")
    .description("train a flow by reverse KL (or NeuralRG's δ·NLL + ω·KL: --nll-weight) into a run directory")
    .option("--preset <name>", `a named run: ${Object.keys(PRESETS).join(", ")}`)
    .option("--config <file>", "JSON file with run settings, {theory, flow, train} (flags override it)")
    .requiredOption("--out <dir>", "run directory")
    .option("--resume", "continue the run in --out from its last checkpoint", false)
    .option(
      "--stop-at <step>",
      "stop, checkpointed, on reaching this step, the learning-rate schedule still that of --steps: a pause after which --resume may change --lr, --gradient-estimator and the rest it allows",
      num("--stop-at"),
    )
    .option(
      "--init-from <run>",
      "start a new run from the weights of another run's checkpoint (same flow; the coupling, the lattice size of convolutional flows and the training settings may differ); Adam starts afresh",
    )
    .option("--json", "print one JSON summary as the last line", false)
    .option("--quiet", "no progress output", false)
    .option(
      "--plot-every <n>",
      "refresh the training figures in <out>/plots every n steps",
      num("--plot-every"),
    )
    .option(
      "--era-every <n>",
      "steps per era: log p, log q of each era's first batch → eras.jsonl; 16 flow configurations from a fixed z → frames.jsonl (0: off)",
      num("--era-every"),
      ERA_STEPS,
    );
  const specFlags = [...THEORY_FLAGS, ...FLOW_FLAGS, ...TRAIN_FLAGS];
  addSpecFlags(train, specFlags);
  train.action(async (o: Record<string, unknown>) => {
    const resume = o.resume === true;
    const out = o.out as string;
    const flags = settingsFromFlags(o, specFlags);
    if (resume) {
      const given = (["preset", "config"] as const).filter((k) => o[k] !== undefined).map((k) => `--${k}`);
      if (given.length > 0) {
        throw new UsageError(
          `--resume takes the run's settings from ${join(out, RUN_FILES.config)}: drop ${given.join(" and ")} (only ${RESUME_MAY_CHANGE.map(flagOfKey).join(", ")} may change)`,
        );
      }
    }
    const preset = o.preset as string | undefined;
    const before = preset === undefined ? undefined : presetBefore(preset);
    if (!resume && before !== undefined && o.initFrom === undefined) {
      throw new UsageError(
        `preset ${preset} goes on from a trained ${before} run: add --init-from <that run's directory> (the whole chain, ${presetChain(preset!).join(" → ")}, is one command: npm run seeds -- --preset ${preset} --seeds 1 --keep DIR)`,
      );
    }
    const config = resume
      ? undefined
      : (mergedConfig(preset, o.config as string | undefined, flags) ?? presetConfig("phi4-notebook"));
    let s: TrainSummary;
    try {
      s = await runTraining({
        out,
        config,
        resume,
        changes: resume ? flags : undefined,
        quiet: o.quiet === true,
        plotEvery: o.plotEvery as number | undefined,
        eraEvery: o.eraEvery as number,
        frameEvery: o.eraEvery as number,
        ...(o.stopAt === undefined ? {} : { stopAt: o.stopAt as number }),
        ...(o.initFrom === undefined ? {} : { initFrom: o.initFrom as string }),
      });
    } catch (e) {
      if (!(e instanceof DivergenceError)) throw e;
      // A runtime failure, not a usage error: one line, exit code 1.
      process.stderr.write(`latticeflow: error: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    const summary = {
      steps: s.steps,
      loss: s.loss,
      loss_floor: s.lossFloor,
      loss_gap_relative: s.lossFloor === null ? null : (s.loss - s.lossFloor) / Math.abs(s.lossFloor),
      ess: s.ess,
      ms_per_step: s.ms_per_step,
      rejected: s.rejected,
      checkpoint: s.checkpoint,
      threads: s.threads,
      ...(s.mhAcceptance === null ? {} : { mh_acceptance: s.mhAcceptance }),
      ...(s.solverError === undefined ? {} : { solver_error: s.solverError }),
    };
    // Interrupted: the JSON summary still (scripts read the last stdout line), but instead of
    // the sentence one line on stderr saying where the run stopped and how to go on.
    if (o.json) printJson(s.paused ? { ...summary, paused: true } : summary);
    else if (s.paused) {
      console.log(
        `paused at step ${s.steps} of ${s.plannedSteps} (--stop-at): loss ${fmt(s.loss)}; checkpoint ${s.checkpoint}; ` +
          `go on with: latticeflow train --resume --out ${shellWord(out)} (and any change --resume allows)`,
      );
    } else if (s.upToDate) {
      console.log(
        `nothing to do: the run in ${out} is already at step ${s.steps}, its --steps; ` +
          `to train on: latticeflow train --resume --out ${shellWord(out)} --steps <more than ${s.steps}>`,
      );
    } else if (!s.interrupted) {
      console.log(
        `trained to step ${s.steps}: ` +
          `loss ${fmt(s.loss)}${s.lossFloor === null ? "" : ` (exact floor −ln Z = ${fmt(s.lossFloor)}, ${fmt((100 * (s.loss - s.lossFloor)) / Math.abs(s.lossFloor), 3)} % above)`}, ESS (last 100) ${fmt(s.ess)}, ${s.mhAcceptance === null ? "" : `MH acceptance of the training chains (last 100) ${fmt(s.mhAcceptance)}, `}${fmt(s.ms_per_step, 1)} ms/step on ${s.threads} thread${s.threads > 1 ? "s" : ""}, ` +
          `${s.rejected} rejected steps; checkpoint ${s.checkpoint}`,
      );
    }
    if (s.interrupted) {
      process.stderr.write(`${interruptedLine(s, out)}\n`);
      process.exitCode = 130;
    }
  });
}
