/**
 * src/math: elementary functions from basic arithmetic, so that every JavaScript engine gives
 * the same bits (test/browser.test.ts checks Chromium against Node on whole computations).
 * - V8 computes Math.exp, log, expm1, log1p, tanh, sin, cos, atan, atan2, acosh with fdlibm, so in
 *   Node ours must equal them bit for bit: this proves each port faithful, on 10⁵ inputs per
 *   function and scale, random bit patterns (NaN, ±∞, subnormals) included.
 * - V8's `**` is not fdlibm's pow, so ours is held to ≤ 1 ulp of it, to exact values, and to
 *   ECMAScript's special cases.
 * - Fixed checksums pin every function's output, so no edit changes results unnoticed.
 */
import { describe, expect, it } from "vitest";
import * as math from "../src/math/index.js";

/** A deterministic stream of doubles: uniform on ±scale/2, or raw 64-bit patterns (scale 0). */
function inputs(n: number, scale: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  const u32 = new Uint32Array(out.buffer);
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: enough to spread the inputs
    return s;
  };
  for (let i = 0; i < n; i++) {
    if (scale === 0) {
      u32[2 * i] = next();
      u32[2 * i + 1] = next();
    } else {
      out[i] = ((next() * 2 ** 21 + (next() >>> 11)) / 2 ** 53 - 0.5) * scale;
    }
  }
  return out;
}

const SPECIAL = [0, -0, 1, -1, 0.5, -0.5, 2, Math.PI, -Math.PI / 2, 22, -22, 709.78, -745.2, 710, -746];
const SPECIAL_ALL = [...SPECIAL, Number.NaN, Infinity, -Infinity, 5e-324, -5e-324, 2.2e-308, 1e-300, 1e300];

/** xor-fold of the outputs' bits: a compact fingerprint of a function on the test inputs. */
function checksum(f: (x: number) => number, xs: Float64Array): string {
  const out = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = f(xs[i]!);
  const u = new Uint32Array(out.buffer);
  let a = 0;
  let b = 0;
  for (let i = 0; i < u.length; i += 2) {
    a = (Math.imul(a, 31) + u[i]!) >>> 0;
    b = (Math.imul(b, 37) + u[i + 1]!) >>> 0;
  }
  return `${a.toString(16)}:${b.toString(16)}`;
}

const unary: [string, (x: number) => number, (x: number) => number, number[]][] = [
  ["exp", math.exp, Math.exp, [1, 10, 100, 1500, 1e-7, 0]],
  ["expm1", math.expm1, Math.expm1, [1, 10, 100, 1500, 1e-7, 0]],
  ["log", math.log, Math.log, [1, 10, 1e6, 1e-7, 0]],
  ["log1p", math.log1p, Math.log1p, [1, 2, 10, 1e6, 1e-7, 0]],
  ["tanh", math.tanh, Math.tanh, [1, 4, 50, 1e-7, 0]],
  ["sin", math.sin, Math.sin, [1, 7, 100, 1e5, 1e-7, 0]],
  ["cos", math.cos, Math.cos, [1, 7, 100, 1e5, 1e-7, 0]],
  ["atan", math.atan, Math.atan, [1, 4, 100, 1e20, 1e-7, 0]],
  ["acosh", (x) => math.acosh(1 + Math.abs(x)), (x) => Math.acosh(1 + Math.abs(x)), [1e-6, 2, 20, 1e10, 0]],
];

