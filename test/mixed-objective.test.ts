/**
 * NeuralRG's mixed objective δ·NLL + ω·KL (src/train/mixed-objective.ts): its gradient is
 * δ·∇NLL + ω·∇KL taken separately on the same samples; δ = 0, ω = 1 is the plain trainer bit for
 * bit; the MH rule accepts everything when q = p exactly; the buffer gets the chain states and
 * their flips (not for a theory without the symmetry); non-finite steps are still rejected; the
 * training spec's new fields and their one-line errors.
 */
import { describe, expect, it } from "vitest";
import { mean, neg, type Params, Tensor, valueAndGrad } from "../src/engine/index.js";
import { Flow } from "../src/flows/flow.js";
import { NormalPrior } from "../src/flows/prior.js";
import { Z2SymmetrisedFlow } from "../src/flows/z2-symmetrised.js";
import {
  applySettings,
  buildModel,
  parseRunConfig,
  presetConfig,
  SpecError,
  validateRunConfig,
} from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";
import type { Theory } from "../src/theories/theory.js";
import { adam } from "../src/train/adam.js";
import {
  createMixedObjective,
  IndependenceChains,
  mhAccept,
  objectiveOf,
} from "../src/train/mixed-objective.js";
import { reverseKl } from "../src/train/reverse-kl.js";
import { createTrainer, type StepMetrics } from "../src/train/trainer.js";

/** Tiny float64 models through the model description: NeuralRG's MERA on the 4×4 Ising model, and a Z2-symmetrised affine-cnn φ⁴ flow. */
const TINY = {
  mera: applySettings(
    presetConfig("ising-mera-quick"),
    { L: 4, layers: 2, hidden: [4], ndis: 1, dtype: "float64", batch: 8 },
    "test",
  ),
  "affine-cnn z2": applySettings(
    presetConfig("phi4-notebook"),
    { L: 4, layers: 2, hidden: [4], z2: true, dtype: "float64", batch: 8 },
    "test",
  ),
};

/** A standard normal target with q = p exactly: the identity flow on N(0, 1), S = −log r. */
function exactPair(symmetric: boolean): { flow: Flow; theory: Theory } {
  const prior = new NormalPrior([2, 2]);
  const flow = new Flow(prior, []);
  const S = (phi: Float64Array | Float32Array, b: number) =>
    Float64Array.from(neg(prior.logProb(new Tensor(phi, [b, 2, 2]))).data);
  const theory: Theory = {
    latticeShape: [2, 2],
    configShape: [2, 2],
    size: 4,
    action: (phi, b) => S(phi, b),
    force: (phi) => Float64Array.from(phi, (v) => -v),
    ...(symmetric ? { z2Symmetric: true } : {}),
  };
  return { flow, theory };
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
  }
  return d / Math.max(scale, 1e-300);
}

describe("the MH rule", () => {
  it("accepts every proposal when q = p (equal log-weights), whatever u", () => {
    for (const u of [0, 1e-300, 0.5, 0.999999, 1 - 2 ** -53]) expect(mhAccept(-3.25, -3.25, u)).toBe(true);
  });
  it("accepts with probability min(1, w'/w) and never a non-finite proposal", () => {
    const n = 10000;
    let acc = 0;
    for (let i = 0; i < n; i++) if (mhAccept(Math.log(0.3), 0, (i + 0.5) / n)) acc++;
    expect(acc / n).toBeCloseTo(0.3, 3);
    expect(mhAccept(Math.log(2), 0, 0.999)).toBe(true);
    expect(mhAccept(Number.NaN, 0, 0)).toBe(false);
    expect(mhAccept(Number.POSITIVE_INFINITY, 0, 0)).toBe(false);
    expect(mhAccept(-1e3, Number.NaN, 0.999)).toBe(true);
  });
  it("chains start at the first batch, then take one uniform each, in chain order", () => {
    const chains = new IndependenceChains(3);
    const x0 = new Tensor(Float64Array.from([1, 2, 3]), [3, 1]);
    expect(chains.advance(x0, [0, 0, 0], [0, 0, 0], null, new Rng(0))).toBeNull();
    const x1 = new Tensor(Float64Array.from([10, 20, 30]), [3, 1]);
    // Proposal 0: w' = w (taken); 1: w'/w = e^{-50} (left); 2: non-finite (left).
    const r = chains.advance(x1, [0, -50, Number.NaN], [0, 0, 0], [0, 0, 0], new Rng(0));
    expect(r).toBeCloseTo(1 / 3, 15);
    expect(Array.from(chains.states().data)).toEqual([10, 2, 3]);
  });
});

