/** `latticeflow train`: reverse-KL training into a run directory, resumable exactly. */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { Flow } from "../flows/flow.js";
import { applySettings, buildModel, modelSpecOf, PRESETS } from "../model/index.js";
import { createParallelTrainer } from "../parallel/shard.js";
import { Rng } from "../rng/philox.js";
import { adam } from "../train/adam.js";
import { createTrainer, type StepMetrics, type TrainState } from "../train/trainer.js";
import { fmt, num, printJson } from "./args.js";
import { mergedConfig, presetConfig, type RunConfig } from "./config.js";
import { UsageError } from "./errors.js";
import { ERA_STEPS, recordEra, refreshTrainingPlots, truncateEras } from "./plot-command.js";
import { progressSink } from "./progress.js";
import {
  isNonEmptyDir,
  loadTraining,
  RUN_FILES,
  readConfig,
  readMetrics,
  saveTraining,
  truncateMetrics,
  writeConfig,
} from "./run-dir.js";
import {
  addSpecFlags,
  FLOW_FLAGS,
  flagOfKey,
  settingsFromFlags,
  THEORY_FLAGS,
  TRAIN_FLAGS,
} from "./spec-flags.js";
import { nodeSpawn, resolveThreads } from "./threads.js";

export interface TrainOptions {
  out: string;
  /** Merged configuration for a new run; ignored when resuming (see `steps`, `threads`). */
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
}

/** Settings a resumed run may change: they alter neither the model nor the random stream. */
export const RESUME_MAY_CHANGE = ["steps", "threads", "lr", "clipNorm", "checkpointEvery"];

export interface TrainSummary {
  steps: number;
  loss: number;
  /** Mean ESS of the last 100 steps. */
  ess: number;
  ms_per_step: number;
  rejected: number;
  checkpoint: string;
  interrupted: boolean;
  /** Threads the steps ran on. */
  threads: number;
}

/**
 * Train (or resume) the run in `opts.out`. The loop yields to the event loop every
 * {@link YIELD_MS} ms so that SIGINT/SIGTERM are seen: the step under way finishes, the
 * checkpoint, train_state and metrics are written as at a normal end, and the summary says
 * `interrupted` (the command then exits 130). A second signal kills the process at once
 * (its files are written atomically, so it leaves the last complete checkpoint).
 */
export async function runTraining(opts: TrainOptions): Promise<TrainSummary> {
  for (const [flag, v] of [
    ["--plot-every", opts.plotEvery],
    ["--era-every", opts.eraEvery],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0))
      throw new UsageError(`${flag} must be a non-negative integer, got ${v}`);
  }
  let config: RunConfig;
  if (opts.resume) {
    config = readConfig(opts.out);
    const changed: Record<string, unknown> = { ...opts.changes };
    const fixed = Object.keys(changed).filter((k) => !RESUME_MAY_CHANGE.includes(k));
    if (fixed.length > 0) {
      throw new UsageError(
        `--resume keeps the run's ${fixed.map(flagOfKey).join(", ")} (recorded in ${join(opts.out, RUN_FILES.config)}); only ${RESUME_MAY_CHANGE.map(flagOfKey).join(", ")} may change: drop the others, or train a new run with another --out`,
      );
    }
    if (changed.threads === "auto") changed.threads = resolveThreads("auto", config.train.batch);
    if (Object.keys(changed).length > 0) {
      const source = Object.keys(changed)
        .map((k) => `--${k}`)
        .join(", ");
      config = applySettings(config, changed, source);
      writeConfig(opts.out, config);
    }
  } else {
    if (!opts.config) throw new UsageError("no configuration: pass --preset, --config or flags");
    if (isNonEmptyDir(opts.out)) {
      throw new UsageError(
        `${opts.out} already holds a run: pass --resume to continue it, or choose another --out`,
      );
    }
    config = opts.config;
  }
  const { theory, flow } = buildModel(config);
  const t = config.train;
  const optimizer = adam({ lr: t.lr, beta1: t.beta1, beta2: t.beta2, clipNorm: t.clipNorm });
  // One thread: the plain trainer. More: the same step with the batch split over worker
  // threads (src/parallel/shard.ts), which must be closed however the run ends.
  const trainer: Trainer =
    t.threads > 1
      ? createParallelTrainer({
          spec: modelSpecOf(config),
          optimizer,
          batch: t.batch,
          threads: t.threads,
          spawn: nodeSpawn,
        })
      : {
          ...createTrainer({ flow, theory, optimizer, batch: t.batch, dtype: t.dtype }),
          close() {},
        };
  try {
    return await trainLoop(opts, config, flow, trainer);
  } finally {
    trainer.close();
  }
}

