/**
 * Quantiles and the five-number summary of a small sample, e.g. a study's final ESS over seeds,
 * where a mean would be pulled by the one seed that stalled on a plateau.
 *
 * The definition is linear interpolation between order statistics (Hyndman & Fan 1996, type 7;
 * the default of R's `quantile` and numpy's `percentile`): with x_0 ≤ … ≤ x_{n−1} and
 * h = (n − 1)p, Q(p) = x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋). So Q(0) is the minimum, Q(1) the
 * maximum, Q(½) the usual median, and the quartiles of 1, 2, 3, 4, 5 are 2 and 4.
 */

export interface FiveNumberSummary {
  n: number;
  min: number;
  /** Lower quartile, Q(1/4). */
  q1: number;
  median: number;
  /** Upper quartile, Q(3/4). */
  q3: number;
  max: number;
}

/** Q(p) of values sorted in ascending order (type 7); the caller guarantees the order. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError("quantile: no values");
  if (!(p >= 0 && p <= 1)) throw new RangeError(`quantile: p must be in [0, 1], got ${p}`);
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * Sorted finite copy; a NaN or infinity is a caller's bug (a failed run must be left out, not
 * averaged in), so it throws rather than being skipped.
 */
function sortedFinite(values: ArrayLike<number>, who: string): Float64Array {
  const v = Float64Array.from(values);
  if (v.length === 0) throw new RangeError(`${who}: no values`);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i]!)) throw new RangeError(`${who}: value ${i} is ${v[i]}`);
  }
  return v.sort();
}

/** Q(p) of finite values in any order (type 7, above). */
export function quantile(values: ArrayLike<number>, p: number): number {
  return quantileSorted(sortedFinite(values, "quantile"), p);
}

/** min, lower quartile, median, upper quartile and max of finite values, with the type-7 quartiles. */
export function fiveNumberSummary(values: ArrayLike<number>): FiveNumberSummary {
  const s = sortedFinite(values, "fiveNumberSummary");
  return {
    n: s.length,
    min: s[0]!,
    q1: quantileSorted(s, 0.25),
    median: quantileSorted(s, 0.5),
    q3: quantileSorted(s, 0.75),
    max: s[s.length - 1]!,
  };
}
