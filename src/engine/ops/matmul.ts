/**
 * Matrix product of 2-D tensors: C[m,n] = Σ_k A[m,k] B[k,n].
 *   ∂/∂A = G Bᵀ,  ∂/∂B = Aᵀ G.
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";

function gemm(
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
): void {
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = transA ? a[p * m + i]! : a[i * k + p]!;
      if (av === 0) continue;
      if (transB) for (let j = 0; j < n; j++) c[i * n + j]! += av * b[j * k + p]!;
      else for (let j = 0; j < n; j++) c[i * n + j]! += av * b[p * n + j]!;
    }
  }
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
    throw new RangeError(`matmul: shapes [${a.shape}] and [${b.shape}] do not chain`);
  }
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  const c = allocate(a.dtype, m * n);
  gemm(a.data, b.data, c, m, k, n, false, false);
  return record(new Tensor(c, [m, n]), [a, b], (g, needs) => {
    let ga: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (needs[0]) {
      ga = allocate(a.dtype, m * k);
      gemm(g, b.data, ga, m, n, k, false, true);
    }
    if (needs[1]) {
      gb = allocate(a.dtype, k * n);
      gemm(a.data, g, gb, k, m, n, true, false);
    }
    return [ga, gb];
  });
}
