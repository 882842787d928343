/**
 * Exact results of 2-d U(1) on the torus (src/theories/u1-exact.ts, u1-topology-exact.ts) against
 * methods that do not use the character expansion:
 * - ln Z, ⟨cos P⟩ and Wilson loops on 1×2, 2×1, 1×3 and 2×2 by direct integration over the link
 *   angles: the tree links θ_1(x0, x1 < L1−1), θ_0(x0 < L0−1, 0) gauge-fixed to 0, the other V+1
 *   on a uniform M-point grid. The integrand is smooth and periodic in every angle, so the grid
 *   (trapezoid) rule converges geometrically: the aliasing error is ≲ 2·I_M(2β)/I_0(2β), ~1e-13 for
 *   β = 1, M = 16. The action, plaquette and loops are the library's, evaluated on link arrays.
 * - ⟨Q²⟩ (and again ln Z) by integrating over plaquette angles: the map links → plaquettes mod 2π is
 *   a surjective homomorphism onto {Σ_P P ≡ 0}, so Haar links give V−1 independent uniform
 *   plaquettes and P_V = −Σ_{i<V} P_i; Q = k(s) with s = Σ_{i<V} P_i, wrap(−s) = −s + 2πk. The
 *   (V−1)-fold convolution of e^{β cos p} on [−π, π) is smooth between multiples of π, so nested
 *   Gauss–Legendre with those breakpoints is spectrally accurate (node doubling agrees to < 1e-13).
 * - ⟨Q²⟩ on 4×4 at β = 4 by exact i.i.d. sampling (von Mises plaquettes by rejection, weight
 *   e^{β cos P_V}), Q from the library's topologicalCharge on link configurations built from them.
 * Also β = 0 and large-volume limits, the quadrature moments against Bessel series, HMC, the
 * exact references of the u1 spec, and measureU1Ensemble's exact fields.
 */
import { describe, expect, it } from "vitest";
import { gammaMethodScalar } from "../src/analysis/gamma.js";
import { hmcChain } from "../src/mcmc/hmc.js";
import { exactReferences } from "../src/model/references.js";
import { plaquetteMean, topologicalCharge, wilsonLoop } from "../src/observables/u1.js";
import { measureU1Ensemble } from "../src/observables/u1-measure.js";
import { Rng } from "../src/rng/philox.js";
import { U1Theory } from "../src/theories/u1.js";
import { logBesselI, u1ExactTorus, u1PlaquetteExact, u1WilsonLoopExact } from "../src/theories/u1-exact.js";
import { u1ChiTopInfiniteVolume, u1ThetaMoments } from "../src/theories/u1-topology-exact.js";

const TWO_PI = 2 * Math.PI;
const I = (n: number, x: number) => Math.exp(logBesselI(n, x));

/** ln Z, ⟨cos P⟩ and ⟨Re W⟩ of `loops` by the gauge-fixed link grid of the file comment. */
function linkGrid(shape: [number, number], beta: number, m: number, loops: [number, number][]) {
  const t = new U1Theory({ latticeShape: shape, beta });
  const [l0, l1] = shape;
  const v = t.volume;
  const tree = new Set<number>();
  for (let x0 = 0; x0 < l0; x0++) for (let x1 = 0; x1 < l1 - 1; x1++) tree.add(v + x0 * l1 + x1);
  for (let x0 = 0; x0 < l0 - 1; x0++) tree.add(x0 * l1);
  const free = Array.from({ length: t.size }, (_, i) => i).filter((i) => !tree.has(i));
  expect(free.length).toBe(v + 1);
  const total = m ** free.length;
  const batch = 4096;
  let sw = 0;
  let sp = 0;
  const swl = loops.map(() => 0);
  const configs = new Float64Array(batch * t.size);
  for (let start = 0; start < total; start += batch) {
    const nb = Math.min(batch, total - start);
    configs.fill(0);
    for (let b = 0; b < nb; b++) {
      let k = start + b;
      for (const i of free) {
        configs[b * t.size + i] = (TWO_PI * (k % m)) / m;
        k = Math.floor(k / m);
      }
    }
    const c = configs.subarray(0, nb * t.size);
    const s = t.action(c, nb);
    const p = plaquetteMean(t, c);
    const w = loops.map(([r, tt]) => wilsonLoop(t, c, r, tt));
    for (let b = 0; b < nb; b++) {
      const e = Math.exp(-s[b]! - beta * v); // S ≥ −βV: no overflow
      sw += e;
      sp += e * p[b]!;
      for (let j = 0; j < loops.length; j++) swl[j]! += e * w[j]![b]!;
    }
  }
  // Z = (2π)^{V−1} (gauge orbits) · (2π)^{V+1} · mean over the grid of e^{−S}.
  return {
    lnZ: 2 * v * Math.log(TWO_PI) + Math.log(sw / total) + beta * v,
    plaquette: sp / sw,
    wilson: swl.map((x) => x / sw),
  };
}

