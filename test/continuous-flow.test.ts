/**
 * The equivariant continuous flow (arXiv 2207.00283; src/flows/continuous-flow.ts): its ops'
 * values and float64 gradients, the RK4 solve converging at (at least) fourth order in inverse
 * and log-det against brute-force Jacobians, translation / hypercubic / Z₂ equivariance (fused step
 * and op path), the reverse-KL gradient through the solver against central differences, and the
 * model description. The fused step's own tests are in cnf-fused.test.ts.
 */
import { describe, expect, it } from "vitest";
import { add, mul, type Params, sum, Tensor, tensor, zeros } from "../src/engine/index.js";
import { orbitConv } from "../src/engine/ops/orbit-conv.js";
import { featureSinCos, sineFeatures } from "../src/engine/ops/sine-features.js";
import {
  type ContinuousFlowConfig,
  ContinuousFlowLayer,
  continuousFlow,
} from "../src/flows/continuous-flow.js";
import { offsetOrbits } from "../src/flows/equivariant-vector-field.js";
import * as math from "../src/math/index.js";
import { applySettings, buildModel, describeFlow, presetConfig, SpecError } from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { reverseKl } from "../src/train/reverse-kl.js";
import { gradcheck } from "./gradcheck.js";
import { logAbsDet } from "./linalg.js";

function randn(shape: number[], seed: number, s = 1): Tensor {
  const t = zeros(shape);
  new Rng(seed).normal(t.data);
  for (let i = 0; i < t.size; i++) t.data[i]! *= s;
  return t;
}

/** Every parameter shifted by uniform noise on (−s, s): a far-from-identity vector field. */
function randomise(p: Params, seed: number, s: number): Params {
  const rng = new Rng(seed);
  for (const t of Object.values(p))
    for (let i = 0; i < t.size; i++) t.data[i]! += s * (2 * rng.uniform() - 1);
  return p;
}

