/**
 * Per-configuration observables of the Ising model, from spins or from the continuous relaxation
 * of NeuralRG (Li & Wang, "Neural Network Renormalization Group", PRL 121 (2018) 260601,
 * arXiv:1802.02840; src/theories/ising.ts). Plain typed arrays; a batch of n configurations is
 * one flat row-major array of n·N values (N = Π L_μ sites, last axis fastest).
 *
 * Model: s = ±1 on a periodic `latticeShape` (every extent ≥ 2: extent 1 would make the bond
 * (x, x+μ̂) a self-loop), one bond (x, x+μ̂) per site x and axis μ (an extent-2 axis has each
 * neighbour pair twice, kept so), H = −J Σ_bonds s_x s_{x+μ̂}, weight e^{−H/T}.
 *
 *   m = (1/N) Σ_x s_x,   e = H/N   (energy per site).
 *
 * Relaxation: x ∈ ℝ^N with p(x, s) ∝ exp(−½ xᵀK⁻¹x + sᵀx), K = J·Adj/T + c·I. Given x the spins
 * are independent, P(s_i = +1 | x) = σ(2x_i) = (1 + tanh x_i)/2, ⟨s_i | x⟩ = t_i = tanh x_i, and
 * the s-marginal is exactly the Ising distribution. So for any spin observable O, the conditional
 * expectation ⟨O | x⟩ is an unbiased estimator of ⟨O⟩_Ising with no more variance than O on a
 * spin configuration drawn from x (Rao–Blackwell). With S = Σ s_i and the cumulants of the
 * independent s_i (κ₁ = t, κ₂ = 1 − t², κ₃ = −2t(1 − t²), κ₄ = −2(1 − t²)(1 − 3t²)), summed
 * over sites as K₁…K₄:
 *
 *   ⟨m | x⟩   = (1/N) Σ t_i
 *   ⟨m² | x⟩  = (Σt/N)² − Σt²/N² + 1/N                      (NeuralRG's structure factor)
 *   ⟨m⁴ | x⟩  = (K₄ + 4K₃K₁ + 3K₂² + 6K₂K₁² + K₁⁴)/N⁴        (moments from cumulants)
 *   ⟨e | x⟩   = −(J/N) Σ_bonds t_i t_j                        (i ≠ j on every bond, extents ≥ 2)
 *   ⟨e² | x⟩  = ⟨e | x⟩² + (J²/N²) Var(B | x),   B = Σ_bonds s_i s_j,
 *     Var(B | x) = Σ_i (1 − t_i²) h_i² + Σ_bonds m_μ (1 − t_i²)(1 − t_j²),
 *     h_i = Σ_μ (t_{i+μ̂} + t_{i−μ̂}),  m_μ = 2 if L_μ = 2 else 1.
 *
 * (Var B: bond pairs sharing one site i contribute t_j t_k (1 − t_i²), summed in the first term;
 * pairs of instances of the same site pair contribute 1 − t_i²t_j², which the first term counts
 * at both ends as t_j²(1 − t_i²) + t_i²(1 − t_j²), short by (1 − t_i²)(1 − t_j²); an extent-2 pair
 * has 2 instances, so 4 ordered pairs, 2 per instance.) |m| has no such closed form: draw spins
 * from x (`drawSpins`) and use `spinMagnetization`.
 */
import * as math from "../math/index.js";
import { checkIsingLattice, neighbourTables } from "../theories/lattice.js";
import type { FloatArray } from "../theories/theory.js";

/** A source of uniform draws in [0, 1); `Rng` (src/rng/philox.ts) is one. */
export interface UniformSource {
  uniform(): number;
}

function checkJ(who: string, J: number): void {
  if (typeof J !== "number" || !Number.isFinite(J))
    throw new RangeError(`${who}: coupling J must be a finite number, got ${J}`);
}

function countConfigs(who: string, length: number, v: number): number {
  const n = length / v;
  if (!Number.isInteger(n))
    throw new RangeError(
      `${who}: ${length} values are not a whole number of configurations of N = ${v} sites`,
    );
  return n;
}

/** The bond list: bonds μ·N + x join x and fwd[μ·N + x] = x + μ̂; mult[μ] = 2 if L_μ = 2 else 1. */
interface Bonds {
  d: number;
  fwd: Int32Array;
  bwd: Int32Array;
  mult: Int8Array;
}

