/**
 * Measurement of a U(1) gauge ensemble (src/theories/u1.ts) with Γ-method errors, the companion
 * of `measureScalarEnsemble` (src/observables/measure.ts): every mean gets its error and its
 * integrated autocorrelation time from Wolff's Γ-method, so HMC chains are analysed as the
 * correlated series they are. Browser-safe: plain typed arrays only.
 *
 * `measureU1Ensemble(configs, theory)` returns a `U1Measurement`; the field names are a stable
 * interface (plots and the CLI read them):
 *
 *   n, volume, latticeShape   N configurations of links [d, ...latticeShape]; V = Π L_μ sites
 *   plaquette        ⟨(1/N_P) Σ_P cos P⟩, the mean plaquette
 *   plaquette_exact  its exact value on a 2-d periodic lattice (u1PlaquetteExact, Bessel
 *                    functions; V plaquettes), null in other dimensions or for β outside [0, 500]
 *   plaquette_n_sigma (plaquette − plaquette_exact)/error, null without an exact value or a
 *                    finite ratio (so for every *_n_sigma below)
 *   q                ⟨Q⟩, the topological charge Q = (1/2π) Σ_x wrap(P_01(x)), an integer (0 by
 *                    the Q → −Q symmetry); 2-d only, null otherwise
 *   q2               ⟨Q²⟩ (2-d only)
 *   q2_exact, q2_n_sigma   the exact ⟨Q²⟩ of the geometric charge on the 2-d periodic lattice
 *                    (u1ExactTorus, the ϑ-vacuum derivative of the character expansion) and the
 *                    measured value's deviation from it in σ; null where plaquette_exact is
 *   chi_top          the topological susceptibility ⟨Q²⟩/V (2-d only): q2 scaled by 1/V, with
 *                    q2's τ_int and autocorrelation
 *   chi_top_exact, chi_top_n_sigma   the same for χ_top = ⟨Q²⟩/V (the n_sigma equals q2's)
 *   q_changes        how often Q changed along the chain (0: frozen in one sector); 2-d only
 *   plaquettes       the series of mean plaquettes, per configuration (for plots)
 *   charge           the series of Q, per configuration (2-d only; for plots)
 *   wilson_loops     Wilson loops ⟨Re W(R×T)⟩, one entry {r, t, area, estimate, exact, n_sigma}
 *                    per requested R×T that fits on the lattice (`options.wilsonLoops`, default
 *                    1×2, 2×2, 3×3), averaged over positions, planes and both orientations
 *                    (`wilsonLoop`); exact (u1WilsonLoopExact, depends on the area R·T only)
 *                    where plaquette_exact is known, else null; any d ≥ 2
 */
import type { FloatArray } from "../theories/theory.js";
import type { U1Theory } from "../theories/u1.js";
import { u1ExactTorus, u1WilsonLoopExact } from "../theories/u1-exact.js";
import { type GammaEstimate, gammaEstimate } from "./measure.js";
import { plaquetteMean, topologicalCharge, wilsonLoop } from "./u1.js";

/** One measured Wilson loop: R×T, its area R·T, the Γ-method estimate of ⟨Re W⟩ and the exact value. */
export interface U1WilsonLoopMeasurement {
  r: number;
  t: number;
  area: number;
  estimate: GammaEstimate;
  exact: number | null;
  n_sigma: number | null;
}

/** The loops measured by default (those that fit): areas 2, 4 and 9. */
export const DEFAULT_U1_WILSON_LOOPS: readonly (readonly [number, number])[] = [
  [1, 2],
  [2, 2],
  [3, 3],
];

export interface U1MeasureOptions {
  /** R×T Wilson loops to measure (default DEFAULT_U1_WILSON_LOOPS); those that fit nowhere are skipped. */
  wilsonLoops?: readonly (readonly [number, number])[];
}

