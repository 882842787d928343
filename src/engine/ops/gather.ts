/**
 * Masked gather/scatter along one axis (e.g. the active sites of a checkerboard).
 *   gather(x, axis, idx):        y[..., j, ...] = x[..., idx[j], ...]
 *   scatter(x, axis, idx, n):    y = zeros with extent n on axis, y[..., idx[j], ...] = x[..., j, ...]
 * Each is the other's transpose, so each one's gradient is the other.
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, normAxis, Tensor } from "../tensor.js";

function layout(shape: readonly number[], axis: number) {
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  return { inner, outer };
}

function gatherKernel(src: FloatArray, n: number, outer: number, inner: number, idx: Int32Array): FloatArray {
  const m = idx.length;
  const out = allocate(src instanceof Float32Array ? "float32" : "float64", outer * m * inner);
  if (inner === 1) {
    // One element per index (sites of a flattened lattice): a plain loop, no view per element.
    for (let o = 0; o < outer; o++) {
      const so = o * n;
      const oo = o * m;
      for (let j = 0; j < m; j++) out[oo + j] = src[so + idx[j]!]!;
    }
    return out;
  }
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const from = (o * n + idx[j]!) * inner;
      out.set(src.subarray(from, from + inner), (o * m + j) * inner);
    }
  }
  return out;
}

function scatterKernel(
  src: FloatArray,
  n: number,
  outer: number,
  inner: number,
  idx: Int32Array,
): FloatArray {
  const m = idx.length;
  const out = allocate(src instanceof Float32Array ? "float32" : "float64", outer * n * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const from = (o * m + j) * inner;
      const to = (o * n + idx[j]!) * inner;
      for (let e = 0; e < inner; e++) out[to + e]! += src[from + e];
    }
  }
  return out;
}

export function gather(x: Tensor, axis: number, idx: Int32Array): Tensor {
  const ax = normAxis(axis, x.rank);
  const n = x.shape[ax]!;
  for (const i of idx) if (i < 0 || i >= n) throw new RangeError(`gather: index ${i} out of range [0, ${n})`);
  const { inner, outer } = layout(x.shape, ax);
  const shape = x.shape.map((s, i) => (i === ax ? idx.length : s));
  const y = gatherKernel(x.data, n, outer, inner, idx);
  return record(new Tensor(y, shape), [x], (g) => [scatterKernel(g, n, outer, inner, idx)]);
}

export function scatter(x: Tensor, axis: number, idx: Int32Array, n: number): Tensor {
  const ax = normAxis(axis, x.rank);
  if (x.shape[ax] !== idx.length)
    throw new RangeError(`scatter: ${idx.length} indices for extent ${x.shape[ax]}`);
  for (const i of idx)
    if (i < 0 || i >= n) throw new RangeError(`scatter: index ${i} out of range [0, ${n})`);
  const { inner, outer } = layout(x.shape, ax);
  const shape = x.shape.map((s, i) => (i === ax ? n : s));
  const y = scatterKernel(x.data, n, outer, inner, idx);
  return record(new Tensor(y, shape), [x], (g) => [gatherKernel(g, n, outer, inner, idx)]);
}
