/**
 * What the two implementations of one vector-field evaluation (cnf-field.ts on ordinary
 * arrays, cnf-resident.ts in WebAssembly memory) share: the divergence and its backward, the
 * heap bookkeeping, and the site-ordered φ. The maths is in cnf-field.ts's comment.
 */
import type { DType, FloatArray } from "../tensor.js";
import { type CnfSinCosKernels, cnfSinCosKernels, SINCOS_MAX_ARG } from "../wasm/cnf-sincos.js";
import { alloc, free, view } from "../wasm/simd-heap.js";
import { convBackend } from "../wasm/simd-runtime.js";
import { paddedBatch } from "./cnf-conv.js";

/** Float64 accumulators of parameter cotangents (the kernel's at one time). */
export interface CnfGrads {
  omega: Float64Array;
  mix: Float64Array;
  kern: Float64Array;
}

let useSimd = true;

/** Tests: the TypeScript twins (false) or WebAssembly SIMD where available (true, default). */
export function setCnfSimd(on: boolean): void {
  useSimd = on;
}

function maxAbs(a: FloatArray): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** The SIMD sine kernels if they apply to these arguments (|ω φ| in the kernel's range). */
export function sineKernels(dtype: DType, phi: FloatArray, w: FloatArray): CnfSinCosKernels | null {
  if (!useSimd || convBackend() !== "wasm") return null;
  if (!(maxAbs(phi) * maxAbs(w) < SINCOS_MAX_ARG)) return null;
  return cnfSinCosKernels(dtype);
}

/** Heap regions of one pass: `take` returns a byte offset, `done` frees them all. */
export class Heap {
  private readonly offs: number[] = [];
  take(bytes: number): number {
    const o = alloc(bytes);
    this.offs.push(o);
    return o;
  }
  done(): void {
    free(...this.offs);
    this.offs.length = 0;
  }
}

/** φ in site order (row x·Bp + b; padded samples 0) as float64 at heap offset `off`. */
export function putPhi(off: number, phi: FloatArray, B: number, V: number): void {
  const Bp = paddedBatch(B);
  const h = view("float64", off, Bp * V);
  for (let b = 0; b < B; b++) for (let x = 0; x < V; x++) h[x * Bp + b] = phi[b * V + x]!;
  if (Bp > B) for (let x = 0; x < V; x++) h[x * Bp + B] = 0;
}

/** ω padded with zeros to 2·pairs, float64 at `off`. */
export function putOmega(off: number, w: FloatArray, pairs: number): void {
  const h = view("float64", off, 2 * pairs);
  h.set(w);
  h.fill(0, w.length);
}

/** c = Aᵀ k[0, :], [K+1]. */
function zeroOffsetMix(A: FloatArray, k: FloatArray, F: number, P: number): Float64Array {
  const c = new Float64Array(P);
  for (let f = 0; f < F; f++) for (let j = 0; j < P; j++) c[j]! += k[f]! * A[f * P + j]!;
  return c;
}

/** div_b = Σ_k c_k ω_k cs[b, k] + V c_K from the cosine sums cs [B, ld]. */
export function divergence(
  B: number,
  V: number,
  F: number,
  w: FloatArray,
  A: FloatArray,
  k: FloatArray,
  cs: Float64Array,
  ld: number,
  div: FloatArray,
): void {
  const K = w.length;
  const c = zeroOffsetMix(A, k, F, K + 1);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let q = 0; q < K; q++) s += cs[b * ld + q]! * (c[q]! * w[q]!);
    div[b] = s + c[K]! * V;
  }
}

/**
 * The divergence's backward: returns ḡC [Bp, ld] (ḡdiv_b c_k ω_k, zero-padded) for the
 * per-row contraction, and adds its ω, A and k[0, :] terms into g.
 */
export function divergenceBackward(
  B: number,
  V: number,
  F: number,
  w: FloatArray,
  A: FloatArray,
  k: FloatArray,
  cs: Float64Array,
  ld: number,
  gdiv: FloatArray,
  g: CnfGrads,
): Float64Array {
  const K = w.length;
  const P = K + 1;
  const c = zeroOffsetMix(A, k, F, P);
  const gC = new Float64Array(paddedBatch(B) * ld);
  const gc = new Float64Array(P);
  for (let b = 0; b < B; b++) {
    const gd = gdiv[b]!;
    gc[K]! += gd * V;
    for (let q = 0; q < K; q++) {
      gC[b * ld + q] = gd * (c[q]! * w[q]!);
      const t = gd * cs[b * ld + q]!;
      gc[q]! += t * w[q]!;
      g.omega[q]! += t * c[q]!;
    }
  }
  for (let f = 0; f < F; f++) {
    let s = 0;
    for (let j = 0; j < P; j++) {
      g.mix[f * P + j]! += k[f]! * gc[j]!;
      s += A[f * P + j]! * gc[j]!;
    }
    g.kern[f]! += s;
  }
  return gC;
}
