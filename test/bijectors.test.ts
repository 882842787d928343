/**
 * One uniform test per bijector: inverse(forward(x)) = x, and log|det J| equals the
 * brute-force log|det| of the full Jacobian (central differences, h = 1e-5: truncation
 * error ~1e-10 relative, so a 1e-6 tolerance on log|det| is safe) on tiny lattices.
 */
import { describe, expect, it } from "vitest";
import { type Params, Tensor, zeros } from "../src/engine/index.js";
import { AffineCoupling } from "../src/flows/affine-coupling.js";
import { affineCouplingFlow } from "../src/flows/affine-flow.js";
import { AffineTransformer } from "../src/flows/affine-transformer.js";
import type { Bijector } from "../src/flows/bijector.js";
import { Chain } from "../src/flows/chain.js";
import { CnnConditioner } from "../src/flows/cnn-conditioner.js";
import { Inverse } from "../src/flows/inverse.js";
import { MaskedCoupling } from "../src/flows/masked-coupling.js";
import { checkerboardMask } from "../src/flows/masks.js";
import { MlpConditioner } from "../src/flows/mlp-conditioner.js";
import { checkerboardPartition, partitionBy, stripePartition } from "../src/flows/partition.js";
import { realNvpMlpFlow } from "../src/flows/realnvp-mlp.js";
import { Z2EquivariantConditioner } from "../src/flows/z2-equivariant-conditioner.js";
import { Rng } from "../src/rng/philox.js";
import { logAbsDet } from "./linalg.js";

/** Randomise all parameters (the default init is too close to the identity to test much). */
function randomParams(b: Bijector, seed: number): Params {
  const rng = new Rng(seed);
  const p = b.initParams(rng, "float64");
  for (const t of Object.values(p))
    for (let i = 0; i < t.size; i++) t.data[i] = 0.4 * (2 * rng.uniform() - 1);
  return p;
}

function checkBijector(name: string, b: Bijector, lattice: number[]) {
  describe(name, () => {
    const params = randomParams(b, 3);
    const v = lattice.reduce((a, c) => a * c, 1);
    const x = zeros([3, ...lattice]);
    new Rng(4).normal(x.data);

    it("inverse(forward(x)) = x and the log-dets are opposite", () => {
      const { y, logDet } = b.forwardAndLogDet(params, x);
      const back = b.inverseAndLogDet(params, y);
      for (let i = 0; i < x.size; i++) expect(back.x.data[i]).toBeCloseTo(x.data[i]!, 12);
      for (let i = 0; i < 3; i++) expect(back.logDet.data[i]).toBeCloseTo(-logDet.data[i]!, 12);
    });

    it("log|det J| equals the brute-force Jacobian's", () => {
      const { logDet } = b.forwardAndLogDet(params, x);
      const h = 1e-5;
      for (let s = 0; s < 3; s++) {
        const jac = new Float64Array(v * v);
        for (let j = 0; j < v; j++) {
          const xp = new Tensor(x.data.slice(s * v, (s + 1) * v), [1, ...lattice]);
          const xm = new Tensor(xp.data.slice(), [1, ...lattice]);
          xp.data[j]! += h;
          xm.data[j]! -= h;
          const yp = b.forwardAndLogDet(params, xp).y.data;
          const ym = b.forwardAndLogDet(params, xm).y.data;
          for (let i = 0; i < v; i++) jac[i * v + j] = (yp[i]! - ym[i]!) / (2 * h);
        }
        expect(Math.abs(logAbsDet(jac, v) - logDet.data[s]!)).toBeLessThan(1e-6);
      }
    });
  });
}

for (const lattice of [[4], [2, 2], [4, 2], [2, 2, 2]]) {
  for (const parity of [0, 1] as const) {
    checkBijector(
      `AffineCoupling lattice [${lattice}] parity ${parity}`,
      new AffineCoupling({ latticeShape: lattice, parity, hidden: [3, 2], kernel: 3 }),
      lattice,
    );
  }
}

const mlpCoupling = (lattice: number[], partition = stripePartition(lattice, 0, 1), bounded = true) =>
  new MaskedCoupling(
    partition,
    new MlpConditioner(partition, { hidden: [5, 3], outChannels: 2 }),
    new AffineTransformer({ boundedLogScale: bounded }),
  );