describe("the mixed objective", () => {
  for (const [name, config] of Object.entries(TINY)) {
    it(`${name}: its gradient is δ·∇NLL + ω·∇KL taken separately on the same samples`, () => {
      const { flow, theory } = buildModel(config);
      if (name.includes("z2")) expect(flow).toBeInstanceOf(Z2SymmetrisedFlow);
      const batch = config.train.batch;
      const [delta, omega] = [0.7, 1.3];
      const obj = createMixedObjective(
        flow,
        theory,
        { nllWeight: delta, klWeight: omega },
        batch,
        new Rng(9),
      );
      const rng = new Rng(1);
      const params = flow.initParams(rng, "float64");
      const kl = valueAndGrad((p: Params, z: Tensor) => reverseKl(flow, theory)(p, z).loss);
      const nll = valueAndGrad((p: Params, x: Tensor) => mean(neg(flow.logProb(p, x))));
      for (let step = 0; step < 3; step++) {
        const z = flow.prior.sample(rng, batch, "float64");
        const r = obj.step(params, z);
        expect(r.drawn, "the buffer holds a batch from the first step on").toBeDefined();
        if (step === 0) expect(r.mhAcceptance).toBeUndefined();
        else expect(r.mhAcceptance).toBeGreaterThanOrEqual(0);
        const k = kl(params, z);
        const n = nll(params, r.drawn!);
        expect(r.kl).toBe(k.value);
        expect(r.nll).toBe(n.value);
        expect(Math.abs(r.value - (delta * n.value + omega * k.value))).toBeLessThan(
          1e-12 * Math.abs(r.value),
        );
        for (const key of Object.keys(params)) {
          const want = k.grads[key]!.data.map((g, i) => delta * n.grads[key]!.data[i]! + omega * g);
          expect(maxRelDiff(r.grads[key]!.data, want), key).toBeLessThan(1e-12);
        }
      }
      // Each step pushed the batch's chain states and their flips (S(−x) = S(x) here).
      expect(obj.buffer.size).toBe(6 * batch);
      const c = obj.buffer.contents();
      const v = theory.size;
      const last = c.data.subarray(4 * batch * v);
      for (let i = 0; i < batch * v; i++) expect(last[batch * v + i]).toBe(-last[i]!);
      expect(Array.from(last.subarray(0, batch * v))).toEqual(Array.from(obj.chains.states().data));
    });
  }

  it("ω = 1, δ = 0 reproduces the plain trainer bit for bit", () => {
    const { flow, theory } = buildModel(TINY.mera);
    const run = (objective?: { nllWeight: number; klWeight: number }) => {
      const tr = createTrainer({
        flow,
        theory,
        optimizer: adam({ lr: 1e-2 }),
        batch: 8,
        dtype: "float64",
        objective,
      });
      const st = tr.init(new Rng(4));
      const ms: StepMetrics[] = Array.from({ length: 6 }, () => tr.step(st));
      return { ms, params: st.params };
    };
    const plain = run();
    const mixed = run({ nllWeight: 0, klWeight: 1 });
    expect(mixed.ms.map((m) => m.loss)).toEqual(plain.ms.map((m) => m.loss));
    expect(mixed.ms.map((m) => Array.from(m.batchLogq))).toEqual(
      plain.ms.map((m) => Array.from(m.batchLogq)),
    );
    for (const [k, p] of Object.entries(plain.params))
      expect(Array.from(mixed.params[k]!.data)).toEqual(Array.from(p.data));
    for (const m of mixed.ms) expect("nll" in m || "mhAcceptance" in m).toBe(false);
    expect(objectiveOf({})).toBeUndefined();
    expect(objectiveOf({ nllWeight: 0, klWeight: 1 })).toBeUndefined();
    expect(objectiveOf({ nllWeight: 0.5 })).toEqual({ nllWeight: 0.5, klWeight: 1 });
  });

  it("with δ > 0 the prior draws stay the plain trainer's (the chains draw from a stream of their own)", () => {
    const { flow, theory } = buildModel(TINY.mera);
    const first = (objective?: { nllWeight: number; klWeight: number }) => {
      const tr = createTrainer({
        flow,
        theory,
        optimizer: adam({ lr: 1e-2 }),
        batch: 8,
        dtype: "float64",
        objective,
      });
      const st = tr.init(new Rng(4));
      const m = tr.step(st);
      return { m, rng: st.rng.state() };
    };
    const a = first();
    const b = first({ nllWeight: 1, klWeight: 1 });
    expect(Array.from(b.m.batchLogp)).toEqual(Array.from(a.m.batchLogp));
    expect(b.m.loss).toBe(a.m.loss); // the reported loss is the KL term
    expect(b.rng).toEqual(a.rng);
    expect(b.m.nll).toBeGreaterThan(0);
  });

  it("the chains accept every proposal when q = p exactly; flips only for a symmetric theory", () => {
    for (const symmetric of [true, false]) {
      const { flow, theory } = exactPair(symmetric);
      const batch = 16;
      const obj = createMixedObjective(flow, theory, { nllWeight: 1, klWeight: 1 }, batch, new Rng(2));
      const rng = new Rng(3);
      for (let s = 0; s < 5; s++) {
        const r = obj.step({}, flow.prior.sample(rng, batch));
        expect(r.kl).toBe(0); // log q = log p̃ sample by sample
        expect(r.mhAcceptance).toBe(s === 0 ? undefined : 1);
      }
      expect(obj.buffer.size).toBe(Math.min(10 * batch, 5 * batch * (symmetric ? 2 : 1)));
      // Through the trainer: the acceptance lands in the step's metrics.
      const tr = createTrainer({
        flow,
        theory,
        optimizer: adam({ lr: 1e-3 }),
        batch,
        dtype: "float64",
        objective: { nllWeight: 0.5, klWeight: 1 },
      });
      const st = tr.init(new Rng(5));
      const ms = Array.from({ length: 3 }, () => tr.step(st));
      expect(ms.map((m) => m.mhAcceptance)).toEqual([undefined, 1, 1]);
      expect(ms.every((m) => m.accepted && typeof m.nll === "number")).toBe(true);
    }
  });

  it("chain HMC (arXiv 2105.12603): states keep log p̃ = −S, the acceptance is reported, and p stays invariant", () => {
    const { flow, theory } = exactPair(true);
    const batch = 64;
    const obj = createMixedObjective(
      flow,
      theory,
      { nllWeight: 1, klWeight: 1, hmcTrajectories: 2 },
      batch,
      new Rng(2),
    );
    const rng = new Rng(3);
    let sum2 = 0;
    let count = 0;
    for (let s = 0; s < 60; s++) {
      const r = obj.step({}, flow.prior.sample(rng, batch));
      expect(r.hmcAcceptance).toBeGreaterThan(0.5);
      expect(r.hmcAcceptance).toBeLessThanOrEqual(1);
      const x = obj.chains.states();
      const S = theory.action(x.data, batch);
      for (let b = 0; b < batch; b++) expect(obj.chains.logp[b]).toBe(-S[b]!);
      for (const v of x.data) sum2 += v * v;
      count += x.size;
    }
    // N(0, 1) target: ⟨x²⟩ = 1; 60 steps × 64 chains × 4 sites, var(x²) = 2, the steps correlated
    // (τ ≲ 3): σ ≲ √(2·2·3/15360) = 0.03. A broken kernel (no accept test, wrong force) drifts off.
    expect(Math.abs(sum2 / count - 1)).toBeLessThan(0.1);
  });

  it("φ⁴ and the relaxed Ising model declare S(−x) = S(x); U(1) does not (its angles are not flipped)", () => {
    expect(buildModel(TINY.mera).theory.z2Symmetric).toBe(true);
    expect(buildModel(TINY["affine-cnn z2"]).theory.z2Symmetric).toBe(true);
    expect(buildModel(presetConfig("u1-tutorial")).theory.z2Symmetric).toBeUndefined();
  });

  it("a step with a non-finite loss is still rejected, and the chains take no non-finite proposal", () => {
    const { flow, theory: good } = buildModel(TINY.mera);
    let poison = false;
    const theory: Theory = {
      latticeShape: good.latticeShape,
      configShape: good.configShape,
      size: good.size,
      z2Symmetric: true,
      action: (phi, b, out) => {
        const s = good.action(phi, b, out);
        if (poison) s[0] = Number.NaN;
        return s;
      },
      force: (phi, b, out) => good.force(phi, b, out),
    };
    const tr = createTrainer({
      flow,
      theory,
      optimizer: adam({ lr: 1e-2, weightDecay: 1e-3 }),
      batch: 8,
      dtype: "float64",
      objective: { nllWeight: 1, klWeight: 1 },
    });
    const st = tr.init(new Rng(2));
    tr.step(st);
    const before = st.params;
    const optBefore = st.opt;
    poison = true;
    const m = tr.step(st);
    expect(m.accepted).toBe(false);
    expect(st.rejected).toBe(1);
    expect(st.params).toBe(before);
    expect(st.opt).toBe(optBefore);
    poison = false;
    expect(tr.step(st).accepted).toBe(true);
  });

  it("refuses weights that leave nothing to train", () => {
    const { flow, theory } = buildModel(TINY.mera);
    expect(() => createMixedObjective(flow, theory, { nllWeight: 0, klWeight: 0 }, 8, new Rng(0))).toThrow(
      /nothing to train/,
    );
    expect(() => createMixedObjective(flow, theory, { nllWeight: -1, klWeight: 1 }, 8, new Rng(0))).toThrow(
      RangeError,
    );
  });
});

