/**
 * `latticeflow hmc`: a Hybrid Monte Carlo ensemble of any theory of the model description (the
 * reference sampler that flow MH is compared against), through the theory's action and force
 * only (src/mcmc/hmc.ts): φ⁴ fields, U(1) links. Written like `sample` writes its ensembles:
 * float64 .npy [N, ...configShape] (φ⁴: the lattice; U(1): [d, ...lattice]) and a sidecar
 * `<out>.json` {sampler: "hmc", theory: <TheorySpec>, n, seed, acceptance, stepSize, seconds, ...}.
 * The theory flags are the spec's fields (--theory, --L, --dim, --m2, --lam, --beta); fields not
 * given take the kind's defaults (THEORY_DEFAULTS). The step size is tuned during
 * thermalisation only. `--integrator` is the one place where a name becomes an `Integrator`
 * value (`INTEGRATORS`).
 */
import { dirname } from "node:path";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { checkOutputFiles, ensembleOutputFiles, ensureOutputDirectory, writeEnsemble } from "../io/files.js";
import {
  type HmcProgress,
  hmcChain,
  type Integrator,
  jitterHalfWidth,
  leapfrog,
  omelyan,
} from "../mcmc/hmc.js";
import { buildTheory, describeTheory, type FlatSettings, type TheorySpec } from "../model/index.js";
import { Rng } from "../rng/philox.js";
import type { Theory } from "../theories/theory.js";
import { fmt, num, printJson } from "./args.js";
import { UsageError } from "./errors.js";
import { theoryFlags, theoryFromFlags, withTheoryFlags } from "./measure-command.js";

export interface HmcCommandOptions {
  /** The theory flags given (flat settings of THEORY_FLAGS); the rest are the kind's defaults. */
  theory: FlatSettings;
  n: number;
  seed: number;
  out: string;
  therm: number;
  leapfrog: number;
  trajLength: number;
  targetAcceptance: number;
  integrator: string;
  jitter: number;
  quiet: boolean;
  /** Replace an existing ensemble at `out` (and remove its stale companions); otherwise refused. */
  force?: boolean;
}

export interface HmcSummary {
  n: number;
  acceptance: number;
  stepSize: number;
  seconds: number;
  out: string;
  theory: TheorySpec;
}

/** `--integrator` names; the sidecar records the name as given. */
const INTEGRATORS: Readonly<Record<string, Integrator>> = { leapfrog, omelyan };

function checkInt(flag: string, x: number, min: number): void {
  if (!Number.isInteger(x) || x < min) throw new UsageError(`${flag} must be an integer ≥ ${min}, got ${x}`);
}

/** Validate everything before any work or any file is written. */
function validate(o: HmcCommandOptions): {
  spec: TheorySpec;
  theory: Theory;
  integrator: Integrator;
} {
  const spec = theoryFromFlags(undefined, o.theory);
  checkInt("--n", o.n, 2);
  checkInt("--therm", o.therm, 0);
  checkInt("--leapfrog", o.leapfrog, 1);
  checkInt("--seed", o.seed, 0);
  if (!(o.trajLength > 0)) throw new UsageError(`--traj-length must be > 0, got ${o.trajLength}`);
  if (!(o.targetAcceptance > 0 && o.targetAcceptance < 1)) {
    throw new UsageError(`--target-acceptance must lie strictly between 0 and 1, got ${o.targetAcceptance}`);
  }
  const integrator = Object.hasOwn(INTEGRATORS, o.integrator) ? INTEGRATORS[o.integrator] : undefined;
  if (integrator === undefined) {
    throw new UsageError(`--integrator must be 'leapfrog' or 'omelyan', got '${o.integrator}'`);
  }
  if (!(o.jitter >= 0 && o.jitter < 1)) {
    throw new UsageError(`--jitter must lie in [0, 1) (0 = fixed trajectory length), got ${o.jitter}`);
  }
  if (o.jitter > 0 && jitterHalfWidth(o.jitter, o.leapfrog) === 0) {
    throw new UsageError(
      `--jitter ${o.jitter} × --leapfrog ${o.leapfrog} < 1 step never changes a trajectory: ` +
        `use --jitter ≥ ${(1 / o.leapfrog).toPrecision(3)} or more --leapfrog steps`,
    );
  }
  if (!o.out.endsWith(".npy")) throw new UsageError(`--out must name a .npy file, got '${o.out}'`);
  return { spec, theory: buildTheory(spec), integrator };
}

