/**
 * Dense matrix products C[M,N] = op(A)·op(B) (+ bias) as WebAssembly SIMD, generated at run
 * time by assembler.ts (no toolchain; the same code runs in browsers). f32x4 in float32,
 * f64x2 in float64; multiplies and adds only (no relaxed SIMD, no fused multiply–add), so
 * every engine computes the same bits.
 *
 * Layout (as in BLIS / GotoBLAS): A is packed into panels of MR rows, [⌈M/MR⌉][P][MR], and B
 * into panels of NR columns, [⌈N/NR⌉][P][NR] (zero-padded at the edges), so that the micro-
 * kernel reads both sequentially. The micro-kernel keeps an MR × NR tile of C in MR·NV vector
 * registers (NR = NV vectors) and per step p loads NV vectors of B, splat-loads MR scalars of
 * A and does MR·NV multiplies and adds. Around it: blocks of KC steps (a B micro-panel of
 * KC·NR stays in L1 while the A panels of a block of MC panels stream from L2).
 *
 * Summation order: every element of C is 0 + a₀b₀ + a₁b₁ + … in ascending p (a KC block
 * stores its partial sums in C and the next reloads them, which changes no bits), then
 * + bias. That is the order of the TypeScript twin (ops/matmul.ts gemmJs), so the two agree
 * bit for bit in float64 and, with the twin rounding each product and sum to float32, in
 * float32.
 *
 * The module (one per dtype, compiled on first use and cached; it shares the memory and heap
 * of the other kernels, simd-heap.ts): gemm, packA / packB (row copies, or in-register 4×4 /
 * 2×2 transposes where the source runs along k), unpad (C without its padded columns), colsum
 * (a bias gradient) and peak (the ceiling micro-kernel of bench/gemm.ts). `simdGemm` is the
 * call the ops make (ops/matmul.ts `gemm`); `setGemmBackend` chooses it or the twin.
 */
import type { DType, FloatArray } from "../tensor.js";
import { Code, I32, uleb, V128, vec, wasmModule } from "./assembler.js";
import { alloc, free, view, wasmMemory } from "./simd-heap.js";
import { convBackend } from "./simd-runtime.js";

interface Flavour {
  eb: number;
  lanes: number;
  add: number;
  mul: number;
  loadSplat: number;
  /** Integer load / store of one element's bits (copies). */
  iload: number;
  istore: number;
  ialign: number;
}
const F32: Flavour = {
  eb: 4,
  lanes: 4,
  add: 0xe4,
  mul: 0xe6,
  loadSplat: 0x09,
  iload: 0x28,
  istore: 0x36,
  ialign: 2,
};
const F64: Flavour = {
  eb: 8,
  lanes: 2,
  add: 0xf0,
  mul: 0xf2,
  loadSplat: 0x0a,
  iload: 0x29,
  istore: 0x37,
  ialign: 3,
};

/** The register tile: MR rows of C, NV vectors (NR = NV·lanes columns) per row. */
export interface GemmTile {
  mr: number;
  nv: number;
}

/** Blocking: KC steps per block, MC A panels per block. */
export interface GemmBlocking {
  kc: number;
  mcPanels: number;
}

const LOAD = 0x00;
const STORE = 0x0b;
const ADD = 0x6a;
const SUB = 0x6b;
const MUL = 0x6c;
const LT_U = 0x49;
const LT_S = 0x48;
const EQ = 0x46;
const mem = (off: number, align = 0) => [align, ...uleb(off)];

function doWhile(c: Code, body: () => void, cond: () => void): void {
  c.op(0x03, 0x40); // loop
  body();
  cond();
  c.op(0x0d, 0, 0x0b); // br_if 0, end
}

function ifThen(c: Code, cond: () => void, then: () => void, otherwise?: () => void): void {
  cond();
  c.op(0x04, 0x40);
  then();
  if (otherwise) {
    c.op(0x05);
    otherwise();
  }
  c.op(0x0b);
}

