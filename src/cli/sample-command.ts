/**
 * `latticeflow sample`: draw from a trained flow, optionally made exact by independence
 * Metropolis–Hastings, and write the ensemble as .npy [N, ...configShape] float64 (φ⁴: the
 * lattice; U(1): [d, ...lattice]), with a
 * sidecar `<out>.json` describing it (and, for direct samples, `<out>.logw.npy`; for MH chains,
 * `<out>.accepted.npy`: float64 [N] of 0/1 accept flags, step 0 = 1 starts the chain, which
 * `latticeflow measure` turns into the acceptance-run τ_int).
 *
 * With --local-hmc K every flow-MH step is followed by K HMC trajectories of the chain's state
 * (src/mcmc/flow-hmc-chain.ts; exact: both kernels leave p invariant), which reach what the flow
 * misses. The accept flags then describe the flow proposals only, and the sidecar's `localHmc`
 * records the trajectories, leapfrog steps, the (fixed) step size and the HMC acceptance.
 *
 * The output paths are checked before any work (an existing ensemble is replaced only with
 * --force); a non-finite log q or action (a diverged flow) stops the run before anything is
 * written; the files are written together, the sidecar recording the sha256 of each .npy
 * (src/io/files.ts writeEnsemble); a proposal ESS below 0.01 is warned about on stderr, and so
 * is an ODE flow's solver error in log q above SOLVER_ERROR_WARN, which MH does not remove
 * (src/cli/solver-check.ts; `solver_error` in the JSON summary).
 */

import { basename } from "node:path";
import type { Command } from "commander";
import { essFromLogWeights } from "../analysis/reweighting.js";
import { type DType, type Params, Tensor } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import { checkOutputFiles, ensembleOutputFiles, ensemblePaths, writeEnsemble } from "../io/files.js";
import { FLOW_HMC_DEFAULT_LEAPFROG, flowMetropolisWithHmc } from "../mcmc/flow-hmc-chain.js";
import {
  checkFiniteProposal,
  independenceMetropolis,
  type Proposals,
} from "../mcmc/independence-metropolis.js";
import { buildModel, modelSpecOf } from "../model/index.js";
import { createParallelSampler } from "../parallel/shard.js";

type ParallelSampler = ReturnType<typeof createParallelSampler>;

import { Rng } from "../rng/philox.js";
import { fmt, num, printJson, threadsArg } from "./args.js";
import { withOdeSteps } from "./config.js";
import { UsageError } from "./errors.js";
import { flowStateLogq, z2LogDensity } from "./flow-density.js";
import { loadWeights, readConfig } from "./run-dir.js";
import { sampleWarning } from "./sample-warnings.js";
import { commandSolverError, solverErrorValue, solverErrorWarning } from "./solver-check.js";
import { nodeSpawn, resolveThreads } from "./threads.js";

export interface SampleOptions {
  run: string;
  n: number;
  mh: boolean;
  seed: number;
  out: string;
  batch: number;
  /**
   * Symmetrise the proposal under φ → −φ: y = ±x (x ~ q, sign uniform), with density
   * q_sym(y) = ½[q(y) + q(−y)] (one extra inverse flow pass per proposal). Exact for any q;
   * lets MH tunnel between the wells of the broken phase even when the flow covers only one.
   */
  z2?: boolean;
  /**
   * Threads of the flow passes that draw the proposals (default 1). The ensemble does not
   * depend on it: each chunk of `batch` proposals takes its prior draws from the proposal
   * stream exactly as on one thread, and each sample's forward pass is the same computation
   * whatever thread runs it.
   */
  threads?: number;
  /** Replace an existing ensemble at `out` (and remove its stale companions); otherwise refused. */
  force?: boolean;
  /**
   * K ≥ 1 HMC trajectories of the chain's state after every flow-MH step (needs `mh`); absent:
   * pure flow MH.
   */
  localHmc?: number;
  /** Leapfrog steps per local HMC trajectory (default 10). */
  hmcLeapfrog?: number;
  /** A fixed step size of the local HMC; absent: tuned to acceptance 0.8 before the chain. */
  hmcEps?: number;
  /** A continuous flow's RK4 steps, in place of the run's (src/cli/config.ts withOdeSteps). */
  odeSteps?: number;
}

/** The local HMC of a flow-MH chain (`--local-hmc`), as the sidecar records it. */
export interface LocalHmcRecord {
  trajectories: number;
  leapfrog: number;
  eps: number;
  /** True when ε was tuned by a warm-up (then `warmup` trajectories), false when given. */
  epsTuned: boolean;
  warmup: number;
  /** Mean acceptance probability of the recorded chain's trajectories. */
  acceptance: number;
}

