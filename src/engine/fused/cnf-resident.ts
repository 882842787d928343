/**
 * One vector-field evaluation (cnf-field.ts has the maths) with every large array in
 * WebAssembly memory: the sines (../wasm/cnf-sincos.ts), the feature products (simd-gemm.ts's
 * packing and micro-kernels called on heap operands, so nothing is copied in or out), the FFT
 * stages and the Fourier-space products (../wasm/cnf-fft-simd.ts), and the per-row
 * contraction of the backward. JavaScript moves only φ in, v out (B·V each), the cosine sums,
 * and the small kernel-sized arrays. Applies to the FFT convolution when WebAssembly SIMD runs
 * and F is a whole number of vectors (F·eb a multiple of 16 bytes); otherwise the functions
 * return false and cnf-field.ts computes on ordinary arrays. The per-site Fourier blocks of v
 * and its gradient (Q = Bp/2 complex numbers) are padded to Qw, a whole number of vectors, so
 * any batch runs here: without it a shard of 4 float32 draws (batch 8 on 2 threads) fell back
 * to ordinary arrays at twice the cost per draw.
 */
import { gemm } from "../ops/matmul.js";
import { acquire, release } from "../pool.js";
import type { DType, FloatArray } from "../tensor.js";
import { type CnfFftKernels, cnfFftKernels } from "../wasm/cnf-fft-simd.js";
import type { CnfSinCosKernels } from "../wasm/cnf-sincos.js";
import { gemmKernels } from "../wasm/simd-gemm.js";
import { alloc, free, heapFits, view } from "../wasm/simd-heap.js";
import { type CnfConvPlan, paddedBatch } from "./cnf-conv.js";
import { type FftAxis, stageJs } from "./cnf-fft.js";
import {
  type CnfGrads,
  divergence,
  divergenceBackward,
  Heap,
  putOmega,
  putPhi,
  sineKernels,
} from "./cnf-shared.js";

/** simd-gemm.ts's blocking (KC steps, MC panels) per dtype. */
const BLOCKING = { float32: [256, 16], float64: [128, 16] } as const;

let cacheLimit = 1024 * 1024 * 1024;
let cached = 0;

/**
 * Bytes of WebAssembly memory that forward passes may hold for their backward (the transformed
 * features ĥ, B·V·F per evaluation; beyond the budget the backward recomputes them). Returns
 * the previous value. 0: always recompute.
 */
export function setCnfCacheBytes(bytes: number): number {
  const old = cacheLimit;
  cacheLimit = bytes;
  return old;
}

/** Frees a kept ĥ (residentForward's `kept.hat`). */
export function releaseHat(hat: { off: number; bytes: number } | null): void {
  if (!hat) return;
  free(hat.off);
  cached -= hat.bytes;
}

/** C [m, n] at byte offset c = op(A)·op(B), the operands at byte offsets of the heap. */
function heapGemm(
  dtype: DType,
  o: { m: number; n: number; p: number; a: number; aT: boolean; b: number; bT: boolean },
  c: number,
): void {
  const k = gemmKernels(dtype)!;
  const { m, n, p, a, b } = o;
  const eb = dtype === "float32" ? 4 : 8;
  const nr = k.tile.nv * (16 / eb);
  const [mP, nP] = [Math.ceil(m / k.tile.mr), Math.ceil(n / nr)];
  const [mp, np] = [mP * k.tile.mr, nP * nr];
  const heap = new Heap();
  try {
    const aPack = heap.take(mp * p * eb);
    const bPack = heap.take(np * p * eb);
    const direct = mp === m && np === n;
    const out = direct ? c : heap.take(mp * np * eb);
    if (o.aT) k.packA(a, aPack, p, m, m * eb, eb, 0, 0, 0, 0);
    else k.packA(a, aPack, p, m, eb, p * eb, 0, 0, 0, 0);
    if (o.bT) k.packB(b, bPack, p, n, eb, p * eb, 0, 0, 0, 0);
    else k.packB(b, bPack, p, n, n * eb, eb, 0, 0, 0, 0);
    const [kc, mc] = BLOCKING[dtype];
    k.gemm(aPack, bPack, out, mP, nP, p, np * eb, kc, mc, -1);
    if (!direct) k.unpad(out, c, m, n * eb, np * eb, 0, 0, 0, 0, 0);
  } finally {
    heap.done();
  }
}

/**
 * Twiddle tables of each stage (splatted vectors), resident for good: they depend only on the
 * dtype, the extent, the radix, the span and the direction, so there are few.
 */
