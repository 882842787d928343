/** `latticeflow train`: reverse-KL training into a run directory, resumable exactly. */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { Rng } from "../rng/philox.js";
import { adam } from "../train/adam.js";
import { createTrainer, type TrainState } from "../train/trainer.js";
import { fmt, intList, num, printJson } from "./args.js";
import { presetConfig, type RunConfig, validateConfig } from "./config.js";
import { UsageError } from "./errors.js";
import { buildModel } from "./model.js";
import { ERA_STEPS, recordEra, refreshTrainingPlots, truncateEras } from "./plot-command.js";
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
  /** Refresh the training figures in <out>/plots every this many steps (0 or undefined: never). */
  plotEvery?: number;
  /** Record the batch's log p and log q at the first step of every era of this many steps (eras.jsonl; 0: off). */
  eraEvery?: number;
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
    truncateEras(opts.out, saved.step);
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
  const recentEss: number[] = [];
  let lastLoss = Number.NaN;
  const t0 = performance.now();
  try {
    while (state.step < config.steps && !interrupted) {
      const m = trainer.step(state);
      const seconds = (performance.now() - t0) / 1000;
      const { batchLogp: _p, batchLogq: _q, ...scalars } = m;
      appendFileSync(metricsPath, `${JSON.stringify({ ...scalars, seconds: Number(seconds.toFixed(3)) })}\n`);
      recordEra(opts.out, m, eraEvery);
      if (plotEvery > 0 && state.step % plotEvery === 0) refreshPlots();
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
  };
}

/** Flags that map one-to-one onto RunConfig fields. */
const CONFIG_FLAGS: [string, keyof RunConfig, string, (v: string) => unknown][] = [
  ["--L <n>", "L", "lattice extent per dimension (even)", num("--L")],
  ["--dim <d>", "dim", "lattice dimension (1-4)", num("--dim")],
  ["--m2 <x>", "m2", "mass parameter m² (notebook action)", num("--m2")],
  ["--lam <x>", "lam", "quartic coupling λ", num("--lam")],
  ["--layers <n>", "layers", "number of affine coupling layers", num("--layers")],
  ["--hidden <list>", "hidden", "hidden channels of each conditioner, e.g. 8,8", intList("--hidden")],
  ["--kernel <k>", "kernel", "odd convolution kernel size", num("--kernel")],
  ["--batch <n>", "batch", "batch size per training step", num("--batch")],
  ["--steps <n>", "steps", "total training steps", num("--steps")],
  ["--lr <x>", "lr", "Adam learning rate", num("--lr")],
  ["--clip-norm <x>", "clipNorm", "clip the global gradient norm to this", num("--clip-norm")],
  ["--seed <n>", "seed", "random seed", num("--seed")],
  ["--checkpoint-every <n>", "checkpointEvery", "steps between checkpoints", num("--checkpoint-every")],
];

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`cannot read config file ${path}: check the path`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`config file ${path} is not valid JSON (${(e as Error).message})`);
  }
}

function mergedConfig(o: Record<string, unknown>): RunConfig | undefined {
  const fromFlags: Record<string, unknown> = {};
  for (const [, key] of CONFIG_FLAGS) if (o[key] !== undefined) fromFlags[key] = o[key];
  if (o.dtype !== undefined) fromFlags.dtype = o.dtype;
  if (o.identityInit) fromFlags.identityInit = true;
  if (o.preset === undefined && o.config === undefined && Object.keys(fromFlags).length === 0)
    return undefined;
  let base: Record<string, unknown> = presetConfig((o.preset as string | undefined) ?? "phi4-notebook");
  if (o.config !== undefined) {
    const file = readConfigFile(o.config as string);
    if (typeof file !== "object" || file === null || Array.isArray(file)) {
      throw new UsageError(`config file ${o.config} must hold a JSON object`);
    }
    base = { ...base, ...(file as Record<string, unknown>) };
  }
  return validateConfig({ ...base, ...fromFlags }, "configuration");
}

export function registerTrainCommand(program: Command): void {
  const train = program
    .command("train")
    .description("train a flow by reverse KL into a run directory")
    .option("--preset <name>", "phi4-notebook or phi4-broken")
    .option("--config <file>", "JSON file with run settings (flags override it)")
    .requiredOption("--out <dir>", "run directory")
    .option("--resume", "continue the run in --out from its last checkpoint", false)
    .addOption(new Option("--dtype <t>", "float64 or float32").choices(["float64", "float32"]))
    .option("--identity-init", "start every coupling layer as the identity")
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
  for (const [flag, , help, parse] of CONFIG_FLAGS) train.option(flag, help, parse);
  train.action((o: Record<string, unknown>) => {
    const resume = o.resume === true;
    const config = resume ? undefined : (mergedConfig(o) ?? presetConfig("phi4-notebook"));
    const s = runTraining({
      out: o.out as string,
      config,
      resume,
      steps: resume ? (o.steps as number | undefined) : undefined,
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
    };
    if (o.json) printJson(summary);
    else {
      console.log(
        `trained to step ${s.steps}${s.interrupted ? " (interrupted; resume with --resume)" : ""}: ` +
          `loss ${fmt(s.loss)}, ESS (last 100) ${fmt(s.ess)}, ${fmt(s.ms_per_step, 1)} ms/step, ` +
          `${s.rejected} rejected steps; checkpoint ${s.checkpoint}`,
      );
    }
    if (s.interrupted) process.exitCode = 130;
  });
}
