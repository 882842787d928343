/**
 * The fused RK4 step of the continuous flow (src/engine/fused/cnf-*.ts, kernels in
 * src/engine/wasm/cnf-*.ts) against the op path (ContinuousFlowLayer with fused: false), the
 * reference: the lattice FFT against a naive DFT, the SIMD sines against their TypeScript twin
 * (same bits), then x, log-det and every gradient (parameters and input) of the flow, forward
 * and inverse, to 1e-12 in float64 for both convolutions (FFT, dense), with WebAssembly SIMD
 * (all in WebAssembly memory) and without (the TypeScript twins), on square, non-square, odd,
 * 3-d and 32×32 lattices and odd batches; central finite differences; float32 against the
 * float64 reference; the ĥ cache changing no bit; no heap leak.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { cnfConvPlan } from "../src/engine/fused/cnf-conv.js";
import { fftLattice, latticeFft } from "../src/engine/fused/cnf-fft.js";
import {
  cnfCachedBytes,
  fftHeap,
  residentApplies,
  setCnfCacheBytes,
} from "../src/engine/fused/cnf-resident.js";
import { setCnfSimd } from "../src/engine/fused/cnf-shared.js";
import * as E from "../src/engine/index.js";
import { cnfFftKernels } from "../src/engine/wasm/cnf-fft-simd.js";
import { cnfSinCos, cnfSinCosKernels, SINCOS_MAX_ARG } from "../src/engine/wasm/cnf-sincos.js";
import { alloc, free, heapLiveBytes, view } from "../src/engine/wasm/simd-heap.js";
import { type ContinuousFlowConfig, ContinuousFlowLayer } from "../src/flows/continuous-flow.js";
import { offsetOrbits } from "../src/flows/equivariant-vector-field.js";
import * as math from "../src/math/index.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

const simd = E.simdSupported();

afterEach(() => {
  setCnfSimd(true);
  E.setConvBackend("wasm");
});
afterAll(() => setCnfCacheBytes(1024 * 1024 * 1024));

function randn(n: number, seed: number, s = 1): Float64Array {
  const v = new Float64Array(n);
  new Rng(seed).normal(v);
  for (let i = 0; i < n; i++) v[i]! *= s;
  return v;
}

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return Number.isNaN(d) ? Number.POSITIVE_INFINITY : s === 0 ? d : d / s;
}

describe("lattice FFT (cnf-fft.ts, cnf-fft-simd.ts)", () => {
  const shapes = [[8], [12], [4, 4], [6, 5], [7, 7], [3, 2, 4], [16, 32]];
  for (const shape of shapes) {
    it(`[${shape}]: forward = naive DFT (digit-reversed order), inverse ∘ forward = V·id, SIMD stages = TypeScript`, () => {
      const V = shape.reduce((a, b) => a * b, 1);
      const c = 4;
      const M = 4 * c; // two complex blocks of 4 per site
      const x = randn(V * M, 1);
      const plan = latticeFft(shape);
      const y = x.slice();
      fftLattice(plan, y, M, c, false);
      // naive: X(p) = Σ_s x(s) e^{−2πi p·s/L}, per complex lane (block u, index j)
      const coord = (i: number) => {
        const out: number[] = [];
        for (let a = shape.length - 1; a >= 0; a--) {
          out[a] = i % shape[a]!;
          i = Math.floor(i / shape[a]!);
        }
        return out;
      };
      const sc = new Float64Array(2);
      let err = 0;
      let scale = 0;
      for (let pos = 0; pos < V; pos++) {
        const p = coord(plan.frequencyAt[pos]!);
        for (let lane = 0; lane < M / 2; lane++) {
          const re = Math.floor(lane / c) * 2 * c + (lane % c);
          let sr = 0;
          let si = 0;
          for (let s = 0; s < V; s++) {
            const q = coord(s);
            let ph = 0;
            for (let a = 0; a < shape.length; a++) ph += (p[a]! * q[a]!) / shape[a]!;
            math.sincos(-2 * Math.PI * ph, sc);
            const [xr, xi] = [x[s * M + re]!, x[s * M + re + c]!];
            sr += xr * sc[1]! - xi * sc[0]!;
            si += xr * sc[0]! + xi * sc[1]!;
          }
          err = Math.max(err, Math.abs(y[pos * M + re]! - sr), Math.abs(y[pos * M + re + c]! - si));
          scale = Math.max(scale, Math.abs(sr), Math.abs(si));
        }
      }
      expect(err / scale).toBeLessThan(1e-13);
      const back = y.slice();
      fftLattice(plan, back, M, c, true);
      expect(
        relErr(
          back.map((u) => u / V),
          x,
        ),
      ).toBeLessThan(1e-14);
      if (!simd) return;
      const { orbit, count } = offsetOrbits(shape);
      const cp = cnfConvPlan("fft", shape, orbit, count, 2);
      const fk = cnfFftKernels("float64")!;
      const off = alloc(8 * V * M);
      try {
        view("float64", off, V * M).set(x);
        fftHeap(cp, "float64", fk, off, M, c, false);
        expect(relErr(view("float64", off, V * M), y)).toBeLessThan(1e-15);
        fftHeap(cp, "float64", fk, off, M, c, true);
        expect(relErr(view("float64", off, V * M), back)).toBeLessThan(1e-15);
      } finally {
        free(off);
      }
    });
  }
});

describe("sines (cnf-sincos.ts)", () => {
  it("the twin is sin and cos to 3e-16 (math.sincos beyond its range)", () => {
    const rng = new Rng(3);
    const a = new Float64Array(2);
    const b = new Float64Array(2);
    for (let i = 0; i < 20000; i++) {
      const x = (2 * rng.uniform() - 1) * (i < 10000 ? 60 : 2e6);
      cnfSinCos(x, a);
      math.sincos(x, b);
      expect(Math.abs(a[0]! - b[0]!)).toBeLessThan(3e-16);
      expect(Math.abs(a[1]! - b[1]!)).toBeLessThan(3e-16);
    }
    for (const x of [0, -0, Math.PI / 4, (3 * Math.PI) / 4, -Math.PI, SINCOS_MAX_ARG * 0.999]) {
      cnfSinCos(x, a);
      math.sincos(x, b);
      expect(Math.abs(a[0]! - b[0]!)).toBeLessThan(3e-16);
    }
  });

  for (const dtype of ["float64", "float32"] as const)
    it.runIf(simd)(`${dtype}: the kernels give the twin's bits (T, C, cosine sums)`, () => {
      const k = cnfSinCosKernels(dtype)!;
      const [K, Bp, V] = [7, 4, 3];
      const [P, pairs, rows, eb] = [K + 1, (K + 1) >> 1, Bp * V, dtype === "float32" ? 4 : 8];
      const phi = randn(rows, 4, 2);
      const w = randn(K, 5, 3);
      const offs = [rows * 8, pairs * 16, rows * P * eb, rows * pairs * 16, Bp * pairs * 16].map((n) =>
        alloc(n),
      );
      const [ph, om, tt, cc, cs] = offs as [number, number, number, number, number];
      try {
        view("float64", ph, rows).set(phi);
        view("float64", om, 2 * pairs).set([...w, 0]);
        view("float64", cs, Bp * pairs * 2).fill(0);
        k.sinesStore(ph, rows, om, pairs, tt, P * eb, K * eb, cc, Bp, cs, 0, 0, 0);
        const T = view(dtype, tt, rows * P);
        const C = view("float64", cc, rows * pairs * 2);
        const S = view("float64", cs, Bp * pairs * 2);
        const sc = new Float64Array(2);
        const round = dtype === "float32" ? Math.fround : (u: number) => u;
        const sums = new Float64Array(Bp * K);
        for (let r = 0; r < rows; r++) {
          for (let q = 0; q < K; q++) {
            cnfSinCos(w[q]! * phi[r]!, sc);
            expect(T[r * P + q]).toBe(round(sc[0]!));
            expect(C[r * 2 * pairs + q]).toBe(sc[1]);
            sums[(r % Bp) * K + q]! += sc[1];
          }
          expect(T[r * P + K]).toBe(round(phi[r]!));
        }
        for (let b = 0; b < Bp; b++)
          for (let q = 0; q < K; q++) expect(S[b * 2 * pairs + q]).toBe(sums[b * K + q]);
      } finally {
        free(...offs);
      }
    });
});

const SMALL = { frequencies: 7, timeFrequencies: 2, featureBond: 4, timeBond: 3 };

function layer(shape: number[], o: Partial<ContinuousFlowConfig> = {}): ContinuousFlowLayer {
  return new ContinuousFlowLayer({ latticeShape: shape, steps: 3, ...SMALL, ...o });
}

/** Parameters off the identity (w ≠ 0), in float64. */
function params(b: ContinuousFlowLayer, seed: number, amp = 1): E.Params {
  const p = b.initParams(new Rng(seed), "float64");
  const rng = new Rng(seed + 100);
  for (const t of Object.values(p))
    for (let i = 0; i < t.size; i++) t.data[i]! += amp * (2 * rng.uniform() - 1);
  return p;
}

