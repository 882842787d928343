/**
 * Matrix product of 2-D tensors: C[m,n] = Σ_k A[m,k] B[k,n].
 *   ∂/∂A = G Bᵀ,  ∂/∂B = Aᵀ G.
 *
 * `gemm` is the one matrix-product kernel of the engine (matmul, batchedMatmul, linear): the
 * WebAssembly SIMD kernel (wasm/simd-gemm.ts) from GEMM_MIN_MACS multiply–adds up, and its
 * TypeScript twin `gemmJs` below that or without SIMD. Both sum each element as
 * 0 + a₀b₀ + a₁b₁ + … in ascending k, then add the bias, with every operation rounded to the
 * dtype, so they give the same bits and the size threshold never changes a result.
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { type GemmOperands, gemmUsesWasm, simdGemm } from "../wasm/simd-gemm.js";

/** sums[c] = Σ_r x[r·cols + c], in ascending r from 0. */
export function columnSums(x: FloatArray, rows: number, cols: number, sums: FloatArray): void {
  sums.fill(0, 0, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) sums[j]! += x[o + j];
  }
}

/**
 * The TypeScript twin: c[i·n + j] = Σ_p A(i, p) B(p, j) (+ bias[j]), A(i, p) = aT ? a[p·m + i]
 * : a[i·p + p], B(p, j) = bT ? b[j·P + p] : b[p·n + j]. float32 rounds each product before the
 * add (the add is rounded by the store), as f32x4 does.
 */
export function gemmJs(o: GemmOperands, c: FloatArray): void {
  const { m, n, p, a, aT, bias } = o;
  let { b, bT } = o;
  if (bT && m > 4) {
    // Rows of B contiguous for the inner loop (the sums keep their order).
    const t = allocate(c instanceof Float32Array ? "float32" : "float64", p * n);
    for (let j = 0; j < n; j++) for (let q = 0; q < p; q++) t[q * n + j] = b[j * p + q]!;
    b = t;
    bT = false;
  }
  if (o.aSums) columnSums(a, aT ? p : m, aT ? m : p, o.aSums);
  c.fill(0, 0, m * n);
  const f32 = c instanceof Float32Array;
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let q = 0; q < p; q++) {
      const av = aT ? a[q * m + i]! : a[i * p + q]!;
      if (f32) {
        if (bT) for (let j = 0; j < n; j++) c[ci + j]! += Math.fround(av * b[j * p + q]!);
        else {
          const bq = q * n;
          for (let j = 0; j < n; j++) c[ci + j]! += Math.fround(av * b[bq + j]!);
        }
      } else if (bT) for (let j = 0; j < n; j++) c[ci + j]! += av * b[j * p + q]!;
      else {
        const bq = q * n;
        for (let j = 0; j < n; j++) c[ci + j]! += av * b[bq + j]!;
      }
    }
    if (bias) for (let j = 0; j < n; j++) c[ci + j]! += bias[j];
  }
}

/** c = op(A)·op(B) (+ bias): WebAssembly SIMD where it applies and pays, else gemmJs. */
export function gemm(o: GemmOperands, c: FloatArray): void {
  if (gemmUsesWasm(o.m * o.n * o.p) && simdGemm(o, c)) return;
  gemmJs(o, c);
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
    throw new RangeError(`matmul: shapes [${a.shape}] and [${b.shape}] do not chain`);
  }
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  const c = allocate(a.dtype, m * n);
  gemm({ m, n, p: k, a: a.data, aT: false, b: b.data, bT: false, bias: null }, c);
  return record(new Tensor(c, [m, n]), [a, b], (g, needs) => {
    let ga: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (needs[0]) {
      ga = allocate(a.dtype, m * k); // G Bᵀ
      gemm({ m, n: k, p: n, a: g, aT: false, b: b.data, bT: true, bias: null }, ga);
    }
    if (needs[1]) {
      gb = allocate(a.dtype, k * n); // Aᵀ G
      gemm({ m: k, n, p: m, a: a.data, aT: true, b: g, bT: false, bias: null }, gb);
    }
    return [ga, gb];
  });
}
