/**
 * The fused NeuralRG block (src/engine/fused/neuralrg-block.ts, kernels in
 * src/engine/wasm/simd-neuralrg.ts) against the op path of NeuralRgBlock (fused: false), the
 * reference: y, log|det J| and the cotangents of x and of every parameter, forward and
 * inverse, random weights (nonzero scale), row counts that are not multiples of the lanes, of
 * the loop step or of the heap chunk, odd hidden widths. float64 to 1e-12 (relative to each
 * tensor's largest entry), float32 against the float64 reference at float32 precision,
 * finite differences in float64, inverse(forward(x)) = x, the fallback, and no heap leak.
 */
import { describe, expect, it } from "vitest";
import { neuralRgBlockFused } from "../src/engine/fused/neuralrg-block.js";
import * as E from "../src/engine/index.js";
import { heapLiveBytes } from "../src/engine/wasm/simd-heap.js";
import type { Bijector } from "../src/flows/bijector.js";
import { meraFlow } from "../src/flows/mera.js";
import { NeuralRgBlock, type NeuralRgBlockConfig } from "../src/flows/neuralrg-block.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

const simd = E.simdSupported();

function randomParams(
  b: Pick<Bijector, "initParams">,
  seed: number,
  dtype: E.DType = "float64",
  amp = 0.6,
): E.Params {
  const rng = new Rng(seed);
  const p = b.initParams(rng, "float64");
  for (const t of Object.values(p))
    for (let i = 0; i < t.size; i++) t.data[i] = amp * (2 * rng.uniform() - 1);
  return dtype === "float64" ? p : cast(p, dtype);
}

function cast(p: E.Params, dtype: E.DType): E.Params {
  const out: E.Params = {};
  for (const [k, t] of Object.entries(p)) out[k] = E.tensor(t.data, t.shape, dtype);
  return out;
}

function randomTensor(shape: number[], seed: number, dtype: E.DType = "float64", amp = 1.5): E.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  new Rng(seed).normal(v);
  for (let i = 0; i < n; i++) v[i]! *= amp;
  return E.tensor(v, shape, dtype);
}

/** max |a − b| / max |b| (1 if b is all zero and a is not). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
  return s === 0 ? (d === 0 ? 0 : 1) : d / s;
}

/** y, log|det| and the gradients of Σ y·cy + Σ ld·cl w.r.t. x and every parameter. */
function run(block: NeuralRgBlock, params: E.Params, x: E.Tensor, inverse: boolean, seed: number) {
  const m = x.shape[0]!;
  const cy = randomTensor([m, 4], seed + 1, x.dtype);
  const cl = randomTensor([m], seed + 2, x.dtype);
  let y: E.Tensor | null = null;
  let ld: E.Tensor | null = null;
  const f = E.valueAndGrad((p: E.Params) => {
    const { x: xx, ...rest } = p;
    const r = inverse ? block.inverseAndLogDet(rest, xx!) : block.forwardAndLogDet(rest, xx!);
    y = "y" in r ? r.y : (r as { x: E.Tensor }).x;
    ld = r.logDet;
    return E.add(E.sum(E.mul(y, cy)), E.sum(E.mul(ld, cl)));
  });
  const { grads } = f({ ...params, x });
  return { y: y!, ld: ld!, grads };
}

const configs: { name: string; cfg: NeuralRgBlockConfig; m: number }[] = [
  {
    name: "8 couplings, H = 64, M = 1037 (three chunks, ragged)",
    cfg: { nlayers: 8, hiddenS: 64, hiddenT: 64 },
    m: 1037,
  },
  { name: "3 couplings, Hs = 5, Ht = 7, M = 13", cfg: { nlayers: 3, hiddenS: 5, hiddenT: 7 }, m: 13 },
  { name: "1 coupling, Hs = 1, Ht = 2, M = 1", cfg: { nlayers: 1, hiddenS: 1, hiddenT: 2 }, m: 1 },
  { name: "7 couplings, Hs = 9, Ht = 3, M = 514", cfg: { nlayers: 7, hiddenS: 9, hiddenT: 3 }, m: 514 },
];

