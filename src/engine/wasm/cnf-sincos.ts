/**
 * The continuous flow's site features (arXiv 2207.00283; ../fused/cnf-field.ts) as WebAssembly
 * SIMD: sin and cos of ω_k φ for every feature row and frequency, and the backward's per-row
 * contraction. Lanes = two frequencies (f64x2) of one row; two rows per loop iteration, so four
 * independent polynomial chains overlap. The arithmetic is `cnfSinCos` below (the TypeScript
 * twin, the same bits): x = n·π/2 + r by Cody–Waite with 85 bits of π/2 and n rounded to even
 * by the 1.5·2⁵² trick (whose low mantissa bits are n mod 4), fdlibm's kernel polynomials on
 * [−π/4, π/4], and the quadrant applied with selects and sign-bit xors: no branches, no FMA,
 * no relaxed SIMD, so every engine gives the same bits. Valid while |ω_k φ| < 2¹⁹·π/2 (the
 * caller checks; the twin falls back to math.sincos beyond).
 *
 * Memory (byte offsets; rows even; K frequencies padded with zeros to 2·PAIRS; T and G rows
 * [K+1] in the dtype, TSTRIDE bytes apart, column K = φ; everything else float64):
 *   sinesSum(PHI, ROWS, OMEGA, PAIRS, T, TSTRIDE, PHICOL, CS, BP): T[r] = (sin ω φ_r | φ_r) and
 *     CS[r mod BP][k] += cos ω_k φ_r (the cosine sums of sample r mod BP: rows in site order);
 *   sinesStore(…, C, BP, CS): the same T and cosine sums, and C[r][k] = cos ω_k φ_r;
 *   combine(…, C, BP, G, GC, GPHI, GW): with e = G[r][k]·C[r][k] − GC[r mod BP][k]·T[r][k]:
 *     GPHI[r] = G[r][K] + Σ_k ω_k e,  GW[k] += Σ_r φ_r e (cnf-field.ts has the maths).
 * A padded frequency has ω = 0, so its lane adds exactly 0 to GPHI; its GW lane is ignored.
 */
import * as math from "../../math/index.js";
import type { DType } from "../tensor.js";
import { Code, I32, uleb, V128, vec, wasmModule } from "./assembler.js";
import { wasmMemory } from "./simd-heap.js";

const INV_PIO2 = 0.6366197723675814;
const PIO2_1 = 1.5707963267341256;
const PIO2_1T = 6.077100506506192e-11;
const MAGIC = 6755399441055744; // 1.5·2⁵²
const SIN = [
  -0.16666666666666632, 0.00833333333332249, -0.0001984126982985795, 2.7557313707070068e-6,
  -2.5050760253406863e-8, 1.58969099521155e-10,
];
const COS = [
  0.0416666666666666, -0.001388888888887411, 2.480158728947673e-5, -2.7557314351390663e-7,
  2.087572321298175e-9, -1.1359647557788195e-11,
];
/** |ω φ| below this keeps n = round(ω φ·2/π) under 2¹⁹ (PIO2_1 has 33 bits: n·PIO2_1 exact). */
export const SINCOS_MAX_ARG = 524288 * 1.5;

const [S1, S2, S3, S4, S5, S6] = SIN as [number, number, number, number, number, number];
const [C1, C2, C3, C4, C5, C6] = COS as [number, number, number, number, number, number];

/** out = (sin a, cos a): the kernel's arithmetic (math.sincos for |a| ≥ SINCOS_MAX_ARG). */
export function cnfSinCos(a: number, out: Float64Array): void {
  if (!(Math.abs(a) < SINCOS_MAX_ARG)) {
    math.sincos(a, out);
    return;
  }
  const n = a * INV_PIO2 + MAGIC - MAGIC;
  const r = a - n * PIO2_1 - n * PIO2_1T;
  const z = r * r;
  const ps = r + r * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
  const pc = 1 - 0.5 * z + z * z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  const q = n & 3;
  const s = q & 1 ? pc : ps;
  const c = q & 1 ? ps : pc;
  out[0] = q & 2 ? -s : s;
  out[1] = (q + 1) & 2 ? -c : c;
}

// ——— kernels ———