describe("deterministic elementary functions", () => {
  for (const [name, ours, theirs, scales] of unary) {
    it(`${name} equals V8's fdlibm bit for bit`, () => {
      for (const scale of scales) {
        const xs = inputs(100_000, scale, 17);
        for (const x of [...xs, ...SPECIAL_ALL]) {
          const a = ours(name === "log" && scale !== 0 ? Math.abs(x) : x);
          const b = theirs(name === "log" && scale !== 0 ? Math.abs(x) : x);
          if (!Object.is(a, b)) expect({ x, ours: a }).toEqual({ x, ours: b });
        }
      }
    });
  }

  it("sincos gives the bits of sin and cos", () => {
    const out = new Float64Array(2);
    for (const scale of [1, 7, 100, 1e6, 1e-7, 0])
      for (const x of [...inputs(50_000, scale, 23), ...SPECIAL_ALL]) {
        math.sincos(x, out);
        if (!Object.is(out[0], math.sin(x)) || !Object.is(out[1], math.cos(x)))
          expect({ x, sin: out[0], cos: out[1] }).toEqual({ x, sin: math.sin(x), cos: math.cos(x) });
      }
  });

  it("atan2 equals V8's fdlibm bit for bit, signed zeros and infinities included", () => {
    const ys = inputs(100_000, 4, 3);
    const xs = inputs(100_000, 4, 4);
    const raw = inputs(100_000, 0, 5);
    const pairs: [number, number][] = [];
    for (let i = 0; i < ys.length; i++) pairs.push([ys[i]!, xs[i]!], [raw[i]!, raw[(i + 1) % raw.length]!]);
    for (const y of SPECIAL_ALL) for (const x of SPECIAL_ALL) pairs.push([y, x]);
    for (const [y, x] of pairs) {
      const a = math.atan2(y, x);
      const b = Math.atan2(y, x);
      if (!Object.is(a, b)) expect({ y, x, ours: a }).toEqual({ y, x, ours: b });
    }
  });

  it("pow is within 1 ulp of V8's, exact where the value is, and follows ECMAScript's special cases", () => {
    const ulp = (v: number) => {
      const a = Math.abs(v);
      return a < 2.2250738585072014e-308 ? 5e-324 : 2 ** (Math.floor(Math.log2(a)) - 52); // subnormal: 2⁻¹⁰⁷⁴
    };
    const xs = inputs(100_000, 20, 7);
    const ys = inputs(100_000, 16, 8);
    let worst = 0;
    for (let i = 0; i < xs.length; i++) {
      for (const [x, y] of [
        [Math.abs(xs[i]!), ys[i]!],
        [xs[i]!, Math.round(ys[i]! * 4)],
        [0.9, i + 1],
        [0.999, i + 1],
      ] as const) {
        const a = math.pow(x, y);
        const b = x ** y;
        if (Number.isFinite(b)) worst = Math.max(worst, Math.abs(a - b) / ulp(b));
        else expect(Object.is(a, b), `pow(${x}, ${y})`).toBe(true);
      }
    }
    expect(worst).toBeLessThanOrEqual(1);
    const exact: [number, number, number][] = [
      [2, 10, 1024],
      [10, 3, 1000],
      [0.5, 3, 0.125],
      [-2, 3, -8],
      [-2, 4, 16],
      [2, 0.5, Math.SQRT2],
      [2, -1074, 5e-324],
      [2, 1023, 8.98846567431158e307],
      [9, 0.5, 3],
      [1, 1e300, 1],
    ];
    for (const [x, y, v] of exact) expect(math.pow(x, y), `pow(${x}, ${y})`).toBe(v);
    for (const x of SPECIAL_ALL)
      for (const y of SPECIAL_ALL) {
        const special = !Number.isFinite(x) || !Number.isFinite(y) || x === 0 || y === 0;
        if (special || (x < 0 && !Number.isInteger(y)) || Math.abs(x) === 1)
          expect(Object.is(math.pow(x, y), x ** y), `pow(${x}, ${y})`).toBe(true);
      }
    expect(math.pow(2, 1024)).toBe(Infinity);
    expect(math.pow(0.5, 1075)).toBe(0);
  });

  it("outputs are pinned (checksums over fixed inputs)", () => {
    const xs = inputs(20_000, 10, 99);
    const pos = xs.map(Math.abs);
    const sums = {
      exp: checksum(math.exp, xs),
      expm1: checksum(math.expm1, xs),
      log: checksum(math.log, pos),
      log1p: checksum(math.log1p, pos),
      tanh: checksum(math.tanh, xs),
      sin: checksum(math.sin, xs),
      cos: checksum(math.cos, xs),
      atan: checksum(math.atan, xs),
      atan2: checksum((x) => math.atan2(x, 0.75), xs),
      pow: checksum((x) => math.pow(Math.abs(x), 0.37), xs),
    };
    expect(sums).toEqual(PINNED);
  });
});

const PINNED = {
  atan: "353b07bb:dba8b1e1",
  atan2: "64df9c6d:95688c9d",
  cos: "74d3699:bd0224e",
  exp: "c31f2a9f:23844d73",
  expm1: "f99ed2ad:86c8f33c",
  log: "694a9adf:52cc823f",
  log1p: "428a8f1d:4886f688",
  pow: "5c636873:8ebb725a",
  sin: "ba49622a:e4820f28",
  tanh: "749e6847:bf7b04eb",
};
