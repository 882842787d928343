/**
 * Winograd F(2×2, 3×3) for float32 correlations (src/engine/wasm/simd-winograd.ts) and the
 * WebAssembly epilogues of the taped coupling op (bias fill, padding, PReLU backward).
 *
 * Tolerance: float32 results against the float64 computation, as max|Δ| / max|reference|.
 * Unit roundoff is 6e-8; a correlation adds 9·cin products (≤ 288 here) and the transforms
 * add a small constant factor (entries 0, ±½, ±1), so errors grow like √terms·u·O(1):
 * measured 2–8e-7. The bound 4e-6 is 5–20× that; a wrong transform entry gives O(1).
 */
import { afterEach, describe, expect, it } from "vitest";
import * as E from "../src/engine/index.js";
import { heapLiveBytes, setHeapLimit } from "../src/engine/wasm/simd-heap.js";
import { simdCorrelate } from "../src/engine/wasm/simd-runtime.js";
import { winogradPlan } from "../src/engine/wasm/simd-winograd.js";
import { AffineCoupling } from "../src/flows/affine-coupling.js";
import { Rng } from "../src/rng/philox.js";

afterEach(() => {
  E.setConvBackend("wasm");
  E.setWinograd(true);
});

function rand(shape: number[], dtype: E.DType, seed: number): E.Tensor {
  const t = E.zeros(shape, dtype);
  const r = new Rng(seed);
  for (let i = 0; i < t.size; i++) t.data[i] = 2 * r.uniform() - 1;
  return t;
}

const as64 = (t: E.Tensor) => new E.Tensor(Float64Array.from(t.data), t.shape);
const as32 = (t: E.Tensor) => new E.Tensor(Float32Array.from(t.data), t.shape);

/** max|a − b| / max|b|. */
function scaledErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
}

const TOL = 4e-6;

