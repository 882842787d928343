/**
 * The vector field of the equivariant continuous flow for real scalar fields (Gerdes, de Haan,
 * Rainone, Bondesan, Cheng, arXiv 2207.00283; their Phi4CNF with its defaults):
 *
 *   v_x(φ, t) = Σ_y Σ_f K_f(y − x, t) · h_f(φ_y)                       (periodic, full-lattice kernel)
 *   h_f(φ)    = Σ_{k<K} A_fk · sin(ω_k φ) + A_fK · φ,   A = featureMix / (K+1)     (site-wise features)
 *   K_f(d, t) = Σ_τ w[o(d), f, τ] · a_τ(t),             a = (timeMix / (2J+1)) · e(t)
 *   e(t)      = (sin 2πjt, j = 1..J;  cos 2πjt, j = 1..J;  1)                       (Fourier in time)
 *
 * o(d) is the orbit of the offset d under reflections of each axis and permutations of equal
 * axes, so the kernel has the lattice's hypercubic symmetry (D4 in 2-d). Hence v is translation
 * equivariant (a convolution), hypercubic equivariant, and odd under φ → −φ (sin and φ are odd).
 *
 * The divergence is exact and cheap by construction: v_x sees φ_x only through the d = 0 term
 * of the convolution, and h is site-wise, so ∂v_x/∂φ_x = Σ_f K_f(0, t)·h_f′(φ_x) and
 *
 *   div v = Σ_x ∂v_x/∂φ_x = Σ_{k<K} c_k ω_k Σ_x cos(ω_k φ_x) + V·c_K,   c = Aᵀ K(0, t).
 *
 * Parameters (as the reference code initialises them): w [O, F, T] zeros, so the flow starts as
 * the identity; timeMix [T, 2J+1] and featureMix [F, K+1] orthogonal (orthonormal rows, or
 * columns if taller than wide); omega [K] uniform on [0, 5).
 */

import { type CnfConvKind, type CnfConvPlan, cnfConvPlan } from "../engine/fused/cnf-conv.js";
import {
  add,
  type DType,
  matmul,
  mul,
  type Params,
  reshape,
  scale,
  slice,
  split,
  type Tensor,
  tensor,
  zeros,
} from "../engine/index.js";
import { orbitConv } from "../engine/ops/orbit-conv.js";
import { sineFeatures } from "../engine/ops/sine-features.js";
import * as math from "../math/index.js";
import type { Rng } from "../rng/philox.js";

export interface VectorFieldConfig {
  latticeShape: readonly number[];
  /** K: frequencies ω_k of the site-wise features sin(ω_k φ) (the linear feature φ is added). */
  frequencies: number;
  /** J: time features 1, sin 2πjt, cos 2πjt for j = 1..J (J = 0: a field constant in time). */
  timeFrequencies: number;
  /** F: channels the site features are contracted to. */
  featureBond: number;
  /** T: channels the time features are contracted to. */
  timeBond: number;
}

/** Orbit index of every offset d (row-major over the lattice); the zero offset is orbit 0. */
export function offsetOrbits(shape: readonly number[]): { count: number; orbit: Int32Array } {
  const V = shape.reduce((a, b) => a * b, 1);
  const square = shape.every((L) => L === shape[0]);
  const keys = new Map<string, number>();
  const orbit = new Int32Array(V);
  const folded = new Array<number>(shape.length);
  for (let i = 0; i < V; i++) {
    let r = i;
    for (let a = shape.length - 1; a >= 0; a--) {
      const L = shape[a]!;
      const c = r % L;
      r = (r - c) / L;
      folded[a] = Math.min(c, L - c);
    }
    const key = (square ? [...folded].sort((p, q) => p - q) : folded).join(",");
    let o = keys.get(key);
    if (o === undefined) keys.set(key, (o = keys.size));
    orbit[i] = o;
  }
  return { count: keys.size, orbit };
}

/** idx[y·V + x] = o(y − x): the orbit of the kernel entry coupling site y to site x. */
function convolutionIndex(shape: readonly number[], orbit: Int32Array): Int32Array {
  const V = orbit.length;
  const coords = (i: number) => {
    const c = new Array<number>(shape.length);
    for (let a = shape.length - 1; a >= 0; a--) {
      c[a] = i % shape[a]!;
      i = Math.floor(i / shape[a]!);
    }
    return c;
  };
  const all = Array.from({ length: V }, (_, i) => coords(i));
  const idx = new Int32Array(V * V);
  for (let y = 0; y < V; y++)
    for (let x = 0; x < V; x++) {
      let d = 0;
      for (let a = 0; a < shape.length; a++) {
        const L = shape[a]!;
        d = d * L + ((((all[y]![a]! - all[x]![a]!) % L) + L) % L);
      }
      idx[y * V + x] = orbit[d]!;
    }
  return idx;
}

