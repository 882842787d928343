/**
 * Batch growth (Smith, Kindermans, Ying & Le, arXiv 1711.00489, "Don't decay the learning
 * rate, increase the batch size"): the batch of the t-th update (t = 0, 1, …) doubles once
 * every n updates, up to B_max:
 *   B(t) = min(B_max, B₀·2^⌊t/n⌋).
 * The gradient noise scales as lr/B, so doubling B anneals it as halving lr would, with fewer
 * updates for the same number of samples. B depends on the step alone, so a resumed run draws
 * exactly what an uninterrupted one does.
 */

/** The fields of a run's training spec that set its batch (structural: train/ knows no spec). */
export interface BatchSpec {
  batch: number;
  /** Updates between two doublings; with batchMax, or neither (a constant batch). */
  batchGrowthEvery?: number | undefined;
  /** The largest batch, ≥ batch. */
  batchMax?: number | undefined;
}

/** B(t), the batch of update t (0-based): `batch` when the spec has no growth. */
export function batchAt(t: BatchSpec, step: number): number {
  const every = t.batchGrowthEvery;
  const max = t.batchMax;
  if (every === undefined || max === undefined) return t.batch;
  // Doubling in integers (no 2^k overflow for a long run): stop at the cap.
  let b = t.batch;
  for (let k = Math.floor(step / every); k > 0 && b < max; k--) b *= 2;
  return Math.min(b, max);
}

/**
 * A trainer's `batchAt` (src/train/trainer.ts, src/parallel/shard.ts) from a run's spec;
 * undefined for a constant batch, so the trainers keep their constant path.
 */
export function batchScheduleOf(t: BatchSpec): ((step: number) => number) | undefined {
  if (t.batchGrowthEvery === undefined || t.batchMax === undefined) return undefined;
  if (!(Number.isInteger(t.batchGrowthEvery) && t.batchGrowthEvery >= 1))
    throw new RangeError(`batch growth: batchGrowthEvery must be an integer ≥ 1, got ${t.batchGrowthEvery}`);
  if (!(Number.isInteger(t.batchMax) && t.batchMax >= t.batch))
    throw new RangeError(`batch growth: batchMax must be an integer ≥ batch ${t.batch}, got ${t.batchMax}`);
  const spec: BatchSpec = { batch: t.batch, batchGrowthEvery: t.batchGrowthEvery, batchMax: t.batchMax };
  return (step) => batchAt(spec, step);
}