/** A live bar on a terminal, a plain line every 4 % otherwise, nothing with --quiet. */
function hmcProgress(
  quiet: boolean,
  therm: number,
  n: number,
): { update(p: HmcProgress): void; stop(): void } {
  if (quiet) return { update() {}, stop() {} };
  const total = therm + n;
  const t0 = performance.now();
  const rate = (done: number) => done / ((performance.now() - t0) / 1000);
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format:
          "hmc [{bar}] {value}/{total} | {phase} | acc {acc} | eps {eps} | {rate} traj/s | ETA {eta_formatted}",
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 200,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { phase: "therm", acc: "-", eps: "-", rate: "-" });
    return {
      update(p) {
        const done = (p.phase === "therm" ? 0 : therm) + p.done;
        if (done % 50 !== 0 && done !== total) return;
        bar.update(done, {
          phase: p.phase,
          acc: p.acceptance.toFixed(3),
          eps: p.stepSize.toFixed(4),
          rate: rate(done).toFixed(0),
        });
      },
      stop: () => bar.stop(),
    };
  }
  const every = Math.max(1, Math.round(total / 25));
  return {
    update(p) {
      const done = (p.phase === "therm" ? 0 : therm) + p.done;
      if (done % every !== 0 && done !== total) return;
      const r = rate(done);
      process.stderr.write(
        `hmc ${p.phase} ${done}/${total} acceptance ${p.acceptance.toFixed(3)} eps ${p.stepSize.toFixed(4)} ` +
          `${r.toFixed(0)} traj/s eta ${((total - done) / r).toFixed(0)}s\n`,
      );
    },
    stop() {},
  };
}

export function runHmc(o: HmcCommandOptions): HmcSummary {
  const { spec, theory, integrator } = validate(o);
  // Before the work: the ensemble and its sidecar can be written (a missing directory is
  // created at the end), and do not exist unless --force.
  checkOutputFiles(ensembleOutputFiles(o.out), { force: o.force, mayCreateDirectory: true });
  const progress = hmcProgress(o.quiet, o.therm, o.n);
  const r = hmcChain(
    theory,
    {
      nTherm: o.therm,
      n: o.n,
      nLeapfrog: o.leapfrog,
      trajectoryLength: o.trajLength,
      targetAcceptance: o.targetAcceptance,
      integrator,
      jitter: o.jitter,
      onProgress: (p) => progress.update(p),
    },
    new Rng(o.seed),
  );
  progress.stop();
  let expSum = 0;
  for (const dH of r.deltaH) expSum += Math.exp(-dH);
  ensureOutputDirectory(dirname(o.out));
  const sidecar = {
    sampler: "hmc",
    theory: spec,
    n: o.n,
    seed: o.seed,
    acceptance: r.acceptance,
    stepSize: r.stepSize,
    seconds: r.seconds,
    therm: o.therm,
    leapfrog: o.leapfrog,
    trajLength: o.trajLength,
    targetAcceptance: o.targetAcceptance,
    integrator: o.integrator,
    jitter: o.jitter,
    /** ⟨e^{−ΔH}⟩ over production (= 1 for a correct integrator and an equilibrated chain). */
    meanExpMinusDeltaH: expSum / o.n,
  };
  // The .npy and its sidecar (with the .npy's sha256) together; companions of an earlier flow
  // ensemble at this path (.accepted.npy, .logw.npy) are removed.
  writeEnsemble(o.out, { data: r.configs, shape: [o.n, ...theory.configShape], sidecar });
  return {
    n: o.n,
    acceptance: r.acceptance,
    stepSize: r.stepSize,
    seconds: r.seconds,
    out: o.out,
    theory: spec,
  };
}

export function registerHmcCommand(program: Command): void {
  withTheoryFlags(
    program
      .command("hmc")
      .description(
        "Hybrid Monte Carlo ensemble of a theory (phi4, u1): the reference to compare flow MH against",
      ),
  )
    .option("--n <n>", "production trajectories (one configuration each)", num("--n"), 20000)
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .requiredOption("--out <file>", "output .npy (a sidecar <out>.json is written too)")
    .option(
      "--therm <n>",
      "thermalisation trajectories (step size tuned here, then frozen)",
      num("--therm"),
      1000,
    )
    .option("--leapfrog <n>", "integration steps per trajectory", num("--leapfrog"), 10)
    .option(
      "--traj-length <x>",
      "initial trajectory length (initial step = length / leapfrog)",
      num("--traj-length"),
      1,
    )
    .option(
      "--target-acceptance <x>",
      "acceptance the step size is tuned to",
      num("--target-acceptance"),
      0.8,
    )
    .option("--integrator <name>", "leapfrog or omelyan", "leapfrog")
    .option(
      "--jitter <x>",
      "draw each trajectory's step count uniformly within ±x·leapfrog (0 <= x < 1; 0 = fixed length)",
      num("--jitter"),
      0,
    )
    .option("--force", "replace an existing ensemble at --out", false)
    .option("--json", "print one JSON summary as the last line", false)
    .option("--quiet", "no progress output", false)
    .action((o: Record<string, unknown>) => {
      const s = runHmc({
        theory: theoryFlags(o),
        n: o.n as number,
        seed: o.seed as number,
        out: o.out as string,
        therm: o.therm as number,
        leapfrog: o.leapfrog as number,
        trajLength: o.trajLength as number,
        targetAcceptance: o.targetAcceptance as number,
        integrator: o.integrator as string,
        jitter: o.jitter as number,
        quiet: o.quiet === true,
        force: o.force === true,
      });
      if (o.json) printJson(s);
      else {
        console.log(
          `${s.n} HMC configurations of ${describeTheory(s.theory)} → ${s.out} in ${s.seconds.toFixed(1)} s: ` +
            `acceptance ${fmt(s.acceptance)}, step size ${fmt(s.stepSize)}`,
        );
      }
    });
}
