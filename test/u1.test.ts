/**
 * U(1) gauge theory (src/theories/u1.ts, src/observables/u1.ts, src/theories/u1-exact.ts):
 * the force against central differences, gauge invariance and 2π-periodicity of the action,
 * integer and gauge-invariant topological charge, Bessel functions against known values, the
 * exact plaquette against its infinite-volume limit, and HMC against the exact plaquette.
 */
import { describe, expect, it } from "vitest";
import { gammaMethodScalar } from "../src/analysis/gamma.js";
import { hmcChain } from "../src/mcmc/hmc.js";
import { plaquetteMean, topologicalCharge, wrapAngle } from "../src/observables/u1.js";
import { Rng } from "../src/rng/philox.js";
import { neighbourTables } from "../src/theories/lattice.js";
import { U1Theory } from "../src/theories/u1.js";
import { logBesselI, u1PlaquetteExact } from "../src/theories/u1-exact.js";

function randomAngles(n: number, seed: number, scale = 2 * Math.PI): Float64Array {
  const r = new Rng(seed);
  return Float64Array.from({ length: n }, () => (r.uniform() - 0.5) * scale);
}

/** θ_μ(x) → θ_μ(x) + α(x) − α(x+μ̂). */
function gaugeTransform(t: U1Theory, theta: Float64Array, alpha: Float64Array): Float64Array {
  const { up } = neighbourTables(t.latticeShape);
  const out = theta.slice();
  for (let mu = 0; mu < t.dim; mu++)
    for (let x = 0; x < t.volume; x++) out[mu * t.volume + x]! += alpha[x]! - alpha[up[mu]![x]!]!;
  return out;
}