describe.runIf(simd)("fused NeuralRG block", () => {
  for (const { name, cfg, m } of configs) {
    for (const inverse of [false, true]) {
      it(`float64 equals the op path: ${name}, ${inverse ? "inverse" : "forward"}`, () => {
        const fused = new NeuralRgBlock({ ...cfg, fused: true });
        const ops = new NeuralRgBlock({ ...cfg, fused: false });
        const params = randomParams(fused, 7 + m);
        const x = randomTensor([m, 4], 100 + m);
        const live = heapLiveBytes();
        const a = run(fused, params, x, inverse, 3);
        const b = run(ops, params, x, inverse, 3);
        expect(heapLiveBytes()).toBe(live);
        expect(relErr(a.y.data, b.y.data)).toBeLessThanOrEqual(1e-12);
        expect(relErr(a.ld.data, b.ld.data)).toBeLessThanOrEqual(1e-12);
        expect(Object.keys(a.grads).sort()).toEqual(Object.keys(b.grads).sort());
        for (const k of Object.keys(b.grads)) {
          const e = relErr(a.grads[k]!.data, b.grads[k]!.data);
          if (!(e <= 1e-12)) expect.fail(`${k}: relative error ${e}`);
        }
      });
    }
  }

  it("the fused path is taken (not silently the op path)", () => {
    const block = new NeuralRgBlock({ nlayers: 2, hiddenS: 4, hiddenT: 4 });
    const params = randomParams(block, 1);
    const x = randomTensor([6, 4], 2);
    const cs = block.conditioners.map((c, j) => ({
      s0w: params[`${j}.s.0.weight`]!,
      s0b: params[`${j}.s.0.bias`]!,
      s2w: params[`${j}.s.2.weight`]!,
      s2b: params[`${j}.s.2.bias`]!,
      scale: params[`${j}.s.scale`]!,
      t0w: params[`${j}.t.0.weight`]!,
      t0b: params[`${j}.t.0.bias`]!,
      t2w: params[`${j}.t.2.weight`]!,
      t2b: params[`${j}.t.2.bias`]!,
      frozen: c.partition.frozen,
      active: c.partition.active,
    }));
    expect(neuralRgBlockFused(x, cs, false)).not.toBeNull();
    E.setConvBackend("js");
    try {
      expect(neuralRgBlockFused(x, cs, false)).toBeNull();
      // and the block still runs (op path)
      const r = block.forwardAndLogDet(params, x);
      expect(r.y.shape).toEqual([6, 4]);
    } finally {
      E.setConvBackend("wasm");
    }
  });

  for (const inverse of [false, true]) {
    it(`float32 agrees with the float64 reference at float32 precision (${inverse ? "inverse" : "forward"})`, () => {
      const cfg = { nlayers: 8, hiddenS: 64, hiddenT: 64 };
      const m = 203;
      const fused = new NeuralRgBlock({ ...cfg, fused: true });
      const ops = new NeuralRgBlock({ ...cfg, fused: false });
      const p64 = randomParams(fused, 11);
      const x64 = randomTensor([m, 4], 12);
      const ref = run(ops, p64, x64, inverse, 5);
      const a = run(fused, cast(p64, "float32"), E.tensor(x64.data, x64.shape, "float32"), inverse, 5);
      const b = run(ops, cast(p64, "float32"), E.tensor(x64.data, x64.shape, "float32"), inverse, 5);
      expect(a.y.dtype).toBe("float32");
      // The op path's own float32 error sets the scale: the fused one is no worse than 4× it.
      const tol = (e: number) => Math.max(4 * e, 2e-5);
      expect(relErr(a.y.data, ref.y.data)).toBeLessThanOrEqual(tol(relErr(b.y.data, ref.y.data)));
      expect(relErr(a.ld.data, ref.ld.data)).toBeLessThanOrEqual(tol(relErr(b.ld.data, ref.ld.data)));
      for (const k of Object.keys(ref.grads)) {
        const ea = relErr(a.grads[k]!.data, ref.grads[k]!.data);
        const eb = relErr(b.grads[k]!.data, ref.grads[k]!.data);
        if (!(ea <= tol(eb))) expect.fail(`${k}: fused float32 error ${ea}, op path ${eb}`);
      }
    });
  }

  it("gradcheck through the fused op (float64, forward and inverse)", () => {
    const block = new NeuralRgBlock({ nlayers: 3, hiddenS: 3, hiddenT: 2 });
    const params = randomParams(block, 21);
    const x = randomTensor([5, 4], 22, "float64", 1);
    const cy = randomTensor([5, 4], 23);
    const cl = randomTensor([5], 24);
    for (const inverse of [false, true]) {
      gradcheck(
        (p: E.Params) => {
          const { x: xx, ...rest } = p;
          const r = inverse ? block.inverseAndLogDet(rest, xx!) : block.forwardAndLogDet(rest, xx!);
          const y = "y" in r ? r.y : (r as { x: E.Tensor }).x;
          // a nonlinear loss so that second-order mistakes in the cotangents show
          return E.add(E.sum(E.tanh(E.mul(y, cy))), E.sum(E.mul(E.mul(r.logDet, r.logDet), cl)));
        },
        { ...params, x },
      );
    }
  });

  for (const dtype of ["float64", "float32"] as const) {
    it(`inverse(forward(x)) = x and the log-dets cancel (${dtype})`, () => {
      const block = new NeuralRgBlock({ nlayers: 8, hiddenS: 64, hiddenT: 64 });
      const params = randomParams(block, 31, dtype);
      const x = randomTensor([777, 4], 32, dtype);
      const f = block.forwardAndLogDet(params, x);
      const b = block.inverseAndLogDet(params, f.y);
      const tol = dtype === "float64" ? 1e-12 : 2e-5;
      expect(relErr(b.x.data, x.data)).toBeLessThanOrEqual(tol);
      const s = Array.from(f.logDet.data, (v, i) => v + b.logDet.data[i]!);
      let big = 0;
      let d = 0;
      for (let i = 0; i < s.length; i++) {
        big = Math.max(big, Math.abs(f.logDet.data[i]!));
        d = Math.max(d, Math.abs(s[i]!));
      }
      expect(big).toBeGreaterThan(0.1);
      expect(d / big).toBeLessThanOrEqual(tol);
    });
  }

  it("extreme pre-activations: saturated tanh and large |s| stay finite and match", () => {
    const cfg = { nlayers: 4, hiddenS: 6, hiddenT: 6 };
    const fused = new NeuralRgBlock({ ...cfg, fused: true });
    const ops = new NeuralRgBlock({ ...cfg, fused: false });
    const params = randomParams(fused, 41, "float64", 4);
    for (let j = 0; j < 4; j++) params[`${j}.s.scale`]!.data.fill(3);
    const x = randomTensor([50, 4], 42, "float64", 6);
    for (const inverse of [false, true]) {
      const a = run(fused, params, x, inverse, 9);
      const b = run(ops, params, x, inverse, 9);
      expect(relErr(a.y.data, b.y.data)).toBeLessThanOrEqual(1e-12);
      expect(relErr(a.ld.data, b.ld.data)).toBeLessThanOrEqual(1e-12);
      // Saturated s-nets have tiny gradients through 1 − th² (th within ulps of ±1, where
      // an ulp of tanh decides the value): errors are measured against the largest gradient.
      let big = 0;
      for (const g of Object.values(b.grads)) for (const v of g.data) big = Math.max(big, Math.abs(v));
      for (const k of Object.keys(b.grads)) {
        const ga = a.grads[k]!.data;
        const gb = b.grads[k]!.data;
        let d = 0;
        for (let i = 0; i < gb.length; i++) d = Math.max(d, Math.abs(ga[i]! - gb[i]!));
        if (!(d <= 1e-12 * big)) expect.fail(`${k}: error ${d} against the largest gradient ${big}`);
      }
    }
  });

  it("a MERA (and its gradient) agrees with the op path (setConvBackend('js') forces it)", () => {
    const flow = meraFlow({ latticeShape: [8, 8], ndis: 2, nlayers: 4, hiddenS: 6, hiddenT: 5 });
    const params = randomParams(flow, 51);
    const z = randomTensor([3, 8, 8], 52);
    const loss = E.valueAndGrad((p: E.Params) => {
      const r = flow.forwardWithLogProb(p, z);
      return E.add(E.sum(E.tanh(r.x)), E.sum(r.logq));
    });
    const a = loss(params);
    E.setConvBackend("js");
    let b: typeof a;
    try {
      b = loss(params);
    } finally {
      E.setConvBackend("wasm");
    }
    expect(Math.abs(a.value - b.value)).toBeLessThanOrEqual(1e-12 * Math.abs(b.value));
    for (const k of Object.keys(b.grads)) {
      const e = relErr(a.grads[k]!.data, b.grads[k]!.data);
      if (!(e <= 1e-12)) expect.fail(`${k}: relative error ${e}`);
    }
  });
});
