/**
 * Flow independence Metropolis–Hastings interleaved with HMC (Gabrié, Rotskoff,
 * Vanden-Eijnden, arXiv 2105.12603): every step of the chain is
 *
 *   1. the independence-MH move of src/mcmc/independence-metropolis.ts: propose x' ~ q and
 *      accept with min(1, exp(log w' − log w)), log w = −S − log q;
 *   2. then K HMC trajectories of the state (src/mcmc/hmc-batch.ts, batch 1): momenta
 *      π ~ N(0, 1), `nLeapfrog` leapfrog steps of a fixed ε, accept with min(1, e^{−ΔH}).
 *
 * and the state after both is recorded. Each kernel leaves p ∝ e^{−S} invariant, so their
 * composition does, and the chain is exact for p whatever q is (q > 0 where p > 0). The HMC
 * moves reach what q misses (a well, the disordered configurations of the Ising relaxation)
 * and the flow proposals make the large jumps HMC cannot.
 *
 * After HMC has moved the state its log w = −S − log q is stale: log q of the new state is
 * taken again through `stateLogq` (the caller's flow, inverse pass; with a φ → −φ symmetrised
 * proposal it must be the same symmetrised log q_sym the proposals carry, or the MH ratio is
 * of two different densities). One call per step where the state changed, none when every
 * trajectory was rejected (the state, and so its weight, is then exactly the old one).
 *
 * ε is fixed while the chain is recorded: an adapting kernel is not p-invariant. Unless ε is
 * given it is tuned first by a warm-up of `warmup` trajectories from a copy of the first
 * proposal (Robbins–Monro in log ε towards acceptance 0.8, `StepSizeAdapter` of hmc.ts, frozen
 * at the mean of log ε over the warm-up's second half); the warm-up states are discarded and
 * the recorded chain starts from the first proposal, as flow MH does.
 *
 * The accept flags and acceptance describe the flow proposals only: after a rejected
 * proposal the state still moves by HMC, so a rejection no longer repeats a configuration.
 * Plain typed-array code: the proposals and log q arrive as callbacks, so this never sees the flow.
 */

import * as math from "../math/index.js";
import type { Theory } from "../theories/theory.js";
import { StepSizeAdapter } from "./hmc.js";
import { hmcBatchTrajectory, makeBatchWork } from "./hmc-batch.js";
import {
  checkFiniteProposal,
  type IndependenceMetropolisResult,
  type Proposals,
} from "./independence-metropolis.js";
import type { RandomSource } from "./random.js";

/** Acceptance the warm-up tunes ε towards. */
export const FLOW_HMC_TARGET_ACCEPTANCE = 0.8;
/** Trajectory length 1 initially: 10 leapfrog steps of ε = 0.1 (as the mixed objective's chains). */
export const FLOW_HMC_DEFAULT_LEAPFROG = 10;
export const FLOW_HMC_INITIAL_EPS = 0.1;
/** Warm-up trajectories when ε is tuned. */
export const FLOW_HMC_DEFAULT_WARMUP = 500;

