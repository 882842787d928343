/**
 * Index-driven gather and scatter-add along one axis (NumPy take_along_axis, torch.gather /
 * scatter_add). idx has x's rank and x's extents except along `axis`, where it has m ≥ 0:
 *   takeAlongAxis(x, idx, axis):         y[..., j, ...] = x[..., idx[..., j, ...], ...]
 *   addAlongAxis(x, idx, values, axis):  y = x;  y[..., idx[..., j, ...], ...] += values[..., j, ...]
 * (values has idx's shape; repeated indices accumulate). The two are each other's transpose:
 * ∂/∂x of takeAlongAxis is the scatter-add of the cotangent, ∂/∂values of addAlongAxis is the
 * gather of the cotangent, and ∂/∂x of addAlongAxis is the identity.
 * Indices must lie in [0, n) (negative indices are rejected, not wrapped).
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { axisLayout, axisOf, type IndexTensor } from "./indices.js";

/** Check idx against x (rank, off-axis extents, range); return the layout. */
function plan(op: string, x: Tensor, idx: IndexTensor, axis: number) {
  const ax = axisOf(op, axis, x.shape);
  const bad = idx.shape.length !== x.rank || idx.shape.some((s, d) => d !== ax && s !== x.shape[d]);
  if (bad) throw new RangeError(`${op}: index shape [${idx.shape}] does not fit [${x.shape}] on axis ${ax}`);
  const { outer, n, inner } = axisLayout(x.shape, ax);
  const d = idx.data;
  for (let k = 0; k < d.length; k++) {
    if (d[k]! < 0 || d[k]! >= n) throw new RangeError(`${op}: index ${d[k]} out of range [0, ${n}) at ${k}`);
  }
  return { outer, n, m: idx.shape[ax]!, inner };
}

type Layout = ReturnType<typeof plan>;

/** out[(o·m + j)·inner + e] = src[(o·n + idx)·inner + e]. */
function gatherKernel(src: FloatArray, idx: Int32Array, { outer, n, m, inner }: Layout): FloatArray {
  const out = allocate(src instanceof Float32Array ? "float32" : "float64", idx.length);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let j = 0; j < m; j++) {
      for (let e = 0; e < inner; e++, k++) out[k] = src[base + idx[k]! * inner + e]!;
    }
  }
  return out;
}

/** dst[(o·n + idx)·inner + e] += src[(o·m + j)·inner + e], in place. */
function scatterAddKernel(dst: FloatArray, src: FloatArray, idx: Int32Array, { outer, n, m, inner }: Layout) {
  let k = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let j = 0; j < m; j++) {
      for (let e = 0; e < inner; e++, k++) dst[base + idx[k]! * inner + e]! += src[k];
    }
  }
}

export function takeAlongAxis(x: Tensor, idx: IndexTensor, axis: number): Tensor {
  const lay = plan("takeAlongAxis", x, idx, axis);
  const y = new Tensor(gatherKernel(x.data, idx.data, lay), [...idx.shape]);
  return record(y, [x], (g) => {
    const gx = allocate(x.dtype, x.size);
    scatterAddKernel(gx, g, idx.data, lay);
    return [gx];
  });
}

export function addAlongAxis(x: Tensor, idx: IndexTensor, values: Tensor, axis: number): Tensor {
  const lay = plan("addAlongAxis", x, idx, axis);
  if (values.rank !== idx.shape.length || values.shape.some((s, d) => s !== idx.shape[d]))
    throw new RangeError(
      `addAlongAxis: values shape [${values.shape}] differs from index shape [${idx.shape}]`,
    );
  if (values.dtype !== x.dtype)
    throw new TypeError(`addAlongAxis: dtype mismatch: ${x.dtype} and ${values.dtype}`);
  const y = allocate(x.dtype, x.size);
  y.set(x.data);
  scatterAddKernel(y, values.data, idx.data, lay);
  return record(new Tensor(y, x.shape), [x, values], (g, needs) => [
    needs[0] ? g.slice() : null,
    needs[1] ? gatherKernel(g, idx.data, lay) : null,
  ]);
}
