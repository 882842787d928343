/**
 * Flow MH interleaved with HMC (src/mcmc/flow-hmc-chain.ts) is exact where the proposal misses
 * part of p: on a one-site tilted double well, with a narrow Gaussian proposal inside the right
 * well only, pure independence MH never visits the left well (⟨x⟩, ⟨x²⟩ far off), while the
 * mixed chain matches the exact moments (quadrature) within 4σ (Γ-method σ). Also: determinism
 * for a given seed, a non-finite state log q refused, no log q pass when HMC never moved the
 * state, and the tuned ε landing near acceptance 0.8 on a Gaussian.
 */
import { describe, expect, it } from "vitest";
import { gammaMethodScalar } from "../src/analysis/gamma.js";
import { flowMetropolisWithHmc } from "../src/mcmc/flow-hmc-chain.js";
import {
  independenceMetropolis,
  NonFiniteProposalError,
  type Proposals,
} from "../src/mcmc/independence-metropolis.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import type { FloatArray, Theory } from "../src/theories/theory.js";

/** One site, S(x) = (x² − 1)² + h·x: two wells near ±1, the left one deeper for h > 0. */
function doubleWell(h: number): Theory {
  return {
    latticeShape: [1],
    configShape: [1],
    size: 1,
    action(x: FloatArray, batch: number, out?: Float64Array) {
      const s = out ?? new Float64Array(batch);
      for (let b = 0; b < batch; b++) s[b] = (x[b]! * x[b]! - 1) ** 2 + h * x[b]!;
      return s;
    },
    force(x: FloatArray, batch: number, out?: Float64Array) {
      const f = out ?? new Float64Array(batch);
      for (let b = 0; b < batch; b++) f[b] = -(4 * x[b]! * (x[b]! * x[b]! - 1) + h);
      return f;
    },
  };
}

/** ⟨x^k⟩ of e^{−S} by the trapezoid rule on [−4, 4] (the tails beyond are < e^{−200}). */
function exactMoment(theory: Theory, k: number): number {
  const n = 80001;
  const x = new Float64Array(n).map((_, i) => -4 + (8 * i) / (n - 1));
  const s = theory.action(x, n);
  let z = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const w = Math.exp(-s[i]!);
    z += w;
    m += w * x[i]! ** k;
  }
  return m / z;
}

/** Gaussian proposals N(mu, sigma²) on each of `v` sites, and the matching log q. */
function gaussianProposals(v: number, mu: number, sigma: number, seed: number) {
  const rng = new Rng(seed);
  const logq = (x: ArrayLike<number>, o = 0): number => {
    let s = 0;
    for (let i = 0; i < v; i++) s += (x[o + i]! - mu) ** 2;
    return -s / (2 * sigma * sigma) - v * Math.log(sigma * Math.sqrt(2 * Math.PI));
  };
  const propose = (m: number): Proposals => {
    const x = new Float64Array(m * v);
    rng.normal(x);
    for (let i = 0; i < x.length; i++) x[i] = mu + sigma * x[i]!;
    return { x, logq: Float64Array.from({ length: m }, (_, j) => logq(x, j * v)) };
  };
  return { propose, logq: (x: Float64Array) => logq(x) };
}

function moments(configs: Float64Array): { x: Float64Array; x2: Float64Array } {
  return { x: configs.slice(), x2: configs.map((a) => a * a) };
}