for (const lattice of [[4], [2, 2], [4, 2], [2, 2, 2]]) {
  checkBijector(
    `MaskedCoupling: stripes, MLP conditioner, bounded affine [${lattice}]`,
    mlpCoupling(lattice),
    lattice,
  );
}
checkBijector(
  "MaskedCoupling: checkerboard, MLP, unbounded affine [4, 2]",
  mlpCoupling([4, 2], checkerboardPartition([4, 2], 0), false),
  [4, 2],
);
checkBijector(
  "MaskedCoupling: an arbitrary site set, MLP [2, 3]",
  mlpCoupling(
    [2, 3],
    partitionBy([2, 3], (c) => c[1] === 2 || c[0] + c[1] === 0),
  ),
  [2, 3],
);
{
  const p = stripePartition([4, 2], 1, 0);
  checkBijector(
    "MaskedCoupling: stripes, CNN conditioner (generic graph, not fused) [4, 2]",
    new MaskedCoupling(
      p,
      new CnnConditioner(p, { hidden: [3], kernel: 3, outChannels: 2 }),
      new AffineTransformer(),
    ),
    [4, 2],
  );
}
checkBijector(
  "Chain of three couplings [2, 2]",
  new Chain([mlpCoupling([2, 2]), mlpCoupling([2, 2], stripePartition([2, 2], 1, 0)), mlpCoupling([2, 2])]),
  [2, 2],
);
checkBijector("Inverse of a coupling [4, 2]", new Inverse(mlpCoupling([4, 2])), [4, 2]);
{
  const p = checkerboardPartition([4, 2], 0);
  const equivariant = new MaskedCoupling(
    p,
    new Z2EquivariantConditioner(new CnnConditioner(p, { hidden: [3], kernel: 3, outChannels: 2 }), [1, -1]),
    new AffineTransformer(),
  );
  checkBijector("MaskedCoupling: Z2-equivariant CNN conditioner (s even, t odd) [4, 2]", equivariant, [4, 2]);
  describe("Z2EquivariantConditioner", () => {
    it("makes the coupling an odd map with an even log-det; the parities must match the channels", () => {
      const params = randomParams(equivariant, 5);
      const x = zeros([3, 4, 2]);
      new Rng(6).normal(x.data);
      const minus = new Tensor(
        Float64Array.from(x.data, (v) => -v),
        x.shape,
      );
      const a = equivariant.forwardAndLogDet(params, x);
      const b = equivariant.forwardAndLogDet(params, minus);
      for (let i = 0; i < x.size; i++) expect(b.y.data[i]).toBeCloseTo(-a.y.data[i]!, 14);
      for (let i = 0; i < 3; i++) expect(b.logDet.data[i]).toBeCloseTo(a.logDet.data[i]!, 14);
      // Not so without it: the plain conditioner's coupling is not odd.
      const plain = new MaskedCoupling(
        p,
        (equivariant.conditioner as Z2EquivariantConditioner).inner,
        new AffineTransformer(),
      );
      const c = plain.forwardAndLogDet(params, x);
      const d = plain.forwardAndLogDet(params, minus);
      expect(Math.max(...Array.from(c.y.data, (v, i) => Math.abs(v + d.y.data[i]!)))).toBeGreaterThan(1e-3);
      const wrong = new Z2EquivariantConditioner(
        new CnnConditioner(p, { hidden: [3], kernel: 3, outChannels: 2 }),
        [1],
      );
      expect(() => wrong.apply(params, x)).toThrow(/1 parities for 2 channels/);
    });
  });
}

describe("MaskedCoupling", () => {
  it("the notebook's configuration takes the fused op, other configurations the generic graph", () => {
    const cb = checkerboardPartition([4, 4], 1);
    const cnn = new CnnConditioner(cb, { hidden: [3], kernel: 3, outChannels: 2 });
    expect(new AffineCoupling({ latticeShape: [4, 4], parity: 1, hidden: [3], kernel: 3 }).isFused).toBe(
      true,
    );
    expect(new MaskedCoupling(cb, cnn, new AffineTransformer()).isFused).toBe(true);
    expect(new MaskedCoupling(cb, cnn, new AffineTransformer({ boundedLogScale: true })).isFused).toBe(false);
    const st = stripePartition([4, 4], 0, 1);
    const cnn2 = new CnnConditioner(st, { hidden: [3], kernel: 3, outChannels: 2 });
    expect(new MaskedCoupling(st, cnn2, new AffineTransformer()).isFused).toBe(false);
  });
  it("frozen components pass through bit for bit; the partition is a partition", () => {
    const p = stripePartition([4, 4], 1, 1);
    expect(p.frozen.length + p.active.length).toBe(16);
    expect(new Set([...p.frozen, ...p.active]).size).toBe(16);
    expect(Array.from(p.frozen.slice(0, 4))).toEqual([1, 3, 5, 7]);
    const c = mlpCoupling([4, 4], p);
    const params = randomParams(c, 1);
    const x = zeros([2, 4, 4]);
    new Rng(2).normal(x.data);
    const { y } = c.forwardAndLogDet(params, x);
    for (let b = 0; b < 2; b++) for (const i of p.frozen) expect(y.data[b * 16 + i]).toBe(x.data[b * 16 + i]);
  });
  it("checkerboard partitions are the fused op's (masks.ts) sites", () => {
    for (const parity of [0, 1] as const) {
      const m = checkerboardMask([4, 6], parity);
      const p = checkerboardPartition([4, 6], parity);
      expect(Array.from(p.frozen)).toEqual(Array.from(m.keys()).filter((i) => m[i] === 1));
    }
  });
});

