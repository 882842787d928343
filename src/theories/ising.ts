/**
 * The Ising model through NeuralRG's continuous relaxation (arXiv 1802.02840; the
 * Hubbard–Stratonovich form of wangleiphy/MongeAmpereFlow, arXiv 1809.10188):
 *
 *   Ising:       p(s) ∝ exp(½ sᵀ (Adj/T) s),  s ∈ {±1}^N   (= exp(Σ_bonds s_i s_j / T), J = 1)
 *   relaxation:  p(x) ∝ e^{−S(x)},  S(x) = ½ xᵀK⁻¹x − Σ_i ln cosh x_i,   x ∈ ℝ^N
 *   with K = Adj/T + c·I positive definite, c = 0.1 − λ_min(Adj)/T (NeuralRG's offset).
 *
 * Adj counts the bonds (x, x+μ̂) of every site and axis (periodic: extent 2 doubles a bond;
 * open: none across the edge). Jointly p(x, s) ∝ exp(−½xᵀK⁻¹x + sᵀx): given x the spins are
 * independent with ⟨s_i⟩ = tanh x_i; given s, x ~ N(Ks, K). Summing over s (docs/physics.md):
 *
 *   ln Z_Ising = ln Z_x + ½N(ln 4 − c − ln 2π) − ½ ln det K,    Z_x = ∫ dx e^{−S(x)}.
 *
 * Adj is a sum over axes of 1-d adjacencies (ring or path), so K is diagonal in the product of
 * their real orthonormal eigenbases: ring a_k = 2cos(2πk/L) (cos/sin modes), path
 * a_k = 2cos(πk/(L+1)) (sine modes). K⁻¹x is computed there in O(N·Σ L_μ), not O(N²), and
 * ln det K = Σ_k ln κ_k, κ_k = Σ_μ a_{k_μ}/T + c, exactly.
 *
 * Force: F = −∂S/∂x = −K⁻¹x + tanh x.
 */
import * as math from "../math/index.js";
import { latticeVolume } from "./lattice.js";
import type { FloatArray, Theory } from "./theory.js";

export type IsingBoundary = "periodic" | "open";

export interface IsingParams {
  latticeShape: readonly number[];
  /** Temperature (J = 1). */
  T: number;
  boundary: IsingBoundary;
}

/** NeuralRG's smallest eigenvalue of K. */
export const ISING_RELAXATION_GAP = 0.1;

/** A 1-d adjacency's orthonormal eigenbasis: u[i·L + k] = k-th eigenvector at i; a[k] its eigenvalue. */
interface AxisBasis {
  n: number;
  u: Float64Array;
  a: Float64Array;
}

function axisBasis(n: number, boundary: IsingBoundary): AxisBasis {
  const u = new Float64Array(n * n);
  const a = new Float64Array(n);
  if (boundary === "open") {
    // Path: u_k(i) = √(2/(n+1)) sin(π(k+1)(i+1)/(n+1)), a_k = 2cos(π(k+1)/(n+1)).
    const norm = Math.sqrt(2 / (n + 1));
    for (let k = 0; k < n; k++) {
      a[k] = 2 * math.cos((Math.PI * (k + 1)) / (n + 1));
      for (let i = 0; i < n; i++) u[i * n + k] = norm * math.sin((Math.PI * (k + 1) * (i + 1)) / (n + 1));
    }
    return { n, u, a };
  }
  // Ring (bond (i, i+1 mod n) per site): mode 0 constant, cos/sin pairs, and (−1)^i for even n.
  const c = Math.sqrt(2 / n);
  let col = 0;
  const put = (eig: number, f: (i: number) => number) => {
    a[col] = eig;
    for (let i = 0; i < n; i++) u[i * n + col] = f(i);
    col++;
  };
  put(2, () => 1 / Math.sqrt(n));
  for (let k = 1; 2 * k < n; k++) {
    const w = (2 * Math.PI * k) / n;
    put(2 * math.cos(w), (i) => c * math.cos(w * i));
    put(2 * math.cos(w), (i) => c * math.sin(w * i));
  }
  if (n % 2 === 0) put(-2, (i) => (i % 2 === 0 ? 1 : -1) / Math.sqrt(n));
  return { n, u, a };
}

