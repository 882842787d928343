/**
 * One evaluation of the continuous flow's vector field (arXiv 2207.00283;
 * src/flows/equivariant-vector-field.ts has the model) on raw arrays, forward and backward,
 * for the fused RK4 step (cnf-rk4.ts). With N = B·V field values φ_n, frequencies ω [K],
 * feature mixing A [F, K+1] and the kernel at this time k [O, F]:
 *
 *   T[n] = (sin ω_k φ_n | φ_n),  h = T Aᵀ,  v = conv(h, k)                     (cnf-conv.ts)
 *   div_b = Σ_k c_k ω_k Σ_x cos(ω_k φ_bx) + V c_K,   c = Aᵀ k[0, :]
 *
 * Backward, from ḡv and ḡdiv, with S, C = sin, cos(ω_k φ_n), G = ḡh A and
 * ḡC[b, k] = ḡdiv_b c_k ω_k (the cotangent of the cosine sums):
 *
 *   ḡφ_n = G[n, K] + Σ_k ω_k (G[n, k] C[n, k] − ḡC[b, k] S[n, k])
 *   ḡω_k = Σ_n φ_n (G[n, k] C[n, k] − ḡC[b, k] S[n, k]) + Σ_b ḡdiv_b c_k cs[b, k]
 *   ḡA = ḡhᵀ T + k[0, :] ⊗ ḡc,   ḡk = conv's + e₀ ⊗ (A ḡc),   ḡc_k = ω_k Σ_b ḡdiv_b cs[b, k], ḡc_K = V Σ_b ḡdiv_b
 *
 * Nothing is kept between the passes: the backward recomputes the sines and h from φ (two
 * sincos passes per evaluation instead of the op path's three; the tape holds B·V per stage).
 * Feature rows are in site order (cnf-conv.ts).
 *
 * Two implementations: with WebAssembly SIMD and the FFT convolution, everything runs in
 * WebAssembly memory (cnf-resident.ts); otherwise here, on ordinary arrays, with the sines
 * in SIMD where available (../wasm/cnf-sincos.ts) or in their TypeScript twin.
 */
import { gemm } from "../ops/matmul.js";
import { acquire, release } from "../pool.js";
import type { DType, FloatArray } from "../tensor.js";
import { cnfSinCos } from "../wasm/cnf-sincos.js";
import { view } from "../wasm/simd-heap.js";
import { type CnfConvPlan, convBackward, convForward, paddedBatch } from "./cnf-conv.js";
import { type Hat, type KernelHat, residentBackward, residentForward } from "./cnf-resident.js";
import {
  type CnfGrads,
  divergence,
  divergenceBackward,
  Heap,
  putOmega,
  putPhi,
  sineKernels,
} from "./cnf-shared.js";

const sc = new Float64Array(2);

/** The twin of sinesSum / sinesStore: T, the cosine sums cs [Bp, K], and C [rows, K] if asked. */
function sinePassJs(
  B: number,
  V: number,
  phi: FloatArray,
  w: FloatArray,
  T: FloatArray,
  cs: Float64Array,
  C: FloatArray | null,
): void {
  const K = w.length;
  const P = K + 1;
  const Bp = paddedBatch(B);
  for (let x = 0; x < V; x++)
    for (let b = 0; b < Bp; b++) {
      const xn = b < B ? phi[b * V + x]! : 0;
      const row = x * Bp + b;
      for (let k = 0; k < K; k++) {
        cnfSinCos(w[k]! * xn, sc);
        T[row * P + k] = sc[0]!;
        if (C) C[row * K + k] = sc[1]!;
        cs[b * K + k]! += sc[1];
      }
      T[row * P + K] = xn;
    }
}

/** T [rows, K+1] and the cosine sums [Bp, K]; C [rows, K] when `withC` (null: in the heap). */
function sines(
  B: number,
  V: number,
  phi: FloatArray,
  w: FloatArray,
  dtype: DType,
  withC: boolean,
): { T: FloatArray; cs: Float64Array; C: FloatArray | null } {
  const K = w.length;
  const P = K + 1;
  const Bp = paddedBatch(B);
  const rows = Bp * V;
  const T = acquire(dtype, rows * P);
  const cs = new Float64Array(Bp * K);
  const kern = sineKernels(dtype, phi, w);
  if (!kern) {
    const C = withC ? acquire(dtype, rows * K) : null;
    sinePassJs(B, V, phi, w, T, cs, C);
    return { T, cs, C };
  }
  const eb = dtype === "float32" ? 4 : 8;
  const pairs = (K + 1) >> 1;
  const heap = new Heap();
  try {
    const [ph, om, tt, so, cc] = [
      rows * 8,
      pairs * 16,
      rows * P * eb,
      Bp * pairs * 16,
      rows * pairs * 16,
    ].map((n) => heap.take(n)) as [number, number, number, number, number];
    putPhi(ph, phi, B, V);
    putOmega(om, w, pairs);
    view("float64", so, Bp * pairs * 2).fill(0);
    kern.sinesStore(ph, rows, om, pairs, tt, P * eb, K * eb, cc, Bp, so, 0, 0, 0);
    T.set(view(dtype, tt, rows * P));
    const c2 = view("float64", so, Bp * pairs * 2);
    for (let b = 0; b < Bp; b++) for (let q = 0; q < K; q++) cs[b * K + q] = c2[b * 2 * pairs + q]!;
    let C: FloatArray | null = null;
    if (withC) {
      C = acquire(dtype, rows * K);
      const cv = view("float64", cc, rows * pairs * 2);
      for (let r = 0; r < rows; r++) for (let q = 0; q < K; q++) C[r * K + q] = cv[r * 2 * pairs + q]!;
    }
    return { T, cs, C };
  } finally {
    heap.done();
  }
}