function cast(p: E.Params, dtype: E.DType): E.Params {
  const out: E.Params = {};
  for (const [k, t] of Object.entries(p)) out[k] = E.tensor(t.data, t.shape, dtype);
  return out;
}

/** y, log-det and the gradient of a random projection of both, in the parameters and in x. */
function run(b: ContinuousFlowLayer, p: E.Params, x: E.Tensor, inverse = false) {
  const B = x.shape[0]!;
  const r1 = E.tensor(randn(x.size, 7), x.shape, x.dtype);
  const r2 = E.tensor(randn(B, 8), [B], x.dtype);
  const f = (q: E.Params) => {
    const r = inverse ? b.inverseAndLogDet(q, q.x!) : b.forwardAndLogDet(q, q.x!);
    const y = "y" in r ? r.y : r.x;
    return E.add(E.sum(E.mul(y, r1)), E.sum(E.mul(r.logDet, r2)));
  };
  const direct = inverse ? b.inverseAndLogDet(p, x) : b.forwardAndLogDet(p, x);
  const { value, grads } = E.valueAndGrad(f)({ ...p, x });
  return { y: "y" in direct ? direct.y.data : direct.x.data, logDet: direct.logDet.data, value, grads };
}

function compare(a: ReturnType<typeof run>, b: ReturnType<typeof run>, tol: number): void {
  expect(relErr(a.y, b.y), "y").toBeLessThan(tol);
  expect(relErr(a.logDet, b.logDet), "log-det").toBeLessThan(tol);
  for (const k of Object.keys(b.grads))
    expect(relErr(a.grads[k]!.data, b.grads[k]!.data), k).toBeLessThan(tol);
}

