/**
 * Importance weights of direct flow samples x_i ~ q: logw_i = log p̃(x_i) − log q(x_i), p̃ = e^{−S}
 * unnormalised, Z = ∫p̃ = E_q[w]. Everything is done in log space (logsumexp) since logw ~ O(volume).
 *  - ESS = (Σw)² / (N Σw²) ∈ (0, 1], the normalised effective sample size of
 *    Albergo et al., "Introduction to normalizing flows for lattice field theory", arXiv:2101.08176.
 *    Its error by the delta method: ESS = a²/b with a = mean(w), b = mean(w²), so
 *    δESS = sd(ψ)/√N, ψ_i = (2a/b)(w_i − a) − (a²/b²)(w_i² − b).
 *  - Self-normalised reweighting ⟨O⟩_p ≈ Σ w̃_i O_i, w̃ = w/Σw, with the delta-method error
 *    σ² ≈ Σ w̃_i² (O_i − ⟨O⟩)² (A. Owen, "Monte Carlo theory, methods and examples", §9.2).
 *  - ln Z ≈ logsumexp(logw) − ln N, error by the delta method for the log of a mean,
 *    δ ln Z = sd(w)/(√N mean(w)). By Jensen, E_q[logw] ≤ ln Z: mean(logw) is the variational lower
 *    bound (the reverse-KL loss is its negative), so F = −ln Z ≤ −mean(logw) = fVariational.
 * Flow-based sampling: Albergo, Kanwar, Shanahan, arXiv:1904.12072. logw = −∞ (zero weight) is allowed.
 */
import * as math from "../math/index.js";

export function essFromLogWeights(logw: Float64Array): number {
  check(logw, 1, "essFromLogWeights");
  const twice = logw.map((l) => 2 * l);
  const logEss = 2 * logsumexp(logw) - logsumexp(twice) - math.log(logw.length);
  return Math.min(1, math.exp(logEss)); // ≤ 1 by Cauchy–Schwarz; min() only trims rounding
}

/**
 * The delta-method standard error of essFromLogWeights (header). It needs a finite E_q[w⁴] and is
 * only as good as that moment's estimate: trust it where N·ESS² ≫ 10 (lnz's warning).
 */
export function essStandardError(logw: Float64Array): number {
  check(logw, 2, "essStandardError");
  const N = logw.length;
  const u = weightsOverMax(logw); // ESS is scale-free
  let a = 0;
  let b = 0;
  for (const x of u) {
    a += x;
    b += x * x;
  }
  a /= N;
  b /= N;
  const da = (2 * a) / b;
  const db = -(a * a) / (b * b);
  let v = 0;
  for (const x of u) {
    const psi = da * (x - a) + db * (x * x - b);
    v += psi * psi;
  }
  return Math.sqrt(v / (N - 1) / N);
}

export function reweightedMean(values: Float64Array, logw: Float64Array): { value: number; error: number } {
  check(logw, 2, "reweightedMean");
  if (values.length !== logw.length) {
    throw new RangeError(`reweightedMean: ${values.length} values but ${logw.length} log weights`);
  }
  const w = normalisedWeights(logw);
  let value = 0;
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`reweightedMean: non-finite value at ${i}`);
    value += w[i] * values[i];
  }
  let v = 0;
  for (let i = 0; i < w.length; i++) {
    const d = w[i] * (values[i] - value);
    v += d * d;
  }
  return { value, error: Math.sqrt(v) };
}

export interface LogZEstimate {
  lnZ: number;
  lnZError: number;
  /** mean(logw) ≤ ln Z. */
  variationalLowerBound: number;
  /** −mean(logw) ≥ F = −ln Z. */
  fVariational: number;
}

export function logZEstimate(logw: Float64Array): LogZEstimate {
  check(logw, 2, "logZEstimate");
  const N = logw.length;
  const lse = logsumexp(logw);
  const u = weightsOverMax(logw); // sd(w)/mean(w) is scale-free
  const mu = u.reduce((s, x) => s + x, 0) / N;
  const varU = u.reduce((s, x) => s + (x - mu) * (x - mu), 0) / (N - 1);
  const meanLogw = logw.reduce((s, x) => s + x, 0) / N;
  return {
    lnZ: lse - math.log(N),
    lnZError: Math.sqrt(varU / N) / mu,
    variationalLowerBound: meanLogw,
    fVariational: -meanLogw,
  };
}

