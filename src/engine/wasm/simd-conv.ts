/**
 * WebAssembly SIMD kernels for the 2-D 3×3 periodic convolution (forward / input gradient,
 * and weight gradient), generated at run time by the assembler in assembler.ts, specialised to
 * the padded geometry (row length, padded row, volumes become constants and the nine tap
 * offsets become load immediates). No toolchain, no build step, nothing downloaded; the same
 * code runs in Node and in browsers. simd-runtime.ts compiles and calls them.
 *
 * Vectorised along the lattice row: f64x2 (2 sites) in float64, f32x4 (4 sites) in float32,
 * so the row length must be a multiple of 2 (4); other shapes use the TypeScript kernels.
 * The forward kernel adds the nine products left to right and then to y, exactly as the
 * TypeScript kernel does, so float64 results are bit-identical; the weight gradient sums in
 * lanes, so it differs from the TypeScript sum by rounding only. float32 kernels compute in
 * float32 (the TypeScript ones in float64, rounding on store): equal within float32 rounding.
 */
import { Code, I32, uleb, V128 } from "./assembler.js";

export interface Geometry {
  n: number;
  rows: number;
  pw: number;
  pv: number;
  v: number;
}

export interface Flavour {
  eb: number;
  vl: number;
  align: number;
  scalarLoad: number;
  scalarStore: number;
  splat: number;
  add: number;
  mul: number;
  extract: number;
}

export const F64: Flavour = {
  eb: 8,
  vl: 2,
  align: 3,
  scalarLoad: 0x2b,
  scalarStore: 0x39,
  splat: 0x14,
  add: 0xf0,
  mul: 0xf2,
  extract: 0x21,
};
export const F32: Flavour = {
  eb: 4,
  vl: 4,
  align: 2,
  scalarLoad: 0x2a,
  scalarStore: 0x38,
  splat: 0x13,
  add: 0xe4,
  mul: 0xe6,
  extract: 0x1f,
};

/** Byte offsets of the nine taps from the window origin. */
export function tapOffsets(g: Geometry, eb: number): number[] {
  const t: number[] = [];
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) t.push((a * g.pw + b) * eb);
  return t;
}