/** v [B·V] and div [B] at φ [B·V], kernel k [O·F]; `kept` as residentForward's; `khat`: k's k̂, if computed. */
export function fieldForward(
  plan: CnfConvPlan,
  dtype: DType,
  B: number,
  phi: FloatArray,
  w: FloatArray,
  A: FloatArray,
  k: FloatArray,
  v: FloatArray,
  div: FloatArray,
  kept?: { hat: Hat },
  khat: KernelHat = null,
): void {
  if (residentForward(plan, dtype, B, phi, w, A, k, v, div, kept, khat)) return;
  const { V, F } = plan;
  const P = w.length + 1;
  const rows = paddedBatch(B) * V;
  const { T, cs } = sines(B, V, phi, w, dtype, false);
  const h = acquire(dtype, rows * F);
  gemm({ m: rows, n: F, p: P, a: T, aT: false, b: A, bT: true, bias: null }, h);
  convForward(plan, dtype, B, h, k, v);
  divergence(B, V, F, w, A, k, cs, w.length, div);
  release(T, h);
}

/**
 * ḡφ [B·V] (written) and the parameter cotangents (added into g) from ḡv [B·V], ḡdiv [B];
 * `hat`: the forward's kept ĥ (the caller releases it); `khat`: k's k̂, if computed.
 */
export function fieldBackward(
  plan: CnfConvPlan,
  dtype: DType,
  B: number,
  phi: FloatArray,
  w: FloatArray,
  A: FloatArray,
  k: FloatArray,
  gv: FloatArray,
  gdiv: FloatArray,
  gphi: FloatArray,
  g: CnfGrads,
  hat: Hat = null,
  khat: KernelHat = null,
): void {
  if (residentBackward(plan, dtype, B, phi, w, A, k, gv, gdiv, gphi, g, hat, khat)) return;
  const { V, F } = plan;
  const K = w.length;
  const P = K + 1;
  const rows = paddedBatch(B) * V;
  const { T, cs, C } = sines(B, V, phi, w, dtype, true);
  const h = acquire(dtype, rows * F);
  gemm({ m: rows, n: F, p: P, a: T, aT: false, b: A, bT: true, bias: null }, h);
  const gh = acquire(dtype, rows * F);
  convBackward(plan, dtype, B, h, k, gv, gh, g.kern);
  const G = acquire(dtype, rows * P); // ḡh A
  gemm({ m: rows, n: P, p: F, a: gh, aT: false, b: A, bT: false, bias: null }, G);
  const gA = acquire(dtype, F * P); // ḡhᵀ T
  gemm({ m: F, n: P, p: rows, a: gh, aT: true, b: T, bT: false, bias: null }, gA);
  for (let i = 0; i < F * P; i++) g.mix[i]! += gA[i];
  const gC = divergenceBackward(B, V, F, w, A, k, cs, K, gdiv, g);
  combineJs(B, V, phi, w, T, C!, G, gC, gphi, g.omega);
  release(T, C, h, gh, G, gA);
}

/** ḡφ and ḡω's row terms (cnf-sincos.ts's combine kernel, in TypeScript). */
function combineJs(
  B: number,
  V: number,
  phi: FloatArray,
  w: FloatArray,
  T: FloatArray,
  C: FloatArray,
  G: FloatArray,
  gC: Float64Array,
  gphi: FloatArray,
  gw: Float64Array,
): void {
  const K = w.length;
  const P = K + 1;
  const Bp = paddedBatch(B);
  for (let x = 0; x < V; x++)
    for (let b = 0; b < B; b++) {
      const n = b * V + x;
      const xn = phi[n]!;
      const row = x * Bp + b;
      let acc = G[row * P + K]!;
      for (let q = 0; q < K; q++) {
        const e = G[row * P + q]! * C[row * K + q]! - gC[b * K + q]! * T[row * P + q]!;
        acc += w[q]! * e;
        gw[q]! += xn * e;
      }
      gphi[n] = acc;
    }
}