describe("realNvpMlpFlow", () => {
  const cfg = { latticeShape: [4, 4], layers: 4, hidden: [8], partition: "stripes" as const };
  it("identity-initialised: the prior's density exactly; PyTorch state_dict names", () => {
    const flow = realNvpMlpFlow({ ...cfg, identityInit: true });
    const params = flow.initParams(new Rng(1), "float64");
    expect(Object.keys(params).slice(0, 4)).toEqual([
      "0.net.0.weight",
      "0.net.0.bias",
      "0.net.2.weight",
      "0.net.2.bias",
    ]);
    expect(params["0.net.0.weight"]!.shape).toEqual([8, 8]);
    expect(params["0.net.2.weight"]!.shape).toEqual([16, 8]);
    const z = flow.prior.sample(new Rng(2), 5);
    const { x, logq } = flow.forwardWithLogProb(params, z);
    expect(Array.from(x.data)).toEqual(Array.from(z.data));
    expect(Array.from(logq.data)).toEqual(Array.from(flow.prior.logProb(z).data));
  });
  it("log q from sampling equals log q through the inverse, both partitions", () => {
    for (const partition of ["stripes", "checkerboard"] as const) {
      const flow = realNvpMlpFlow({ ...cfg, partition });
      const params = randomParams(new Chain(flow.layers), 7);
      const { x, logq } = flow.sample(params, new Rng(5), 6);
      const lq = flow.logProb(params, x);
      for (let i = 0; i < 6; i++) expect(lq.data[i]).toBeCloseTo(logq.data[i]!, 10);
    }
  });
});

describe("checkerboardMask", () => {
  it("matches the notebook's get_mask((8,8), 1) pattern", () => {
    const m = checkerboardMask([8, 8], 1);
    expect(Array.from(m.slice(0, 8))).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    expect(Array.from(m.slice(8, 16))).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    expect(Array.from(checkerboardMask([2, 2], 0))).toEqual([0, 1, 1, 0]);
  });
});

describe("Flow", () => {
  const cfg = { latticeShape: [4, 4], layers: 4, hidden: [4], kernel: 3 };
  it("an identity-initialised flow reproduces the prior's density exactly", () => {
    const flow = affineCouplingFlow({ ...cfg, identityInit: true });
    const params = flow.initParams(new Rng(1), "float64");
    const z = flow.prior.sample(new Rng(2), 5);
    const { x, logq } = flow.forwardWithLogProb(params, z);
    const lr = flow.prior.logProb(z);
    expect(Array.from(x.data)).toEqual(Array.from(z.data));
    expect(Array.from(logq.data)).toEqual(Array.from(lr.data));
  });
  it("log q from sampling equals log q through the inverse", () => {
    const flow = affineCouplingFlow(cfg);
    const params = flow.initParams(new Rng(1), "float64");
    const { x, logq } = flow.sample(params, new Rng(5), 6);
    const lq = flow.logProb(params, x);
    for (let i = 0; i < 6; i++) expect(lq.data[i]).toBeCloseTo(logq.data[i]!, 10);
  });
  it("prior log density of z = 0 is −(V/2) log 2π", () => {
    const flow = affineCouplingFlow(cfg);
    expect(flow.prior.logProb(zeros([1, 4, 4])).item()).toBeCloseTo(-8 * Math.log(2 * Math.PI), 12);
  });
  it("rejects odd extents", () => {
    expect(() => affineCouplingFlow({ ...cfg, latticeShape: [5, 4] })).toThrow(/even/);
  });
});
