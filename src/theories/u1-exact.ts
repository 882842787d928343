/**
 * Exact results of 2-d U(1) gauge theory with the Wilson action on a periodic L0×L1 lattice
 * (V = L0·L1 plaquettes, 2V links); derivations in docs/physics.md, "U(1) in two dimensions:
 * exact results" (character expansion: Migdal, Sov. Phys. JETP 42 (1975) 413; Gross & Witten,
 * PRD 21 (1980) 446; on the torus: Rusakov, Mod. Phys. Lett. A5 (1990) 693; the ϑ-vacuum and
 * χ_top: Bonati & Rossi, arXiv:1901.09830, Kanwar et al., arXiv:2003.06413).
 * Expanding each e^{β cos P} = Σ_n I_n(β) e^{inP} and integrating the links, every plaquette
 * must carry the same n (each link enters two plaquettes with opposite signs), so
 *   Z = ∫ Π_links dθ e^{−S} = (2π)^{2V} Σ_{n∈ℤ} I_n(β)^V        (dθ on [0, 2π)),
 *   ⟨cos P⟩ = (1/V) ∂ ln Z/∂β = Σ_n I_n^{V−1} I_n′ / Σ_n I_n^V,   I_n′ = (I_{n−1} + I_{n+1})/2,
 * which tends to I_1(β)/I_0(β) as V → ∞. A Wilson loop bounding A plaquettes shifts n by one
 * inside: ⟨W⟩ = Σ_n I_n^{V−A} I_{n+1}^A / Σ_n I_n^V → (I_1/I_0)^A. The geometric charge's
 * ⟨Q²⟩ = −∂²_ϑ ln Z(ϑ) at ϑ = 0 with Z(ϑ) ∝ Σ_n c(n − ϑ/2π)^V (src/theories/u1-topology-exact.ts):
 *   ⟨Q²⟩ = V/(4π²) · Σ_n [I_n^{V−1} h_n − (V−1) I_n^{V−2} s_n²] / Σ_n I_n^V   (V ≥ 3; 0 for V ≤ 2,
 * where Σ_P P = 0 forces Q = 0). Every sum is done in logs or relative to its n = 0 term.
 */
import { logsumexp } from "../analysis/reweighting.js";
import * as math from "../math/index.js";
import { u1ThetaMoments } from "./u1-topology-exact.js";

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
  if (v === 1) return 1; // 1×1: P ≡ 0 (the sum below would need every n at β = 0)
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

/** Exact observables of 2-d U(1) on a periodic L0×L1 torus at coupling β. */
export interface U1ExactTorus {
  /** ln Z, Z = ∫ Π_links dθ e^{−S} with dθ on [0, 2π) (the uniform prior's measure, unnormalised). */
  lnZ: number;
  /** ⟨cos P⟩. */
  plaquette: number;
  /** ⟨Q²⟩ of the geometric charge Q = (1/2π) Σ_P wrap(P). */
  q2: number;
  /** χ_top = ⟨Q²⟩/V. */
  chiTop: number;
}

function checkTorus(where: string, latticeShape: readonly number[], beta: number): [number, number] {
  if (latticeShape.length !== 2 || latticeShape.some((n) => !Number.isInteger(n) || n < 1))
    throw new RangeError(
      `${where}: needs a 2-d lattice [L0, L1] of integer extents ≥ 1, got ${JSON.stringify(latticeShape)}`,
    );
  if (!(beta >= 0) || !(beta <= 500))
    throw new RangeError(`${where}: beta must lie in [0, 500] (ln I_n by its series), got ${beta}`);
  return [latticeShape[0]!, latticeShape[1]!];
}

/** ln I_n(β), n = 0, 1, …, up to the first n with weight·(ln I_n − ln I_0) < −cut (or I_n = 0). */
function logBesselTable(beta: number, weight: number, cut: number): number[] {
  const l = [logBesselI(0, beta)];
  for (let n = 1; ; n++) {
    const ln = logBesselI(n, beta);
    l.push(ln);
    if (ln === Number.NEGATIVE_INFINITY || weight * (ln - l[0]!) < -cut) return l;
  }
}