/** correlate(P, w, y, nb, cin, cout): y[b,o,s] += Σ_i Σ_k w[o,i,k] P[b,i][s + tap k]. */
export function correlateFn(g: Geometry, f: Flavour): number[] {
  const c = new Code(6);
  const [P, W, Y, NB, CIN, COUT] = [0, 1, 2, 3, 4, 5];
  const b = c.local(I32);
  const o = c.local(I32);
  const i = c.local(I32);
  const r = c.local(I32);
  const j = c.local(I32);
  const yo = c.local(I32);
  const po = c.local(I32);
  const wo = c.local(I32);
  const r0 = c.local(I32);
  const yr = c.local(I32);
  const a = c.local(I32);
  const ws = Array.from({ length: 9 }, () => c.local(V128));
  const t = c.local(V128);
  const taps = tapOffsets(g, f.eb);
  const mem = (off: number) => [f.align, ...uleb(off)];
  const unrolled = (g.rows * g.n) / f.vl <= 64;
  const rowUnrolled = g.n / f.vl <= 16;
  c.loop(
    b,
    () => c.get(NB),
    1,
    () => {
      c.loop(
        o,
        () => c.get(COUT),
        1,
        () => {
          // yo = Y + ((b*cout + o) * v) * eb
          c.get(Y)
            .get(b)
            .get(COUT)
            .op(0x6c)
            .get(o)
            .op(0x6a)
            .i32(g.v * f.eb)
            .op(0x6c, 0x6a)
            .set(yo);
          c.loop(
            i,
            () => c.get(CIN),
            1,
            () => {
              c.get(P)
                .get(b)
                .get(CIN)
                .op(0x6c)
                .get(i)
                .op(0x6a)
                .i32(g.pv * f.eb)
                .op(0x6c, 0x6a)
                .set(po);
              c.get(W)
                .get(o)
                .get(CIN)
                .op(0x6c)
                .get(i)
                .op(0x6a)
                .i32(9 * f.eb)
                .op(0x6c, 0x6a)
                .set(wo);
              for (let k = 0; k < 9; k++)
                c.get(wo)
                  .op(f.scalarLoad, ...mem(k * f.eb))
                  .simd(f.splat)
                  .set(ws[k]!);
              // One lattice row as straight-line code: y[yBase + yOff + j] += Σ_k w_k P[pBase + pOff + j + tap k].
              const row = (pBase: number, yBase: number, pOff: number, yOff: number) => {
                for (let jj = 0; jj < g.n * f.eb; jj += f.vl * f.eb) {
                  c.get(yBase);
                  c.get(yBase).simd(0x00, ...mem(yOff + jj));
                  for (let k = 0; k < 9; k++) {
                    c.get(ws[k]!)
                      .get(pBase)
                      .simd(0x00, ...mem(pOff + jj + taps[k]!))
                      .simd(f.mul);
                    if (k > 0) c.simd(f.add);
                  }
                  c.simd(f.add).simd(0x0b, ...mem(yOff + jj));
                }
              };
              if (unrolled) {
                // Small planes: straight-line code, every offset an immediate (no loop
                // control; L = 8 float32 is 16 vectors a plane).
                for (let rr = 0; rr < g.rows; rr++) row(po, yo, rr * g.pw * f.eb, rr * g.n * f.eb);
                return;
              }
              c.loop(
                r,
                () => c.i32(g.rows),
                1,
                () => {
                  c.get(po)
                    .get(r)
                    .i32(g.pw * f.eb)
                    .op(0x6c, 0x6a)
                    .set(r0);
                  c.get(yo)
                    .get(r)
                    .i32(g.n * f.eb)
                    .op(0x6c, 0x6a)
                    .set(yr);
                  if (rowUnrolled) {
                    row(r0, yr, 0, 0);
                    return;
                  }
                  c.loop(
                    j,
                    () => c.i32(g.n * f.eb),
                    f.vl * f.eb,
                    () => {
                      c.get(r0).get(j).op(0x6a).set(a);
                      for (let k = 0; k < 9; k++) {
                        c.get(ws[k]!)
                          .get(a)
                          .simd(0x00, ...mem(taps[k]!))
                          .simd(f.mul);
                        if (k > 0) c.simd(f.add);
                      }
                      c.set(t);
                      // y[yr + j] = y[yr + j] + t
                      c.get(yr).get(j).op(0x6a).set(a);
                      c.get(a)
                        .get(a)
                        .simd(0x00, ...mem(0))
                        .get(t)
                        .simd(f.add)
                        .simd(0x0b, ...mem(0));
                    },
                  );
                },
              );
            },
          );
        },
      );
    },
  );
  return c.body();
}

/**
 * weightGrad(P, gy, gw, nb, cin, cout): gw[o,i,k] = Σ_b Σ_s gy[b,o,s] P[b,i][s + tap k].
 * Small planes: (o, i) outer, the batch inside, nine vector accumulators. Planes past 8 KiB
 * (L ≥ 32 in float64): the batch outermost, so that one sample's planes stay in cache while
 * every (o, i) pair reads them, adding each sample's sums into gw (zeroed by the caller).
 */