const twiddles = new Map<string, number>();

function twiddleTable(dtype: DType, ax: FftAxis, p: number, span: number, inverse: boolean): number {
  const key = `${dtype}:${ax.L}:${p}:${span}:${inverse}`;
  let off = twiddles.get(key);
  if (off !== undefined) return off;
  const lanes = dtype === "float32" ? 4 : 2;
  const step = ax.L / (span * p);
  off = alloc(span * (p - 1) * 2 * 16);
  const t = view(dtype, off, span * (p - 1) * 2 * lanes);
  let i = 0;
  for (let k = 0; k < span; k++)
    for (let r = 1; r < p; r++) {
      const e = (r * k * step) % ax.L;
      for (const v of [ax.cos[e]!, (inverse ? 1 : -1) * ax.sin[e]!])
        for (let l = 0; l < lanes; l++) t[i++] = v;
    }
  twiddles.set(key, off);
  return off;
}

/** fftLattice (cnf-fft.ts) on the array at byte offset `off`, its stages in WebAssembly. */
export function fftHeap(
  plan: CnfConvPlan,
  dtype: DType,
  fk: CnfFftKernels,
  off: number,
  M: number,
  c: number,
  inverse: boolean,
): void {
  const eb = dtype === "float32" ? 4 : 8;
  const fft = plan.fft!;
  for (const ax of fft.axes) {
    const { L, radices } = ax;
    if (L === 1) continue;
    const elem = ax.stride * M;
    const lines = fft.sites / (L * ax.stride);
    const run = (p: number, span: number) => {
      const k = fk.stage.get(p);
      if (!k) {
        stageJs(view(dtype, off, fft.sites * M), ax, p, span, elem, c, inverse, lines);
        return;
      }
      const tw = twiddleTable(dtype, ax, p, span, inverse);
      (inverse ? k.inverse : k.forward)(
        off,
        lines,
        L * elem * eb,
        L / (span * p),
        span * p * elem * eb,
        span,
        span * elem * eb,
        elem * eb,
        c * eb,
        tw,
      );
    };
    if (inverse) {
      let span = 1;
      for (let i = radices.length - 1; i >= 0; i--) {
        run(radices[i]!, span);
        span *= radices[i]!;
      }
    } else {
      let span = L;
      for (const p of radices) {
        span /= p;
        run(p, span);
      }
    }
  }
}

interface Ctx {
  sk: CnfSinCosKernels;
  fk: CnfFftKernels;
  eb: number;
  K: number;
  P: number;
  pairs: number;
  Bp: number;
  Q: number;
  /** Q rounded up to whole vectors: W and G hold per site [Qw real parts | Qw imaginary parts]. */
  Qw: number;
  rows: number;
}

function context(plan: CnfConvPlan, dtype: DType, B: number, phi: FloatArray, w: FloatArray): Ctx | null {
  if (plan.kind !== "fft" || !gemmKernels(dtype)) return null;
  const sk = sineKernels(dtype, phi, w);
  const fk = sk ? cnfFftKernels(dtype) : null;
  if (!sk || !fk) return null;
  const eb = dtype === "float32" ? 4 : 8;
  const Bp = paddedBatch(B);
  const Q = Bp >> 1;
  if ((plan.F * eb) % 16 !== 0) return null;
  const lanes = 16 / eb;
  const Qw = Math.ceil(Q / lanes) * lanes;
  const K = w.length;
  return { sk, fk, eb, K, P: K + 1, pairs: (K + 1) >> 1, Bp, Q, Qw, rows: Bp * plan.V };
}

/** Whether evaluations of this batch run here (given moderate |ω φ|; tests). */
export function residentApplies(plan: CnfConvPlan, dtype: DType, B: number): boolean {
  return context(plan, dtype, B, new Float64Array(1), new Float64Array(1)) !== null;
}

/** Bytes of kept ĥ now held (tests: nothing leaks). */
export function cnfCachedBytes(): number {
  return cached;
}

/** k̂ = (E/V)·k into the heap at `off` [V, F]. */
function putKernelHat(plan: CnfConvPlan, dtype: DType, k: FloatArray, off: number): void {
  const kh = acquire(dtype, plan.V * plan.F);
  gemm({ m: plan.V, n: plan.F, p: plan.O, a: plan.E![dtype], aT: false, b: k, bT: false, bias: null }, kh);
  view(dtype, off, plan.V * plan.F).set(kh);
  release(kh);
}