describe("Winograd F(2×2, 3×3), float32", () => {
  it("plans blocks of whole tile rows with an even number of vectors, or declines", () => {
    const geo = (rows: number, n: number) => ({
      n,
      rows,
      pw: n + 2,
      pv: (n + 2) * (rows + 2),
      v: n * rows,
    });
    for (const [rows, n] of [
      [8, 8],
      [32, 32],
      [64, 64],
      [4, 24],
      [4, 8],
    ]) {
      const p = winogradPlan(geo(rows!, n!))!;
      expect(p).not.toBeNull();
      expect(p.tileRows * p.blocks).toBe(rows! / 2);
      expect(p.blockVectors % 2).toBe(0);
      expect(p.blockVectors).toBe((p.tileRows * n!) / 8);
    }
    expect(winogradPlan(geo(8, 12))).toBeNull(); // n not a multiple of 8
    expect(winogradPlan(geo(7, 8))).toBeNull(); // odd rows
    expect(winogradPlan(geo(2, 8))).toBeNull(); // one tile row of one vector: odd block
    expect(winogradPlan(geo(6, 24))).toBeNull(); // 3 tile rows of 3 vectors: every block odd
  });

  for (const [lattice, cin, cout, nb] of [
    [[8, 8], 16, 16, 3],
    [[16, 8], 16, 32, 2],
    [[4, 24], 32, 16, 2],
    [[32, 32], 32, 32, 2],
    [[64, 64], 16, 16, 1], // several blocks per sample
  ] as [number[], number, number, number][]) {
    it(`periodicConv [${lattice}] ${cin}→${cout}: values and gradients against float64`, () => {
      const x = rand([nb, cin, ...lattice], "float64", 1);
      const w = rand([cout, cin, 3, 3], "float64", 2);
      const b = rand([cout], "float64", 3);
      const R = rand([nb, cout, ...lattice], "float64", 4);
      const f = (p: { x: E.Tensor; w: E.Tensor; b: E.Tensor }) =>
        E.sum(E.mul(E.periodicConv(p.x, p.w, p.b), p.x.dtype === "float32" ? as32(R) : R));
      const ref = { y: E.periodicConv(x, w, b).data, ...E.valueAndGrad(f)({ x, w, b }) };
      const p32 = { x: as32(x), w: as32(w), b: as32(b) };
      const run = () => ({ y: E.periodicConv(p32.x, p32.w, p32.b).data, ...E.valueAndGrad(f)(p32) });
      const wg = run();
      E.setWinograd(false);
      const direct = run();
      expect(scaledErr(wg.y, ref.y)).toBeLessThan(TOL);
      for (const k of ["x", "w", "b"] as const)
        expect(scaledErr(wg.grads[k].data, ref.grads[k].data)).toBeLessThan(TOL);
      // A different computation from the direct kernel ran (so the test above tested it).
      expect(scaledErr(wg.y, direct.y)).toBeGreaterThan(0);
      expect(scaledErr(wg.grads.w.data, direct.grads.w.data)).toBeGreaterThan(0);
    });
  }

  it("the fused coupling layer (hidden 16,16 and 32,32): output and all gradients against float64", () => {
    for (const [lattice, hidden, nb] of [
      [[8, 8], [16, 16], 5],
      [[16, 16], [32, 32], 2],
    ] as [number[], number[], number][]) {
      for (const parity of [0, 1] as const) {
        const layer = new AffineCoupling({ latticeShape: lattice, parity, hidden, kernel: 3 });
        const p64 = layer.initParams(new Rng(7), "float64");
        // Not the identity initialisation: random last layer too, so s, t ≠ 0.
        for (const t of Object.values(p64))
          for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * t.data[i]! + 0.05 * Math.sin(i);
        const x64 = rand([nb, ...lattice], "float64", 8);
        const R = rand([nb, ...lattice], "float64", 9);
        const run = (dtype: E.DType) => {
          const cast = dtype === "float64" ? as64 : as32;
          const params = Object.fromEntries(Object.entries(p64).map(([k, t]) => [k, cast(t)]));
          const f = (p: E.Params) => {
            const { y, logDet } = layer.forwardAndLogDet(p, p.x!);
            return E.add(E.sum(E.mul(y, cast(R))), E.sum(logDet));
          };
          return E.valueAndGrad(f)({ ...params, x: cast(x64) });
        };
        const ref = run("float64");
        const got = run("float32");
        expect(Math.abs(got.value - ref.value) / Math.abs(ref.value)).toBeLessThan(TOL);
        for (const k of Object.keys(ref.grads))
          expect(scaledErr(got.grads[k]!.data, ref.grads[k]!.data)).toBeLessThan(TOL);
      }
    }
  });
});

describe("resident float32 coupling op", () => {
  it("holds WebAssembly memory only until its backward pass (and not at all untaped)", () => {
    const layer = new AffineCoupling({ latticeShape: [16, 16], parity: 0, hidden: [16, 16], kernel: 3 });
    const params = layer.initParams(new Rng(3), "float32");
    const x = rand([4, 16, 16], "float32", 4);
    const f = (p: E.Params) => E.sum(layer.forwardAndLogDet(p, p.x!).logDet);
    E.valueAndGrad(f)({ ...params, x }); // warm: modules compiled, free lists filled
    const before = heapLiveBytes();
    for (let i = 0; i < 3; i++) E.valueAndGrad(f)({ ...params, x });
    expect(heapLiveBytes()).toBe(before);
    layer.forwardAndLogDet(params, x);
    expect(heapLiveBytes()).toBe(before);
  });

  it("falls back (copying path, then TypeScript kernels) when the heap cannot grow", () => {
    // A lattice no other test uses, so the heap has no free regions of these sizes and every
    // allocation would have to grow it.
    const layer = new AffineCoupling({ latticeShape: [8, 24], parity: 1, hidden: [16, 16], kernel: 3 });
    const params = layer.initParams(new Rng(5), "float32");
    const x = rand([3, 8, 24], "float32", 6);
    const f = (p: E.Params) => E.sum(layer.forwardAndLogDet(p, p.x!).logDet);
    E.setConvBackend("js");
    const want = E.valueAndGrad(f)({ ...params, x });
    const sample = layer.forwardAndLogDet(params, x).y.data;
    E.setConvBackend("wasm");
    const before = heapLiveBytes();
    const old = setHeapLimit(0);
    try {
      const got = E.valueAndGrad(f)({ ...params, x });
      expect(Math.abs(got.value - want.value)).toBeLessThan(1e-4 * (1 + Math.abs(want.value)));
      for (const k of Object.keys(want.grads))
        expect(scaledErr(got.grads[k]!.data, want.grads[k]!.data)).toBeLessThan(1e-4);
      expect(scaledErr(layer.forwardAndLogDet(params, x).y.data, sample)).toBeLessThan(1e-5);
    } finally {
      setHeapLimit(old);
    }
    expect(heapLiveBytes()).toBe(before);
  });
});