export class IsingRelaxedTheory implements Theory {
  readonly latticeShape: readonly number[];
  readonly configShape: readonly number[];
  readonly size: number;
  readonly T: number;
  readonly boundary: IsingBoundary;
  /** c = 0.1 − λ_min(Adj)/T. */
  readonly offset: number;
  /** ln det K. */
  readonly logDetK: number;
  /** ln Z_Ising − ln Z_x = ½N(ln 4 − c − ln 2π) − ½ ln det K. */
  readonly logZShift: number;
  /** S(−x) = S(x): every term is even in the field. */
  readonly z2Symmetric = true;
  private readonly bases: AxisBasis[];
  /** 1/κ_k per mode, row-major over the axes' mode indices. */
  private readonly invKappa: Float64Array;
  private readonly work: Float64Array;
  private readonly work2: Float64Array;

  constructor({ latticeShape, T, boundary }: IsingParams) {
    if (!Array.isArray(latticeShape) || latticeShape.length < 1 || latticeShape.length > 4)
      throw new RangeError(
        `Ising: latticeShape must have 1 to 4 dimensions, got ${JSON.stringify(latticeShape)}`,
      );
    for (const n of latticeShape)
      if (!Number.isInteger(n) || n < 2)
        throw new RangeError(
          `Ising: lattice extents must be integers ≥ 2, got ${JSON.stringify(latticeShape)}`,
        );
    if (!(T > 0) || !Number.isFinite(T)) throw new RangeError(`Ising: T must be finite and > 0, got ${T}`);
    if (boundary !== "periodic" && boundary !== "open")
      throw new RangeError(`Ising: boundary must be 'periodic' or 'open', got ${String(boundary)}`);
    this.latticeShape = Object.freeze([...latticeShape]);
    this.configShape = this.latticeShape;
    this.size = latticeVolume(latticeShape);
    this.T = T;
    this.boundary = boundary;
    this.bases = latticeShape.map((n) => axisBasis(n, boundary));
    let lmin = 0;
    for (const b of this.bases) lmin += Math.min(...b.a);
    this.offset = ISING_RELAXATION_GAP - lmin / T;
    this.invKappa = new Float64Array(this.size);
    let logDet = 0;
    const d = latticeShape.length;
    const idx = new Array<number>(d).fill(0);
    for (let m = 0; m < this.size; m++) {
      let lam = 0;
      for (let k = 0; k < d; k++) lam += this.bases[k]!.a[idx[k]!]!;
      const kappa = lam / T + this.offset;
      this.invKappa[m] = 1 / kappa;
      logDet += math.log(kappa);
      for (let k = d - 1; k >= 0; k--) {
        if (++idx[k]! < latticeShape[k]!) break;
        idx[k] = 0;
      }
    }
    this.logDetK = logDet;
    const n = this.size;
    this.logZShift = 0.5 * n * (math.log(4) - this.offset - math.log(2 * Math.PI)) - 0.5 * logDet;
    this.work = new Float64Array(n);
    this.work2 = new Float64Array(n);
  }

  /**
   * Apply Uᵀ (toModes) or U (fromModes) along every axis to v (length N), in place via the
   * work buffer. U is orthogonal, so fromModes(toModes(v)) = v.
   */
  private transform(v: Float64Array, toModes: boolean): void {
    const shape = this.latticeShape;
    let src = v;
    let dst = this.work2;
    let inner = this.size;
    for (let ax = 0; ax < shape.length; ax++) {
      const { n, u } = this.bases[ax]!;
      inner /= n;
      const outer = this.size / (n * inner);
      for (let o = 0; o < outer; o++) {
        for (let q = 0; q < inner; q++) {
          const base = o * n * inner + q;
          for (let k = 0; k < n; k++) {
            let acc = 0;
            if (toModes) for (let i = 0; i < n; i++) acc += u[i * n + k]! * src[base + i * inner]!;
            else for (let i = 0; i < n; i++) acc += u[k * n + i]! * src[base + i * inner]!;
            dst[base + k * inner] = acc;
          }
        }
      }
      const t = src;
      src = dst;
      dst = t;
    }
    if (src !== v) v.set(src);
  }

