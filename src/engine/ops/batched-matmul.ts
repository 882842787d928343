/**
 * Batched matrix product: a [..., M, K], b [..., K, N] → c [..., M, N], c[β] = a[β]·b[β], the
 * leading (batch) dims broadcast as in NumPy (torch.matmul for rank ≥ 2 operands).
 *   ∂/∂a[β] = G[β]·b[β]ᵀ,  ∂/∂b[β] = a[β]ᵀ·G[β], summed over the batch entries that share a[β]
 *   (b[β]) when it is broadcast.
 * Each product runs in `gemm` (ops/matmul.ts). Where b has no batch entries of its own (one
 * matrix for the whole batch), a is one [B·M, K] matrix and each pass is a single product.
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, sizeOf, Tensor } from "../tensor.js";
import { broadcastIndex, broadcastShapes } from "./broadcast.js";
import { gemm } from "./matmul.js";

export function batchedMatmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2 || a.shape[a.rank - 1] !== b.shape[b.rank - 2]) {
    throw new RangeError(`batchedMatmul: shapes [${a.shape}] and [${b.shape}] do not chain`);
  }
  const m = a.shape[a.rank - 2]!;
  const k = a.shape[a.rank - 1]!;
  const n = b.shape[b.rank - 1]!;
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch);
  const nb = sizeOf(batch);
  const nbA = sizeOf(aBatch);
  const nbB = sizeOf(bBatch);
  const dtype = a.dtype;
  const out = allocate(dtype, nb * m * n);
  const shape = [...batch, m, n];
  const sub = (x: FloatArray, i: number, size: number) => x.subarray(i * size, (i + 1) * size);

  // One shared right operand: a single [B·M, K]·[K, N] product.
  if (nbB === 1 && nbA === nb) {
    const rows = nb * m;
    gemm({ m: rows, n, p: k, a: a.data, aT: false, b: b.data, bT: false, bias: null }, out);
    return record(new Tensor(out, shape), [a, b], (g, needs) => {
      let ga: FloatArray | null = null;
      let gb: FloatArray | null = null;
      if (needs[0]) {
        ga = allocate(dtype, rows * k);
        gemm({ m: rows, n: k, p: n, a: g, aT: false, b: b.data, bT: true, bias: null }, ga);
      }
      if (needs[1]) {
        gb = allocate(dtype, k * n);
        gemm({ m: k, n, p: rows, a: a.data, aT: true, b: g, bT: false, bias: null }, gb);
      }
      return [ga, gb];
    });
  }

  const ia = broadcastIndex(aBatch, batch);
  const ib = broadcastIndex(bBatch, batch);
  const ai = (i: number) => (ia === null ? i : ia[i]!);
  const bi = (i: number) => (ib === null ? i : ib[i]!);
  for (let i = 0; i < nb; i++) {
    gemm(
      {
        m,
        n,
        p: k,
        a: sub(a.data, ai(i), m * k),
        aT: false,
        b: sub(b.data, bi(i), k * n),
        bT: false,
        bias: null,
      },
      sub(out, i, m * n),
    );
  }
  return record(new Tensor(out, shape), [a, b], (g, needs) => {
    let ga: FloatArray | null = null;
    let gb: FloatArray | null = null;
    const tmp = allocate(dtype, Math.max(m * k, k * n));
    if (needs[0]) {
      ga = allocate(dtype, nbA * m * k);
      for (let i = 0; i < nb; i++) {
        const dst = sub(ga, ai(i), m * k);
        const o = {
          m,
          n: k,
          p: n,
          a: sub(g, i, m * n),
          aT: false,
          b: sub(b.data, bi(i), k * n),
          bT: true,
          bias: null,
        };
        if (ia === null) gemm(o, dst);
        else {
          const t = tmp.subarray(0, m * k);
          gemm(o, t);
          for (let j = 0; j < m * k; j++) dst[j]! += t[j];
        }
      }
    }
    if (needs[1]) {
      gb = allocate(dtype, nbB * k * n);
      for (let i = 0; i < nb; i++) {
        const dst = sub(gb, bi(i), k * n);
        const o = {
          m: k,
          n,
          p: m,
          a: sub(a.data, ai(i), m * k),
          aT: true,
          b: sub(g, i, m * n),
          bT: false,
          bias: null,
        };
        if (ib === null) gemm(o, dst);
        else {
          const t = tmp.subarray(0, k * n);
          gemm(o, t);
          for (let j = 0; j < k * n; j++) dst[j]! += t[j];
        }
      }
    }
    return [ga, gb];
  });
}
