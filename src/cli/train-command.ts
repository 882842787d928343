/** `latticeflow train`: reverse-KL training into a run directory, resumable exactly. */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Rng } from "../rng/philox.js";
import { adam } from "../train/adam.js";
import { createTrainer, type TrainState } from "../train/trainer.js";
import { type RunConfig, validateConfig } from "./config.js";
import { UsageError } from "./errors.js";
import { buildModel } from "./model.js";
import { progressSink } from "./progress.js";
import {
  isNonEmptyDir,
  loadTraining,
  RUN_FILES,
  readConfig,
  saveTraining,
  truncateMetrics,
  writeConfig,
} from "./run-dir.js";

export interface TrainOptions {
  out: string;
  /** Merged configuration for a new run; ignored (except `steps`) when resuming. */
  config?: RunConfig;
  resume: boolean;
  /** On resume: a new total step count. */
  steps?: number;
  quiet: boolean;
}

export interface TrainSummary {
  steps: number;
  loss: number;
  /** Mean ESS of the last 100 steps. */
  ess: number;
  ms_per_step: number;
  rejected: number;
  checkpoint: string;
  interrupted: boolean;
}

export function runTraining(opts: TrainOptions): TrainSummary {
  let config: RunConfig;
  if (opts.resume) {
    config = readConfig(opts.out);
    if (opts.steps !== undefined) {
      config = validateConfig({ ...config, steps: opts.steps }, "--steps");
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
  const trainer = createTrainer({
    flow,
    theory,
    optimizer: adam({ lr: config.lr, beta1: config.beta1, beta2: config.beta2, clipNorm: config.clipNorm }),
    batch: config.batch,
    dtype: config.dtype,
  });
  let state: TrainState;
  if (opts.resume) {
    const fresh = flow.initParams(new Rng(config.seed), config.dtype);
    const saved = loadTraining(opts.out, fresh);
    state = {
      step: saved.step,
      params: saved.params,
      opt: saved.opt,
      rng: Rng.fromState(saved.rng),
      rejected: saved.rejected,
    };
    truncateMetrics(opts.out, saved.step);
  } else {
    mkdirSync(opts.out, { recursive: true });
    writeConfig(opts.out, config);
    state = trainer.init(new Rng(config.seed));
  }

  const metricsPath = join(opts.out, RUN_FILES.metrics);
  const startStep = state.step;
  const progress = progressSink({ total: config.steps, start: startStep, quiet: opts.quiet, label: "train" });
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const recentEss: number[] = [];
  let lastLoss = Number.NaN;
  const t0 = performance.now();
  try {
    while (state.step < config.steps && !interrupted) {
      const m = trainer.step(state);
      const seconds = (performance.now() - t0) / 1000;
      appendFileSync(metricsPath, `${JSON.stringify({ ...m, seconds: Number(seconds.toFixed(3)) })}\n`);
      recentEss.push(m.ess);
      if (recentEss.length > 100) recentEss.shift();
      lastLoss = m.loss;
      progress.update(state.step, m);
      if (state.step % config.checkpointEvery === 0) saveTraining(opts.out, state, config);
    }
  } finally {
    progress.stop();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  saveTraining(opts.out, state, config);
  const done = state.step - startStep;
  return {
    steps: state.step,
    loss: lastLoss,
    ess: recentEss.length ? recentEss.reduce((a, b) => a + b, 0) / recentEss.length : Number.NaN,
    ms_per_step: done > 0 ? (performance.now() - t0) / done : Number.NaN,
    rejected: state.rejected,
    checkpoint: join(opts.out, RUN_FILES.checkpoint),
    interrupted,
  };
}
