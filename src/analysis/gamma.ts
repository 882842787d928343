/**
 * The Γ-method for Monte Carlo errors: U. Wolff, "Monte Carlo errors with less errors",
 * Comput. Phys. Commun. 156 (2004) 143, hep-lat/0306017 (v4), as implemented in his UWerr.m (V6).
 * One replica (R = 1), primary observables a_α^i, i = 1..N, means ā_α, derived F = f(ā).
 *
 *   f_α     ≈ [f(ā + h_α e_α) − f(ā − h_α e_α)] / (2h_α),   h_α = √(Γ_αα(0)/N)
 *   δ_i     = Σ_α f_α (a_α^i − ā_α)                              (projected fluctuation)
 *   Γ_F(t)  = 1/(N−t) Σ_{i=1}^{N−t} δ_i δ_{i+t}
 *   C_F(W)  = Γ_F(0) + 2 Σ_{t=1}^{W} Γ_F(t),   τ_int(W) = C_F(W) / (2Γ_F(0))
 *
 * Automatic window: W is the first W ≥ 1 with g(W) = exp(−W/τ(W)) − τ(W)/√(WN) < 0, where
 * τ(W) = S / ln[(2τ_int(W)+1)/(2τ_int(W)−1)] (S = 1.5 default; τ(W) → 0 if τ_int(W) ≤ 1/2).
 * Then the O(1/N) bias of Γ is removed, Γ_F(t) → Γ_F(t) + C_F(W)/N for all t, and C_F recomputed
 * (so C_F → C_F·(1 + (2W+1)/N)). Results:
 *   σ_F = √(C_F/N),   δσ_F = σ_F √((W + 1/2)/N),
 *   τ_int = C_F/(2Γ_F(0)),   δτ_int = 2τ_int √((W + 1/2 − τ_int)/N)   (paper v4, eq. 42;
 *   leading term τ_int √((4W+2)/N), Madras–Sokal).
 * Γ_F(t) is computed for all lags at once by a zero-padded FFT.
 */
import * as math from "../math/index.js";

export interface GammaOptions {
  /** Wolff's S ≈ τ_exp/τ_int guess for the window criterion; 0 assumes no autocorrelation (W = 0). */
  S?: number;
}

export interface GammaResult {
  value: number;
  error: number;
  errorOfError: number;
  tauInt: number;
  tauIntError: number;
  window: number;
  /** Normalised, bias-corrected autocorrelation ρ(t), t = 0..min(2W, ⌊N/2⌋). */
  gamma: Float64Array;
  N: number;
  /** False if g(W) never turned negative up to ⌊N/2⌋ (then W = ⌊N/2⌋): the series is too short. */
  windowConverged: boolean;
}

/** Γ-method error of a derived observable f(means) (default: the mean of the single series). */
export function gammaMethod(
  series: Float64Array[],
  f?: (means: number[]) => number,
  opts: GammaOptions = {},
): GammaResult {
  const S = opts.S ?? 1.5;
  if (!(S >= 0) || !Number.isFinite(S)) throw new RangeError(`gammaMethod: S must be ≥ 0, got ${S}`);
  const N = validate(series);
  const fun = f ?? defaultF(series.length);
  const means = series.map(mean);
  const value = fun(means);
  if (!Number.isFinite(value)) throw new RangeError(`gammaMethod: f(means) is not finite (${value})`);

  const delta = project(series, means, fun, N);
  let gamma0 = 0;
  for (let i = 0; i < N; i++) gamma0 += delta[i] * delta[i];
  gamma0 /= N;
  if (gamma0 === 0) {
    // No fluctuations (constant data, or f independent of the fluctuating means).
    const gamma = Float64Array.of(1);
    return {
      value,
      error: 0,
      errorOfError: 0,
      tauInt: 0.5,
      tauIntError: 0,
      window: 0,
      gamma,
      N,
      windowConverged: true,
    };
  }

  const tmax = Math.floor(N / 2);
  const G = autocovariance(delta, tmax);
  G[0] = gamma0;
  let W = S === 0 ? 0 : tmax;
  let windowConverged = S === 0;
  let gint = 0;
  for (let t = 1; t <= tmax && !windowConverged; t++) {
    gint += G[t] / gamma0; // τ_int(t) − 1/2
    const tauW = gint <= 0 ? Number.EPSILON : S / math.log((gint + 1) / gint);
    if (math.exp(-t / tauW) - tauW / Math.sqrt(t * N) < 0) {
      W = t;
      windowConverged = true;
    }
  }

  let C = sumWindow(G, W);
  if (!(C > 0)) {
    throw new Error(`gammaMethod: pathological autocorrelation, estimated error² = ${C / N} ≤ 0 at W = ${W}`);
  }
  const tEnd = Math.min(2 * W, tmax);
  const corrected = new Float64Array(tEnd + 1);
  for (let t = 0; t <= tEnd; t++) corrected[t] = G[t] + C / N; // remove the −C_F/N bias of Γ̄_F(t)
  C = sumWindow(corrected, W);
  const error = Math.sqrt(C / N);
  const tauInt = C / (2 * corrected[0]);
  const gamma = corrected.map((g) => g / corrected[0]);
  return {
    value,
    error,
    errorOfError: error * Math.sqrt((W + 0.5) / N),
    tauInt,
    tauIntError: 2 * tauInt * Math.sqrt(Math.max(0, W + 0.5 - tauInt) / N),
    window: W,
    gamma,
    N,
    windowConverged,
  };
}

