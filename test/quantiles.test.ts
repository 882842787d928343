/** The type-7 quantiles of src/analysis/quantiles.ts against values worked by hand (and numpy's percentile). */
import { describe, expect, it } from "vitest";
import { fiveNumberSummary, quantile, quantileSorted } from "../src/analysis/quantiles.js";

describe("quantile (linear interpolation between order statistics)", () => {
  it("gives the textbook quartiles of 1..5 and interpolates for 1..4", () => {
    expect(fiveNumberSummary([1, 2, 3, 4, 5])).toEqual({ n: 5, min: 1, q1: 2, median: 3, q3: 4, max: 5 });
    // h = 3p: Q(¼) = x₀ + 0.75(x₁ − x₀), Q(½) = (x₁ + x₂)/2, Q(¾) = x₂ + 0.25(x₃ − x₂).
    expect(fiveNumberSummary([4, 1, 3, 2])).toEqual({
      n: 4,
      min: 1,
      q1: 1.75,
      median: 2.5,
      q3: 3.25,
      max: 4,
    });
  });

  it("matches numpy.percentile on an unsorted sample of six ESS values", () => {
    // numpy.percentile([0.3, 0.9, 0.1, 0.5, 0.2, 0.4], [25, 50, 75]) = [0.225, 0.35, 0.475]
    const s = fiveNumberSummary([0.3, 0.9, 0.1, 0.5, 0.2, 0.4]);
    expect(s.n).toBe(6);
    expect(s.min).toBe(0.1);
    expect(s.q1).toBeCloseTo(0.225, 15);
    expect(s.median).toBeCloseTo(0.35, 15);
    expect(s.q3).toBeCloseTo(0.475, 15);
    expect(s.max).toBe(0.9);
  });

  it("takes the ends at p = 0 and 1, any p in between, and one value for every quantile", () => {
    expect(quantile([30, 10, 20], 0)).toBe(10);
    expect(quantile([30, 10, 20], 1)).toBe(30);
    expect(quantile([30, 10, 20], 0.1)).toBeCloseTo(12, 12);
    expect(quantileSorted([10, 20, 30], 0.9)).toBeCloseTo(28, 12);
    expect(fiveNumberSummary([7])).toEqual({ n: 1, min: 7, q1: 7, median: 7, q3: 7, max: 7 });
  });

  it("leaves its input alone", () => {
    const v = [3, 1, 2];
    expect(quantile(v, 0.5)).toBe(2);
    expect(v).toEqual([3, 1, 2]);
  });

  it("refuses an empty sample, a non-finite value and p outside [0, 1]", () => {
    expect(() => fiveNumberSummary([])).toThrow(RangeError);
    expect(() => fiveNumberSummary([1, Number.NaN])).toThrow(/value 1 is NaN/);
    expect(() => quantile([1, Number.POSITIVE_INFINITY], 0.5)).toThrow(RangeError);
    expect(() => quantile([1, 2], 1.5)).toThrow(RangeError);
    expect(() => quantileSorted([], 0.5)).toThrow(RangeError);
  });
});
