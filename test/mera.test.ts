/**
 * NeuralRG's hierarchical flows (arXiv 1802.02840): the RealNVP block on 2×2 blocks, Blockwise,
 * meraFlow and tebdFlow. Each is checked as a bijector (inverse(forward(x)) = x; log|det J|
 * against the brute-force Jacobian by central differences, as in bijectors.test.ts), the block
 * against a literal transcription of NeuralRG's masked coupling, gradients against finite
 * differences, and the MERA's index tables against their definitions.
 */
import { describe, expect, it } from "vitest";
import { add, mean, mul, type Params, sum, Tensor, zeros } from "../src/engine/index.js";
import { AffineTransformer } from "../src/flows/affine-transformer.js";
import type { Bijector } from "../src/flows/bijector.js";
import { Blockwise, replaceColumns } from "../src/flows/blockwise.js";
import { Chain } from "../src/flows/chain.js";
import { MaskedCoupling } from "../src/flows/masked-coupling.js";
import {
  blockIndices,
  meraFlow,
  meraPlan,
  meraScaleOfSite,
  renormalisedVariables,
  sublatticeIndices,
  tebdFlow,
} from "../src/flows/mera.js";
import {
  affineUpdate,
  NeuralRgBlock,
  NeuralRgConditioner,
  neuralRgPartition,
  neuralRgSplit,
} from "../src/flows/neuralrg-block.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";
import { logAbsDet } from "./linalg.js";

/** Randomise all parameters (the default init has scale = 0, too close to affine to test much). */
function randomParams(b: Bijector, seed: number, amp = 0.4): Params {
  const rng = new Rng(seed);
  const p = b.initParams(rng, "float64");
  for (const t of Object.values(p))
    for (let i = 0; i < t.size; i++) t.data[i] = amp * (2 * rng.uniform() - 1);
  return p;
}

function randn(shape: number[], seed: number): Tensor {
  const x = zeros(shape);
  new Rng(seed).normal(x.data);
  return x;
}

/** Σ y·R with R fixed, so every output's cotangent is exercised. */
function project(y: Tensor, seed = 7): Tensor {
  const w = zeros(y.shape);
  new Rng(seed).normal(w.data);
  return sum(mul(y, w));
}

function checkBijector(
  name: string,
  make: () => { b: Bijector; params: Params },
  event: number[],
  batch = 3,
) {
  describe(name, () => {
    const { b, params } = make();
    const v = event.reduce((a, c) => a * c, 1);
    const x = randn([batch, ...event], 4);

    it("inverse(forward(x)) = x and the log-dets are opposite", () => {
      const { y, logDet } = b.forwardAndLogDet(params, x);
      expect(y.shape).toEqual(x.shape);
      expect(logDet.shape).toEqual([batch]);
      const back = b.inverseAndLogDet(params, y);
      for (let i = 0; i < x.size; i++) expect(back.x.data[i]).toBeCloseTo(x.data[i]!, 12);
      for (let i = 0; i < batch; i++) expect(back.logDet.data[i]).toBeCloseTo(-logDet.data[i]!, 12);
      // and the other way round
      const fwd = b.forwardAndLogDet(params, b.inverseAndLogDet(params, x).x);
      for (let i = 0; i < x.size; i++) expect(fwd.y.data[i]).toBeCloseTo(x.data[i]!, 12);
    });

    it("log|det J| equals the brute-force Jacobian's", () => {
      const { logDet } = b.forwardAndLogDet(params, x);
      const h = 1e-5;
      let nontrivial = false;
      for (let s = 0; s < batch; s++) {
        const jac = new Float64Array(v * v);
        for (let j = 0; j < v; j++) {
          const xp = new Tensor(x.data.slice(s * v, (s + 1) * v), [1, ...event]);
          const xm = new Tensor(xp.data.slice(), [1, ...event]);
          xp.data[j]! += h;
          xm.data[j]! -= h;
          const yp = b.forwardAndLogDet(params, xp).y.data;
          const ym = b.forwardAndLogDet(params, xm).y.data;
          for (let i = 0; i < v; i++) jac[i * v + j] = (yp[i]! - ym[i]!) / (2 * h);
        }
        expect(Math.abs(logAbsDet(jac, v) - logDet.data[s]!)).toBeLessThan(1e-6);
        if (Math.abs(logDet.data[s]!) > 0.01) nontrivial = true;
      }
      expect(nontrivial).toBe(true);
    });
  });
}

