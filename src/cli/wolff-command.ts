/**
 * `latticeflow wolff`: a single-cluster Wolff ensemble of the Ising spins (src/mcmc/wolff.ts;
 * U. Wolff, PRL 62 (1989) 361), the standard baseline at T_c that flow MH on the relaxation is
 * compared against; `--metropolis` runs checkerboard single-spin Metropolis instead. Written like
 * `hmc` writes its ensembles: float64 .npy [N, ...lattice] of ±1 and a sidecar `<out>.json`
 * {sampler: "wolff" | "spin-metropolis", theory: <TheorySpec>, n, seed, seconds, ...}; `measure`
 * reads the sampler and measures spins rather than the relaxation's x.
 */
import { dirname } from "node:path";
import type { Command } from "commander";
import { checkOutputFiles, ensembleOutputFiles, ensureOutputDirectory, writeEnsemble } from "../io/files.js";
import { spinMetropolisChain } from "../mcmc/spin-metropolis.js";
import { wolffChain } from "../mcmc/wolff.js";
import { describeTheory, type FlatSettings, type IsingSpec } from "../model/index.js";
import { Rng } from "../rng/philox.js";
import { num, printJson } from "./args.js";
import { UsageError } from "./errors.js";
import { theoryFlags, theoryFromFlags, withTheoryFlags } from "./measure-command.js";

export interface WolffCommandOptions {
  theory: FlatSettings;
  n: number;
  seed: number;
  out: string;
  therm: number;
  /** Sweeps (≈ N flipped spins for Wolff; N visited spins for Metropolis) between samples. */
  sweeps: number;
  metropolis: boolean;
  force?: boolean;
}

export interface WolffSummary {
  sampler: "wolff" | "spin-metropolis";
  n: number;
  seconds: number;
  out: string;
  theory: IsingSpec;
}

export function runWolff(o: WolffCommandOptions): WolffSummary {
  const spec = theoryFromFlags(undefined, { theory: "ising", ...o.theory });
  if (spec.kind !== "ising")
    throw new UsageError(`wolff samples the Ising model: drop --theory ${spec.kind}`);
  if (spec.boundary !== "periodic")
    throw new UsageError("wolff: --boundary open is not supported; use periodic");
  for (const [flag, v, min] of [
    ["--n", o.n, 2],
    ["--seed", o.seed, 0],
    ["--therm", o.therm, 0],
  ] as const)
    if (!Number.isInteger(v) || v < min)
      throw new UsageError(`${flag} must be an integer ≥ ${min}, got ${v}`);
  if (!(o.sweeps > 0)) throw new UsageError(`--sweeps must be > 0, got ${o.sweeps}`);
  if (!o.out.endsWith(".npy")) throw new UsageError(`--out must name a .npy file, got '${o.out}'`);
  checkOutputFiles(ensembleOutputFiles(o.out), { force: o.force, mayCreateDirectory: true });
  const t0 = performance.now();
  const rng = new Rng(o.seed);
  const common = { latticeShape: spec.latticeShape, T: spec.T, n: o.n, thermalise: o.therm, rng };
  const sampler = o.metropolis ? "spin-metropolis" : "wolff";
  const spins = o.metropolis
    ? spinMetropolisChain({ ...common, sweepsPerSample: Math.max(1, Math.round(o.sweeps)) }).spins
    : wolffChain({ ...common, sweepsPerSample: o.sweeps }).spins;
  const seconds = (performance.now() - t0) / 1000;
  ensureOutputDirectory(dirname(o.out));
  writeEnsemble(o.out, {
    data: Float64Array.from(spins),
    shape: [o.n, ...spec.latticeShape],
    sidecar: { sampler, theory: spec, n: o.n, seed: o.seed, therm: o.therm, sweeps: o.sweeps, seconds },
  });
  return { sampler, n: o.n, seconds, out: o.out, theory: spec };
}

export function registerWolffCommand(program: Command): void {
  withTheoryFlags(
    program
      .command("wolff")
      .description(
        "Ising spin ensemble by single-cluster Wolff updates (or --metropolis): the baseline for flows on the Ising relaxation",
      ),
  )
    .option("--n <n>", "configurations", num("--n"), 20000)
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .requiredOption("--out <file>", "output .npy (a sidecar <out>.json is written too)")
    .option("--therm <n>", "thermalisation sweeps", num("--therm"), 100)
    .option(
      "--sweeps <x>",
      "sweeps between configurations (Wolff: ≈ N spins flipped per sweep)",
      num("--sweeps"),
      1,
    )
    .option("--metropolis", "checkerboard single-spin Metropolis instead of Wolff", false)
    .option("--force", "replace an existing ensemble at --out", false)
    .option("--json", "print one JSON summary as the last line", false)
    .action((o: Record<string, unknown>) => {
      const s = runWolff({
        theory: theoryFlags(o),
        n: o.n as number,
        seed: o.seed as number,
        out: o.out as string,
        therm: o.therm as number,
        sweeps: o.sweeps as number,
        metropolis: o.metropolis === true,
        force: o.force === true,
      });
      if (o.json) printJson(s);
      else
        console.log(
          `${s.n} ${s.sampler} configurations of ${describeTheory(s.theory)} → ${s.out} in ${s.seconds.toFixed(1)} s`,
        );
    });
}
