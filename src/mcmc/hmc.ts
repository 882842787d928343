/**
 * Hybrid (Hamiltonian) Monte Carlo for any `Theory`: Duane, Kennedy, Pendleton, Roweth,
 * "Hybrid Monte Carlo", Phys. Lett. B195 (1987) 216.
 *
 * H(φ, π) = S(φ) + ½ Σ π², π ~ N(0, 1) refreshed each trajectory; dφ/dt = π, dπ/dt = F = −∂S/∂φ.
 * A reversible, volume-preserving integrator proposes (φ', −π'), accepted with probability
 * min(1, e^{−ΔH}), which leaves e^{−S} exactly invariant whatever the step size.
 *
 * Integrators (ε = step size, n steps) are values of type `Integrator`:
 * - `leapfrog`:  π += ε/2·F; φ += ε·π; π += ε/2·F  (n + 1 force evaluations, halves merged);
 * - `omelyan` (2MN, the second-order minimum-norm scheme of Omelyan, Mryglod, Folk,
 *   Comput. Phys. Commun. 151 (2003) 272; for HMC see Takaishi & de Forcrand, hep-lat/0505020):
 *   π += λε·F; φ += ε/2·π; π += (1 − 2λ)ε·F; φ += ε/2·π; π += λε·F with λ ≈ 0.1932
 *   (2n + 1 force evaluations; a smaller error constant, typically ~1.6× larger ε at equal
 *   acceptance, e.g. 0.20 vs 0.125 for the notebook couplings on 8×8 at 80%).
 * Both are second order: |ΔH| = O(ε²) at fixed trajectory length.
 *
 * Step size: during thermalisation only, a Robbins–Monro rule in log ε drives the mean of
 * min(1, e^{−ΔH}) to `targetAcceptance`; then ε is frozen so that production is an exact,
 * time-homogeneous Markov chain (adapting during production would break detailed balance).
 *
 * Trajectory length: with a fixed length τ a mode of frequency ω with ω·τ ≈ kπ returns to ±itself
 * and never decorrelates (Mackenzie, Phys. Lett. B226 (1989) 369). `jitter` j draws each
 * trajectory's step count uniformly from nLeapfrog − K … nLeapfrog + K, K = ⌊j·nLeapfrog⌋, at
 * fixed ε, from the chain's own random stream. Each fixed count is a valid HMC update and the
 * count does not depend on the state, so the mixture leaves e^{−S} invariant too.
 */

import * as math from "../math/index.js";
import type { Theory } from "../theories/theory.js";
import type { RandomSource } from "./random.js";

/**
 * A reversible, volume-preserving integrator: advance (φ, π) in place by `nSteps` ≥ 0 steps of
 * size `eps`, so that integrating again after π → −π returns to the start (up to rounding).
 * `force` is scratch of length V (allocated if omitted).
 */
export type Integrator = (
  theory: Theory,
  phi: Float64Array,
  pi: Float64Array,
  eps: number,
  nSteps: number,
  force?: Float64Array,
) => void;

/** Omelyan 2MN parameter minimising the leading error norm. */
export const OMELYAN_LAMBDA = 0.1931833275037836;

export interface HmcProgress {
  phase: "therm" | "prod";
  /** Trajectories completed in this phase. */
  done: number;
  total: number;
  /** Acceptance rate so far in this phase. */
  acceptance: number;
  stepSize: number;
}

export interface HmcOptions {
  /** Thermalisation trajectories (discarded; step size adapted here). */
  nTherm: number;
  /** Production trajectories; one configuration is stored after each. */
  n: number;
  /** Integration steps per trajectory (fixed; the trajectory length follows ε). */
  nLeapfrog: number;
  /** Initial trajectory length; initial ε = trajectoryLength / nLeapfrog. */
  trajectoryLength: number;
  /** Target mean acceptance probability for adaptation; omit to keep ε fixed. */
  targetAcceptance?: number;
  /** Default `leapfrog`. */
  integrator?: Integrator;
  /**
   * Step-count jitter j ∈ [0, 1), default 0 (every trajectory takes nLeapfrog steps). Otherwise
   * each trajectory, thermalisation included, takes nLeapfrog + k steps of the current ε, k drawn
   * uniformly from −K … K, K = ⌊j·nLeapfrog⌋ ≥ 1 (`jitterHalfWidth`), using one `rng.uniform()`
   * before its momenta: the length is uniform over the whole-step lengths in
   * [(1 − j)τ, (1 + j)τ], τ = nLeapfrog·ε, with mean τ. With j = 0 no extra number is drawn.
   */
  jitter?: number;
  /** Starting configuration (length V); default φ = 0. Not modified. */
  initial?: Float64Array;
  onProgress?: (p: HmcProgress) => void;
}