describe("U(1) gauge theory", () => {
  for (const shape of [
    [3, 4],
    [2, 2, 3],
    [1, 3],
  ]) {
    it(`force = −∂S/∂θ by central differences on ${shape.join("×")}`, () => {
      const t = new U1Theory({ latticeShape: shape, beta: 1.7 });
      const theta = randomAngles(2 * t.size, 1);
      const f = t.force(theta, 2);
      const h = 1e-6;
      for (let i = 0; i < theta.length; i++) {
        const p = theta.slice();
        const m = theta.slice();
        p[i]! += h;
        m[i]! -= h;
        const b = Math.floor(i / t.size);
        const d = -(t.action(p, 2)[b]! - t.action(m, 2)[b]!) / (2 * h);
        expect(Math.abs(f[i]! - d)).toBeLessThan(1e-7 * (1 + Math.abs(d)));
      }
    });
  }

  it("the action is gauge invariant and 2π-periodic in every link; Q is an integer and gauge invariant", () => {
    const t = new U1Theory({ latticeShape: [6, 5], beta: 2 });
    const theta = randomAngles(3 * t.size, 2, 6 * Math.PI);
    const alpha = randomAngles(t.volume, 3, 20);
    const g = new Float64Array(theta.length);
    for (let b = 0; b < 3; b++)
      g.set(gaugeTransform(t, theta.subarray(b * t.size, (b + 1) * t.size), alpha), b * t.size);
    const s = t.action(theta, 3);
    const sg = t.action(g, 3);
    const shifted = theta.slice();
    for (let i = 0; i < shifted.length; i += 7) shifted[i]! += 2 * Math.PI * ((i % 3) - 1);
    const ss = t.action(shifted, 3);
    for (let b = 0; b < 3; b++) {
      expect(Math.abs(sg[b]! - s[b]!)).toBeLessThan(1e-10 * t.plaquetteCount);
      expect(Math.abs(ss[b]! - s[b]!)).toBeLessThan(1e-10 * t.plaquetteCount);
    }
    const q = topologicalCharge(t, theta);
    expect(Array.from(topologicalCharge(t, g))).toEqual(Array.from(q));
    expect(
      Array.from(
        topologicalCharge(
          t,
          theta.map((x) => -x),
        ),
      ),
    ).toEqual(Array.from(q, (v) => -v || 0));
    // Random links at β = 0 carry charge: over 200 configurations Q takes several values.
    const many = randomAngles(200 * t.size, 4);
    const qs = topologicalCharge(t, many);
    expect(qs.every((v) => Number.isInteger(v))).toBe(true);
    expect(new Set(qs).size).toBeGreaterThan(3);
    expect(wrapAngle(Math.PI)).toBe(-Math.PI);
    expect(wrapAngle(-Math.PI)).toBe(-Math.PI);
  });

  it("a configuration of uniform field strength 2π/V per plaquette has Q = 1", () => {
    // θ_1(x0, x1) = 2π x0/V gives P = 2π/V off the last column x0 = L0 − 1; there
    // θ_0 = −2π L0 x1/V closes the torus, and the corner plaquette is 2π/V − 2π.
    const [l0, l1] = [4, 5];
    const t = new U1Theory({ latticeShape: [l0, l1], beta: 1 });
    const v = t.volume;
    const theta = new Float64Array(t.size);
    for (let x0 = 0; x0 < l0; x0++)
      for (let x1 = 0; x1 < l1; x1++) {
        theta[v + x0 * l1 + x1] = (2 * Math.PI * x0) / v; // θ_1: P = 2π/V inside
        if (x0 === l0 - 1) theta[x0 * l1 + x1] = (-2 * Math.PI * l0 * x1) / v; // θ_0 closes the torus
      }
    const p = t.plaquettes(theta, 0);
    for (const x of p) expect(Math.abs(wrapAngle(x) - (2 * Math.PI) / v)).toBeLessThan(1e-12);
    expect(topologicalCharge(t, theta)[0]).toBe(1);
  });

  it("Bessel functions and the exact plaquette", () => {
    // Abramowitz & Stegun, Table 9.8 (I_0, I_1 at x = 1 and 10).
    expect(Math.exp(logBesselI(0, 1))).toBeCloseTo(1.2660658777520084, 14);
    expect(Math.exp(logBesselI(1, 1))).toBeCloseTo(0.565159103992485, 14);
    expect(Math.exp(logBesselI(-1, 1))).toBeCloseTo(0.565159103992485, 14);
    expect(Math.exp(logBesselI(0, 10)) / 2815.716628466254).toBeCloseTo(1, 13);
    expect(Math.exp(logBesselI(1, 10)) / 2670.988303701255).toBeCloseTo(1, 13);
    expect(logBesselI(3, 0)).toBe(Number.NEGATIVE_INFINITY);
    // Large volume: ⟨cos P⟩ → I_1/I_0 (corrections ~ (I_1/I_0)^V, nil here; the bound is the
    // rounding of V·ln I_n ≈ 2·10⁴). One plaquette on a 1×1 torus is P ≡ 0: ⟨cos P⟩ = 1.
    for (const beta of [0.5, 2, 6]) {
      const inf = Math.exp(logBesselI(1, beta) - logBesselI(0, beta));
      expect(Math.abs(u1PlaquetteExact(beta, 4096) - inf)).toBeLessThan(1e-10);
      expect(u1PlaquetteExact(beta, 1)).toBeCloseTo(1, 12);
    }
    expect(u1PlaquetteExact(0, 64)).toBe(0);
  });

  it("HMC reproduces the exact plaquette on 8×8 at β = 2 (within 4σ, Γ-method errors)", () => {
    const t = new U1Theory({ latticeShape: [8, 8], beta: 2 });
    const run = hmcChain(
      t,
      { nTherm: 200, n: 3000, nLeapfrog: 10, trajectoryLength: 1, targetAcceptance: 0.8 },
      new Rng(11),
    );
    const plaq = plaquetteMean(t, run.configs);
    const g = gammaMethodScalar(plaq);
    const exact = u1PlaquetteExact(2, t.plaquetteCount);
    expect(run.acceptance).toBeGreaterThan(0.6);
    expect(Math.abs(g.value - exact)).toBeLessThan(4 * g.error);
    expect(g.error).toBeLessThan(0.01); // the test can fail: the error is small enough to matter
  });
});
