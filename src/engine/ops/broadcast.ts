/** NumPy broadcasting: result shapes, index maps, and summing a cotangent back to an input shape. */
import { allocate, type FloatArray, sameShape, sizeOf } from "../tensor.js";

export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`shapes [${a}] and [${b}] cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * For each element of `outShape`, the index of the element of `inShape` it reads
 * (inShape broadcast to outShape). Returns null when no mapping is needed (same shape).
 */
export function broadcastIndex(inShape: readonly number[], outShape: readonly number[]): Int32Array | null {
  if (sameShape(inShape, outShape)) return null;
  const n = sizeOf(outShape);
  const idx = new Int32Array(n);
  const inSize = sizeOf(inShape);
  if (inSize === 1) return idx;
  // Suffix broadcast (e.g. a per-site mask over a batch): index = i mod inSize.
  const off = outShape.length - inShape.length;
  let suffix = true;
  for (let i = 0; i < inShape.length; i++) if (inShape[i] !== outShape[off + i]) suffix = false;
  if (suffix) {
    for (let i = 0; i < n; i++) idx[i] = i % inSize;
    return idx;
  }
  const r = outShape.length;
  const inStrides = new Array<number>(r).fill(0);
  let s = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    inStrides[off + i] = inShape[i] === 1 ? 0 : s;
    s *= inShape[i]!;
  }
  const coord = new Array<number>(r).fill(0);
  let j = 0;
  for (let i = 0; i < n; i++) {
    idx[i] = j;
    for (let d = r - 1; d >= 0; d--) {
      coord[d]!++;
      j += inStrides[d]!;
      if (coord[d]! < outShape[d]!) break;
      j -= inStrides[d]! * outShape[d]!;
      coord[d] = 0;
    }
  }
  return idx;
}

/** Sum a cotangent over the broadcast axes so that it has `inSize` elements. */
export function reduceToInput(g: FloatArray, idx: Int32Array | null, inSize: number): FloatArray {
  if (idx === null) return g;
  const out = allocate(g instanceof Float32Array ? "float32" : "float64", inSize);
  for (let i = 0; i < g.length; i++) out[idx[i]!]! += g[i];
  return out;
}
