import { describe, expect, it } from "vitest";
import { hamiltonian, hmcChain, type Integrator, integrate } from "../src/mcmc/hmc.js";
import type { RandomSource } from "../src/mcmc/random.js";
import { latticeVolume, neighbourTables, shiftTable } from "../src/theories/lattice.js";
import { Phi4Theory } from "../src/theories/phi4.js";

/** Tiny deterministic RandomSource for tests: mulberry32 uniforms, Box–Muller normals. */
function testRng(seed: number): RandomSource {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal(out: Float64Array | Float32Array): void {
      for (let i = 0; i < out.length; i += 2) {
        const r = Math.sqrt(-2 * Math.log(1 - uniform()));
        const th = 2 * Math.PI * uniform();
        out[i] = r * Math.cos(th);
        if (i + 1 < out.length) out[i + 1] = r * Math.sin(th);
      }
    },
  };
}

const integrators: Integrator[] = ["leapfrog", "omelyan"];

describe("HMC integrators", () => {
  it("are reversible: forward, flip π, backward returns to the start within 1e-10", () => {
    const th = new Phi4Theory({ latticeShape: [5, 4, 3], m2: -1, lam: 0.8 });
    const rng = testRng(7);
    for (const integ of integrators) {
      const phi0 = new Float64Array(th.size);
      const pi0 = new Float64Array(th.size);
      rng.normal(phi0);
      rng.normal(pi0);
      const phi = Float64Array.from(phi0);
      const pi = Float64Array.from(pi0);
      integrate(th, phi, pi, 0.04, 25, integ);
      for (let i = 0; i < pi.length; i++) pi[i] = -pi[i]!;
      integrate(th, phi, pi, 0.04, 25, integ);
      for (let i = 0; i < th.size; i++) {
        expect(Math.abs(phi[i]! - phi0[i]!)).toBeLessThan(1e-10);
        expect(Math.abs(pi[i]! + pi0[i]!)).toBeLessThan(1e-10);
      }
    }
  });

  it("have |ΔH| = O(ε²) at fixed trajectory length (halving ε divides ⟨|ΔH|⟩ by ≈ 4)", () => {
    const th = new Phi4Theory({ latticeShape: [6, 6], m2: -1, lam: 1 });
    const therm = hmcChain(th, { nTherm: 200, n: 40, nLeapfrog: 10, trajectoryLength: 1 }, testRng(3));
    const rng = testRng(99);
    for (const integ of integrators) {
      const mean = [0, 0];
      for (let c = 0; c < 40; c++) {
        const phiStart = therm.configs.subarray(c * th.size, (c + 1) * th.size);
        const piStart = new Float64Array(th.size);
        rng.normal(piStart);
        [20, 40].forEach((steps, k) => {
          const phi = Float64Array.from(phiStart);
          const pi = Float64Array.from(piStart);
          const h0 = hamiltonian(th, phi, pi);
          integrate(th, phi, pi, 1 / steps, steps, integ);
          mean[k]! += Math.abs(hamiltonian(th, phi, pi) - h0) / 40;
        });
      }
      const ratio = mean[0]! / mean[1]!;
      expect(ratio).toBeGreaterThan(4 * 0.8);
      expect(ratio).toBeLessThan(4 * 1.2);
    }
  });
});

/**
 * Exact free-field covariance. With λ = 0 the notebook action is
 *   S = Σ_x (m² + 2d)φ² − 2 Σ_x Σ_μ φ(x)φ(x+μ̂) = ½ φᵀAφ,
 *   A = 2(m² + 2d)·I − 2·N,   N_xy = Σ_μ [δ_{y,x+μ̂} + δ_{y,x−μ̂}]  (hopping adjacency),
 * since Σ_x φ(x)φ(x+μ̂) = ½ Σ_x φ(x)[φ(x+μ̂) + φ(x−μ̂)]. So φ ~ N(0, A⁻¹). In momentum space
 * N → Σ_μ 2cos p_μ, hence A(p) = 2(m² + Σ_μ 4 sin²(p_μ/2)) and
 *   G(x) = ⟨φ(0)φ(x)⟩ = (1/V) Σ_p e^{ipx} / (2(m² + Σ_μ 4 sin²(p_μ/2))),  p_μ = 2πk_μ/L_μ.
 */
