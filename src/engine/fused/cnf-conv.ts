/**
 * The continuous flow's full-lattice convolution (arXiv 2207.00283) on raw arrays, for
 * cnf-field.ts: v[b, x] = Σ_y Σ_f k[o(y − x), f] · h[b, y, f], with o the orbit of an offset
 * under the lattice's reflections and axis permutations (orbit 0: the zero offset), and its
 * backward (ḡh, and ḡk summed into a float64 accumulator). Two ways:
 *
 *  - dense: h [B][V·F] times the V·F × V matrix M[(y, f), x] = k[o(y − x), f] (built per call;
 *    V² per feature and sample, so for small lattices);
 *  - fft: the kernel is even in every axis (reflections are in the group), so its DFT
 *    k̂_f(p) = Σ_o k[o, f] E_o(p), E_o(p) = Σ_{d ∈ o} cos(p·d), is real, and v̂_b = Σ_f k̂_f ĥ_bf.
 *    A real kernel acts on real and imaginary parts alike, so two samples ride in one complex
 *    plane, h_b + i h_{b+1}, and nothing needs unpacking: F forward transforms and one inverse
 *    per pair of samples. Backward: ĝh = k̂ ĝv (F inverse transforms) and
 *    ḡk[o, f] = (1/V) Σ_p E_o(p) Σ_pairs Re(ĥ_f(p) conj ĝv(p)) (Parseval; ĥ recomputed).
 *    Spectra stay in the transform's digit-reversed order (cnf-fft.ts); E is stored in it.
 *
 * Layouts. Features h, F per row: rows in site order, row = x·Bp + b with Bp = B rounded up
 * to even (a zero sample pads an odd batch), so at each site the samples' features are one
 * contiguous vector of complex blocks [pair q][re f… | im f…] (re: sample 2q, im: 2q + 1),
 * straight out of the feature gemm. Per-sample planes (v, ḡv) in the fft path: [x][re q… |
 * im q…], one complex block of Bp/2 per site. The dense path transposes h to [B][V·F] and back.
 */
import * as math from "../../math/index.js";
import { gemm } from "../ops/matmul.js";
import { acquire, release } from "../pool.js";
import type { DType, FloatArray } from "../tensor.js";
import { fftLattice, type LatticeFft, latticeFft } from "./cnf-fft.js";

export type CnfConvKind = "dense" | "fft";

export interface CnfConvPlan {
  kind: CnfConvKind;
  shape: readonly number[];
  V: number;
  O: number;
  F: number;
  /** dense: index[y·V + x] = o(y − x). */
  index: Int32Array | null;
  /** fft: the transform, and E/V [V, O] in its output order, per dtype. */
  fft: LatticeFft | null;
  E: { float64: Float64Array; float32: Float32Array } | null;
}

function coords(i: number, shape: readonly number[], out: number[]): void {
  for (let a = shape.length - 1; a >= 0; a--) {
    const L = shape[a]!;
    out[a] = i % L;
    i = (i - out[a]!) / L;
  }
}

