/**
 * One HMC trajectory for each of B independent chains at once (the batched form of
 * src/mcmc/hmc.ts): momenta π ~ N(0, 1) for every chain, leapfrog on the packed B·V array with
 * the theory's batched force, and a Metropolis test per chain with min(1, e^{−ΔH_b}).
 * Each chain is an exact HMC chain for e^{−S}; they share only ε and the trajectory length.
 *
 * Used where a flow's proposals need a local move beside them: flow MH alternated with HMC is
 * ergodic where the flow alone misses part of p (Gabrié, Rotskoff, Vanden-Eijnden, "Adaptive
 * Monte Carlo augmented with normalizing flows", arXiv 2105.12603).
 */
import * as math from "../math/index.js";
import type { Theory } from "../theories/theory.js";
import type { RandomSource } from "./random.js";

export interface HmcBatchWork {
  pi: Float64Array;
  force: Float64Array;
  start: Float64Array;
  before: Float64Array;
  after: Float64Array;
}

export function makeBatchWork(theory: Theory, batch: number): HmcBatchWork {
  const n = theory.size * batch;
  return {
    pi: new Float64Array(n),
    force: new Float64Array(n),
    start: new Float64Array(n),
    before: new Float64Array(batch),
    after: new Float64Array(batch),
  };
}

function kineticInto(pi: Float64Array, batch: number, v: number, h: Float64Array): void {
  for (let b = 0; b < batch; b++) {
    let k = 0;
    for (let i = b * v; i < (b + 1) * v; i++) k += pi[i]! * pi[i]!;
    h[b]! += 0.5 * k;
  }
}

/**
 * Advance the `batch` configurations packed in `phi` by one HMC trajectory each (`nSteps`
 * leapfrog steps of size `eps`), in place; a rejected chain keeps its configuration. Returns
 * each chain's acceptance probability min(1, e^{−ΔH}) (0 where ΔH is not finite).
 */
export function hmcBatchTrajectory(
  theory: Theory,
  phi: Float64Array,
  batch: number,
  eps: number,
  nSteps: number,
  rng: RandomSource,
  work: HmcBatchWork = makeBatchWork(theory, batch),
): Float64Array {
  const v = theory.size;
  const n = v * batch;
  if (phi.length !== n)
    throw new RangeError(`hmcBatchTrajectory: phi has ${phi.length} numbers, not ${batch}·${v}`);
  const { pi, start } = work;
  rng.normal(pi);
  start.set(phi);
  // The theory's return values, not the scratch: `out` is a hint a Theory may ignore.
  const before = theory.action(phi, batch, work.before);
  kineticInto(pi, batch, v, before);
  let force = theory.force(phi, batch, work.force);
  for (let i = 0; i < n; i++) pi[i]! += 0.5 * eps * force[i]!;
  for (let s = 0; s < nSteps; s++) {
    for (let i = 0; i < n; i++) phi[i]! += eps * pi[i]!;
    force = theory.force(phi, batch, work.force);
    const h = s === nSteps - 1 ? 0.5 * eps : eps;
    for (let i = 0; i < n; i++) pi[i]! += h * force[i]!;
  }
  const after = theory.action(phi, batch, work.after);
  kineticInto(pi, batch, v, after);
  const prob = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    const dH = after[b]! - before[b]!;
    prob[b] = Number.isFinite(dH) ? Math.min(1, math.exp(-dH)) : 0;
    // One uniform per chain, always drawn, so the stream does not depend on ΔH.
    const u = rng.uniform();
    if (!(u < prob[b]!)) phi.set(start.subarray(b * v, (b + 1) * v), b * v);
  }
  return prob;
}