describe("flowMetropolisWithHmc", () => {
  it("reaches the well the proposal misses: exact ⟨x⟩ and ⟨x²⟩ within 4σ, where pure MH is off", () => {
    // At this seed: pure MH ⟨x⟩ +13σ, ⟨x²⟩ −6.5σ of its own error; the mixed chain within 1σ.
    const theory = doubleWell(0.4);
    const exact = { x: exactMoment(theory, 1), x2: exactMoment(theory, 2) };
    const n = 20000;
    // Proposals in the right well only: N(1, 0.3²) draws x ≈ −1 with probability ~1e−11.
    const pure = independenceMetropolis(
      theory,
      gaussianProposals(1, 1, 0.3, 3).propose,
      { n, batch: 1000 },
      new Rng(4),
    );
    const prop = gaussianProposals(1, 1, 0.3, 3);
    const mixed = flowMetropolisWithHmc(
      theory,
      prop.propose,
      prop.logq,
      { n, batch: 1000, hmcTrajectories: 2 },
      new Rng(4),
    );
    for (const k of ["x", "x2"] as const) {
      const gp = gammaMethodScalar(moments(pure.configs)[k]);
      const gm = gammaMethodScalar(moments(mixed.configs)[k]);
      // Pure MH is stuck in the right well: off by more than 5 of its own σ and 10 of the mixed chain's.
      expect(Math.abs(gp.value - exact[k]), `pure ${k}`).toBeGreaterThan(5 * gp.error);
      expect(Math.abs(gp.value - exact[k]), `pure ${k}`).toBeGreaterThan(10 * gm.error);
      expect(
        Math.abs(gm.value - exact[k]),
        `mixed ${k}: ${gm.value} ± ${gm.error} vs ${exact[k]}`,
      ).toBeLessThan(4 * gm.error);
    }
    expect(mixed.configs.some((x) => x < -0.5)).toBe(true);
    expect(mixed.hmcAcceptance).toBeGreaterThan(0.6);
    expect(mixed.acceptance).toBeGreaterThan(0);
    expect(mixed.warmup).toBeGreaterThan(0);
    // The recorded action is the action of the recorded state.
    const s = theory.action(mixed.configs, n);
    expect(Array.from(mixed.action)).toEqual(Array.from(s));
  });

  it("is deterministic for a seed (K = 3, ε given), and the seed matters", () => {
    const theory = new Phi4Theory({ latticeShape: [3, 3], m2: -1, lam: 1 });
    const run = (seed: number) => {
      const p = gaussianProposals(9, 0, 0.7, 21);
      return flowMetropolisWithHmc(
        theory,
        p.propose,
        p.logq,
        { n: 300, batch: 64, hmcTrajectories: 3, eps: 0.15, nLeapfrog: 5 },
        new Rng(seed),
      );
    };
    const a = run(5);
    const b = run(5);
    const c = run(6);
    for (const k of ["configs", "accepted", "proposalLogWeights", "action"] as const)
      expect(Buffer.from(a[k].buffer).equals(Buffer.from(b[k].buffer)), k).toBe(true);
    expect([a.acceptance, a.hmcAcceptance, a.eps, a.warmup]).toEqual([
      b.acceptance,
      b.hmcAcceptance,
      0.15,
      0,
    ]);
    expect(Buffer.from(a.configs.buffer).equals(Buffer.from(c.configs.buffer))).toBe(false);
  });

  it("refuses a non-finite log q of a state HMC has moved, naming it", () => {
    const theory = new Phi4Theory({ latticeShape: [4], m2: 1, lam: 0 });
    const p = gaussianProposals(4, 0, 0.7, 1);
    const run = () =>
      flowMetropolisWithHmc(
        theory,
        p.propose,
        () => Number.NaN,
        { n: 10, batch: 10, hmcTrajectories: 1, eps: 1e-3, nLeapfrog: 2 },
        new Rng(2),
      );
    expect(run).toThrow(NonFiniteProposalError);
    expect(run).toThrow(/chain state after the HMC trajectories of step 0 .*log q = NaN/);
  });

  it("takes no log q pass when every trajectory was rejected", () => {
    const theory = new Phi4Theory({ latticeShape: [4], m2: 1, lam: 1 });
    const p = gaussianProposals(4, 0, 0.7, 1);
    let calls = 0;
    // A huge step blows the quartic field up: every ΔH is non-finite, every trajectory rejected.
    const r = flowMetropolisWithHmc(
      theory,
      p.propose,
      (x) => {
        calls++;
        return p.logq(x);
      },
      { n: 50, batch: 25, hmcTrajectories: 2, eps: 1e6, nLeapfrog: 3 },
      new Rng(2),
    );
    expect(calls).toBe(0);
    expect(r.hmcAcceptance).toBe(0);
    // Then it is pure flow MH: a rejected proposal repeats the configuration.
    for (let i = 1; i < 50; i++)
      if (r.accepted[i] === 0)
        expect(r.configs.subarray(i * 4, i * 4 + 4)).toEqual(r.configs.subarray(i * 4 - 4, i * 4));
  });

  it("tunes ε to an HMC acceptance near 0.8 on a Gaussian", () => {
    const theory = new Phi4Theory({ latticeShape: [4, 4], m2: 0.5, lam: 0 });
    const p = gaussianProposals(16, 0, 0.5, 8);
    const r = flowMetropolisWithHmc(
      theory,
      p.propose,
      p.logq,
      { n: 2000, batch: 500, hmcTrajectories: 1 },
      new Rng(9),
    );
    expect(r.warmup).toBe(500);
    expect(r.eps).not.toBe(0.1);
    // ±0.05: the acceptance of 2000 trajectories at the frozen ε, whose tuning is itself noisy.
    expect(Math.abs(r.hmcAcceptance - 0.8), `acceptance ${r.hmcAcceptance} at ε ${r.eps}`).toBeLessThan(0.05);
  });

  it("validates its options", () => {
    const theory = new Phi4Theory({ latticeShape: [4], m2: 1, lam: 0 });
    const p = gaussianProposals(4, 0, 0.7, 1);
    const run = (o: Record<string, number>) => () =>
      flowMetropolisWithHmc(
        theory,
        p.propose,
        p.logq,
        { n: 10, batch: 10, hmcTrajectories: 1, ...o },
        new Rng(1),
      );
    expect(run({ hmcTrajectories: 0 })).toThrow(/hmcTrajectories/);
    expect(run({ nLeapfrog: 0 })).toThrow(/nLeapfrog/);
    expect(run({ eps: -1 })).toThrow(/eps/);
    expect(run({ warmup: 0 })).toThrow(/warmup/);
  });
});