/** `orbit[d]` is the orbit of offset d (row-major), O orbits, F feature channels. */
export function cnfConvPlan(
  kind: CnfConvKind,
  shape: readonly number[],
  orbit: Int32Array,
  O: number,
  F: number,
): CnfConvPlan {
  const V = orbit.length;
  const cy = new Array<number>(shape.length);
  const cx = new Array<number>(shape.length);
  if (kind === "dense") {
    const index = new Int32Array(V * V);
    for (let y = 0; y < V; y++) {
      coords(y, shape, cy);
      for (let x = 0; x < V; x++) {
        coords(x, shape, cx);
        let d = 0;
        for (let a = 0; a < shape.length; a++)
          d = d * shape[a]! + ((cy[a]! - cx[a]! + shape[a]!) % shape[a]!);
        index[y * V + x] = orbit[d]!;
      }
    }
    return { kind, shape, V, O, F, index, fft: null, E: null };
  }
  // E[pos, o] = (1/V) Σ_{d ∈ o} cos(2π Σ_a p_a d_a / L_a), p the frequency at pos; phases mod 1.
  const fft = latticeFft(shape);
  const E = new Float64Array(V * O);
  for (let pos = 0; pos < V; pos++) {
    coords(fft.frequencyAt[pos]!, shape, cy);
    for (let d = 0; d < V; d++) {
      coords(d, shape, cx);
      let phase = 0;
      for (let a = 0; a < shape.length; a++) phase += ((cy[a]! * cx[a]!) % shape[a]!) / shape[a]!;
      E[pos * O + orbit[d]!]! += math.cos(2 * Math.PI * (phase - Math.floor(phase))) / V;
    }
  }
  return { kind, shape, V, O, F, index: null, fft, E: { float64: E, float32: Float32Array.from(E) } };
}

/** Bp: the batch the feature rows hold (even). */
export function paddedBatch(B: number): number {
  return B + (B & 1);
}

/** Where sample b of a per-sample plane sits within a site's Bp numbers. */
function slot(b: number, Bp: number): number {
  return (b & 1) * (Bp >> 1) + (b >> 1);
}

/** h [V][Bp][F] ↔ hs [B][V][F]. */
function toSamples(h: FloatArray, hs: FloatArray, B: number, V: number, F: number): void {
  const Bp = paddedBatch(B);
  for (let b = 0; b < B; b++)
    for (let x = 0; x < V; x++) {
      const from = (x * Bp + b) * F;
      hs.set(h.subarray(from, from + F), (b * V + x) * F);
    }
}

function fromSamples(hs: FloatArray, h: FloatArray, B: number, V: number, F: number): void {
  const Bp = paddedBatch(B);
  for (let b = 0; b < B; b++)
    for (let x = 0; x < V; x++) {
      const to = (x * Bp + b) * F;
      h.set(hs.subarray((b * V + x) * F, (b * V + x + 1) * F), to);
    }
  if (Bp > B) for (let x = 0; x < V; x++) h.fill(0, (x * Bp + B) * F, (x * Bp + Bp) * F);
}

function denseMatrix(plan: CnfConvPlan, k: FloatArray, M: FloatArray): void {
  const { V, F } = plan;
  const index = plan.index!;
  for (let y = 0; y < V; y++)
    for (let x = 0; x < V; x++) {
      const o = index[y * V + x]! * F;
      const base = y * F * V + x;
      for (let f = 0; f < F; f++) M[base + f * V] = k[o + f]!;
    }
}

/** k̂ [V, F] in the spectrum's order: (E/V)·k. */
function kernelHat(plan: CnfConvPlan, k: FloatArray, dtype: DType): FloatArray {
  const { V, O, F } = plan;
  const kh = acquire(dtype, V * F);
  gemm({ m: V, n: F, p: O, a: plan.E![dtype], aT: false, b: k, bT: false, bias: null }, kh);
  return kh;
}

/** v [B·V] (sample-major) from h [V][Bp][F] (the fft path overwrites h with ĥ). */
export function convForward(
  plan: CnfConvPlan,
  dtype: DType,
  B: number,
  h: FloatArray,
  k: FloatArray,
  v: FloatArray,
): void {
  const { V, F } = plan;
  if (plan.kind === "dense") {
    const M = acquire(dtype, V * F * V);
    const hs = acquire(dtype, B * V * F);
    denseMatrix(plan, k, M);
    toSamples(h, hs, B, V, F);
    gemm({ m: B, n: V, p: V * F, a: hs, aT: false, b: M, bT: false, bias: null }, v);
    release(M, hs);
    return;
  }
  const Bp = paddedBatch(B);
  const Q = Bp >> 1;
  fftLattice(plan.fft!, h, Bp * F, F, false);
  const kh = kernelHat(plan, k, dtype);
  const w = acquire(dtype, V * Bp);
  for (let x = 0; x < V; x++)
    for (let q = 0; q < Q; q++) {
      const o = (x * Bp + 2 * q) * F;
      let re = 0;
      let im = 0;
      for (let f = 0; f < F; f++) {
        const kf = kh[x * F + f]!;
        re += kf * h[o + f]!;
        im += kf * h[o + F + f]!;
      }
      w[x * Bp + q] = re;
      w[x * Bp + Q + q] = im;
    }
  fftLattice(plan.fft!, w, Bp, Q, true);
  for (let b = 0; b < B; b++) {
    const s = slot(b, Bp);
    for (let x = 0; x < V; x++) v[b * V + x] = w[x * Bp + s]!;
  }
  release(kh, w);
}

