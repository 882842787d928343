#!/usr/bin/env node
/** The `latticeflow` command line. Each command registers itself from its own file. */
import { Command, CommanderError } from "commander";
import { FileError } from "../io/files.js";
import { FormatError } from "../io/safetensors.js";
import { NonFiniteProposalError } from "../mcmc/independence-metropolis.js";
import { SpecError } from "../model/index.js";
import { WorkerError } from "../parallel/shard.js";
import { packageVersion } from "./args.js";
import { registerCompareCommand } from "./compare-command.js";
import { registerDemoCommand } from "./demo-command.js";
import { UsageError } from "./errors.js";
import { registerHmcCommand } from "./hmc-command.js";
import { registerLnzCommand } from "./lnz-command.js";
import { registerMeasureCommand } from "./measure-command.js";
import { registerPlotCommand } from "./plot-command.js";
import { registerReportCommand } from "./report-command.js";
import { registerSampleCommand } from "./sample-command.js";
import { DivergenceError, registerTrainCommand } from "./train-command.js";
import { registerWebCommand } from "./web-command.js";
import { registerWolffCommand } from "./wolff-command.js";

export function buildProgram(): Command {
  const program = new Command()
    .name("latticeflow")
    .description("Normalizing flows for lattice field theory: train, sample exactly, measure.")
    .version(packageVersion(), "-V, --version", "print the version of latticeflow")
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(`latticeflow: ${str.trimEnd()} (see latticeflow --help)\n`),
    });
  registerTrainCommand(program);
  registerSampleCommand(program);
  registerDemoCommand(program);
  registerHmcCommand(program);
  registerWolffCommand(program);
  registerMeasureCommand(program);
  registerCompareCommand(program);
  registerLnzCommand(program);
  registerPlotCommand(program);
  registerReportCommand(program);
  registerWebCommand(program);
  return program;
}

/**
 * A closed stdout (`latticeflow measure x.npy | head -3`) ends the process quietly, as for other
 * command-line tools, instead of an unhandled EPIPE stack trace.
 */
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
});

/** Run the command line; asynchronous because `train` and `demo` yield so Ctrl-C is seen. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; commander already printed its one-line message otherwise.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (
      e instanceof UsageError ||
      e instanceof SpecError ||
      e instanceof FileError ||
      e instanceof FormatError ||
      e instanceof RangeError
    ) {
      process.stderr.write(`latticeflow: error: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof WorkerError || e instanceof NonFiniteProposalError || e instanceof DivergenceError) {
      // Not the user's input, but still one line: the message says how to see the cause (a
      // worker) or names the bad flow sample and the likely fix (a diverged flow).
      process.stderr.write(`latticeflow: error: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

await main(process.argv);
