/**
 * Independence Metropolis–Hastings with a normalizing flow as the proposal
 * (arXiv 1904.12072, §III.C): propose x' ~ q independently of the current x and accept with
 *   A(x → x') = min(1, [p̃(x') q(x)] / [p̃(x) q(x')]) = min(1, exp(log w' − log w)),
 * log w = −S(x) − log q(x). The chain is exact for p whatever q is (q > 0 where p > 0).
 * Plain typed-array code: the proposal arrives as a callback, so this never sees the flow.
 *
 * A proposal whose log q or log p̃ = −S is not finite (NaN, ±∞) is refused with a
 * {@link NonFiniteProposalError} naming it, not treated as a rejection: a normalizing flow gives
 * every sample it draws a finite density, so a non-finite one means the flow has diverged (or a
 * configuration overflowed), and a chain built around it would be silently wrong.
 */

import * as math from "../math/index.js";
import type { Theory } from "../theories/theory.js";
import type { RandomSource } from "./random.js";

/** A batch of proposals: n configurations (n·V numbers) and their log q. */
export interface Proposals {
  x: Float64Array;
  logq: Float64Array;
}

export interface IndependenceMetropolisResult {
  /** The chain, n·V numbers. */
  configs: Float64Array;
  /** Per step: 1 if the proposal was accepted (step 0 starts the chain and counts as accepted). */
  accepted: Uint8Array;
  acceptance: number;
  /** log w = −S − log q of every proposal, in proposal order (for ESS and reweighting). */
  proposalLogWeights: Float64Array;
  /** Action of each chain element. */
  action: Float64Array;
}

/**
 * A proposal (a flow sample) with a non-finite log q or log p̃ = −S: the sign of a diverged flow.
 * `index` counts proposals from 0 in the order they were drawn.
 */
export class NonFiniteProposalError extends Error {
  override name = "NonFiniteProposalError";
  constructor(
    readonly index: number,
    readonly logq: number,
    readonly logp: number,
    what = "proposal",
  ) {
    const bad = [
      Number.isFinite(logq) ? null : `log q = ${logq}`,
      Number.isFinite(logp) ? null : `log p̃ = −S = ${logp}`,
    ].filter((x) => x !== null);
    super(
      `${what} ${index} (counting from 0) has ${bad.join(" and ")}: the flow has most likely diverged ` +
        "(non-finite weights, or samples that overflow); retrain it, e.g. with a smaller --lr or with --clip-norm",
    );
  }
}

/** Throws {@link NonFiniteProposalError} unless log q and log p̃ = −S are both finite. */
export function checkFiniteProposal(index: number, logq: number, logp: number, what = "proposal"): void {
  if (!Number.isFinite(logq) || !Number.isFinite(logp))
    throw new NonFiniteProposalError(index, logq, logp, what);
}

export interface IndependenceMetropolisOptions {
  n: number;
  /** Proposals drawn per call of `propose`. */
  batch: number;
  onProgress?: (done: number, total: number) => void;
}

export function independenceMetropolis(
  theory: Theory,
  propose: (n: number) => Proposals,
  opts: IndependenceMetropolisOptions,
  rng: RandomSource,
): IndependenceMetropolisResult {
  const { n, batch } = opts;
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`chain length must be a positive integer, got ${n}`);
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`proposals per batch must be a positive integer, got ${batch}`);
  const v = theory.size;
  const configs = new Float64Array(n * v);
  const accepted = new Uint8Array(n);
  const proposalLogWeights = new Float64Array(n);
  const action = new Float64Array(n);
  let current = -1;
  let currentLogW = Number.NaN;
  let currentS = Number.NaN;
  let nAcc = 0;
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
      const take = current < 0 || math.log(rng.uniform()) < logw - currentLogW;
      if (take) {
        configs.set(prop.x.subarray(j * v, (j + 1) * v), i * v);
        current = i;
        currentLogW = logw;
        currentS = s[j]!;
        accepted[i] = 1;
        nAcc++;
      } else {
        configs.copyWithin(i * v, current * v, (current + 1) * v);
        current = i;
      }
      action[i] = currentS;
    }
    opts.onProgress?.(start + m, n);
  }
  // The first element is accepted by construction; the rate counts the n − 1 real decisions.
  const acceptance = n > 1 ? (nAcc - 1) / (n - 1) : 1;
  return { configs, accepted, acceptance, proposalLogWeights, action };
}
