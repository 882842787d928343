/**
 * Observables of U(1) gauge configurations (src/theories/u1.ts): the mean plaquette, in
 * two dimensions the topological charge Q = (1/2π) Σ_x wrap(P_01(x)) with wrap(φ) ∈ [−π, π)
 * (arXiv:2003.06413; on a torus Σ_x P_01(x) = 0, so Q is an integer), and rectangular Wilson
 * loops (K. G. Wilson, Phys. Rev. D10 (1974) 2445): for an a×b loop in the plane μ < ν at x,
 *   W = exp i[Σ_{k<a} θ_μ(x+kμ̂) + Σ_{k<b} θ_ν(x+aμ̂+kν̂) − Σ_{k<a} θ_μ(x+bν̂+kμ̂) − Σ_{k<b} θ_ν(x+kν̂)],
 * the ordered product of the links around the loop, oriented like P_μν (a 1×1 loop is e^{iP}).
 * Its angle is the sum of the P_μν it encloses, exactly (inner links cancel), also when a = L_μ.
 * Only Re W is measured: ⟨Im W⟩ = 0 by θ → −θ, and the real part has the smaller variance.
 */
import * as math from "../math/index.js";
import { shiftTable } from "../theories/lattice.js";
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

/** φ mod 2π in [−π, π) (src/math/angle.ts; exported here too, where it was first). */
export const wrapAngle = math.wrapAngle;

/** The topological charge Q (an integer) per configuration; two-dimensional lattices only. */
export function topologicalCharge(theory: U1Theory, configs: FloatArray): Float64Array {
  if (theory.dim !== 2) throw new RangeError(`topologicalCharge: needs a 2-d lattice, got d = ${theory.dim}`);
  return perConfiguration(theory, configs, (p) => {
    let s = 0;
    for (let i = 0; i < p.length; i++) s += wrapAngle(p[i]!);
    return Math.round(s / (2 * Math.PI));
  });
}

/**
 * Re W of the R×T Wilson loop per configuration, averaged over every position x, every plane
 * μ < ν and both orientations (R links along μ and T along ν, and R along ν and T along μ) that
 * fit on the lattice (extent ≤ L along its axis; R = T counts once). Throws if none fits.
 */
export function wilsonLoop(theory: U1Theory, configs: FloatArray, r: number, t: number): Float64Array {
  if (!Number.isInteger(r) || !Number.isInteger(t) || r < 1 || t < 1)
    throw new RangeError(`wilsonLoop: loop extents must be integers ≥ 1, got ${r}×${t}`);
  const shape = theory.latticeShape;
  const d = theory.dim;
  const v = theory.volume;
  const n = configs.length / theory.size;
  if (!Number.isInteger(n))
    throw new RangeError(`configs has ${configs.length} values, not a multiple of d·V = ${theory.size}`);
  // (μ, ν, a, b): a links along μ, b along ν.
  const loops: [number, number, number, number][] = [];
  for (let mu = 0; mu < d; mu++)
    for (let nu = mu + 1; nu < d; nu++)
      for (const [a, b] of r === t
        ? [[r, t]]
        : [
            [r, t],
            [t, r],
          ])
        if (a! <= shape[mu]! && b! <= shape[nu]!) loops.push([mu, nu, a!, b!]);
  if (loops.length === 0)
    throw new RangeError(`wilsonLoop: a ${r}×${t} loop fits in no plane of the ${shape.join("×")} lattice`);
  const shift = (mu: number, k: number) => {
    const off = new Array<number>(d).fill(0);
    off[mu] = k;
    return shiftTable(shape, off);
  };
  const geometry = loops.map(([mu, nu, a, b]) => ({
    mu,
    nu,
    stepsMu: Array.from({ length: a }, (_, k) => shift(mu, k)),
    stepsNu: Array.from({ length: b }, (_, k) => shift(nu, k)),
    upA: shift(mu, a), // x + aμ̂
    upB: shift(nu, b), // x + bν̂
  }));
  const out = new Float64Array(n);
  const lineMu = new Float64Array(v);
  const lineNu = new Float64Array(v);
  for (let c = 0; c < n; c++) {
    const o = c * theory.size;
    let sum = 0;
    for (const g of geometry) {
      // Straight lines of a links along μ and b along ν starting at every x.
      lineMu.fill(0);
      lineNu.fill(0);
      for (const s of g.stepsMu) for (let x = 0; x < v; x++) lineMu[x]! += configs[o + g.mu * v + s[x]!];
      for (const s of g.stepsNu) for (let x = 0; x < v; x++) lineNu[x]! += configs[o + g.nu * v + s[x]!];
      for (let x = 0; x < v; x++)
        sum += math.cos(lineMu[x]! + lineNu[g.upA[x]!]! - lineMu[g.upB[x]!]! - lineNu[x]!);
    }
    out[c] = sum / (v * geometry.length);
  }
  return out;
}
