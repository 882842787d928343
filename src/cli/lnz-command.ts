/**
 * `latticeflow lnz --run DIR --n N`: the free energy by importance sampling from the trained flow.
 * With x_i ~ q and log w_i = −S(x_i) − log q(x_i), Z = E_q[w], so ln Z ≈ logsumexp(log w) − ln N
 * with the delta-method error sd(w)/(√N mean(w)) (src/analysis/reweighting.ts). The variational
 * bound F_variational = −mean(log w) ≥ F = −ln Z is the reverse-KL loss on these samples. The error
 * is only trustworthy when the ESS is not tiny (a few heavy weights dominate otherwise), and it
 * cannot see regions the flow misses: a flow collapsed onto one of the two wells of the broken
 * phase gives ln Z − ln 2 with a small error bar; --z2 (proposal ½[q(φ) + q(−φ)]) repairs that.
 *
 * Honesty: the summary carries a `warning` when N·ESS < 100 or N·ESS² < 10 (why these: see
 * lowEssReason in src/analysis/reweighting.ts), and a sample with a non-finite log q or action
 * (a diverged flow) stops the command with one line naming it instead of yielding NaN.
 *
 * `--bridge ENSEMBLE.npy` adds exact draws of p (an `hmc`, `wolff` or flow-MH ensemble of the same
 * theory) and estimates ln Z by bridge sampling (src/analysis/bridge.ts), which counts the mass q
 * misses: where q under-covers part of p, importance sampling is biased low with too small an
 * error, the bridge is not. A Wolff spin ensemble becomes draws of the Ising relaxation by
 * x | s ~ N(Ks, K). The importance-sampling estimate is reported beside it.
 *
 * An ODE flow (`--flow cnf`) is checked first for its solver's error in log q, which
 * reweighting does not remove (`solver_error`, a warning on stderr: src/cli/solver-check.ts).
 */
import type { Command } from "commander";
import { bridgeLogZ } from "../analysis/bridge.js";
import { essFromLogWeights, essStandardError, logZEstimate, lowEssReason } from "../analysis/reweighting.js";
import { checkFiniteProposal, type Proposals } from "../mcmc/independence-metropolis.js";
import {
  buildModel,
  describeTheory,
  exactFieldDraws,
  exactReferences,
  modelSpecOf,
  type TheorySpec,
} from "../model/index.js";
import { createParallelSampler } from "../parallel/shard.js";
import { Rng } from "../rng/philox.js";
import type { Theory } from "../theories/theory.js";
import { fmt, num, printJson, threadsArg } from "./args.js";
import { withOdeSteps } from "./config.js";
import { UsageError } from "./errors.js";
import { flowLogDensity } from "./flow-density.js";
import { loadEnsemble, SPIN_SAMPLERS } from "./measure-command.js";
import { loadWeights, readConfig } from "./run-dir.js";
import { flowProposer } from "./sample-command.js";
import { commandSolverError, solverErrorValue, solverErrorWarning } from "./solver-check.js";
import { nodeSpawn, resolveThreads } from "./threads.js";

export interface LnzSummary {
  /** ln Z of the theory (relaxed Ising: of the spins), = ln ∫ e^{−S} + lnZ_shift. */
  lnZ: number;
  lnZ_error: number;
  /** The exact ln Z (src/model/references.ts), or null where unknown. */
  lnZ_exact: number | null;
  /** (lnZ − lnZ_exact)/lnZ_error, or null. */
  lnZ_n_sigma: number | null;
  /** ln Z − ln ∫ e^{−S} (0 but for the relaxed Ising model). */
  lnZ_shift: number;
  /** The variational bound F_q ≥ −ln Z, in the same convention as lnZ. */
  F_variational: number;
  ess: number;
  /** ESS's delta-method standard error (src/analysis/reweighting.ts). */
  ess_error: number;
  n: number;
  seconds: number;
  /** Why the error bar should not be trusted (too low an ESS for N), or null. */
  warning: string | null;
  /** "importance" (draws of q only) or "bridge" (and exact draws of p, --bridge). */
  method: "importance" | "bridge";
  /** Exact draws of p used by the bridge, or null. */
  n_exact: number | null;
  /** With the bridge: the importance-sampling estimate from the same draws of q; else null. */
  importance: { lnZ: number; lnZ_error: number } | null;
  /**
   * ODE flows: max |log q_N − log q_2N| on 64 draws of their own stream (src/cli/solver-check.ts;
   * null: not finite), warned about on stderr above SOLVER_ERROR_WARN; absent for other flows.
   */
  solver_error?: number | null;
  /** ODE flows: the RK4 steps the draws were integrated with (the run's, or --ode-steps). */
  ode_steps?: number;
}