function freePropagatorFourier(shape: number[], m2: number, x: number[]): number {
  const v = latticeVolume(shape);
  let g = 0;
  const k = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < v; i++) {
    let phase = 0;
    let p2 = 0;
    for (let mu = 0; mu < shape.length; mu++) {
      const p = (2 * Math.PI * k[mu]!) / shape[mu]!;
      phase += p * x[mu]!;
      p2 += 4 * Math.sin(p / 2) ** 2;
    }
    g += Math.cos(phase) / (2 * (m2 + p2));
    for (let mu = shape.length - 1; mu >= 0; mu--) {
      if (++k[mu]! < shape[mu]!) break;
      k[mu] = 0;
    }
  }
  return g / v;
}

/** Column 0 of A⁻¹ by dense Gaussian elimination, as an independent check of the Fourier sum. */
function freePropagatorDense(shape: number[], m2: number): Float64Array {
  const v = latticeVolume(shape);
  const d = shape.length;
  const { up, down } = neighbourTables(shape);
  const a = Array.from({ length: v }, () => new Float64Array(v + 1));
  for (let x = 0; x < v; x++) {
    a[x]![x]! += 2 * (m2 + 2 * d);
    for (let mu = 0; mu < d; mu++) {
      a[x]![up[mu]![x]!]! -= 2;
      a[x]![down[mu]![x]!]! -= 2;
    }
    a[x]![v] = x === 0 ? 1 : 0;
  }
  for (let c = 0; c < v; c++) {
    for (let r = c + 1; r < v; r++) {
      const f = a[r]![c]! / a[c]![c]!;
      for (let j = c; j <= v; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  const sol = new Float64Array(v);
  for (let r = v - 1; r >= 0; r--) {
    let s = a[r]![v]!;
    for (let j = r + 1; j < v; j++) s -= a[r]![j]! * sol[j]!;
    sol[r] = s / a[r]![r]!;
  }
  return sol;
}

describe("hmcChain", () => {
  it("reproduces the exact free-field propagator (L = 6, 2-D, m² = 0.5, both integrators)", () => {
    const shape = [6, 6];
    const m2 = 0.5;
    const th = new Phi4Theory({ latticeShape: shape, m2, lam: 0 });
    const v = th.size;
    const seps = [
      [0, 0],
      [0, 1],
      [1, 1],
      [2, 0],
      [3, 3],
    ];
    const dense = freePropagatorDense(shape, m2);
    for (const x of seps) {
      const idx = x[0]! * shape[1]! + x[1]!;
      expect(freePropagatorFourier(shape, m2, x)).toBeCloseTo(dense[idx]!, 12);
    }

    const n = 40000;
    for (const integrator of integrators) {
      const res = hmcChain(
        th,
        { nTherm: 1000, n, nLeapfrog: 10, trajectoryLength: 1.5, targetAcceptance: 0.8, integrator },
        testRng(2024),
      );
      expect(res.acceptance).toBeGreaterThan(0.7);
      expect(res.acceptance).toBeLessThan(0.9);

      // Per-config translation-averaged G_b(x) = (1/V)Σ_y φ(y)φ(y+x). Error: bins of 200
      // trajectories (≫ autocorrelation time), σ = sd(bin means)/√(nBins), which for a mean is
      // the same as the jackknife error over bins.
      const binSize = 200;
      const nBins = n / binSize;
      for (const x of seps) {
        const tab = shiftTable(shape, x);
        const bins = new Float64Array(nBins);
        for (let b = 0; b < n; b++) {
          const o = b * v;
          let g = 0;
          for (let y = 0; y < v; y++) g += res.configs[o + y]! * res.configs[o + tab[y]!]!;
          bins[Math.floor(b / binSize)]! += g / v / binSize;
        }
        const mean = bins.reduce((s, z) => s + z, 0) / nBins;
        const var_ = bins.reduce((s, z) => s + (z - mean) ** 2, 0) / (nBins - 1);
        const sigma = Math.sqrt(var_ / nBins);
        const exact = freePropagatorFourier(shape, m2, x);
        expect(Math.abs(mean - exact)).toBeLessThan(4 * sigma);
        expect(sigma).toBeLessThan(0.02 * freePropagatorFourier(shape, m2, [0, 0])); // the test has teeth
      }
    }
  });

  it("satisfies ⟨e^{−ΔH}⟩ = 1 and freezes the adapted step size (both integrators)", () => {
    const th = new Phi4Theory({ latticeShape: [8, 8], m2: -4, lam: 8 });
    for (const integrator of integrators) {
      const res = hmcChain(
        th,
        { nTherm: 500, n: 3000, nLeapfrog: 10, trajectoryLength: 1, targetAcceptance: 0.8, integrator },
        testRng(5),
      );
      const w = res.deltaH.map((d) => Math.exp(-d));
      const mean = w.reduce((s, z) => s + z, 0) / w.length;
      const sd = Math.sqrt(w.reduce((s, z) => s + (z - mean) ** 2, 0) / (w.length - 1));
      // Generous (autocorrelation not modelled) but still meaningful.
      expect(Math.abs(mean - 1)).toBeLessThan(6 * (sd / Math.sqrt(w.length)) + 0.01);
      expect(Math.abs(res.acceptance - 0.8)).toBeLessThan(0.1);
      expect(res.deltaH.length).toBe(3000);
      expect(res.configs.length).toBe(3000 * th.size);
    }
  });

  it("is deterministic for a given seed and reports progress", () => {
    const th = new Phi4Theory({ latticeShape: [4, 3], m2: -1, lam: 1 });
    const phases: string[] = [];
    const opts = { nTherm: 20, n: 30, nLeapfrog: 5, trajectoryLength: 0.5, targetAcceptance: 0.7 };
    const a = hmcChain(th, { ...opts, onProgress: (p) => phases.push(p.phase) }, testRng(1));
    const b = hmcChain(th, opts, testRng(1));
    expect(Array.from(a.configs)).toEqual(Array.from(b.configs));
    expect(a.stepSize).toBe(b.stepSize);
    expect(phases.filter((p) => p === "therm").length).toBe(20);
    expect(phases.filter((p) => p === "prod").length).toBe(30);
    // Without targetAcceptance the step size stays at length/steps.
    const c = hmcChain(th, { nTherm: 5, n: 5, nLeapfrog: 4, trajectoryLength: 0.6 }, testRng(1));
    expect(c.stepSize).toBeCloseTo(0.15, 15);
  });

  it("starts from `initial` without modifying it, and validates options", () => {
    const th = new Phi4Theory({ latticeShape: [4], m2: 1, lam: 1 });
    const init = new Float64Array([1, 2, 3, 4]);
    hmcChain(th, { nTherm: 0, n: 3, nLeapfrog: 3, trajectoryLength: 0.3, initial: init }, testRng(2));
    expect(Array.from(init)).toEqual([1, 2, 3, 4]);
    const ok = { nTherm: 1, n: 1, nLeapfrog: 2, trajectoryLength: 1 };
    const rng = testRng(3);
    expect(() => hmcChain(th, { ...ok, nLeapfrog: 0 }, rng)).toThrow(RangeError);
    expect(() => hmcChain(th, { ...ok, trajectoryLength: -1 }, rng)).toThrow(RangeError);
    expect(() => hmcChain(th, { ...ok, targetAcceptance: 1.5 }, rng)).toThrow(RangeError);
    expect(() => hmcChain(th, { ...ok, initial: new Float64Array(3) }, rng)).toThrow(RangeError);
  });
});
