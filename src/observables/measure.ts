/**
 * Measurement of a scalar-field ensemble with honest errors: every mean, and every function of
 * means, gets its error and its integrated autocorrelation time from Wolff's Γ-method
 * (src/analysis/gamma.ts), so a Markov chain (HMC, flow Metropolis–Hastings) is analysed as a
 * correlated series, not as independent samples. Browser-safe: plain typed arrays only.
 *
 * `measureScalarEnsemble(configs, latticeShape, {theory?})` returns a `ScalarMeasurement`; the
 * field names are a stable interface (plots and the CLI read them):
 *
 *   n, volume, latticeShape        N configurations of V = Π L_μ sites; time = dimension 0, T = L₀
 *   m               ⟨M⟩/V, signed (0 by Z₂ symmetry; its τ_int measures tunnelling between ±M)
 *   sign_changes    how often M changed sign along the chain (tunnelling events; 0: stuck in one well)
 *   chi2            χ₂ = ⟨M²⟩/V (Z₂-symmetric two-point susceptibility, docs/physics.md)
 *   chi2_connected  (⟨M²⟩ − ⟨M⟩²)/V, derived from the means of M² and M
 *   abs_m           ⟨|M|⟩/V
 *   phi2, phi4      ⟨(1/V)Σ_x φ²⟩, ⟨(1/V)Σ_x φ⁴⟩
 *   binder          U = 1 − ⟨M⁴⟩/(3⟨M²⟩²), derived from the means of M² and M⁴
 *   action_density  ⟨S⟩/V (null unless `opts.theory` is given)
 *   correlator      [{t, value, error, tauInt}] for t = 0..T−1: the connected zero-momentum
 *                   C(t) = mean(P_t) − ⟨M⟩²/(V·T), derived from the primaries
 *                   P_t = (1/V)Σ_{t₀} S(t₀)S(t₀+t) (time-slice sums S) and M (internally
 *                   shifted by a constant so the primaries are O(C(t)); same function of means)
 *   m_eff           [{t, value, error, tauInt}] for t = 1..⌊T/2⌋: arccosh[(C(t+1)+C(t−1))/(2C(t))]
 *                   as a function of the means of P_{t−1}, P_t, P_{t+1} and M (periodic in t);
 *                   value/error/tauInt are NaN where the argument is < 1 or not finite (noise)
 *   magnetization   the series M_i = Σ_x φ_i(x) (Monte Carlo history, for plots)
 *
 * Every scalar entry is a `GammaEstimate` {value, error, tauInt, tauIntError, gamma, window}:
 * gamma is the normalised autocorrelation ρ(t) of the (projected) observable, t = 0..min(2W, N/2),
 * window is Wolff's automatic summation window W (S = 1.5).
 *
 * `rejectionRunTauInt(accepted)`: an observable-independent autocorrelation time of an
 * independence Metropolis–Hastings chain from its accept/reject history; see there.
 */
import { type GammaResult, gammaMethod, gammaMethodScalar } from "../analysis/gamma.js";
import * as math from "../math/index.js";
import { latticeVolume } from "../theories/lattice.js";
import type { FloatArray, Theory } from "../theories/theory.js";
import {
  absMagnetizationDensity,
  actionDensity,
  binderCumulant,
  magnetization,
  sitePhi2,
  sitePhi4,
  timeSliceSums,
} from "./scalar.js";

/** One Γ-method result: the estimate, its error and its autocorrelation. */
export interface GammaEstimate {
  value: number;
  error: number;
  tauInt: number;
  tauIntError: number;
  /** Normalised autocorrelation ρ(t), t = 0..min(2W, ⌊N/2⌋). */
  gamma: Float64Array;
  /** Summation window W. */
  window: number;
}

/** A point of a t-dependent observable (C(t), m_eff(t)). */
export interface TimePoint {
  t: number;
  value: number;
  error: number;
  tauInt: number;
}