export interface SampleSummary {
  n: number;
  /** Flow-MH acceptance (of the flow proposals), null for direct samples. */
  acceptance: number | null;
  /** The local HMC (`--local-hmc`), or null. */
  localHmc: LocalHmcRecord | null;
  ess: number;
  out: string;
  seconds: number;
  /** Why the numbers deserve suspicion (src/cli/sample-warnings.ts), or null. */
  warning: string | null;
  /**
   * ODE flows: max |log q_N − log q_2N| on 64 draws of their own stream (src/cli/solver-check.ts;
   * null: not finite), warned about on stderr above SOLVER_ERROR_WARN; absent for other flows.
   */
  solverError?: number | null;
}

/**
 * m draws of the flow and their log q, as float64 proposals: on `parallel`'s threads if given
 * (the same draws), and φ → −φ symmetrised with the signs of `signRng` if given.
 */
export function flowProposer(
  flow: Flow,
  params: Params,
  dtype: DType,
  rng: Rng,
  parallel: ParallelSampler | null,
  signRng: Rng | null,
): (m: number) => Proposals {
  return (m) => {
    const { x, logq } = parallel ? parallel.sample(params, rng, m) : flow.sample(params, rng, m, dtype);
    return signRng
      ? z2Symmetrise(flow, params, x, logq, signRng)
      : { x: Float64Array.from(x.data), logq: Float64Array.from(logq.data) };
  };
}

/**
 * The φ → −φ symmetrised proposal from flow draws x ~ q: y = ±x with a uniform sign, and
 * log q_sym(y) = log ½[q(x) + q(−x)] (the same for both signs; one inverse flow pass for q(−x)).
 */
export function z2Symmetrise(flow: Flow, params: Params, x: Tensor, logq: Tensor, signRng: Rng): Proposals {
  const m = logq.data.length;
  const v = x.data.length / m;
  const xs = Float64Array.from(x.data);
  const lq = Float64Array.from(logq.data);
  const neg = new Tensor(
    x.data.map((a) => -a),
    x.shape,
  );
  const lqNeg = flow.logProb(params, neg).data;
  for (let j = 0; j < m; j++) {
    lq[j] = z2LogDensity(lq[j]!, lqNeg[j]!);
    if (signRng.uniform() < 0.5) for (let i = j * v; i < (j + 1) * v; i++) xs[i] = -xs[i]!;
  }
  return { x: xs, logq: lq };
}

