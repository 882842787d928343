/**
 * Winograd F(2×2, 3×3) for the float32 2-D 3×3 periodic correlation (Lavin & Gray,
 * arXiv 1509.09308): each 2×2 block of outputs ("tile") from its 4×4 window d of the padded
 * input,
 *
 *   y = Aᵀ [ Σ_i (G w_i Gᵀ) ⊙ (Bᵀ d_i B) ] A,
 *   Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]],  G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]],
 *   Aᵀ = [[1,1,1,0],[0,1,−1,−1]],
 *
 * 16 multiplies per tile and channel pair instead of 36; the sum over input channels is one
 * small matrix product per entry ξ of the 4×4 transform (16 products per block of tiles).
 * The weight gradient is the adjoint of the same computation:
 *
 *   ∂L/∂w_{o,i} = Gᵀ [ Σ_tiles (A ∂y_o Aᵀ) ⊙ (Bᵀ d_i B) ] G.
 *
 * Equal to the direct correlation in exact arithmetic; in float32 within a few ulp of the
 * result's scale (the transforms have entries 0, ±½, ±1). float64 keeps the direct kernels
 * (bit-identical to the TypeScript ones).
 *
 * This file: the plan, the transforms and the filter transforms; the two matrix products are
 * in simd-winograd-gemm.ts.
 *
 * Layout: lanes are 4 horizontally adjacent tiles; a "block" is `tileRows` rows of tiles of
 * one sample, `blockVectors` vectors per (ξ, channel). Arrays (byte offsets into memory):
 *   V[ξ][i][vec] input transform (ξ rows XI_PAD apart), M[ξ][o][vec] products, U[ξ][o/4][i][o mod 4] filters,
 *   Mh[ξ][o/4][vec][o mod 4] adjoint of the output transform, dU4[ξ][o][i] (4 lanes to add).
 */
import { Code, I32, uleb, V128 } from "./assembler.js";
import type { Geometry } from "./simd-conv.js";

/** How a geometry is cut into blocks of tiles, or null where Winograd does not apply. */
export interface WinogradPlan {
  /** Vectors of 4 tiles in a row of tiles (n / 8). */
  rowVectors: number;
  /** Rows of tiles per block (divides rows / 2). */
  tileRows: number;
  /** Vectors per block: tileRows · rowVectors (even). */
  blockVectors: number;
  /** Blocks per sample. */
  blocks: number;
}

/** Blocks of at most this many vectors (256 tiles): a block's V and M stay in L2. */
const MAX_BLOCK_VECTORS = 16;

export function winogradPlan(g: Geometry): WinogradPlan | null {
  if (g.n % 8 !== 0 || g.rows % 2 !== 0 || g.pw !== g.n + 2) return null;
  const rowVectors = g.n / 8;
  const tileRowsAll = g.rows / 2;
  let best = 0;
  for (let t = 1; t <= tileRowsAll; t++) {
    const bv = t * rowVectors;
    if (tileRowsAll % t === 0 && bv % 2 === 0 && (bv <= MAX_BLOCK_VECTORS || best === 0)) best = t;
    if (bv > MAX_BLOCK_VECTORS && best !== 0) break;
  }
  if (best === 0) return null;
  return { rowVectors, tileRows: best, blockVectors: best * rowVectors, blocks: tileRowsAll / best };
}

/**
 * Bytes between the 16 ξ rows of V, M and Mh beyond their contents: without it the rows are
 * a multiple of 4 KiB apart, fall in one L1 set and evict each other (the transforms read or
 * write all 16 for each vector of tiles).
 */
export const XI_PAD = 64;

/** float32 elements of a block's V (channels = cin) or M / Mh (channels = cout). */
export function winogradScratch(plan: WinogradPlan, channels: number): number {
  return 16 * (channels * plan.blockVectors * 4 + XI_PAD / 4);
}

const ADD = 0xe4;
const SUB = 0xe5;
const NEG = 0xe1;
const LOAD = 0x00;
const STORE = 0x0b;
const SPLAT_LOAD = 0x09; // v128.load32_splat
const SHUFFLE = 0x0d;
const mem = (off: number) => [2, ...uleb(off)];