export interface ScalarMeasurement {
  n: number;
  volume: number;
  latticeShape: number[];
  m: GammaEstimate;
  sign_changes: number;
  chi2: GammaEstimate;
  chi2_connected: GammaEstimate;
  abs_m: GammaEstimate;
  phi2: GammaEstimate;
  phi4: GammaEstimate;
  binder: GammaEstimate;
  action_density: GammaEstimate | null;
  correlator: TimePoint[];
  m_eff: TimePoint[];
  magnetization: Float64Array;
}

export interface MeasureOptions {
  /** The theory the ensemble samples; needed for action_density only. */
  theory?: Theory;
}

function estimate(g: GammaResult): GammaEstimate {
  return {
    value: g.value,
    error: g.error,
    tauInt: g.tauInt,
    tauIntError: g.tauIntError,
    gamma: g.gamma,
    window: g.window,
  };
}

/**
 * The Γ-method estimate of f(means of `series`) (default: the mean of one series). A chain too
 * short or too repetitive for the method (its windowed autocorrelation sum is not positive, as
 * in a few configurations of a flow-MH chain that mostly rejected) has no error estimate: the
 * value with error, τ_int and their errors NaN, instead of an exception.
 */
export function gammaEstimate(series: Float64Array[], f?: (means: number[]) => number): GammaEstimate {
  try {
    return estimate(gammaMethod(series, f));
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith("gammaMethod: pathological")) throw e;
    const means = series.map((s) => s.reduce((a, b) => a + b, 0) / s.length);
    const value = f ? f(means) : means[0]!;
    return {
      value,
      error: Number.NaN,
      tauInt: Number.NaN,
      tauIntError: Number.NaN,
      gamma: Float64Array.of(1),
      window: 0,
    };
  }
}

/** Γ-method of a derived observable; NaN entries instead of an exception when f is not finite there. */
function derivedPoint(t: number, series: Float64Array[], f: (m: number[]) => number): TimePoint {
  const means = series.map((s) => s.reduce((a, b) => a + b, 0) / s.length);
  if (!Number.isFinite(f(means))) return { t, value: Number.NaN, error: Number.NaN, tauInt: Number.NaN };
  try {
    const g = gammaMethod(series, f);
    return { t, value: g.value, error: g.error, tauInt: g.tauInt };
  } catch (e) {
    // A derivative that is not finite (argument of arccosh at 1 within a step h), or a chain too
    // short for the method: no error estimate.
    if (e instanceof RangeError || (e instanceof Error && e.message.startsWith("gammaMethod: pathological")))
      return { t, value: f(means), error: Number.NaN, tauInt: Number.NaN };
    throw e;
  }
}

/**
 * Measure the standard observables of a φ⁴-type real scalar ensemble, `configs` holding N
 * configurations of `latticeShape` row-major (N·V numbers). Needs N ≥ 2. See the module comment
 * for the meaning of every field of the result.
 */