const CASES: { shape: number[]; B: number }[] = [
  { shape: [4, 4], B: 4 },
  { shape: [4, 3], B: 3 },
  { shape: [5, 5], B: 2 },
  { shape: [2, 3, 4], B: 5 },
  { shape: [6, 6], B: 4 },
  { shape: [8, 8], B: 1 },
];

describe("fused RK4 step against the op path, float64", () => {
  for (const { shape, B } of CASES)
    for (const conv of ["fft", "dense"] as const)
      for (const backend of ["simd", "twin"] as const)
        it(`[${shape}], batch ${B}, ${conv}, ${backend}: x, log-det, gradients to 1e-12, forward and inverse`, () => {
          if (backend === "twin") {
            setCnfSimd(false);
            E.setConvBackend("js");
          }
          const V = shape.reduce((a, c) => a * c, 1);
          const ref = layer(shape, { fused: false });
          const fused = layer(shape, { convolution: conv });
          const p = params(ref, 1);
          const x = E.tensor(randn(B * V, 2, 1.2), [B, ...shape]);
          // Every batch: v's Fourier blocks are padded to whole vectors (cnf-resident.ts).
          if (simd && backend === "simd" && conv === "fft")
            expect(residentApplies(fused.field.convPlan("fft"), "float64", B)).toBe(true);
          for (const inverse of [false, true]) {
            const a = run(fused, p, x, inverse);
            const b = run(ref, p, x, inverse);
            expect(relErr(b.y, x.data), "far from the identity").toBeGreaterThan(0.05);
            compare(a, b, 1e-12);
          }
        });

  it("32×32 (V = 1024): one RK4 step, FFT against the op path", () => {
    const ref = new ContinuousFlowLayer({ latticeShape: [32, 32], steps: 1, ...SMALL, fused: false });
    const fused = new ContinuousFlowLayer({ latticeShape: [32, 32], steps: 1, ...SMALL });
    const p = params(ref, 3, 0.5);
    const x = E.tensor(randn(2 * 1024, 4), [2, 32, 32]);
    compare(run(fused, p, x), run(ref, p, x), 1e-12);
  });

  it("arguments beyond the SIMD sines' range take the twin, still equal to the op path", () => {
    const ref = layer([4, 4], { fused: false, steps: 1 });
    const fused = layer([4, 4], { steps: 1 });
    const p = params(ref, 5);
    p.omega!.data[0] = 3e5; // |ω φ| up to ~1e6 > SINCOS_MAX_ARG
    // A weak feature for it, so that ∂v/∂φ stays O(1) and the solve does not amplify rounding.
    const K = SMALL.frequencies;
    for (let f = 0; f < SMALL.featureBond; f++) p.featureMix!.data[f * (K + 1)]! *= 1e-6;
    const x = E.tensor(randn(4 * 16, 6, 1.5), [4, 4, 4]);
    const a = fused.forwardAndLogDet(p, x);
    const b = ref.forwardAndLogDet(p, x);
    expect(relErr(a.y.data, b.y.data)).toBeLessThan(1e-12);
    expect(relErr(a.logDet.data, b.logDet.data)).toBeLessThan(1e-12);
  });

  it("the ĥ cache changes no bit, and no WebAssembly memory is left behind", () => {
    const fused = layer([8, 8], { steps: 2 });
    const p = params(fused, 7);
    const x = E.tensor(randn(4 * 64, 8), [4, 8, 8]);
    run(fused, p, x); // warm-up: twiddle tables stay resident
    const live = heapLiveBytes();
    const kept = run(fused, p, x);
    expect(heapLiveBytes()).toBe(live);
    expect(cnfCachedBytes()).toBe(0);
    setCnfCacheBytes(0);
    const none = run(fused, p, x);
    setCnfCacheBytes(8 * 4 * 64 * SMALL.featureBond * 5); // some stages kept, some not
    const some = run(fused, p, x);
    setCnfCacheBytes(1024 * 1024 * 1024);
    for (const r of [none, some]) {
      expect(Array.from(r.y)).toEqual(Array.from(kept.y));
      for (const k of Object.keys(kept.grads))
        expect(Array.from(r.grads[k]!.data)).toEqual(Array.from(kept.grads[k]!.data));
    }
    expect(heapLiveBytes()).toBe(live);
  });

  it.runIf(simd)("a taped step keeps ĥ per stage and k̂ per kernel (the midpoints share one)", () => {
    const fused = layer([8, 8], { steps: 2 });
    const p = params(fused, 7);
    const B = 4;
    const x = E.tensor(randn(B * 64, 8), [B, 8, 8]);
    let during = -1;
    E.valueAndGrad((q: E.Params) => {
      const r = fused.forwardAndLogDet(q, q.x!);
      during = cnfCachedBytes();
      return E.add(E.sum(r.y), E.sum(r.logDet));
    })({ ...p, x });
    const [V, F, eb] = [64, SMALL.featureBond, 8];
    // 2 RK4 steps × (4 stages' ĥ [B·V, F] + 3 kernels' k̂ [V, F]); 4 k̂ would mean no sharing.
    expect(during).toBe(2 * (4 * B * V * F * eb + 3 * V * F * eb));
    expect(cnfCachedBytes()).toBe(0);
  });
});

