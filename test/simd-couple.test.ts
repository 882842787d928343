/**
 * The float32 SIMD end of a coupling layer (src/engine/wasm/simd-couple.ts): its tanh and
 * exp against Math.tanh / Math.exp in float32 ulps over the whole range, NaN propagation,
 * and the packed output (y, log|det J|) against the TypeScript loop, forward and inverse.
 */
import { describe, expect, it } from "vitest";
import { simdCouple, simdSupported } from "../src/engine/wasm/simd-runtime.js";

const n = 4;
const rows = 4;
const v = n * rows;
const g = { n, rows, pw: n + 2, pv: (n + 2) * (rows + 2), v };

/** |a − b| in units of the float32 ulp at b. */
function ulps(a: number, b: number): number {
  if (a === b) return 0;
  const e = Math.max(Math.floor(Math.log2(Math.abs(b))), -126);
  return Math.abs(a - b) / 2 ** (e - 23);
}

/** tanh(u) for every u through the kernel (all sites active; s = tanh(u) is written to h). */
function simdTanh(us: number[]): Float32Array {
  const out = new Float32Array(us.length);
  for (let at = 0; at < us.length; at += v) {
    const h = new Float32Array(2 * v);
    for (let s = 0; s < v && at + s < us.length; s++) h[s] = us[at + s]!;
    const ok = simdCouple(
      new Float32Array(v),
      h,
      new Float32Array(v).fill(1),
      1,
      false,
      new Float32Array(v + 1),
      g,
    );
    expect(ok).toBe(true);
    out.set(h.subarray(0, Math.min(v, us.length - at)), at);
  }
  return out;
}

describe.runIf(simdSupported())("SIMD coupling kernel (float32)", () => {
  it("tanh is within 3 float32 ulps of Math.tanh on [−20, 20], including tiny arguments", () => {
    const us: number[] = [0, -0, 1e-30, -1e-30, 1e-8, 0.625, -0.625, 0.62499, 9, 9.5, 20, -20];
    for (let i = 0; i <= 40000; i++) us.push(Math.fround(-20 + i * 1e-3));
    for (let i = -40; i <= 0; i++) us.push(Math.fround(2 ** (i / 2)), -Math.fround(2 ** (i / 2)));
    const got = simdTanh(us);
    let worst = 0;
    us.forEach((u, i) => {
      worst = Math.max(worst, ulps(got[i]!, Math.fround(Math.tanh(u))));
    });
    expect(worst).toBeLessThanOrEqual(3);
    expect(Object.is(got[1], -0) || got[1] === 0).toBe(true);
  });

  it("exp(±s) is within 3 float32 ulps of Math.exp for s in (−1, 1)", () => {
    // x = 1, t = tanh(0) = 0 at every site: y = e^{s} forward, e^{−s} inverse.
    for (const inverse of [false, true]) {
      let worst = 0;
      for (let at = -1; at < 1; at += 0.01) {
        const h = new Float32Array(2 * v);
        for (let s = 0; s < v; s++) h[s] = Math.atanh(Math.max(-0.999, Math.min(0.999, at + s * 6e-4)));
        const out = new Float32Array(v + 1);
        simdCouple(new Float32Array(v).fill(1), h, new Float32Array(v).fill(1), 1, inverse, out, g);
        for (let s = 0; s < v; s++)
          worst = Math.max(worst, ulps(out[s]!, Math.exp(inverse ? -h[s]! : h[s]!)));
      }
      expect(worst).toBeLessThanOrEqual(3);
    }
  });

  it("NaN in h propagates to y and log|det J|", () => {
    const h = new Float32Array(2 * v);
    h[3] = Number.NaN;
    const out = new Float32Array(v + 1);
    simdCouple(new Float32Array(v).fill(1), h, new Float32Array(v).fill(1), 1, false, out, g);
    expect(Number.isNaN(out[3]!)).toBe(true);
    expect(Number.isNaN(out[v]!)).toBe(true);
  });

  it("y and log|det J| equal the TypeScript loop to float32 rounding, forward and inverse", () => {
    const nb = 3;
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 6 - 3;
    const x = Float32Array.from({ length: nb * v }, rnd);
    const h0 = Float32Array.from({ length: nb * 2 * v }, rnd);
    const active = Float32Array.from({ length: v }, (_, s) => ((s % n) + Math.floor(s / n)) % 2);
    for (const inverse of [false, true]) {
      const h = h0.slice();
      const out = new Float32Array(nb * (v + 1));
      simdCouple(x, h, active, nb, inverse, out, g);
      for (let b = 0; b < nb; b++) {
        let ld = 0;
        for (let s = 0; s < v; s++) {
          const xv = x[b * v + s]!;
          const y = out[b * (v + 1) + s]!;
          if (!active[s]) {
            expect(y).toBe(xv);
            continue;
          }
          const sv = Math.fround(Math.tanh(h0[b * 2 * v + s]!));
          const tv = Math.fround(Math.tanh(h0[b * 2 * v + v + s]!));
          const want = inverse ? (xv - tv) * Math.exp(-sv) : xv * Math.exp(sv) + tv;
          expect(Math.abs(y - want)).toBeLessThanOrEqual(
            4e-7 * (Math.abs(xv * Math.exp(sv)) + Math.abs(tv) + 1),
          );
          ld += sv;
        }
        expect(out[b * (v + 1) + v]).toBeCloseTo(inverse ? -ld : ld, 5);
      }
    }
  });
});
