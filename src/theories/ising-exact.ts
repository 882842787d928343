/**
 * Exact finite-size solution of the 2-d Ising model on the periodic M×N lattice (torus), after
 * B. Kaufman, Phys. Rev. 76, 1232 (1949) and A. E. Ferdinand & M. E. Fisher, Phys. Rev. 185,
 * 832 (1969). Spins s = ±1 on `latticeShape = [M, N]` (row-major, last axis fastest), bonds
 * (x, x+μ̂) for every site x and axis μ (an extent-2 axis carries every bond twice), and
 *
 *   H = −J Σ_bonds s_i s_j,   Z = Σ_s e^{−H/T} = Σ_s e^{K Σ s_i s_j},   K = J/T > 0.
 *
 * Transfer along axis 0 (M rows of N spins). With θ_k = πk/N and the dual coupling K*
 * (tanh K* = e^{−2K}, so sinh 2K · sinh 2K* = 1 and cosh 2K* = coth 2K):
 *
 *   cosh γ_k = cosh 2K cosh 2K* − cos θ_k = s + 1/s − cos θ_k,   s = sinh 2K,  γ_k > 0 (k ≥ 1),
 *   γ_0 = 2K + ln tanh K = 2(K − K*)       (signed: < 0 for T > T_c, 0 at T_c, > 0 below),
 *
 *   Z = ½ (2 sinh 2K)^{MN/2} (Z_1 + Z_2 + Z_3 + Z_4),
 *   Z_1 = Π_{r=0}^{N−1} 2 cosh(½Mγ_{2r+1}),   Z_2 = Π_{r=0}^{N−1} 2 sinh(½Mγ_{2r+1}),
 *   Z_3 = Π_{r=0}^{N−1} 2 cosh(½Mγ_{2r}),     Z_4 = Π_{r=0}^{N−1} 2 sinh(½Mγ_{2r}).
 *
 * Z_4 carries the sign of γ_0: above T_c it is negative and nearly cancels Z_3 (taking |γ_0|
 * instead makes Z_4 ≈ +Z_3 and overestimates ln Z, by ln 2 at high T). The four products are
 * summed from their logs (signed log-sum-exp), so nothing overflows at any size.
 *
 * Numerics. The prefactor is folded into each factor, L = ln(2 sinh 2K), δ_k = γ_k + L:
 *   e^{½ML}·2cosh(½Mγ_k) = e^{½Mδ_k}(1 + e^{−Mγ_k}),   e^{½ML}·2sinh(½Mγ_k) = e^{½Mδ_k}(1 − e^{−Mγ_k}),
 * so the (MN/2)·L of the prefactor never cancels against Σγ_k at high T. With s = sinh 2K,
 * x = cosh γ_k, q = e^{−2K} (1 − q = −expm1(−2K), 1 − q² = −expm1(−4K)):
 *   x < 2:          γ_k = log1p(t + √(t(2+t))),  t = x − 1 = (s − 1)(1 − 1/s) + 2 sin²(θ_k/2) > 0;
 *   x ≥ 2, s ≥ 1:   γ_k = ln s + log1p(r) + log1p(√(1 − 1/x²)),  r = (1/s)(1/s − cos θ_k),
 *                   1/x = (1/s)/(1 + r),  ln s = 2K + ln(1 − q²) − ln 2,  1/s = 2q/(1 − q²);
 *   x ≥ 2, s < 1:   δ_k = ln 2 + log1p(ρ) + log1p(√(1 − 1/x²)),  ρ = s(s − cos θ_k), 1/x = s/(1 + ρ);
 *   k = 0:          γ_0 = 2K + ln(1 − q) − log1p(q),  L + γ_0 = 4K + 2 ln(1 − q),  L − γ_0 = 2 log1p(q).
 * Z_4's k = 0 factor 2 sinh(½Mγ_0) is kept as a plain factor where ½M|γ_0| < 1: it vanishes at
 * T_c while its derivative does not. The log-sum-exp is shifted by the largest log and by the
 * slope ∂_K ln Z_1, which keeps ∂²_K ln Z free of cancellation.
 *
 * Derivatives are exact: every quantity is a second-order jet in K (value, d/dK, d²/dK²), so
 *   ⟨H⟩/N = −J ∂_K ln Z / N,   C = (⟨H²⟩ − ⟨H⟩²)/(N T²) = K² ∂²_K ln Z / N.
 * Accuracy (against enumeration): ln Z and the energy to ~1e-15 relative for 0.1 ≤ T ≤ 100
 * (the energy ~1e-16/K at higher T); the specific heat to ~1e-14 for T ≥ 0.7, degrading as
 * 1e-16·e^{6K} below (2e-9 at T = 0.3), because C ∝ e^{−8K} there while the γ_k″ that sum to
 * it are of order e^{−2K}: its absolute error stays below 1e-16·K²e^{−2K}.
 */
