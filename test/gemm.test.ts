/**
 * Dense-layer and matrix-product ops (linear, matmul, batchedMatmul): gradients against central
 * finite differences in float64, and the WebAssembly SIMD GEMM (src/engine/wasm/simd-gemm.ts)
 * held to its TypeScript twin (gemmJs): both sum each element as 0 + a₀b₀ + a₁b₁ + … in
 * ascending k and then add the bias, every operation rounded to the dtype, so they must agree
 * bit for bit in float64 and float32 — odd sizes (not multiples of the register tile or of
 * the cache blocks), K = 1, every transpose, large values, overflow to ±∞ and NaN.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as E from "../src/engine/index.js";
import { gemmJs } from "../src/engine/ops/matmul.js";
import { type GemmOperands, gemmKernels, simdGemm } from "../src/engine/wasm/simd-gemm.js";
import { heapLiveBytes } from "../src/engine/wasm/simd-heap.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

const rng = new Rng(11);
function fillNormal(a: E.FloatArray, scale = 1): void {
  const tmp = new Float64Array(a.length);
  rng.normal(tmp);
  for (let i = 0; i < a.length; i++) a[i] = tmp[i]! * scale;
}
function randn(shape: number[], dtype: E.DType = "float64", scale = 1): E.Tensor {
  const t = E.zeros(shape, dtype);
  fillNormal(t.data, scale);
  return t;
}
function project(y: E.Tensor): E.Tensor {
  const r = new Rng(7);
  const w = E.zeros(y.shape, y.dtype);
  const tmp = new Float64Array(w.size);
  r.normal(tmp);
  w.data.set(tmp);
  return E.sum(E.mul(y, w));
}
/** Bitwise equality (distinguishes −0 and +0, NaN payloads aside: NaN equals NaN). */
function sameBits(x: E.FloatArray, y: E.FloatArray): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  return true;
}

afterEach(() => E.setGemmBackend("auto"));

const simd = E.simdSupported();

describe("gradients (float64 finite differences)", () => {
  for (const backend of ["js", "wasm"] as const) {
    describe(`${backend} kernels`, () => {
      it("linear: x [M,K], weight, bias", () => {
        E.setGemmBackend(backend);
        gradcheck((p) => project(E.linear(p.x, p.w, p.b)), {
          x: randn([5, 3]),
          w: randn([4, 3]),
          b: randn([4]),
        });
      });
      it("linear: no bias, x of rank 3", () => {
        E.setGemmBackend(backend);
        gradcheck((p) => project(E.linear(p.x, p.w, null)), { x: randn([2, 3, 5]), w: randn([7, 5]) });
      });
      it("linear: K = 1", () => {
        E.setGemmBackend(backend);
        gradcheck((p) => project(E.linear(p.x, p.w, p.b)), {
          x: randn([6, 1]),
          w: randn([3, 1]),
          b: randn([3]),
        });
      });
      it("matmul", () => {
        E.setGemmBackend(backend);
        gradcheck((p) => project(E.matmul(p.a, p.b)), { a: randn([5, 3]), b: randn([3, 9]) });
      });
      it("batchedMatmul: equal batch dims", () => {
        E.setGemmBackend(backend);
        gradcheck((p) => project(E.batchedMatmul(p.a, p.b)), { a: randn([2, 3, 4]), b: randn([2, 4, 5]) });
      });
      it("batchedMatmul: broadcast batch dims", () => {
        E.setGemmBackend(backend);
        gradcheck((p) => project(E.batchedMatmul(p.a, p.b)), { a: randn([2, 1, 3, 4]), b: randn([3, 4, 2]) });
        gradcheck((p) => project(E.batchedMatmul(p.a, p.b)), { a: randn([3, 2]), b: randn([2, 2, 3]) });
      });
      it("batchedMatmul: shared right operand", () => {
        E.setGemmBackend(backend);
        gradcheck((p) => project(E.batchedMatmul(p.a, p.b)), { a: randn([2, 3, 3, 4]), b: randn([4, 5]) });
      });
    });
  }
});

describe("shapes and semantics", () => {
  it("linear flattens leading dims and checks shapes", () => {
    expect(E.linear(randn([2, 3, 5]), randn([7, 5]), null).shape).toEqual([2, 3, 7]);
    expect(E.linear(randn([5]), randn([7, 5]), null).shape).toEqual([7]);
    expect(() => E.linear(randn([2, 4]), randn([7, 5]), null)).toThrow(RangeError);
    expect(() => E.linear(randn([2, 5]), randn([7, 5]), randn([6]))).toThrow(RangeError);
  });
  it("linear is x·Wᵀ + b", () => {
    const x = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const w = E.tensor([1, 0, -1, 2, 1, 0], [2, 3]);
    const y = E.linear(x, w, E.tensor([10, 20]));
    expect(Array.from(y.data)).toEqual([1 - 3 + 10, 2 + 2 + 20, 4 - 6 + 10, 8 + 5 + 20]);
  });
  it("batchedMatmul equals matmul per batch entry and broadcasts", () => {
    const a = randn([3, 2, 4]);
    const b = randn([1, 4, 5]);
    const c = E.batchedMatmul(a, b);
    expect(c.shape).toEqual([3, 2, 5]);
    const b0 = new E.Tensor(b.data, [4, 5]);
    for (let i = 0; i < 3; i++) {
      const ai = new E.Tensor(a.data.slice(i * 8, i * 8 + 8), [2, 4]);
      expect(sameBits(c.data.subarray(i * 10, i * 10 + 10), E.matmul(ai, b0).data)).toBe(true);
    }
    expect(() => E.batchedMatmul(randn([2, 3, 4]), randn([3, 4, 5]))).toThrow(RangeError);
  });
});