export interface FlowHmcOptions {
  /** Chain length (recorded steps). */
  n: number;
  /** Proposals drawn per call of `propose`. */
  batch: number;
  /** K ≥ 1: HMC trajectories after every flow-MH step. */
  hmcTrajectories: number;
  /** Leapfrog steps per trajectory (default 10). */
  nLeapfrog?: number;
  /** A fixed step size (no tuning); absent: tuned by the warm-up. */
  eps?: number;
  /** Warm-up trajectories when ε is tuned (default 500). */
  warmup?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface FlowHmcResult extends IndependenceMetropolisResult {
  /** Mean acceptance probability min(1, e^{−ΔH}) of the recorded chain's n·K trajectories. */
  hmcAcceptance: number;
  /** The step size of every recorded trajectory (given or tuned). */
  eps: number;
  /** Warm-up trajectories run to tune ε (0 when ε was given). */
  warmup: number;
}

function checkInt(name: string, x: number, min: number): void {
  if (!Number.isInteger(x) || x < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${x}`);
}

function equal(a: Float64Array, b: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** ε tuned by `warmup` trajectories from `start` (a copy: the warm-up states are discarded). */
function tuneEps(
  theory: Theory,
  start: Float64Array,
  nLeapfrog: number,
  warmup: number,
  rng: RandomSource,
): number {
  const phi = Float64Array.from(start);
  const work = makeBatchWork(theory, 1);
  const adapt = new StepSizeAdapter(FLOW_HMC_INITIAL_EPS, FLOW_HMC_TARGET_ACCEPTANCE, warmup);
  for (let t = 0; t < warmup; t++) {
    const p = hmcBatchTrajectory(theory, phi, 1, math.exp(adapt.logEps), nLeapfrog, rng, work);
    adapt.update(p[0]!);
  }
  return adapt.final;
}

/**
 * The chain of `opts.n` steps: flow-MH (proposals from `propose`, `batch` at a time) then
 * `hmcTrajectories` HMC trajectories per step. `stateLogq(x)` is log q of one configuration
 * (V numbers) under the density the proposals carry. Throws `NonFiniteProposalError` for a
 * proposal, or a state after HMC, whose log q or −S is not finite.
 */
export function flowMetropolisWithHmc(
  theory: Theory,
  propose: (m: number) => Proposals,
  stateLogq: (x: Float64Array) => number,
  opts: FlowHmcOptions,
  rng: RandomSource,
): FlowHmcResult {
  const { n, batch, hmcTrajectories: k } = opts;
  const nLeapfrog = opts.nLeapfrog ?? FLOW_HMC_DEFAULT_LEAPFROG;
  const warmup = opts.eps === undefined ? (opts.warmup ?? FLOW_HMC_DEFAULT_WARMUP) : 0;
  checkInt("chain length n", n, 1);
  checkInt("proposals per batch", batch, 1);
  checkInt("hmcTrajectories", k, 1);
  checkInt("nLeapfrog", nLeapfrog, 1);
  if (opts.eps !== undefined && !(Number.isFinite(opts.eps) && opts.eps > 0))
    throw new RangeError(`eps must be finite and > 0, got ${opts.eps}`);
  if (opts.eps === undefined) checkInt("warmup", warmup, 1);
  const v = theory.size;
  const configs = new Float64Array(n * v);
  const accepted = new Uint8Array(n);
  const proposalLogWeights = new Float64Array(n);
  const action = new Float64Array(n);
  const state = new Float64Array(v);
  const before = new Float64Array(v);
  const work = makeBatchWork(theory, 1);
  let eps = opts.eps ?? Number.NaN;
  let stateLogW = Number.NaN;
  let stateS = Number.NaN;
  let nAcc = 0;
  let hmcAcc = 0;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const prop = propose(m);
    if (prop.x.length !== m * v || prop.logq.length !== m) {
      throw new RangeError(
        `asked for ${m} proposals of ${v} sites, got ${prop.x.length} numbers and ${prop.logq.length} log q`,
      );
    }
    const s = theory.action(prop.x, m);
    for (let j = 0; j < m; j++) {
      const i = start + j;
      checkFiniteProposal(i, prop.logq[j]!, -s[j]!);
      const logw = -s[j]! - prop.logq[j]!;
      proposalLogWeights[i] = logw;
      const x = prop.x.subarray(j * v, (j + 1) * v);
      // Tuned before anything is recorded, from the first proposal (once checked finite).
      if (i === 0 && opts.eps === undefined) eps = tuneEps(theory, x, nLeapfrog, warmup, rng);
      if (i === 0 || math.log(rng.uniform()) < logw - stateLogW) {
        state.set(x);
        stateLogW = logw;
        stateS = s[j]!;
        accepted[i] = 1;
        nAcc++;
      }
      before.set(state);
      for (let t = 0; t < k; t++)
        hmcAcc += hmcBatchTrajectory(theory, state, 1, eps, nLeapfrog, rng, work)[0]!;
      // A rejected trajectory restores the state exactly, so "unchanged" means every one was.
      if (!equal(state, before)) {
        stateS = theory.action(state, 1)[0]!;
        const lq = stateLogq(state);
        checkFiniteProposal(i, lq, -stateS, "chain state after the HMC trajectories of step");
        stateLogW = -stateS - lq;
      }
      configs.set(state, i * v);
      action[i] = stateS;
    }
    opts.onProgress?.(start + m, n);
  }
  // The first element is accepted by construction; the rate counts the n − 1 real decisions.
  const acceptance = n > 1 ? (nAcc - 1) / (n - 1) : 1;
  return {
    configs,
    accepted,
    acceptance,
    proposalLogWeights,
    action,
    hmcAcceptance: hmcAcc / (n * k),
    eps,
    warmup,
  };
}
