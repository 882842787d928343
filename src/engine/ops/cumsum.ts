/**
 * Cumulative sum along an axis of extent n:
 *   inclusive:  y_i = Σ_{k ≤ i} x_k          exclusive:  y_i = Σ_{k < i} x_k  (y_0 = 0)
 * `reverse` sums from the end instead (Σ_{k ≥ i}, Σ_{k > i}). The exclusive sum of spline bin
 * widths gives each bin's left knot. Sums are accumulated in float64 for both dtypes.
 * Gradient: the same cumsum of g in the opposite direction (forward inclusive:
 * ∂L/∂x_k = Σ_{i ≥ k} g_i; forward exclusive: Σ_{i > k} g_i).
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { axisLayout, axisOf } from "./indices.js";

export interface CumsumOptions {
  exclusive?: boolean;
  reverse?: boolean;
}

function cumsumKernel(
  src: FloatArray,
  shape: readonly number[],
  axis: number,
  exclusive: boolean,
  reverse: boolean,
): FloatArray {
  const { outer, n, inner } = axisLayout(shape, axis);
  const out = allocate(src instanceof Float32Array ? "float32" : "float64", src.length);
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    for (let t = 0; t < n; t++) {
      const row = (o * n + (reverse ? n - 1 - t : t)) * inner;
      for (let e = 0; e < inner; e++) {
        if (exclusive) {
          out[row + e] = acc[e]!;
          acc[e]! += src[row + e];
        } else out[row + e] = acc[e]! += src[row + e];
      }
    }
  }
  return out;
}

export function cumsum(x: Tensor, axis: number, options: CumsumOptions = {}): Tensor {
  const ax = axisOf("cumsum", axis, x.shape);
  const exclusive = options.exclusive ?? false;
  const reverse = options.reverse ?? false;
  const y = cumsumKernel(x.data, x.shape, ax, exclusive, reverse);
  return record(new Tensor(y, x.shape), [x], (g) => [cumsumKernel(g, x.shape, ax, exclusive, !reverse)]);
}