/** ln Σ_n I_{n}^{V−A} I_{n+1}^{A} over n ∈ ℤ (A = 0: ln Σ_n I_n^V), from a table of ln I_{|n|}. */
function logShiftedSum(l: readonly number[], v: number, area: number): number {
  const terms: number[] = [];
  const top = l.length - 1;
  for (let n = -top; n < top; n++) {
    const a = l[Math.abs(n)]!;
    const b = l[Math.abs(n + 1)]!;
    const t = (v - area === 0 ? 0 : (v - area) * a) + (area === 0 ? 0 : area * b);
    if (t !== Number.NEGATIVE_INFINITY) terms.push(t);
  }
  // n = top with A = 0 is the term n = −top mirrored; include it for the symmetric sum.
  if (area === 0 && l[top]! !== Number.NEGATIVE_INFINITY) terms.push(v * l[top]!);
  return logsumexp(Float64Array.from(terms));
}

/** ⟨Q²⟩ on V plaquettes (see the file comment). */
function q2Exact(beta: number, v: number): number {
  if (v <= 2) return 0; // P_1 = −P_2 (or P ≡ 0): wrap(P_1) + wrap(P_2) = 0 almost surely
  const l = logBesselTable(beta, v - 2, 50);
  const nMax = l.length - 1;
  const { m, s, h } = u1ThetaMoments(beta, nMax);
  const m0 = m[0]!;
  let num = 0;
  let den = 0;
  for (let n = 0; n <= nMax; n++) {
    const d = l[n]! - l[0]!;
    if (d === Number.NEGATIVE_INFINITY) break;
    const sn = s[n]! / m0;
    const term = math.exp((v - 1) * d) * (h[n]! / m0) - (v - 1) * math.exp((v - 2) * d) * sn * sn;
    const mult = n === 0 ? 1 : 2; // n and −n: s_{−n} = −s_n, h_{−n} = h_n
    num += mult * term;
    den += mult * math.exp(v * d);
  }
  return (v * num) / (4 * Math.PI * Math.PI * den);
}

/** ln Z, ⟨cos P⟩, ⟨Q²⟩ and χ_top of 2-d U(1) on the periodic torus `latticeShape` = [L0, L1], 0 ≤ β ≤ 500. */
export function u1ExactTorus(latticeShape: readonly number[], beta: number): U1ExactTorus {
  const [l0, l1] = checkTorus("u1ExactTorus", latticeShape, beta);
  const v = l0 * l1;
  const l = logBesselTable(beta, v, 60);
  const lnZ = 2 * v * math.log(2 * Math.PI) + logShiftedSum(l, v, 0);
  const q2 = q2Exact(beta, v);
  return { lnZ, plaquette: u1PlaquetteExact(beta, v), q2, chiTop: q2 / v };
}

/**
 * ⟨Re W⟩ of the R×T Wilson loop (`loop` = [R, T], R links along one axis, T along the other; either
 * orientation must fit: R ≤ L0, T ≤ L1 or T ≤ L0, R ≤ L1) on the periodic torus `latticeShape`,
 * 0 ≤ β ≤ 500. It depends on the enclosed area A = R·T only: Σ_n I_n^{V−A} I_{n+1}^A / Σ_n I_n^V
 * (A = V: the loop is trivial, ⟨W⟩ = 1). ⟨Im W⟩ = 0 by θ → −θ.
 */
export function u1WilsonLoopExact(
  latticeShape: readonly number[],
  beta: number,
  loop: readonly [number, number],
): number {
  const [l0, l1] = checkTorus("u1WilsonLoopExact", latticeShape, beta);
  const [r, t] = loop;
  if (!Number.isInteger(r) || !Number.isInteger(t) || r < 1 || t < 1)
    throw new RangeError(`u1WilsonLoopExact: loop extents must be integers ≥ 1, got ${JSON.stringify(loop)}`);
  if (!((r <= l0 && t <= l1) || (t <= l0 && r <= l1)))
    throw new RangeError(`u1WilsonLoopExact: a ${r}×${t} loop does not fit on the ${l0}×${l1} lattice`);
  const v = l0 * l1;
  const l = logBesselTable(beta, v, 60);
  return math.exp(logShiftedSum(l, v, r * t) - logShiftedSum(l, v, 0));
}