function bonds(latticeShape: readonly number[], v: number): Bonds {
  const { up, down } = neighbourTables(latticeShape);
  const d = latticeShape.length;
  const fwd = new Int32Array(d * v);
  const bwd = new Int32Array(d * v);
  for (let mu = 0; mu < d; mu++) {
    fwd.set(up[mu]!, mu * v);
    bwd.set(down[mu]!, mu * v);
  }
  return { d, fwd, bwd, mult: Int8Array.from(latticeShape, (L) => (L === 2 ? 2 : 1)) };
}

/** m = (1/N) Σ_x s_x per configuration (signed). */
export function spinMagnetization(spins: Int8Array, latticeShape: readonly number[]): Float64Array {
  const v = checkIsingLattice("spinMagnetization", latticeShape);
  const n = countConfigs("spinMagnetization", spins.length, v);
  const out = new Float64Array(n);
  for (let b = 0; b < n; b++) {
    let s = 0;
    const o = b * v;
    for (let x = 0; x < v; x++) s += spins[o + x]!;
    out[b] = s / v;
  }
  return out;
}

/** e = H/N = −(J/N) Σ_x Σ_μ s_x s_{x+μ̂} per configuration. */
export function spinEnergy(spins: Int8Array, latticeShape: readonly number[], J = 1): Float64Array {
  const v = checkIsingLattice("spinEnergy", latticeShape);
  checkJ("spinEnergy", J);
  const n = countConfigs("spinEnergy", spins.length, v);
  const { d, fwd } = bonds(latticeShape, v);
  const out = new Float64Array(n);
  for (let b = 0; b < n; b++) {
    let acc = 0;
    const o = b * v;
    for (let mu = 0; mu < d; mu++) {
      const m = mu * v;
      for (let x = 0; x < v; x++) acc += spins[o + x]! * spins[o + fwd[m + x]!]!;
    }
    out[b] = (-J * acc) / v;
  }
  return out;
}

/** The conditional expectations ⟨· | x⟩ of the module comment, one value per configuration each. */
export interface ImprovedIsingEstimators {
  /** ⟨m | x⟩ = Σt/N. */
  m: Float64Array;
  /** ⟨m² | x⟩. */
  m2: Float64Array;
  /** ⟨m⁴ | x⟩. */
  m4: Float64Array;
  /** ⟨e | x⟩, energy per site. */
  energy: Float64Array;
  /** ⟨e² | x⟩. */
  energy2: Float64Array;
}

type Which = { m2?: boolean; m4?: boolean; energy?: boolean; energy2?: boolean };

function improved(
  who: string,
  x: FloatArray,
  latticeShape: readonly number[],
  J: number,
  which: Which,
): ImprovedIsingEstimators {
  const v = checkIsingLattice(who, latticeShape);
  checkJ(who, J);
  const n = countConfigs(who, x.length, v);
  const needBonds = which.energy || which.energy2;
  const bd = needBonds ? bonds(latticeShape, v) : null;
  const empty = new Float64Array(0);
  const res: ImprovedIsingEstimators = {
    m: new Float64Array(n),
    m2: which.m2 ? new Float64Array(n) : empty,
    m4: which.m4 ? new Float64Array(n) : empty,
    energy: needBonds ? new Float64Array(n) : empty,
    energy2: which.energy2 ? new Float64Array(n) : empty,
  };
  const t = new Float64Array(v);
  for (let b = 0; b < n; b++) {
    const o = b * v;
    let k1 = 0;
    let t2 = 0;
    let k3 = 0;
    let k4 = 0;
    for (let i = 0; i < v; i++) {
      const ti = math.tanh(x[o + i]!);
      t[i] = ti;
      const q = ti * ti;
      k1 += ti;
      t2 += q;
      if (which.m4) {
        k3 += -2 * ti * (1 - q);
        k4 += -2 * (1 - q) * (1 - 3 * q);
      }
    }
    res.m[b] = k1 / v;
    if (which.m2) res.m2[b] = (k1 / v) * (k1 / v) - t2 / (v * v) + 1 / v;
    if (which.m4) {
      const k2 = v - t2;
      const k1sq = k1 * k1;
      const s4 = k4 + 4 * k3 * k1 + 3 * k2 * k2 + 6 * k2 * k1sq + k1sq * k1sq;
      res.m4[b] = s4 / (v * v) / (v * v);
    }
    if (bd) {
      const { d, fwd, bwd, mult } = bd;
      let bsum = 0;
      let pairVar = 0;
      for (let mu = 0; mu < d; mu++) {
        const m = mu * v;
        const mm = mult[mu]!;
        for (let i = 0; i < v; i++) {
          const ti = t[i]!;
          const tj = t[fwd[m + i]!]!;
          bsum += ti * tj;
          if (which.energy2) pairVar += mm * (1 - ti * ti) * (1 - tj * tj);
        }
      }
      const e = (-J * bsum) / v;
      res.energy[b] = e;
      if (which.energy2) {
        let siteVar = 0;
        for (let i = 0; i < v; i++) {
          let h = 0;
          for (let mu = 0; mu < d; mu++) h += t[fwd[mu * v + i]!]! + t[bwd[mu * v + i]!]!;
          siteVar += (1 - t[i]! * t[i]!) * h * h;
        }
        res.energy2[b] = e * e + (J * J * (siteVar + pairVar)) / (v * v);
      }
    }
  }
  return res;
}