/** Samplers whose ensembles are exact draws of p (Markov chains, in order), usable by --bridge. */
export const EXACT_SAMPLERS = ["hmc", "flow-mh", ...SPIN_SAMPLERS] as const;

/** Exact draws of the run's theory from an ensemble file, checked to be of that theory. */
function exactDraws(path: string, spec: TheorySpec, rng: Rng): Float64Array {
  const e = loadEnsemble(path);
  if (!(EXACT_SAMPLERS as readonly (string | null)[]).includes(e.sampler))
    throw new UsageError(
      `--bridge ${path}: its sidecar says sampler '${e.sampler ?? "none"}', not exact draws of p; ` +
        `give an ensemble from ${EXACT_SAMPLERS.join(", ")} (e.g. latticeflow hmc or wolff)`,
    );
  if (e.theory === null || JSON.stringify(e.theory) !== JSON.stringify(spec))
    throw new UsageError(
      `--bridge ${path} samples ${e.theory === null ? "an unknown theory" : describeTheory(e.theory)}, ` +
        `but the run is ${describeTheory(spec)}; make the ensemble with the run's theory`,
    );
  const spins = (SPIN_SAMPLERS as readonly (string | null)[]).includes(e.sampler);
  return exactFieldDraws(spec, e.data, e.n, spins, rng);
}

/** The lnz warning for this ESS and N, or null (thresholds: lowEssReason). */
export function lnzWarning(ess: number, n: number): string | null {
  const why = lowEssReason(ess, n);
  return why === null
    ? null
    : `${why}; ln Z is likely biased low and its error bar too small: raise --n or train the flow longer`;
}

/**
 * log w = −S − log q of n draws from `propose`, `batch` at a time. A draw whose log q or action
 * is not finite stops it with a NonFiniteProposalError naming the draw (a diverged flow).
 */
export function importanceLogWeights(
  theory: Theory,
  propose: (m: number) => Proposals,
  n: number,
  batch: number,
): Float64Array {
  const logw = new Float64Array(n);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const p = propose(m);
    const s = theory.action(p.x, m);
    for (let j = 0; j < m; j++) {
      checkFiniteProposal(start + j, p.logq[j]!, -s[j]!, "flow sample");
      logw[start + j] = -s[j]! - p.logq[j]!;
    }
  }
  return logw;
}

export function runLnz(opts: {
  run: string;
  n: number;
  seed: number;
  batch: number;
  z2?: boolean;
  /** An ensemble of exact draws of p: estimate ln Z by bridge sampling. */
  bridge?: string;
  /** Threads of the flow passes (the draws are the same for any count). Absent: 1. */
  threads?: number;
  /** A continuous flow's RK4 steps, in place of the run's (src/cli/config.ts withOdeSteps). */
  odeSteps?: number;
}): LnzSummary {
  if (!Number.isInteger(opts.n) || opts.n < 2)
    throw new UsageError(`--n must be an integer ≥ 2, got ${opts.n}`);
  if (!Number.isInteger(opts.batch) || opts.batch < 1) {
    throw new UsageError(`--batch must be a positive integer, got ${opts.batch}`);
  }
  if (!Number.isInteger(opts.seed) || opts.seed < 0) {
    throw new UsageError(`--seed must be a non-negative integer, got ${opts.seed}`);
  }
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1)
    throw new UsageError(`--threads must be a positive integer or 'auto', got ${threads}`);
  const config = withOdeSteps(readConfig(opts.run), opts.odeSteps, opts.run);
  const { theory, flow } = buildModel(config);
  const dtype = config.train.dtype;
  const { params } = loadWeights(opts.run, flow.initParams(new Rng(config.train.seed), dtype));
  const base = new Rng(opts.seed);
  const rng = base.split(1);
  const signRng = base.split(3);
  // Read and check the exact draws before the flow work: a wrong file fails at once.
  const bridgeDraws =
    opts.bridge === undefined ? null : exactDraws(opts.bridge, config.theory, base.split(4));
  const solver = commandSolverError(flow, params, opts.seed);
  const t0 = performance.now();
  // threads > 1: the prior draws flow.sample would make, pushed through the flow on all threads.
  const parallel =
    threads > 1 ? createParallelSampler({ spec: modelSpecOf(config), threads, spawn: nodeSpawn }) : null;
  let logw: Float64Array;
  try {
    const propose = flowProposer(flow, params, dtype, rng, parallel, opts.z2 ? signRng : null);
    logw = importanceLogWeights(theory, propose, opts.n, opts.batch);
  } finally {
    parallel?.close();
  }
  const est = logZEstimate(logw);
  const ess = essFromLogWeights(logw);
  const ref = exactReferences(config.theory);
  let lnZ = est.lnZ + ref.logZShift;
  let lnZError = est.lnZError;
  let nExact: number | null = null;
  if (bridgeDraws !== null) {
    const m = bridgeDraws.length / theory.size;
    const logq = flowLogDensity(
      flow,
      params,
      bridgeDraws,
      m,
      theory.configShape,
      dtype,
      opts.z2 === true,
      opts.batch,
    );
    const s = theory.action(bridgeDraws, m);
    const logwP = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      checkFiniteProposal(i, logq[i]!, -s[i]!, "exact draw");
      logwP[i] = -s[i]! - logq[i]!;
    }
    const b = bridgeLogZ(logw, logwP);
    lnZ = b.lnZ + ref.logZShift;
    lnZError = b.lnZError;
    nExact = m;
  }
  const solverWarning = solverErrorWarning(solver, "ln Z", lnZError);
  if (solverWarning !== null) process.stderr.write(`latticeflow: warning: ${solverWarning}\n`);
  return {
    lnZ,
    lnZ_error: lnZError,
    lnZ_exact: ref.lnZ,
    lnZ_n_sigma: ref.lnZ === null ? null : (lnZ - ref.lnZ) / lnZError,
    lnZ_shift: ref.logZShift,
    F_variational: est.fVariational - ref.logZShift,
    ess,
    ess_error: essStandardError(logw),
    n: opts.n,
    seconds: (performance.now() - t0) / 1000,
    warning: bridgeDraws === null ? lnzWarning(ess, opts.n) : null,
    method: bridgeDraws === null ? "importance" : "bridge",
    n_exact: nExact,
    importance: bridgeDraws === null ? null : { lnZ: est.lnZ + ref.logZShift, lnZ_error: est.lnZError },
    ...(solver === null ? {} : { solver_error: solverErrorValue(solver) }),
    ...(config.flow.kind === "cnf" ? { ode_steps: config.flow.odeSteps } : {}),
  };
}

