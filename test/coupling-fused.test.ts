/**
 * The fused coupling op (src/engine/fused/coupling.ts) against the unfused graph of the same
 * layer (AffineCoupling with fused: false), in both directions: values, log-dets and the
 * gradients of every parameter and of the input; its own gradients against central finite
 * differences; float32; and scratch reuse (the pool) across repeated calls.
 */
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import * as E from "../src/engine/index.js";
import { AffineCoupling } from "../src/flows/affine-coupling.js";
import { Flow } from "../src/flows/flow.js";
import { NormalPrior } from "../src/flows/prior.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { reverseKl } from "../src/train/reverse-kl.js";
import { gradcheck } from "./gradcheck.js";

function randomise(p: E.Params, seed: number, scale = 0.5): E.Params {
  const rng = new Rng(seed);
  for (const t of Object.values(p))
    for (let i = 0; i < t.size; i++) t.data[i] = scale * (2 * rng.uniform() - 1);
  return p;
}

function pair(lattice: number[], parity: 0 | 1, hidden: number[], kernel: number) {
  const cfg = { latticeShape: lattice, parity, hidden, kernel };
  return { fused: new AffineCoupling(cfg), plain: new AffineCoupling({ ...cfg, fused: false }) };
}

/** Σ y·R + Σ logDet·r with fixed random R, r: every output's cotangent is exercised. */
function projected(y: E.Tensor, logDet: E.Tensor): E.Tensor {
  const r = new Rng(99);
  const R = E.zeros(y.shape, y.dtype);
  r.normal(R.data);
  const q = E.zeros(logDet.shape, y.dtype);
  r.normal(q.data);
  return E.add(E.sum(E.mul(y, R)), E.sum(E.mul(logDet, q)));
}

const cases: { lattice: number[]; hidden: number[]; kernel: number }[] = [
  { lattice: [8, 8], hidden: [8, 8], kernel: 3 },
  { lattice: [4, 6], hidden: [3, 5], kernel: 3 },
  { lattice: [6, 4], hidden: [4], kernel: 5 },
  { lattice: [6], hidden: [3, 2], kernel: 3 },
  { lattice: [2, 4, 2], hidden: [3], kernel: 3 },
  { lattice: [4, 4], hidden: [], kernel: 3 },
];

for (const backend of ["wasm", "js"] as const)
  describe(`fused coupling layer = unfused graph (${backend} conv kernels)`, () => {
    beforeEach(() => E.setConvBackend(backend));
    afterAll(() => E.setConvBackend("wasm"));
    for (const c of cases) {
      for (const parity of [0, 1] as const) {
        for (const inverse of [false, true]) {
          it(`[${c.lattice}] hidden [${c.hidden}] k${c.kernel} parity ${parity} ${inverse ? "inverse" : "forward"}`, () => {
            const { fused, plain } = pair(c.lattice, parity, c.hidden, c.kernel);
            const params = randomise(fused.initParams(new Rng(1), "float64"), 2);
            const x = E.zeros([3, ...c.lattice]);
            new Rng(3).normal(x.data);
            const run = (b: AffineCoupling) => {
              const f = (p: E.Params & { x: E.Tensor }) => {
                const r = inverse ? b.inverseAndLogDet(p, p.x) : b.forwardAndLogDet(p, p.x);
                const y = "y" in r ? r.y : r.x;
                return projected(y, r.logDet);
              };
              const out = inverse ? b.inverseAndLogDet(params, x) : b.forwardAndLogDet(params, x);
              const y = "y" in out ? out.y : out.x;
              return { y, logDet: out.logDet, ...E.valueAndGrad(f)({ ...params, x }) };
            };
            const a = run(fused);
            const b = run(plain);
            for (let i = 0; i < a.y.size; i++) expect(a.y.data[i]).toBeCloseTo(b.y.data[i]!, 13);
            for (let i = 0; i < 3; i++) expect(a.logDet.data[i]).toBeCloseTo(b.logDet.data[i]!, 12);
            expect(a.value).toBeCloseTo(b.value, 11);
            for (const k of Object.keys(b.grads)) {
              const ga = a.grads[k]!.data;
              const gb = b.grads[k]!.data;
              for (let i = 0; i < gb.length; i++) {
                expect(Math.abs(ga[i]! - gb[i]!), `${k}[${i}]`).toBeLessThan(1e-11 * (1 + Math.abs(gb[i]!)));
              }
            }
          });
        }
      }
    }
  });

describe("fused coupling op gradients against finite differences", () => {
  for (const [lattice, kernel] of [
    [[4, 4], 3],
    [[4, 2], 3],
    [[6], 3],
  ] as [number[], number][]) {
    for (const inverse of [false, true]) {
      it(`[${lattice}] k${kernel} ${inverse ? "inverse" : "forward"}, shared and per-channel slopes`, () => {
        const rng = new Rng(11);
        const d = lattice.length;
        const ks = new Array<number>(d).fill(kernel);
        const rnd = (shape: number[]) => {
          const t = E.zeros(shape);
          for (let i = 0; i < t.size; i++) t.data[i] = 0.6 * (2 * rng.uniform() - 1);
          return t;
        };
        const params = {
          x: rnd([2, ...lattice]),
          w0: rnd([3, 1, ...ks]),
          b0: rnd([3]),
          a0: E.tensor([-0.2, 0.3, 0.1]),
          w1: rnd([2, 3, ...ks]),
          b1: rnd([2]),
          a1: E.tensor([0.25]),
          w2: rnd([2, 2, ...ks]),
          b2: rnd([2]),
        };
        gradcheck((p) => {
          const net = { weights: [p.w0, p.w1, p.w2], biases: [p.b0, p.b1, p.b2], alphas: [p.a0, p.a1] };
          const r = E.couplingLayer(p.x, net, 1, inverse);
          return projected(r.y, r.logDet);
        }, params);
      });
    }
  }
});