/** All conditional expectations ⟨m|x⟩, ⟨m²|x⟩, ⟨m⁴|x⟩, ⟨e|x⟩, ⟨e²|x⟩ per configuration of `x`. */
export function improvedIsingEstimators(
  x: FloatArray,
  latticeShape: readonly number[],
  J = 1,
): ImprovedIsingEstimators {
  return improved("improvedIsingEstimators", x, latticeShape, J, {
    m2: true,
    m4: true,
    energy: true,
    energy2: true,
  });
}

/** ⟨m | x⟩ = (1/N) Σ tanh x_i per configuration. */
export function improvedMagnetization(x: FloatArray, latticeShape: readonly number[]): Float64Array {
  return improved("improvedMagnetization", x, latticeShape, 1, {}).m;
}

/** ⟨m² | x⟩ = (Σt/N)² − Σt²/N² + 1/N per configuration, t = tanh x. */
export function improvedM2(x: FloatArray, latticeShape: readonly number[]): Float64Array {
  return improved("improvedM2", x, latticeShape, 1, { m2: true }).m2;
}

/** ⟨m⁴ | x⟩ per configuration (module comment). */
export function improvedM4(x: FloatArray, latticeShape: readonly number[]): Float64Array {
  return improved("improvedM4", x, latticeShape, 1, { m4: true }).m4;
}

/** ⟨e | x⟩ = −(J/N) Σ_bonds tanh x_i tanh x_j per configuration (energy per site). */
export function improvedEnergy(x: FloatArray, latticeShape: readonly number[], J = 1): Float64Array {
  return improved("improvedEnergy", x, latticeShape, J, { energy: true }).energy;
}

/** ⟨e² | x⟩ per configuration (module comment). */
export function improvedEnergy2(x: FloatArray, latticeShape: readonly number[], J = 1): Float64Array {
  return improved("improvedEnergy2", x, latticeShape, J, { energy2: true }).energy2;
}

/**
 * Spins drawn from x: `n` independent draws of every site, P(s_i = +1) = σ(2x_i) = (1 + tanh x_i)/2
 * (stable for any |x|: tanh saturates at ±1). `x` is any number of values (typically a batch of
 * configurations); the result holds n·x.length spins, draw k of the whole of x at
 * [k·x.length, (k+1)·x.length), so n = 1 gives one spin configuration per configuration of x in
 * the same layout. One `rng.uniform()` per spin, draw by draw, site by site.
 */
export function drawSpins(x: FloatArray, n: number, rng: UniformSource): Int8Array {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`drawSpins: n (draws per site) must be an integer ≥ 1, got ${n}`);
  const len = x.length;
  const p = new Float64Array(len);
  for (let i = 0; i < len; i++) {
    const xi = x[i]!;
    if (Number.isNaN(xi)) throw new RangeError(`drawSpins: x[${i}] is NaN`);
    p[i] = 0.5 * (1 + math.tanh(xi));
  }
  const out = new Int8Array(n * len);
  for (let k = 0; k < n; k++) {
    const o = k * len;
    for (let i = 0; i < len; i++) out[o + i] = rng.uniform() < p[i]! ? 1 : -1;
  }
  return out;
}
