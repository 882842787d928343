/**
 * WebAssembly SIMD kernels for the 2-D 3×3 periodic convolution (forward / input gradient,
 * and weight gradient), generated at run time from this file: a tiny assembler below emits
 * the binary module, specialised to the padded geometry (row length, padded row, volumes
 * become constants and the nine tap offsets become load immediates). No toolchain, no build
 * step, nothing downloaded; the same code runs in Node and in browsers.
 *
 * Vectorised along the lattice row: f64x2 (2 sites) in float64, f32x4 (4 sites) in float32,
 * so the row length must be a multiple of 2 (4); other shapes use the TypeScript kernels.
 * The forward kernel adds the nine products left to right and then to y, exactly as the
 * TypeScript kernel does, so float64 results are bit-identical; the weight gradient sums in
 * lanes, so it differs from the TypeScript sum by rounding only. float32 kernels compute in
 * float32 (the TypeScript ones in float64, rounding on store): equal within float32 rounding.
 */
import type { FloatArray } from "../tensor.js";
import { Code, I32, section, str, uleb, V128, vec } from "./assembler.js";
import { coupleF32Fn } from "./simd-couple.js";

// ---------------------------------------------------------------- the kernels
interface Geometry {
  n: number;
  rows: number;
  pw: number;
  pv: number;
  v: number;
}

