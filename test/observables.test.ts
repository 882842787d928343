import { describe, expect, it } from "vitest";
import {
  absMagnetizationDensity,
  actionDensity,
  binderCumulant,
  chi2,
  correlatorFromSliceSums,
  effectiveMass,
  magnetization,
  sitePhi2,
  sitePhi4,
  timeSliceSums,
} from "../src/observables/scalar.js";
import { Phi4Theory } from "../src/theories/phi4.js";

// Two configurations on a 2×3 lattice (T = 2 time slices of 3 sites), row-major.
const shape = [2, 3];
const configs = new Float64Array([
  // config 0: slice t=0 | slice t=1
  1, 2, -1, 0, 1, 3,
  // config 1
  -2, 0, 1, 1, -1, -1,
]);

describe("scalar observables", () => {
  it("site sums and means", () => {
    expect(Array.from(magnetization(configs, shape))).toEqual([6, -2]);
    expect(Array.from(absMagnetizationDensity(configs, shape))).toEqual([1, 2 / 6]);
    // φ²: 1+4+1+0+1+9 = 16; 4+0+1+1+1+1 = 8.
    expect(Array.from(sitePhi2(configs, shape))).toEqual([16 / 6, 8 / 6]);
    // φ⁴: 1+16+1+0+1+81 = 100; 16+0+1+1+1+1 = 20.
    expect(Array.from(sitePhi4(configs, shape))).toEqual([100 / 6, 20 / 6]);
    // M²/V.
    expect(Array.from(chi2(configs, shape))).toEqual([36 / 6, 4 / 6]);
    expect(() => magnetization(new Float64Array(5), shape)).toThrow(RangeError);
  });

  it("action density via a theory", () => {
    // Constant field c on a 2×3 lattice: S = V(m²c² + λc⁴), so S/V = m²c² + λc⁴.
    const th = new Phi4Theory({ latticeShape: shape, m2: -1, lam: 2 });
    const c = new Float64Array(12);
    c.fill(0.5, 0, 6);
    c.fill(-1, 6, 12);
    const s = actionDensity(c, th);
    expect(s[0]).toBeCloseTo(-0.25 + 2 * 0.0625, 14);
    expect(s[1]).toBeCloseTo(-1 + 2, 14);
  });

  it("Binder cumulant: Gaussian M gives 0, M = ±m gives 2/3", () => {
    // Gaussian: ⟨M⁴⟩ = 3⟨M²⟩².
    expect(binderCumulant(2, 12)).toBeCloseTo(0, 15);
    expect(binderCumulant(4, 16)).toBeCloseTo(2 / 3, 15);
  });

  it("time-slice sums and the connected correlator", () => {
    const s = timeSliceSums(configs, shape);
    expect(Array.from(s)).toEqual([2, 4, -1, -1]);
    const c = correlatorFromSliceSums(s, 2, 2, 6);
    // ⟨M⟩ = (6 − 2)/2 = 2, subtraction ⟨M⟩²/(V·T) = 4/12.
    // t=0: Σ_t0 S(t0)² → config 0: 4 + 16 = 20, config 1: 1 + 1 = 2; mean 11; /V → 11/6.
    // t=1: Σ_t0 S(t0)S(t0+1) → config 0: 8 + 8 = 16, config 1: 1 + 1 = 2; mean 9; /V → 9/6.
    expect(c[0]).toBeCloseTo(11 / 6 - 4 / 12, 14);
    expect(c[1]).toBeCloseTo(9 / 6 - 4 / 12, 14);
    // Σ_t C(t) = (⟨M²⟩ − ⟨M⟩²)/V = ((36 + 4)/2 − 4)/6.
    expect(c[0]! + c[1]!).toBeCloseTo((20 - 4) / 6, 14);
    expect(() => correlatorFromSliceSums(s, 2, 3, 6)).toThrow(RangeError);
  });

  it("time-slice sums in 3-D use dimension 0 as time", () => {
    const sh = [3, 2, 2];
    const cfg = new Float64Array(12).map((_, i) => i);
    expect(Array.from(timeSliceSums(cfg, sh))).toEqual([0 + 1 + 2 + 3, 4 + 5 + 6 + 7, 8 + 9 + 10 + 11]);
  });

  it("effective mass of a periodic cosh correlator is its mass; NaN where undefined", () => {
    const T = 16;
    const m = 0.3;
    const c = Array.from({ length: T }, (_, t) => Math.cosh(m * (t - T / 2)));
    const me = effectiveMass(c);
    for (let t = 1; t < T; t++) expect(me[t]).toBeCloseTo(m, 12);
    // t = 0 wraps to C(−1) = C(1) < C(0): argument < 1, so NaN.
    expect(Number.isNaN(me[0])).toBe(true);
    expect(Number.isNaN(effectiveMass([1, 0, 1])[1])).toBe(true);
  });
});