/** Gauss–Legendre nodes and weights on [−1, 1] (Newton), independent of the library's. */
function gaussLegendre(n: number): { x: number[]; w: number[] } {
  const x: number[] = [];
  const w: number[] = [];
  for (let i = 0; i < n; i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = z;
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * z * p1 - (k - 1) * p0) / k];
      dp = (n * (z * p1 - p0)) / (z * z - 1);
      const dz = p1 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-16) break;
    }
    x.push(z);
    w.push(2 / ((1 - z * z) * dp * dp));
  }
  return { x, w };
}

/** ∫_a^b f by Gauss–Legendre on the pieces between consecutive breakpoints of `cuts` ∪ {a, b}. */
function piecewise(
  f: (p: number) => number,
  a: number,
  b: number,
  cuts: number[],
  g: { x: number[]; w: number[] },
) {
  const pts = [a, ...cuts.filter((c) => c > a && c < b).sort((u, v) => u - v), b];
  let s = 0;
  for (let j = 0; j + 1 < pts.length; j++) {
    const mid = (pts[j]! + pts[j + 1]!) / 2;
    const half = (pts[j + 1]! - pts[j]!) / 2;
    for (let i = 0; i < g.x.length; i++) s += half * g.w[i]! * f(mid + half * g.x[i]!);
  }
  return s;
}

/**
 * ln Z, ⟨cos P⟩ and ⟨Q²⟩ on V plaquettes by the plaquette-angle integral of the file comment:
 * F_k = ρ^{*k}, ρ(p) = e^{β(cos p − 1)} on [−π, π), Z = (2π)^{V+1} ∫ F_{V−1}(s) e^{β cos s} ds.
 */
function plaquetteIntegral(v: number, beta: number, nodes: number) {
  const g = gaussLegendre(nodes);
  const rho = (p: number) => Math.exp(beta * (Math.cos(p) - 1));
  const multiples = (lo: number, hi: number) => {
    const out: number[] = [];
    for (let j = Math.ceil(lo / Math.PI); j * Math.PI <= hi; j++) out.push(j * Math.PI);
    return out;
  };
  const conv = (k: number, s: number): number => {
    if (k === 1) return s >= -Math.PI && s < Math.PI ? rho(s) : 0;
    // F_{k−1}(s − p) is smooth except where s − p ∈ πℤ.
    const cuts = multiples(s - Math.PI, s + Math.PI).map((c) => s - c);
    return piecewise((p) => conv(k - 1, s - p) * rho(p), -Math.PI, Math.PI, cuts, g);
  };
  const q = (s: number) => Math.floor((s + Math.PI) / TWO_PI); // wrap(−s) = −s + 2πq
  const span = (v - 1) * Math.PI;
  const cuts = multiples(-span, span);
  const z = piecewise((s) => conv(v - 1, s) * rho(s), -span, span, cuts, g);
  const q2 = piecewise((s) => conv(v - 1, s) * rho(s) * q(s) ** 2, -span, span, cuts, g) / z;
  // ⟨cos P⟩ = ⟨cos P_V⟩ by translation invariance.
  const cosP = piecewise((s) => conv(v - 1, s) * rho(s) * Math.cos(s), -span, span, cuts, g) / z;
  return { lnZ: (v + 1) * Math.log(TWO_PI) + Math.log(z) + beta * v, plaquette: cosP, q2 };
}