export interface U1Measurement {
  n: number;
  volume: number;
  latticeShape: number[];
  plaquette: GammaEstimate;
  plaquette_exact: number | null;
  plaquette_n_sigma: number | null;
  q: GammaEstimate | null;
  q2: GammaEstimate | null;
  q2_exact: number | null;
  q2_n_sigma: number | null;
  chi_top: GammaEstimate | null;
  chi_top_exact: number | null;
  chi_top_n_sigma: number | null;
  q_changes: number | null;
  plaquettes: Float64Array;
  charge: Float64Array | null;
  wilson_loops: U1WilsonLoopMeasurement[];
}

/** (measured − exact)/σ, or null when there is no exact value or the ratio is not finite. */
function nSigma(g: GammaEstimate | null, exact: number | null): number | null {
  if (g === null || exact === null) return null;
  const z = (g.value - exact) / g.error;
  return Number.isFinite(z) ? z : null;
}

/** Whether an R×T loop fits in some plane and orientation of the lattice. */
function fits(shape: readonly number[], r: number, t: number): boolean {
  for (let mu = 0; mu < shape.length; mu++)
    for (let nu = mu + 1; nu < shape.length; nu++)
      if ((r <= shape[mu]! && t <= shape[nu]!) || (t <= shape[mu]! && r <= shape[nu]!)) return true;
  return false;
}

/** Measure the U(1) observables of `configs`: N configurations of `theory`'s links, row-major. */
export function measureU1Ensemble(
  configs: FloatArray,
  theory: U1Theory,
  options: U1MeasureOptions = {},
): U1Measurement {
  if (configs.length % theory.size !== 0) {
    throw new RangeError(`configs has ${configs.length} values, not a multiple of d·V = ${theory.size}`);
  }
  const n = configs.length / theory.size;
  if (n < 2) throw new RangeError(`measureU1Ensemble needs at least 2 configurations, got ${n}`);
  const v = theory.volume;
  const plaquettes = plaquetteMean(theory, configs);
  const plaquette = gammaEstimate([plaquettes]);
  const solvable = theory.dim === 2 && theory.beta >= 0 && theory.beta <= 500;
  const exactTorus = solvable ? u1ExactTorus(theory.latticeShape, theory.beta) : null;
  const exact = exactTorus ? exactTorus.plaquette : null;
  let charge: Float64Array | null = null;
  let q: GammaEstimate | null = null;
  let q2: GammaEstimate | null = null;
  let chiTop: GammaEstimate | null = null;
  let qChanges: number | null = null;
  if (theory.dim === 2) {
    charge = topologicalCharge(theory, configs);
    q = gammaEstimate([charge]);
    q2 = gammaEstimate([charge.map((x) => x * x)]);
    // χ_t = ⟨Q²⟩/V: a constant multiple of ⟨Q²⟩, so the same autocorrelation and τ_int.
    chiTop = { ...q2, value: q2.value / v, error: q2.error / v };
    qChanges = 0;
    for (let i = 1; i < n; i++) if (charge[i] !== charge[i - 1]) qChanges++;
  }
  const wilsonLoops: U1WilsonLoopMeasurement[] = [];
  for (const [r, t] of options.wilsonLoops ?? DEFAULT_U1_WILSON_LOOPS) {
    if (!fits(theory.latticeShape, r, t)) continue;
    const estimate = gammaEstimate([wilsonLoop(theory, configs, r, t)]);
    const wExact = solvable ? u1WilsonLoopExact(theory.latticeShape, theory.beta, [r, t]) : null;
    wilsonLoops.push({ r, t, area: r * t, estimate, exact: wExact, n_sigma: nSigma(estimate, wExact) });
  }
  const q2Exact = exactTorus && q2 ? exactTorus.q2 : null;
  const chiExact = exactTorus && chiTop ? exactTorus.chiTop : null;
  return {
    n,
    volume: v,
    latticeShape: [...theory.latticeShape],
    plaquette,
    plaquette_exact: exact,
    plaquette_n_sigma: nSigma(plaquette, exact),
    q,
    q2,
    q2_exact: q2Exact,
    q2_n_sigma: nSigma(q2, q2Exact),
    chi_top: chiTop,
    chi_top_exact: chiExact,
    chi_top_n_sigma: nSigma(chiTop, chiExact),
    q_changes: qChanges,
    plaquettes,
    charge,
    wilson_loops: wilsonLoops,
  };
}
