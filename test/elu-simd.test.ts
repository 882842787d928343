/**
 * The ELU kernels of src/engine/wasm/simd-elu.ts: the WebAssembly SIMD kernel (f32x4 / f64x2)
 * and its TypeScript twin give the same bits — forward elu and backward g·(min(y, 0) + 1),
 * both dtypes, on random values, random bit patterns and edge cases (±0, NaN, ±∞,
 * subnormals, the clamps, the reduction's boundaries), lengths that are not multiples of a
 * vector, of the unrolled step or of the copy chunk, in place and not. eˣ − 1 against src/math's
 * fdlibm expm1 (< 1 ulp itself): ≤ 2 ulp in float64 (the kernel is < 1.1 ulp of the exact
 * value), ≤ 1 float32 ulp from Math.fround(expm1) in float32. The ops (elu, linearElu) give
 * the same bits under every backend, the heap is returned, and a full heap falls back.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as E from "../src/engine/index.js";
import {
  eluBackward,
  eluBackwardF32,
  eluBackwardF64,
  eluBackwardWasm,
  eluForward,
  eluForwardF32,
  eluForwardF64,
  eluForwardWasm,
} from "../src/engine/wasm/simd-elu.js";
import { heapLiveBytes, setHeapLimit } from "../src/engine/wasm/simd-heap.js";
import * as math from "../src/math/index.js";
import { Rng } from "../src/rng/philox.js";

const simd = E.simdSupported();
afterEach(() => {
  E.setEluBackend("auto");
  E.setConvBackend("wasm");
});

/** Bitwise equality (−0 ≠ +0; NaN equals NaN, payloads aside); the first mismatch or −1. */
function firstMismatch(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return i;
  return -1;
}

const rng = new Rng(2024);
function uniform(n: number): Float64Array {
  const u = new Float64Array(n);
  for (let i = 0; i < n; i++) u[i] = rng.uniform();
  return u;
}

/** Random 64-bit patterns (every class: normal, subnormal, ±0, ±∞, NaN), as float64. */
function bitPatterns64(n: number): Float64Array {
  const out = new Float64Array(n);
  const w = new Uint32Array(out.buffer);
  const u = uniform(2 * n);
  for (let i = 0; i < 2 * n; i++) w[i] = Math.floor(u[i]! * 2 ** 32);
  return out;
}
function bitPatterns32(n: number): Float32Array {
  const out = new Float32Array(n);
  const w = new Uint32Array(out.buffer);
  const u = uniform(n);
  for (let i = 0; i < n; i++) w[i] = Math.floor(u[i]! * 2 ** 32);
  return out;
}

const LN2 = Math.LN2;
/** Values where the kernel changes regime: clamps, k·ln2 and (k + ½)·ln2, tiny and huge. */
function edges(): number[] {
  const v = [
    0,
    -0,
    Number.NaN,
    -Number.NaN,
    Infinity,
    -Infinity,
    Number.MIN_VALUE,
    -Number.MIN_VALUE,
    -1e-320,
    -2.2250738585072014e-308,
    -1e-300,
    -1e-45,
    -1.401298464324817e-45,
    -1.1754943508222875e-38,
    -1e-20,
    -1e-9,
    -1e-7,
    -Number.EPSILON,
    -0.5,
    -1,
    -3,
    -17.9,
    -18,
    -18.000001,
    -17.3,
    -36.7,
    -37.4,
    -39.99,
    -40,
    -40.0001,
    -50,
    -700,
    -745.2,
    -1e300,
    -Number.MAX_VALUE,
    Number.MAX_VALUE,
    1e-9,
    0.5,
    3,
  ];
  for (let k = 0; k <= 60; k++)
    for (const d of [-1e-12, 0, 1e-12, -1e-6, 1e-6]) v.push(-(k * LN2) + d, -((k + 0.5) * LN2) + d);
  return v;
}

