/**
 * Dense layer with PyTorch nn.Linear semantics: x [..., K], weight [N, K], bias [N] | null
 * → y [..., N] = x·Wᵀ + b. Leading dims of x are flattened into M rows.
 *   ∂/∂x = G·W,  ∂/∂W = Gᵀ·x,  ∂/∂b = column sums of G.
 * The three products run in `gemm` (WebAssembly SIMD where it pays; ops/matmul.ts).
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { gemm } from "./matmul.js";

/** gb[j] = Σ_i g[i·n + j], in ascending i. */
function columnSums(g: FloatArray, m: number, n: number, gb: FloatArray): void {
  for (let i = 0; i < m; i++) {
    const gi = i * n;
    for (let j = 0; j < n; j++) gb[j]! += g[gi + j];
  }
}

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  if (x.rank < 1 || weight.rank !== 2) {
    throw new RangeError(
      `linear: x [${x.shape}] and weight [${weight.shape}] need x [..., K], weight [N, K]`,
    );
  }
  const k = x.shape[x.rank - 1]!;
  const [n, kw] = weight.shape as [number, number];
  if (kw !== k) throw new RangeError(`linear: x [${x.shape}] and weight [${weight.shape}] do not chain`);
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new RangeError(`linear: bias [${bias.shape}] should be [${n}]`);
  }
  const dtype = x.dtype;
  const m = x.rank === 1 ? 1 : x.shape.slice(0, -1).reduce((s, d) => s * d, 1);
  const outShape = [...x.shape.slice(0, -1), n];
  const y = allocate(dtype, m * n);
  // y = x·Wᵀ (+ b): A = x [M, K], B(p, j) = W[j, p]
  gemm({ m, n, p: k, a: x.data, aT: false, b: weight.data, bT: true, bias: bias?.data ?? null }, y);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(new Tensor(y, outShape), inputs, (g, needs) => {
    let gx: FloatArray | null = null;
    let gw: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (needs[0]) {
      gx = allocate(dtype, m * k); // G·W: A = G [M, N], B = W [N, K]
      gemm({ m, n: k, p: n, a: g, aT: false, b: weight.data, bT: false, bias: null }, gx);
    }
    if (bias !== null && needs[2]) gb = allocate(dtype, n); // column sums of G
    if (needs[1]) {
      gw = allocate(dtype, n * k); // Gᵀ·x: A(j, i) = G[i, j], B = x [M, K]; with G's column sums
      gemm(
        { m: n, n: k, p: m, a: g, aT: true, b: x.data, bT: false, bias: null, aSums: gb ?? undefined },
        gw,
      );
    } else if (gb) columnSums(g, m, n, gb);
    return bias === null ? [gx, gw] : [gx, gw, gb];
  });
}