export function measureScalarEnsemble(
  configs: FloatArray,
  latticeShape: readonly number[],
  opts: MeasureOptions = {},
): ScalarMeasurement {
  const v = latticeVolume(latticeShape);
  if (configs.length % v !== 0) {
    throw new RangeError(`configs has ${configs.length} values, not a multiple of V = ${v}`);
  }
  const n = configs.length / v;
  if (n < 2) throw new RangeError(`measureScalarEnsemble needs at least 2 configurations, got ${n}`);
  if (opts.theory && opts.theory.latticeShape.join(",") !== latticeShape.join(",")) {
    throw new RangeError(
      `theory lattice [${opts.theory.latticeShape}] does not match the ensemble's [${latticeShape}]`,
    );
  }
  const T = latticeShape[0]!;

  const m = magnetization(configs, latticeShape);
  const m2 = m.map((x) => x * x);
  const m4 = m2.map((x) => x * x);
  const chi2Series = m2.map((x) => x / v);

  const mDensity = gammaEstimate([m.map((x) => x / v)]);
  let signChanges = 0;
  for (let i = 1; i < n; i++) if (m[i]! * m[i - 1]! < 0) signChanges++;
  const chi2 = gammaEstimate([chi2Series]);
  const chi2Connected = gammaEstimate([m2, m], ([a, b]) => (a! - b! * b!) / v);
  const absM = gammaEstimate([absMagnetizationDensity(configs, latticeShape)]);
  const phi2 = gammaEstimate([sitePhi2(configs, latticeShape)]);
  const phi4 = gammaEstimate([sitePhi4(configs, latticeShape)]);
  const binder = gammaEstimate([m2, m4], ([a, b]) => binderCumulant(a!, b!));
  const actionDens = opts.theory ? gammaEstimate([actionDensity(configs, opts.theory)]) : null;

  // Primaries of the correlator: P_t^i = (1/V) Σ_{t₀} S_i(t₀) S_i(t₀+t mod T) and M_i, with
  // C(t) = mean(P_t) − mean(M)²/(V·T). Shifting every slice sum by the constant s̄ = μ₀/T
  // (μ₀ = mean(M), fixed once) gives the same function of the means,
  //   C(t) = mean(P'_t) − (mean(M) − μ₀)²/(V·T),  P'_t = (1/V) Σ_{t₀} (S(t₀) − s̄)(S(t₀+t) − s̄),
  // but with primaries of the size of C(t) itself. Without the shift, in the broken phase
  // (⟨M⟩²/(V·T) ≫ C(t)) the Γ-method's finite-difference step h = σ(mean) in mean(M) alone moves
  // C(t) by more than its value, and m_eff's derivative is lost.
  const slices = timeSliceSums(configs, latticeShape);
  let mu0 = 0;
  for (let i = 0; i < n; i++) mu0 += m[i]!;
  mu0 /= n;
  const sbar = mu0 / T;
  const P: Float64Array[] = Array.from({ length: T }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    const o = i * T;
    for (let t = 0; t < T; t++) {
      let acc = 0;
      for (let t0 = 0; t0 < T; t0++) acc += (slices[o + t0]! - sbar) * (slices[o + ((t0 + t) % T)]! - sbar);
      P[t]![i] = acc / v;
    }
  }
  const mShifted = m.map((x) => x - mu0);
  const sub = (mMean: number) => (mMean * mMean) / (v * T);
  const correlator: TimePoint[] = [];
  for (let t = 0; t < T; t++) {
    correlator.push(derivedPoint(t, [P[t]!, mShifted], ([p, mm]) => p! - sub(mm!)));
  }
  const mEff: TimePoint[] = [];
  for (let t = 1; t <= Math.floor(T / 2); t++) {
    const up = (t + 1) % T;
    const down = (t - 1 + T) % T;
    const f = ([cm, c0, cp, mm]: number[]) => {
      const s = sub(mm!);
      const r = (cp! - s + (cm! - s)) / (2 * (c0! - s));
      return Number.isFinite(r) && r >= 1 ? math.acosh(r) : Number.NaN;
    };
    mEff.push(derivedPoint(t, [P[down]!, P[t]!, P[up]!, mShifted], f));
  }

  return {
    n,
    volume: v,
    latticeShape: [...latticeShape],
    m: mDensity,
    sign_changes: signChanges,
    chi2,
    chi2_connected: chi2Connected,
    abs_m: absM,
    phi2,
    phi4,
    binder,
    action_density: actionDens,
    correlator,
    m_eff: mEff,
    magnetization: m,
  };
}

export interface RejectionRunResult {
  /** τ_int^rej = 1/2 + Σ_{t≥1} ρ_rej(t). */
  tauInt: number;
  /** Γ-method error of Σ_t ρ_rej(t), estimated from the series r_i (see rejectionRunTauInt). */
  tauIntError: number;
  /** ρ_rej(t), t = 0..longest run (ρ_rej(0) = 1). */
  rho: Float64Array;
  /** Fraction of the N − 1 decisions (steps 1..N−1) that accepted. */
  acceptance: number;
  /** Number of maximal runs of consecutive rejections, and the longest. */
  runs: number;
  longestRun: number;
  /** Γ-method τ_int of the acceptance indicator series itself (steps 1..N−1), a cross-check. */
  indicatorTauInt: number;
  indicatorTauIntError: number;
}