/** A rows × cols matrix with orthonormal rows (or columns, if rows > cols): Gram–Schmidt of normals. */
export function orthogonalInit(rng: Rng, rows: number, cols: number, dtype: DType): Tensor {
  const n = Math.min(rows, cols);
  const len = Math.max(rows, cols);
  const q = new Float64Array(n * len);
  rng.normal(q);
  for (let i = 0; i < n; i++) {
    const qi = q.subarray(i * len, (i + 1) * len);
    for (let j = 0; j < i; j++) {
      const qj = q.subarray(j * len, (j + 1) * len);
      let dot = 0;
      for (let e = 0; e < len; e++) dot += qi[e]! * qj[e]!;
      for (let e = 0; e < len; e++) qi[e]! -= dot * qj[e]!;
    }
    let norm = 0;
    for (let e = 0; e < len; e++) norm += qi[e]! * qi[e]!;
    norm = Math.sqrt(norm);
    for (let e = 0; e < len; e++) qi[e]! /= norm;
  }
  const out = zeros([rows, cols], dtype);
  // q holds n vectors of length len: the rows if rows ≤ cols, else the columns.
  for (let i = 0; i < n; i++)
    for (let e = 0; e < len; e++) out.data[rows <= cols ? i * cols + e : e * cols + i] = q[i * len + e]!;
  return out;
}

export class EquivariantVectorField {
  readonly volume: number;
  readonly orbits: number;
  /** Orbit of every offset d (row-major; orbit 0 is the zero offset). */
  readonly orbit: Int32Array;
  /** The op path's V² orbit index, made on first use. */
  private convIndex: Int32Array | null = null;
  private readonly plans = new Map<CnfConvKind, CnfConvPlan>();

  constructor(readonly config: VectorFieldConfig) {
    const { latticeShape: shape, frequencies, timeFrequencies, featureBond, timeBond } = config;
    for (const [k, v] of Object.entries({ frequencies, timeFrequencies, featureBond, timeBond }))
      if (!(Number.isInteger(v) && v >= (k === "timeFrequencies" ? 0 : 1)))
        throw new RangeError(`EquivariantVectorField: ${k} = ${v}`);
    this.volume = shape.reduce((a, b) => a * b, 1);
    const { count, orbit } = offsetOrbits(shape);
    this.orbits = count;
    this.orbit = orbit;
  }

  initParams(rng: Rng, dtype: DType): Params {
    const { frequencies: K, timeFrequencies: J, featureBond: F, timeBond: T } = this.config;
    const omega = zeros([K], dtype);
    for (let k = 0; k < K; k++) omega.data[k] = 5 * rng.uniform();
    return {
      w: zeros([this.orbits, F, T], dtype),
      timeMix: orthogonalInit(rng, T, 2 * J + 1, dtype),
      featureMix: orthogonalInit(rng, F, K + 1, dtype),
      omega,
    };
  }

  /** e(t) = (sin 2πjt, j = 1..J; cos 2πjt, j = 1..J; 1) as a column [2J+1, 1]. */
  private timeFeatures(t: number, dtype: DType): Tensor {
    const J = this.config.timeFrequencies;
    const e = new Float64Array(2 * J + 1);
    for (let j = 1; j <= J; j++) {
      e[j - 1] = math.sin(2 * Math.PI * j * t);
      e[J + j - 1] = math.cos(2 * Math.PI * j * t);
    }
    e[2 * J] = 1;
    return tensor(e, [2 * J + 1, 1], dtype);
  }

  /** The kernel K_f(o, t) [O, F]. */
  kernel(params: Params, t: number, dtype: DType): Tensor {
    const { timeFrequencies: J, featureBond: F, timeBond: T } = this.config;
    const { w, timeMix } = params as Record<string, Tensor>;
    const a = matmul(scale(timeMix!, 1 / (2 * J + 1)), this.timeFeatures(t, dtype)); // [T, 1]
    return reshape(matmul(reshape(w!, [this.orbits * F, T]), a), [this.orbits, F]);
  }

  /** The feature mixing A = featureMix / (K+1) [F, K+1]. */
  mixing(params: Params): Tensor {
    return scale(params.featureMix!, 1 / (this.config.frequencies + 1));
  }

  /** The fused path's convolution plan (engine/fused/cnf-conv.ts), made once per kind. */
  convPlan(kind: CnfConvKind): CnfConvPlan {
    let p = this.plans.get(kind);
    if (!p)
      this.plans.set(
        kind,
        (p = cnfConvPlan(kind, this.config.latticeShape, this.orbit, this.orbits, this.config.featureBond)),
      );
    return p;
  }

  /** v(φ, t) [B, ...sites] and its exact divergence div v [B], from ordinary ops (the reference path). */
  evaluate(params: Params, phi: Tensor, t: number): { v: Tensor; div: Tensor } {
    const { frequencies: K, featureBond: F } = this.config;
    const V = this.volume;
    const B = phi.shape[0]!;
    const { omega } = params as Record<string, Tensor>;
    const kern = this.kernel(params, t, phi.dtype);
    const A = this.mixing(params);
    const { h, cosSums } = sineFeatures(phi, omega!, A);
    this.convIndex ??= convolutionIndex(this.config.latticeShape, this.orbit);
    const v = reshape(orbitConv(reshape(h, [B, V, F]), kern, this.convIndex), phi.shape);
    const [cSin, cLin] = split(matmul(slice(kern, 0, 0, 1), A), 1, [K, 1]); // c = Aᵀ K(0, t)
    const cw = reshape(mul(cSin!, reshape(omega!, [1, K])), [K, 1]);
    const div = add(reshape(matmul(cosSums, cw), [B]), reshape(scale(cLin!, V), [1]));
    return { v, div };
  }
}