/** Γ-method error of the mean of one series. */
export function gammaMethodScalar(series: Float64Array, opts: GammaOptions = {}): GammaResult {
  return gammaMethod([series], undefined, opts);
}

function validate(series: Float64Array[]): number {
  if (series.length === 0) throw new RangeError("gammaMethod: need at least one primary observable");
  const N = series[0].length;
  if (N < 2) throw new RangeError(`gammaMethod: need a series of length ≥ 2, got ${N}`);
  series.forEach((s, a) => {
    if (s.length !== N)
      throw new RangeError(`gammaMethod: series ${a} has length ${s.length}, expected ${N}`);
    for (let i = 0; i < N; i++) {
      if (!Number.isFinite(s[i]))
        throw new RangeError(`gammaMethod: series ${a} has non-finite value at ${i}`);
    }
  });
  return N;
}

function defaultF(nObs: number): (means: number[]) => number {
  if (nObs !== 1) throw new RangeError(`gammaMethod: f is required for ${nObs} primary observables`);
  return (m) => m[0];
}

/** Mean; exact for constant data so that its fluctuations come out exactly zero. */
function mean(s: Float64Array): number {
  let sum = 0;
  let constant = true;
  for (let i = 0; i < s.length; i++) {
    sum += s[i];
    constant &&= s[i] === s[0];
  }
  return constant ? s[0] : sum / s.length;
}

/** δ_i = Σ_α f_α (a_α^i − ā_α), with f_α by central differences of step h_α = √(Γ_αα(0)/N). */
function project(
  series: Float64Array[],
  means: number[],
  f: (m: number[]) => number,
  N: number,
): Float64Array {
  const delta = new Float64Array(N);
  series.forEach((s, a) => {
    const m = means[a];
    let v = 0;
    for (let i = 0; i < N; i++) v += (s[i] - m) * (s[i] - m);
    const h = Math.sqrt(v / N / N);
    if (h === 0) return; // this observable does not fluctuate
    const x = means.slice();
    x[a] = m + h;
    const up = f(x);
    x[a] = m - h;
    const grad = (up - f(x)) / (2 * h);
    if (!Number.isFinite(grad))
      throw new RangeError(`gammaMethod: derivative of f w.r.t. mean ${a} is not finite`);
    for (let i = 0; i < N; i++) delta[i] += grad * (s[i] - m);
  });
  return delta;
}

function sumWindow(G: Float64Array, W: number): number {
  let c = G[0];
  for (let t = 1; t <= W; t++) c += 2 * G[t];
  return c;
}

/** Γ(t) = Σ_{i<N−t} δ_i δ_{i+t} / (N−t) for t = 0..tmax, via FFT padded to avoid wrap-around. */
function autocovariance(delta: Float64Array, tmax: number): Float64Array {
  const N = delta.length;
  let M = 1;
  while (M < N + tmax) M <<= 1;
  const re = new Float64Array(M);
  const im = new Float64Array(M);
  re.set(delta);
  fft(re, im);
  for (let k = 0; k < M; k++) {
    re[k] = re[k] * re[k] + im[k] * im[k];
    im[k] = 0;
  }
  fft(re, im); // |X|² is real and even, so the forward transform equals M × the inverse one
  const G = new Float64Array(tmax + 1);
  for (let t = 0; t <= tmax; t++) G[t] = re[t] / M / (N - t);
  return G;
}

/** In-place iterative radix-2 FFT (length a power of 2), X_k = Σ x_j e^{−2πijk/M}. */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  // Twiddles from a table, not a running product, so rounding does not grow with n.
  const cos = new Float64Array(n >> 1);
  const sin = new Float64Array(n >> 1);
  for (let k = 0; k < n >> 1; k++) {
    cos[k] = math.cos((2 * Math.PI * k) / n);
    sin[k] = -math.sin((2 * Math.PI * k) / n);
  }
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const step = n / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < half; k++) {
        const a = i + k;
        const b = a + half;
        const wr = cos[k * step];
        const wi = sin[k * step];
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] = re[a] + xr;
        im[a] = im[a] + xi;
      }
    }
  }
}
