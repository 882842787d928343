/**
 * Flow MH is exact whatever the proposal: with a deliberately wrong Gaussian proposal on a
 * 4-site free field, ⟨φ(0)²⟩ and ⟨φ(0)φ(1)⟩ match the exact covariance A⁻¹ within 4σ
 * (σ from the Γ-method, which accounts for the rejections' autocorrelation).
 */
import { describe, expect, it } from "vitest";
import { gammaMethodScalar } from "../src/analysis/gamma.js";
import { independenceMetropolis } from "../src/mcmc/independence-metropolis.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";

describe("independenceMetropolis", () => {
  it("samples the free field exactly from a wrong proposal", () => {
    const m2 = 0.5;
    const theory = new Phi4Theory({ latticeShape: [4], m2, lam: 0 });
    const sigma = 0.8;
    const prop = new Rng(11);
    const propose = (n: number) => {
      const x = new Float64Array(n * 4);
      prop.normal(x);
      const logq = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = 0; k < 4; k++) {
          x[i * 4 + k]! *= sigma;
          s += x[i * 4 + k]! ** 2;
        }
        logq[i] = -s / (2 * sigma * sigma) - 4 * Math.log(sigma * Math.sqrt(2 * Math.PI));
      }
      return { x, logq };
    };
    const n = 40000;
    const r = independenceMetropolis(theory, propose, { n, batch: 1000 }, new Rng(12));
    expect(r.acceptance).toBeGreaterThan(0.2);
    expect(r.acceptance).toBeLessThan(1);
    // S = ½ φᵀAφ with A = 2(m² + 2)I − 2(shift + shift⁻¹) on the 4-site ring (d = 1):
    // circulant with eigenvalues a_p = 2(m² + 2 − 2 cos p), p = 0, π/2, π, 3π/2;
    // Cov(0, x) = (1/4) Σ_p cos(px)/a_p.
    const cov = (x: number) => {
      let s = 0;
      for (let k = 0; k < 4; k++)
        s += Math.cos((Math.PI / 2) * k * x) / (2 * (m2 + 2 - 2 * Math.cos((Math.PI / 2) * k)));
      return s / 4;
    };
    const c00 = new Float64Array(n);
    const c01 = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      c00[i] = r.configs[i * 4]! ** 2;
      c01[i] = r.configs[i * 4]! * r.configs[i * 4 + 1]!;
    }
    for (const [series, exact] of [
      [c00, cov(0)],
      [c01, cov(1)],
    ] as const) {
      const g = gammaMethodScalar(series);
      expect(Math.abs(g.value - exact)).toBeLessThan(4 * g.error);
    }
  });
});
