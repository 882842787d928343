/**
 * The exponential linear unit (Clevert, Unterthiner & Hochreiter, arXiv 1511.07289; PyTorch's
 * nn.ELU with α = 1), the hidden activation of NeuralRG's RealNVP blocks (arXiv 1802.02840):
 *   y = x (x > 0),   y = eˣ − 1 (x ≤ 0),
 *   ∂y/∂x = 1 (x > 0),   eˣ = y + 1 (x ≤ 0),
 * so the gradient is min(y, 0) + 1, read from the output alone (y > 0 ⟺ x > 0). ±0 and NaN
 * pass through unchanged (eˣ − 1 = x at ±0).
 *
 * The kernels are wasm/simd-elu.ts: WebAssembly SIMD (f32x4 / f64x2) where available, else
 * its TypeScript twins, the same bits either way and in every engine (no Math.exp: eˣ − 1 by
 * Cody–Waite reduction and a minimax polynomial, ≲ 1.1 ulp in float64, ≤ 1 float32 ulp from
 * the rounded fdlibm value in float32, where every operation is float32 arithmetic).
 * `setEluBackend` chooses.
 *
 * linearElu(x, W, b) = elu(x·Wᵀ + b) as one op (nn.Sequential(Linear, ELU)), the same bits as
 * elu(linear(x, W, b)) in value and gradient: the activation overwrites the pre-activation in
 * place, so a hidden layer keeps one [M, H] array instead of two and makes one pass fewer.
 * Cotangents are linear's (linear.ts) with G′ = G ⊙ (min(y, 0) + 1).
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { eluBackward, eluForward } from "../wasm/simd-elu.js";
import { gemm } from "./matmul.js";

export function elu(x: Tensor): Tensor {
  const n = x.size;
  const dtype = x.dtype;
  const y = allocate(dtype, n);
  eluForward(x.data, y, n);
  return record(new Tensor(y, x.shape), [x], (g) => {
    const gx = allocate(dtype, n);
    eluBackward(g, y, gx, n);
    return [gx];
  });
}

export function linearElu(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  if (x.rank < 1 || weight.rank !== 2) {
    throw new RangeError(
      `linearElu: x [${x.shape}] and weight [${weight.shape}] need x [..., K], weight [N, K]`,
    );
  }
  const k = x.shape[x.rank - 1]!;
  const [n, kw] = weight.shape as [number, number];
  if (kw !== k) throw new RangeError(`linearElu: x [${x.shape}] and weight [${weight.shape}] do not chain`);
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new RangeError(`linearElu: bias [${bias.shape}] should be [${n}]`);
  }
  const dtype = x.dtype;
  const m = x.rank === 1 ? 1 : x.shape.slice(0, -1).reduce((s, d) => s * d, 1);
  const y = allocate(dtype, m * n);
  gemm({ m, n, p: k, a: x.data, aT: false, b: weight.data, bT: true, bias: bias?.data ?? null }, y);
  eluForward(y, y, m * n);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(new Tensor(y, [...x.shape.slice(0, -1), n]), inputs, (g, needs) => {
    const gp = allocate(dtype, m * n);
    eluBackward(g, y, gp, m * n);
    let gx: FloatArray | null = null;
    let gw: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (needs[0]) {
      gx = allocate(dtype, m * k); // G′·W
      gemm({ m, n: k, p: n, a: gp, aT: false, b: weight.data, bT: false, bias: null }, gx);
    }
    if (bias !== null && needs[2]) gb = allocate(dtype, n);
    if (needs[1]) {
      gw = allocate(dtype, n * k); // G′ᵀ·x, with G′'s column sums
      gemm(
        { m: n, n: k, p: m, a: gp, aT: true, b: x.data, bT: false, bias: null, aSums: gb ?? undefined },
        gw,
      );
    } else if (gb) {
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) gb[j]! += gp[i * n + j];
    }
    return bias === null ? [gx, gw] : [gx, gw, gb];
  });
}
