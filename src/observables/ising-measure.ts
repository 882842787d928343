/**
 * Measurement of an Ising ensemble with Γ-method errors (U. Wolff, Comput. Phys. Commun. 156
 * (2004) 143, through `gammaEstimate` of src/observables/measure.ts): every mean gets its error
 * and integrated autocorrelation time, so Markov chains (Wolff, Metropolis, flow MH) are analysed
 * as the correlated series they are. Browser-safe: plain typed arrays only.
 *
 * Two entry points, the same result type (conventions and estimators: src/observables/ising.ts):
 *
 * - `measureIsingSpins(spins, latticeShape, T)`: n spin configurations (n·N values ±1);
 *   the primaries are m, |m|, m², m⁴, e, e² of each configuration.
 * - `measureIsingRelaxed(x, latticeShape, T, rng)`: n configurations x of NeuralRG's continuous
 *   relaxation (arXiv:1802.02840). m, m², m⁴, e and e² are the conditional expectations
 *   ⟨· | x⟩ (Rao–Blackwell: unbiased for the Ising averages at T, never noisier than a drawn
 *   spin configuration); |m| has no closed form and is measured on one spin configuration drawn
 *   from each x (P(s_i = +1 | x) = σ(2x_i), `drawSpins`), so it uses `rng`.
 *
 * `IsingMeasurement` fields (a stable interface; plots and the CLI read them):
 *
 *   n, volume, latticeShape   n configurations of N = Π L_μ sites (periodic, extents ≥ 2)
 *   T, J                      temperature and coupling the ensemble was drawn at (J default 1)
 *   estimator        "spins" or "relaxed" (which entry point, hence which primaries)
 *   m                ⟨m⟩, m = (1/N) Σ s, signed (0 by symmetry; its τ_int shows the ±m tunnelling)
 *   sign_changes     how often the magnetization series changed sign (m = 0 counts as no sign)
 *   abs_m            ⟨|m|⟩ (relaxed: from the drawn spins)
 *   m2, m4           ⟨m²⟩, ⟨m⁴⟩
 *   chi              N⟨m²⟩/T, the Z₂-symmetric susceptibility per site (m2 scaled: same τ_int)
 *   binder           U = 1 − ⟨m⁴⟩/(3⟨m²⟩²), derived from the means of m² and m⁴
 *   energy           ⟨e⟩, e = H/N, the energy per site
 *   energy2          ⟨e²⟩
 *   specific_heat    per site, C = N(⟨e²⟩ − ⟨e⟩²)/T², derived from the means of e and e². For the
 *                    relaxed ensemble ⟨e²⟩ comes from the conditional ⟨e² | x⟩ (not from ⟨e|x⟩²,
 *                    which would miss the conditional variance), so it is unbiased too.
 *   magnetization    the series of the m estimator (spins: m; relaxed: ⟨m | x⟩ = Σ tanh x/N), for plots
 *   energies         the series of the e estimator (spins: e; relaxed: ⟨e | x⟩), for plots
 *
 * Every scalar is a `GammaEstimate` {value, error, tauInt, tauIntError, gamma, window}; a derived
 * quantity whose value is not finite (binder with ⟨m²⟩ = 0) is NaN with NaN errors.
 */
import { checkIsingLattice } from "../theories/lattice.js";
import type { FloatArray } from "../theories/theory.js";
import {
  drawSpins,
  improvedIsingEstimators,
  spinEnergy,
  spinMagnetization,
  type UniformSource,
} from "./ising.js";
import { type GammaEstimate, gammaEstimate } from "./measure.js";

export interface IsingMeasurement {
  n: number;
  volume: number;
  latticeShape: number[];
  T: number;
  J: number;
  estimator: "spins" | "relaxed";
  m: GammaEstimate;
  sign_changes: number;
  abs_m: GammaEstimate;
  m2: GammaEstimate;
  m4: GammaEstimate;
  chi: GammaEstimate;
  binder: GammaEstimate;
  energy: GammaEstimate;
  energy2: GammaEstimate;
  specific_heat: GammaEstimate;
  magnetization: Float64Array;
  energies: Float64Array;
}

export interface IsingMeasureOptions {
  /** Coupling J (default 1): scales the energy estimators. */
  J?: number;
}

function mean(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}