export function runSampling(opts: SampleOptions): SampleSummary {
  if (!Number.isInteger(opts.n) || opts.n < 1)
    throw new UsageError(`--n must be a positive integer, got ${opts.n}`);
  if (!Number.isInteger(opts.batch) || opts.batch < 1)
    throw new UsageError(`--batch must be a positive integer (proposals per flow pass), got ${opts.batch}`);
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1)
    throw new UsageError(`--threads must be a positive integer or 'auto', got ${threads}`);
  if (!opts.out.endsWith(".npy")) throw new UsageError(`--out must name a .npy file, got '${opts.out}'`);
  const localHmc = opts.localHmc;
  if (localHmc !== undefined) {
    if (!opts.mh)
      throw new UsageError(
        "--local-hmc interleaves HMC with the flow-MH chain: add --mh (or drop --local-hmc)",
      );
    if (!Number.isInteger(localHmc) || localHmc < 1)
      throw new UsageError(`--local-hmc must be an integer ≥ 1 (trajectories per step), got ${localHmc}`);
  }
  const hmcLeapfrog = opts.hmcLeapfrog ?? FLOW_HMC_DEFAULT_LEAPFROG;
  if (!Number.isInteger(hmcLeapfrog) || hmcLeapfrog < 1)
    throw new UsageError(`--hmc-leapfrog must be an integer ≥ 1, got ${hmcLeapfrog}`);
  if (opts.hmcEps !== undefined && !(opts.hmcEps > 0))
    throw new UsageError(`--hmc-eps must be > 0, got ${opts.hmcEps}`);
  if (localHmc === undefined && (opts.hmcLeapfrog !== undefined || opts.hmcEps !== undefined))
    throw new UsageError("--hmc-leapfrog and --hmc-eps set the local HMC: add --mh --local-hmc <k>");
  const config = withOdeSteps(readConfig(opts.run), opts.odeSteps, opts.run);
  const { theory, flow } = buildModel(config);
  const dtype = config.train.dtype;
  const { params, step } = loadWeights(opts.run, flow.initParams(new Rng(config.train.seed), dtype));
  // Before the work: the ensemble and its companions can be written, and do not exist unless --force.
  checkOutputFiles(ensembleOutputFiles(opts.out), { force: opts.force });
  const solver = commandSolverError(flow, params, opts.seed);
  const solverWarning = solverErrorWarning(solver, "the ensemble");
  if (solverWarning !== null) process.stderr.write(`latticeflow: warning: ${solverWarning}\n`);
  const rng = new Rng(opts.seed);
  const proposalRng = rng.split(1);
  const acceptRng = rng.split(2);
  const signRng = rng.split(3);
  // threads > 1: the same prior draws per chunk as flow.sample makes, pushed through the flow on
  // all threads (src/parallel/shard.ts).
  const parallel =
    threads > 1 ? createParallelSampler({ spec: modelSpecOf(config), threads, spawn: nodeSpawn }) : null;
  try {
    const propose = flowProposer(flow, params, dtype, proposalRng, parallel, opts.z2 ? signRng : null);
    const t0 = performance.now();
    const shape = [opts.n, ...theory.configShape];
    let acceptance: number | null = null;
    let logw: Float64Array;
    let configs: Float64Array;
    let accepted: Float64Array | undefined;
    let localHmcRecord: LocalHmcRecord | null = null;
    if (opts.mh && localHmc !== undefined) {
      // Refuses a non-finite log q or −S of a proposal or of a state after HMC. The states' log q
      // is taken here on the main thread (one flow pass per step where HMC moved the state).
      const stateLogq = flowStateLogq(flow, params, theory.configShape, dtype, opts.z2 === true);
      const hmcOpts = { n: opts.n, batch: opts.batch, hmcTrajectories: localHmc, nLeapfrog: hmcLeapfrog };
      const r = flowMetropolisWithHmc(
        theory,
        propose,
        stateLogq,
        opts.hmcEps === undefined ? hmcOpts : { ...hmcOpts, eps: opts.hmcEps },
        acceptRng,
      );
      acceptance = r.acceptance;
      logw = r.proposalLogWeights;
      configs = r.configs;
      accepted = Float64Array.from(r.accepted);
      localHmcRecord = {
        trajectories: localHmc,
        leapfrog: hmcLeapfrog,
        eps: r.eps,
        epsTuned: opts.hmcEps === undefined,
        warmup: r.warmup,
        acceptance: r.hmcAcceptance,
      };
    } else if (opts.mh) {
      // Refuses a non-finite log q or −S (a diverged flow) before anything is written.
      const r = independenceMetropolis(theory, propose, { n: opts.n, batch: opts.batch }, acceptRng);
      acceptance = r.acceptance;
      logw = r.proposalLogWeights;
      configs = r.configs;
      accepted = Float64Array.from(r.accepted);
    } else {
      configs = new Float64Array(opts.n * theory.size);
      logw = new Float64Array(opts.n);
      for (let start = 0; start < opts.n; start += opts.batch) {
        const m = Math.min(opts.batch, opts.n - start);
        const p = propose(m);
        const s = theory.action(p.x, m);
        configs.set(p.x, start * theory.size);
        for (let j = 0; j < m; j++) {
          // No NaN ensemble is ever written: a diverged flow is one line, exit 1.
          checkFiniteProposal(start + j, p.logq[j]!, -s[j]!, "sample");
          logw[start + j] = -s[j]! - p.logq[j]!;
        }
      }
    }
    const ess = essFromLogWeights(logw);
    const seconds = (performance.now() - t0) / 1000;
    const paths = ensemblePaths(opts.out);
    const sidecar = {
      sampler: opts.mh ? "flow-mh" : "flow",
      run: opts.run,
      checkpointStep: step,
      theory: config.theory,
      flow: config.flow,
      n: opts.n,
      seed: opts.seed,
      z2: opts.z2 === true,
      /** Of the flow proposals (with localHmc too: HMC moves are not counted here). */
      acceptance,
      /** The HMC trajectories interleaved with flow MH (`--local-hmc`), or null. */
      localHmc: localHmcRecord,
      /**
       * MH accept flags of the flow proposals (float64 0/1 [N]), next to the ensemble; null for
       * direct samples. With localHmc a rejected proposal need not repeat the configuration.
       */
      acceptedFile: opts.mh ? basename(paths.accepted) : null,
      /** Log weights −S − log q (float64 [N]) of direct samples; null for MH chains. */
      logwFile: opts.mh ? null : basename(paths.logw),
      ess,
      seconds,
      threads,
    };
    // The .npy, its companion and the sidecar (with their sha256) together; a stale companion
    // of an earlier ensemble at this path (e.g. .accepted.npy beside raw samples) is removed.
    writeEnsemble(opts.out, {
      data: configs,
      shape,
      companions: opts.mh ? { accepted } : { logw },
      sidecar,
    });
    return {
      n: opts.n,
      acceptance,
      localHmc: localHmcRecord,
      ess,
      out: opts.out,
      seconds,
      warning: sampleWarning(ess, opts.mh, localHmcRecord === null ? acceptance : null),
      ...(solver === null ? {} : { solverError: solverErrorValue(solver) }),
    };
  } finally {
    parallel?.close();
  }
}

