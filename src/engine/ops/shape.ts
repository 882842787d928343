/**
 * Shape ops: reshape (a view), slice along an axis, concat, split.
 * reshape's gradient is the reshape back; slice's is a zero-padded placement; concat's are slices.
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, normAxis, sizeOf, Tensor } from "../tensor.js";

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const free = shape.indexOf(-1);
  let s = [...shape];
  if (free >= 0) {
    const known = -sizeOf(shape);
    s = shape.map((v) => (v === -1 ? x.size / known : v));
  }
  if (sizeOf(s) !== x.size) throw new RangeError(`reshape: cannot view [${x.shape}] as [${shape}]`);
  return record(new Tensor(x.data, s), [x], (g) => [g]);
}

function outerInner(shape: readonly number[], axis: number) {
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer: sizeOf(shape.slice(0, axis)), inner };
}

/** Copy blocks [start, start+len) along axis from src (extent n) into dst (extent m) at dstStart. */
function copyBlocks(
  src: FloatArray,
  n: number,
  start: number,
  len: number,
  dst: FloatArray,
  m: number,
  dstStart: number,
  outer: number,
  inner: number,
) {
  for (let o = 0; o < outer; o++) {
    const from = (o * n + start) * inner;
    dst.set(src.subarray(from, from + len * inner), (o * m + dstStart) * inner);
  }
}

export function slice(x: Tensor, axis: number, start: number, length: number): Tensor {
  const ax = normAxis(axis, x.rank);
  const n = x.shape[ax]!;
  if (start < 0 || length < 0 || start + length > n) {
    throw new RangeError(`slice: [${start}, ${start + length}) out of range for extent ${n}`);
  }
  const { outer, inner } = outerInner(x.shape, ax);
  const y = allocate(x.dtype, outer * length * inner);
  copyBlocks(x.data, n, start, length, y, length, 0, outer, inner);
  const shape = x.shape.map((s, i) => (i === ax ? length : s));
  return record(new Tensor(y, shape), [x], (g) => {
    const gx = allocate(x.dtype, x.size);
    copyBlocks(g, length, 0, length, gx, n, start, outer, inner);
    return [gx];
  });
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new RangeError("concat: no tensors");
  const first = xs[0]!;
  const ax = normAxis(axis, first.rank);
  const m = xs.reduce((acc, t) => acc + t.shape[ax]!, 0);
  const shape = first.shape.map((s, i) => (i === ax ? m : s));
  const { outer, inner } = outerInner(shape, ax);
  const y = allocate(first.dtype, sizeOf(shape));
  const starts: number[] = [];
  let at = 0;
  for (const t of xs) {
    if (t.rank !== first.rank || t.shape.some((s, i) => i !== ax && s !== first.shape[i])) {
      throw new RangeError(`concat: shape [${t.shape}] does not match [${first.shape}] off axis ${ax}`);
    }
    starts.push(at);
    copyBlocks(t.data, t.shape[ax]!, 0, t.shape[ax]!, y, m, at, outer, inner);
    at += t.shape[ax]!;
  }
  return record(new Tensor(y, shape), xs, (g, needs) =>
    xs.map((t, k) => {
      if (!needs[k]) return null;
      const len = t.shape[ax]!;
      const gt = allocate(first.dtype, t.size);
      copyBlocks(g, m, starts[k]!, len, gt, len, 0, outer, inner);
      return gt;
    }),
  );
}

export function split(x: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
  const out: Tensor[] = [];
  let at = 0;
  for (const len of sizes) {
    out.push(slice(x, axis, at, len));
    at += len;
  }
  if (at !== x.shape[normAxis(axis, x.rank)])
    throw new RangeError(`split: sizes [${sizes}] do not sum to extent`);
  return out;
}
