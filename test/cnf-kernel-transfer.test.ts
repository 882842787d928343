/**
 * Moving a cnf flow to a larger lattice (src/flows/cnf-kernel-transfer.ts, arXiv 2207.00283):
 * the embedded kernel against its formula offset by offset; the tiling identity
 * f_T(tile z) = tile f_S(z), log-det_T = (V_T/V_S)·log-det_S to rounding (fused step and op
 * path, forward and inverse); without the boundary halving, or halving on an axis that did not
 * grow, the identity fails; a smaller lattice, another dimension or a square target of a
 * non-square source are refused with one line.
 */
import { describe, expect, it } from "vitest";
import { type Params, Tensor, zeros } from "../src/engine/index.js";
import { cnfTransferProblem, embedCnfKernel } from "../src/flows/cnf-kernel-transfer.js";
import { ContinuousFlowLayer } from "../src/flows/continuous-flow.js";
import { offsetOrbits } from "../src/flows/equivariant-vector-field.js";
import { applySettings, buildModel, presetConfig } from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";

const SMALL = { flow: "cnf", odeSteps: 3, frequencies: 5, timeFrequencies: 2, hidden: [4, 3] };
const [F, T] = SMALL.hidden as [number, number];
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The cnf layer of the model description on `shape` (fused step, or the op path). */
function cnfLayer(shape: number[], fused: boolean): ContinuousFlowLayer {
  const c = applySettings(presetConfig("phi4-notebook"), { ...SMALL, L: shape[0], dim: shape.length }, "t");
  (c.theory as { latticeShape: number[] }).latticeShape = shape;
  const layer = buildModel(c).flow.layers[0] as ContinuousFlowLayer;
  expect(layer).toBeInstanceOf(ContinuousFlowLayer);
  return fused ? layer : new ContinuousFlowLayer({ ...layer.config, fused: false });
}

/** Random parameters far from the identity (w starts at zero). */
function randomParams(layer: ContinuousFlowLayer, seed: number): Params {
  const p = layer.initParams(new Rng(seed), "float64");
  const rng = new Rng(seed + 1);
  for (const t of Object.values(p)) for (let i = 0; i < t.size; i++) t.data[i]! += 2 * rng.uniform() - 1;
  return p;
}

/** Minimal-image coordinates of offset i (row-major) of `shape`: −L/2 < d ≤ L/2. */
function offset(i: number, shape: readonly number[]): number[] {
  const d = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    const c = i % shape[a]!;
    i = (i - c) / shape[a]!;
    d[a] = 2 * c <= shape[a]! ? c : c - shape[a]!;
  }
  return d;
}

/** Row-major index of coordinates c (taken mod `shape`). */
const indexOf = (c: readonly number[], shape: readonly number[]) =>
  c.reduce((j, x, a) => j * shape[a]! + (((x % shape[a]!) + shape[a]!) % shape[a]!), 0);

/** [B, ...to] repeating the [B, ...from] fields z. */
function tile(z: Tensor, to: number[]): Tensor {
  const from = z.shape.slice(1);
  const [B, Vs, Vt] = [z.shape[0]!, prod(from), prod(to)];
  const out = zeros([B, ...to]);
  for (let i = 0; i < Vt; i++) {
    const j = indexOf(offset(i, to), from);
    for (let b = 0; b < B; b++) out.data[b * Vt + i] = z.data[b * Vs + j]!;
  }
  return out;
}

/**
 * The kernel by the formula, offset by offset: Kₜ(d) = Kₛ(d mod Lₛ)·Π_a half(Lₛ, Lₜ) over the axes
 * with |d_a| = Lₛ/2, zero outside |d_a| ≤ Lₛ/2; every offset of an orbit must give the same value.
 */
function embedByFormula(
  w: ArrayLike<number>,
  from: number[],
  to: number[],
  half: (Ls: number, Lt: number) => number,
): Float64Array {
  const src = offsetOrbits(from);
  const dst = offsetOrbits(to);
  const out = new Float64Array(dst.count * F * T).fill(Number.NaN);
  for (let i = 0; i < prod(to); i++) {
    const d = offset(i, to);
    let weight = 1;
    d.forEach((x, a) => {
      if (2 * Math.abs(x) > from[a]!) weight = 0;
      if (2 * Math.abs(x) === from[a]!) weight *= half(from[a]!, to[a]!);
    });
    const s = src.orbit[indexOf(d, from)]!;
    const o = dst.orbit[i]!;
    for (let e = 0; e < F * T; e++) {
      const v = weight * w[s * F * T + e]!;
      if (!Number.isNaN(out[o * F * T + e]!)) expect(out[o * F * T + e]).toBe(v);
      out[o * F * T + e] = v;
    }
  }
  return out;
}

const HALVE = (Ls: number, Lt: number) => (Lt > Ls ? 0.5 : 1);

/**
 * Max deviations of f_T(tile z) from tile f_S(z) and of log-det_T from (V_T/V_S)·log-det_S, over
 * forward and inverse, with the target kernel made by `embed` (default embedCnfKernel).
 */
