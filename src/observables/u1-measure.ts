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
 *   q                ⟨Q⟩, the topological charge Q = (1/2π) Σ_x wrap(P_01(x)), an integer (0 by
 *                    the Q → −Q symmetry); 2-d only, null otherwise
 *   q2               ⟨Q²⟩ (2-d only)
 *   chi_top          the topological susceptibility ⟨Q²⟩/V (2-d only): q2 scaled by 1/V, with
 *                    q2's τ_int and autocorrelation
 *   q_changes        how often Q changed along the chain (0: frozen in one sector); 2-d only
 *   plaquettes       the series of mean plaquettes, per configuration (for plots)
 *   charge           the series of Q, per configuration (2-d only; for plots)
 */
import type { FloatArray } from "../theories/theory.js";
import type { U1Theory } from "../theories/u1.js";
import { u1PlaquetteExact } from "../theories/u1-exact.js";
import { type GammaEstimate, gammaEstimate } from "./measure.js";
import { plaquetteMean, topologicalCharge } from "./u1.js";

export interface U1Measurement {
  n: number;
  volume: number;
  latticeShape: number[];
  plaquette: GammaEstimate;
  plaquette_exact: number | null;
  q: GammaEstimate | null;
  q2: GammaEstimate | null;
  chi_top: GammaEstimate | null;
  q_changes: number | null;
  plaquettes: Float64Array;
  charge: Float64Array | null;
}

/** Measure the U(1) observables of `configs`: N configurations of `theory`'s links, row-major. */
export function measureU1Ensemble(configs: FloatArray, theory: U1Theory): U1Measurement {
  if (configs.length % theory.size !== 0) {
    throw new RangeError(`configs has ${configs.length} values, not a multiple of d·V = ${theory.size}`);
  }
  const n = configs.length / theory.size;
  if (n < 2) throw new RangeError(`measureU1Ensemble needs at least 2 configurations, got ${n}`);
  const v = theory.volume;
  const plaquettes = plaquetteMean(theory, configs);
  const plaquette = gammaEstimate([plaquettes]);
  const exact =
    theory.dim === 2 && theory.beta >= 0 && theory.beta <= 500
      ? u1PlaquetteExact(theory.beta, theory.plaquetteCount)
      : null;
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
  return {
    n,
    volume: v,
    latticeShape: [...theory.latticeShape],
    plaquette,
    plaquette_exact: exact,
    q,
    q2,
    chi_top: chiTop,
    q_changes: qChanges,
    plaquettes,
    charge,
  };
}
