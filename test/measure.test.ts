/**
 * measureScalarEnsemble and rejectionRunTauInt against known answers: the free field (λ = 0),
 * where every observable is exact (docs/physics.md "Free field"), sampled by HMC and by flow
 * Metropolis–Hastings (a flow trained for a few hundred steps: MH is exact whatever q is), and
 * ln Z by importance sampling against the Gaussian ln Z = (V/2) ln 2π − ½ ln det A.
 * Statistical checks are at 4σ (σ the Γ-method error, which includes autocorrelations); with
 * fixed seeds they are deterministic, and a correct implementation fails one of the ~40 checks
 * with probability ~40 × 6·10⁻⁵ per seed.
 */
import { describe, expect, it } from "vitest";
import { gammaMethodScalar } from "../src/analysis/gamma.js";
import { essFromLogWeights, logZEstimate } from "../src/analysis/reweighting.js";
import { affineCouplingFlow } from "../src/flows/affine-flow.js";
import { hmcChain } from "../src/mcmc/hmc.js";
import { independenceMetropolis } from "../src/mcmc/independence-metropolis.js";
import {
  measureScalarEnsemble,
  rejectionRunTauInt,
  type ScalarMeasurement,
} from "../src/observables/measure.js";
import { binderCumulant, magnetization } from "../src/observables/scalar.js";
import { Rng } from "../src/rng/philox.js";
import { latticeVolume, neighbourTables } from "../src/theories/lattice.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { adam } from "../src/train/adam.js";
import { createTrainer } from "../src/train/trainer.js";
import { logAbsDet } from "./linalg.js";

/** Lattice momenta p_μ = 2πk_μ/L_μ and p̂² = Σ_μ 4 sin²(p_μ/2), with the momentum vector. */
function* momenta(shape: number[]): Generator<{ p: number[]; phat2: number }> {
  const v = latticeVolume(shape);
  const k = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < v; i++) {
    const p = k.map((kk, mu) => (2 * Math.PI * kk) / shape[mu]!);
    yield { p, phat2: p.reduce((s, q) => s + 4 * Math.sin(q / 2) ** 2, 0) };
    for (let mu = shape.length - 1; mu >= 0; mu--) {
      if (++k[mu]! < shape[mu]!) break;
      k[mu] = 0;
    }
  }
}

/**
 * Exact free-field answers, φ ~ N(0, A⁻¹), A(p) = 2(m² + p̂²):
 *   G(0) = (1/V) Σ_p 1/A(p),  ⟨φ⁴⟩ = 3G(0)²,  χ₂ = Σ_x G(x) = 1/A(0) = 1/(2m²),
 *   ⟨|M|⟩/V = √(2Vχ₂/π)/V (M Gaussian with variance Vχ₂),  U = 0,  ⟨S⟩/V = 1/2 (equipartition),
 *   C(t) = Σ_x⃗ G(t, x⃗) = (1/T) Σ_{p₀} cos(p₀t)/A(p₀, 0⃗),
 *   m_eff(t) = E with cosh E = 1 + m²/2 (C(t) ∝ cosh(E(t − T/2)) exactly).
 *   ln Z = (V/2) ln 2π − ½ Σ_p ln A(p).
 */
function freeField(shape: number[], m2: number) {
  const v = latticeVolume(shape);
  const T = shape[0]!;
  let g0 = 0;
  let logDet = 0;
  for (const { phat2 } of momenta(shape)) {
    g0 += 1 / (2 * (m2 + phat2)) / v;
    logDet += Math.log(2 * (m2 + phat2));
  }
  const chi2 = 1 / (2 * m2);
  const c = Array.from({ length: T }, (_, t) => {
    let s = 0;
    for (let k = 0; k < T; k++) {
      const p = (2 * Math.PI * k) / T;
      s += Math.cos(p * t) / (2 * (m2 + 4 * Math.sin(p / 2) ** 2));
    }
    return s / T;
  });
  return {
    chi2,
    phi2: g0,
    phi4: 3 * g0 * g0,
    absM: Math.sqrt((2 * v * chi2) / Math.PI) / v,
    binder: 0,
    actionDensity: 0.5,
    c,
    mEff: Math.acosh(1 + m2 / 2),
    lnZ: (v / 2) * Math.log(2 * Math.PI) - 0.5 * logDet,
  };
}

