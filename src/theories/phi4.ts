/**
 * Real scalar φ⁴ theory on a periodic hypercubic lattice, in the normalisation of
 * Albergo, Kanwar, Shanahan, arXiv:1904.12072 (and the notebook's `ScalarPhi4Action`):
 *
 *   S(φ) = Σ_x [ m²φ(x)² + λφ(x)⁴ + Σ_μ (2φ(x)² − φ(x)φ(x+μ̂) − φ(x)φ(x−μ̂)) ]
 *        = Σ_x [ (m² + 2d)φ(x)² + λφ(x)⁴ − 2 Σ_μ φ(x)φ(x+μ̂) ]          (periodicity)
 *
 * with p(φ) ∝ e^{−S(φ)}. The force is
 *
 *   F(x) = −∂S/∂φ(x) = −2(m² + 2d)φ(x) − 4λφ(x)³ + 2 Σ_μ [φ(x+μ̂) + φ(x−μ̂)],
 *
 * both neighbour terms contributing because φ(x) appears in the hopping term of x and of x±μ̂.
 * The formulas hold for any extent ≥ 1 (extent 1: x±μ̂ = x; extent 2: x+μ̂ = x−μ̂).
 *
 * Hopping parametrisation (Lüscher & Weisz, Nucl. Phys. B290 (1987) 25):
 *   S̃(φ̃) = Σ_x [ −2κ Σ_μ φ̃(x)φ̃(x+μ̂) + φ̃(x)² + λ̃(φ̃(x)² − 1)² ].
 * Substituting φ = √κ·φ̃ into S and matching coefficients of φ̃φ̃', φ̃², φ̃⁴:
 *   −2κ = −2κ ✓,   (m² + 2d)κ = 1 − 2λ̃,   λκ² = λ̃,
 * so m² = (1 − 2λ̃)/κ − 2d, λ = λ̃/κ², and S(√κ·φ̃) = S̃(φ̃) − λ̃V (a φ-independent constant).
 * (φ = √(2κ)·φ̃ is the relation for the canonically normalised ½(∂φ)² field φ_c = √2·φ.)
 */

import { latticeVolume, neighbourTables } from "./lattice.js";
import type { FloatArray, Theory } from "./theory.js";

export interface Phi4Params {
  latticeShape: readonly number[];
  m2: number;
  lam: number;
}

export class Phi4Theory implements Theory {
  readonly latticeShape: readonly number[];
  /** One real number per site: the lattice's shape. */
  readonly configShape: readonly number[];
  readonly size: number;
  readonly m2: number;
  readonly lam: number;
  readonly dim: number;
  /** S(−x) = S(x): every term is even in the field. */
  readonly z2Symmetric = true;
  /** fwd[x·d + μ] = x + μ̂. */
  private readonly fwd: Int32Array;
  /** nbr[x·2d + 2μ] = x + μ̂, nbr[x·2d + 2μ + 1] = x − μ̂. */
  private readonly nbr: Int32Array;

  constructor({ latticeShape, m2, lam }: Phi4Params) {
    validateShape(latticeShape);
    if (!Number.isFinite(m2)) throw new RangeError(`Phi4Theory: m2 must be a finite number, got ${m2}`);
    if (!Number.isFinite(lam) || lam < 0) {
      throw new RangeError(
        `Phi4Theory: lam must be finite and ≥ 0 (else e^{-S} is not normalisable), got ${lam}`,
      );
    }
    if (lam === 0 && m2 <= 0) {
      throw new RangeError(
        `Phi4Theory: with lam = 0 the free theory needs m2 > 0 (zero mode), got m2 = ${m2}`,
      );
    }
    this.latticeShape = Object.freeze([...latticeShape]);
    this.configShape = this.latticeShape;
    this.m2 = m2;
    this.lam = lam;
    const d = latticeShape.length;
    this.dim = d;
    const v = latticeVolume(latticeShape);
    this.size = v;
    const { up, down } = neighbourTables(latticeShape);
    this.fwd = new Int32Array(v * d);
    this.nbr = new Int32Array(v * 2 * d);
    for (let x = 0; x < v; x++) {
      for (let mu = 0; mu < d; mu++) {
        this.fwd[x * d + mu] = up[mu]![x]!;
        this.nbr[x * 2 * d + 2 * mu] = up[mu]![x]!;
        this.nbr[x * 2 * d + 2 * mu + 1] = down[mu]![x]!;
      }
    }
  }

  action(phi: FloatArray, batch: number, out?: Float64Array): Float64Array {
    const v = this.size;
    const d = this.dim;
    const res = checkBuffers(phi, batch, v, 1, out);
    const c2 = this.m2 + 2 * d;
    const lam = this.lam;
    const fwd = this.fwd;
    for (let b = 0; b < batch; b++) {
      const o = b * v;
      let s = 0;
      for (let x = 0; x < v; x++) {
        const p = phi[o + x]!;
        const p2 = p * p;
        let hop = 0;
        const k = x * d;
        for (let mu = 0; mu < d; mu++) hop += phi[o + fwd[k + mu]!]!;
        s += p2 * (c2 + lam * p2) - 2 * p * hop;
      }
      res[b] = s;
    }
    return res;
  }