describe("fused RK4 step: finite differences and float32", () => {
  it("float64 gradients in the parameters and the input match central differences", () => {
    const b = layer([4, 3], { steps: 2 });
    const p = params(b, 9, 0.5);
    const x = E.tensor(randn(2 * 12, 10), [2, 4, 3]);
    const r1 = E.tensor(randn(24, 11), [2, 4, 3]);
    const r2 = E.tensor(randn(2, 12), [2]);
    gradcheck(
      (q) => {
        const r = b.forwardAndLogDet(q, q.x!);
        return E.add(E.sum(E.mul(r.y, r1)), E.sum(E.mul(r.logDet, r2)));
      },
      { ...p, x },
    );
  });

  for (const conv of ["fft", "dense"] as const)
    for (const B of [8, 4, 3, 1])
      it(`float32 (${conv}), batch ${B}, is the float64 reference to float32 precision`, () => {
        const ref = layer([8, 8], { fused: false });
        const fused = layer([8, 8], { convolution: conv });
        // A shard of 4 (batch 8 on 2 threads) once fell back to ordinary arrays: not any more.
        if (simd && conv === "fft")
          expect(residentApplies(fused.field.convPlan("fft"), "float32", B)).toBe(true);
        const p = params(ref, 13);
        const x = randn(B * 64, 14);
        const b = run(ref, p, E.tensor(x, [B, 8, 8]));
        const a = run(fused, cast(p, "float32"), E.tensor(x, [B, 8, 8], "float32"));
        compare(a, b, 2e-5);
      });
});