  /** K⁻¹x for one configuration x (length N) into out. */
  private applyKinv(x: FloatArray, offset: number, out: Float64Array): void {
    const v = this.work;
    for (let i = 0; i < this.size; i++) v[i] = x[offset + i]!;
    this.transform(v, true);
    for (let i = 0; i < this.size; i++) v[i]! *= this.invKappa[i];
    this.transform(v, false);
    out.set(v);
  }

  action(x: FloatArray, batch: number, out?: Float64Array): Float64Array {
    const n = this.size;
    const res = checkBuffers(x, batch, n, 1, out);
    const v = this.work;
    for (let b = 0; b < batch; b++) {
      const o = b * n;
      for (let i = 0; i < n; i++) v[i] = x[o + i]!;
      this.transform(v, true);
      let quad = 0;
      for (let i = 0; i < n; i++) quad += v[i]! * v[i]! * this.invKappa[i]!;
      let lc = 0;
      for (let i = 0; i < n; i++) lc += logCosh(x[o + i]!);
      res[b] = 0.5 * quad - lc;
    }
    return res;
  }

  force(x: FloatArray, batch: number, out?: Float64Array): Float64Array {
    const n = this.size;
    const res = checkBuffers(x, batch, n, n, out);
    const kx = new Float64Array(n);
    for (let b = 0; b < batch; b++) {
      const o = b * n;
      this.applyKinv(x, o, kx);
      for (let i = 0; i < n; i++) res[o + i] = math.tanh(x[o + i]!) - kx[i]!;
    }
    return res;
  }

  /**
   * The relaxation's field given its spins, x = Ks + K^{1/2}z ~ N(Ks, K) (the Gibbs half-step of
   * p(x, s) ∝ exp(−½xᵀK⁻¹x + sᵀx)), written into `out`. In the mode basis K = U diag(κ) Uᵀ, so
   * x = U(κ ⊙ Uᵀs + √κ ⊙ z) with z = `normals`, N standard normal draws. Spins drawn from the
   * Ising model (Wolff) turn into exact draws of p(x) this way.
   */
  fieldGivenSpins(spins: ArrayLike<number>, normals: ArrayLike<number>, out: Float64Array): void {
    const n = this.size;
    if (spins.length !== n || normals.length !== n || out.length !== n)
      throw new RangeError(
        `fieldGivenSpins: spins, normals and out must each hold N = ${n} values, got ${spins.length}, ${normals.length}, ${out.length}`,
      );
    for (let i = 0; i < n; i++) out[i] = spins[i]!;
    this.transform(out, true);
    for (let k = 0; k < n; k++) {
      const kappa = 1 / this.invKappa[k]!;
      out[k] = kappa * out[k]! + Math.sqrt(kappa) * normals[k]!;
    }
    this.transform(out, false);
  }

  /** The dense K (N × N, row-major): for tests and small lattices. */
  denseK(): Float64Array {
    const n = this.size;
    const k = new Float64Array(n * n);
    const e = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      e.fill(0);
      e[j] = 1;
      this.transform(e, true);
      for (let i = 0; i < n; i++) e[i]! /= this.invKappa[i];
      this.transform(e, false);
      for (let i = 0; i < n; i++) k[i * n + j] = e[i]!;
    }
    return k;
  }
}

/** ln cosh x = |x| + ln(1 + e^{−2|x|}) − ln 2, without overflow. */
export function logCosh(x: number): number {
  const a = Math.abs(x);
  return a + math.log1p(math.exp(-2 * a)) - Math.LN2;
}

function checkBuffers(
  x: FloatArray,
  batch: number,
  v: number,
  per: number,
  out: Float64Array | undefined,
): Float64Array {
  if (!Number.isInteger(batch) || batch < 0)
    throw new RangeError(`batch must be an integer ≥ 0, got ${batch}`);
  if (x.length < batch * v) throw new RangeError(`x has ${x.length} values, need batch·N = ${batch}·${v}`);
  const n = batch * per;
  if (out === undefined) return new Float64Array(n);
  if (out.length < n) throw new RangeError(`out has ${out.length} values, need ${n}`);
  return out;
}