/** Random operands for C[m,n] = op(A)·op(B) (+ bias). */
function operands(
  dtype: E.DType,
  m: number,
  n: number,
  p: number,
  aT: boolean,
  bT: boolean,
  bias: boolean,
  scale = 1,
): GemmOperands {
  const arr = (len: number) => {
    const x = dtype === "float32" ? new Float32Array(len) : new Float64Array(len);
    fillNormal(x, scale);
    return x;
  };
  return { m, n, p, a: arr(m * p), aT, b: arr(p * n), bT, bias: bias ? arr(n) : null };
}

describe.skipIf(!simd)("WebAssembly GEMM = TypeScript twin, bit for bit", () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 9, 1],
    [7, 1, 5],
    [5, 7, 3],
    [4, 8, 8],
    [13, 17, 1],
    [9, 13, 17],
    [33, 9, 300], // K crosses the float32 and float64 cache blocks
    [131, 70, 257], // M crosses the block of A panels; N not a multiple of the tile
    [64, 256, 32],
  ];
  for (const dtype of ["float32", "float64"] as const) {
    it(`${dtype}: every transpose, with and without bias`, () => {
      for (const [m, n, p] of shapes) {
        for (const aT of [false, true]) {
          for (const bT of [false, true]) {
            const o = operands(dtype, m, n, p, aT, bT, (m + n + p) % 2 === 0);
            const want = dtype === "float32" ? new Float32Array(m * n) : new Float64Array(m * n);
            const got = want.slice();
            // Column sums of a ([p, m] if aT, else [m, p]) ride along (a bias gradient).
            const cols = aT ? m : p;
            const sumsWant = dtype === "float32" ? new Float32Array(cols) : new Float64Array(cols);
            const sumsGot = sumsWant.slice();
            gemmJs({ ...o, aSums: sumsWant }, want);
            expect(simdGemm({ ...o, aSums: sumsGot }, got)).toBe(true);
            if (!sameBits(got, want)) expect.fail(`${dtype} ${m}×${n}×${p} aT=${aT} bT=${bT}`);
            if (!sameBits(sumsGot, sumsWant)) expect.fail(`sums: ${dtype} ${m}×${n}×${p} aT=${aT}`);
          }
        }
      }
    });
    it(`${dtype}: large values, overflow and NaN`, () => {
      const big = dtype === "float32" ? 1e18 : 1e150;
      const o = operands(dtype, 23, 19, 45, false, true, true, big);
      o.a[7] = Number.POSITIVE_INFINITY;
      o.b[3] = Number.NaN;
      o.a[100] = -0;
      const want = dtype === "float32" ? new Float32Array(23 * 19) : new Float64Array(23 * 19);
      const got = want.slice();
      gemmJs(o, want);
      expect(simdGemm(o, got)).toBe(true);
      expect(want.some((v) => !Number.isFinite(v))).toBe(true);
      expect(sameBits(got, want)).toBe(true);
    });
  }
  it("the ops give the same bits with either kernel (forward and all gradients)", () => {
    for (const dtype of ["float32", "float64"] as const) {
      const x = randn([37, 29], dtype);
      const w = randn([21, 29], dtype);
      const b = randn([21], dtype);
      const run = (backend: E.GemmBackend) => {
        E.setGemmBackend(backend);
        const f = (p: { x: E.Tensor; w: E.Tensor; b: E.Tensor }) => project(E.linear(E.relu(p.x), p.w, p.b));
        const { value, grads } = E.valueAndGrad(f)({ x, w, b });
        return [new Float64Array([value]), grads.x.data, grads.w.data, grads.b.data];
      };
      const js = run("js");
      const wasm = run("wasm");
      for (let i = 0; i < js.length; i++) expect(sameBits(wasm[i]!, js[i]!)).toBe(true);
    }
  });
  it("float32 against the float64 product: within the rounding bound γ_K Σ|a||b|", () => {
    const [m, n, p] = [40, 24, 500];
    const o = operands("float32", m, n, p, false, false, false);
    const got = new Float32Array(m * n);
    simdGemm(o, got);
    const u = 2 ** -24;
    const gamma = (p * u) / (1 - p * u);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let exact = 0;
        let abs = 0;
        for (let q = 0; q < p; q++) {
          const t = o.a[i * p + q]! * o.b[q * n + j]!;
          exact += t;
          abs += Math.abs(t);
        }
        expect(Math.abs(got[i * n + j]! - exact)).toBeLessThanOrEqual(gamma * abs);
      }
    }
  });
  it("returns every heap region", () => {
    const before = heapLiveBytes();
    const o = operands("float64", 17, 11, 9, true, false, true);
    simdGemm(o, new Float64Array(17 * 11));
    expect(heapLiveBytes()).toBe(before);
    expect(gemmKernels("float32")).not.toBeNull();
  });
});
