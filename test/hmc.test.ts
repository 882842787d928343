import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gammaMethod } from "../src/analysis/gamma.js";
import {
  hamiltonian,
  hmcChain,
  type Integrator,
  jitterHalfWidth,
  leapfrog,
  OMELYAN_LAMBDA,
  omelyan,
} from "../src/mcmc/hmc.js";
import type { RandomSource } from "../src/mcmc/random.js";
import { Rng } from "../src/rng/philox.js";
import { latticeVolume, neighbourTables, shiftTable } from "../src/theories/lattice.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { runProcess } from "./run-cli.js";

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

const integrators: Integrator[] = [leapfrog, omelyan];

/** FNV-1a (32 bit) over the little-endian float64 bytes of the values, in order. */
function fnv1a(...arrays: ArrayLike<number>[]): string {
  let h = 0x811c9dc5;
  const dv = new DataView(new ArrayBuffer(8));
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      dv.setFloat64(0, a[i]!, true);
      for (let b = 0; b < 8; b++) h = Math.imul(h ^ dv.getUint8(b), 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, "0");
}

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
      integ(th, phi, pi, 0.04, 25);
      for (let i = 0; i < pi.length; i++) pi[i] = -pi[i]!;
      integ(th, phi, pi, 0.04, 25);
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
          integ(th, phi, pi, 1 / steps, steps);
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

describe("integrator values and bit-identity with the string-dispatch version", () => {
  it("OMELYAN_LAMBDA is the unchanged 2MN minimum-norm root", () => {
    expect(OMELYAN_LAMBDA).toBe(0.1931833275037836);
    const c = Math.cbrt(2 * Math.sqrt(326) + 36);
    expect(OMELYAN_LAMBDA).toBeCloseTo(0.5 - c / 12 + 1 / (6 * c), 15);
  });

  /**
   * Pinned before the refactor (integrator: "leapfrog" | "omelyan" strings, no jitter option) by
   * running the same chains on the old code: FNV-1a of configs, ΔH, [stepSize, acceptance], and a
   * few values, compared exactly. Default options (no `integrator`, no `jitter`) must give leapfrog.
   */
  const pinned = [
    { integ: leapfrog, free: "8ae48901", freeEps: 0.1907355307997528, freeAcc: 0.9666666666666667 },
    { integ: omelyan, free: "8a60f641", freeEps: 0.5159700313117758, freeAcc: 0.9333333333333333 },
  ];
  const pinnedPhi4 = { leapfrog: "12eaec0a", omelyan: "3d2dcc42" };

  it("free field, adapted step size (test RNG): same numbers as before, both integrators and the default", () => {
    const th = new Phi4Theory({ latticeShape: [4, 4], m2: 1, lam: 0 });
    const opts = { nTherm: 20, n: 30, nLeapfrog: 7, trajectoryLength: 0.7, targetAcceptance: 0.8 };
    for (const p of pinned) {
      const r = hmcChain(th, { ...opts, integrator: p.integ }, testRng(11));
      expect(fnv1a(r.configs, r.deltaH, [r.stepSize, r.acceptance])).toBe(p.free);
      expect(r.stepSize).toBe(p.freeEps);
      expect(r.acceptance).toBe(p.freeAcc);
    }
    const d = hmcChain(th, opts, testRng(11));
    expect(fnv1a(d.configs, d.deltaH, [d.stepSize, d.acceptance])).toBe("8ae48901");
    expect(d.configs[0]).toBe(-0.36572740703361295);
    expect(d.deltaH[29]).toBe(-0.015023973478550445);
    // jitter: 0 is the default, drawing nothing extra from the stream.
    const z = hmcChain(th, { ...opts, jitter: 0 }, testRng(11));
    expect(fnv1a(z.configs, z.deltaH, [z.stepSize, z.acceptance])).toBe("8ae48901");
  });

  it("interacting φ⁴, fixed step size (the CLI's Philox Rng): same numbers as before", () => {
    const th = new Phi4Theory({ latticeShape: [4, 3], m2: -1, lam: 1 });
    const opts = { nTherm: 5, n: 20, nLeapfrog: 5, trajectoryLength: 0.5 };
    const a = hmcChain(th, { ...opts, integrator: leapfrog }, new Rng(5));
    expect(fnv1a(a.configs, a.deltaH, [a.stepSize, a.acceptance])).toBe(pinnedPhi4.leapfrog);
    expect(a.configs[0]).toBe(0.3619001184140745);
    const b = hmcChain(th, { ...opts, integrator: omelyan }, new Rng(5));
    expect(fnv1a(b.configs, b.deltaH, [b.stepSize, b.acceptance])).toBe(pinnedPhi4.omelyan);
    expect(b.configs[0]).toBe(0.6297177503973692);
    const d = hmcChain(th, opts, new Rng(5));
    expect(fnv1a(d.configs, d.deltaH, [d.stepSize, d.acceptance])).toBe(pinnedPhi4.leapfrog);
  });

  it("rejects a non-function integrator (e.g. the old string API from JavaScript)", () => {
    const th = new Phi4Theory({ latticeShape: [4], m2: 1, lam: 1 });
    const bad = {
      nTherm: 1,
      n: 1,
      nLeapfrog: 2,
      trajectoryLength: 1,
      integrator: "omelyan" as unknown as Integrator,
    };
    expect(() => hmcChain(th, bad, testRng(1))).toThrow(TypeError);
  });
});