/** y[b, perm(x)] = x[b, x]: a permutation of sites applied to every configuration. */
function permuteSites(x: Tensor, perm: (site: number) => number): Tensor {
  const V = x.size / x.shape[0]!;
  const out = zeros(x.shape);
  for (let b = 0; b < x.shape[0]!; b++)
    for (let s = 0; s < V; s++) out.data[b * V + perm(s)] = x.data[b * V + s]!;
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("continuous-flow ops", () => {
  it("featureSinCos agrees with math.sincos to a few 1e-16", () => {
    const rng = new Rng(1);
    const a = new Float64Array(2);
    const b = new Float64Array(2);
    for (let i = 0; i < 20000; i++) {
      const x = (2 * rng.uniform() - 1) * (i < 10000 ? 40 : 1e6);
      featureSinCos(x, a);
      math.sincos(x, b);
      expect(Math.abs(a[0]! - b[0]!)).toBeLessThan(3e-16);
      expect(Math.abs(a[1]! - b[1]!)).toBeLessThan(3e-16);
    }
  });

  it("sineFeatures: values and gradient", () => {
    const phi = randn([2, 3, 2], 1);
    const omega = tensor([0.7, 2.3, 4.1]);
    const mix = randn([2, 4], 2);
    const { h, cosSums } = sineFeatures(phi, omega, mix);
    expect(h.shape).toEqual([2, 3, 2, 2]);
    expect(cosSums.shape).toEqual([2, 3]);
    for (let n = 0; n < 12; n++) {
      const x = phi.data[n]!;
      for (let f = 0; f < 2; f++) {
        let e = mix.data[f * 4 + 3]! * x;
        for (let k = 0; k < 3; k++) e += mix.data[f * 4 + k]! * math.sin(omega.data[k]! * x);
        expect(h.data[n * 2 + f]).toBeCloseTo(e, 14);
      }
    }
    for (let b = 0; b < 2; b++)
      for (let k = 0; k < 3; k++) {
        let e = 0;
        for (let s = 0; s < 6; s++) e += math.cos(omega.data[k]! * phi.data[b * 6 + s]!);
        expect(cosSums.data[b * 3 + k]).toBeCloseTo(e, 14);
      }
    const r1 = randn([2, 3, 2, 2], 3);
    const r2 = randn([2, 3], 4);
    gradcheck(
      (p) => {
        const o = sineFeatures(p.phi, p.omega, p.mix);
        return add(sum(mul(o.h, r1)), sum(mul(o.cosSums, r2)));
      },
      { phi, omega, mix },
    );
  });

  it("orbitConv: values and gradient", () => {
    const V = 4;
    const h = randn([2, V, 3], 5);
    const kern = randn([3, 3], 6);
    const index = Int32Array.from({ length: V * V }, (_, i) => (i * 7) % 3);
    const v = orbitConv(h, kern, index);
    for (let b = 0; b < 2; b++)
      for (let x = 0; x < V; x++) {
        let e = 0;
        for (let y = 0; y < V; y++)
          for (let f = 0; f < 3; f++)
            e += kern.data[index[y * V + x]! * 3 + f]! * h.data[(b * V + y) * 3 + f]!;
        expect(v.data[b * V + x]).toBeCloseTo(e, 13);
      }
    const r = randn([2, V], 7);
    gradcheck((p) => sum(mul(orbitConv(p.h, p.kern, index), r)), { h, kern });
  });

  it("offset orbits: the D4 classes of the reference code (zero offset first)", () => {
    expect(offsetOrbits([6, 6]).count).toBe(10);
    expect(offsetOrbits([7, 7]).count).toBe(10);
    expect(offsetOrbits([4, 4, 4]).count).toBe(10);
    expect(offsetOrbits([4, 3]).count).toBe(6); // unequal axes: reflections only
    expect(offsetOrbits([5, 5]).orbit[0]).toBe(0);
  });
});

const SMALL = { frequencies: 6, timeFrequencies: 2, featureBond: 4, timeBond: 3 };

describe("continuous flow", () => {
  it("starts as the identity", () => {
    const b = new ContinuousFlowLayer({ latticeShape: [3, 3], steps: 4, ...SMALL });
    const x = randn([2, 3, 3], 1);
    const { y, logDet } = b.forwardAndLogDet(b.initParams(new Rng(0), "float64"), x);
    expect(Array.from(y.data)).toEqual(Array.from(x.data));
    expect(Array.from(logDet.data)).toEqual([0, 0]);
  });

  it("inverse and log-det converge at RK4's order (brute-force Jacobian on 3×3)", () => {
    const lattice = [3, 3];
    const v = 9;
    const x = randn([1, ...lattice], 4);
    const errs: { ld: number; inv: number; back: number }[] = [];
    for (const steps of [8, 16, 32]) {
      const b = new ContinuousFlowLayer({ latticeShape: lattice, steps, ...SMALL });
      const params = randomise(b.initParams(new Rng(1), "float64"), 2, 1);
      const { y, logDet } = b.forwardAndLogDet(params, x);
      expect(maxDiff(y.data, x.data)).toBeGreaterThan(0.05); // far from the identity
      const inv = b.inverseAndLogDet(params, y);
      const h = 1e-5;
      const jac = new Float64Array(v * v);
      for (let j = 0; j < v; j++) {
        const xp = new Tensor(x.data.slice(), [1, ...lattice]);
        const xm = new Tensor(x.data.slice(), [1, ...lattice]);
        xp.data[j]! += h;
        xm.data[j]! -= h;
        const yp = b.forwardAndLogDet(params, xp).y.data;
        const ym = b.forwardAndLogDet(params, xm).y.data;
        for (let i = 0; i < v; i++) jac[i * v + j] = (yp[i]! - ym[i]!) / (2 * h);
      }
      errs.push({
        ld: Math.abs(logDet.data[0]! - logAbsDet(jac, v)),
        inv: maxDiff(inv.x.data, x.data),
        back: Math.abs(inv.logDet.data[0]! + logDet.data[0]!),
      });
    }
    // Global error O(h⁴) per doubling: ratio ≥ 16 asymptotically (observed ~30: the round trip's
    // leading h⁴ terms cancel, leaving O(h⁵)); 12 leaves room for the pre-asymptotic regime.
    for (let i = 0; i + 1 < errs.length; i++)
      for (const key of ["ld", "inv", "back"] as const)
        expect(errs[i]![key] / errs[i + 1]![key], `${key} ${i}`).toBeGreaterThan(12);
    for (const key of ["ld", "inv", "back"] as const) expect(errs[2]![key]).toBeLessThan(1e-6);
  });

  for (const fused of [true, false])
    it(`translation, hypercubic and Z₂ equivariance; log q invariant (${fused ? "fused step" : "op path"})`, () => {
      const check = (lattice: number[], perm: (s: number) => number, batch = 2) => {
        const b = new ContinuousFlowLayer({ latticeShape: lattice, steps: 6, ...SMALL, fused });
        const params = randomise(b.initParams(new Rng(1), "float64"), 2, 1);
        const x = randn([batch, ...lattice], 3);
        const r = b.forwardAndLogDet(params, x);
        const rp = b.forwardAndLogDet(params, permuteSites(x, perm));
        expect(maxDiff(rp.y.data, permuteSites(r.y, perm).data)).toBeLessThan(1e-12);
        expect(maxDiff(rp.logDet.data, r.logDet.data)).toBeLessThan(1e-12);
        expect(maxDiff(r.y.data, x.data)).toBeGreaterThan(0.05);
      };
      // Translation by (1, 2) on a non-square lattice.
      check([4, 3], (s) => ((Math.floor(s / 3) + 1) % 4) * 3 + (((s % 3) + 2) % 3));
      // Transposition and reflection on a square one.
      check([4, 4], (s) => (s % 4) * 4 + Math.floor(s / 4));
      check([4, 4], (s) => Math.floor(s / 4) * 4 + ((4 - (s % 4)) % 4));
      // Translation on an 8×8 lattice (the fused step's WebAssembly FFT), batch 4.
      check([8, 8], (s) => ((Math.floor(s / 8) + 3) % 8) * 8 + (((s % 8) + 5) % 8), 4);
      // Z₂: f(−x) = −f(x), same log-det.
      const b = new ContinuousFlowLayer({ latticeShape: [3, 3], steps: 6, ...SMALL, fused });
      const params = randomise(b.initParams(new Rng(1), "float64"), 2, 1);
      const x = randn([2, 3, 3], 3);
      const r = b.forwardAndLogDet(params, x);
      const neg = b.forwardAndLogDet(
        params,
        new Tensor(
          x.data.map((u) => -u),
          x.shape,
        ),
      );
      expect(
        maxDiff(
          neg.y.data,
          r.y.data.map((u) => -u),
        ),
      ).toBeLessThan(1e-13);
      expect(maxDiff(neg.logDet.data, r.logDet.data)).toBeLessThan(1e-13);
    });

  it("the reverse-KL gradient through the solver matches central differences", () => {
    const config: ContinuousFlowConfig = {
      latticeShape: [2, 2],
      steps: 3,
      frequencies: 3,
      timeFrequencies: 1,
      featureBond: 2,
      timeBond: 2,
    };
    const flow = continuousFlow(config);
    const params = randomise(flow.initParams(new Rng(1), "float64"), 2, 0.5);
    const theory = new Phi4Theory({ latticeShape: [2, 2], m2: -4, lam: 6.975 });
    const z = randn([3, 2, 2], 4);
    const loss = reverseKl(flow, theory);
    gradcheck((p) => loss(p, z).loss, params);
  });
});

describe("cnf through the model description", () => {
  function specError(f: () => unknown): string {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(SpecError);
      const m = (e as Error).message;
      expect(m.split("\n")).toHaveLength(1);
      return m;
    }
    throw new Error("expected a SpecError");
  }
  const base = presetConfig("phi4-notebook");

  it("builds, samples from the identity start, and describes itself", () => {
    const c = applySettings(
      base,
      { flow: "cnf", L: 4, odeSteps: 4, frequencies: 5, timeFrequencies: 2, hidden: [4, 3] },
      "t",
    );
    expect(c.flow).toEqual({ kind: "cnf", odeSteps: 4, frequencies: 5, timeFrequencies: 2, hidden: [4, 3] });
    expect(describeFlow(c.flow)).toContain("cnf");
    const { flow } = buildModel(c);
    for (const dtype of ["float64", "float32"] as const) {
      const params = flow.initParams(new Rng(0), dtype);
      expect(Object.keys(params).sort()).toEqual(["0.featureMix", "0.omega", "0.timeMix", "0.w"]);
      const { x, logq } = flow.sample(params, new Rng(1), 3, dtype);
      expect(x.shape).toEqual([3, 4, 4]);
      expect(x.dtype).toBe(dtype);
      const lr = flow.prior.logProb(x);
      for (let b = 0; b < 3; b++) expect(logq.data[b]).toBeCloseTo(lr.data[b]!, dtype === "float64" ? 12 : 4);
    }
    const d = applySettings(base, { flow: "cnf" }, "t").flow;
    expect(d).toEqual({ kind: "cnf", odeSteps: 50, frequencies: 49, timeFrequencies: 10, hidden: [20, 20] });
  });

  it("a bad field is one SpecError line naming it", () => {
    expect(specError(() => applySettings(base, { flow: "cnf", hidden: [20] }, "t"))).toMatch(/hidden/);
    expect(specError(() => applySettings(base, { flow: "cnf", odeSteps: 0 }, "t"))).toMatch(/odeSteps/);
    expect(specError(() => applySettings(base, { flow: "cnf", frequencies: 2.5 }, "t"))).toMatch(
      /frequencies/,
    );
    expect(specError(() => applySettings(base, { flow: "cnf", L: 70 }, "t"))).toMatch(/4096 sites/);
    expect(specError(() => applySettings(base, { flow: "cnf", kernel: 3 }, "t"))).toMatch(/kernel/);
  });
});