describe("the training spec's weightDecay, nllWeight, klWeight", () => {
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
  const base = presetConfig("ising-mera-quick");

  it("are optional: a spec without them is unchanged, and they round-trip", () => {
    expect(validateRunConfig(base, "test")).toEqual(base);
    expect("weightDecay" in base.train).toBe(false);
    const c = applySettings(base, { weightDecay: 0.001, nllWeight: 0.5, klWeight: 2 }, "test");
    expect(c.train).toMatchObject({ weightDecay: 0.001, nllWeight: 0.5, klWeight: 2 });
    expect(parseRunConfig(JSON.parse(JSON.stringify(c)), "config.json")).toEqual(c);
    // The flat form of v0.1 has none of them and still parses.
    const flat = {
      L: 4,
      dim: 2,
      m2: -4,
      lam: 8,
      layers: 2,
      hidden: [4],
      kernel: 3,
      identityInit: false,
      batch: 8,
      steps: 2,
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      clipNorm: null,
      seed: 0,
      dtype: "float64",
      checkpointEvery: 1,
    };
    expect(parseRunConfig(flat, "old").train.nllWeight).toBeUndefined();
  });

  it("δ = ω = 0, negative weights and δ > 0 on several threads are one line each", () => {
    expect(specError(() => applySettings(base, { nllWeight: 0, klWeight: 0 }, "flags"))).toMatch(
      /'train\.klWeight' = 0 and 'train\.nllWeight' = 0.*nothing to train/,
    );
    expect(specError(() => applySettings(base, { klWeight: 0 }, "flags"))).toMatch(/nothing to train/);
    expect(specError(() => applySettings(base, { weightDecay: -0.1 }, "flags"))).toMatch(/weightDecay/);
    expect(specError(() => applySettings(base, { nllWeight: 0.5, threads: 2 }, "flags"))).toMatch(
      /runs on one thread/,
    );
    // Any objective but the plain KL runs on one thread; ω = 1 (explicit) on threads is the plain KL.
    expect(specError(() => applySettings(base, { klWeight: 0.5, threads: 2 }, "flags"))).toMatch(
      /'train\.klWeight' = 0\.5 with 'train\.threads' = 2: .*runs on one thread/,
    );
    expect(applySettings(base, { klWeight: 1, threads: 2 }, "flags").train.threads).toBe(2);
    expect(specError(() => applySettings(base, { chainHmc: 2 }, "flags"))).toMatch(
      /'train\.chainHmc' = 2 without 'train\.nllWeight'/,
    );
    // ω = 0 alone is pure NLL training (NeuralRG's δ term).
    expect(applySettings(base, { nllWeight: 1, klWeight: 0 }, "flags").train.klWeight).toBe(0);
  });
});