const LOAD = 0x00;
const STORE = 0x0b;
const CONST = 0x0c;
const BITSELECT = 0x52;
const [AND, XOR] = [0x4e, 0x51];
const [I64_SHL, I64_ADD, I64_EQ] = [0xcb, 0xce, 0xd6];
const [FADD, FSUB, FMUL] = [0xf0, 0xf1, 0xf2];
const [I32_ADD, I32_MUL, I32_EQ] = [0x6a, 0x6c, 0x46];
const m = (align: number, off = 0) => [align, ...uleb(off)];
const f64 = (x: number) => Array.from(new Uint8Array(new Float64Array([x, x]).buffer));
const i64 = (x: bigint) => Array.from(new Uint8Array(new BigInt64Array([x, x]).buffer));

const PARAMS = 13;
const [PHI, ROWS, OMEGA, PAIRS, T, TSTRIDE, PHICOL, OUT, BP, G, GC, GPHI, GW] = Array.from(
  { length: PARAMS },
  (_, i) => i,
);

/** Constants in locals, and the sincos of argument vectors into result locals. */
class SinCosEmitter {
  private readonly k: Record<string, number> = {};
  constructor(private readonly c: Code) {
    const set = (name: string, imm: number[]) => {
      const l = c.local(V128);
      c.simd(CONST, ...imm).set(l);
      this.k[name] = l;
    };
    set("inv", f64(INV_PIO2));
    set("magic", f64(MAGIC));
    set("hi", f64(PIO2_1));
    set("lo", f64(PIO2_1T));
    set("one", f64(1));
    set("half", f64(0.5));
    for (const [i, x] of SIN.entries()) set(`s${i}`, f64(x));
    for (const [i, x] of COS.entries()) set(`c${i}`, f64(x));
    set("i1", i64(1n));
    set("i2", i64(2n));
  }

  /** (s_i, c_i) = sincos(a_i), interleaved over i; t, r, z, p are temporaries per argument. */
  emit(args: { a: number; s: number; co: number; t: number; r: number; z: number; p: number }[]): void {
    const c = this.c;
    const k = this.k;
    for (const v of args) c.get(v.a).get(k.inv!).simd(FMUL).get(k.magic!).simd(FADD).set(v.t);
    for (const v of args) {
      c.get(v.t).get(k.magic!).simd(FSUB).set(v.p); // n
      c.get(v.a).get(v.p).get(k.hi!).simd(FMUL).simd(FSUB);
      c.get(v.p).get(k.lo!).simd(FMUL).simd(FSUB).set(v.r);
      c.get(v.r).get(v.r).simd(FMUL).set(v.z);
    }
    // ps = r + (r·z)·(S1 + z(S2 + …)),  pc = (1 − 0.5z) + (z·z)·(C1 + z(C2 + …)), Horner from the top.
    const horner = (name: "s" | "c", out: (v: (typeof args)[0]) => number) => {
      for (const v of args) c.get(k[`${name}5`]!).set(out(v));
      for (let j = 4; j >= 0; j--)
        for (const v of args) c.get(v.z).get(out(v)).simd(FMUL).get(k[`${name}${j}`]!).simd(FADD).set(out(v));
    };
    horner("s", (v) => v.s);
    for (const v of args) c.get(v.r).get(v.r).get(v.z).simd(FMUL).get(v.s).simd(FMUL).simd(FADD).set(v.s);
    horner("c", (v) => v.co);
    for (const v of args) {
      c.get(k.one!).get(k.half!).get(v.z).simd(FMUL).simd(FSUB);
      c.get(v.z).get(v.z).simd(FMUL).get(v.co).simd(FMUL).simd(FADD).set(v.co);
    }
    for (const v of args) {
      // odd quadrant: swap; q & 2: negate sin; (q + 1) & 2: negate cos.
      c.get(v.t).get(k.i1!).simd(AND).get(k.i1!).simd(I64_EQ).set(v.p);
      c.get(v.co).get(v.s).get(v.p).simd(BITSELECT);
      c.get(v.t).get(k.i2!).simd(AND).i32(62).simd(I64_SHL).simd(XOR).set(v.r);
      c.get(v.s).get(v.co).get(v.p).simd(BITSELECT);
      c.get(v.t).get(k.i1!).simd(I64_ADD).get(k.i2!).simd(AND).i32(62).simd(I64_SHL).simd(XOR).set(v.co);
      c.get(v.r).set(v.s);
    }
  }
}