/** i8x16.shuffle immediates picking float lanes (0–3 first operand, 4–7 second). */
function lanes(l: number[]): number[] {
  return l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
}
const EVEN = lanes([0, 2, 4, 6]);
const ODD = lanes([1, 3, 5, 7]);
const INTERLEAVE_LO = lanes([0, 4, 1, 5]);
const INTERLEAVE_HI = lanes([2, 6, 3, 7]);

/** a ∘ b into local `to` (f32x4 binary op). */
function bin(c: Code, op: number, a: number, b: number, to: number) {
  c.get(a).get(b).simd(op).set(to);
}

/**
 * input(P, V, cin, ty0, _, _): V[ξ][i][vec] = (Bᵀ d B)_ξ for the block of tile rows
 * starting at ty0 of one sample; P points at the sample's padded planes.
 */
export function winogradInputFn(g: Geometry, plan: WinogradPlan): number[] {
  const c = new Code(6);
  const [P, V, CIN, TY0] = [0, 1, 2, 3];
  const i = c.local(I32);
  const t = c.local(I32);
  const q = c.local(I32);
  const src = c.local(I32);
  const dst = c.local(I32);
  const xs = c.local(I32);
  const A = c.local(V128);
  const B = c.local(V128);
  const d = Array.from({ length: 16 }, () => c.local(V128)); // d[4r + col]
  const f = Array.from({ length: 16 }, () => c.local(V128));
  const bv = plan.blockVectors;
  c.get(CIN)
    .i32(bv * 16)
    .op(0x6c)
    .i32(XI_PAD)
    .op(0x6a)
    .set(xs);
  c.loop(
    i,
    () => c.get(CIN),
    1,
    () => {
      c.loop(
        t,
        () => c.i32(plan.tileRows),
        1,
        () => {
          c.loop(
            q,
            () => c.i32(plan.rowVectors),
            1,
            () => {
              // src = P + (i·pv + 2(ty0 + t)·pw + 8q)·4
              c.get(P)
                .get(i)
                .i32(g.pv * 4)
                .op(0x6c, 0x6a)
                .get(TY0)
                .get(t)
                .op(0x6a)
                .i32(2 * g.pw * 4)
                .op(0x6c, 0x6a)
                .get(q)
                .i32(32)
                .op(0x6c, 0x6a)
                .set(src);
              for (let r = 0; r < 4; r++) {
                const off = r * g.pw * 4;
                // Columns 2tx + col of the four tiles: even / odd lanes of 8 consecutive
                // floats, from the window origin (col 0, 1) and 2 further (col 2, 3).
                for (const [shift, col] of [
                  [0, 0],
                  [8, 2],
                ] as const) {
                  c.get(src)
                    .simd(LOAD, ...mem(off + shift))
                    .set(A);
                  c.get(src)
                    .simd(LOAD, ...mem(off + shift + 16))
                    .set(B);
                  c.get(A)
                    .get(B)
                    .simd(SHUFFLE, ...EVEN)
                    .set(d[4 * r + col]!);
                  c.get(A)
                    .get(B)
                    .simd(SHUFFLE, ...ODD)
                    .set(d[4 * r + col + 1]!);
                }
              }
              // Bᵀ d: rows
              for (let col = 0; col < 4; col++) {
                const D = (r: number) => d[4 * r + col]!;
                const F = (r: number) => f[4 * r + col]!;
                bin(c, SUB, D(0), D(2), F(0));
                bin(c, ADD, D(1), D(2), F(1));
                bin(c, SUB, D(2), D(1), F(2));
                bin(c, SUB, D(1), D(3), F(3));
              }
              // dst = V + (i·bv + t·rowVectors + q)·16; then (· B): columns, stored per ξ
              c.get(V)
                .get(i)
                .i32(bv)
                .op(0x6c)
                .get(t)
                .i32(plan.rowVectors)
                .op(0x6c, 0x6a)
                .get(q)
                .op(0x6a)
                .i32(16)
                .op(0x6c, 0x6a)
                .set(dst);
              for (let r = 0; r < 4; r++) {
                const F = (col: number) => f[4 * r + col]!;
                const pairs: [number, number, number][] = [
                  [SUB, F(0), F(2)],
                  [ADD, F(1), F(2)],
                  [SUB, F(2), F(1)],
                  [SUB, F(1), F(3)],
                ];
                for (const [op, a, b] of pairs) {
                  c.get(dst)
                    .get(a)
                    .get(b)
                    .simd(op)
                    .simd(STORE, ...mem(0));
                  c.get(dst).get(xs).op(0x6a).set(dst);
                }
              }
            },
          );
        },
      );
    },
  );
  return c.body();
}