/** log Σ exp(x_i), shifted by the maximum so nothing overflows. */
export function logsumexp(x: Float64Array): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const v of x) m = Math.max(m, v);
  if (m === Number.NEGATIVE_INFINITY) return m;
  let s = 0;
  for (const v of x) s += math.exp(v - m);
  return m + math.log(s);
}

/** w/max(w) ∈ [0, 1]: the weights up to a scale, without overflow. */
function weightsOverMax(logw: Float64Array): Float64Array {
  let m = Number.NEGATIVE_INFINITY;
  for (const l of logw) m = Math.max(m, l);
  return logw.map((l) => math.exp(l - m));
}

function normalisedWeights(logw: Float64Array): Float64Array {
  const lse = logsumexp(logw);
  return logw.map((l) => math.exp(l - lse));
}

/** NaN and +∞ are rejected; −∞ (zero weight) is fine unless every weight is zero. */
function check(logw: Float64Array, minLength: number, who: string): void {
  if (logw.length < minLength)
    throw new RangeError(`${who}: need ≥ ${minLength} log weights, got ${logw.length}`);
  let anyFinite = false;
  for (let i = 0; i < logw.length; i++) {
    const l = logw[i];
    if (Number.isNaN(l) || l === Number.POSITIVE_INFINITY)
      throw new RangeError(`${who}: log weight ${i} is ${l}`);
    anyFinite ||= l > Number.NEGATIVE_INFINITY;
  }
  if (!anyFinite) throw new RangeError(`${who}: all weights are zero`);
}

/**
 * Thresholds below which an importance-sampling error bar (ln Z, a reweighted mean) is not to be
 * trusted, for N draws of normalised ESS = (Σw)²/(N Σw²):
 *  - N·ESS < {@link MIN_EFFECTIVE_SAMPLES} (100): the error rests on fewer than 100 effective
 *    samples, so even for well-behaved weights it is itself uncertain by more than
 *    1/√(2·N·ESS) ≈ 7 %, and a single draw can move it;
 *  - N·ESS² < {@link MIN_TAIL_SAMPLES} (10): if log w is roughly Gaussian with variance σ², as for
 *    a trained flow, then ESS ≈ e^{−σ²} and Σw², which sets the error (δ ln Z ≈ √((1/ESS − 1)/N)),
 *    is dominated by draws 2σ² above the mean of log w, which occur with probability ≈ e^{−2σ²} =
 *    ESS² each. With N·ESS² < 10 the sample has seen few or none of them: its spread of log w is
 *    too small, so it underestimates the error and overestimates the ESS, and ln Z comes out
 *    biased low (Jensen: E[ln mean w] ≤ ln Z).
 * E.g. ESS 0.014 needs N ≥ 51 000 draws; ESS 0.15, N ≥ 667; ESS 0.6, N ≥ 167.
 */
export const MIN_EFFECTIVE_SAMPLES = 100;
export const MIN_TAIL_SAMPLES = 10;

/** Draws needed for an ESS to pass both thresholds (Infinity for ESS 0). */
export function drawsNeeded(ess: number): number {
  if (!(ess > 0)) return Number.POSITIVE_INFINITY;
  return Math.ceil(Math.max(MIN_EFFECTIVE_SAMPLES / ess, MIN_TAIL_SAMPLES / (ess * ess)));
}

/**
 * Why an error bar from N weighted draws with this ESS means little, or null if it passes both
 * thresholds above. One clause, without advice (callers add theirs).
 */
export function lowEssReason(ess: number, n: number): string | null {
  const nEff = n * ess;
  const tail = n * ess * ess;
  if (nEff >= MIN_EFFECTIVE_SAMPLES && tail >= MIN_TAIL_SAMPLES) return null;
  const why: string[] = [];
  if (nEff < MIN_EFFECTIVE_SAMPLES) why.push(`N·ESS = ${sig(nEff)} < ${MIN_EFFECTIVE_SAMPLES}`);
  if (tail < MIN_TAIL_SAMPLES) why.push(`N·ESS² = ${sig(tail)} < ${MIN_TAIL_SAMPLES}`);
  const need = drawsNeeded(ess);
  return (
    `ESS ${sig(ess)} on N = ${n} draws (${why.join(", ")}): the few large weights that set the ` +
    `estimate and its error are barely sampled (${Number.isFinite(need) ? `N ≥ ${need} needed at this ESS` : "the ESS is 0"})`
  );
}

function sig(x: number): string {
  return x === 0 ? "0" : Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(2);
}