describe("trajectory-length jitter", () => {
  /** A leapfrog that records each trajectory's step count: integrators are plain functions. */
  function counting(): { integ: Integrator; counts: number[] } {
    const counts: number[] = [];
    return {
      counts,
      integ: (th, phi, pi, eps, n, f) => {
        counts.push(n);
        leapfrog(th, phi, pi, eps, n, f);
      },
    };
  }

  it("draws the step count uniformly from nLeapfrog − K … nLeapfrog + K, K = ⌊jitter·nLeapfrog⌋", () => {
    expect(jitterHalfWidth(0, 10)).toBe(0);
    expect(jitterHalfWidth(0.5, 10)).toBe(5);
    expect(jitterHalfWidth(0.29, 100)).toBe(29); // 0.29·100 = 28.999999999999996 in float64
    expect(jitterHalfWidth(0.99, 7)).toBe(6);
    expect(() => jitterHalfWidth(1, 10)).toThrow(RangeError);
    expect(() => jitterHalfWidth(-0.1, 10)).toThrow(RangeError);
    expect(() => jitterHalfWidth(Number.NaN, 10)).toThrow(RangeError);

    const th = new Phi4Theory({ latticeShape: [3], m2: 1, lam: 0.5 });
    const { integ, counts } = counting();
    const nTherm = 100;
    const n = 21900;
    hmcChain(
      th,
      { nTherm, n, nLeapfrog: 10, trajectoryLength: 1, jitter: 0.5, integrator: integ },
      testRng(4),
    );
    expect(counts.length).toBe(nTherm + n); // thermalisation is jittered too
    const hist = new Map<number, number>();
    for (const c of counts) hist.set(c, (hist.get(c) ?? 0) + 1);
    expect([...hist.keys()].sort((a, b) => a - b)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    // Multinomial counts: each within 4σ of N/11, σ = √(N·(1/11)(10/11)).
    const total = counts.length;
    const sigma = Math.sqrt(total * (1 / 11) * (10 / 11));
    for (const c of hist.values()) expect(Math.abs(c - total / 11)).toBeLessThan(4 * sigma);

    const fixed = counting();
    hmcChain(
      th,
      { nTherm: 5, n: 50, nLeapfrog: 10, trajectoryLength: 1, integrator: fixed.integ },
      testRng(4),
    );
    expect(new Set(fixed.counts)).toEqual(new Set([10]));
  });

  it("is reproducible for a given seed and validates jitter", () => {
    const th = new Phi4Theory({ latticeShape: [4, 3], m2: -1, lam: 1 });
    const opts = {
      nTherm: 20,
      n: 30,
      nLeapfrog: 8,
      trajectoryLength: 0.8,
      targetAcceptance: 0.7,
      jitter: 0.4,
    };
    const a = hmcChain(th, opts, new Rng(9));
    const b = hmcChain(th, opts, new Rng(9));
    expect(Array.from(a.configs)).toEqual(Array.from(b.configs));
    expect(a.stepSize).toBe(b.stepSize);
    const c = hmcChain(th, { ...opts, jitter: 0 }, new Rng(9));
    expect(Array.from(c.configs)).not.toEqual(Array.from(a.configs));
    const ok = { nTherm: 1, n: 1, nLeapfrog: 10, trajectoryLength: 1 };
    expect(() => hmcChain(th, { ...ok, jitter: 1 }, testRng(1))).toThrow(RangeError);
    expect(() => hmcChain(th, { ...ok, jitter: -0.2 }, testRng(1))).toThrow(RangeError);
    // 0.05·10 < 1: K = 0 would silently do nothing.
    expect(() => hmcChain(th, { ...ok, jitter: 0.05 }, testRng(1))).toThrow(/never change/);
  });

  /**
   * Resonance (Mackenzie, Phys. Lett. B226 (1989) 369) and its cure. Free field (λ = 0) on 4×4,
   * m² = 1: the p = 0 mode q = M = Σ_x φ(x) decouples (Σ_x F(x) = −2m²M exactly) and is a
   * harmonic oscillator of frequency ω₀ = √(2m²). Leapfrog rotates such a mode by θ per step with
   * cos θ = 1 − ε²ω₀²/2, and n steps act as cos(nθ)·1 + sin(nθ)·J. Choosing
   * ε = 2 sin(π/2n)/ω₀ gives nθ = π exactly (ω₀τ = 2n sin(π/2n) = 3.129 ≈ π for n = 10): every
   * trajectory maps M → −M whatever the momenta, so M² — hence χ₂ = M²/V — never changes, and the
   * chain is not ergodic in it. The other modes still move (acceptance ≈ 0.84).
   *
   * With jitter 0.5 the count n' is uniform on 5 … 15. Then M' = cos(n'θ)M + sin(n'θ)ξ with ξ
   * an independent draw from the equilibrium distribution of M, so (Gaussian M) corr(M², M'²) =
   * E[cos²(n'θ)] = 5/11; a rejection (probability 1 − α, nearly independent of M because
   * it is decided by the other modes) keeps M. Hence ρ(t) = a^t, a = 1 − (6/11)α, and
   * τ_int(χ₂) = ½(1 + a)/(1 − a) ≈ 1.7, against a frozen chain without jitter.
   */
  it("cures the ω·τ = π resonance of a free-field mode: τ_int(χ₂) from frozen to ≈ 1.7 (Γ-method)", () => {
    const m2 = 1;
    const th = new Phi4Theory({ latticeShape: [4, 4], m2, lam: 0 });
    const v = th.size;
    const nSteps = 10;
    const eps = (2 * Math.sin(Math.PI / (2 * nSteps))) / Math.sqrt(2 * m2);
    const n = 20000;
    const chi2Series = (configs: Float64Array): Float64Array => {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let m = 0;
        for (let x = 0; x < v; x++) m += configs[i * v + x]!;
        out[i] = (m * m) / v;
      }
      return out;
    };
    const run = (jitter: number) => {
      const rng = new Rng(2);
      const initial = new Float64Array(v);
      rng.normal(initial); // an equilibrium-like start with M ≠ 0
      return hmcChain(
        th,
        { nTherm: 0, n, nLeapfrog: nSteps, trajectoryLength: nSteps * eps, jitter, initial },
        rng,
      );
    };

    // Fixed length: χ₂ is the same number (to rounding) in all 20000 configurations, although
    // the chain moves (other modes) and χ₂ fluctuates by O(1) relative in equilibrium.
    const fixed = run(0);
    expect(fixed.acceptance).toBeGreaterThan(0.7);
    const frozen = chi2Series(fixed.configs);
    let spread = 0;
    for (const c of frozen) spread = Math.max(spread, Math.abs(c - frozen[0]!));
    expect(spread).toBeLessThan(1e-9 * frozen[0]!);
    let moved = 0;
    for (let x = 0; x < v; x++) moved += Math.abs(fixed.configs[(n - 1) * v + x]! - fixed.configs[x]!);
    expect(moved).toBeGreaterThan(1);

    // Jittered: short autocorrelation, and ⟨χ₂⟩ = 1/(2m²) (exact free-field value).
    const jit = run(0.5);
    const g = gammaMethod([chi2Series(jit.configs)]);
    expect(g.windowConverged).toBe(true);
    const a = 1 - (6 / 11) * jit.acceptance;
    const predicted = (0.5 * (1 + a)) / (1 - a);
    expect(
      Math.abs(g.tauInt - predicted),
      `τ_int ${g.tauInt} ± ${g.tauIntError} vs ${predicted}`,
    ).toBeLessThan(4 * g.tauIntError);
    expect(g.tauInt).toBeLessThan(3);
    expect(Math.abs(g.value - 1 / (2 * m2)), `χ₂ ${g.value} ± ${g.error}`).toBeLessThan(4 * g.error);
  });
});