describe("exact 2-d U(1) on the torus", () => {
  it("ln Z, ⟨cos P⟩ and Wilson loops agree with direct integration over gauge-fixed links", () => {
    const cases: [[number, number], number, [number, number][]][] = [
      [
        [1, 2],
        1.3,
        [
          [1, 1],
          [1, 2],
        ],
      ],
      [[2, 1], 0.7, [[1, 1]]],
      [
        [1, 3],
        1,
        [
          [1, 1],
          [1, 2],
          [1, 3],
        ],
      ],
      [
        [2, 2],
        1,
        [
          [1, 1],
          [1, 2],
          [2, 2],
        ],
      ],
    ];
    for (const [shape, beta, loops] of cases) {
      const grid = linkGrid(shape, beta, shape[0] * shape[1] === 4 ? 14 : 24, loops);
      const e = u1ExactTorus(shape, beta);
      const tag = `${shape.join("×")} β=${beta}`;
      const dw = loops.map((l, j) => (u1WilsonLoopExact(shape, beta, l) - grid.wilson[j]!).toExponential(1));
      console.log(
        `${tag}: exact − grid: ln Z ${(e.lnZ - grid.lnZ).toExponential(1)}, ⟨cos P⟩ ${(e.plaquette - grid.plaquette).toExponential(1)}, W ${dw.join(" ")}`,
      );
      expect(Math.abs(e.lnZ - grid.lnZ), tag).toBeLessThan(1e-11);
      expect(Math.abs(e.plaquette - grid.plaquette), tag).toBeLessThan(1e-11);
      loops.forEach((loop, j) => {
        const w = u1WilsonLoopExact(shape, beta, loop);
        expect(Math.abs(w - grid.wilson[j]!), `${tag} W${loop.join("x")}`).toBeLessThan(1e-11);
      });
    }
  });

  it("⟨Q²⟩, ln Z and ⟨cos P⟩ agree with the plaquette-angle integral (V = 3, 4)", () => {
    const cases: [[number, number], number][] = [
      [[1, 3], 0.5],
      [[3, 1], 2],
      [[1, 3], 4],
      [[2, 2], 1],
      [[2, 2], 3],
    ];
    for (const [shape, beta] of cases) {
      const v = shape[0] * shape[1];
      const coarse = plaquetteIntegral(v, beta, 16);
      const fine = plaquetteIntegral(v, beta, 24);
      const e = u1ExactTorus(shape, beta);
      const tag = `${shape.join("×")} β=${beta}`;
      // The quadrature's own error (node doubling), then the exact formula against it.
      expect(Math.abs(coarse.q2 - fine.q2), tag).toBeLessThan(1e-13);
      expect(Math.abs(e.q2 - fine.q2), `${tag}: ${e.q2} vs ${fine.q2}`).toBeLessThan(1e-12);
      expect(Math.abs(e.lnZ - fine.lnZ), tag).toBeLessThan(1e-11);
      expect(Math.abs(e.plaquette - fine.plaquette), tag).toBeLessThan(1e-12);
      expect(e.chiTop).toBe(e.q2 / v);
      expect(e.q2).toBeGreaterThan(0);
    }
    // V ≤ 2: Σ P = 0 forces Q = 0.
    expect(u1ExactTorus([1, 2], 1.5).q2).toBe(0);
    expect(u1ExactTorus([1, 1], 1.5).q2).toBe(0);
  });

  it("⟨Q²⟩ on 4×4 at β = 4 by exact i.i.d. sampling, Q from topologicalCharge on links", () => {
    const [l0, l1] = [4, 4];
    const beta = 4;
    const t = new U1Theory({ latticeShape: [l0, l1], beta });
    const v = t.volume;
    const rng = new Rng(2024);
    const n = 20000;
    const configs = new Float64Array(n * t.size);
    const logw = new Float64Array(n);
    const p = new Float64Array(v);
    for (let c = 0; c < n; c++) {
      // P_1 … P_{V−1} von Mises(β) by rejection from uniform; P_V = −Σ, weighted by e^{β cos P_V}.
      let s = 0;
      for (let i = 0; i < v - 1; i++) {
        let x: number;
        do x = (rng.uniform() - 0.5) * TWO_PI;
        while (rng.uniform() > Math.exp(beta * (Math.cos(x) - 1)));
        p[i] = x;
        s += x;
      }
      p[v - 1] = -s;
      logw[c] = beta * Math.cos(s);
      // Links with these plaquettes: θ_1(x0, x1) = Σ_{y<x0} P(y, x1); the last column's θ_0 closes the torus.
      const o = c * t.size;
      for (let x1 = 0; x1 < l1; x1++) {
        let acc = 0;
        for (let x0 = 0; x0 < l0; x0++) {
          configs[o + v + x0 * l1 + x1] = acc;
          acc += p[x0 * l1 + x1]!;
        }
      }
      let th = 0;
      for (let x1 = 0; x1 < l1; x1++) {
        configs[o + (l0 - 1) * l1 + x1] = th;
        let row = 0;
        for (let x0 = 0; x0 < l0; x0++) row += p[x0 * l1 + x1]!;
        th -= row;
      }
    }
    // The links reproduce the drawn plaquettes (checked on the last draw, still in p).
    const got = t.plaquettes(configs, n - 1);
    for (let i = 0; i < v; i++) expect(Math.abs(got[i]! - p[i]!)).toBeLessThan(1e-12);
    const q = topologicalCharge(t, configs);
    const wmax = Math.max(...logw);
    const w = logw.map((l) => Math.exp(l - wmax));
    const sw = w.reduce((a, b) => a + b, 0);
    const mean = w.reduce((a, wi, i) => a + wi * q[i]! ** 2, 0) / sw;
    // Delta-method error of the self-normalised mean.
    const err = Math.sqrt(w.reduce((a, wi, i) => a + (wi / sw) ** 2 * (q[i]! ** 2 - mean) ** 2, 0));
    const exact = u1ExactTorus([l0, l1], beta).q2;
    console.log(`4×4 β=4: i.i.d. ⟨Q²⟩ = ${mean.toFixed(5)} ± ${err.toFixed(5)}, exact ${exact.toFixed(6)}`);
    expect(Math.abs(mean - exact)).toBeLessThan(3 * err);
    expect(err).toBeLessThan(0.2 * exact); // a check that can fail
  });

  it("the quadrature moments match the Bessel series", () => {
    // m_n = e^{−β} I_n; s_n e^β = Σ_k (−1)^{k+1}(I_{n−k} − I_{n+k})/k; h_n e^β = (π²/3) I_n + 2Σ_k (−1)^k (I_{n−k} + I_{n+k})/k².
    for (const beta of [0.3, 1, 2, 6]) {
      const nMax = 12;
      const { m, s, h } = u1ThetaMoments(beta, nMax);
      const i0 = I(0, beta);
      for (let n = 0; n <= nMax; n++) {
        let ss = 0;
        let hh = (Math.PI ** 2 / 3) * I(n, beta);
        for (let k = 1; k < n + 80; k++) {
          const sign = k % 2 === 0 ? 1 : -1;
          ss += (-sign * (I(n - k, beta) - I(n + k, beta))) / k;
          hh += (2 * sign * (I(n - k, beta) + I(n + k, beta))) / (k * k);
        }
        const scale = Math.exp(beta);
        expect(Math.abs(m[n]! * scale - I(n, beta)) / i0, `m ${beta} ${n}`).toBeLessThan(1e-14);
        expect(Math.abs(s[n]! * scale - ss) / i0, `s ${beta} ${n}`).toBeLessThan(1e-13);
        expect(Math.abs(h[n]! * scale - hh) / i0, `h ${beta} ${n}`).toBeLessThan(1e-13);
      }
    }
  });

  it("β = 0: Haar-random links", () => {
    for (const shape of [
      [1, 1],
      [1, 2],
      [1, 3],
      [2, 2],
      [8, 8],
      [5, 7],
    ] as [number, number][]) {
      const v = shape[0] * shape[1];
      const e = u1ExactTorus(shape, 0);
      expect(e.lnZ).toBeCloseTo(2 * v * Math.log(TWO_PI), 12);
      expect(e.plaquette).toBe(v === 1 ? 1 : 0); // 1×1: P ≡ 0
      // Q² = V/12 for V ≥ 3 (the V − 1 free wrapped plaquettes are uniform; e.g. V = 3:
      // P(|P_1 + P_2| > π) = 1/4), 0 for V ≤ 2.
      expect(e.q2).toBeCloseTo(v >= 3 ? v / 12 : 0, 14);
      if (v > 1) {
        expect(u1WilsonLoopExact(shape, 0, [1, 1])).toBe(0);
        expect(u1WilsonLoopExact(shape, 0, shape)).toBe(1); // A = V: the loop is trivial
      }
    }
    expect(u1ChiTopInfiniteVolume(0)).toBeCloseTo(1 / 12, 15);
  });

  it("large volume: ⟨cos P⟩ → I_1/I_0, ⟨W⟩ → (I_1/I_0)^A, χ_top → ⟨p²⟩/4π² → 1/(4π²β)", () => {
    for (const beta of [0.5, 2, 6]) {
      const r = I(1, beta) / I(0, beta);
      const e = u1ExactTorus([64, 64], beta);
      expect(Math.abs(e.plaquette - r)).toBeLessThan(1e-10);
      expect(Math.abs(e.chiTop / u1ChiTopInfiniteVolume(beta) - 1)).toBeLessThan(1e-10);
      expect(Math.abs(u1WilsonLoopExact([64, 64], beta, [3, 4]) / r ** 12 - 1)).toBeLessThan(1e-10);
      // Finite volume: χ_top(L = 8) is below the limit (charge is harder to hold on a small torus).
      expect(u1ExactTorus([8, 8], beta).chiTop).toBeLessThanOrEqual(u1ChiTopInfiniteVolume(beta));
    }
    expect(u1ExactTorus([8, 8], 6).chiTop).toBeLessThan(0.95 * u1ChiTopInfiniteVolume(6));
    // χ_∞ ≈ 1/(4π²β)·(1 + 1/(2β) + …) at large β.
    const b = 200;
    expect(Math.abs(u1ChiTopInfiniteVolume(b) * 4 * Math.PI ** 2 * b - 1)).toBeLessThan(1 / b);
    // The reference table of docs/physics.md (L = 8).
    expect(u1ExactTorus([8, 8], 2).q2).toBeCloseTo(1.239298910723259, 12);
    expect(u1ExactTorus([8, 8], 2).lnZ).toBeCloseTo(287.98385115550434, 10);
    expect(u1PlaquetteExact(2, 64)).toBeCloseTo(0.6977746580108416, 14);
  });

  it("Wilson loops: depend on the area only, real, symmetric under A → V − A", () => {
    const shape: [number, number] = [6, 4];
    const w = (r: number, t: number) => u1WilsonLoopExact(shape, 2.5, [r, t]);
    expect(w(2, 3)).toBeCloseTo(w(3, 2), 15);
    expect(w(6, 1)).toBeCloseTo(w(2, 3), 15);
    expect(w(2, 3)).toBeCloseTo(w(6, 3), 14); // A = 6 and V − A = 18
    expect(w(1, 1)).toBeCloseTo(u1PlaquetteExact(2.5, 24), 14);
    expect(() => u1WilsonLoopExact(shape, 2, [5, 5])).toThrow(RangeError);
    expect(() => u1WilsonLoopExact(shape, 2, [0, 1])).toThrow(RangeError);
    expect(() => u1ExactTorus([4, 4, 4], 2)).toThrow(RangeError);
    expect(() => u1ExactTorus([4, 4], -1)).toThrow(RangeError);
    expect(() => u1ExactTorus([4, 0], 1)).toThrow(RangeError);
    expect(() => u1ExactTorus([4, 4], Number.NaN)).toThrow(RangeError);
  });

  it("HMC on 8×8 at β = 2 and β = 4 agrees with the exact ⟨cos P⟩, ⟨Q²⟩ and W(2×2) within 3σ (Γ-method)", () => {
    for (const [beta, n, seed] of [
      [2, 3000, 11],
      [4, 4000, 2],
    ] as const) {
      const t = new U1Theory({ latticeShape: [8, 8], beta });
      const run = hmcChain(
        t,
        { nTherm: 200, n, nLeapfrog: 10, trajectoryLength: 1, targetAcceptance: 0.8 },
        new Rng(seed),
      );
      const e = u1ExactTorus([8, 8], beta);
      const q = topologicalCharge(t, run.configs);
      const checks: [string, Float64Array, number, number][] = [
        ["plaquette", plaquetteMean(t, run.configs), e.plaquette, 0.005],
        ["Q²", q.map((x) => x * x), e.q2, 0.1],
        ["W(2×2)", wilsonLoop(t, run.configs, 2, 2), u1WilsonLoopExact([8, 8], beta, [2, 2]), 0.01],
      ];
      for (const [name, series, exact, maxErr] of checks) {
        const g = gammaMethodScalar(series);
        const z = (g.value - exact) / g.error;
        console.log(
          `8×8 β=${beta} ${name}: ${g.value.toFixed(5)} ± ${g.error.toFixed(5)} (τ_int ${g.tauInt.toFixed(1)}), exact ${exact.toFixed(6)}, ${z.toFixed(2)}σ`,
        );
        expect(Math.abs(z), name).toBeLessThan(3);
        expect(g.error, name).toBeLessThan(maxErr); // small enough for the check to mean something
      }
    }
  });

  it("exactReferences: ln Z and the loss floor −ln Z for 2-d u1, null otherwise", () => {
    const r = exactReferences({ kind: "u1", latticeShape: [8, 8], beta: 2 });
    expect(r.lnZ).toBeCloseTo(u1ExactTorus([8, 8], 2).lnZ, 12);
    expect(r.logZShift).toBe(0);
    expect(r.lossFloor).toBe(-r.lnZ!);
    expect(r.energy).toBeNull();
    expect(exactReferences({ kind: "u1", latticeShape: [4, 4, 4], beta: 2 })).toEqual({
      lnZ: null,
      logZShift: 0,
      lossFloor: null,
      energy: null,
    });
  });

  it("measureU1Ensemble: exact ⟨Q²⟩, χ_top and Wilson loops with their deviations in σ", () => {
    const t = new U1Theory({ latticeShape: [4, 6], beta: 1.5 });
    const run = hmcChain(t, { nTherm: 50, n: 300, nLeapfrog: 8, trajectoryLength: 1 }, new Rng(5));
    const m = measureU1Ensemble(run.configs, t, {
      wilsonLoops: [
        [1, 2],
        [4, 5],
        [5, 5],
      ],
    });
    const e = u1ExactTorus([4, 6], 1.5);
    expect(m.plaquette_exact).toBe(e.plaquette);
    expect(m.plaquette_n_sigma).toBeCloseTo((m.plaquette.value - e.plaquette) / m.plaquette.error, 12);
    expect(m.q2_exact).toBe(e.q2);
    expect(m.q2_n_sigma).toBeCloseTo((m.q2!.value - e.q2) / m.q2!.error, 12);
    expect(m.chi_top_exact).toBe(e.chiTop);
    expect(m.chi_top_n_sigma).toBeCloseTo(m.q2_n_sigma!, 10);
    // 5×5 fits in no orientation of 4×6 and is skipped; 4×5 fits as R along 0.
    expect(m.wilson_loops.map((w) => [w.r, w.t, w.area])).toEqual([
      [1, 2, 2],
      [4, 5, 20],
    ]);
    for (const w of m.wilson_loops) {
      expect(w.exact).toBe(u1WilsonLoopExact([4, 6], 1.5, [w.r, w.t]));
      expect(w.n_sigma).toBeCloseTo((w.estimate.value - w.exact!) / w.estimate.error, 12);
      expect(Array.from(wilsonLoop(t, run.configs, w.r, w.t)).length).toBe(300);
    }
    expect(measureU1Ensemble(run.configs, t).wilson_loops.map((w) => `${w.r}x${w.t}`)).toEqual([
      "1x2",
      "2x2",
      "3x3",
    ]);
    // d = 3: no exact values, loops measured.
    const t3 = new U1Theory({ latticeShape: [3, 3, 3], beta: 1 });
    const m3 = measureU1Ensemble(
      Float64Array.from({ length: 2 * t3.size }, (_, i) => 3 * Math.sin(i)),
      t3,
    );
    expect(m3.q2_exact).toBeNull();
    expect(m3.chi_top_exact).toBeNull();
    expect(m3.wilson_loops.map((w) => w.exact)).toEqual([null, null, null]);
  });

  it("wilsonLoop: a 1×1 loop is the plaquette; gauge invariant; both orientations averaged", () => {
    const t = new U1Theory({ latticeShape: [3, 5], beta: 1 });
    const rng = new Rng(9);
    const theta = Float64Array.from({ length: 4 * t.size }, () => (rng.uniform() - 0.5) * 8);
    const w11 = wilsonLoop(t, theta, 1, 1);
    const pm = plaquetteMean(t, theta);
    for (let b = 0; b < 4; b++) expect(w11[b]).toBeCloseTo(pm[b]!, 14);
    // 1×2 on 3×5: R along 0 (1 ≤ 3, 2 ≤ 5) and R along 1 (2 ≤ 3, 1 ≤ 5): the mean of both.
    const w12 = wilsonLoop(t, theta, 1, 2);
    const w21 = wilsonLoop(t, theta, 2, 1);
    for (let b = 0; b < 4; b++) expect(w12[b]).toBeCloseTo(w21[b]!, 14);
    // By hand at x = 0, R = 1 along 0, T = 2 along 1, configuration 0: the sum of P(0,0) + P(0,1).
    const p = t.plaquettes(theta, 0);
    const v = t.volume;
    const hand =
      theta[0]! +
      theta[v + 1 * 5 + 0]! +
      theta[v + 1 * 5 + 1]! -
      theta[0 * 5 + 2]! -
      theta[v + 1]! -
      theta[v + 0]!;
    expect(Math.cos(hand)).toBeCloseTo(Math.cos(p[0]! + p[1]!), 12);
    expect(() => wilsonLoop(t, theta, 4, 6)).toThrow(RangeError);
  });
});