/** ln det A by dense LU: an independent check of the Fourier sum. */
function denseLogDet(shape: number[], m2: number): number {
  const v = latticeVolume(shape);
  const d = shape.length;
  const { up, down } = neighbourTables(shape);
  const a = new Float64Array(v * v);
  for (let x = 0; x < v; x++) {
    a[x * v + x]! += 2 * (m2 + 2 * d);
    for (let mu = 0; mu < d; mu++) {
      a[x * v + up[mu]![x]!]! -= 2;
      a[x * v + down[mu]![x]!]! -= 2;
    }
  }
  return logAbsDet(a, v);
}

/** |measured − exact| ≤ 4σ for every observable with an error estimate. */
function expectFreeField(m: ScalarMeasurement, exact: ReturnType<typeof freeField>): void {
  const within = (name: string, value: number, error: number, truth: number) => {
    expect(Number.isFinite(value), `${name} finite`).toBe(true);
    expect(error, `${name} error`).toBeGreaterThan(0);
    expect(Math.abs(value - truth), `${name}: ${value} ± ${error} vs exact ${truth}`).toBeLessThan(4 * error);
  };
  within("m", m.m.value, m.m.error, 0);
  within("chi2", m.chi2.value, m.chi2.error, exact.chi2);
  within("chi2_connected", m.chi2_connected.value, m.chi2_connected.error, exact.chi2);
  within("abs_m", m.abs_m.value, m.abs_m.error, exact.absM);
  within("phi2", m.phi2.value, m.phi2.error, exact.phi2);
  within("phi4", m.phi4.value, m.phi4.error, exact.phi4);
  within("binder", m.binder.value, m.binder.error, exact.binder);
  within("action_density", m.action_density!.value, m.action_density!.error, exact.actionDensity);
  for (const p of m.correlator) within(`C(${p.t})`, p.value, p.error, exact.c[p.t]!);
  // m_eff(1) is precise; at larger t C(t) may fluctuate to where arccosh is undefined (NaN).
  expect(Number.isFinite(m.m_eff[0]!.value)).toBe(true);
  for (const p of m.m_eff)
    if (Number.isFinite(p.error)) within(`m_eff(${p.t})`, p.value, p.error, exact.mEff);
}

describe("free-field exact answers", () => {
  it("Fourier ln det A equals the dense LU one; Σ_t C(t) = χ₂", () => {
    for (const [shape, m2] of [
      [[4, 4], 1],
      [[8, 4], 0.5],
      [[3, 2, 5], 0.3],
    ] as [number[], number][]) {
      const ex = freeField(shape, m2);
      const v = latticeVolume(shape);
      expect(ex.lnZ).toBeCloseTo((v / 2) * Math.log(2 * Math.PI) - 0.5 * denseLogDet(shape, m2), 10);
      expect(ex.c.reduce((s, c) => s + c, 0)).toBeCloseTo(ex.chi2, 12);
      // C(t) is a cosh of energy E: (C(t+1) + C(t−1))/(2C(t)) = cosh E for 1 ≤ t ≤ T−2.
      const T = shape[0]!;
      for (let t = 1; t < T - 1; t++) {
        expect((ex.c[t + 1]! + ex.c[t - 1]!) / (2 * ex.c[t]!)).toBeCloseTo(Math.cosh(ex.mEff), 12);
      }
    }
  });
});

