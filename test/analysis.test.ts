/**
 * Γ-method, binned jackknife, bootstrap and importance-weight estimators against processes with
 * known answers (AR(1) chains, Gaussian target/proposal). All randomness is a fixed-seed mulberry32,
 * so the runs are deterministic; the tolerances are stated as multiples of the reported σ.
 */
import { describe, expect, it } from "vitest";
import { bootstrap } from "../src/analysis/bootstrap.js";
import { gammaMethod, gammaMethodScalar } from "../src/analysis/gamma.js";
import { binnedJackknife } from "../src/analysis/jackknife.js";
import {
  essFromLogWeights,
  essStandardError,
  logZEstimate,
  reweightedMean,
} from "../src/analysis/reweighting.js";

/** mulberry32: a tiny 32-bit PRNG, uniform in [0, 1). */
function mulberry32(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // Box–Muller; 1 − u ∈ (0, 1] keeps the log finite.
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/** Stationary AR(1), x_t = ρ x_{t−1} + √(1−ρ²) ε_t: Var x = 1, ρ(t) = ρ^t, τ_int = (1+ρ)/(2(1−ρ)). */
function ar1(rho: number, n: number, rng: { normal(): number }): Float64Array {
  const x = new Float64Array(n);
  const c = Math.sqrt(1 - rho * rho);
  x[0] = rng.normal();
  for (let t = 1; t < n; t++) x[t] = rho * x[t - 1] + c * rng.normal();
  return x;
}

const N = 100_000;

describe("gammaMethod on AR(1) (N = 100000)", () => {
  for (const [rho, seed] of [
    [0.9, 2],
    [0.5, 3],
  ] as const) {
    it(`ρ = ${rho}: τ_int and σ of the mean`, () => {
      const r = gammaMethodScalar(ar1(rho, N, mulberry32(seed)));
      const tauExact = (1 + rho) / (2 * (1 - rho));
      expect(r.windowConverged).toBe(true);
      // τ_int: within 3 δτ_int and within 10 %. δτ_int/τ_int ≈ √((4W+2)/N) ≈ 4.4 % at ρ = 0.9, so 10 %
      // is only ≈ 2.3σ there (about 2 % of seeds fail it); over seeds 1..200 the pull (τ̂ − τ)/δτ had
      // mean −0.03 and sd 0.91 (ρ = 0.9), −0.13 and 0.97 (ρ = 0.5): unbiased, error well calibrated.
      expect(Math.abs(r.tauInt - tauExact)).toBeLessThan(3 * r.tauIntError);
      expect(Math.abs(r.tauInt / tauExact - 1)).toBeLessThan(0.1);
      // σ of the mean vs √(2τ_int Var/N), Var = 1: 10 % is ≳ 4 δσ/σ = 4√((W+1/2)/N).
      const sigmaExact = Math.sqrt((2 * tauExact) / N);
      expect(Math.abs(r.error / sigmaExact - 1)).toBeLessThan(0.1);
      expect(Math.abs(r.value)).toBeLessThan(4 * r.error); // true mean 0, within 4σ
      expect(r.gamma[0]).toBe(1);
      expect(r.gamma.length).toBe(Math.min(2 * r.window, N / 2) + 1);
      // ρ(1) = ρ within ~5/√N of statistics.
      expect(Math.abs(r.gamma[1] - rho)).toBeLessThan(0.02);
    });
  }

  it("iid data: τ_int ≈ 1/2 (within 3 δτ_int), σ ≈ 1/√N", () => {
    const rng = mulberry32(13);
    const x = Float64Array.from({ length: N }, () => rng.normal());
    const r = gammaMethodScalar(x);
    expect(Math.abs(r.tauInt - 0.5)).toBeLessThan(3 * r.tauIntError);
    expect(Math.abs(r.error * Math.sqrt(N) - 1)).toBeLessThan(4 * Math.sqrt(0.5 / N) + 4 * r.errorOfError);
    // S = 0 assumes no autocorrelation: W = 0, the naive error (with the (1 + 1/N) bias factor).
    const naive = gammaMethodScalar(x, { S: 0 });
    expect(naive.window).toBe(0);
    expect(naive.tauInt).toBe(0.5);
  });
});

describe("derived observable: ratio of means of correlated AR(1) series", () => {
  // a = 2 + x, b = 3 + x/2 + y, x: ρ = 0.9 (τ = 9.5), y: ρ = 0.5 (τ = 1.5), independent.
  // ∇(A/B) = (1/3, −2/9) ⇒ δ = (2/9)(x − y), so σ² = (2/9)² (2·9.5 + 2·1.5)/N exactly (asymptotically).
  const rng = mulberry32(21);
  const x = ar1(0.9, N, rng);
  const y = ar1(0.5, N, rng);
  const a = x.map((v) => 2 + v);
  const b = x.map((v, i) => 3 + 0.5 * v + y[i]);
  const ratio = (m: number[]): number => m[0] / m[1];

  it("Γ-method agrees with the exact delta-method σ (10 %) and binned jackknife (15 %)", () => {
    const g = gammaMethod([a, b], ratio);
    const sigmaExact = Math.sqrt(((2 / 9) ** 2 * (2 * 9.5 + 2 * 1.5)) / N);
    expect(Math.abs(g.error / sigmaExact - 1)).toBeLessThan(0.1); // δσ/σ ≈ 2.5 %: 4σ
    expect(Math.abs(g.value - 2 / 3)).toBeLessThan(4 * g.error);
    // Bin 200 ≫ τ = 9.5 ⇒ 500 bins; jackknife σ has ≈ 1/√(2·500) ≈ 3 % noise: 15 % is ≈ 4σ combined.
    const jk = binnedJackknife([a, b], ratio, 200);
    expect(Math.abs(jk.error / g.error - 1)).toBeLessThan(0.15);
    expect(jk.value).toBeCloseTo(g.value, 12); // N divisible by the bin size
    expect(Math.abs(jk.bias)).toBeLessThan(0.1 * jk.error); // bias O(σ²) ≪ σ for a smooth ratio
  });

  it("block bootstrap agrees with the binned jackknife (15 %) and is reproducible", () => {
    const opts = { samples: 400, binSize: 200 };
    const bs = bootstrap([a, b], ratio, { ...opts, rng: mulberry32(5) });
    const jk = binnedJackknife([a, b], ratio, 200);
    // Bootstrap σ noise ≈ 1/√(2·400) ≈ 3.5 %, jackknife ≈ 3 %: 15 % ≈ 3σ combined.
    expect(Math.abs(bs.error / jk.error - 1)).toBeLessThan(0.15);
    expect(bs.value).toBeCloseTo(jk.value, 12);
    expect(bootstrap([a, b], ratio, { ...opts, rng: mulberry32(5) })).toEqual(bs);
  });
});

describe("jackknife and bootstrap basics", () => {
  const x = Float64Array.from([1, 4, 2, 8, 5, 7]);
  it("binSize 1, f = mean: jackknife reproduces sd/√N and zero bias", () => {
    const m = 27 / 6;
    const sd = Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / 5);
    const jk = binnedJackknife([x], (mm) => mm[0], 1);
    expect(jk.value).toBeCloseTo(m, 14);
    expect(jk.error).toBeCloseTo(sd / Math.sqrt(6), 12);
    expect(jk.bias).toBeCloseTo(0, 12);
  });
  it("binning drops the trailing remainder; bad input throws RangeError", () => {
    expect(binnedJackknife([x], (m) => m[0], 2).value).toBeCloseTo(27 / 6, 14);
    expect(binnedJackknife([x.subarray(0, 5)], (m) => m[0], 2).value).toBeCloseTo(15 / 4, 14);
    expect(() => binnedJackknife([x], (m) => m[0], 4)).toThrow(RangeError); // 1 bin
    expect(() => binnedJackknife([x, x.subarray(1)], (m) => m[0], 1)).toThrow(RangeError);
    expect(() => bootstrap([x], (m) => m[0], { samples: 1, rng: mulberry32(1) })).toThrow(RangeError);
  });
});

