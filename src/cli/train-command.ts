/** `latticeflow train`: reverse-KL training into a run directory, resumable exactly. */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import type { Flow } from "../flows/flow.js";
import { createParallelTrainer } from "../parallel/shard.js";
import { Rng } from "../rng/philox.js";
import { adam } from "../train/adam.js";
import { createTrainer, type StepMetrics, type TrainState } from "../train/trainer.js";
import { fmt, intList, num, printJson, threadsArg } from "./args.js";
import { presetConfig, type RunConfig, validateConfig } from "./config.js";
import { UsageError } from "./errors.js";
import { buildModel, modelSpec } from "./model.js";
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
import { nodeSpawn, resolveThreads } from "./threads.js";

export interface TrainOptions {
  out: string;
  /** Merged configuration for a new run; ignored when resuming (see `steps`, `threads`). */
  config?: RunConfig;
  resume: boolean;
  /** On resume: a new total step count. */
  steps?: number;
  /** On resume: a new thread count (otherwise the recorded one). */
  threads?: number | "auto";
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
    const changed: Partial<RunConfig> = {};
    if (opts.steps !== undefined) changed.steps = opts.steps;
    if (opts.threads !== undefined) changed.threads = resolveThreads(opts.threads, config.batch);
    if (Object.keys(changed).length > 0) {
      const source = Object.keys(changed)
        .map((k) => `--${k}`)
        .join(", ");
      config = validateConfig({ ...config, ...changed }, source);
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
  const optimizer = adam({
    lr: config.lr,
    beta1: config.beta1,
    beta2: config.beta2,
    clipNorm: config.clipNorm,
  });
  // One thread: the plain trainer. More: the same step with the batch split over worker
  // threads (src/parallel/shard.ts), which must be closed however the run ends.
  const trainer: Trainer =
    config.threads > 1
      ? createParallelTrainer({
          spec: modelSpec(config),
          optimizer,
          batch: config.batch,
          threads: config.threads,
          spawn: nodeSpawn,
        })
      : {
          ...createTrainer({ flow, theory, optimizer, batch: config.batch, dtype: config.dtype }),
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
    while (state.step < config.steps && !interrupted) {
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
      if (state.step % config.checkpointEvery === 0) saveTraining(opts.out, state, config);
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
    threads: config.threads,
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
  [
    "--threads <n>",
    "threads",
    "threads of each training step, or 'auto' (the cores); the numbers depend on it, so the default is 1",
    threadsArg("--threads"),
  ],
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
  const merged = { ...base, ...fromFlags };
  // "auto" (flag or config file) is recorded as the count it meant on this machine.
  if (merged.threads === "auto") {
    merged.threads = resolveThreads("auto", typeof merged.batch === "number" ? merged.batch : undefined);
  }
  return validateConfig(merged, "configuration");
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
  train.action(async (o: Record<string, unknown>) => {
    const resume = o.resume === true;
    const config = resume ? undefined : (mergedConfig(o) ?? presetConfig("phi4-notebook"));
    const s = await runTraining({
      out: o.out as string,
      config,
      resume,
      steps: resume ? (o.steps as number | undefined) : undefined,
      threads: resume ? (o.threads as number | "auto" | undefined) : undefined,
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