export function registerLnzCommand(program: Command): void {
  program
    .command("lnz")
    .description(
      "ln Z (free energy) by importance sampling from a trained flow, with the variational bound; " +
        "warns when N·ESS < 100 or N·ESS² < 10 (too few draws of the weights that set the error)",
    )
    .requiredOption("--run <dir>", "run directory with a checkpoint")
    .option("--n <n>", "number of flow samples", num("--n"), 8192)
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .option("--batch <n>", "samples per flow pass", num("--batch"), 1024)
    .option(
      "--z2",
      "use the phi -> -phi symmetrised flow (q(x)+q(-x))/2: needed when the flow covers one well only",
      false,
    )
    .option(
      "--bridge <ensemble>",
      "also use exact draws of p from this ensemble (.npy of hmc, wolff or sample --mh, same theory): " +
        "ln Z by bridge sampling, which counts the mass the flow misses",
    )
    .option(
      "--ode-steps <n>",
      "continuous flows: integrate with n RK4 steps instead of the run's (same weights; more steps, a more accurate log q)",
      num("--ode-steps"),
    )
    .option(
      "--threads <n>",
      "threads of the flow passes, or 'auto' (the cores); the draws are the same for any count",
      threadsArg("--threads"),
      1,
    )
    .option(
      "--json",
      "print {lnZ, lnZ_error, lnZ_exact, lnZ_n_sigma, lnZ_shift, F_variational, ess, ess_error, n, seconds, warning, " +
        "method, n_exact, importance, and solver_error and ode_steps for ODE flows} as the last line",
      false,
    )
    .action((o: Record<string, unknown>) => {
      const s = runLnz({
        run: o.run as string,
        n: o.n as number,
        seed: o.seed as number,
        batch: o.batch as number,
        z2: o.z2 === true,
        bridge: o.bridge as string | undefined,
        threads: resolveThreads(o.threads as number | "auto"),
        odeSteps: o.odeSteps as number | undefined,
      });
      if (o.json) printJson(s);
      else {
        if (s.importance !== null)
          console.log(
            `importance sampling alone: ln Z = ${fmt(s.importance.lnZ, 4)} ± ${fmt(s.importance.lnZ_error, 4)}`,
          );
        console.log(
          `${s.method === "bridge" ? `bridge sampling with ${s.n_exact} exact draws: ` : ""}` +
            `ln Z = ${fmt(s.lnZ, 4)} ± ${fmt(s.lnZ_error, 4)} (F = −ln Z = ${fmt(-s.lnZ, 4)}); ` +
            `variational bound F ≤ ${fmt(s.F_variational, 4)}; ESS ${fmt(s.ess)} ± ${fmt(s.ess_error)}; ${s.n} samples in ${s.seconds.toFixed(1)} s`,
        );
        if (s.lnZ_exact !== null)
          console.log(
            `exact ln Z = ${fmt(s.lnZ_exact, 6)}: the estimate is ${fmt(s.lnZ_n_sigma!, 2)} σ from it`,
          );
        if (s.warning) console.log(`warning: ${s.warning}`);
      }
    });
}