function tilingDeviation(
  from: number[],
  to: number[],
  fused: boolean,
  embed = (w: Float64Array) => embedCnfKernel(w, F, T, from, to),
): { x: number; logDet: number; moved: number } {
  const S = cnfLayer(from, fused);
  const Tl = cnfLayer(to, fused);
  const ps = randomParams(S, 5);
  const pt = { ...ps, w: new Tensor(embed(ps.w!.data as Float64Array), [Tl.field.orbits, F, T]) };
  const z = zeros([3, ...from]);
  new Rng(9).normal(z.data);
  const ratio = prod(to) / prod(from);
  const dev = { x: 0, logDet: 0, moved: 0 };
  for (const dir of ["forwardAndLogDet", "inverseAndLogDet"] as const) {
    const s = S[dir](ps, z) as { y?: Tensor; x?: Tensor; logDet: Tensor };
    const t = Tl[dir](pt, tile(z, to)) as { y?: Tensor; x?: Tensor; logDet: Tensor };
    const [ys, yt] = [(s.y ?? s.x)!, (t.y ?? t.x)!];
    const tiled = tile(ys, to);
    for (let i = 0; i < yt.size; i++) dev.x = Math.max(dev.x, Math.abs(yt.data[i]! - tiled.data[i]!));
    for (let b = 0; b < 3; b++)
      dev.logDet = Math.max(dev.logDet, Math.abs(t.logDet.data[b]! - ratio * s.logDet.data[b]!));
    for (let i = 0; i < z.size; i++) dev.moved = Math.max(dev.moved, Math.abs(ys.data[i]! - z.data[i]!));
  }
  return dev;
}

const CASES: [number[], number[]][] = [
  [
    [4, 4],
    [8, 8],
  ],
  [
    [4, 4],
    [8, 12],
  ],
  [
    [4, 4],
    [4, 8],
  ], // axis 0 does not grow: its offset 2 is not halved
  [
    [3, 3],
    [6, 6],
  ], // odd source: no boundary
  [
    [2, 2, 2],
    [4, 4, 4],
  ], // corners halved three times
];

describe("embedCnfKernel", () => {
  for (const [from, to] of CASES)
    it(`is the formula at every offset of [${to}] from [${from}]`, () => {
      const w = randomParams(cnfLayer(from, true), 1).w!.data as Float64Array;
      const got = embedCnfKernel(w, F, T, from, to);
      expect(got.length).toBe(offsetOrbits(to).count * F * T);
      expect(Array.from(got)).toEqual(Array.from(embedByFormula(w, from, to, HALVE)));
      const w32 = Float32Array.from(w);
      const got32 = embedCnfKernel(w32, F, T, from, to);
      expect(got32).toBeInstanceOf(Float32Array);
      expect(Array.from(got32)).toEqual(Array.from(Float32Array.from(got)));
    });

  it("by hand on 2×2 → 4×4: K(0,0), K(0,1)/2, K(1,1)/4, zero at distance 2", () => {
    const w = Float64Array.from({ length: 3 * F * T }, (_, i) => i + 1);
    const got = embedCnfKernel(w, F, T, [2, 2], [4, 4]);
    const [src, dst] = [offsetOrbits([2, 2]).orbit, offsetOrbits([4, 4]).orbit];
    const at = (o: Int32Array, shape: number[], d: number[], data: ArrayLike<number>) =>
      Array.from({ length: F * T }, (_, e) => data[o[indexOf(d, shape)]! * F * T + e]!);
    const want = (d: number[], f: number) => at(src, [2, 2], d, w).map((v) => v * f);
    expect(at(dst, [4, 4], [0, 0], got)).toEqual(want([0, 0], 1));
    expect(at(dst, [4, 4], [0, 1], got)).toEqual(want([0, 1], 1 / 2));
    expect(at(dst, [4, 4], [1, 1], got)).toEqual(want([1, 1], 1 / 4));
    for (const d of [
      [0, 2],
      [1, 2],
      [2, 2],
    ])
      expect(at(dst, [4, 4], d, got).every((v) => v === 0)).toBe(true);
  });

  it("refuses a smaller lattice, another dimension, a square target of a non-square source: one line each", () => {
    const w = new Float64Array(offsetOrbits([4, 4]).count * F * T);
    const refusals: [number[], number[], RegExp][] = [
      [[4, 4], [2, 8], /^embedCnfKernel: lattice \[2,8\] is smaller than \[4,4\] on axis 0$/],
      [[4, 4], [8, 8, 8], /^embedCnfKernel: lattice \[4,4\] is 2-d, lattice \[8,8,8\] 3-d$/],
      [[4, 6], [12, 12], /^embedCnfKernel: lattice \[12,12\] is square, \[4,6\] is not: .*symmetry$/],
    ];
    for (const [from, to, message] of refusals) {
      expect(cnfTransferProblem(from, to)).not.toBeNull();
      expect(() => embedCnfKernel(w, F, T, from, to)).toThrow(message);
    }
    expect(cnfTransferProblem([4, 6], [12, 18])).toBeNull();
    expect(cnfTransferProblem([4, 4], [4, 4])).toBeNull();
  });
});

describe("the tiling identity f_T(tile z) = tile f_S(z), log-det_T = (V_T/V_S)·log-det_S", () => {
  for (const fused of [true, false])
    for (const [from, to] of CASES)
      it(`holds to 1e-10 from [${from}] to [${to}] (${fused ? "fused step" : "op path"}, forward and inverse)`, () => {
        const dev = tilingDeviation(from, to, fused);
        expect(dev.moved).toBeGreaterThan(0.1);
        expect(dev.x).toBeLessThan(1e-10);
        expect(dev.logDet).toBeLessThan(1e-10);
      });

  it("fails without the boundary halving (4×4 → 8×8)", () => {
    const dev = tilingDeviation([4, 4], [8, 8], true, (w) => embedByFormula(w, [4, 4], [8, 8], () => 1));
    expect(dev.x).toBeGreaterThan(1e-3);
  });

  it("fails when an axis that did not grow is halved too (4×4 → 4×8)", () => {
    const dev = tilingDeviation([4, 4], [4, 8], true, (w) => embedByFormula(w, [4, 4], [4, 8], () => 0.5));
    expect(dev.x).toBeGreaterThan(1e-3);
  });
});
