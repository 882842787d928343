/**
 * searchsorted(seq, values, {right}) as torch.searchsorted, over the last axis: seq is
 * [..., M] sorted ascending (not checked; no NaN) and values is [..., V] with the same leading
 * extents, or seq is 1-D and values has any shape. For each value v it returns the insertion
 * index i ∈ [0, M]: left (default) #{s < v}, so seq[i−1] < v ≤ seq[i]; right #{s ≤ v}, so
 * seq[i−1] ≤ v < seq[i]. NaN sorts after everything (i = M), as in NumPy and torch.
 *
 * searchBins(knots, values) is the spline form: knots [..., K+1] are the edges of K ≥ 1 bins,
 * bin k = [knots[k], knots[k+1]), and the result is the bin of each value clamped to
 * [0, K−1] (searchsorted right, minus one, clamped). So v = knots[0] is in bin 0; the right edge
 * v = knots[K] (2π for a circular spline) is in the last bin; values below knots[0] go to bin 0
 * and values above knots[K] to bin K−1 (the caller wraps or treats tails; an index is always
 * safe for takeAlongAxis); NaN goes to bin K−1 and stays NaN through the spline's arithmetic.
 * Neither has a gradient: indices are piecewise constant.
 */
import type { Tensor } from "../tensor.js";
import type { IndexTensor } from "./indices.js";

function search(op: string, seq: Tensor, values: Tensor, right: boolean): Int32Array {
  const r = values.rank;
  const batched = seq.rank !== 1;
  if (
    seq.rank === 0 ||
    (batched && (r !== seq.rank || seq.shape.some((s, d) => d < r - 1 && s !== values.shape[d])))
  )
    throw new RangeError(`${op}: sorted sequence [${seq.shape}] does not fit values [${values.shape}]`);
  const m = seq.shape[seq.rank - 1]!;
  const v = values.shape[r - 1] ?? 1;
  const sd = seq.data;
  const vd = values.data;
  const out = new Int32Array(vd.length);
  for (let k = 0; k < vd.length; k++) {
    const off = batched ? Math.floor(k / v) * m : 0;
    const x = vd[k]!;
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = sd[off + mid]!;
      if (right ? s > x : s >= x) hi = mid;
      else lo = mid + 1;
    }
    out[k] = lo;
  }
  return out;
}

export function searchsorted(seq: Tensor, values: Tensor, options: { right?: boolean } = {}): IndexTensor {
  return { data: search("searchsorted", seq, values, options.right ?? false), shape: [...values.shape] };
}

export function searchBins(knots: Tensor, values: Tensor): IndexTensor {
  const bins = (knots.shape[knots.rank - 1] ?? 0) - 1;
  if (bins < 1)
    throw new RangeError(`searchBins: knots [${knots.shape}] need at least 2 edges on the last axis`);
  const idx = search("searchBins", knots, values, true);
  for (let k = 0; k < idx.length; k++) idx[k] = Math.min(bins - 1, Math.max(0, idx[k]! - 1));
  return { data: idx, shape: [...values.shape] };
}