type Mode = "sum" | "store" | "combine";

function kernel(dtype: DType, mode: Mode): number[] {
  const c = new Code(PARAMS);
  const eb = dtype === "float32" ? 4 : 8;
  const em = new SinCosEmitter(c);
  const [r, j, b, pt, po, pg, pgc, pw, pgw] = Array.from({ length: 9 }, () => c.local(I32));
  const rows = [0, 1].map(() => ({
    x: c.local(V128),
    a: c.local(V128),
    s: c.local(V128),
    co: c.local(V128),
    t: c.local(V128),
    r: c.local(V128),
    z: c.local(V128),
    p: c.local(V128),
    acc: c.local(V128),
  }));
  const w = c.local(V128);
  const rowBytes = (base: number, stride: () => void) => {
    c.get(base).get(r);
    stride();
    c.op(I32_MUL, I32_ADD);
  };
  /** Push two dtype values at address (on the stack) + off as f64x2. */
  const loadPair = (off: number) => {
    if (eb === 8) c.simd(LOAD, ...m(0, off));
    else c.simd(0x5d, ...m(0, off)).simd(0x5f); // v128.load64_zero, f64x2.promote_low_f32x4
  };
  const pairsBytes = () => c.get(PAIRS).i32(16).op(I32_MUL);

  c.i32(0).set(b);
  c.loop(
    r,
    () => c.get(ROWS),
    2,
    () => {
      rows.forEach((v, i) => {
        c.get(PHI)
          .get(r)
          .i32(8)
          .op(I32_MUL, I32_ADD)
          .op(0x2b, ...m(3, 8 * i))
          .simd(0x14)
          .set(v.x); // f64x2.splat
      });
      rowBytes(T, () => c.get(TSTRIDE));
      c.set(pt);
      if (mode === "sum") c.get(OUT).get(b).op(I32_ADD).set(po);
      else rowBytes(OUT, pairsBytes);
      if (mode !== "sum") c.set(po);
      if (mode === "combine") {
        rowBytes(G, () => c.get(TSTRIDE));
        c.set(pg);
        c.get(GC).get(b).op(I32_ADD).set(pgc);
        c.get(GW).set(pgw);
        for (const v of rows) c.simd(CONST, ...f64(0)).set(v.acc);
      }
      if (mode === "store") c.get(G).get(b).op(I32_ADD).set(pgc); // G: the cosine sums
      c.get(OMEGA).set(pw);
      c.loop(
        j,
        () => c.get(PAIRS),
        1,
        () => {
          c.get(pw)
            .simd(LOAD, ...m(4))
            .set(w);
          for (const v of rows) c.get(w).get(v.x).simd(FMUL).set(v.a);
          if (mode === "combine") {
            rows.forEach((v, i) => {
              // e = G·C − GC·S into a; acc += ω·e; GW += φ·e
              c.get(pg).get(TSTRIDE).i32(i).op(I32_MUL, I32_ADD);
              loadPair(0);
              c.get(po)
                .get(PAIRS)
                .i32(16 * i)
                .op(I32_MUL, I32_ADD)
                .simd(LOAD, ...m(4));
              c.simd(FMUL);
              c.get(pgc)
                .get(PAIRS)
                .i32(16 * i)
                .op(I32_MUL, I32_ADD)
                .simd(LOAD, ...m(4));
              c.get(pt).get(TSTRIDE).i32(i).op(I32_MUL, I32_ADD);
              loadPair(0);
              c.simd(FMUL).simd(FSUB).set(v.a);
              c.get(v.acc).get(w).get(v.a).simd(FMUL).simd(FADD).set(v.acc);
            });
            c.get(pgw)
              .get(pgw)
              .simd(LOAD, ...m(4));
            for (const v of rows) c.get(v.x).get(v.a).simd(FMUL).simd(FADD);
            c.simd(STORE, ...m(4));
          } else {
            em.emit(rows);
            rows.forEach((v, i) => {
              c.get(pt).get(TSTRIDE).i32(i).op(I32_MUL, I32_ADD);
              c.get(v.s);
              if (eb === 8) c.simd(STORE, ...m(0));
              else c.simd(0x5e).simd(0x5b, ...m(0), 0); // f32x4.demote_f64x2_zero, v128.store64_lane 0
              c.get(po)
                .get(PAIRS)
                .i32(16 * i)
                .op(I32_MUL, I32_ADD);
              if (mode === "sum")
                c.get(po)
                  .get(PAIRS)
                  .i32(16 * i)
                  .op(I32_MUL, I32_ADD)
                  .simd(LOAD, ...m(4));
              c.get(v.co);
              if (mode === "sum") c.simd(FADD);
              c.simd(STORE, ...m(4));
              if (mode === "store") {
                c.get(pgc)
                  .get(PAIRS)
                  .i32(16 * i)
                  .op(I32_MUL, I32_ADD);
                c.get(pgc)
                  .get(PAIRS)
                  .i32(16 * i)
                  .op(I32_MUL, I32_ADD)
                  .simd(LOAD, ...m(4));
                c.get(v.co)
                  .simd(FADD)
                  .simd(STORE, ...m(4));
              }
            });
          }
          c.get(pt)
            .i32(2 * eb)
            .op(I32_ADD)
            .set(pt);
          c.get(po).i32(16).op(I32_ADD).set(po);
          c.get(pw).i32(16).op(I32_ADD).set(pw);
          if (mode !== "sum") c.get(pgc).i32(16).op(I32_ADD).set(pgc);
          if (mode === "combine") {
            c.get(pg)
              .i32(2 * eb)
              .op(I32_ADD)
              .set(pg);
            c.get(pgw).i32(16).op(I32_ADD).set(pgw);
          }
        },
      );
      rows.forEach((v, i) => {
        if (mode === "combine") {
          // GPHI[r + i] = G[r + i][K] + (lane 0 + lane 1)
          c.get(GPHI).get(r).i32(8).op(I32_MUL, I32_ADD);
          rowBytes(G, () => c.get(TSTRIDE));
          c.get(TSTRIDE).i32(i).op(I32_MUL, I32_ADD).get(PHICOL).op(I32_ADD);
          if (eb === 8) c.op(0x2b, ...m(3));
          else c.op(0x2a, ...m(2)).op(0xbb); // f32.load, f64.promote_f32
          c.get(v.acc).simd(0x21, 0).get(v.acc).simd(0x21, 1).op(0xa0).op(0xa0); // extract_lane, f64.add
          c.op(0x39, ...m(3, 8 * i));
        } else {
          // φ into column K of T
          rowBytes(T, () => c.get(TSTRIDE));
          c.get(TSTRIDE).i32(i).op(I32_MUL, I32_ADD).get(PHICOL).op(I32_ADD);
          c.get(PHI)
            .get(r)
            .i32(8)
            .op(I32_MUL, I32_ADD)
            .op(0x2b, ...m(3, 8 * i));
          if (eb === 8) c.op(0x39, ...m(3));
          else c.op(0xb6).op(0x38, ...m(2)); // f32.demote_f64, f32.store
        }
      });
      // b = (b + 2·PAIRS·16) mod (BP·PAIRS·16): the next rows' sample block
      c.get(b).get(PAIRS).i32(32).op(I32_MUL, I32_ADD).set(b);
      c.get(b).get(BP).get(PAIRS).op(I32_MUL).i32(16).op(I32_MUL).op(I32_EQ);
      c.op(0x04, 0x40).i32(0).set(b).op(0x0b); // if … end
    },
  );
  return c.body();
}

type Fn = (...args: number[]) => void;
export interface CnfSinCosKernels {
  sinesSum: Fn;
  sinesStore: Fn;
  combine: Fn;
}

const modules = new Map<DType, CnfSinCosKernels | null>();

/** The compiled kernels for a dtype, cached; null without WebAssembly SIMD. */
export function cnfSinCosKernels(dtype: DType): CnfSinCosKernels | null {
  if (modules.has(dtype)) return modules.get(dtype)!;
  let k: CnfSinCosKernels | null = null;
  try {
    const type = [0x60, ...vec(new Array(PARAMS).fill([I32])), 0x00];
    const code = wasmModule(type, [
      ["sinesSum", kernel(dtype, "sum")],
      ["sinesStore", kernel(dtype, "store")],
      ["combine", kernel(dtype, "combine")],
    ]);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(code as BufferSource), {
      env: { mem: wasmMemory() },
    });
    k = inst.exports as unknown as CnfSinCosKernels;
  } catch {
    k = null;
  }
  modules.set(dtype, k);
  return k;
}