export function registerSampleCommand(program: Command): void {
  program
    .command("sample")
    .description("sample a trained flow (with --mh: exact, by independence Metropolis-Hastings)")
    .requiredOption("--run <dir>", "run directory with a checkpoint")
    .option("--n <n>", "number of configurations", num("--n"), 8192)
    .option("--mh", "accept/reject with Metropolis-Hastings (exact); otherwise raw flow samples", false)
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .option("--out <file>", "output .npy (default <run>/ensemble.npy)")
    .option("--batch <n>", "proposals per flow pass", num("--batch"), 1024)
    .option(
      "--z2",
      "symmetrise proposals under phi -> -phi (tunnels in the broken phase; one extra flow pass)",
      false,
    )
    .option(
      "--ode-steps <n>",
      "continuous flows: integrate with n RK4 steps instead of the run's (same weights; more steps, a more accurate log q)",
      num("--ode-steps"),
    )
    .option(
      "--threads <n>",
      "threads of the flow passes, or 'auto' (the cores); the ensemble is the same for any count",
      threadsArg("--threads"),
      1,
    )
    .option(
      "--local-hmc <k>",
      "with --mh: k HMC trajectories of the chain's state after every flow-MH step (exact; reaches what the flow misses)",
      num("--local-hmc"),
    )
    .option(
      "--hmc-leapfrog <n>",
      `leapfrog steps per local HMC trajectory (default ${FLOW_HMC_DEFAULT_LEAPFROG})`,
      num("--hmc-leapfrog"),
    )
    .option(
      "--hmc-eps <x>",
      "fixed step size of the local HMC (default: tuned to acceptance 0.8 before the chain, then frozen)",
      num("--hmc-eps"),
    )
    .option("--force", "replace an existing ensemble at --out (and its companion files)", false)
    .option("--json", "print one JSON summary as the last line", false)
    .action((o: Record<string, unknown>) => {
      const s = runSampling({
        run: o.run as string,
        n: o.n as number,
        mh: o.mh === true,
        seed: o.seed as number,
        out: (o.out as string | undefined) ?? `${o.run}/ensemble.npy`,
        batch: o.batch as number,
        z2: o.z2 === true,
        threads: resolveThreads(o.threads as number | "auto"),
        odeSteps: o.odeSteps as number | undefined,
        force: o.force === true,
        localHmc: o.localHmc as number | undefined,
        hmcLeapfrog: o.hmcLeapfrog as number | undefined,
        hmcEps: o.hmcEps as number | undefined,
      });
      if (s.warning !== null) process.stderr.write(`latticeflow: warning: ${s.warning}\n`);
      const h = s.localHmc;
      if (o.json)
        printJson({
          n: s.n,
          acceptance: s.acceptance,
          ...(h ? { hmc_acceptance: h.acceptance, hmc_eps: h.eps } : {}),
          ess: s.ess,
          out: s.out,
          warning: s.warning,
          ...(s.solverError === undefined ? {} : { solver_error: s.solverError }),
        });
      else {
        const hmc = h
          ? `local HMC ${h.trajectories}×${h.leapfrog} steps of ${fmt(h.eps)} (${h.epsTuned ? "tuned" : "given"}), acceptance ${fmt(h.acceptance)}, `
          : "";
        console.log(
          `${s.n} configurations → ${s.out} in ${s.seconds.toFixed(1)} s: ` +
            `${s.acceptance === null ? "" : `MH acceptance ${fmt(s.acceptance)}${h ? " (flow proposals)" : ""}, `}${hmc}proposal ESS ${fmt(s.ess)}`,
        );
      }
    });
}
