/**
 * Non-overlapping block bootstrap for a derived observable f of primary means (B. Efron, Ann. Statist.
 * 7 (1979) 1; blocks of size B ≫ τ_int keep the autocorrelation inside a block). The N_b = ⌊N/B⌋
 * bin means are resampled with replacement; error = sample standard deviation (1/(samples−1)) of f
 * over the bootstrap replicas; value = f(means) of the binned data (trailing N mod B dropped).
 * The caller passes the RNG so results are reproducible.
 */
import { binMeans } from "./jackknife.js";

export interface BootstrapOptions {
  samples: number;
  /** Block size; default 1 (iid data). */
  binSize?: number;
  rng: { uniform(): number };
}

export function bootstrap(
  series: Float64Array[],
  f: (means: number[]) => number,
  opts: BootstrapOptions,
): { value: number; error: number } {
  const { samples, binSize = 1, rng } = opts;
  if (!Number.isInteger(samples) || samples < 2) {
    throw new RangeError(`bootstrap: samples must be an integer ≥ 2, got ${samples}`);
  }
  const bins = binMeans(series, binSize, "bootstrap");
  const nb = bins.length;
  const nObs = series.length;
  const avg = (pick: (b: number) => number): number[] => {
    const m = new Array<number>(nObs).fill(0);
    for (let b = 0; b < nb; b++) {
      const bin = bins[pick(b)];
      for (let a = 0; a < nObs; a++) m[a] += bin[a] / nb;
    }
    return m;
  };
  const value = f(avg((b) => b));
  const theta = new Float64Array(samples);
  // min() guards an RNG that can return exactly 1.
  for (let k = 0; k < samples; k++) theta[k] = f(avg(() => Math.min(nb - 1, Math.floor(rng.uniform() * nb))));
  const m = theta.reduce((s, t) => s + t, 0) / samples;
  const ss = theta.reduce((s, t) => s + (t - m) * (t - m), 0); // two-pass: no cancellation
  return { value, error: Math.sqrt(ss / (samples - 1)) };
}