describe("measureScalarEnsemble", () => {
  it("HMC ensemble of the free field matches the exact answers within 4σ", () => {
    const shape = [8, 4];
    const m2 = 0.5;
    const theory = new Phi4Theory({ latticeShape: shape, m2, lam: 0 });
    const r = hmcChain(
      theory,
      // 7 steps of ε ≈ 0.22: a fixed trajectory of ≈ 2.2 (10 steps) resonates with the free
      // field's modes (τ_int(φ²) ≈ 185, honestly reported by the Γ-method, but a weak test).
      { nTherm: 500, n: 40000, nLeapfrog: 7, trajectoryLength: 0.7, targetAcceptance: 0.8 },
      new Rng(11),
    );
    const m = measureScalarEnsemble(r.configs, shape, { theory });
    expect(m.n).toBe(40000);
    expect(m.volume).toBe(32);
    expect(m.correlator.map((p) => p.t)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(m.m_eff.map((p) => p.t)).toEqual([1, 2, 3, 4]);
    expect(m.magnetization).toHaveLength(40000);
    expectFreeField(m, freeField(shape, m2));
  });

  it("flow-MH ensemble of the free field matches the exact answers within 4σ, and ln Z from the flow", () => {
    const shape = [4, 4];
    const m2 = 1;
    const theory = new Phi4Theory({ latticeShape: shape, m2, lam: 0 });
    const flow = affineCouplingFlow({
      latticeShape: shape,
      layers: 2,
      hidden: [8],
      kernel: 3,
      identityInit: true,
    });
    const trainer = createTrainer({
      flow,
      theory,
      optimizer: adam({ lr: 3e-3 }),
      batch: 64,
      dtype: "float64",
    });
    const state = trainer.init(new Rng(1));
    for (let i = 0; i < 250; i++) trainer.step(state);
    const proposals = new Rng(2);
    const propose = (n: number) => {
      const { x, logq } = flow.sample(state.params, proposals, n);
      return { x: Float64Array.from(x.data), logq: Float64Array.from(logq.data) };
    };
    const chain = independenceMetropolis(theory, propose, { n: 30000, batch: 1000 }, new Rng(3));
    expect(chain.acceptance).toBeGreaterThan(0.2);
    const m = measureScalarEnsemble(chain.configs, shape, { theory });
    const exact = freeField(shape, m2);
    expectFreeField(m, exact);

    // Flow MH autocorrelation is caused by rejections: the acceptance-run τ_int is > 1/2 and
    // of the size of the observables' Γ-method τ_int (within a factor 2 here).
    const rej = rejectionRunTauInt(chain.accepted);
    expect(rej.acceptance).toBeCloseTo(chain.acceptance, 12);
    expect(rej.tauInt).toBeGreaterThan(0.5);
    expect(m.phi2.tauInt / rej.tauInt).toBeGreaterThan(0.5);
    expect(m.phi2.tauInt / rej.tauInt).toBeLessThan(2);

    // ln Z by importance sampling from the same flow: exact Gaussian value within 4σ.
    const logw = new Float64Array(20000);
    const direct = propose(20000);
    const s = theory.action(direct.x, 20000);
    for (let i = 0; i < 20000; i++) logw[i] = -s[i]! - direct.logq[i]!;
    const z = logZEstimate(logw);
    expect(essFromLogWeights(logw)).toBeGreaterThan(0.1); // the delta-method error is meaningful
    expect(Math.abs(z.lnZ - exact.lnZ), `${z.lnZ} ± ${z.lnZError} vs ${exact.lnZ}`).toBeLessThan(
      4 * z.lnZError,
    );
    expect(z.fVariational).toBeGreaterThan(-exact.lnZ); // the variational bound F_q ≥ F
  });

  it("derived observables are the functions of the means (binder, connected χ₂, C(t))", () => {
    const rng = new Rng(5);
    const shape = [4, 3];
    const x = new Float64Array(50 * 12);
    rng.normal(x);
    for (let i = 0; i < x.length; i++) x[i]! += 0.3; // ⟨M⟩ ≠ 0, so the subtraction matters
    const m = measureScalarEnsemble(x, shape);
    const M = magnetization(x, shape);
    const mean = (f: (y: number) => number) => M.reduce((s, y) => s + f(y), 0) / M.length;
    expect(m.chi2.value).toBeCloseTo(mean((y) => y * y) / 12, 12);
    expect(m.chi2_connected.value).toBeCloseTo((mean((y) => y * y) - mean((y) => y) ** 2) / 12, 12);
    expect(m.binder.value).toBeCloseTo(
      binderCumulant(
        mean((y) => y * y),
        mean((y) => y ** 4),
      ),
      12,
    );
    expect(m.correlator.reduce((s, p) => s + p.value, 0)).toBeCloseTo(m.chi2_connected.value, 12);
    expect(m.action_density).toBeNull();
    expect(m.chi2.gamma[0]).toBe(1);
    let flips = 0;
    for (let i = 1; i < 50; i++) if (M[i]! * M[i - 1]! < 0) flips++;
    expect(m.sign_changes).toBe(flips);
    expect(m.m.value).toBeCloseTo(mean((y) => y) / 12, 12);
  });

  it("rejects malformed input", () => {
    expect(() => measureScalarEnsemble(new Float64Array(10), [2, 2])).toThrow(RangeError);
    expect(() => measureScalarEnsemble(new Float64Array(4), [2, 2])).toThrow(/at least 2/);
    const th = new Phi4Theory({ latticeShape: [4, 4], m2: 1, lam: 0 });
    expect(() => measureScalarEnsemble(new Float64Array(64), [4, 2], { theory: th })).toThrow(
      /does not match/,
    );
  });
});

describe("rejectionRunTauInt", () => {
  it("counts windows of consecutive rejections exactly (brute force)", () => {
    const acc = Uint8Array.from([1, 0, 0, 1, 0, 0, 0, 1, 1, 0]);
    const N = acc.length;
    const r = rejectionRunTauInt(acc);
    let sum = 0;
    for (let t = 1; t < N; t++) {
      let c = 0;
      for (let i = 0; i + t < N; i++) {
        let all = true;
        for (let s = 1; s <= t; s++) all &&= acc[i + s] === 0;
        if (all) c++;
      }
      expect(r.rho[t] ?? 0).toBeCloseTo(c / (N - t), 14);
      sum += c / (N - t);
    }
    expect(r.tauInt).toBeCloseTo(0.5 + sum, 14);
    expect(r.runs).toBe(3);
    expect(r.longestRun).toBe(3);
    expect(r.acceptance).toBeCloseTo(3 / 9, 14);
    expect(rejectionRunTauInt(new Uint8Array(10).fill(1)).tauInt).toBe(0.5);
    expect(() => rejectionRunTauInt(Uint8Array.from([1, 2, 0]))).toThrow(RangeError);
  });

  it("state-independent rejection: τ = (2 − a)/(2a), equal to the Γ-method τ of any observable", () => {
    // Independence sampler with a fixed acceptance a: ρ_O(t) = (1 − a)^t for every O.
    const a = 0.3;
    const N = 200000;
    const rng = new Rng(9);
    const acc = new Uint8Array(N);
    const obs = new Float64Array(N);
    const z = new Float64Array(1);
    acc[0] = 1;
    rng.normal(z);
    obs[0] = z[0]!;
    for (let i = 1; i < N; i++) {
      acc[i] = rng.uniform() < a ? 1 : 0;
      if (acc[i]) rng.normal(z);
      obs[i] = z[0]!;
    }
    const r = rejectionRunTauInt(acc);
    const exact = (2 - a) / (2 * a);
    expect(Math.abs(r.tauInt - exact), `${r.tauInt} ± ${r.tauIntError} vs ${exact}`).toBeLessThan(
      4 * r.tauIntError,
    );
    const g = gammaMethodScalar(obs);
    expect(Math.abs(g.tauInt - exact)).toBeLessThan(4 * g.tauIntError);
    // The indicator series is uncorrelated here: its τ_int is 1/2 although configurations are not.
    expect(Math.abs(r.indicatorTauInt - 0.5)).toBeLessThan(0.05);
  });
});