describe("latticeflow hmc --jitter (the built CLI)", () => {
  const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
  const run = (...args: string[]) => runProcess(process.execPath, [CLI, ...args]);
  const tmp = mkdtempSync(join(tmpdir(), "latticeflow-hmc-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const FREE = ["--L", "4", "--m2", "1", "--lam", "0", "--n", "50", "--therm", "10", "--quiet"];

  it("records jitter in the sidecar (0 by default), integrator as its name", async () => {
    const out = join(tmp, "j.npy");
    const r = await run("hmc", ...FREE, "--jitter", "0.5", "--integrator", "omelyan", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(`${out}.json`, "utf8"))).toMatchObject({
      sampler: "hmc",
      integrator: "omelyan",
      jitter: 0.5,
      leapfrog: 10,
    });
    const out0 = join(tmp, "d.npy");
    const d = await run("hmc", ...FREE, "--out", out0);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(readFileSync(`${out0}.json`, "utf8"))).toMatchObject({
      integrator: "leapfrog",
      jitter: 0,
    });
  });

  it("φ⁴ through the model description: v0.1's ensemble bit for bit, the TheorySpec in the sidecar", async () => {
    const out = join(tmp, "v01.npy");
    const r = await run(
      "hmc",
      ...["--L", "4", "--m2", "-1", "--lam", "1", "--n", "400", "--therm", "50", "--seed", "3", "--quiet"],
      "--out",
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    // sha256 of the .npy that v0.1 (before src/model) wrote for these flags.
    expect(createHash("sha256").update(readFileSync(out)).digest("hex")).toBe(
      "8ff97b2dd20e53a7b2dc6b32708a455f60e7826b9d00815ed4f7e8500d55776a",
    );
    expect(JSON.parse(readFileSync(`${out}.json`, "utf8")).theory).toEqual({
      kind: "phi4",
      latticeShape: [4, 4],
      m2: -1,
      lam: 1,
    });
  });

  const bad: [string, string[], RegExp][] = [
    ["jitter 1", ["--jitter", "1"], /--jitter must lie in \[0, 1\)/],
    ["negative jitter", ["--jitter", "-0.1"], /--jitter must lie in \[0, 1\)/],
    ["jitter not a number", ["--jitter", "lots"], /--jitter expects a number/],
    [
      "jitter below one step",
      ["--jitter", "0.05", "--leapfrog", "10"],
      /--jitter 0\.05 × --leapfrog 10 .*--jitter ≥ 0\.1/,
    ],
  ];
  for (const [name, flags, msg] of bad) {
    it(`bad input (${name}): one line naming the flag, exit 2, nothing written`, async () => {
      const out = join(tmp, `bad-${name.replace(/\W+/g, "-")}.npy`);
      const r = await run("hmc", ...FREE, ...flags, "--out", out);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.json`)).toBe(false);
    });
  }
});