/** NeuralRG's coupling written out literally: full-width nets on x ⊙ m, outputs masked. */
function referenceBlock(params: Params, nlayers: number, x: number[]): { y: number[]; logDet: number } {
  const elu = (v: number) => (v > 0 ? v : Math.expm1(v));
  const mlp = (p: string, u: number[], last?: (v: number, i: number) => number) => {
    const w0 = params[`${p}.0.weight`]!.data;
    const b0 = params[`${p}.0.bias`]!.data;
    const w2 = params[`${p}.2.weight`]!.data;
    const b2 = params[`${p}.2.bias`]!.data;
    const hdim = b0.length;
    const h = Array.from({ length: hdim }, (_, a) =>
      elu(b0[a]! + u.reduce((acc, ui, i) => acc + w0[a * 4 + i]! * ui, 0)),
    );
    return [0, 1, 2, 3].map((o) => {
      const r = b2[o]! + h.reduce((acc, hv, a) => acc + w2[o * hdim + a]! * hv, 0);
      return last ? last(r, o) : r;
    });
  };
  let y = [...x];
  let logDet = 0;
  for (let j = 0; j < nlayers; j++) {
    const { frozen } = neuralRgSplit(j);
    const m = [0, 1, 2, 3].map((i) => (frozen.includes(i) ? 1 : 0));
    const u = y.map((v, i) => v * m[i]!);
    const scale = params[`${j}.s.scale`]!.data;
    const s = mlp(`${j}.s`, u, (r, o) => scale[o]! * Math.tanh(r)).map((v, i) => v * (1 - m[i]!));
    const t = mlp(`${j}.t`, u).map((v, i) => v * (1 - m[i]!));
    y = y.map((v, i) => u[i]! + (1 - m[i]!) * (v * Math.exp(s[i]!) + t[i]!));
    logDet += s.reduce((a, c) => a + c, 0);
  }
  return { y, logDet };
}

const small = { hiddenS: 3, hiddenT: 4 };