import * as math from "../math/index.js";

/** Critical temperature of the square-lattice Ising model (J = 1): T_c = 2 / ln(1 + √2). */
export const ISING_TC = 2 / math.log1p(Math.SQRT2);

/** Exact thermodynamics per site: ln Z, energy ⟨H⟩/N, specific heat (⟨H²⟩ − ⟨H⟩²)/(N T²). */
export interface IsingThermo {
  lnZ: number;
  energy: number;
  specificHeat: number;
}

/** IsingThermo and the magnetisation moments of m = (1/N) Σ s: ⟨m²⟩, ⟨|m|⟩, ⟨m⁴⟩. */
export interface IsingFull extends IsingThermo {
  m2: number;
  absM: number;
  m4: number;
}

/** Throws a RangeError unless every extent is an integer ≥ 1 (and there are `dims` of them, if given). */
export function validateIsingShape(fn: string, shape: readonly number[], dims?: number): void {
  if (!Array.isArray(shape) || shape.length === 0 || (dims !== undefined && shape.length !== dims))
    throw new RangeError(
      `${fn}: the lattice shape must be ${dims === undefined ? "a non-empty list" : `a list of ${dims}`} of extents, got ${JSON.stringify(shape)}`,
    );
  for (const n of shape)
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`${fn}: lattice extents must be integers ≥ 1, got ${JSON.stringify(shape)}`);
}

/** Throws a RangeError unless T is a finite number > 0 and J is finite. */
export function validateIsingCouplings(fn: string, T: number, J: number): void {
  if (typeof T !== "number" || !Number.isFinite(T) || !(T > 0))
    throw new RangeError(`${fn}: the temperature T must be a finite number > 0, got ${T}`);
  if (typeof J !== "number" || !Number.isFinite(J))
    throw new RangeError(`${fn}: the coupling J must be a finite number, got ${J}`);
}

// ---- second-order jets in K: value, first and second derivative ----

interface Jet {
  v: number;
  d: number;
  dd: number;
}

const cst = (v: number): Jet => ({ v, d: 0, dd: 0 });
const add = (a: Jet, b: Jet): Jet => ({ v: a.v + b.v, d: a.d + b.d, dd: a.dd + b.dd });
const addC = (a: Jet, c: number): Jet => ({ v: a.v + c, d: a.d, dd: a.dd });
const scale = (a: Jet, c: number): Jet => ({ v: c * a.v, d: c * a.d, dd: c * a.dd });
const mul = (a: Jet, b: Jet): Jet => ({
  v: a.v * b.v,
  d: a.d * b.v + a.v * b.d,
  dd: a.dd * b.v + 2 * a.d * b.d + a.v * b.dd,
});
/** f(a) as a jet, given f(a.v), f′(a.v), f″(a.v). */
const chain = (a: Jet, f: number, f1: number, f2: number): Jet => ({
  v: f,
  d: f1 * a.d,
  dd: f2 * a.d * a.d + f1 * a.dd,
});
const jexp = (a: Jet): Jet => {
  const e = math.exp(a.v);
  return chain(a, e, e, e);
};
const jexpm1 = (a: Jet): Jet => {
  const e = math.exp(a.v);
  return chain(a, math.expm1(a.v), e, e);
};
const jlog = (a: Jet): Jet => chain(a, math.log(a.v), 1 / a.v, -1 / (a.v * a.v));
const jlog1p = (a: Jet): Jet => {
  const u = 1 / (1 + a.v);
  return chain(a, math.log1p(a.v), u, -u * u);
};
const jsqrt = (a: Jet): Jet => {
  const r = Math.sqrt(a.v);
  return chain(a, r, 0.5 / r, -0.25 / (r * r * r));
};
const jrecip = (a: Jet): Jet => {
  const u = 1 / a.v;
  return chain(a, u, -u * u, 2 * u * u * u);
};