/**
 * A kernel's k̂ in WebAssembly memory, computed once for the evaluations that share the kernel:
 * an RK4 step's two midpoint stages and, kept, its backward. At L = 32 the product costs about
 * as much as a fifth of an evaluation's other work.
 */
export type KernelHat = { off: number; bytes: number } | null;

/** k̂ of kernel k [O·F], or null where evaluations of this plan and dtype do not run here. */
export function kernelHat(plan: CnfConvPlan, dtype: DType, k: FloatArray): KernelHat {
  const eb = dtype === "float32" ? 4 : 8;
  if (plan.kind !== "fft" || !gemmKernels(dtype) || !cnfFftKernels(dtype) || (plan.F * eb) % 16 !== 0)
    return null;
  const bytes = plan.V * plan.F * eb;
  const off = alloc(bytes);
  putKernelHat(plan, dtype, k, off);
  return { off, bytes };
}

/** Frees a kernelHat. */
export function releaseKernelHat(kh: KernelHat): void {
  if (kh) free(kh.off);
}

/** Counts a kernelHat kept for a backward against the cache budget; false if it does not fit. */
export function keepKernelHat(kh: KernelHat): boolean {
  if (!kh || cached + kh.bytes > cacheLimit) return false;
  cached += kh.bytes;
  return true;
}

/** Frees a kernelHat that keepKernelHat counted. */
export function releaseKeptKernelHat(kh: KernelHat): void {
  if (!kh) return;
  free(kh.off);
  cached -= kh.bytes;
}

/**
 * T (and the cosine sums, and C when `withC`) from φ; then ĥ, the transformed h = T Aᵀ, in
 * the region `hat` (−1: a fresh one), computed unless `compute` is false (a kept ĥ).
 */
function features(
  plan: CnfConvPlan,
  dtype: DType,
  x: Ctx,
  heap: Heap,
  B: number,
  phi: FloatArray,
  w: FloatArray,
  A: FloatArray,
  withC: boolean,
  hat: number,
  compute: boolean,
) {
  const { eb, K, P, pairs, Bp, rows } = x;
  const { V, F } = plan;
  const r = {
    ph: heap.take(rows * 8),
    om: heap.take(pairs * 16),
    T: heap.take(rows * P * eb),
    cs: heap.take(Bp * pairs * 16),
    C: withC ? heap.take(rows * pairs * 16) : 0,
    A: heap.take(F * P * eb),
    H: hat >= 0 ? hat : heap.take(rows * F * eb),
  };
  putPhi(r.ph, phi, B, V);
  putOmega(r.om, w, pairs);
  view("float64", r.cs, Bp * pairs * 2).fill(0);
  view(dtype, r.A, F * P).set(A);
  if (withC) x.sk.sinesStore(r.ph, rows, r.om, pairs, r.T, P * eb, K * eb, r.C, Bp, r.cs, 0, 0, 0);
  else x.sk.sinesSum(r.ph, rows, r.om, pairs, r.T, P * eb, K * eb, r.cs, Bp, 0, 0, 0, 0);
  if (compute) {
    heapGemm(dtype, { m: rows, n: F, p: P, a: r.T, aT: false, b: r.A, bT: true }, r.H);
    fftHeap(plan, dtype, x.fk, r.H, Bp * F, F, false);
  }
  const c2 = view("float64", r.cs, Bp * pairs * 2);
  const cs = new Float64Array(Bp * 2 * pairs);
  cs.set(c2);
  return { ...r, csums: cs };
}

/** A kept ĥ: its region and size. */
export type Hat = { off: number; bytes: number } | null;

/**
 * v and div; false where this path does not apply. With `keep`, ĥ stays in the heap for the
 * backward if the cache budget allows: `kept.hat` (release with releaseHat if unused).
 */