export interface HmcResult {
  /** n·V production configurations, row-major. */
  configs: Float64Array;
  /** Fraction of production proposals accepted. */
  acceptance: number;
  /** Step size used in production. */
  stepSize: number;
  /** ΔH = H(end) − H(start) of each production trajectory. */
  deltaH: Float64Array;
  seconds: number;
}

/** Scratch buffers for one configuration, reused across trajectories. */
export interface HmcWork {
  force: Float64Array;
  action: Float64Array;
}

export function makeWork(theory: Theory): HmcWork {
  return { force: new Float64Array(theory.size), action: new Float64Array(1) };
}

/** H = S(φ) + ½ Σ π² for one configuration. */
export function hamiltonian(theory: Theory, phi: Float64Array, pi: Float64Array, work?: HmcWork): number {
  const w = work ?? makeWork(theory);
  let k = 0;
  for (let i = 0; i < pi.length; i++) k += pi[i]! * pi[i]!;
  return theory.action(phi, 1, w.action)[0]! + 0.5 * k;
}

function kick(theory: Theory, phi: Float64Array, pi: Float64Array, h: number, f: Float64Array): void {
  theory.force(phi, 1, f);
  for (let i = 0; i < pi.length; i++) pi[i]! += h * f[i]!;
}

function drift(phi: Float64Array, pi: Float64Array, h: number): void {
  for (let i = 0; i < phi.length; i++) phi[i]! += h * pi[i]!;
}

/** Leapfrog (velocity Verlet), with the half kicks of consecutive steps merged. */
export const leapfrog: Integrator = (theory, phi, pi, eps, nSteps, force) => {
  if (nSteps <= 0) return;
  const f = force ?? new Float64Array(theory.size);
  kick(theory, phi, pi, eps / 2, f);
  for (let s = 0; s < nSteps; s++) {
    drift(phi, pi, eps);
    kick(theory, phi, pi, s === nSteps - 1 ? eps / 2 : eps, f);
  }
};

/** Omelyan 2MN with λ = `OMELYAN_LAMBDA`, the closing and opening λε kicks of steps merged. */
export const omelyan: Integrator = (theory, phi, pi, eps, nSteps, force) => {
  if (nSteps <= 0) return;
  const f = force ?? new Float64Array(theory.size);
  const l = OMELYAN_LAMBDA;
  kick(theory, phi, pi, l * eps, f);
  for (let s = 0; s < nSteps; s++) {
    drift(phi, pi, eps / 2);
    kick(theory, phi, pi, (1 - 2 * l) * eps, f);
    drift(phi, pi, eps / 2);
    // The closing λε kick of this step merges with the opening one of the next.
    kick(theory, phi, pi, s === nSteps - 1 ? l * eps : 2 * l * eps, f);
  }
};

/**
 * Half-width K of the step-count jitter: trajectories take nLeapfrog − K … nLeapfrog + K steps,
 * K = ⌊jitter·nLeapfrog⌋ (the product rounded to 12 significant digits first, so that e.g.
 * 0.29·100 counts as 29). Throws unless 0 ≤ jitter < 1.
 */
export function jitterHalfWidth(jitter: number, nLeapfrog: number): number {
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`jitter must lie in [0, 1), got ${jitter}`);
  return Math.floor(Number((jitter * nLeapfrog).toPrecision(12)));
}

/**
 * Robbins–Monro step-size adaptation in log ε (a multiplicative rule with decaying gain):
 * log ε ← log ε + g_t·(a_t − target), g_t = (1 + t/10)^{−0.6}, a_t = min(1, e^{−ΔH}).
 * The frozen value is the mean of log ε over the second half of thermalisation, which
 * averages out the noise in a_t. (Dual averaging, Hoffman & Gelman 2014, converged too
 * slowly from a small initial ε in a few hundred trajectories: it remembers early steps.)
 * Also the warm-up of src/mcmc/flow-hmc-chain.ts.
 */
export class StepSizeAdapter {
  private t = 0;
  private sum = 0;
  private count = 0;
  logEps: number;
  constructor(
    eps0: number,
    private readonly target: number,
    private readonly total: number,
  ) {
    this.logEps = math.log(eps0);
  }
  update(acceptProb: number): void {
    this.logEps += (acceptProb - this.target) * math.pow(1 + this.t / 10, -0.6);
    this.t++;
    if (2 * this.t > this.total) {
      this.sum += this.logEps;
      this.count++;
    }
  }
  get final(): number {
    return math.exp(this.count > 0 ? this.sum / this.count : this.logEps);
  }
}