/** Inputs for identity tests: edges, random bit patterns, N(0, 4²) and a log-uniform sweep. */
function inputs64(n: number): Float64Array {
  const x = new Float64Array(n);
  const e = edges();
  x.set(e);
  const bits = bitPatterns64(n);
  const z = new Float64Array(n);
  new Rng(5).normal(z);
  const u = uniform(n);
  for (let i = e.length; i < n; i++) {
    const m = i % 4;
    x[i] = m === 0 ? bits[i]! : m === 1 ? 4 * z[i]! : m === 2 ? -Math.exp(-45 * u[i]!) : -60 * u[i]!;
  }
  return x;
}

const N_ID = 100_003; // ≥ 10⁵, not a multiple of the chunk (4096), the step or a vector

describe.skipIf(!simd)("WebAssembly ELU = TypeScript twin, bit for bit", () => {
  for (const dtype of ["float64", "float32"] as const) {
    const make = (src: ArrayLike<number>) =>
      dtype === "float32" ? new Float32Array(src) : new Float64Array(src);
    const fwdJs = (x: E.FloatArray, y: E.FloatArray, n: number) =>
      dtype === "float32"
        ? eluForwardF32(x as Float32Array, y as Float32Array, n)
        : eluForwardF64(x as Float64Array, y as Float64Array, n);
    const bwdJs = (g: E.FloatArray, y: E.FloatArray, o: E.FloatArray, n: number) =>
      dtype === "float32"
        ? eluBackwardF32(g as Float32Array, y as Float32Array, o as Float32Array, n)
        : eluBackwardF64(g as Float64Array, y as Float64Array, o as Float64Array, n);

    it(`${dtype}: forward on ${N_ID} values (edges, bit patterns, normals, sweeps)`, () => {
      const x = make(inputs64(N_ID));
      if (dtype === "float32") {
        const bits = bitPatterns32(N_ID); // float32 patterns where inputs64 has float64 ones
        for (let i = edges().length; i < N_ID; i += 4) x[i] = bits[i]!;
      }
      const yj = make(new Float64Array(N_ID));
      const yw = make(new Float64Array(N_ID));
      fwdJs(x, yj, N_ID);
      expect(eluForwardWasm(x, yw, N_ID)).toBe(true);
      expect(firstMismatch(yj, yw)).toBe(-1);
      // in place, as linearElu runs it
      const inPlace = x.slice();
      expect(eluForwardWasm(inPlace, inPlace, N_ID)).toBe(true);
      expect(firstMismatch(inPlace, yj)).toBe(-1);
      // the sign and size classes come out as defined: x (x ≥ 0, ±0, NaN), in [max(x, −1), 0] (x < 0)
      let bad = -1;
      for (let i = 0; i < N_ID && bad < 0; i++) {
        const v = x[i]!;
        const w = yw[i]!;
        if (
          !(v < 0)
            ? !(Object.is(w, v) || (Number.isNaN(v) && Number.isNaN(w)))
            : !(w >= -1 && w <= 0 && w >= v)
        )
          bad = i;
      }
      expect(bad).toBe(-1);
    });

    it(`${dtype}: forward on every length up to 70 and around the chunk size`, () => {
      const base = make(inputs64(9000));
      for (const n of [...Array.from({ length: 71 }, (_, i) => i), 4095, 4096, 4097, 8191, 8193]) {
        const x = base.subarray(9000 - n); // odd byteOffsets too
        const yj = make(new Float64Array(n));
        const yw = make(new Float64Array(n + 3)).subarray(n % 4, (n % 4) + n); // and the destination
        yw.fill(7);
        fwdJs(x, yj, n);
        expect(eluForwardWasm(x, yw, n)).toBe(true);
        expect(firstMismatch(yj, yw)).toBe(-1);
      }
    });

    it(`${dtype}: backward g·(min(y, 0) + 1), y from the forward and arbitrary`, () => {
      const x = make(inputs64(N_ID));
      const y = make(new Float64Array(N_ID));
      fwdJs(x, y, N_ID);
      const yAny = make(bitPatterns64(N_ID));
      const z = new Float64Array(N_ID);
      new Rng(8).normal(z);
      const g = make(z);
      g.set(edges().slice(0, 30), 0); // g = ±0, NaN, ±∞, … too
      for (const yy of [y, yAny]) {
        const oj = make(new Float64Array(N_ID));
        const ow = make(new Float64Array(N_ID));
        bwdJs(g, yy, oj, N_ID);
        expect(eluBackwardWasm(g, yy, ow, N_ID)).toBe(true);
        expect(firstMismatch(oj, ow)).toBe(-1);
        const gg = g.slice(); // out = g, in place
        expect(eluBackwardWasm(gg, yy, gg, N_ID)).toBe(true);
        expect(firstMismatch(oj, gg)).toBe(-1);
      }
    });
  }

  it("the heap is returned; a full heap falls back to the twin with the same bits", () => {
    const x = inputs64(20_000);
    const y1 = new Float64Array(x.length);
    const y2 = new Float64Array(x.length);
    const before = heapLiveBytes();
    E.setEluBackend("wasm");
    eluForward(x, y1, x.length);
    eluBackward(x, y1, y2, x.length);
    expect(heapLiveBytes()).toBe(before);
    // a chunk size not used before (the heap reuses freed regions of a size past its cap)
    const xs = x.subarray(0, 3001);
    const ys = new Float64Array(xs.length);
    const old = setHeapLimit(0);
    try {
      expect(eluForwardWasm(xs, ys, xs.length)).toBe(false);
      expect(eluBackwardWasm(xs, ys, ys, xs.length)).toBe(false);
      eluForward(xs, ys, xs.length); // falls back to the twin
      expect(firstMismatch(ys, y1.subarray(0, 3001))).toBe(-1);
    } finally {
      setHeapLimit(old);
    }
    expect(heapLiveBytes()).toBe(before);
  });
});

