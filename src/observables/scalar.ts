/**
 * Observables of a real scalar field over a batch of n configurations stored as one flat
 * row-major array of n·V values (V = number of sites). Per-configuration functions return one
 * number per configuration so that averages, errors (binning, jackknife) and reweighting can
 * be done afterwards. Definitions (docs/physics.md):
 *
 *   M = Σ_x φ(x),  |M|/V,  ⟨φ²⟩_x = (1/V)Σ_x φ²,  ⟨φ⁴⟩_x = (1/V)Σ_x φ⁴,
 *   χ₂ = ⟨M²⟩/V (Z₂-symmetric estimator of Σ_x G_c(x), arXiv:2101.08176),
 *   S(t) = Σ_{x: x₀ = t} φ(x)  (time = dimension 0),
 *   C(t) = (1/V) Σ_{t₀} ⟨S(t₀) S(t₀+t)⟩ − ⟨M⟩²/(V·T)  (connected; Σ_t C(t) = (⟨M²⟩ − ⟨M⟩²)/V),
 *   m_eff(t) = arccosh[(C(t+1) + C(t−1)) / (2C(t))],  U = 1 − ⟨M⁴⟩/(3⟨M²⟩²).
 */

import * as math from "../math/index.js";
import { latticeVolume } from "../theories/lattice.js";
import type { FloatArray, Theory } from "../theories/theory.js";

/** Number of configurations in `configs`, checking it is a whole number. */
function count(configs: FloatArray, v: number): number {
  const n = configs.length / v;
  if (!Number.isInteger(n)) {
    throw new RangeError(`configs has ${configs.length} values, not a multiple of V = ${v}`);
  }
  return n;
}

/** Per-configuration site sums of φᵏ (k = 1, 2 or 4), optionally transformed. */
function perConfig(
  configs: FloatArray,
  latticeShape: readonly number[],
  site: (p: number) => number,
  finish: (sum: number, v: number) => number,
): Float64Array {
  const v = latticeVolume(latticeShape);
  const n = count(configs, v);
  const out = new Float64Array(n);
  for (let b = 0; b < n; b++) {
    let s = 0;
    const o = b * v;
    for (let x = 0; x < v; x++) s += site(configs[o + x]!);
    out[b] = finish(s, v);
  }
  return out;
}

/** M = Σ_x φ(x) per configuration. */
export function magnetization(configs: FloatArray, latticeShape: readonly number[]): Float64Array {
  return perConfig(
    configs,
    latticeShape,
    (p) => p,
    (s) => s,
  );
}

/** |M|/V per configuration. */
export function absMagnetizationDensity(configs: FloatArray, latticeShape: readonly number[]): Float64Array {
  return perConfig(
    configs,
    latticeShape,
    (p) => p,
    (s, v) => Math.abs(s) / v,
  );
}

/** (1/V) Σ_x φ(x)² per configuration. */
export function sitePhi2(configs: FloatArray, latticeShape: readonly number[]): Float64Array {
  return perConfig(
    configs,
    latticeShape,
    (p) => p * p,
    (s, v) => s / v,
  );
}

/** (1/V) Σ_x φ(x)⁴ per configuration. */
export function sitePhi4(configs: FloatArray, latticeShape: readonly number[]): Float64Array {
  return perConfig(
    configs,
    latticeShape,
    (p) => p * p * p * p,
    (s, v) => s / v,
  );
}

/** M²/V per configuration: its mean is χ₂ = ⟨M²⟩/V. Subtract V·⟨M/V⟩² for the connected form. */
export function chi2(configs: FloatArray, latticeShape: readonly number[]): Float64Array {
  const m = magnetization(configs, latticeShape);
  const v = latticeVolume(latticeShape);
  for (let b = 0; b < m.length; b++) m[b] = (m[b]! * m[b]!) / v;
  return m;
}

/** S(φ)/V per configuration, with V the number of sites of `theory.latticeShape`. */
export function actionDensity(configs: FloatArray, theory: Theory): Float64Array {
  const n = count(configs, theory.size);
  const s = theory.action(configs, n);
  const v = latticeVolume(theory.latticeShape);
  for (let b = 0; b < n; b++) s[b] = s[b]! / v;
  return s;
}

/** Binder cumulant U = 1 − ⟨M⁴⟩/(3⟨M²⟩²) from the means of M² and M⁴ (0 for Gaussian M, 2/3 for ±m). */
export function binderCumulant(meanM2: number, meanM4: number): number {
  return 1 - meanM4 / (3 * meanM2 * meanM2);
}

/** Time-slice sums S_b(t) = Σ_{x: x₀ = t} φ_b(x), laid out n·T (T = latticeShape[0]). */
export function timeSliceSums(configs: FloatArray, latticeShape: readonly number[]): Float64Array {
  const v = latticeVolume(latticeShape);
  const n = count(configs, v);
  const t = latticeShape[0]!;
  const vs = v / t; // row-major: slice t is the contiguous block [t·vs, (t+1)·vs)
  const out = new Float64Array(n * t);
  for (let b = 0; b < n; b++) {
    for (let s = 0; s < t; s++) {
      let acc = 0;
      const o = b * v + s * vs;
      for (let x = 0; x < vs; x++) acc += configs[o + x]!;
      out[b * t + s] = acc;
    }
  }
  return out;
}

/**
 * Connected zero-momentum correlator from `timeSliceSums` output (n configurations, T slices,
 * V sites), with ⟨·⟩ the mean over configurations and M = Σ_t S(t):
 *   C(t) = (1/V) Σ_{t₀} ⟨S(t₀) S(t₀+t mod T)⟩ − ⟨M⟩²/(V·T),   t = 0..T−1.
 * The subtraction is (1/V) Σ_{t₀} ⟨S(t₀)⟩⟨S(t₀+t)⟩ with the translation-invariant ⟨S⟩ = ⟨M⟩/T,
 * so C(t) = Σ_{x⃗} G_c(t, x⃗) and Σ_t C(t) = (⟨M²⟩ − ⟨M⟩²)/V.
 */
export function correlatorFromSliceSums(
  sliceSums: Float64Array,
  n: number,
  T: number,
  V: number,
): Float64Array {
  if (sliceSums.length !== n * T)
    throw new RangeError(`sliceSums has ${sliceSums.length} values, need n·T = ${n * T}`);
  if (!(n > 0)) throw new RangeError("correlatorFromSliceSums needs at least one configuration");
  const c = new Float64Array(T);
  let mSum = 0;
  for (let b = 0; b < n; b++) {
    const o = b * T;
    for (let t0 = 0; t0 < T; t0++) {
      const s0 = sliceSums[o + t0]!;
      mSum += s0;
      for (let t = 0; t < T; t++) c[t]! += s0 * sliceSums[o + ((t0 + t) % T)]!;
    }
  }
  const mMean = mSum / n;
  for (let t = 0; t < T; t++) c[t] = c[t]! / (n * V) - (mMean * mMean) / (V * T);
  return c;
}

/**
 * m_eff(t) = arccosh[(C(t+1) + C(t−1)) / (2C(t))] with periodic neighbours (t ± 1 mod T), the
 * cosh-correlator mass; NaN where the argument is < 1 or not finite (e.g. C(t) = 0, or t = 0).
 */
export function effectiveMass(c: ArrayLike<number>): Float64Array {
  const T = c.length;
  const out = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const r = (c[(t + 1) % T]! + c[(t - 1 + T) % T]!) / (2 * c[t]!);
    out[t] = Number.isFinite(r) && r >= 1 ? math.acosh(r) : Number.NaN;
  }
  return out;
}