describe("fused coupling in a flow", () => {
  const lattice = [8, 8];
  const mk = (fused: boolean) =>
    new Flow(
      new NormalPrior(lattice),
      Array.from(
        { length: 4 },
        (_, i) =>
          new AffineCoupling({
            latticeShape: lattice,
            parity: (i % 2) as 0 | 1,
            hidden: [8, 8],
            kernel: 3,
            fused,
          }),
      ),
    );
  const theory = new Phi4Theory({ latticeShape: lattice, m2: -4, lam: 8 });

  it("the reverse-KL loss and gradients equal the unfused flow's; repeated calls (pooled scratch) agree", () => {
    const fused = mk(true);
    const plain = mk(false);
    const params = fused.initParams(new Rng(4), "float64");
    const z = fused.prior.sample(new Rng(5), 16);
    const lf = E.valueAndGradWithAux(reverseKl(fused, theory));
    const lp = E.valueAndGradWithAux(reverseKl(plain, theory));
    const a = lf(params, z);
    const b = lp(params, z);
    expect(Math.abs(a.value - b.value)).toBeLessThan(1e-12);
    for (const k of Object.keys(b.grads)) {
      const ga = a.grads[k]!.data;
      const gb = b.grads[k]!.data;
      for (let i = 0; i < gb.length; i++)
        expect(Math.abs(ga[i]! - gb[i]!)).toBeLessThan(1e-11 * (1 + Math.abs(gb[i]!)));
    }
    // Sampling without a tape in between, then the same step again: bit-identical.
    fused.sample(params, new Rng(6), 40);
    const again = lf(params, z);
    expect(again.value).toBe(a.value);
    for (const k of Object.keys(a.grads))
      expect(Array.from(again.grads[k]!.data)).toEqual(Array.from(a.grads[k]!.data));
    // log q through the inverse equals log q from sampling.
    const { x, logq } = fused.sample(params, new Rng(7), 8);
    const lq = fused.logProb(params, x);
    for (let i = 0; i < 8; i++) expect(lq.data[i]).toBeCloseTo(logq.data[i]!, 10);
  });

  it("float32 agrees with float64 to float32 precision", () => {
    const fused = mk(true);
    const p64 = fused.initParams(new Rng(4), "float64");
    const p32: E.Params = {};
    for (const [k, t] of Object.entries(p64)) p32[k] = new E.Tensor(Float32Array.from(t.data), t.shape);
    const z64 = fused.prior.sample(new Rng(5), 16);
    const z32 = new E.Tensor(Float32Array.from(z64.data), z64.shape);
    const a = E.valueAndGradWithAux(reverseKl(fused, theory))(p64, z64);
    const b = E.valueAndGradWithAux(reverseKl(fused, theory))(p32, z32);
    expect(b.grads["0.net.0.weight"]!.data).toBeInstanceOf(Float32Array);
    expect(Math.abs(a.value - b.value)).toBeLessThan(1e-4 * (1 + Math.abs(a.value)));
    for (const k of Object.keys(a.grads)) {
      const ga = a.grads[k]!.data;
      const gb = b.grads[k]!.data;
      for (let i = 0; i < ga.length; i++)
        expect(Math.abs(ga[i]! - gb[i]!)).toBeLessThan(1e-3 * (1 + Math.abs(ga[i]!)));
    }
  });
});

describe("fused coupling without a tape", () => {
  it("a batch over the chunk size (sampling) equals the taped computation bit for bit", () => {
    const layer = new AffineCoupling({ latticeShape: [8, 8], parity: 0, hidden: [8, 8], kernel: 3 });
    const params = randomise(layer.initParams(new Rng(1), "float64"), 2);
    const x = E.zeros([150, 8, 8]);
    new Rng(3).normal(x.data);
    for (const inverse of [false, true]) {
      const free = inverse ? layer.inverseAndLogDet(params, x) : layer.forwardAndLogDet(params, x);
      let taped: { y: E.Tensor; logDet: E.Tensor } | null = null;
      E.valueAndGrad((p: E.Params) => {
        const r = inverse ? layer.inverseAndLogDet(p, x) : layer.forwardAndLogDet(p, x);
        taped = { y: "y" in r ? r.y : r.x, logDet: r.logDet };
        return E.sum(r.logDet);
      })(params);
      const fy = "y" in free ? free.y : free.x;
      expect(Array.from(fy.data)).toEqual(Array.from(taped!.y.data));
      expect(Array.from(free.logDet.data)).toEqual(Array.from(taped!.logDet.data));
    }
  });
});