interface Flavour {
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

const F64: Flavour = {
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
const F32: Flavour = {
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
function tapOffsets(g: Geometry, eb: number): number[] {
  const t: number[] = [];
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) t.push((a * g.pw + b) * eb);
  return t;
}

/** correlate(P, w, y, nb, cin, cout): y[b,o,s] += Σ_i Σ_k w[o,i,k] P[b,i][s + tap k]. */
function correlateFn(g: Geometry, f: Flavour): number[] {
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
function weightGradFn(g: Geometry, f: Flavour, passes = 3): number[] {
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

/**
 * preluPad(z, P, alpha, planes, c, aStride): P[q] = periodically padded prelu(z[q]) with
 * slope alpha[(q mod c)·aStride] (aStride 0: one shared slope). prelu(v) = v (v ≥ 0 or NaN),
 * a·v (v < 0), exactly the TypeScript arithmetic (a select, no blending).
 */
function preluPadFn(g: Geometry, f: Flavour): number[] {
  const c = new Code(6);
  const [Z, P, A, PLANES, C, AS] = [0, 1, 2, 3, 4, 5];
  const q = c.local(I32);
  const r = c.local(I32);
  const j = c.local(I32);
  const zr = c.local(I32);
  const pr = c.local(I32);
  const po = c.local(I32);
  const av = c.local(V128);
  const v = c.local(V128);
  const mem = (off: number) => [f.align, ...uleb(off)];
  const lt = f.eb === 8 ? 0x49 : 0x43; // f64x2.lt / f32x4.lt
  const rowBytes = g.pw * f.eb;
  const unrolled = (g.rows * g.n) / f.vl <= 64;
  c.loop(
    q,
    () => c.get(PLANES),
    1,
    () => {
      // a = splat(alpha[(q mod c)·aStride])
      c.get(A).get(q).get(C).op(0x6f).get(AS).op(0x6c).i32(f.eb).op(0x6c, 0x6a);
      c.op(f.scalarLoad, ...mem(0))
        .simd(f.splat)
        .set(av);
      c.get(P)
        .get(q)
        .i32(g.pv * f.eb)
        .op(0x6c, 0x6a)
        .set(po);
      if (unrolled) {
        // Small planes: straight-line code with immediate offsets, halo rows copied by
        // 16/8/4-byte moves (memory.copy's call overhead dominated at L = 8).
        c.get(Z)
          .get(q)
          .i32(g.v * f.eb)
          .op(0x6c, 0x6a)
          .set(zr);
        for (let rr = 0; rr < g.rows; rr++) {
          const prow = ((rr + 1) * g.pw + 1) * f.eb;
          for (let jj = 0; jj < g.n * f.eb; jj += f.vl * f.eb) {
            c.get(zr)
              .simd(0x00, ...mem(rr * g.n * f.eb + jj))
              .set(v);
            c.get(po);
            c.get(av).get(v).simd(f.mul).get(v);
            c.get(v)
              .simd(0x0c, ...new Array(16).fill(0))
              .simd(lt);
            c.simd(0x52).simd(0x0b, ...mem(prow + jj));
          }
          c.get(po)
            .get(po)
            .op(f.scalarLoad, ...mem(prow + (g.n - 1) * f.eb))
            .op(f.scalarStore, ...mem(prow - f.eb));
          c.get(po)
            .get(po)
            .op(f.scalarLoad, ...mem(prow))
            .op(f.scalarStore, ...mem(prow + g.n * f.eb));
        }
        const copyRow = (from: number, to: number) => {
          let o = 0;
          for (; o + 16 <= rowBytes; o += 16)
            c.get(po)
              .get(po)
              .simd(0x00, ...mem(from + o))
              .simd(0x0b, ...mem(to + o));
          for (; o + 8 <= rowBytes; o += 8)
            c.get(po)
              .get(po)
              .op(0x29, 3, ...uleb(from + o)) // i64.load
              .op(0x37, 3, ...uleb(to + o)); // i64.store
          for (; o < rowBytes; o += 4)
            c.get(po)
              .get(po)
              .op(0x28, 2, ...uleb(from + o)) // i32.load
              .op(0x36, 2, ...uleb(to + o)); // i32.store
        };
        copyRow(g.rows * rowBytes, 0);
        copyRow(rowBytes, (g.rows + 1) * rowBytes);
        return;
      }
      c.loop(
        r,
        () => c.i32(g.rows),
        1,
        () => {
          c.get(Z)
            .get(q)
            .i32(g.v * f.eb)
            .op(0x6c, 0x6a)
            .get(r)
            .i32(g.n * f.eb)
            .op(0x6c, 0x6a)
            .set(zr);
          c.get(po).get(r).i32(1).op(0x6a).i32(rowBytes).op(0x6c, 0x6a).i32(f.eb).op(0x6a).set(pr);
          c.loop(
            j,
            () => c.i32(g.n * f.eb),
            f.vl * f.eb,
            () => {
              c.get(zr)
                .get(j)
                .op(0x6a)
                .simd(0x00, ...mem(0))
                .set(v);
              // P[pr + j] = bitselect(a·v, v, v < 0)
              c.get(pr).get(j).op(0x6a);
              c.get(av).get(v).simd(f.mul).get(v);
              c.get(v)
                .simd(0x0c, ...new Array(16).fill(0))
                .simd(lt);
              c.simd(0x52).simd(0x0b, ...mem(0));
            },
          );
          // halo columns: P[row][0] = P[row][n], P[row][n+1] = P[row][1]
          c.get(pr)
            .i32(f.eb)
            .op(0x6b)
            .get(pr)
            .op(f.scalarLoad, ...mem((g.n - 1) * f.eb))
            .op(f.scalarStore, ...mem(0));
          c.get(pr)
            .get(pr)
            .op(f.scalarLoad, ...mem(0))
            .op(f.scalarStore, ...mem(g.n * f.eb));
        },
      );
      // halo rows: row 0 = row `rows`, row rows+1 = row 1 (memory.copy)
      c.get(po)
        .get(po)
        .i32(g.rows * rowBytes)
        .op(0x6a)
        .i32(rowBytes)
        .op(0xfc, 10, 0, 0);
      c.get(po)
        .i32((g.rows + 1) * rowBytes)
        .op(0x6a)
        .get(po)
        .i32(rowBytes)
        .op(0x6a)
        .i32(rowBytes)
        .op(0xfc, 10, 0, 0);
    },
  );
  return c.body();
}

/** fillBias(B, Y, planes, c): Y[q] = bias B[q mod c] over whole planes (q < planes). */
function fillBiasFn(g: Geometry, f: Flavour): number[] {
  const c = new Code(6);
  const [B, Y, PLANES, C] = [0, 1, 2, 3];
  const q = c.local(I32);
  const j = c.local(I32);
  const yo = c.local(I32);
  const bv = c.local(V128);
  const mem = (off: number) => [f.align, ...uleb(off)];
  const bytes = g.v * f.eb; // a multiple of 16 (rows are a multiple of the vector length)
  c.loop(
    q,
    () => c.get(PLANES),
    1,
    () => {
      c.get(B).get(q).get(C).op(0x6f).i32(f.eb).op(0x6c, 0x6a); // i32.rem_s, i32.mul, i32.add
      c.op(f.scalarLoad, ...mem(0))
        .simd(f.splat)
        .set(bv);
      c.get(Y).get(q).i32(bytes).op(0x6c, 0x6a).set(yo);
      if (bytes <= 1024) {
        for (let o = 0; o < bytes; o += 16)
          c.get(yo)
            .get(bv)
            .simd(0x0b, ...mem(o));
        return;
      }
      c.loop(
        j,
        () => c.i32(bytes),
        16,
        () => {
          c.get(yo)
            .get(j)
            .op(0x6a)
            .get(bv)
            .simd(0x0b, ...mem(0));
        },
      );
    },
  );
  return c.body();
}

function buildModule(g: Geometry, f: Flavour): Uint8Array {
  const withCouple = f === F32 && g.v % 4 === 0;
  const type = [0x60, ...vec(new Array(6).fill([I32])), 0x00];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([type])),
    ...section(2, vec([[...str("env"), ...str("mem"), 0x02, 0x00, 0x01]])), // memory, min 1 page
    ...section(3, vec(withCouple ? [[0], [0], [0], [0], [0]] : [[0], [0], [0], [0]])),
    ...section(
      7,
      vec([
        [...str("correlate"), 0x00, 0],
        [...str("weightGrad"), 0x00, 1],
        [...str("preluPad"), 0x00, 2],
        [...str("fillBias"), 0x00, 3],
        ...(withCouple ? [[...str("coupleF32"), 0x00, 4]] : []),
      ]),
    ),
    ...section(10, [
      ...uleb(withCouple ? 5 : 4),
      ...correlateFn(g, f),
      ...weightGradFn(g, f),
      ...preluPadFn(g, f),
      ...fillBiasFn(g, f),
      ...(withCouple ? coupleF32Fn(g.v) : []),
    ]),
  ];
  return new Uint8Array(bytes);
}

// ---------------------------------------------------------------- runtime
type Kernel = (p: number, w: number, y: number, nb: number, cin: number, cout: number) => void;

let memory: WebAssembly.Memory | null = null;
interface Kernels {
  correlate: Kernel;
  weightGrad: Kernel;
  preluPad: Kernel;
  fillBias: Kernel;
  /** float32 modules only: simd-couple.ts (x, h, activeMask, out, nb, inverse). */
  coupleF32?: Kernel;
}
const modules = new Map<string, Kernels | null>();
let enabled: boolean | null = null;

/** Whether this engine supports WebAssembly SIMD (checked once by compiling a kernel). */
export function simdSupported(): boolean {
  if (enabled === null) {
    try {
      enabled =
        typeof WebAssembly === "object" &&
        WebAssembly.validate(buildModule({ n: 4, rows: 4, pw: 6, pv: 36, v: 16 }, F64) as BufferSource);
    } catch {
      enabled = false;
    }
  }
  return enabled;
}

let useWasm = true;

/** Choose the kernels: "wasm" (default where supported) or "js" (the TypeScript fallback). */
export function setConvBackend(backend: "wasm" | "js"): void {
  useWasm = backend === "wasm";
}

export function convBackend(): "wasm" | "js" {
  return useWasm && simdSupported() ? "wasm" : "js";
}

function kernels(g: Geometry, f: Flavour) {
  const key = `${g.n},${g.rows},${g.pw},${f.eb}`;
  if (modules.has(key)) return modules.get(key)!;
  if (!memory) memory = new WebAssembly.Memory({ initial: 16 });
  let k: Kernels | null = null;
  try {
    const mod = new WebAssembly.Module(buildModule(g, f) as BufferSource);
    const inst = new WebAssembly.Instance(mod, { env: { mem: memory } });
    k = inst.exports as unknown as Kernels;
  } catch {
    k = null;
  }
  modules.set(key, k);
  return k;
}

/** Byte layout of the arrays of one call in the shared memory (16-byte aligned). */
function place(sizes: number[], eb: number): number[] {
  const offs: number[] = [];
  let at = 0;
  for (const s of sizes) {
    offs.push(at);
    at += Math.ceil((s * eb) / 16) * 16;
  }
  const need = at;
  const have = memory!.buffer.byteLength;
  if (need > have) memory!.grow(Math.ceil((need - have) / 65536));
  return offs;
}

function viewOf(a: FloatArray, off: number, n: number): FloatArray {
  return a instanceof Float32Array
    ? new Float32Array(memory!.buffer, off, n)
    : new Float64Array(memory!.buffer, off, n);
}

export interface SimdGeometry extends Geometry {}

/** Whether the SIMD kernels will run for this dtype and row length. */
export function simdApplies(dtype: "float64" | "float32", rowLength: number): boolean {
  return convBackend() === "wasm" && rowLength % (dtype === "float32" ? F32.vl : F64.vl) === 0;
}

/** Run the SIMD correlate if possible; returns false when the caller must use the TS kernel. */
export function simdCorrelate(
  P: FloatArray,
  w: FloatArray,
  y: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: SimdGeometry,
): boolean {
  const f = P instanceof Float32Array ? F32 : F64;
  if (convBackend() !== "wasm" || g.n % f.vl !== 0) return false;
  const k = kernels(g, f);
  if (!k) return false;
  const [op, ow, oy] = place([P.length, w.length, y.length], f.eb);
  viewOf(P, op!, P.length).set(P);
  viewOf(w, ow!, w.length).set(w);
  const yv = viewOf(y, oy!, y.length);
  yv.set(y);
  k.correlate(op!, ow!, oy!, nb, cin, cout);
  y.set(viewOf(y, oy!, y.length));
  return true;
}

/** Run the SIMD weight gradient if possible; returns false when the caller must use TS. */
export function simdWeightGrad(
  P: FloatArray,
  gy: FloatArray,
  gw: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: SimdGeometry,
): boolean {
  const f = P instanceof Float32Array ? F32 : F64;
  if (convBackend() !== "wasm" || g.n % f.vl !== 0) return false;
  const k = kernels(g, f);
  if (!k) return false;
  const [op, og, ow] = place([P.length, gy.length, gw.length], f.eb);
  viewOf(P, op!, P.length).set(P);
  viewOf(gy, og!, gy.length).set(gy);
  viewOf(gw, ow!, gw.length).fill(0);
  k.weightGrad(op!, og!, ow!, nb, cin, cout);
  gw.set(viewOf(gw, ow!, gw.length));
  return true;
}

/**
 * Run the SIMD PReLU-and-pad (preluPad) on arrays outside WebAssembly memory if possible:
 * out = padded prelu(z) over `planes` planes of c channels. Returns false when the caller
 * must use its own loop. Exactly the TypeScript arithmetic (a select), so bit-identical.
 */
export function simdPreluPad(
  z: FloatArray,
  out: FloatArray,
  alpha: FloatArray,
  planes: number,
  c: number,
  g: SimdGeometry,
): boolean {
  const f = z instanceof Float32Array ? F32 : F64;
  if (convBackend() !== "wasm" || g.n % f.vl !== 0) return false;
  const k = kernels(g, f);
  if (!k) return false;
  const [oz, oP, oa] = place([z.length, out.length, alpha.length], f.eb);
  viewOf(z, oz!, z.length).set(z);
  viewOf(alpha, oa!, alpha.length).set(alpha);
  k.preluPad(oz!, oP!, oa!, planes, c, alpha.length === 1 ? 0 : 1);
  out.set(viewOf(out, oP!, out.length));
  return true;
}

/**
 * The float32 end of a coupling layer (simd-couple.ts) on arrays outside WebAssembly
 * memory: h (pre-tanh s, t; overwritten with s, t), out = packed [nb, v + 1]. `active` is
 * 1 at active sites, 0 at frozen ones. Returns false when the caller must use its own loop.
 */
export function simdCouple(
  x: Float32Array,
  h: Float32Array,
  active: Float32Array,
  nb: number,
  inverse: boolean,
  out: Float32Array,
  g: SimdGeometry,
): boolean {
  if (convBackend() !== "wasm" || g.n % F32.vl !== 0) return false;
  const k = kernels(g, F32);
  if (!k?.coupleF32) return false;
  const [ox, oh, om, oo] = place([x.length, h.length, active.length, out.length], F32.eb);
  viewOf(x, ox!, x.length).set(x);
  const hv = viewOf(h, oh!, h.length);
  hv.set(h);
  viewOf(active, om!, active.length).set(active);
  k.coupleF32(ox!, oh!, om!, oo!, nb, inverse ? 1 : 0);
  h.set(hv);
  out.set(viewOf(out, oo!, out.length));
  return true;
}

/**
 * A region of WebAssembly memory holding arrays of one computation, so that consecutive
 * kernels pass data without copies (the untaped fused coupling forward). Views are valid
 * until the next `arena` call (which may grow the memory).
 */
export function arena(
  dtype: "float64" | "float32",
  sizes: number[],
  g: SimdGeometry,
): { offsets: number[]; view: (k: number) => FloatArray; kernels: Kernels } | null {
  const f = dtype === "float32" ? F32 : F64;
  if (convBackend() !== "wasm" || g.n % f.vl !== 0) return null;
  const k = kernels(g, f);
  if (!k) return null;
  const offsets = place(sizes, f.eb);
  const view = (i: number) =>
    f.eb === 4
      ? new Float32Array(memory!.buffer, offsets[i]!, sizes[i]!)
      : new Float64Array(memory!.buffer, offsets[i]!, sizes[i]!);
  return { offsets, view, kernels: k };
}
