import { describe, expect, it } from "vitest";
import { hmcBatchTrajectory, makeBatchWork } from "../src/mcmc/hmc-batch.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";

/**
 * Free field on a ring of L sites with the notebook action (λ = 0):
 * S = ½ φᵀAφ, A(p) = 2(m² + 4 sin²(p/2)), so ⟨φ(x)²⟩ = (1/L) Σ_p 1 / A(p).
 */
function freeVariance(L: number, m2: number): number {
  let g = 0;
  for (let k = 0; k < L; k++) g += 1 / (2 * (m2 + 4 * Math.sin((Math.PI * k) / L) ** 2));
  return g / L;
}

describe("hmcBatchTrajectory", () => {
  it("samples the free field: ⟨φ²⟩ within 4σ over 256 independent chains", () => {
    const L = 6;
    const m2 = 0.7;
    const th = new Phi4Theory({ latticeShape: [L], m2, lam: 0 });
    const batch = 256;
    const phi = new Float64Array(batch * L);
    const rng = new Rng(7);
    const work = makeBatchWork(th, batch);
    const chainMeans = new Float64Array(batch);
    let acc = 0;
    const burn = 50;
    const n = 200;
    for (let t = 0; t < burn + n; t++) {
      const p = hmcBatchTrajectory(th, phi, batch, 0.3, 5, rng, work);
      if (t < burn) continue;
      for (let b = 0; b < batch; b++) {
        acc += p[b]! / (batch * n);
        let s = 0;
        for (let i = 0; i < L; i++) s += phi[b * L + i]! ** 2;
        chainMeans[b]! += s / L / n;
      }
    }
    // Chains are independent: the spread of their means is an honest error of the grand mean.
    const mean = chainMeans.reduce((s, x) => s + x, 0) / batch;
    const sd = Math.sqrt(chainMeans.reduce((s, x) => s + (x - mean) ** 2, 0) / (batch - 1));
    const sigma = sd / Math.sqrt(batch);
    const exact = freeVariance(L, m2);
    expect(acc).toBeGreaterThan(0.8);
    expect(Math.abs(mean - exact)).toBeLessThan(4 * sigma);
    expect(sigma).toBeLessThan(0.01 * exact); // the test has teeth
  });

  it("keeps a rejected chain's configuration exactly, and rejects a non-finite ΔH", () => {
    const th = new Phi4Theory({ latticeShape: [4], m2: 1, lam: 1 });
    const phi = Float64Array.from([0.1, -0.2, 0.3, 0.4, 1, 2, 3, 4]);
    const before = phi.slice();
    // A huge step blows the quartic field up: ΔH is +∞ or NaN, and both chains must be restored.
    const p = hmcBatchTrajectory(th, phi, 2, 1e6, 3, new Rng(1));
    expect(Array.from(p)).toEqual([0, 0]);
    expect(Array.from(phi)).toEqual(Array.from(before));
  });

  it("accepts a tiny step (ΔH → 0) and moves φ", () => {
    const th = new Phi4Theory({ latticeShape: [3, 3], m2: -1, lam: 1 });
    const phi = new Float64Array(2 * 9).map((_, i) => Math.sin(i));
    const start = phi.slice();
    const p = hmcBatchTrajectory(th, phi, 2, 1e-3, 4, new Rng(3));
    expect(p[0]!).toBeGreaterThan(0.999);
    expect(Array.from(phi)).not.toEqual(Array.from(start));
  });
});