/** Push min(get(a), get(b)) (signed). */
function minOf(c: Code, a: () => void, b: () => void): void {
  a();
  b();
  a();
  b();
  c.op(LT_S, 0x1b); // select(a, b, a < b)
}

const ZERO = new Array(16).fill(0);

/**
 * gemm(Ap, Bp, C, mPanels, nPanels, P, ldc, kc, mcPanels, bias): C[i][j] = Σ_p A[i][p] B[p][j]
 * (+ bias[j]) over packed A and B; C rows ldc bytes apart, ⌈M/MR⌉·MR rows and ⌈N/NR⌉·NR
 * columns written. bias: a byte offset of ⌈N/NR⌉·NR values, or −1.
 */
export function gemmFn(f: Flavour, t: GemmTile): number[] {
  const c = new Code(10);
  const [AP, BP, C, MP, NP, P, LDC, KC, MC, BIAS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const mrB = t.mr * f.eb;
  const nrB = t.nv * 16;
  const pc = c.local(I32);
  const kk = c.local(I32);
  const ic = c.local(I32);
  const icEnd = c.local(I32);
  const jr = c.local(I32);
  const ir = c.local(I32);
  const ap = c.local(I32);
  const aEnd = c.local(I32);
  const bp = c.local(I32);
  const bBase = c.local(I32);
  const cCol = c.local(I32);
  const cp = c.local(I32);
  const row = c.local(I32);
  const withBias = c.local(I32);
  const acc = Array.from({ length: t.mr }, () => Array.from({ length: t.nv }, () => c.local(V128)));
  const bv = Array.from({ length: t.nv }, () => c.local(V128));
  const av = c.local(V128);

  c.i32(0).set(pc);
  doWhile(
    c,
    () => {
      // kk = min(KC, P − pc); withBias = BIAS ≥ 0 && pc + kk = P
      minOf(
        c,
        () => c.get(KC),
        () => c.get(P).get(pc).op(SUB),
      );
      c.set(kk);
      c.get(BIAS).i32(0).op(0x4e); // i32.ge_s
      c.get(pc).get(kk).op(ADD).get(P).op(EQ, 0x71).set(withBias); // i32.and
      c.i32(0).set(ic);
      doWhile(
        c,
        () => {
          minOf(
            c,
            () => c.get(ic).get(MC).op(ADD),
            () => c.get(MP),
          );
          c.set(icEnd);
          c.i32(0).set(jr);
          doWhile(
            c,
            () => {
              // bBase = BP + (jr·P + pc)·nrB ; cCol = C + jr·nrB
              c.get(BP).get(jr).get(P).op(MUL).get(pc).op(ADD).i32(nrB).op(MUL, ADD).set(bBase);
              c.get(C).get(jr).i32(nrB).op(MUL, ADD).set(cCol);
              c.get(ic).set(ir);
              doWhile(
                c,
                () => {
                  // ap = AP + (ir·P + pc)·mrB ; aEnd = ap + kk·mrB ; cp = cCol + ir·MR·LDC
                  c.get(AP).get(ir).get(P).op(MUL).get(pc).op(ADD).i32(mrB).op(MUL, ADD).set(ap);
                  c.get(ap).get(kk).i32(mrB).op(MUL, ADD).set(aEnd);
                  c.get(bBase).set(bp);
                  c.get(cCol).get(ir).i32(t.mr).op(MUL).get(LDC).op(MUL, ADD).set(cp);
                  ifThen(
                    c,
                    () => c.get(pc).op(0x45), // i32.eqz
                    () => {
                      for (const r of acc) for (const a of r) c.simd(0x0c, ...ZERO).set(a);
                    },
                    () => {
                      c.get(cp).set(row);
                      for (let r = 0; r < t.mr; r++) {
                        for (let v = 0; v < t.nv; v++)
                          c.get(row)
                            .simd(LOAD, ...mem(16 * v))
                            .set(acc[r]![v]!);
                        if (r < t.mr - 1) c.get(row).get(LDC).op(ADD).set(row);
                      }
                    },
                  );
                  doWhile(
                    c,
                    () => {
                      for (let v = 0; v < t.nv; v++)
                        c.get(bp)
                          .simd(LOAD, ...mem(16 * v))
                          .set(bv[v]!);
                      for (let r = 0; r < t.mr; r++) {
                        c.get(ap)
                          .simd(f.loadSplat, ...mem(r * f.eb))
                          .set(av);
                        for (let v = 0; v < t.nv; v++)
                          c.get(acc[r]![v]!).get(av).get(bv[v]!).simd(f.mul).simd(f.add).set(acc[r]![v]!);
                      }
                      c.get(ap).i32(mrB).op(ADD).set(ap);
                      c.get(bp).i32(nrB).op(ADD).set(bp);
                    },
                    () => c.get(ap).get(aEnd).op(LT_U),
                  );
                  ifThen(
                    c,
                    () => c.get(withBias),
                    () => {
                      for (let v = 0; v < t.nv; v++)
                        c.get(BIAS)
                          .get(jr)
                          .i32(nrB)
                          .op(MUL, ADD)
                          .simd(LOAD, ...mem(16 * v))
                          .set(bv[v]!);
                      for (let r = 0; r < t.mr; r++)
                        for (let v = 0; v < t.nv; v++)
                          c.get(acc[r]![v]!).get(bv[v]!).simd(f.add).set(acc[r]![v]!);
                    },
                  );
                  c.get(cp).set(row);
                  for (let r = 0; r < t.mr; r++) {
                    for (let v = 0; v < t.nv; v++)
                      c.get(row)
                        .get(acc[r]![v]!)
                        .simd(STORE, ...mem(16 * v));
                    if (r < t.mr - 1) c.get(row).get(LDC).op(ADD).set(row);
                  }
                  c.get(ir).i32(1).op(ADD).set(ir);
                },
                () => c.get(ir).get(icEnd).op(LT_S),
              );
              c.get(jr).i32(1).op(ADD).set(jr);
            },
            () => c.get(jr).get(NP).op(LT_S),
          );
          c.get(icEnd).set(ic);
        },
        () => c.get(ic).get(MP).op(LT_S),
      );
      c.get(pc).get(kk).op(ADD).set(pc);
    },
    () => c.get(pc).get(P).op(LT_S),
  );
  return c.body();
}

/**
 * pack(src, dst, P, n, sp, sw): panels of W along n, dst[panel][p][w] = element (p, panel·W + w)
 * of a source whose element (p, q) is at src + p·sp + q·sw (byte strides), zero where
 * panel·W + w ≥ n. Full panels with sw = element size are copied as rows of W·eb bytes;
 * others element by element (a transposing copy).
 */
export function packFn(f: Flavour, W: number): number[] {
  const c = new Code(10);
  const [SRC, DST, P, N, SP, SW] = [0, 1, 2, 3, 4, 5];
  const wB = W * f.eb;
  const pb = c.local(I32);
  const base = c.local(I32);
  const wv = c.local(I32);
  const d = c.local(I32);
  const dEnd = c.local(I32);
  const s = c.local(I32);
  const dd = c.local(I32);
  const w = c.local(I32);
  const p0 = c.local(I32);
  const dStop = c.local(I32);
  /** Block size of the in-register transpose: one vector's lanes. */
  const G = f.lanes;
  const rows = Array.from({ length: G }, () => c.local(V128));
  const outs = Array.from({ length: G }, () => c.local(V128));
  const tmp = Array.from({ length: G }, () => c.local(V128));
  c.get(P).i32(wB).op(MUL).set(pb);
  c.i32(0).set(base);
  c.get(DST).set(d);
  doWhile(
    c,
    () => {
      minOf(
        c,
        () => c.i32(W),
        () => c.get(N).get(base).op(SUB),
      );
      c.set(wv);
      c.get(d).get(pb).op(ADD).set(dEnd);
      ifThen(
        c,
        () => {
          c.get(wv).i32(W).op(EQ);
          c.get(SW).i32(f.eb).op(EQ, 0x71);
        },
        () => {
          c.get(SRC).get(base).get(SW).op(MUL, ADD).set(s);
          c.get(d).set(dd);
          doWhile(
            c,
            () => {
              let o = 0;
              for (; o + 16 <= wB; o += 16)
                c.get(dd)
                  .get(s)
                  .simd(LOAD, ...mem(o))
                  .simd(STORE, ...mem(o));
              for (; o + 8 <= wB; o += 8)
                c.get(dd)
                  .get(s)
                  .op(0x29, 0, ...uleb(o))
                  .op(0x37, 0, ...uleb(o));
              for (; o + 4 <= wB; o += 4)
                c.get(dd)
                  .get(s)
                  .op(0x28, 0, ...uleb(o))
                  .op(0x36, 0, ...uleb(o));
              c.get(s).get(SP).op(ADD).set(s);
              c.get(dd).i32(wB).op(ADD).set(dd);
            },
            () => c.get(dd).get(dEnd).op(LT_U),
          );
        },
        () => {
          ifThen(
            c,
            () => c.get(wv).i32(W).op(LT_S),
            () => c.get(d).i32(0).get(pb).op(0xfc, 11, 0), // memory.fill
          );
          c.i32(0).set(p0);
          if (W % G === 0) {
            // A full panel from rows contiguous along p: G×G blocks transposed in registers.
            ifThen(
              c,
              () => {
                c.get(wv).i32(W).op(EQ);
                c.get(SP).i32(f.eb).op(EQ, 0x71);
                c.get(P).i32(G).op(0x4e, 0x71); // P ≥ G
              },
              () => {
                c.get(P).i32(-G).op(0x71).set(p0); // P rounded down to a multiple of G
                c.get(SRC).get(base).get(SW).op(MUL, ADD).set(s);
                c.get(d).set(dd);
                c.get(d).get(p0).i32(wB).op(MUL, ADD).set(dStop);
                doWhile(
                  c,
                  () => {
                    for (let g = 0; g < W / G; g++) {
                      for (let i = 0; i < G; i++) {
                        c.get(s);
                        if (g * G + i > 0)
                          c.get(SW)
                            .i32(g * G + i)
                            .op(MUL, ADD);
                        c.simd(LOAD, ...mem(0)).set(rows[i]!);
                      }
                      transpose(c, f, rows, outs, tmp);
                      for (let j = 0; j < G; j++)
                        c.get(dd)
                          .get(outs[j]!)
                          .simd(STORE, ...mem(j * wB + g * 16));
                    }
                    c.get(s).i32(16).op(ADD).set(s);
                    c.get(dd)
                      .i32(G * wB)
                      .op(ADD)
                      .set(dd);
                  },
                  () => c.get(dd).get(dStop).op(LT_U),
                );
              },
            );
          }
          // Element by element from p0 on (all of a partial panel, or the last P mod G steps).
          ifThen(
            c,
            () => c.get(p0).get(P).op(LT_S),
            () => {
              c.i32(0).set(w);
              doWhile(
                c,
                () => {
                  c.get(SRC)
                    .get(base)
                    .get(w)
                    .op(ADD)
                    .get(SW)
                    .op(MUL, ADD)
                    .get(p0)
                    .get(SP)
                    .op(MUL, ADD)
                    .set(s);
                  c.get(d).get(w).i32(f.eb).op(MUL, ADD).get(p0).i32(wB).op(MUL, ADD).set(dd);
                  doWhile(
                    c,
                    () => {
                      c.get(dd).get(s).op(f.iload, 0, 0).op(f.istore, 0, 0);
                      c.get(s).get(SP).op(ADD).set(s);
                      c.get(dd).i32(wB).op(ADD).set(dd);
                    },
                    () => c.get(dd).get(dEnd).op(LT_U),
                  );
                  c.get(w).i32(1).op(ADD).set(w);
                },
                () => c.get(w).get(wv).op(LT_S),
              );
            },
          );
        },
      );
      c.get(base).i32(W).op(ADD).set(base);
      c.get(dEnd).set(d);
    },
    () => c.get(base).get(N).op(LT_S),
  );
  return c.body();
}

/**
 * unpad(src, dst, rows, rowBytes, srcStride): copy `rows` rows of rowBytes bytes (a multiple of
 * the element size) from rows srcStride bytes apart to consecutive rows (C without its padded
 * columns).
 */
export function unpadFn(f: Flavour): number[] {
  const c = new Code(10);
  const [SRC, DST, ROWS, RB, SS] = [0, 1, 2, 3, 4];
  const r = c.local(I32);
  const s = c.local(I32);
  const d = c.local(I32);
  const end = c.local(I32);
  const vend = c.local(I32);
  c.get(DST).set(d);
  c.i32(0).set(r);
  doWhile(
    c,
    () => {
      c.get(SRC).get(r).get(SS).op(MUL, ADD).set(s);
      c.get(d).get(RB).op(ADD).set(end);
      c.get(RB).i32(-16).op(0x71).get(d).op(ADD).set(vend); // whole vectors end here
      ifThen(
        c,
        () => c.get(d).get(vend).op(LT_U),
        () =>
          doWhile(
            c,
            () => {
              c.get(d)
                .get(s)
                .simd(LOAD, ...mem(0))
                .simd(STORE, ...mem(0));
              c.get(s).i32(16).op(ADD).set(s);
              c.get(d).i32(16).op(ADD).set(d);
            },
            () => c.get(d).get(vend).op(LT_U),
          ),
      );
      ifThen(
        c,
        () => c.get(d).get(end).op(LT_U),
        () =>
          doWhile(
            c,
            () => {
              c.get(d).get(s).op(f.iload, 0, 0).op(f.istore, 0, 0);
              c.get(s).i32(f.eb).op(ADD).set(s);
              c.get(d).i32(f.eb).op(ADD).set(d);
            },
            () => c.get(d).get(end).op(LT_U),
          ),
      );
      c.get(r).i32(1).op(ADD).set(r);
    },
    () => c.get(r).get(ROWS).op(LT_S),
  );
  return c.body();
}

/**
 * colsum(src, dst, rows, cols): dst[c] = Σ_r src[r·cols + c], each column summed in ascending r
 * from 0 (the order of the TypeScript loop it replaces): rows stream through, dst accumulates.
 */
export function colsumFn(f: Flavour): number[] {
  const c = new Code(10);
  const [SRC, DST, ROWS, COLS] = [0, 1, 2, 3];
  const r = c.local(I32);
  const s = c.local(I32);
  const d = c.local(I32);
  const vend = c.local(I32);
  const end = c.local(I32);
  const [sload, sadd, sstore] = f.eb === 4 ? [0x2a, 0x92, 0x38] : [0x2b, 0xa0, 0x39];
  c.get(DST).i32(0).get(COLS).i32(f.eb).op(MUL).op(0xfc, 11, 0); // memory.fill
  c.get(DST).get(COLS).i32(f.eb).op(MUL, ADD).set(end);
  c.get(DST).get(COLS).i32(-f.lanes).op(0x71).i32(f.eb).op(MUL, ADD).set(vend);
  c.get(SRC).set(s);
  c.i32(0).set(r);
  doWhile(
    c,
    () => {
      c.get(DST).set(d);
      ifThen(
        c,
        () => c.get(d).get(vend).op(LT_U),
        () =>
          doWhile(
            c,
            () => {
              c.get(d);
              c.get(d).simd(LOAD, ...mem(0));
              c.get(s)
                .simd(LOAD, ...mem(0))
                .simd(f.add)
                .simd(STORE, ...mem(0));
              c.get(s).i32(16).op(ADD).set(s);
              c.get(d).i32(16).op(ADD).set(d);
            },
            () => c.get(d).get(vend).op(LT_U),
          ),
      );
      ifThen(
        c,
        () => c.get(d).get(end).op(LT_U),
        () =>
          doWhile(
            c,
            () => {
              c.get(d);
              c.get(d).op(sload, 0, 0);
              c.get(s).op(sload, 0, 0, sadd, sstore, 0, 0);
              c.get(s).i32(f.eb).op(ADD).set(s);
              c.get(d).i32(f.eb).op(ADD).set(d);
            },
            () => c.get(d).get(end).op(LT_U),
          ),
      );
      c.get(r).i32(1).op(ADD).set(r);
    },
    () => c.get(r).get(ROWS).op(LT_S),
  );
  return c.body();
}

/** i8x16.shuffle of a and b (on the stack) picking 4-byte (f32) or 8-byte (f64) lanes 0–7. */
function shuffle(c: Code, eb: number, lanes: number[]): void {
  const bytes: number[] = [];
  for (const l of lanes) for (let k = 0; k < eb; k++) bytes.push(l * eb + k);
  c.simd(0x0d, ...bytes);
}

/** outs[j][i] = rows[i][j] for a G×G block (G = lanes: 4 in float32, 2 in float64). */
function transpose(c: Code, f: Flavour, rows: number[], outs: number[], tmp: number[]): void {
  const pair = (x: number, y: number, lanes: number[], to: number) => {
    c.get(x).get(y);
    shuffle(c, f.eb, lanes);
    c.set(to);
  };
  if (f.lanes === 2) {
    pair(rows[0]!, rows[1]!, [0, 2], outs[0]!);
    pair(rows[0]!, rows[1]!, [1, 3], outs[1]!);
    return;
  }
  pair(rows[0]!, rows[1]!, [0, 4, 1, 5], tmp[0]!); // r0₀ r1₀ r0₁ r1₁
  pair(rows[2]!, rows[3]!, [0, 4, 1, 5], tmp[1]!); // r2₀ r3₀ r2₁ r3₁
  pair(rows[0]!, rows[1]!, [2, 6, 3, 7], tmp[2]!);
  pair(rows[2]!, rows[3]!, [2, 6, 3, 7], tmp[3]!);
  pair(tmp[0]!, tmp[1]!, [0, 1, 4, 5], outs[0]!);
  pair(tmp[0]!, tmp[1]!, [2, 3, 6, 7], outs[1]!);
  pair(tmp[2]!, tmp[3]!, [0, 1, 4, 5], outs[2]!);
  pair(tmp[2]!, tmp[3]!, [2, 3, 6, 7], outs[3]!);
}

/**
 * peak(iters, out): the machine's ceiling for this instruction mix — CHAINS independent
 * chains of v ← v·a + b (one multiply and one add per vector per step, a = ½, b = 1 so the
 * values stay finite), iters steps; the chains are stored to out so nothing is dead.
 */
export function peakFn(f: Flavour, chains: number): number[] {
  const c = new Code(10);
  const [ITERS, OUT] = [0, 1];
  const i = c.local(I32);
  const v = Array.from({ length: chains }, () => c.local(V128));
  const a = c.local(V128);
  const b = c.local(V128);
  const cst = (x: number) => {
    const arr = f.eb === 4 ? new Float32Array(4).fill(x) : new Float64Array(2).fill(x);
    return Array.from(new Uint8Array(arr.buffer));
  };
  c.simd(0x0c, ...cst(0.5)).set(a);
  c.simd(0x0c, ...cst(1)).set(b);
  for (let k = 0; k < chains; k++) c.simd(0x0c, ...cst(k)).set(v[k]!);
  c.i32(0).set(i);
  doWhile(
    c,
    () => {
      for (let k = 0; k < chains; k++) c.get(v[k]!).get(a).simd(f.mul).get(b).simd(f.add).set(v[k]!);
      c.get(i).i32(1).op(ADD).set(i);
    },
    () => c.get(i).get(ITERS).op(LT_S),
  );
  for (let k = 0; k < chains; k++)
    c.get(OUT)
      .get(v[k]!)
      .simd(STORE, ...mem(16 * k));
  return c.body();
}

/** Chains in the ceiling kernel: enough to cover add and multiply latency on two ports each. */
export const PEAK_CHAINS = 12;

/** Default register tiles and blocking (bench/gemm.ts measured these; docs/performance.md). */
const TILES: Record<DType, GemmTile> = { float32: { mr: 4, nv: 2 }, float64: { mr: 4, nv: 2 } };
const BLOCKING: Record<DType, GemmBlocking> = {
  float32: { kc: 256, mcPanels: 16 },
  float64: { kc: 128, mcPanels: 16 },
};

function moduleBytes(f: Flavour, t: GemmTile): Uint8Array {
  const type = [0x60, ...vec(new Array(10).fill([I32])), 0x00];
  const named: [string, number[]][] = [
    ["gemm", gemmFn(f, t)],
    ["packA", packFn(f, t.mr)],
    ["packB", packFn(f, t.nv * f.lanes)],
    ["peak", peakFn(f, PEAK_CHAINS)],
    ["unpad", unpadFn(f)],
    ["colsum", colsumFn(f)],
  ];
  return wasmModule(type, named);
}

type Fn10 = (...args: number[]) => void;
export interface GemmKernels {
  gemm: Fn10;
  packA: Fn10;
  packB: Fn10;
  peak: Fn10;
  unpad: Fn10;
  colsum: Fn10;
  tile: GemmTile;
  dtype: DType;
}

const modules = new Map<string, GemmKernels | null>();

/** The compiled kernels for a dtype (and tile: benchmarks try others), cached; null if none. */
export function gemmKernels(dtype: DType, tile: GemmTile = TILES[dtype]): GemmKernels | null {
  const key = `${dtype}:${tile.mr}x${tile.nv}`;
  if (modules.has(key)) return modules.get(key)!;
  let k: GemmKernels | null = null;
  try {
    const mod = new WebAssembly.Module(moduleBytes(dtype === "float32" ? F32 : F64, tile) as BufferSource);
    const inst = new WebAssembly.Instance(mod, { env: { mem: wasmMemory() } });
    k = { ...(inst.exports as unknown as Omit<GemmKernels, "tile" | "dtype">), tile, dtype };
  } catch {
    k = null;
  }
  modules.set(key, k);
  return k;
}

export type GemmBackend = "auto" | "wasm" | "js";
let backend: GemmBackend = "auto";

/**
 * Where matrix products run: "auto" (default: WebAssembly SIMD from GEMM_MIN_FLOPS up, where
 * supported and `setConvBackend("js")` is not in force), "wasm" (every size; tests), "js"
 * (the TypeScript twin). The results are the same bits either way.
 */
export function setGemmBackend(b: GemmBackend): void {
  backend = b;
}

export function gemmBackend(): GemmBackend {
  return backend;
}

/** Below this many multiply–adds (M·N·P) the TypeScript loop wins (bench/gemm.ts). */
export const GEMM_MIN_MACS = 512;

/** Whether a product of this size runs in WebAssembly. */
export function gemmUsesWasm(macs: number): boolean {
  if (backend === "js" || convBackend() !== "wasm") return false;
  return backend === "wasm" || macs >= GEMM_MIN_MACS;
}

/** How the operands of simdGemm are laid out. */
export interface GemmOperands {
  m: number;
  n: number;
  p: number;
  /** A(i, p) = aT ? a[p·m + i] : a[i·p + p]. */
  a: FloatArray;
  aT: boolean;
  /** B(p, j) = bT ? b[j·P + p] : b[p·n + j]. */
  b: FloatArray;
  bT: boolean;
  bias: FloatArray | null;
  /**
   * Also the column sums of the array `a` itself ([p, m] if aT, else [m, p]), summed in
   * ascending row order from 0: aSums[c] = Σ_r a[r·cols + c] (a dense layer's bias gradient,
   * from the cotangent that its weight-gradient product reads anyway).
   */
  aSums?: FloatArray;
}

/**
 * c[i·n + j] = Σ_p A(i, p) B(p, j) (+ bias[j]) in WebAssembly: copies a and b into
 * WebAssembly memory, packs them, runs the kernel, copies C out. False where it cannot run
 * (no SIMD, heap full); the caller then runs the TypeScript twin.
 */
export function simdGemm(o: GemmOperands, c: FloatArray, blocking?: GemmBlocking): boolean {
  const { m, n, p, a, b, bias } = o;
  const dtype: DType = c instanceof Float32Array ? "float32" : "float64";
  const k = gemmKernels(dtype);
  if (!k || m === 0 || n === 0 || p === 0) return false;
  const eb = dtype === "float32" ? 4 : 8;
  const nr = k.tile.nv * (16 / eb);
  const mP = Math.ceil(m / k.tile.mr);
  const nP = Math.ceil(n / nr);
  const mp = mP * k.tile.mr;
  const np = nP * nr;
  const sumCols = o.aSums ? (o.aT ? m : p) : 0;
  const sizes = [m * p, p * n, mp * p, np * p, mp * np, bias ? np : 0, np === n ? 0 : m * n, sumCols];
  const offs: number[] = [];
  try {
    for (const s of sizes) offs.push(alloc(s * eb));
  } catch (e) {
    free(...offs);
    if (e instanceof RangeError) return false;
    throw e;
  }
  const [aRaw, bRaw, aPack, bPack, cOut, bOff, cDense, sOff] = offs as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  try {
    view(dtype, aRaw, m * p).set(a.length === m * p ? a : a.subarray(0, m * p));
    view(dtype, bRaw, p * n).set(b.length === p * n ? b : b.subarray(0, p * n));
    if (bias) {
      const bv = view(dtype, bOff, np);
      bv.set(bias);
      bv.fill(0, n);
    }
    if (o.aSums) {
      k.colsum(aRaw, sOff, o.aT ? p : m, sumCols, 0, 0, 0, 0, 0, 0);
      o.aSums.set(view(dtype, sOff, sumCols));
    }
    // A panels run along i, B panels along j: strides (along p, along the panel) in bytes.
    if (o.aT) k.packA(aRaw, aPack, p, m, m * eb, eb, 0, 0, 0, 0);
    else k.packA(aRaw, aPack, p, m, eb, p * eb, 0, 0, 0, 0);
    if (o.bT) k.packB(bRaw, bPack, p, n, eb, p * eb, 0, 0, 0, 0);
    else k.packB(bRaw, bPack, p, n, n * eb, eb, 0, 0, 0, 0);
    const blk = blocking ?? BLOCKING[dtype];
    k.gemm(aPack, bPack, cOut, mP, nP, p, np * eb, blk.kc, blk.mcPanels, bias ? bOff : -1);
    if (np === n) c.set(view(dtype, cOut, m * n));
    else {
      k.unpad(cOut, cDense, m, n * eb, np * eb, 0, 0, 0, 0, 0);
      c.set(view(dtype, cDense, m * n));
    }
  } finally {
    free(...offs);
  }
  return true;
}
