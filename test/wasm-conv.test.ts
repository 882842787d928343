/**
 * The WebAssembly SIMD convolution kernels (src/engine/wasm/simd-conv.ts) against the
 * TypeScript fallback: values and all gradients of periodicConv and of the fused coupling
 * layer, float64 (forward bit-identical, weight gradient to rounding) and float32 (to
 * float32 rounding); finite differences with the SIMD kernels on; shapes the SIMD kernels
 * do not take (odd rows, float32 rows not a multiple of 4) fall back to TypeScript.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as E from "../src/engine/index.js";
import { AffineCoupling } from "../src/flows/affine-coupling.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

afterEach(() => E.setConvBackend("wasm"));

function rand(shape: number[], dtype: E.DType, seed: number): E.Tensor {
  const t = E.zeros(shape, dtype);
  const r = new Rng(seed);
  for (let i = 0; i < t.size; i++) t.data[i] = 2 * r.uniform() - 1;
  return t;
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return m;
}

describe("SIMD kernels", () => {
  it("are available in this Node", () => {
    expect(E.simdSupported()).toBe(true);
    expect(E.convBackend()).toBe("wasm");
  });

  for (const dtype of ["float64", "float32"] as const) {
    for (const [lattice, cin, cout] of [
      [[8, 8], 8, 8],
      [[4, 8], 3, 5],
      [[16, 4], 1, 2],
      [[6, 6], 2, 3],
      [[5, 5], 2, 2],
      [[64, 48], 2, 3], // planes past 8 KiB: the batch-outer weight gradient
      [[32, 32], 2, 2], // rows as straight-line code, loop over rows
      [[4, 72], 2, 2], // rows too long to unroll: the loop over vectors
    ] as [number[], number, number][]) {
      it(`periodicConv ${dtype} [${lattice}] ${cin}→${cout}: SIMD = TypeScript`, () => {
        const x = rand([3, cin, ...lattice], dtype, 1);
        const w = rand([cout, cin, 3, 3], dtype, 2);
        const b = rand([cout], dtype, 3);
        const R = rand([3, cout, ...lattice], dtype, 4);
        const f = (p: { x: E.Tensor; w: E.Tensor; b: E.Tensor }) =>
          E.sum(E.mul(E.periodicConv(p.x, p.w, p.b), R));
        const run = (backend: "wasm" | "js") => {
          E.setConvBackend(backend);
          return { y: E.periodicConv(x, w, b).data, ...E.valueAndGrad(f)({ x, w, b }) };
        };
        const s = run("wasm");
        const t = run("js");
        const tol = dtype === "float64" ? 1e-12 : 1e-5; // gradients: sums in another order
        if (dtype === "float64") expect(Array.from(s.y)).toEqual(Array.from(t.y));
        else expect(maxRel(s.y, t.y)).toBeLessThan(tol);
        for (const k of ["x", "w", "b"] as const)
          expect(maxRel(s.grads[k].data, t.grads[k].data)).toBeLessThan(tol);
      });
    }
  }

  it("periodicConv gradients against finite differences with SIMD on", () => {
    E.setConvBackend("wasm");
    gradcheck((p) => E.sum(E.mul(E.periodicConv(p.x, p.w, p.b), rand([2, 3, 4, 6], "float64", 9))), {
      x: rand([2, 2, 4, 6], "float64", 5),
      w: rand([3, 2, 3, 3], "float64", 6),
      b: rand([3], "float64", 7),
    });
  });

  for (const dtype of ["float64", "float32"] as const) {
    it(`fused coupling layer ${dtype}: SIMD = TypeScript, both directions`, () => {
      const layer = new AffineCoupling({ latticeShape: [8, 8], parity: 1, hidden: [8, 8], kernel: 3 });
      const params = layer.initParams(new Rng(1), dtype);
      const x = rand([5, 8, 8], dtype, 2);
      const R = rand([5, 8, 8], dtype, 3);
      for (const inverse of [false, true]) {
        const f = (p: E.Params) => {
          const r = inverse ? layer.inverseAndLogDet(p, p.x!) : layer.forwardAndLogDet(p, p.x!);
          const y = "y" in r ? r.y : r.x;
          return E.add(E.sum(E.mul(y, R)), E.sum(r.logDet));
        };
        const run = (backend: "wasm" | "js") => {
          E.setConvBackend(backend);
          return E.valueAndGrad(f)({ ...params, x });
        };
        const s = run("wasm");
        const t = run("js");
        const tol = dtype === "float64" ? 1e-12 : 1e-4;
        expect(Math.abs(s.value - t.value) / (1 + Math.abs(t.value))).toBeLessThan(tol);
        for (const k of Object.keys(t.grads))
          expect(maxRel(s.grads[k]!.data, t.grads[k]!.data), k).toBeLessThan(tol);
      }
    });
  }

  it("the fused coupling op's gradients against finite differences with SIMD on", () => {
    E.setConvBackend("wasm");
    const layer = new AffineCoupling({ latticeShape: [4, 4], parity: 0, hidden: [3], kernel: 3 });
    const params = layer.initParams(new Rng(2), "float64");
    const R = rand([2, 4, 4], "float64", 8);
    gradcheck(
      (p) => {
        const r = layer.forwardAndLogDet(p, p.x!);
        return E.add(E.sum(E.mul(r.y, R)), E.sum(r.logDet));
      },
      { ...params, x: rand([2, 4, 4], "float64", 4) },
    );
  });
});
