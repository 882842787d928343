/**
 * Binned (blocked) jackknife for a derived observable f of primary means, e.g. B. Efron,
 * "The Jackknife, the Bootstrap and Other Resampling Plans" (1982); binning handles autocorrelation
 * once the bin size B ≫ τ_int. With N_b = ⌊N/B⌋ bins (the trailing N mod B samples are dropped)
 * and θ_(j) = f(means without bin j), θ̄ = (1/N_b) Σ_j θ_(j):
 *   value = f(means),   bias = (N_b − 1)(θ̄ − value),   error² = (N_b − 1)/N_b · Σ_j (θ_(j) − θ̄)².
 * The bias-corrected estimate is value − bias.
 */

export interface JackknifeResult {
  value: number;
  error: number;
  bias: number;
}

/** Bin means: bins[b][α] for b < ⌊N/binSize⌋; throws RangeError on malformed input. */
export function binMeans(series: Float64Array[], binSize: number, who: string): number[][] {
  if (series.length === 0) throw new RangeError(`${who}: need at least one primary observable`);
  if (!Number.isInteger(binSize) || binSize < 1) {
    throw new RangeError(`${who}: binSize must be a positive integer, got ${binSize}`);
  }
  const N = series[0].length;
  const nb = Math.floor(N / binSize);
  if (nb < 2) throw new RangeError(`${who}: need ≥ 2 bins, got ${nb} (N = ${N}, binSize = ${binSize})`);
  const bins = Array.from({ length: nb }, () => new Array<number>(series.length).fill(0));
  series.forEach((s, a) => {
    if (s.length !== N) throw new RangeError(`${who}: series ${a} has length ${s.length}, expected ${N}`);
    for (let b = 0; b < nb; b++) {
      let sum = 0;
      for (let i = b * binSize; i < (b + 1) * binSize; i++) {
        if (!Number.isFinite(s[i])) throw new RangeError(`${who}: series ${a} has non-finite value at ${i}`);
        sum += s[i];
      }
      bins[b][a] = sum / binSize;
    }
  });
  return bins;
}

export function binnedJackknife(
  series: Float64Array[],
  f: (means: number[]) => number,
  binSize: number,
): JackknifeResult {
  const bins = binMeans(series, binSize, "binnedJackknife");
  const nb = bins.length;
  const total = new Array<number>(series.length).fill(0);
  for (const bin of bins) {
    for (let a = 0; a < bin.length; a++) total[a] += bin[a];
  }
  const value = f(total.map((t) => t / nb));
  // Leave-one-bin-out means from the totals: O(N_b) instead of O(N_b²).
  const theta = bins.map((bin) => f(total.map((t, a) => (t - bin[a]) / (nb - 1))));
  const thetaBar = theta.reduce((s, t) => s + t, 0) / nb;
  const ss = theta.reduce((s, t) => s + (t - thetaBar) * (t - thetaBar), 0);
  return { value, error: Math.sqrt(((nb - 1) / nb) * ss), bias: (nb - 1) * (thetaBar - value) };
}