interface Trainer {
  init(rng: Rng): TrainState;
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

async function trainLoop(
  opts: TrainOptions,
  config: RunConfig,
  flow: Flow,
  trainer: Trainer,
): Promise<TrainSummary> {
  let state: TrainState;
  if (opts.resume) {
    const fresh = flow.initParams(new Rng(config.train.seed), config.train.dtype);
    const saved = loadTraining(opts.out, fresh);
    state = {
      step: saved.step,
      params: saved.params,
      opt: saved.opt,
      rng: Rng.fromState(saved.rng),
      rejected: saved.rejected,
    };
    truncateMetrics(opts.out, saved.step);
    truncateEras(opts.out, saved.step);
  } else {
    mkdirSync(opts.out, { recursive: true });
    writeConfig(opts.out, config);
    state = trainer.init(new Rng(config.train.seed));
  }

  const metricsPath = join(opts.out, RUN_FILES.metrics);
  const startStep = state.step;
  const progress = progressSink({
    total: config.train.steps,
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
  const plotEvery = opts.plotEvery ?? 0;
  let plotFailed = false;
  const refreshPlots = () => {
    if (plotFailed) return;
    try {
      refreshTrainingPlots(opts.out);
    } catch (e) {
      plotFailed = true; // a figure must never stop a training run
      process.stderr.write(
        `latticeflow: warning: cannot refresh the training figures: ${(e as Error).message}\n`,
      );
    }
  };
  // The summary's ESS is over the run's last 100 steps, those before a resume included.
  const recentEss: number[] = opts.resume
    ? readMetrics(opts.out)
        .slice(-100)
        .map((r) => r.ess)
    : [];
  let lastLoss = Number.NaN;
  const t0 = performance.now();
  let lastYield = t0;
  try {
    while (state.step < config.train.steps && !interrupted) {
      const m = trainer.step(state);
      const now = performance.now();
      const seconds = (now - t0) / 1000;
      const { batchLogp: _p, batchLogq: _q, ...scalars } = m;
      appendFileSync(metricsPath, `${JSON.stringify({ ...scalars, seconds: Number(seconds.toFixed(3)) })}\n`);
      recordEra(opts.out, m, eraEvery);
      if (plotEvery > 0 && state.step % plotEvery === 0) refreshPlots();
      recentEss.push(m.ess);
      if (recentEss.length > 100) recentEss.shift();
      lastLoss = m.loss;
      progress.update(state.step, m);
      if (state.step % config.train.checkpointEvery === 0) saveTraining(opts.out, state, config);
      if (now - lastYield >= YIELD_MS) {
        await yieldToEventLoop(); // lets a pending SIGINT/SIGTERM set `interrupted`
        lastYield = performance.now();
      }
    }
  } finally {
    progress.stop();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  saveTraining(opts.out, state, config);
  if (plotEvery > 0 && state.step % plotEvery !== 0) refreshPlots();
  const done = state.step - startStep;
  return {
    steps: state.step,
    loss: lastLoss,
    ess: recentEss.length ? recentEss.reduce((a, b) => a + b, 0) / recentEss.length : Number.NaN,
    ms_per_step: done > 0 ? (performance.now() - t0) / done : Number.NaN,
    rejected: state.rejected,
    checkpoint: join(opts.out, RUN_FILES.checkpoint),
    interrupted,
    threads: config.train.threads,
  };
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
    .description("train a flow by reverse KL into a run directory")
    .option("--preset <name>", `a named run: ${Object.keys(PRESETS).join(", ")}`)
    .option("--config <file>", "JSON file with run settings, {theory, flow, train} (flags override it)")
    .requiredOption("--out <dir>", "run directory")
    .option("--resume", "continue the run in --out from its last checkpoint", false)
    .option("--json", "print one JSON summary as the last line", false)
    .option("--quiet", "no progress output", false)
    .option(
      "--plot-every <n>",
      "refresh the training figures in <out>/plots every n steps",
      num("--plot-every"),
    )
    .option(
      "--era-every <n>",
      "steps per era: log p, log q of each era's first batch → eras.jsonl (0: off)",
      num("--era-every"),
      ERA_STEPS,
    );
  const specFlags = [...THEORY_FLAGS, ...FLOW_FLAGS, ...TRAIN_FLAGS];
  addSpecFlags(train, specFlags);
  train.action(async (o: Record<string, unknown>) => {
    const resume = o.resume === true;
    const flags = settingsFromFlags(o, specFlags);
    const config = resume
      ? undefined
      : (mergedConfig(o.preset as string | undefined, o.config as string | undefined, flags) ??
        presetConfig("phi4-notebook"));
    const s = await runTraining({
      out: o.out as string,
      config,
      resume,
      changes: resume ? flags : undefined,
      quiet: o.quiet === true,
      plotEvery: o.plotEvery as number | undefined,
      eraEvery: o.eraEvery as number,
    });
    const summary = {
      steps: s.steps,
      loss: s.loss,
      ess: s.ess,
      ms_per_step: s.ms_per_step,
      rejected: s.rejected,
      checkpoint: s.checkpoint,
      threads: s.threads,
    };
    // Interrupted: the JSON summary still (scripts read the last stdout line), but instead of
    // the sentence one line on stderr saying where the run stopped and how to go on.
    if (o.json) printJson(summary);
    else if (!s.interrupted) {
      console.log(
        `trained to step ${s.steps}: ` +
          `loss ${fmt(s.loss)}, ESS (last 100) ${fmt(s.ess)}, ${fmt(s.ms_per_step, 1)} ms/step on ${s.threads} thread${s.threads > 1 ? "s" : ""}, ` +
          `${s.rejected} rejected steps; checkpoint ${s.checkpoint}`,
      );
    }
    if (s.interrupted) {
      process.stderr.write(`${interruptedLine(s, o.out as string)}\n`);
      process.exitCode = 130;
    }
  });
}
