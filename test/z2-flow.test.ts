/**
 * The Z₂-symmetrised flow (src/flows/z2-symmetrised.ts): log q_sym(x) = log ½[q(x) + q(−x)]
 * computed from the base flow, even in x, the same through the forward and the inverse path, its
 * draws have both signs, and the gradient of the training loss matches finite differences.
 */
import { describe, expect, it } from "vitest";
import { mean, neg, type Params, Tensor } from "../src/engine/index.js";
import { meraFlow } from "../src/flows/mera.js";
import { Z2SymmetrisedFlow } from "../src/flows/z2-symmetrised.js";
import {
  applySettings,
  buildFlow,
  buildModel,
  describeFlow,
  presetConfig,
  SpecError,
} from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

const base = meraFlow({ latticeShape: [4, 4], ndis: 1, nlayers: 2, hiddenS: 4, hiddenT: 4 });
const flow = new Z2SymmetrisedFlow(base);
const params: Params = base.initParams(new Rng(1), "float64");
for (const t of Object.values(params)) {
  const r = new Rng(t.size);
  for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * (2 * r.uniform() - 1);
}

describe("Z2SymmetrisedFlow", () => {
  const z = flow.prior.sample(new Rng(2), 5, "float64");

  it("log q_sym = log ½[q(x) + q(−x)], even in x, equal on the forward and inverse paths", () => {
    const { x, logq } = flow.forwardWithLogProb(params, z);
    const qa = base.logProb(params, x).data;
    const qb = base.logProb(params, neg(x)).data;
    const back = flow.logProb(params, x).data;
    const flipped = flow.logProb(params, neg(x)).data;
    for (let b = 0; b < 5; b++) {
      const direct = Math.log(0.5 * (Math.exp(qa[b]!) + Math.exp(qb[b]!)));
      expect(logq.data[b]).toBeCloseTo(direct, 10);
      expect(back[b]).toBeCloseTo(direct, 10);
      expect(flipped[b]).toBeCloseTo(direct, 10);
      // The base flow is not symmetric: the symmetrisation does something.
      expect(Math.abs(qa[b]! - qb[b]!)).toBeGreaterThan(1e-3);
    }
  });

  it("samples carry both signs with their log q_sym", () => {
    const { x, logq } = flow.sample(params, new Rng(3), 64, "float64");
    const ref = flow.logProb(params, x).data;
    for (let b = 0; b < 64; b++) expect(logq.data[b]).toBeCloseTo(ref[b]!, 10);
    const plain = base.forwardWithLogProb(params, flow.prior.sample(new Rng(3), 64, "float64")).x.data;
    let flips = 0;
    for (let b = 0; b < 64; b++) if (Math.sign(x.data[b * 16]!) !== Math.sign(plain[b * 16]!)) flips++;
    expect(flips).toBeGreaterThan(16);
    expect(flips).toBeLessThan(48);
  });

  it("the gradient of mean log q_sym matches central differences (float64)", () => {
    const small: Params = {};
    for (const [k, t] of Object.entries(params)) if (k.startsWith("0.0.")) small[k] = t;
    const z1 = new Tensor(z.data.slice(0, 32), [2, 4, 4]);
    gradcheck((p: Params) => mean(flow.forwardWithLogProb({ ...params, ...p }, z1).logq), small, 1e-6, 1e-6);
  });

  it("buildFlow wraps any real flow when the spec says z2", () => {
    const spec = { kind: "mera" as const, layers: 2, hidden: [4], ndis: 1, identityInit: false, z2: true };
    const theory = { kind: "ising" as const, latticeShape: [4, 4], T: 2.5, boundary: "periodic" as const };
    expect(buildFlow(spec, theory)).toBeInstanceOf(Z2SymmetrisedFlow);
    expect(buildFlow({ ...spec, z2: false }, theory)).not.toBeInstanceOf(Z2SymmetrisedFlow);
  });
});

describe("Z2-equivariant couplings through the model description (--z2-equivariant)", () => {
  for (const preset of ["phi4-notebook", "phi4-mlp"]) {
    it(`${preset}: the flow is odd and log q even, x = f(z) bit for bit against −f(−z)`, () => {
      const c = applySettings(
        presetConfig(preset),
        { L: 4, layers: 3, hidden: [4], z2Equivariant: true },
        "test",
      );
      expect(describeFlow(c.flow)).toContain("Z2-equivariant couplings");
      const { flow: f } = buildModel(c);
      const p = f.initParams(new Rng(3), "float64");
      for (const t of Object.values(p)) {
        const r = new Rng(t.size + 7);
        for (let i = 0; i < t.size; i++) t.data[i]! += 0.3 * (2 * r.uniform() - 1);
      }
      const zz = f.prior.sample(new Rng(4), 4, "float64");
      const a = f.forwardWithLogProb(p, zz);
      const b = f.forwardWithLogProb(p, neg(zz));
      for (let i = 0; i < zz.size; i++) expect(b.x.data[i]).toBeCloseTo(-a.x.data[i]!, 13);
      for (let i = 0; i < 4; i++) expect(b.logq.data[i]).toBeCloseTo(a.logq.data[i]!, 12);
      const plain = buildModel(
        applySettings(presetConfig(preset), { L: 4, layers: 3, hidden: [4] }, "test"),
      ).flow;
      const c2 = plain.forwardWithLogProb(p, zz);
      const d2 = plain.forwardWithLogProb(p, neg(zz));
      expect(Math.max(...Array.from(c2.x.data, (v, i) => Math.abs(v + d2.x.data[i]!)))).toBeGreaterThan(1e-3);
    });
  }
  it("other flows do not take the field: one SpecError line", () => {
    expect(() => applySettings(presetConfig("ising-mera-quick"), { z2Equivariant: true }, "flags")).toThrow(
      SpecError,
    );
  });
});