/** gammaEstimate of f(means), or NaN everywhere when f(means) is not finite. */
function derived(series: Float64Array[], f: (m: number[]) => number): GammaEstimate {
  const value = f(series.map(mean));
  if (!Number.isFinite(value)) {
    return {
      value: Number.NaN,
      error: Number.NaN,
      tauInt: Number.NaN,
      tauIntError: Number.NaN,
      gamma: Float64Array.of(1),
      window: 0,
    };
  }
  try {
    return gammaEstimate(series, f);
  } catch (e) {
    // A finite-difference step of the Γ-method left f's domain (f not finite nearby): no error.
    if (!(e instanceof RangeError)) throw e;
    return {
      value,
      error: Number.NaN,
      tauInt: Number.NaN,
      tauIntError: Number.NaN,
      gamma: Float64Array.of(1),
      window: 0,
    };
  }
}

function check(who: string, length: number, latticeShape: readonly number[], T: number, J: number) {
  const v = checkIsingLattice(who, latticeShape);
  if (typeof T !== "number" || !(T > 0) || !Number.isFinite(T))
    throw new RangeError(`${who}: temperature T must be a finite number > 0, got ${T}`);
  if (typeof J !== "number" || !Number.isFinite(J))
    throw new RangeError(`${who}: coupling J must be a finite number, got ${J}`);
  const n = length / v;
  if (!Number.isInteger(n))
    throw new RangeError(
      `${who}: ${length} values are not a whole number of configurations of N = ${v} sites`,
    );
  if (n < 2) throw new RangeError(`${who}: needs at least 2 configurations, got ${n}`);
  return { v, n };
}

function assemble(
  estimator: "spins" | "relaxed",
  latticeShape: readonly number[],
  T: number,
  J: number,
  v: number,
  m: Float64Array,
  absM: Float64Array,
  m2: Float64Array,
  m4: Float64Array,
  e: Float64Array,
  e2: Float64Array,
): IsingMeasurement {
  const n = m.length;
  let signChanges = 0;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const s = Math.sign(m[i]!);
    if (s !== 0) {
      if (last !== 0 && s !== last) signChanges++;
      last = s;
    }
  }
  const m2e = gammaEstimate([m2]);
  return {
    n,
    volume: v,
    latticeShape: [...latticeShape],
    T,
    J,
    estimator,
    m: gammaEstimate([m]),
    sign_changes: signChanges,
    abs_m: gammaEstimate([absM]),
    m2: m2e,
    m4: gammaEstimate([m4]),
    chi: { ...m2e, value: (m2e.value * v) / T, error: (m2e.error * v) / T },
    binder: derived([m2, m4], ([a, b]) => 1 - b! / (3 * a! * a!)),
    energy: gammaEstimate([e]),
    energy2: gammaEstimate([e2]),
    specific_heat: derived([e, e2], ([a, b]) => (v * (b! - a! * a!)) / (T * T)),
    magnetization: m,
    energies: e,
  };
}

/** Measure n Ising spin configurations (n·N values ±1, row-major) drawn at temperature T. */
export function measureIsingSpins(
  spins: Int8Array,
  latticeShape: readonly number[],
  T: number,
  opts: IsingMeasureOptions = {},
): IsingMeasurement {
  const who = "measureIsingSpins";
  const J = opts.J ?? 1;
  const { v } = check(who, spins.length, latticeShape, T, J);
  const m = spinMagnetization(spins, latticeShape);
  const e = spinEnergy(spins, latticeShape, J);
  const absM = m.map(Math.abs);
  const m2 = m.map((a) => a * a);
  const m4 = m2.map((a) => a * a);
  const e2 = e.map((a) => a * a);
  return assemble("spins", latticeShape, T, J, v, m, absM, m2, m4, e, e2);
}

/**
 * Measure n configurations x of the Ising relaxation at temperature T (n·N values): improved
 * estimators for everything but |m|, which uses one spin configuration drawn from each x by `rng`.
 */
export function measureIsingRelaxed(
  x: FloatArray,
  latticeShape: readonly number[],
  T: number,
  rng: UniformSource,
  opts: IsingMeasureOptions = {},
): IsingMeasurement {
  const who = "measureIsingRelaxed";
  const J = opts.J ?? 1;
  const { v } = check(who, x.length, latticeShape, T, J);
  if (!rng || typeof rng.uniform !== "function") throw new RangeError(`${who}: rng must provide uniform()`);
  const est = improvedIsingEstimators(x, latticeShape, J);
  const absM = spinMagnetization(drawSpins(x, 1, rng), latticeShape).map(Math.abs);
  return assemble("relaxed", latticeShape, T, J, v, est.m, absM, est.m2, est.m4, est.energy, est.energy2);
}