/** |a − b| in units in the last place, for a, b of the same sign (bit-pattern distance). */
function ulps64(a: number, b: number): number {
  const v = new BigInt64Array(new Float64Array([a, b]).buffer);
  const d = v[0]! - v[1]!;
  return Number(d < 0n ? -d : d);
}
function ulps32(a: number, b: number): number {
  const v = new Int32Array(new Float32Array([a, b]).buffer);
  return Math.abs(v[0]! - v[1]!);
}

describe("accuracy of eˣ − 1 (x < 0) against fdlibm's expm1", () => {
  for (const backend of ["js", "wasm"] as const) {
    it.skipIf(backend === "wasm" && !simd)(`float64 (${backend}): ≤ 2 ulp on 10⁶ inputs`, () => {
      E.setEluBackend(backend);
      const n = 1_000_000;
      const x = new Float64Array(n);
      const bits = bitPatterns64(n);
      const u = uniform(n);
      const e = edges().filter((v) => v < 0);
      x.set(e);
      for (let i = e.length; i < n; i++) {
        const m = i % 5;
        const b = -Math.abs(bits[i]!);
        // random bit patterns in [−50, 0) (as likely tiny as large), uniform, near 0, near the clamp
        x[i] =
          m === 0
            ? b >= -50
              ? b
              : -50 * u[i]!
            : m === 1
              ? -50 * u[i]!
              : m === 2
                ? -0.75 * u[i]!
                : m === 3
                  ? -Math.exp(-40 * u[i]!)
                  : -35 - 7 * u[i]!;
      }
      const y = new Float64Array(n);
      eluForward(x, y, n);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        if (Number.isNaN(v) || !(v < 0)) continue;
        const d = ulps64(y[i]!, math.expm1(v));
        if (d > worst) {
          worst = d;
          at = v;
        }
      }
      expect(worst, `max ${worst} ulp at ${at}`).toBeLessThanOrEqual(2);
    });

    it.skipIf(backend === "wasm" && !simd)(
      `float32 (${backend}): ≤ 1 ulp of fround(expm1) on 2·10⁶ bit patterns (every 1024th negative float32)`,
      () => {
        E.setEluBackend(backend);
        // every 1024th bit pattern from −0 down to −∞ (0x80000000 … 0xff800000)
        const n = (0xff800000 - 0x80000000) / 1024 + 1;
        const w = new Uint32Array(n);
        for (let i = 0; i < n; i++) w[i] = 0x80000000 + i * 1024 + (i % 1024);
        const x = new Float32Array(w.buffer);
        const y = new Float32Array(n);
        eluForward(x, y, n);
        let worst = 0;
        let at = 0;
        for (let i = 0; i < n; i++) {
          const v = x[i]!;
          const ref = Math.fround(math.expm1(v));
          const d = v === 0 ? (Object.is(y[i], v) ? 0 : 1) : ulps32(y[i]!, ref);
          if (d > worst) {
            worst = d;
            at = v;
          }
        }
        expect(worst, `max ${worst} ulp at ${at}`).toBeLessThanOrEqual(1);
      },
    );
  }

  it("exact where the answer is: −0 → −0, tiny x → x, x ≤ −40 (float32 −18) → −1, NaN → NaN", () => {
    for (const backend of simd ? (["js", "wasm"] as const) : (["js"] as const)) {
      E.setEluBackend(backend);
      const x = new Float64Array([-0, -5e-324, -1e-300, -1e-17, -40, -41, -1e10, -Infinity, Number.NaN]);
      const y = new Float64Array(x.length);
      eluForward(x, y, x.length);
      expect(Array.from(y)).toEqual([-0, -5e-324, -1e-300, -1e-17, -1, -1, -1, -1, Number.NaN]);
      expect(Object.is(y[0], -0)).toBe(true);
      const x32 = new Float32Array([-0, -1e-45, -1e-38, -1e-9, -18, -19, -Infinity, Number.NaN]);
      const y32 = new Float32Array(x32.length);
      eluForward(x32, y32, x32.length);
      expect(Array.from(y32)).toEqual([
        -0,
        Math.fround(-1e-45),
        Math.fround(-1e-38),
        Math.fround(-1e-9),
        -1,
        -1,
        -1,
        Number.NaN,
      ]);
      expect(Object.is(y32[0], -0)).toBe(true);
    }
  });
});