export function weightGradFn(g: Geometry, f: Flavour, passes = 3): number[] {
  const c = new Code(6);
  const [P, G, GW, NB, CIN, COUT] = [0, 1, 2, 3, 4, 5];
  const b = c.local(I32);
  const o = c.local(I32);
  const i = c.local(I32);
  const r = c.local(I32);
  const j = c.local(I32);
  const go = c.local(I32);
  const po = c.local(I32);
  const r0 = c.local(I32);
  const gr = c.local(I32);
  const a = c.local(I32);
  const wo = c.local(I32);
  const acc = Array.from({ length: 9 }, () => c.local(V128));
  const gv = c.local(V128);
  const taps = tapOffsets(g, f.eb);
  const mem = (off: number) => [f.align, ...uleb(off)];
  const batchOuter = g.v * f.eb > 8192;
  const unrolled = (g.rows * g.n) / f.vl <= 64;
  const rowUnrolled = g.n / f.vl <= 16;
  /** acc_k += Σ_sites gy[b,o] · P[b,i][· + tap k] for the current b, o, i and taps ks. */
  const planes = (ks: number[]) => () => {
    c.get(G)
      .get(b)
      .get(COUT)
      .op(0x6c)
      .get(o)
      .op(0x6a)
      .i32(g.v * f.eb)
      .op(0x6c, 0x6a)
      .set(go);
    c.get(P)
      .get(b)
      .get(CIN)
      .op(0x6c)
      .get(i)
      .op(0x6a)
      .i32(g.pv * f.eb)
      .op(0x6c, 0x6a)
      .set(po);
    // One lattice row as straight-line code: acc_k += gy[gBase + gOff + j] · P[pBase + pOff + j + tap k].
    const row = (pBase: number, gBase: number, pOff: number, gOff: number) => {
      for (let jj = 0; jj < g.n * f.eb; jj += f.vl * f.eb) {
        c.get(gBase)
          .simd(0x00, ...mem(gOff + jj))
          .set(gv);
        for (const k of ks) {
          c.get(acc[k]!)
            .get(gv)
            .get(pBase)
            .simd(0x00, ...mem(pOff + jj + taps[k]!))
            .simd(f.mul)
            .simd(f.add)
            .set(acc[k]!);
        }
      }
    };
    if (unrolled) {
      for (let rr = 0; rr < g.rows; rr++) row(po, go, rr * g.pw * f.eb, rr * g.n * f.eb);
      return;
    }
    c.loop(
      r,
      () => c.i32(g.rows),
      1,
      () => {
        c.get(po)
          .get(r)
          .i32(g.pw * f.eb)
          .op(0x6c, 0x6a)
          .set(r0);
        c.get(go)
          .get(r)
          .i32(g.n * f.eb)
          .op(0x6c, 0x6a)
          .set(gr);
        if (rowUnrolled) {
          row(r0, gr, 0, 0);
          return;
        }
        c.loop(
          j,
          () => c.i32(g.n * f.eb),
          f.vl * f.eb,
          () => {
            c.get(gr)
              .get(j)
              .op(0x6a)
              .simd(0x00, ...mem(0))
              .set(gv);
            c.get(r0).get(j).op(0x6a).set(a);
            for (const k of ks) {
              c.get(acc[k]!)
                .get(gv)
                .get(a)
                .simd(0x00, ...mem(taps[k]!))
                .simd(f.mul)
                .simd(f.add)
                .set(acc[k]!);
            }
          },
        );
      },
    );
  };
  /** gw[(o*cin + i)*9 + k] (+)= Σ lanes acc_k for taps ks. */
  const flush = (ks: number[], accumulate: boolean) => {
    c.get(GW)
      .get(o)
      .get(CIN)
      .op(0x6c)
      .get(i)
      .op(0x6a)
      .i32(9 * f.eb)
      .op(0x6c, 0x6a)
      .set(wo);
    for (const k of ks) {
      c.get(wo);
      for (let l = 0; l < f.vl; l++) {
        c.get(acc[k]!).simd(f.extract, l);
        if (l > 0) c.op(f.eb === 8 ? 0xa0 : 0x92); // f64.add / f32.add
      }
      if (accumulate)
        c.get(wo)
          .op(f.scalarLoad, ...mem(k * f.eb))
          .op(f.eb === 8 ? 0xa0 : 0x92);
      c.op(f.scalarStore, ...mem(k * f.eb));
    }
  };
  // One pass per kernel row (three accumulators live) rather than one pass with nine: best
  // of 30 runs, 64×8→8 at 8×8, 13.0 vs 8.9 GFLOP/s; 32→32 at 64×64, 5.1 vs 4.4.
  const groups =
    passes === 3
      ? [
          [0, 1, 2],
          [3, 4, 5],
          [6, 7, 8],
        ]
      : [[0, 1, 2, 3, 4, 5, 6, 7, 8]];
  const zero = (ks: number[]) => {
    for (const k of ks) c.simd(0x0c, ...new Array(16).fill(0)).set(acc[k]!);
  };
  if (batchOuter) {
    c.loop(
      b,
      () => c.get(NB),
      1,
      () => {
        c.loop(
          o,
          () => c.get(COUT),
          1,
          () => {
            c.loop(
              i,
              () => c.get(CIN),
              1,
              () => {
                for (const ks of groups) {
                  zero(ks);
                  planes(ks)();
                  flush(ks, true);
                }
              },
            );
          },
        );
      },
    );
  } else {
    c.loop(
      o,
      () => c.get(COUT),
      1,
      () => {
        c.loop(
          i,
          () => c.get(CIN),
          1,
          () => {
            for (const ks of groups) {
              zero(ks);
              c.loop(b, () => c.get(NB), 1, planes(ks));
              flush(ks, false);
            }
          },
        );
      },
    );
  }
  return c.body();
}