/**
 * output(M, Y, cout, ty0, B, _): Y[o][2×2 tile] += Aᵀ M A for the block at ty0 of one
 * sample; Y points at the sample's (unpadded) output planes. `withBias`: Y = B[o] + Aᵀ M A
 * instead (Y is not read: no separate pass to fill it with the bias first).
 */
export function winogradOutputFn(g: Geometry, plan: WinogradPlan, withBias = false): number[] {
  const c = new Code(6);
  const [M, Y, COUT, TY0, BIAS] = [0, 1, 2, 3, 4];
  const bias = c.local(V128);
  const o = c.local(I32);
  const t = c.local(I32);
  const q = c.local(I32);
  const src = c.local(I32);
  const dst = c.local(I32);
  const xs = c.local(I32);
  const m = Array.from({ length: 16 }, () => c.local(V128));
  const t0 = Array.from({ length: 4 }, () => c.local(V128));
  const t1 = Array.from({ length: 4 }, () => c.local(V128));
  const y = Array.from({ length: 4 }, () => c.local(V128)); // y00 y01 y10 y11
  const bv = plan.blockVectors;
  c.get(COUT)
    .i32(bv * 16)
    .op(0x6c)
    .i32(XI_PAD)
    .op(0x6a)
    .set(xs);
  c.loop(
    o,
    () => c.get(COUT),
    1,
    () => {
      if (withBias)
        c.get(BIAS)
          .get(o)
          .i32(4)
          .op(0x6c, 0x6a)
          .simd(SPLAT_LOAD, ...mem(0))
          .set(bias);
      c.loop(
        t,
        () => c.i32(plan.tileRows),
        1,
        () => {
          c.loop(
            q,
            () => c.i32(plan.rowVectors),
            1,
            () => {
              // src = M + (o·bv + t·rowVectors + q)·16
              c.get(M)
                .get(o)
                .i32(bv)
                .op(0x6c)
                .get(t)
                .i32(plan.rowVectors)
                .op(0x6c, 0x6a)
                .get(q)
                .op(0x6a)
                .i32(16)
                .op(0x6c, 0x6a)
                .set(src);
              for (let k = 0; k < 16; k++) {
                c.get(src)
                  .simd(LOAD, ...mem(0))
                  .set(m[k]!);
                if (k < 15) c.get(src).get(xs).op(0x6a).set(src);
              }
              // Aᵀ m: t0 = m0 + m1 + m2, t1 = m1 − m2 − m3 (rows of the 4×4)
              for (let col = 0; col < 4; col++) {
                const mm = (r: number) => m[4 * r + col]!;
                c.get(mm(0)).get(mm(1)).simd(ADD).get(mm(2)).simd(ADD).set(t0[col]!);
                c.get(mm(1)).get(mm(2)).simd(SUB).get(mm(3)).simd(SUB).set(t1[col]!);
              }
              // (·) A: columns
              for (const [row, tt] of [
                [0, t0],
                [1, t1],
              ] as const) {
                c.get(tt[0]!)
                  .get(tt[1]!)
                  .simd(ADD)
                  .get(tt[2]!)
                  .simd(ADD)
                  .set(y[2 * row]!);
                c.get(tt[1]!)
                  .get(tt[2]!)
                  .simd(SUB)
                  .get(tt[3]!)
                  .simd(SUB)
                  .set(y[2 * row + 1]!);
              }
              // dst = Y + (o·v + 2(ty0 + t)·n + 8q)·4; rows 2ty, 2ty + 1 interleave y_r0, y_r1
              c.get(Y)
                .get(o)
                .i32(g.v * 4)
                .op(0x6c, 0x6a)
                .get(TY0)
                .get(t)
                .op(0x6a)
                .i32(2 * g.n * 4)
                .op(0x6c, 0x6a)
                .get(q)
                .i32(32)
                .op(0x6c, 0x6a)
                .set(dst);
              for (let row = 0; row < 2; row++) {
                for (const [half, sel] of [
                  [0, INTERLEAVE_LO],
                  [16, INTERLEAVE_HI],
                ] as const) {
                  const off = row * g.n * 4 + half;
                  c.get(dst);
                  if (withBias) c.get(bias);
                  else c.get(dst).simd(LOAD, ...mem(off));
                  c.get(y[2 * row]!)
                    .get(y[2 * row + 1]!)
                    .simd(SHUFFLE, ...sel);
                  c.simd(ADD).simd(STORE, ...mem(off));
                }
              }
            },
          );
        },
      );
    },
  );
  return c.body();
}

