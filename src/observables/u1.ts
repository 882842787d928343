/**
 * Observables of U(1) gauge configurations (src/theories/u1.ts): the mean plaquette and, in
 * two dimensions, the topological charge Q = (1/2π) Σ_x wrap(P_01(x)) with wrap(φ) ∈ [−π, π)
 * (arXiv:2003.06413). On a torus Σ_x P_01(x) = 0, so Q is an integer.
 */
import * as math from "../math/index.js";
import type { FloatArray } from "../theories/theory.js";
import type { U1Theory } from "../theories/u1.js";

/** f(plaquettes of configuration b) for every configuration. */
function perConfiguration(
  theory: U1Theory,
  configs: FloatArray,
  f: (p: Float64Array) => number,
): Float64Array {
  const n = configs.length / theory.size;
  if (!Number.isInteger(n))
    throw new RangeError(`configs has ${configs.length} values, not a multiple of d·V = ${theory.size}`);
  const out = new Float64Array(n);
  const p = new Float64Array(theory.plaquetteCount);
  for (let b = 0; b < n; b++) out[b] = f(theory.plaquettes(configs, b, p));
  return out;
}

/** (1/N_P) Σ_P cos P per configuration: the mean plaquette. */
export function plaquetteMean(theory: U1Theory, configs: FloatArray): Float64Array {
  return perConfiguration(theory, configs, (p) => {
    let s = 0;
    for (let i = 0; i < p.length; i++) s += math.cos(p[i]!);
    return s / p.length;
  });
}

/** φ mod 2π in [−π, π). */
export function wrapAngle(phi: number): number {
  return phi - 2 * Math.PI * Math.floor((phi + Math.PI) / (2 * Math.PI));
}

/** The topological charge Q (an integer) per configuration; two-dimensional lattices only. */
export function topologicalCharge(theory: U1Theory, configs: FloatArray): Float64Array {
  if (theory.dim !== 2) throw new RangeError(`topologicalCharge: needs a 2-d lattice, got d = ${theory.dim}`);
  return perConfiguration(theory, configs, (p) => {
    let s = 0;
    for (let i = 0; i < p.length; i++) s += wrapAngle(p[i]!);
    return Math.round(s / (2 * Math.PI));
  });
}