  force(phi: FloatArray, batch: number, out?: Float64Array): Float64Array {
    const v = this.size;
    const d2 = 2 * this.dim;
    const res = checkBuffers(phi, batch, v, v, out);
    const diag = 2 * (this.m2 + 2 * this.dim);
    const quart = 4 * this.lam;
    const nbr = this.nbr;
    for (let b = 0; b < batch; b++) {
      const o = b * v;
      for (let x = 0; x < v; x++) {
        const p = phi[o + x]!;
        let hop = 0;
        const k = x * d2;
        for (let j = 0; j < d2; j++) hop += phi[o + nbr[k + j]!]!;
        res[o + x] = 2 * hop - p * (diag + quart * p * p);
      }
    }
    return res;
  }

  /**
   * Per-site action density s(x) of the notebook, Σ_x s(x) = S:
   * s(x) = m²φ² + λφ⁴ + Σ_μ (2φ² − φ(x)φ(x+μ̂) − φ(x)φ(x−μ̂)). Layout as `phi`.
   */
  actionDensity(phi: FloatArray, batch: number, out?: Float64Array): Float64Array {
    const v = this.size;
    const d2 = 2 * this.dim;
    const res = checkBuffers(phi, batch, v, v, out);
    const c2 = this.m2 + 2 * this.dim;
    const lam = this.lam;
    const nbr = this.nbr;
    for (let b = 0; b < batch; b++) {
      const o = b * v;
      for (let x = 0; x < v; x++) {
        const p = phi[o + x]!;
        const p2 = p * p;
        let hop = 0;
        const k = x * d2;
        for (let j = 0; j < d2; j++) hop += phi[o + nbr[k + j]!]!;
        res[o + x] = p2 * (c2 + lam * p2) - p * hop;
      }
    }
    return res;
  }
}

function validateShape(shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4) {
    throw new RangeError(
      `Phi4Theory: latticeShape must have 1 to 4 dimensions, got ${JSON.stringify(shape)}`,
    );
  }
  for (const n of shape) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`Phi4Theory: lattice extents must be integers ≥ 1, got ${JSON.stringify(shape)}`);
    }
  }
}

/** Checks `phi` holds `batch` configurations of `v` sites and returns `out` (or a new array) of batch·per. */
function checkBuffers(
  phi: FloatArray,
  batch: number,
  v: number,
  per: number,
  out: Float64Array | undefined,
): Float64Array {
  if (!Number.isInteger(batch) || batch < 0)
    throw new RangeError(`batch must be an integer ≥ 0, got ${batch}`);
  if (phi.length < batch * v) {
    throw new RangeError(`phi has ${phi.length} values, need batch·V = ${batch}·${v}`);
  }
  const n = batch * per;
  if (out === undefined) return new Float64Array(n);
  if (out.length < n) throw new RangeError(`out has ${out.length} values, need ${n}`);
  return out;
}

/** Hopping-parametrisation couplings (Lüscher–Weisz form, see the file comment). */
export interface HoppingParams {
  kappa: number;
  lambdaTilde: number;
}

/**
 * Notebook couplings equivalent to the hopping form in `dim` dimensions:
 * m² = (1 − 2λ̃)/κ − 2d, λ = λ̃/κ², and φ = fieldScale·φ̃ with fieldScale = √κ.
 * Then S(fieldScale·φ̃) = S̃(φ̃) − λ̃·V.
 */
export function hoppingToNotebook({ kappa, lambdaTilde, dim }: HoppingParams & { dim: number }): {
  m2: number;
  lam: number;
  fieldScale: number;
} {
  checkDim(dim);
  if (!(kappa > 0) || !Number.isFinite(kappa))
    throw new RangeError(`kappa must be finite and > 0, got ${kappa}`);
  if (!(lambdaTilde >= 0) || !Number.isFinite(lambdaTilde)) {
    throw new RangeError(`lambdaTilde must be finite and ≥ 0, got ${lambdaTilde}`);
  }
  return {
    m2: (1 - 2 * lambdaTilde) / kappa - 2 * dim,
    lam: lambdaTilde / (kappa * kappa),
    fieldScale: Math.sqrt(kappa),
  };
}

/**
 * Inverse of `hoppingToNotebook`: κ is the positive root of 2λκ² + (m² + 2d)κ − 1 = 0,
 * κ = 2 / (b + √(b² + 8λ)) with b = m² + 2d (stable for λ → 0), and λ̃ = λκ².
 * E.g. the notebook's m² = −4, λ = 8 in d = 2 is κ = 1/4, λ̃ = 1/2.
 */
export function notebookToHopping({
  m2,
  lam,
  dim,
}: {
  m2: number;
  lam: number;
  dim: number;
}): HoppingParams & { fieldScale: number } {
  checkDim(dim);
  if (!Number.isFinite(m2)) throw new RangeError(`m2 must be finite, got ${m2}`);
  if (!(lam >= 0) || !Number.isFinite(lam)) throw new RangeError(`lam must be finite and ≥ 0, got ${lam}`);
  const b = m2 + 2 * dim;
  const denom = b + Math.sqrt(b * b + 8 * lam);
  if (!(denom > 0)) throw new RangeError(`no positive kappa for lam = 0 and m2 + 2d = ${b} ≤ 0`);
  const kappa = 2 / denom;
  return { kappa, lambdaTilde: lam * kappa * kappa, fieldScale: Math.sqrt(kappa) };
}

function checkDim(dim: number): void {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be an integer ≥ 1, got ${dim}`);
}