export function residentForward(
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
): boolean {
  const x = context(plan, dtype, B, phi, w);
  if (!x) return false;
  const { V, F } = plan;
  const { Q, Qw } = x;
  const heap = new Heap();
  const bytes = x.rows * F * x.eb;
  let hat = -1;
  if (kept && cached + bytes <= cacheLimit && heapFits(bytes)) {
    hat = alloc(bytes);
    kept.hat = { off: hat, bytes };
    cached += bytes;
  }
  try {
    const r = features(plan, dtype, x, heap, B, phi, w, A, false, hat, true);
    const W = heap.take(V * 2 * Qw * x.eb);
    if (Qw > Q) view(dtype, W, V * 2 * Qw).fill(0); // padding lanes: transformed alongside, never read
    const KH = khat ? khat.off : heap.take(V * F * x.eb);
    if (!khat) putKernelHat(plan, dtype, k, KH);
    x.fk.contract(r.H, KH, W, V, Q, F, Qw, 0, 0, 0);
    fftHeap(plan, dtype, x.fk, W, 2 * Qw, Qw, true);
    const wv = view(dtype, W, V * 2 * Qw); // after fftHeap, which may grow the memory
    for (let b = 0; b < B; b++) {
      const s = (b & 1) * Qw + (b >> 1);
      for (let y = 0; y < V; y++) v[b * V + y] = wv[y * 2 * Qw + s]!;
    }
    divergence(B, V, F, w, A, k, r.csums, 2 * x.pairs, div);
  } finally {
    heap.done();
  }
  return true;
}

export function residentBackward(
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
): boolean {
  const x = context(plan, dtype, B, phi, w);
  if (!x) return false;
  const { V, F, O } = plan;
  const { eb, K, P, pairs, Bp, Q, Qw, rows } = x;
  const heap = new Heap();
  try {
    const r = features(plan, dtype, x, heap, B, phi, w, A, true, hat ? hat.off : -1, !hat);
    // ĝv, then RED = Σ_pairs Re(ĥ conj ĝv) and ĝh = k̂ ĝv, then ḡh.
    const G0 = heap.take(V * 2 * Qw * eb);
    const gvh = view(dtype, G0, V * 2 * Qw);
    if (Qw > Q) gvh.fill(0);
    for (let b = 0; b < Bp; b++) {
      const s = (b & 1) * Qw + (b >> 1);
      for (let y = 0; y < V; y++) gvh[y * 2 * Qw + s] = b < B ? gv[b * V + y]! : 0;
    }
    fftHeap(plan, dtype, x.fk, G0, 2 * Qw, Qw, false);
    const KH = khat ? khat.off : heap.take(V * F * eb);
    if (!khat) putKernelHat(plan, dtype, k, KH);
    const RED = heap.take(V * F * eb);
    const GH = heap.take(rows * F * eb);
    view(dtype, RED, V * F).fill(0);
    x.fk.pointBack(r.H, G0, KH, RED, GH, V, Q, F, Qw, 0);
    fftHeap(plan, dtype, x.fk, GH, Bp * F, F, true);
    const red = acquire(dtype, V * F);
    red.set(view(dtype, RED, V * F));
    const gkd = acquire(dtype, O * F); // (E/V)ᵀ RED
    gemm({ m: O, n: F, p: V, a: plan.E![dtype], aT: true, b: red, bT: false, bias: null }, gkd);
    for (let i = 0; i < O * F; i++) g.kern[i]! += gkd[i];
    release(red, gkd);
    // G = ḡh A [rows, P] and ḡA += ḡhᵀ T [F, P].
    const G = heap.take(rows * P * eb);
    heapGemm(dtype, { m: rows, n: P, p: F, a: GH, aT: false, b: r.A, bT: false }, G);
    const GA = heap.take(F * P * eb);
    heapGemm(dtype, { m: F, n: P, p: rows, a: GH, aT: true, b: r.T, bT: false }, GA);
    const ga = view(dtype, GA, F * P);
    for (let i = 0; i < F * P; i++) g.mix[i]! += ga[i];
    // The divergence, then the per-row contraction (ḡφ and ḡω's row terms).
    const gC = divergenceBackward(B, V, F, w, A, k, r.csums, 2 * pairs, gdiv, g);
    const [GC, GPHI, GW] = [Bp * pairs * 16, rows * 8, pairs * 16].map((n) => heap.take(n)) as [
      number,
      number,
      number,
    ];
    view("float64", GC, Bp * pairs * 2).set(gC);
    view("float64", GW, pairs * 2).fill(0);
    x.sk.combine(r.ph, rows, r.om, pairs, r.T, P * eb, K * eb, r.C, Bp, G, GC, GPHI, GW);
    const gp = view("float64", GPHI, rows);
    for (let b = 0; b < B; b++) for (let y = 0; y < V; y++) gphi[b * V + y] = gp[y * Bp + b]!;
    const gw = view("float64", GW, K);
    for (let q = 0; q < K; q++) g.omega[q]! += gw[q];
  } finally {
    heap.done();
  }
  return true;
}