/**
 * ḡh [V][Bp][F] (written) and ḡk (added into gk, float64 [O·F]) from ḡv [B·V]; h as
 * convForward took it (the fft path overwrites it with ĥ).
 */
export function convBackward(
  plan: CnfConvPlan,
  dtype: DType,
  B: number,
  h: FloatArray,
  k: FloatArray,
  gv: FloatArray,
  gh: FloatArray,
  gk: Float64Array,
): void {
  const { V, F, O } = plan;
  if (plan.kind === "dense") {
    const M = acquire(dtype, V * F * V);
    const hs = acquire(dtype, B * V * F);
    const ghs = acquire(dtype, B * V * F);
    denseMatrix(plan, k, M);
    toSamples(h, hs, B, V, F);
    gemm({ m: B, n: V * F, p: V, a: gv, aT: false, b: M, bT: true, bias: null }, ghs); // ḡv Mᵀ
    fromSamples(ghs, gh, B, V, F);
    gemm({ m: V * F, n: V, p: B, a: hs, aT: true, b: gv, bT: false, bias: null }, M); // hᵀ ḡv
    const index = plan.index!;
    for (let y = 0; y < V; y++)
      for (let x = 0; x < V; x++) {
        const o = index[y * V + x]! * F;
        const base = y * F * V + x;
        for (let f = 0; f < F; f++) gk[o + f]! += M[base + f * V];
      }
    release(M, hs, ghs);
    return;
  }
  const Bp = paddedBatch(B);
  const Q = Bp >> 1;
  const g = acquire(dtype, V * Bp);
  for (let b = 0; b < B; b++) {
    const s = slot(b, Bp);
    for (let x = 0; x < V; x++) g[x * Bp + s] = gv[b * V + x]!;
  }
  if (Bp > B) for (let x = 0; x < V; x++) g[x * Bp + Bp - 1] = 0;
  fftLattice(plan.fft!, g, Bp, Q, false);
  fftLattice(plan.fft!, h, Bp * F, F, false);
  const kh = kernelHat(plan, k, dtype);
  const red = acquire(dtype, V * F); // Σ_pairs Re(ĥ conj ĝ)
  red.fill(0);
  for (let x = 0; x < V; x++)
    for (let q = 0; q < Q; q++) {
      const gr = g[x * Bp + q]!;
      const gi = g[x * Bp + Q + q]!;
      const o = (x * Bp + 2 * q) * F;
      for (let f = 0; f < F; f++) {
        red[x * F + f]! += h[o + f]! * gr + h[o + F + f]! * gi;
        const kf = kh[x * F + f]!;
        gh[o + f] = kf * gr;
        gh[o + F + f] = kf * gi;
      }
    }
  fftLattice(plan.fft!, gh, Bp * F, F, true);
  const gkd = acquire(dtype, O * F); // (E/V)ᵀ red
  gemm({ m: O, n: F, p: V, a: plan.E![dtype], aT: true, b: red, bT: false, bias: null }, gkd);
  for (let i = 0; i < O * F; i++) gk[i]! += gkd[i];
  release(g, kh, red, gkd);
}