/**
 * adjoint(G, Mh, cout, ty0, _, _): Mh[ξ][o/4][vec][o mod 4] = (A ∂y Aᵀ)_ξ, the adjoint of
 * the output transform, for the block at ty0 of one sample; G points at the sample's
 * output cotangent planes.
 */
export function winogradAdjointFn(g: Geometry, plan: WinogradPlan): number[] {
  const c = new Code(6);
  const [G, MH, COUT, TY0] = [0, 1, 2, 3];
  const o = c.local(I32);
  const t = c.local(I32);
  const q = c.local(I32);
  const src = c.local(I32);
  const dst = c.local(I32);
  const xs = c.local(I32);
  const lo = c.local(V128);
  const hi = c.local(V128);
  const gg = Array.from({ length: 4 }, () => c.local(V128)); // g00 g01 g10 g11
  const h = Array.from({ length: 8 }, () => c.local(V128)); // h[2r + col]
  const bv = plan.blockVectors;
  c.get(COUT)
    .i32(bv * 16)
    .op(0x6c)
    .i32(XI_PAD)
    .op(0x6a)
    .set(xs);
  c.loop(
    o,
    () => c.get(COUT),
    1,
    () => {
      c.loop(
        t,
        () => c.i32(plan.tileRows),
        1,
        () => {
          c.loop(
            q,
            () => c.i32(plan.rowVectors),
            1,
            () => {
              c.get(G)
                .get(o)
                .i32(g.v * 4)
                .op(0x6c, 0x6a)
                .get(TY0)
                .get(t)
                .op(0x6a)
                .i32(2 * g.n * 4)
                .op(0x6c, 0x6a)
                .get(q)
                .i32(32)
                .op(0x6c, 0x6a)
                .set(src);
              for (let row = 0; row < 2; row++) {
                c.get(src)
                  .simd(LOAD, ...mem(row * g.n * 4))
                  .set(lo);
                c.get(src)
                  .simd(LOAD, ...mem(row * g.n * 4 + 16))
                  .set(hi);
                c.get(lo)
                  .get(hi)
                  .simd(SHUFFLE, ...EVEN)
                  .set(gg[2 * row]!);
                c.get(lo)
                  .get(hi)
                  .simd(SHUFFLE, ...ODD)
                  .set(gg[2 * row + 1]!);
              }
              // h = A ∂y: h0 = g0, h1 = g0 + g1, h2 = g0 − g1, h3 = −g1 (rows of 2)
              for (let col = 0; col < 2; col++) {
                const g0 = gg[col]!;
                const g1 = gg[2 + col]!;
                c.get(g0).set(h[col]!);
                bin(c, ADD, g0, g1, h[2 + col]!);
                bin(c, SUB, g0, g1, h[4 + col]!);
                c.get(g1)
                  .simd(NEG)
                  .set(h[6 + col]!);
              }
              // dst = Mh + ((o >> 2)·bv + t·rowVectors + q)·64 + (o & 3)·16
              c.get(MH)
                .get(o)
                .i32(2)
                .op(0x76)
                .i32(bv)
                .op(0x6c)
                .get(t)
                .i32(plan.rowVectors)
                .op(0x6c, 0x6a)
                .get(q)
                .op(0x6a)
                .i32(64)
                .op(0x6c, 0x6a)
                .get(o)
                .i32(3)
                .op(0x71)
                .i32(16)
                .op(0x6c, 0x6a)
                .set(dst);
              // (·) Aᵀ: Mh[r][0] = h_r0, [1] = h_r0 + h_r1, [2] = h_r0 − h_r1, [3] = −h_r1
              for (let r = 0; r < 4; r++) {
                const h0 = h[2 * r]!;
                const h1 = h[2 * r + 1]!;
                const vals: (() => void)[] = [
                  () => c.get(h0),
                  () => c.get(h0).get(h1).simd(ADD),
                  () => c.get(h0).get(h1).simd(SUB),
                  () => c.get(h1).simd(NEG),
                ];
                for (const val of vals) {
                  c.get(dst);
                  val();
                  c.simd(STORE, ...mem(0));
                  c.get(dst).get(xs).op(0x6a).set(dst);
                }
              }
            },
          );
        },
      );
    },
  );
  return c.body();
}