describe("the RealNVP block on 2×2 blocks", () => {
  it("splits cycle through the three pairings, first half on even couplings", () => {
    const got = Array.from({ length: 7 }, (_, j) => neuralRgSplit(j));
    expect(got.map((g) => [...g.active])).toEqual([
      [0, 1],
      [2, 3],
      [0, 2],
      [1, 3],
      [0, 3],
      [1, 2],
      [0, 1],
    ]);
    expect(got.map((g) => [...g.frozen])).toEqual([
      [2, 3],
      [0, 1],
      [1, 3],
      [0, 2],
      [1, 2],
      [0, 3],
      [2, 3],
    ]);
    expect(Array.from(neuralRgPartition(4).frozen)).toEqual([1, 2]);
  });

  it("parameter names, shapes and initialisation (PyTorch default, scale 0)", () => {
    const block = new NeuralRgBlock({ nlayers: 2, hiddenS: 5, hiddenT: 6 });
    const p = block.initParams(new Rng(1), "float32");
    expect(Object.entries(p).map(([k, t]) => `${k} [${t.shape}] ${t.dtype}`)).toEqual([
      "0.s.0.weight [5,4] float32",
      "0.s.0.bias [5] float32",
      "0.s.2.weight [4,5] float32",
      "0.s.2.bias [4] float32",
      "0.s.scale [4] float32",
      "0.t.0.weight [6,4] float32",
      "0.t.0.bias [6] float32",
      "0.t.2.weight [4,6] float32",
      "0.t.2.bias [4] float32",
      "1.s.0.weight [5,4] float32",
      "1.s.0.bias [5] float32",
      "1.s.2.weight [4,5] float32",
      "1.s.2.bias [4] float32",
      "1.s.scale [4] float32",
      "1.t.0.weight [6,4] float32",
      "1.t.0.bias [6] float32",
      "1.t.2.weight [4,6] float32",
      "1.t.2.bias [4] float32",
    ]);
    const bound = (k: string) => Math.max(...Array.from(p[k]!.data, Math.abs));
    expect(bound("0.s.0.weight")).toBeLessThanOrEqual(1 / 2);
    expect(bound("0.s.0.weight")).toBeGreaterThan(0);
    expect(bound("0.t.2.weight")).toBeLessThanOrEqual(1 / Math.sqrt(6));
    expect(bound("0.t.2.weight")).toBeGreaterThan(0);
    expect(bound("1.s.scale")).toBe(0);
    const id = new NeuralRgBlock({ nlayers: 2, hiddenS: 5, hiddenT: 6, identityInit: true }).initParams(
      new Rng(1),
      "float64",
    );
    expect(Math.max(...Array.from(id["0.s.0.weight"]!.data, Math.abs))).toBeGreaterThan(0);
    expect(
      Math.max(...Array.from(id["1.t.2.weight"]!.data, Math.abs), ...Array.from(id["1.t.2.bias"]!.data)),
    ).toBe(0);
    expect(Math.max(...Array.from(id["1.t.0.weight"]!.data, Math.abs))).toBeGreaterThan(0);
  });

  it("equals NeuralRG's masked coupling written out (full-width nets on x ⊙ m)", () => {
    const nlayers = 7;
    const block = new NeuralRgBlock({ nlayers, ...small });
    const params = randomParams(block, 9, 0.8);
    const x = randn([5, 4], 2);
    const { y, logDet } = block.forwardAndLogDet(params, x);
    for (let r = 0; r < 5; r++) {
      const ref = referenceBlock(params, nlayers, Array.from(x.data.slice(4 * r, 4 * r + 4)));
      for (let i = 0; i < 4; i++) expect(y.data[4 * r + i]).toBeCloseTo(ref.y[i]!, 13);
      expect(logDet.data[r]).toBeCloseTo(ref.logDet, 13);
    }
  });

  it("equals a Chain of MaskedCouplings with its conditioners (unbounded affine)", () => {
    const nlayers = 6;
    const block = new NeuralRgBlock({ nlayers, ...small });
    const chain = new Chain(
      block.conditioners.map((c, j) => new MaskedCoupling(neuralRgPartition(j), c, new AffineTransformer())),
    );
    const params = randomParams(block, 3);
    const x = randn([4, 2, 2], 5);
    const a = block.forwardAndLogDet(params, x);
    const b = chain.forwardAndLogDet(params, x);
    for (let i = 0; i < x.size; i++) expect(a.y.data[i]).toBeCloseTo(b.y.data[i]!, 14);
    for (let i = 0; i < 4; i++) expect(a.logDet.data[i]).toBeCloseTo(b.logDet.data[i]!, 14);
    const c = chain.inverseAndLogDet(params, x);
    const d = block.inverseAndLogDet(params, x);
    for (let i = 0; i < x.size; i++) expect(d.x.data[i]).toBeCloseTo(c.x.data[i]!, 14);
  });

  it("identityInit: the identity, log-det 0", () => {
    const block = new NeuralRgBlock({ nlayers: 4, ...small, identityInit: true });
    const params = block.initParams(new Rng(1), "float64");
    const x = randn([6, 4], 1);
    const { y, logDet } = block.forwardAndLogDet(params, x);
    expect(Array.from(y.data)).toEqual(Array.from(x.data));
    expect(Array.from(logDet.data, Math.abs)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("gradients with respect to parameters and input, both directions", () => {
    const block = new NeuralRgBlock({ nlayers: 3, hiddenS: 2, hiddenT: 3 });
    const params = randomParams(block, 4, 0.7);
    for (const inverse of [false, true]) {
      gradcheck(
        (p) => {
          const { x: xin, ...rest } = p;
          const r = inverse ? block.inverseAndLogDet(rest, xin!) : block.forwardAndLogDet(rest, xin!);
          return add(project("y" in r ? r.y : r.x), project(r.logDet, 8));
        },
        { ...params, x: randn([3, 4], 6) },
      );
    }
  });

  it("affineUpdate's gradient (the fused coupling update)", () => {
    const active = Int32Array.from([3, 1]);
    for (const inverse of [false, true])
      gradcheck((p) => project(affineUpdate(p.x, p.s, p.t, active, inverse)), {
        x: randn([3, 4], 1),
        s: randn([3, 2], 2),
        t: randn([3, 2], 3),
      });
  });

  it("the conditioner reads only the frozen variables", () => {
    const c = new NeuralRgConditioner(neuralRgPartition(2), small);
    const params = randomParams(new NeuralRgBlock({ nlayers: 3, ...small }), 1);
    const p2: Params = {};
    for (const k in params) if (k.startsWith("2.")) p2[k.slice(2)] = params[k]!;
    const x = randn([2, 4], 3);
    const x2 = new Tensor(x.data.slice(), [2, 4]);
    for (const i of neuralRgSplit(2).active) x2.data[i] = 17; // active entries of row 0
    expect(Array.from(c.apply(p2, x2).data)).toEqual(Array.from(c.apply(p2, x).data));
    expect(c.apply(p2, x).shape).toEqual([2, 2, 2]);
  });
});

checkBijector("NeuralRgBlock, 6 couplings (all three splits)", () => {
  const b = new NeuralRgBlock({ nlayers: 6, ...small });
  return { b, params: randomParams(b, 3) };
}, [4]);
checkBijector("NeuralRgBlock on [M, 2, 2]", () => {
  const b = new NeuralRgBlock({ nlayers: 3, ...small });
  return { b, params: randomParams(b, 5) };
}, [2, 2]);
checkBijector("Blockwise: aligned blocks of the stride-2 sublattice of 4×4 (12 sites pass through)", () => {
  const b = new Blockwise(blockIndices(4, 2, false), new NeuralRgBlock({ nlayers: 4, ...small }));
  return { b, params: randomParams(b, 6) };
}, [4, 4]);
checkBijector("Blockwise: shifted blocks tiling 4×4", () => {
  const b = new Blockwise(blockIndices(4, 1, true), new NeuralRgBlock({ nlayers: 2, ...small }));
  return { b, params: randomParams(b, 7) };
}, [4, 4]);
for (const ndis of [0, 1, 2]) {
  checkBijector(`meraFlow L = 4, ndis ${ndis} (as a Chain of its layers: z → x)`, () => {
    const f = meraFlow({ latticeShape: [4, 4], ndis, nlayers: 2, ...small });
    const b = new Chain(f.layers);
    return { b, params: randomParams(b, 8 + ndis) };
  }, [4, 4]);
}
checkBijector(
  "meraFlow L = 8, ndis 1, small hidden",
  () => {
    const f = meraFlow({ latticeShape: [8, 8], ndis: 1, nlayers: 2, hiddenS: 2, hiddenT: 2 });
    const b = new Chain(f.layers);
    return { b, params: randomParams(b, 12, 0.3) };
  },
  [8, 8],
  2,
);
checkBijector("tebdFlow L = 4, depth 2", () => {
  const f = tebdFlow({ latticeShape: [4, 4], depth: 2, nlayers: 2, ...small });
  const b = new Chain(f.layers);
  return { b, params: randomParams(b, 13) };
}, [4, 4]);

describe("Blockwise", () => {
  it("sites in no block pass through bit for bit; log-det is the sum over blocks", () => {
    const inner = new NeuralRgBlock({ nlayers: 3, ...small });
    const blocks = blockIndices(8, 2, true);
    const bw = new Blockwise(blocks, inner);
    expect(bw.nBlocks).toBe(4);
    const params = randomParams(bw, 2);
    const x = randn([3, 8, 8], 1);
    const { y, logDet } = bw.forwardAndLogDet(params, x);
    const inBlock = new Set(blocks);
    const rest = bw.passThrough(64);
    expect(rest.length).toBe(48);
    for (const i of rest) expect(inBlock.has(i)).toBe(false);
    for (let b = 0; b < 3; b++) {
      for (const i of rest) expect(y.data[64 * b + i]).toBe(x.data[64 * b + i]);
      // each block on its own
      let acc = 0;
      for (let k = 0; k < 4; k++) {
        const xb = new Tensor(
          Float64Array.from(blocks.slice(4 * k, 4 * k + 4), (i) => x.data[64 * b + i]!),
          [1, 4],
        );
        const r = inner.forwardAndLogDet(params, xb);
        for (let u = 0; u < 4; u++) expect(y.data[64 * b + blocks[4 * k + u]!]).toBe(r.y.data[u]);
        acc += r.logDet.data[0]!;
      }
      expect(logDet.data[b]).toBeCloseTo(acc, 13);
    }
  });

  it("gradients through gather/replaceColumns", () => {
    const bw = new Blockwise(
      blockIndices(4, 2, false),
      new NeuralRgBlock({ nlayers: 2, hiddenS: 2, hiddenT: 2 }),
    );
    const params = randomParams(bw, 3);
    gradcheck(
      (p) => {
        const { x: xin, ...rest } = p;
        const r = bw.forwardAndLogDet(rest, xin!);
        return add(project(r.y), project(r.logDet, 9));
      },
      { ...params, x: randn([2, 4, 4], 2) },
    );
    gradcheck((p) => project(replaceColumns(p.x, Int32Array.from([4, 0, 2]), p.u)), {
      x: randn([2, 5], 1),
      u: randn([2, 3], 2),
    });
  });

  it("rejects overlapping blocks and ragged index lists", () => {
    const inner = new NeuralRgBlock({ nlayers: 1, ...small });
    expect(() => new Blockwise(Int32Array.from([0, 1, 2, 3, 3, 4, 5, 6]), inner)).toThrow(
      /more than one block/,
    );
    expect(() => new Blockwise(Int32Array.from([0, 1, 2]), inner)).toThrow(/whole blocks/);
    expect(() =>
      new Blockwise(Int32Array.from([0, 1, 2, 9]), inner).forwardAndLogDet({}, zeros([1, 2, 2])),
    ).toThrow(/outside/);
  });
});

describe("MERA index tables", () => {
  for (const L of [2, 4, 8, 16]) {
    it(`L = ${L}: blocks tile each level's sublattice; decimators pass one site per block on`, () => {
      const levels = Math.log2(L);
      for (const ndis of [0, 1, 2, 3]) {
        const plan = meraPlan(L, ndis);
        expect(plan.length).toBe(levels * (ndis + 1));
        plan.forEach(({ level, blocks }, r) => {
          const s = 1 << level;
          const sub = new Set(sublatticeIndices(L, s));
          expect(new Set(blocks).size).toBe(blocks.length); // disjoint
          expect([...blocks].every((i) => sub.has(i))).toBe(true); // on the level's sublattice
          expect(blocks.length).toBe(sub.size); // covering it
          const j = r % (ndis + 1);
          expect(Array.from(blocks)).toEqual(Array.from(blockIndices(L, s, j % 2 === 1)));
          if (j === ndis) {
            const next = new Set(level + 1 < levels ? sublatticeIndices(L, 2 * s) : [0]);
            const survivors: number[] = [];
            for (let k = 0; k < blocks.length / 4; k++) {
              const on = Array.from(blocks.slice(4 * k, 4 * k + 4)).filter((i) => next.has(i));
              expect(on.length).toBe(1);
              survivors.push(on[0]!);
            }
            expect(new Set(survivors)).toEqual(next);
          }
        });
      }
      const scale = meraScaleOfSite(L);
      for (let k = 0; k < levels; k++)
        expect(scale.filter((v) => v === k).length).toBe(3 * (L >> (k + 1)) ** 2);
      expect(scale.filter((v) => v === levels).length).toBe(1);
      expect(scale[0]).toBe(levels);
    });
  }

  it("block-local order (0,0), (0,1), (1,0), (1,1), periodic when shifted", () => {
    expect(Array.from(blockIndices(4, 1, false).slice(0, 8))).toEqual([0, 1, 4, 5, 2, 3, 6, 7]);
    expect(Array.from(blockIndices(4, 1, true).slice(0, 8))).toEqual([5, 6, 9, 10, 7, 4, 11, 8]);
    expect(Array.from(blockIndices(4, 1, true).slice(12))).toEqual([15, 12, 3, 0]);
    expect(Array.from(blockIndices(8, 4, true))).toEqual([36, 32, 4, 0]);
    expect(Array.from(blockIndices(8, 2, false).slice(0, 4))).toEqual([0, 2, 16, 18]);
  });

  it("a site's scale: later levels never touch it, its level's decimator does", () => {
    for (const ndis of [1, 2]) {
      const L = 8;
      const scale = meraScaleOfSite(L);
      const plan = meraPlan(L, ndis);
      for (const { level, blocks } of plan)
        for (const i of blocks) expect(scale[i]).toBeGreaterThanOrEqual(level);
      for (let k = 0; k < 3; k++) {
        const dec = new Set(plan[k * (ndis + 1) + ndis]!.blocks);
        for (let i = 0; i < L * L; i++) if (scale[i] === k) expect(dec.has(i)).toBe(true);
      }
    }
  });
});

describe("meraFlow and tebdFlow", () => {
  it("layers in generative order: coarsest level first, decimator first within a level", () => {
    const f = meraFlow({ latticeShape: [8, 8], ndis: 2, nlayers: 1, ...small });
    expect(f.layerLevel).toEqual([2, 2, 2, 1, 1, 1, 0, 0, 0]);
    const rg = meraPlan(8, 2);
    f.blockLayers.forEach((l, i) => {
      expect(Array.from(l.blocks)).toEqual(Array.from(rg[8 - i]!.blocks));
    });
    expect(Array.from(f.blockLayers[8]!.blocks)).toEqual(Array.from(blockIndices(8, 1, false)));
    const t = tebdFlow({ latticeShape: [4, 4], depth: 2, nlayers: 1, ...small });
    expect(t.layers.length).toBe(4);
    expect(Array.from(t.blockLayers[3]!.blocks)).toEqual(Array.from(blockIndices(4, 1, false)));
    expect(Array.from(t.blockLayers[2]!.blocks)).toEqual(Array.from(blockIndices(4, 1, true)));
  });

  it("parameter names and shapes (L = 4, ndis = 1, nlayers = 2)", () => {
    const f = meraFlow({ latticeShape: [4, 4], ndis: 1, nlayers: 2, hiddenS: 3, hiddenT: 5 });
    const p = f.initParams(new Rng(1), "float64");
    const names = Object.entries(p).map(([k, t]) => `${k} [${t.shape}]`);
    expect(names.length).toBe(4 * 2 * 9);
    expect(names.join("\n")).toMatchInlineSnapshot(`
      "0.0.s.0.weight [3,4]
      0.0.s.0.bias [3]
      0.0.s.2.weight [4,3]
      0.0.s.2.bias [4]
      0.0.s.scale [4]
      0.0.t.0.weight [5,4]
      0.0.t.0.bias [5]
      0.0.t.2.weight [4,5]
      0.0.t.2.bias [4]
      0.1.s.0.weight [3,4]
      0.1.s.0.bias [3]
      0.1.s.2.weight [4,3]
      0.1.s.2.bias [4]
      0.1.s.scale [4]
      0.1.t.0.weight [5,4]
      0.1.t.0.bias [5]
      0.1.t.2.weight [4,5]
      0.1.t.2.bias [4]
      1.0.s.0.weight [3,4]
      1.0.s.0.bias [3]
      1.0.s.2.weight [4,3]
      1.0.s.2.bias [4]
      1.0.s.scale [4]
      1.0.t.0.weight [5,4]
      1.0.t.0.bias [5]
      1.0.t.2.weight [4,5]
      1.0.t.2.bias [4]
      1.1.s.0.weight [3,4]
      1.1.s.0.bias [3]
      1.1.s.2.weight [4,3]
      1.1.s.2.bias [4]
      1.1.s.scale [4]
      1.1.t.0.weight [5,4]
      1.1.t.0.bias [5]
      1.1.t.2.weight [4,5]
      1.1.t.2.bias [4]
      2.0.s.0.weight [3,4]
      2.0.s.0.bias [3]
      2.0.s.2.weight [4,3]
      2.0.s.2.bias [4]
      2.0.s.scale [4]
      2.0.t.0.weight [5,4]
      2.0.t.0.bias [5]
      2.0.t.2.weight [4,5]
      2.0.t.2.bias [4]
      2.1.s.0.weight [3,4]
      2.1.s.0.bias [3]
      2.1.s.2.weight [4,3]
      2.1.s.2.bias [4]
      2.1.s.scale [4]
      2.1.t.0.weight [5,4]
      2.1.t.0.bias [5]
      2.1.t.2.weight [4,5]
      2.1.t.2.bias [4]
      3.0.s.0.weight [3,4]
      3.0.s.0.bias [3]
      3.0.s.2.weight [4,3]
      3.0.s.2.bias [4]
      3.0.s.scale [4]
      3.0.t.0.weight [5,4]
      3.0.t.0.bias [5]
      3.0.t.2.weight [4,5]
      3.0.t.2.bias [4]
      3.1.s.0.weight [3,4]
      3.1.s.0.bias [3]
      3.1.s.2.weight [4,3]
      3.1.s.2.bias [4]
      3.1.s.scale [4]
      3.1.t.0.weight [5,4]
      3.1.t.0.bias [5]
      3.1.t.2.weight [4,5]
      3.1.t.2.bias [4]"
    `);
  });

  it("identityInit: the identity map, log q = log r", () => {
    for (const f of [
      meraFlow({ latticeShape: [8, 8], ndis: 1, nlayers: 3, ...small, identityInit: true }),
      tebdFlow({ latticeShape: [4, 4], depth: 1, nlayers: 3, ...small, identityInit: true }),
    ]) {
      const params = f.initParams(new Rng(1), "float64");
      const z = f.prior.sample(new Rng(2), 4);
      const { x, logq } = f.forwardWithLogProb(params, z);
      expect(Array.from(x.data)).toEqual(Array.from(z.data));
      expect(Array.from(logq.data)).toEqual(Array.from(f.prior.logProb(z).data));
    }
  });

  it("log q from sampling equals log q through the inverse (MERA, TEBD, float64)", () => {
    for (const f of [
      meraFlow({ latticeShape: [8, 8], ndis: 2, nlayers: 4, ...small }),
      tebdFlow({ latticeShape: [4, 4], depth: 2, nlayers: 4, ...small }),
    ]) {
      const params = randomParams(new Chain(f.layers), 3);
      const { x, logq } = f.sample(params, new Rng(5), 6);
      const lq = f.logProb(params, x);
      for (let i = 0; i < 6; i++) expect(Math.abs(lq.data[i]! - logq.data[i]!)).toBeLessThan(1e-10);
      const z = f.inverse(params, x);
      const again = f.forwardWithLogProb(params, z);
      for (let i = 0; i < x.size; i++) expect(again.x.data[i]).toBeCloseTo(x.data[i]!, 11);
    }
  });

  it("float32 runs in float32", () => {
    const f = meraFlow({ latticeShape: [4, 4], ndis: 1, nlayers: 2, ...small });
    const params = f.initParams(new Rng(1), "float32");
    const { x, logq } = f.sample(params, new Rng(2), 3, "float32");
    expect(x.dtype).toBe("float32");
    expect(logq.dtype).toBe("float32");
    const lq = f.logProb(params, x);
    for (let i = 0; i < 3; i++) expect(lq.data[i]).toBeCloseTo(logq.data[i]!, 3);
  });

  it("gradient of mean log q through the whole MERA (L = 4)", () => {
    const f = meraFlow({ latticeShape: [4, 4], ndis: 1, nlayers: 2, hiddenS: 2, hiddenT: 2 });
    const params = randomParams(new Chain(f.layers), 6, 0.5);
    const z = randn([2, 4, 4], 3);
    gradcheck((p) => mean(f.forwardWithLogProb(p, z).logq), params);
  });

  it("rejects bad configurations with RangeError", () => {
    const ok = { latticeShape: [4, 4], ndis: 1, nlayers: 2, ...small };
    expect(() => meraFlow({ ...ok, latticeShape: [6, 6] })).toThrow(/power of 2/);
    expect(() => meraFlow({ ...ok, latticeShape: [4, 8] })).toThrow(/square/);
    expect(() => meraFlow({ ...ok, latticeShape: [4, 4, 4] })).toThrow(RangeError);
    expect(() => meraFlow({ ...ok, latticeShape: [1, 1] })).toThrow(/power of 2/);
    expect(() => meraFlow({ ...ok, ndis: -1 })).toThrow(/ndis/);
    expect(() => meraFlow({ ...ok, nlayers: 0 })).toThrow(/nlayers/);
    expect(() => meraFlow({ ...ok, hiddenS: 0 })).toThrow(/hiddenS/);
    expect(() => tebdFlow({ ...ok, depth: 0 })).toThrow(/depth/);
    expect(() => tebdFlow({ ...ok, depth: 1, latticeShape: [5, 5] })).toThrow(/even/);
    expect(() => meraScaleOfSite(12)).toThrow(RangeError);
  });
});

describe("renormalisedVariables", () => {
  const L = 8;
  const f = meraFlow({ latticeShape: [L, L], ndis: 1, nlayers: 2, ...small });
  const params = randomParams(new Chain(f.layers), 4);
  const x = randn([3, L, L], 5);

  it("shapes [B, L/2ᵏ, L/2ᵏ]; k = 0 is x, the top is z at (0, 0)", () => {
    const rv = renormalisedVariables(f, params, x);
    expect(rv.map((t) => t.shape)).toEqual([
      [3, 8, 8],
      [3, 4, 4],
      [3, 2, 2],
      [3, 1, 1],
    ]);
    expect(Array.from(rv[0]!.data)).toEqual(Array.from(x.data));
    const z = f.inverse(params, x);
    for (let b = 0; b < 3; b++) expect(rv[3]!.data[b]).toBe(z.data[b * 64]);
  });

  it("level k is the RG map through the levels below it, on the stride-2ᵏ sublattice", () => {
    const rv = renormalisedVariables(f, params, x);
    // levels 0 and 1 are the last four Flow layers, applied in RG order
    let u = x;
    for (let i = f.layers.length - 1; i >= f.layers.length - 4; i--) {
      const p: Params = {};
      for (const k in params) if (k.startsWith(`${i}.`)) p[k.slice(String(i).length + 1)] = params[k]!;
      u = f.layers[i]!.inverseAndLogDet(p, u).x;
    }
    const sub = sublatticeIndices(L, 4);
    for (let b = 0; b < 3; b++)
      for (let j = 0; j < 4; j++) expect(rv[2]!.data[b * 4 + j]).toBe(u.data[b * 64 + sub[j]!]);
  });

  it("with identityInit, the sublattice restrictions of x", () => {
    const g = meraFlow({ latticeShape: [L, L], ndis: 2, nlayers: 2, ...small, identityInit: true });
    const rv = renormalisedVariables(g, g.initParams(new Rng(1), "float64"), x);
    for (let k = 0; k <= 3; k++) {
      const sub = sublatticeIndices(L, 1 << k);
      for (let b = 0; b < 3; b++)
        for (let j = 0; j < sub.length; j++)
          expect(rv[k]!.data[b * sub.length + j]).toBe(x.data[b * 64 + sub[j]!]);
    }
  });

  it("needs a MERA", () => {
    const t = tebdFlow({ latticeShape: [4, 4], depth: 1, nlayers: 1, ...small });
    expect(() => renormalisedVariables(t, {}, zeros([1, 4, 4]))).toThrow(/MERA/);
  });
});