/**
 * Kaufman's exponents as jets in K, with the prefactor folded in: L = ln(2 sinh 2K),
 * γ_k and δ_k = γ_k + L for k = 1 … 2N−1, and for k = 0 the signed γ_0 with
 * δ_0^± = L ± γ_0 (see the file comment for the forms used).
 */
function kaufmanExponents(K: number, n: number) {
  const k0: Jet = { v: K, d: 1, dd: 0 };
  const q = jexp(scale(k0, -2)); // e^{−2K}
  const oneMinusQ = scale(jexpm1(scale(k0, -2)), -1); // 1 − e^{−2K}, accurate at small K
  const oneMinusQ2 = scale(jexpm1(scale(k0, -4)), -1); // 1 − e^{−4K}
  const lnS = addC(add(scale(k0, 2), jlog(oneMinusQ2)), -Math.LN2); // ln sinh 2K
  const bigL = addC(lnS, Math.LN2); // L = ln(2 sinh 2K)
  const invS = mul(scale(q, 2), jrecip(oneMinusQ2)); // 1/sinh 2K (never overflows)
  const s = lnS.v < 40 ? mul(oneMinusQ2, jrecip(scale(q, 2))) : null; // sinh 2K, where moderate
  const gamma0 = add(scale(k0, 2), add(jlog(oneMinusQ), scale(jlog1p(q), -1))); // 2K + ln tanh K
  const delta0Plus = add(scale(k0, 4), scale(jlog(oneMinusQ), 2)); // L + γ_0 = 2K + 2 ln(2 sinh K)
  const delta0Minus = scale(jlog1p(q), 2); // L − γ_0 = −2K + 2 ln(2 cosh K)
  const gamma: Jet[] = [gamma0];
  const delta: Jet[] = [cst(Number.NaN)]; // k = 0 uses δ_0^±
  for (let k = 1; k < 2 * n; k++) {
    const half = math.sin((Math.PI * k) / (2 * n));
    const oneMinusCos = 2 * half * half; // 1 − cos θ_k
    const cos = 1 - oneMinusCos;
    const x = s === null ? Number.POSITIVE_INFINITY : s.v + invS.v - cos; // cosh γ_k
    let g: Jet;
    let dk: Jet;
    if (s !== null && x < 2) {
      // t = x − 1 = (s − 1)(1 − 1/s) + (1 − cos θ) > 0; γ = log1p(t + √(t(2 + t))).
      const t = addC(mul(addC(s, -1), addC(scale(invS, -1), 1)), oneMinusCos);
      g = jlog1p(add(t, jsqrt(mul(t, addC(t, 2)))));
      dk = add(g, bigL);
    } else if (s === null || s.v >= 1) {
      // x = s(1 + r), r = (1/s)(1/s − cos θ): γ = ln s + log1p(r) + log1p(√(1 − 1/x²)).
      const r = mul(invS, addC(invS, -cos));
      const invX = mul(invS, jrecip(addC(r, 1)));
      g = add(add(lnS, jlog1p(r)), jlog1p(jsqrt(addC(scale(mul(invX, invX), -1), 1))));
      dk = add(g, bigL);
    } else {
      // high T: x = (1/s)(1 + ρ), ρ = s(s − cos θ): δ = ln 2 + log1p(ρ) + log1p(√(1 − 1/x²)).
      const rho = mul(s, addC(s, -cos));
      const invX = mul(s, jrecip(addC(rho, 1)));
      dk = addC(add(jlog1p(rho), jlog1p(jsqrt(addC(scale(mul(invX, invX), -1), 1)))), Math.LN2);
      g = add(dk, scale(bigL, -1));
    }
    gamma.push(g);
    delta.push(dk);
  }
  return { bigL, gamma, delta, delta0Plus, delta0Minus };
}

/**
 * Exact ln Z, energy per site and specific heat per site of the 2-d Ising model on the periodic
 * M×N lattice (`shape = [M, N]`, M, N ≥ 1), at temperature T > 0 and coupling J > 0
 * (Kaufman 1949). Exact to rounding at every size: products are summed in logs and derivatives
 * are taken by second-order forward-mode jets in K = J/T, never by finite differences.
 */