/** U[ξ][o/4][i][o mod 4] = (G w_{o,i} Gᵀ)_ξ, computed in float64, stored float32. */
export function winogradFilter(w: Float32Array, cin: number, cout: number): Float32Array {
  const U = new Float32Array(16 * cout * cin);
  const gw = new Float64Array(12);
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < cin; i++) {
      const wo = (o * cin + i) * 9;
      // gw = G w (4×3)
      for (let b = 0; b < 3; b++) {
        const w0 = w[wo + b]!;
        const w1 = w[wo + 3 + b]!;
        const w2 = w[wo + 6 + b]!;
        gw[b] = w0;
        gw[3 + b] = 0.5 * (w0 + w1 + w2);
        gw[6 + b] = 0.5 * (w0 - w1 + w2);
        gw[9 + b] = w2;
      }
      for (let r = 0; r < 4; r++) {
        const a = gw[3 * r]!;
        const b = gw[3 * r + 1]!;
        const cc = gw[3 * r + 2]!;
        const row = [a, 0.5 * (a + b + cc), 0.5 * (a - b + cc), cc];
        for (let col = 0; col < 4; col++) {
          const xi = 4 * r + col;
          U[((xi * (cout >> 2) + (o >> 2)) * cin + i) * 4 + (o & 3)] = row[col]!;
        }
      }
    }
  return U;
}

/**
 * gw[o][i] = Gᵀ dU[·][o][i] G (3×3 from 4×4), the adjoint of winogradFilter; dU4 holds each
 * entry of dU as 4 lanes to be added (winogradWeightGemmFn).
 */
export function winogradFilterAdjoint(dU4: Float32Array, cin: number, cout: number, gw: Float32Array): void {
  const t = new Float64Array(12);
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < cin; i++) {
      const at = (xi: number) => {
        const e = ((xi * cout + o) * cin + i) * 4;
        return dU4[e]! + dU4[e + 1]! + dU4[e + 2]! + dU4[e + 3]!;
      };
      // t = Gᵀ dU (3×4): rows a = 0, 1, 2 of Gᵀ = [[1,½,½,0],[0,½,−½,0],[0,½,½,1]]
      for (let col = 0; col < 4; col++) {
        const d0 = at(col);
        const d1 = at(4 + col);
        const d2 = at(8 + col);
        const d3 = at(12 + col);
        t[col] = d0 + 0.5 * (d1 + d2);
        t[4 + col] = 0.5 * (d1 - d2);
        t[8 + col] = 0.5 * (d1 + d2) + d3;
      }
      const wo = (o * cin + i) * 9;
      for (let a = 0; a < 3; a++) {
        const d0 = t[4 * a]!;
        const d1 = t[4 * a + 1]!;
        const d2 = t[4 * a + 2]!;
        const d3 = t[4 * a + 3]!;
        gw[wo + 3 * a] = d0 + 0.5 * (d1 + d2);
        gw[wo + 3 * a + 1] = 0.5 * (d1 - d2);
        gw[wo + 3 * a + 2] = 0.5 * (d1 + d2) + d3;
      }
    }
}