/**
 * Autocorrelation of an independence Metropolis–Hastings chain (flow MH) from its accept/reject
 * history `accepted` (1 = step i took the proposal; step 0 starts the chain and is ignored).
 * Proposals are independent of the chain, so correlation comes only from rejections: after t
 * consecutive rejections the chain still holds the same configuration. Following Albergo, Kanwar,
 * Shanahan, arXiv:1904.12072 (autocorrelation from the accept/reject statistics), define
 *
 *   ρ_rej(t) = (1/(N−t)) #{ i ∈ [0, N−t) : steps i+1, …, i+t were all rejected },
 *   τ_int^rej = 1/2 + Σ_{t≥1} ρ_rej(t),
 *
 * computed from the histogram h(r) of maximal rejection runs of length r: a run of length r holds
 * r − t + 1 windows of t consecutive rejections, so ρ_rej(t)(N−t) = Σ_{r≥t} (r−t+1)h(r).
 * If the rejection probability p did not depend on the state, every observable would have exactly
 * ρ_O(t) = p^t = ρ_rej(t) and τ_int = (1 + p)/(2(1 − p)) = (2 − a)/(2a) at acceptance a. In a real
 * chain rejections cluster on high-weight states, so this is an observable-independent estimate
 * to compare with the Γ-method τ_int of each observable, not an exact bound for each of them.
 *
 * Error: with r_i the number of consecutive rejections right after step i (r_i = k if steps
 * i+1..i+k were rejected and step i+k+1 accepted or the chain ended), Σ_t ρ_rej(t) ≈ mean(r_i)
 * (equal up to the 1/(N−t) vs 1/N normalisation), and r_i is a correlated series whose mean has a
 * Γ-method error; that error is reported. `indicatorTauInt` is the Γ-method τ_int of the 0/1
 * acceptance indicator chain: it is ≈ 1/2 when accept decisions are (nearly) independent, even
 * though configurations are correlated, and only shows clustering of rejections over time.
 */
export function rejectionRunTauInt(accepted: ArrayLike<number>): RejectionRunResult {
  const N = accepted.length;
  if (N < 3) throw new RangeError(`rejectionRunTauInt needs at least 3 steps, got ${N}`);
  for (let i = 0; i < N; i++) {
    const a = accepted[i];
    if (a !== 0 && a !== 1) throw new RangeError(`accepted[${i}] = ${a}; expected 0 or 1`);
  }
  // Maximal runs of rejections among steps 1..N−1.
  const hist: number[] = [0];
  let runs = 0;
  let longest = 0;
  let len = 0;
  const close = () => {
    if (len === 0) return;
    while (hist.length <= len) hist.push(0);
    hist[len]!++;
    runs++;
    longest = Math.max(longest, len);
    len = 0;
  };
  let nAcc = 0;
  for (let i = 1; i < N; i++) {
    if (accepted[i] === 1) {
      nAcc++;
      close();
    } else len++;
  }
  close();
  // ρ(t)(N − t) = Σ_{r≥t} (r − t + 1) h(r), by suffix sums A(t) = Σ_{r≥t} h(r), B(t) = Σ_{r≥t} r h(r).
  const rho = new Float64Array(longest + 1);
  rho[0] = 1;
  let A = 0;
  let B = 0;
  let sum = 0;
  for (let t = longest; t >= 1; t--) {
    A += hist[t] ?? 0;
    B += t * (hist[t] ?? 0);
    rho[t] = (B - (t - 1) * A) / (N - t);
    sum += rho[t]!;
  }
  // r_i: consecutive rejections right after step i, by a backward sweep.
  const r = new Float64Array(N);
  for (let i = N - 2; i >= 0; i--) r[i] = accepted[i + 1] === 1 ? 0 : r[i + 1]! + 1;
  const gr = gammaMethodScalar(r);
  const ind = new Float64Array(N - 1);
  for (let i = 1; i < N; i++) ind[i - 1] = accepted[i]!;
  const gi = gammaMethodScalar(ind);
  return {
    tauInt: 0.5 + sum,
    tauIntError: gr.error,
    rho,
    acceptance: nAcc / (N - 1),
    runs,
    longestRun: longest,
    indicatorTauInt: gi.tauInt,
    indicatorTauIntError: gi.tauIntError,
  };
}