describe("the ops under every backend", () => {
  const backends = (simd ? ["js", "wasm", "auto"] : ["js"]) as E.EluBackend[];
  for (const dtype of ["float64", "float32"] as const) {
    it(`${dtype}: elu and linearElu, values and gradients, the same bits under ${backends.join(", ")} and setConvBackend("js")`, () => {
      const r = new Rng(3);
      const rand = (shape: number[], sd: number) => {
        const z = new Float64Array(shape.reduce((a, b) => a * b, 1));
        r.normal(z);
        for (let i = 0; i < z.length; i++) z[i]! *= sd;
        return E.tensor(z, shape, dtype);
      };
      const p = { x: rand([300, 7], 2), w: rand([50, 7], 1), b: rand([50], 1) };
      const proj = rand([300, 50], 1);
      const run = () => {
        const f = (q: typeof p) =>
          E.sum(E.mul(E.add(E.linearElu(q.x, q.w, q.b), E.elu(E.linear(q.x, q.w, null))), proj));
        const { value, grads } = E.valueAndGrad(f)(p);
        return [new Float64Array([value]), grads.x.data, grads.w.data, grads.b.data, E.elu(p.x).data];
      };
      E.setEluBackend("js");
      const ref = run();
      for (const b of backends) {
        E.setEluBackend(b);
        const got = run();
        for (let k = 0; k < ref.length; k++) expect(firstMismatch(got[k]!, ref[k]!), `${b} #${k}`).toBe(-1);
      }
      E.setEluBackend("wasm");
      E.setConvBackend("js"); // no WebAssembly at all: the twins
      const got = run();
      for (let k = 0; k < ref.length; k++) expect(firstMismatch(got[k]!, ref[k]!)).toBe(-1);
    });
  }
});