describe("simdCorrelate epilogues", () => {
  const g = { n: 8, rows: 4, pw: 10, pv: 60, v: 32 };
  const nb = 2;
  const cin = 3;
  const cout = 4;
  const src = rand([nb, cin, g.v], "float32", 11).data as Float32Array;
  const w = rand([cout, cin, 9], "float32", 12).data as Float32Array;

  /** Periodic padding of [planes, rows, n] planes, as the kernels lay them out. */
  function padded(x: Float32Array, planes: number): Float32Array {
    const out = new Float32Array(planes * g.pv);
    for (let q = 0; q < planes; q++)
      for (let r = -1; r <= g.rows; r++)
        for (let j = -1; j <= g.n; j++) {
          const rr = (r + g.rows) % g.rows;
          const jj = (j + g.n) % g.n;
          out[q * g.pv + (r + 1) * g.pw + j + 1] = x[q * g.v + rr * g.n + jj]!;
        }
    return out;
  }

  it("bias and padInput give exactly y = bias + correlate(pad(x), w)", () => {
    const bias = Float32Array.from([0.5, -1, 2, 0.25]);
    const want = new Float32Array(nb * cout * g.v);
    for (let q = 0; q < nb * cout; q++) want.fill(bias[q % cout]!, q * g.v, (q + 1) * g.v);
    expect(simdCorrelate(padded(src, nb * cin), w, want, nb, cin, cout, g)).toBe(true);
    const got = new Float32Array(nb * cout * g.v).fill(Number.NaN); // overwritten, not read
    expect(simdCorrelate(src, w, got, nb, cin, cout, g, { bias, padInput: true })).toBe(true);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it("preluBackward: the TypeScript update exactly, per-plane sums to float32 rounding, NaN propagates", () => {
    const z = rand([nb, cout, g.v], "float32", 13).data as Float32Array;
    z[5] = Number.NaN; // plane 0
    const alpha = Float32Array.from([0.1, 0.2, 0.3, 0.4]);
    const zeros = new Float32Array(cout);
    const y = new Float32Array(nb * cout * g.v);
    simdCorrelate(src, w, y, nb, cin, cout, g, { bias: zeros, padInput: true });
    const got = new Float32Array(y.length);
    const sums = new Float32Array(2 * nb * cout);
    const preluBackward = { z, alpha, sums };
    expect(simdCorrelate(src, w, got, nb, cin, cout, g, { bias: zeros, padInput: true, preluBackward })).toBe(
      true,
    );
    const want = new Float32Array(y.length);
    for (let q = 0; q < nb * cout; q++) {
      const a = alpha[q % cout]!;
      let sa = 0;
      let sb = 0;
      for (let i = q * g.v; i < (q + 1) * g.v; i++) {
        const neg = +(z[i]! < 0);
        sa += y[i]! * z[i]! * neg;
        want[i] = y[i]! * (neg * a + (1 - neg));
        sb += want[i]!;
      }
      if (q === 0) expect(sums[0]).toBeNaN();
      else expect(Math.abs(sums[2 * q]! - sa)).toBeLessThan(1e-5 * (1 + Math.abs(sa)));
      expect(Math.abs(sums[2 * q + 1]! - sb)).toBeLessThan(1e-5 * (1 + Math.abs(sb)));
    }
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});
