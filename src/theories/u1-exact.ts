/**
 * Exact results of 2-d U(1) gauge theory with the Wilson action on a periodic L0×L1 lattice.
 * Expanding each e^{β cos P} = Σ_n I_n(β) e^{inP} and integrating the links, every plaquette
 * must carry the same n (on the torus ∏ U_P = 1), so with V = L0·L1 plaquettes
 *   Z(β) ∝ Σ_{n∈ℤ} I_n(β)^V,
 *   ⟨cos P⟩ = (1/V) ∂ ln Z/∂β = Σ_n I_n^{V−1} I_n′ / Σ_n I_n^V,   I_n′ = (I_{n−1} + I_{n+1})/2,
 * which tends to I_1(β)/I_0(β) as V → ∞.
 */
import { logsumexp } from "../analysis/reweighting.js";
import * as math from "../math/index.js";

/** ln I_n(x) for integer n and x ≥ 0 (modified Bessel function of the first kind), by its series. */
export function logBesselI(n: number, x: number): number {
  const m = Math.abs(n); // I_{−n} = I_n
  if (!Number.isInteger(m) || !(x >= 0) || !(x <= 500))
    throw new RangeError(
      `logBesselI: need an integer order and 0 ≤ x ≤ 500 (the series overflows beyond), got n = ${n}, x = ${x}`,
    );
  if (x === 0) return m === 0 ? 0 : Number.NEGATIVE_INFINITY;
  // I_m(x) = t_0 Σ_k r_k with t_0 = (x/2)^m / m!, r_0 = 1, r_{k+1} = r_k (x/2)² / ((k+1)(k+m+1)).
  let logT0 = m * math.log(x / 2);
  for (let j = 2; j <= m; j++) logT0 -= math.log(j);
  const q = (x * x) / 4;
  // Terms grow until k ≈ x/2, then fall: sum past the peak until they no longer matter.
  let r = 1;
  let s = 1;
  for (let k = 0; k < 100000; k++) {
    r *= q / ((k + 1) * (k + m + 1));
    s += r;
    if (r < 1e-17 * s && k > x) break;
  }
  return logT0 + math.log(s);
}

/** ⟨cos P⟩ of 2-d U(1) on a periodic lattice of `plaquettes` = L0·L1 plaquettes, at coupling β ≥ 0. */
export function u1PlaquetteExact(beta: number, plaquettes: number): number {
  if (!Number.isInteger(plaquettes) || plaquettes < 1)
    throw new RangeError(`u1PlaquetteExact: plaquettes must be an integer ≥ 1, got ${plaquettes}`);
  if (!(beta >= 0) || !(beta <= 500))
    throw new RangeError(`u1PlaquetteExact: beta must lie in [0, 500], got ${beta}`);
  const v = plaquettes;
  // ln of the n-th terms of numerator and denominator; n and −n contribute equally.
  const num: number[] = [];
  const den: number[] = [];
  // ln I_{n−1}, ln I_n, ln I_{n+1}, shifted along as n grows (I_{−1} = I_1).
  let prev = logBesselI(1, beta);
  let li = logBesselI(0, beta);
  for (let n = 0; ; n++) {
    if (li === Number.NEGATIVE_INFINITY) break; // β = 0: only n = 0 contributes
    const next = logBesselI(n + 1, beta);
    const a = v * li;
    const dI = (math.exp(prev - li) + math.exp(next - li)) / 2; // I_n′/I_n
    den.push(a + (n > 0 ? Math.LN2 : 0));
    num.push(a + math.log(dI) + (n > 0 ? Math.LN2 : 0));
    if (n > 2 && a < den[0]! - 60) break; // e^{−60}: far below double precision
    prev = li;
    li = next;
  }
  return math.exp(logsumexp(Float64Array.from(num)) - logsumexp(Float64Array.from(den)));
}
