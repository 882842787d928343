/**
 * roll(x, shift, axis) as torch.roll: y[..., i, ...] = x[..., (i − shift) mod n, ...].
 * Its gradient is the roll by −shift.
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, normAxis, Tensor } from "../tensor.js";

function rollKernel(src: FloatArray, shape: readonly number[], shift: number, axis: number): FloatArray {
  const n = shape[axis]!;
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  const outer = src.length / (n * inner);
  const out = allocate(src instanceof Float32Array ? "float32" : "float64", src.length);
  const sh = ((shift % n) + n) % n;
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let i = 0; i < n; i++) {
      const j = (i + sh) % n;
      out.set(src.subarray(base + i * inner, base + (i + 1) * inner), base + j * inner);
    }
  }
  return out;
}

export function roll(x: Tensor, shift: number, axis: number): Tensor {
  const ax = normAxis(axis, x.rank);
  const y = rollKernel(x.data, x.shape, shift, ax);
  return record(new Tensor(y, x.shape), [x], (g) => [rollKernel(g, x.shape, -shift, ax)]);
}
