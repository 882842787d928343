/**
 * Observables of U(1) gauge configurations (src/theories/u1.ts): the mean plaquette and, in
 * two dimensions, the topological charge Q = (1/2π) Σ_x wrap(P_01(x)) with wrap(φ) ∈ [−π, π)
 * (arXiv:2003.06413). On a torus Σ_x P_01(x) = 0, so Q is an integer.
 */
import * as math from "../math/index.js";
import type { FloatArray } from "../theories/theory.js";
import type { U1Theory } from "../theories/u1.js";

function count(theory: U1Theory, configs: FloatArray): number {
  const n = configs.length / theory.size;
  if (!Number.isInteger(n))
    throw new RangeError(`configs has ${configs.length} values, not a multiple of d·V = ${theory.size}`);
  return n;
}

/** (1/N_P) Σ_P cos P per configuration: the mean plaquette. */
export function plaquetteMean(theory: U1Theory, configs: FloatArray): Float64Array {
  const n = count(theory, configs);
  const out = new Float64Array(n);
  const p = new Float64Array(theory.plaquetteCount);
  for (let b = 0; b < n; b++) {
    theory.plaquettes(configs, b, p);
    let s = 0;
    for (let i = 0; i < p.length; i++) s += math.cos(p[i]!);
    out[b] = s / p.length;
  }
  return out;
}

/** φ mod 2π in [−π, π). */
export function wrapAngle(phi: number): number {
  return phi - 2 * Math.PI * Math.floor((phi + Math.PI) / (2 * Math.PI));
}

/** The topological charge Q (an integer) per configuration; two-dimensional lattices only. */
export function topologicalCharge(theory: U1Theory, configs: FloatArray): Float64Array {
  if (theory.dim !== 2) throw new RangeError(`topologicalCharge: needs a 2-d lattice, got d = ${theory.dim}`);
  const n = count(theory, configs);
  const out = new Float64Array(n);
  const p = new Float64Array(theory.plaquetteCount);
  for (let b = 0; b < n; b++) {
    theory.plaquettes(configs, b, p);
    let s = 0;
    for (let i = 0; i < p.length; i++) s += wrapAngle(p[i]!);
    out[b] = Math.round(s / (2 * Math.PI));
  }
  return out;
}
