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
  // Accumulators of output channel o (acc) and, in pairs, o + 1 (acc2).
  const acc = Array.from({ length: 9 }, () => c.local(V128));
  const acc2 = Array.from({ length: 9 }, () => c.local(V128));
  const gv = c.local(V128);
  const gv2 = c.local(V128);
  const pv = c.local(V128);
  const taps = tapOffsets(g, f.eb);
  const mem = (off: number) => [f.align, ...uleb(off)];
  const batchOuter = g.v * f.eb > 8192;
  // No straight-line planes or rows here (unlike correlate): TurboFan hoists the loads of a
  // long body and spills the six accumulators. Best of 15, f32 L = 8 8→8: 12.6 GFLOP/s
  // unrolled, 33.8 looped; f64 L = 8: 6.3 vs 18.1; the sums are the same either way.
  const unrolled = false;
  const rowUnrolled = false;
  /**
   * acc_k += gy[b,o] · P[b,i][· + tap k] over all sites, for the current b, o, i and taps ks;
   * with `pair`, also acc2_k += gy[b,o+1] · P[…]: six independent accumulator chains instead of
   * three hide the add latency, and each P vector is loaded once for both. Every accumulator
   * adds the same products in the same order as alone, so the result is unchanged.
   */
  const planes = (ks: number[], pair: boolean) => () => {
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
    /** One vector of sites: gy at gBase + gOff, P at pBase + pOff (+ tap k). */
    const vector = (pBase: number, gBase: number, pOff: number, gOff: number) => {
      c.get(gBase)
        .simd(0x00, ...mem(gOff))
        .set(gv);
      if (pair)
        c.get(gBase)
          .simd(0x00, ...mem(gOff + g.v * f.eb)) // channel o + 1: the next plane
          .set(gv2);
      for (const k of ks) {
        c.get(pBase)
          .simd(0x00, ...mem(pOff + taps[k]!))
          .set(pv);
        c.get(acc[k]!).get(gv).get(pv).simd(f.mul).simd(f.add).set(acc[k]!);
        if (pair) c.get(acc2[k]!).get(gv2).get(pv).simd(f.mul).simd(f.add).set(acc2[k]!);
      }
    };
    const row = (pBase: number, gBase: number, pOff: number, gOff: number) => {
      for (let jj = 0; jj < g.n * f.eb; jj += f.vl * f.eb) vector(pBase, gBase, pOff + jj, gOff + jj);
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
            c.get(r0).get(j).op(0x6a).set(a);
            c.get(gr).get(j).op(0x6a).set(wo); // wo: scratch here, reset by flush
            vector(a, wo, 0, 0);
          },
        );
      },
    );
  };
  /** gw[(o*cin + i)*9 + k] (+)= Σ lanes acc_k for taps ks (and row o + 1 from acc2). */
  const flush = (ks: number[], accumulate: boolean, pair: boolean) => {
    c.get(GW)
      .get(o)
      .get(CIN)
      .op(0x6c)
      .get(i)
      .op(0x6a)
      .i32(9 * f.eb)
      .op(0x6c, 0x6a)
      .set(wo);
    const store = (accs: number[], base: () => void) => {
      for (const k of ks) {
        base();
        for (let l = 0; l < f.vl; l++) {
          c.get(accs[k]!).simd(f.extract, l);
          if (l > 0) c.op(f.eb === 8 ? 0xa0 : 0x92); // f64.add / f32.add
        }
        if (accumulate) {
          base();
          c.op(f.scalarLoad, ...mem(k * f.eb)).op(f.eb === 8 ? 0xa0 : 0x92);
        }
        c.op(f.scalarStore, ...mem(k * f.eb));
      }
    };
    store(acc, () => c.get(wo));
    // row o + 1 of gw starts cin·9 elements later
    if (pair)
      store(acc2, () =>
        c
          .get(wo)
          .get(CIN)
          .i32(9 * f.eb)
          .op(0x6c, 0x6a),
      );
  };
  // One pass per kernel row (three accumulators live, six in pairs) rather than one pass with
  // nine: best of 30 runs, 64×8→8 at 8×8, 13.0 vs 8.9 GFLOP/s; 32→32 at 64×64, 5.1 vs 4.4.
  const groups =
    passes === 3
      ? [
          [0, 1, 2],
          [3, 4, 5],
          [6, 7, 8],
        ]
      : [[0, 1, 2, 3, 4, 5, 6, 7, 8]];
  const zero = (ks: number[], pair: boolean) => {
    for (const k of ks) {
      c.simd(0x0c, ...new Array(16).fill(0)).set(acc[k]!);
      if (pair) c.simd(0x0c, ...new Array(16).fill(0)).set(acc2[k]!);
    }
  };
  /** Output channels in pairs (o, o + 1) while o + 1 < cout, then the odd last one alone. */
  const overOutputs = (body: (pair: boolean) => void) => {
    c.loop(
      o,
      () => c.get(COUT).i32(1).op(0x6b), // i32.sub
      2,
      () => body(true),
    );
    c.get(COUT).i32(1).op(0x71).op(0x04, 0x40); // if (cout & 1)
    c.get(COUT).i32(1).op(0x6b).set(o);
    body(false);
    c.op(0x0b);
  };
  if (batchOuter) {
    c.loop(
      b,
      () => c.get(NB),
      1,
      () => {
        overOutputs((pair) => {
          c.loop(
            i,
            () => c.get(CIN),
            1,
            () => {
              for (const ks of groups) {
                zero(ks, pair);
                planes(ks, pair)();
                flush(ks, true, pair);
              }
            },
          );
        });
      },
    );
  } else {
    overOutputs((pair) => {
      c.loop(
        i,
        () => c.get(CIN),
        1,
        () => {
          for (const ks of groups) {
            zero(ks, pair);
            c.loop(b, () => c.get(NB), 1, planes(ks, pair));
            flush(ks, false, pair);
          }
        },
      );
    });
  }
  return c.body();
}
