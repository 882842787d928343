#!/usr/bin/env node
/** The `latticeflow` command line: train, sample, demo. */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { FormatError } from "../io/safetensors.js";
import { presetConfig, type RunConfig, validateConfig } from "./config.js";
import { runDemo } from "./demo-command.js";
import { UsageError } from "./errors.js";
import { runSampling } from "./sample-command.js";
import { runTraining } from "./train-command.js";

function num(flag: string) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === "" || !Number.isFinite(x)) throw new UsageError(`${flag} expects a number, got '${v}'`);
    return x;
  };
}

function intList(flag: string) {
  return (v: string): number[] => {
    const xs = v.split(",").map((s) => Number(s));
    if (xs.some((x) => !Number.isInteger(x) || x <= 0)) {
      throw new UsageError(`${flag} expects comma-separated positive integers like 8,8, got '${v}'`);
    }
    return xs;
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

function printJson(x: unknown): void {
  process.stdout.write(`${JSON.stringify(x)}\n`);
}

function fmt(x: number | null, digits = 4): string {
  return x === null || !Number.isFinite(x) ? "n/a" : x.toFixed(digits);
}

export function buildProgram(): Command {
  const program = new Command()
    .name("latticeflow")
    .description("Normalizing flows for lattice field theory: train, sample exactly, measure.")
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(`latticeflow: ${str.trimEnd()} (see latticeflow --help)\n`),
    });

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
    .option("--quiet", "no progress output", false);
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

  program
    .command("sample")
    .description("sample a trained flow (with --mh: exact, by independence Metropolis-Hastings)")
    .requiredOption("--run <dir>", "run directory with a checkpoint")
    .option("--n <n>", "number of configurations", num("--n"), 8192)
    .option("--mh", "accept/reject with Metropolis-Hastings (exact); otherwise raw flow samples", false)
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .option("--out <file>", "output .npy (default <run>/ensemble.npy)")
    .option("--batch <n>", "proposals per flow pass", num("--batch"), 1024)
    .option("--json", "print one JSON summary as the last line", false)
    .action((o: Record<string, unknown>) => {
      const s = runSampling({
        run: o.run as string,
        n: o.n as number,
        mh: o.mh === true,
        seed: o.seed as number,
        out: (o.out as string | undefined) ?? `${o.run}/ensemble.npy`,
        batch: o.batch as number,
      });
      if (o.json) printJson({ n: s.n, acceptance: s.acceptance, ess: s.ess, out: s.out });
      else {
        console.log(
          `${s.n} configurations → ${s.out} in ${s.seconds.toFixed(1)} s: ` +
            `${s.acceptance === null ? "" : `MH acceptance ${fmt(s.acceptance)}, `}proposal ESS ${fmt(s.ess)}`,
        );
      }
    });

  program
    .command("demo")
    .description("the main job: train the notebook preset, sample 8192 configurations with MH, summarise")
    .option("--out <dir>", "run directory (default runs/demo-<time>)")
    .option("--steps <n>", "training steps", num("--steps"))
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .action((o: Record<string, unknown>) => {
      runDemo({
        out: o.out as string | undefined,
        steps: o.steps as number | undefined,
        seed: o.seed as number,
      });
    });
  return program;
}

export function main(argv: string[]): void {
  try {
    buildProgram().parse(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; commander already printed its one-line message otherwise.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof UsageError || e instanceof FormatError || e instanceof RangeError) {
      process.stderr.write(`latticeflow: error: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}

main(process.argv);