describe("gammaMethod edge cases", () => {
  it("constant series: error 0, τ_int = 1/2", () => {
    const r = gammaMethodScalar(new Float64Array(1000).fill(0.1));
    expect(r).toMatchObject({
      value: 0.1,
      error: 0,
      errorOfError: 0,
      tauInt: 0.5,
      tauIntError: 0,
      window: 0,
    });
  });
  it("f ignoring the only fluctuating observable has error 0", () => {
    const rng = mulberry32(3);
    const r = gammaMethod(
      [new Float64Array(100).fill(2), Float64Array.from({ length: 100 }, rng.normal)],
      (m) => Math.sqrt(m[0]),
    );
    expect(r.value).toBeCloseTo(Math.SQRT2, 14);
    expect(r.error).toBe(0);
  });
  it("too short, NaN, mismatched lengths, missing f: RangeError", () => {
    expect(() => gammaMethodScalar(new Float64Array(1))).toThrow(/length ≥ 2/);
    expect(() => gammaMethodScalar(new Float64Array(0))).toThrow(RangeError);
    expect(() => gammaMethodScalar(Float64Array.from([1, Number.NaN, 2]))).toThrow(/non-finite/);
    expect(() => gammaMethod([new Float64Array(4), new Float64Array(5)], (m) => m[0])).toThrow(RangeError);
    expect(() => gammaMethod([new Float64Array(4), new Float64Array(4)])).toThrow(/f is required/);
  });
  it("N = 2: naive error with S = 0; perfect anticorrelation is reported as pathological", () => {
    const x = Float64Array.from([0, 1]);
    const r = gammaMethodScalar(x, { S: 0 });
    expect(r.value).toBe(0.5);
    // C_F = Γ(0)(1 + 1/N) after the bias correction: √(0.25·1.5/2).
    expect(r.error).toBeCloseTo(Math.sqrt(0.1875), 14);
    // ρ(1) = −1 ⇒ C_F(W=1) < 0: no error estimate exists, so it throws rather than report 0.
    expect(() => gammaMethodScalar(x)).toThrow(/pathological/);
  });
});