/** Run an HMC chain: `nTherm` discarded (adapting) trajectories, then `n` stored ones. */
export function hmcChain(theory: Theory, opts: HmcOptions, rng: RandomSource): HmcResult {
  const { nTherm, n, nLeapfrog, trajectoryLength, targetAcceptance, initial, onProgress } = opts;
  const integrator = opts.integrator ?? leapfrog;
  checkInt("nTherm", nTherm, 0);
  checkInt("n", n, 0);
  checkInt("nLeapfrog", nLeapfrog, 1);
  if (!(trajectoryLength > 0) || !Number.isFinite(trajectoryLength)) {
    throw new RangeError(`trajectoryLength must be finite and > 0, got ${trajectoryLength}`);
  }
  if (targetAcceptance !== undefined && !(targetAcceptance > 0 && targetAcceptance < 1)) {
    throw new RangeError(`targetAcceptance must lie in (0, 1), got ${targetAcceptance}`);
  }
  if (typeof integrator !== "function") {
    throw new TypeError(
      `integrator must be an Integrator such as leapfrog or omelyan, got ${String(integrator)}`,
    );
  }
  const jitter = opts.jitter ?? 0;
  const halfWidth = jitterHalfWidth(jitter, nLeapfrog);
  if (jitter > 0 && halfWidth === 0) {
    throw new RangeError(
      `jitter ${jitter} with nLeapfrog ${nLeapfrog} would never change the step count (needs jitter·nLeapfrog ≥ 1)`,
    );
  }
  const v = theory.size;
  if (initial !== undefined && initial.length !== v) {
    throw new RangeError(`initial has length ${initial.length}, expected ${v}`);
  }

  const t0 = performance.now();
  const work = makeWork(theory);
  const phi = initial ? Float64Array.from(initial) : new Float64Array(v);
  const phiNew = new Float64Array(v);
  const pi = new Float64Array(v);
  const configs = new Float64Array(n * v);
  const deltaH = new Float64Array(n);
  let eps = trajectoryLength / nLeapfrog;
  let sOld = theory.action(phi, 1, work.action)[0]!;

  /** One trajectory from `phi`; updates phi/sOld on acceptance. Returns [ΔH, accepted]. */
  const trajectory = (): [number, boolean] => {
    let nSteps = nLeapfrog;
    if (halfWidth > 0) {
      const k = Math.min(2 * halfWidth, Math.floor(rng.uniform() * (2 * halfWidth + 1)));
      nSteps += k - halfWidth;
    }
    rng.normal(pi);
    let k0 = 0;
    for (let i = 0; i < v; i++) k0 += pi[i]! * pi[i]!;
    phiNew.set(phi);
    integrator(theory, phiNew, pi, eps, nSteps, work.force);
    let k1 = 0;
    for (let i = 0; i < v; i++) k1 += pi[i]! * pi[i]!;
    const sNew = theory.action(phiNew, 1, work.action)[0]!;
    const dH = sNew - sOld + 0.5 * (k1 - k0);
    // Always draw u so the random stream does not depend on ΔH; NaN ΔH is rejected.
    const u = rng.uniform();
    const accept = dH <= 0 || u < math.exp(-dH);
    if (accept) {
      phi.set(phiNew);
      sOld = sNew;
    }
    return [dH, accept];
  };

  const adapt =
    targetAcceptance !== undefined ? new StepSizeAdapter(eps, targetAcceptance, nTherm) : undefined;
  let acc = 0;
  for (let i = 0; i < nTherm; i++) {
    const [dH, ok] = trajectory();
    if (ok) acc++;
    if (adapt) {
      adapt.update(Number.isNaN(dH) ? 0 : Math.min(1, math.exp(-dH)));
      eps = math.exp(adapt.logEps);
    }
    onProgress?.({ phase: "therm", done: i + 1, total: nTherm, acceptance: acc / (i + 1), stepSize: eps });
  }
  if (adapt && nTherm > 0) eps = adapt.final;

  acc = 0;
  for (let i = 0; i < n; i++) {
    const [dH, ok] = trajectory();
    if (ok) acc++;
    deltaH[i] = dH;
    configs.set(phi, i * v);
    onProgress?.({ phase: "prod", done: i + 1, total: n, acceptance: acc / (i + 1), stepSize: eps });
  }
  return {
    configs,
    acceptance: n > 0 ? acc / n : Number.NaN,
    stepSize: eps,
    deltaH,
    seconds: (performance.now() - t0) / 1000,
  };
}

function checkInt(name: string, x: number, min: number): void {
  if (!Number.isInteger(x) || x < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${x}`);
}