export function isingExactTorus(shape: readonly [number, number], T: number, J = 1): IsingThermo {
  const fn = "isingExactTorus";
  validateIsingShape(fn, shape, 2);
  validateIsingCouplings(fn, T, J);
  if (!(J > 0)) throw new RangeError(`${fn}: the closed form needs a ferromagnetic coupling J > 0, got ${J}`);
  const K = J / T;
  if (!(K <= 1e100)) throw new RangeError(`${fn}: J/T = ${K} is too large (at most 1e100)`);
  const [m, n] = shape as readonly [number, number];
  const { bigL, gamma, delta, delta0Plus, delta0Minus } = kaufmanExponents(K, n);
  const h = m / 2;

  // ln of the four terms e^{½MN·L}|Z_i|, factor by factor:
  //   e^{½ML}·2cosh(½Mγ) = e^{½Mδ}(1 + e^{−Mγ}),   e^{½ML}·2sinh(½Mγ) = e^{½Mδ}(1 − e^{−Mγ})  (γ > 0).
  let l1 = cst(0);
  let l2 = cst(0);
  let l3 = cst(0);
  let l4 = cst(0);
  for (let k = 1; k < 2 * n; k++) {
    const main = scale(delta[k]!, h);
    const e = jexp(scale(gamma[k]!, -m));
    const c = add(main, jlog1p(e));
    const s = add(main, jlog(addC(scale(e, -1), 1)));
    if (k % 2 === 1) {
      l1 = add(l1, c);
      l2 = add(l2, s);
    } else {
      l3 = add(l3, c);
      l4 = add(l4, s);
    }
  }
  // k = 0, signed γ_0: e^{½ML}·2cosh(½Mγ_0) = e^{½Mδ_0^±}(1 + e^{−M|γ_0|}), ± = sign γ_0.
  const g0 = gamma[0]!;
  const abs0 = g0.v >= 0 ? g0 : scale(g0, -1);
  const main0 = scale(g0.v >= 0 ? delta0Plus : delta0Minus, h);
  const e0 = jexp(scale(abs0, -m));
  l3 = add(l3, add(main0, jlog1p(e0)));
  // Z_4's k = 0 factor, 2 sinh(½Mγ_0) with its sign: kept as a plain factor where ½M|γ_0| < 1
  // (it vanishes at T_c while its derivative does not), otherwise in the log.
  let sign4 = 1;
  let factor4: Jet | null = null;
  if (h * abs0.v < 1) {
    const y0 = scale(g0, h);
    factor4 = add(jexpm1(y0), scale(jexpm1(scale(y0, -1)), -1));
    l4 = add(l4, scale(bigL, h));
  } else {
    l4 = add(l4, add(main0, jlog(addC(scale(e0, -1), 1))));
    sign4 = g0.v > 0 ? 1 : -1;
  }
  const terms: { log: Jet; sign: number; factor: Jet | null }[] = [
    { log: l1, sign: 1, factor: null },
    { log: l2, sign: 1, factor: null },
    { log: l3, sign: 1, factor: null },
    { log: l4, sign: sign4, factor: factor4 },
  ];

  // Σ_i e^{½MN·L} Z_i · e^{−c − a(K′ − K)}: shifting by the dominant log and slope keeps the
  // second derivative free of cancellation.
  let c = Number.NEGATIVE_INFINITY;
  for (const t of terms) c = Math.max(c, t.log.v);
  const a = l1.d;
  let u = cst(0);
  for (const t of terms) {
    const e = math.exp(t.log.v - c);
    const dlt = t.log.d - a;
    const shifted: Jet = { v: e, d: e * dlt, dd: e * (t.log.dd + dlt * dlt) };
    u = add(u, t.factor === null ? scale(shifted, t.sign) : mul(t.factor, shifted));
  }
  const slope = u.d / u.v;
  const sites = m * n;
  const lnZ = c + math.log(u.v) - Math.LN2;
  const d1 = a + slope;
  const d2 = u.dd / u.v - slope * slope;
  return { lnZ, energy: (-J * d1) / sites, specificHeat: (K * K * d2) / sites };
}