describe("reweighting", () => {
  it("q = p exactly (constant logw): ESS = 1, lnZ exact with zero error", () => {
    const logw = new Float64Array(500).fill(-3.25);
    expect(essFromLogWeights(logw)).toBeCloseTo(1, 14);
    const z = logZEstimate(logw);
    expect(z.lnZ).toBeCloseTo(-3.25, 12);
    expect(z.lnZError).toBe(0);
    expect(z.variationalLowerBound).toBeCloseTo(-3.25, 12);
    const o = reweightedMean(
      Float64Array.from({ length: 500 }, (_, i) => i),
      logw,
    );
    expect(o.value).toBeCloseTo(249.5, 10);
  });

  it("large log weights do not overflow", () => {
    const logw = Float64Array.from([1000, 1000 + Math.log(3)]);
    expect(logZEstimate(logw).lnZ).toBeCloseTo(1000 + Math.log(2), 10);
    expect(essFromLogWeights(logw)).toBeCloseTo(16 / 20, 12); // (1+3)²/(2(1+9))
  });

  it("q = N(0,1), p̃ = exp(−x²/2σ²), σ = 1.2 (N = 20000): lnZ, ESS, ⟨x²⟩ within 4σ", () => {
    // Z = √(2π) σ. With p = p̃/Z: E_q[(p/q)²] = ∫ p²/q = √(2π)/(2πσ²) ∫ exp(−x²(1/σ² − 1/2)) dx
    //   = 1/(σ √(2 − σ²))  (needs σ² < 2), so ESS → 1/E_q[(p/q)²] = σ √(2 − σ²) ≈ 0.8980.
    // E_q[logw] = ½ ln 2π + ½ (1 − 1/σ²) ≤ ln Z; ⟨x²⟩_p = σ².
    const sigma = 1.2;
    const n = 20_000;
    const rng = mulberry32(31);
    const x = Float64Array.from({ length: n }, () => rng.normal());
    const logw = x.map((v) => -(v * v) / (2 * sigma * sigma) + (v * v) / 2 + 0.5 * Math.log(2 * Math.PI));

    const z = logZEstimate(logw);
    expect(Math.abs(z.lnZ - Math.log(Math.sqrt(2 * Math.PI) * sigma))).toBeLessThan(4 * z.lnZError);
    expect(z.fVariational).toBe(-z.variationalLowerBound);
    const meanLogwExact = 0.5 * Math.log(2 * Math.PI) + 0.5 * (1 - 1 / sigma ** 2);
    const lw = gammaMethodScalar(logw, { S: 0 }); // iid: its σ for the 4σ check
    expect(Math.abs(z.variationalLowerBound - meanLogwExact)).toBeLessThan(4 * lw.error);
    expect(z.variationalLowerBound).toBeLessThan(z.lnZ);

    // ESS = (mean w)²/mean(w²): its σ from the Γ-method on (w, w²) with S = 0 (iid samples).
    const ess = essFromLogWeights(logw);
    const w = logw.map(Math.exp);
    const g = gammaMethod([w, w.map((v) => v * v)], (m) => (m[0] * m[0]) / m[1], { S: 0 });
    expect(ess).toBeCloseTo(g.value, 10);
    expect(Math.abs(ess - sigma * Math.sqrt(2 - sigma ** 2))).toBeLessThan(4 * g.error);
    expect(essStandardError(logw) / g.error).toBeCloseTo(1, 3); // two routes to one delta method

    const x2 = reweightedMean(
      x.map((v) => v * v),
      logw,
    );
    expect(Math.abs(x2.value - sigma ** 2)).toBeLessThan(4 * x2.error);
  });

  it("ESS's standard error: a hand value, and the spread of ESS over 400 independent replicas", () => {
    // w = (1/3, 1) after scaling: a = 2/3, b = 5/9, ψ = ∓0.16, so δESS = √(2·0.16²/(1·2)) = 0.16.
    expect(essStandardError(Float64Array.from([5, 5 + Math.log(3)]))).toBeCloseTo(0.16, 12);
    expect(essStandardError(new Float64Array(10).fill(2))).toBe(0); // q = p: no spread
    // The Gaussian case above at σ = 0.5 (ESS = 0.661; σ < 1 bounds w, so E_q[w⁴], which the error
    // needs, is finite: above σ² = 4/3 it is not) with N = 1000: the replicas' sd of ESS against
    // the mean of the reported errors. The sd's own relative error over 400 replicas is
    // 1/√798 ≈ 3.5 %; 15 % is > 4 of those.
    const sigma = 0.5;
    const rng = mulberry32(57);
    const ess: number[] = [];
    const err: number[] = [];
    for (let r = 0; r < 400; r++) {
      const logw = Float64Array.from({ length: 1000 }, () => {
        const v = rng.normal();
        return -(v * v) / (2 * sigma * sigma) + (v * v) / 2;
      });
      ess.push(essFromLogWeights(logw));
      err.push(essStandardError(logw));
    }
    const mean = ess.reduce((s, x) => s + x, 0) / ess.length;
    const sd = Math.sqrt(ess.reduce((s, x) => s + (x - mean) ** 2, 0) / (ess.length - 1));
    const meanErr = err.reduce((s, x) => s + x, 0) / err.length;
    expect(Math.abs(meanErr / sd - 1)).toBeLessThan(0.15);
    // And the replicas' mean is the exact ESS within 4 of its σ (sd/√400) plus the ratio's O(1/N) bias.
    expect(Math.abs(mean - sigma * Math.sqrt(2 - sigma ** 2))).toBeLessThan((4 * sd) / 20 + 1e-3);
  });

  it("rejects NaN / +∞ / all-zero weights and length mismatch", () => {
    expect(() => essFromLogWeights(Float64Array.from([0, Number.NaN]))).toThrow(RangeError);
    expect(() => logZEstimate(Float64Array.from([0, Number.POSITIVE_INFINITY]))).toThrow(RangeError);
    expect(() => logZEstimate(new Float64Array(3).fill(Number.NEGATIVE_INFINITY))).toThrow(/all weights/);
    expect(() => reweightedMean(new Float64Array(3), new Float64Array(4))).toThrow(RangeError);
    // A zero weight (logw = −∞) simply drops the sample.
    expect(
      reweightedMean(Float64Array.from([1, 5, 3]), Float64Array.from([0, Number.NEGATIVE_INFINITY, 0])).value,
    ).toBe(2);
  });
});
