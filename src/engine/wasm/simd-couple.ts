/**
 * The float32 end of a fused coupling layer as one WebAssembly SIMD kernel (four sites per
 * instruction), replacing three scalar Math.tanh / Math.exp calls per active site:
 *
 *   s = tanh(h_s),  t = tanh(h_t)                          (written back into h)
 *   forward: y = x·e^{s} + t,   inverse: y = (x − t)·e^{−s}   at active sites; y = x at frozen
 *   log|det J| = ± Σ_active s   (summed in float64)
 *
 * tanh and exp are the single-precision Cephes algorithms (S. L. Moshier, tanhf.c, expf.c):
 * tanh(u) = u + u·z·P(z), z = u², for |u| < 0.625, else sign(u)·(1 − 2/(e^{2|u|} + 1));
 * exp(x) = 2ⁿ·(1 + r + r²·Q(r)), n = round(x/ln 2), r = x − n·ln 2 (ln 2 split in two).
 * Both are within a few float32 ulps of the exact values (tested against Math.tanh/Math.exp),
 * so float32 results differ from the TypeScript path by float32 rounding only, as for the
 * convolutions. NaN propagates (a non-finite network output still rejects the step).
 */
import { Code, I32, uleb, V128 } from "./assembler.js";

const f32x4 = (c: number) => Array.from(new Uint8Array(new Float32Array([c, c, c, c]).buffer));

const TANH_P = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
const EXP_P = [
  1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
];

// SIMD opcodes (after the 0xfd prefix).
const LOAD = 0x00;
const STORE = 0x0b;
const CONST = 0x0c;
const SHUFFLE = 0x0d;
const AND = 0x4e;
const BITSELECT = 0x52;
const NE = 0x42;
const LT = 0x43;
const NEAREST = 0x6a;
const SHL = 0xab;
const ABS = 0xe0;
const ADD = 0xe4;
const SUB = 0xe5;
const MUL = 0xe6;
const DIV = 0xe7;
const PMIN = 0xea; // f32x4.pmin(a, b) = b < a ? b : a
const PMAX = 0xeb; // f32x4.pmax(a, b) = a < b ? b : a
const PROMOTE_LOW = 0x5f;
const F64X2_ADD = 0xf0;
const F64X2_EXTRACT = 0x21;

/**
 * coupleF32(X, H, M, OUT, nb, inverse) for planes of v sites (a multiple of 4): X [nb, v],
 * H [nb, 2, v] (pre-tanh s and t; overwritten with s and t), M [v] float32 with 1 at active
 * sites and 0 at frozen ones, OUT [nb, v + 1] (y, then log|det J|).
 */
export function coupleF32Fn(v: number): number[] {
  const c = new Code(6);
  const [X, H, M, OUT, NB, INV] = [0, 1, 2, 3, 4, 5];
  const b = c.local(I32);
  const j = c.local(I32);
  const hb = c.local(I32);
  const xb = c.local(I32);
  const ob = c.local(I32);
  const mask = c.local(V128);
  const sv = c.local(V128);
  const tv = c.local(V128);
  const xv = c.local(V128);
  const u = c.local(V128);
  const z = c.local(V128);
  const e = c.local(V128);
  const n = c.local(V128);
  const r = c.local(V128);
  const acc0 = c.local(V128);
  const acc1 = c.local(V128);
  const ld = c.local(0x7c); // f64
  const mem = (off: number) => [2, ...uleb(off)];
  const k = (x: number) => c.simd(CONST, ...f32x4(x));

  /** Leaves exp(x) on the stack, x taken from local `x` (clobbers n, r). */
  const exp = (x: number) => {
    // clamp to [−87.3, 88.37] (pmin/pmax: one instruction each; a NaN x passes through)
    c.get(x);
    k(88.3762626647949).simd(PMIN);
    k(-87.3).simd(PMAX).set(r);
    c.get(r);
    k(Math.LOG2E).simd(MUL).simd(NEAREST).set(n);
    // r = (x − n·C1) − n·C2, ln 2 = C1 + C2 with C1 exact in few bits (Cody–Waite)
    c.get(r).get(n);
    k(0.693359375).simd(MUL).simd(SUB);
    c.get(n);
    k(-2.1219444e-4).simd(MUL).simd(SUB).set(r);
    // Q(r) by Horner, then (Q·r²) + r + 1
    k(EXP_P[0]!);
    for (let i = 1; i < EXP_P.length; i++) {
      c.get(r).simd(MUL);
      k(EXP_P[i]!).simd(ADD);
    }
    c.get(r).get(r).simd(MUL).simd(MUL);
    c.get(r).simd(ADD);
    k(1).simd(ADD);
    // · 2ⁿ from the exponent bits: the float n + 127 + 1.5·2²³ holds the integer n + 127
    // in its low mantissa bits; shifted left by 23 that is the biased exponent of 2ⁿ.
    c.get(n);
    k(12582912 + 127).simd(ADD);
    c.i32(23).simd(SHL);
    c.simd(MUL);
  };

  /** Leaves tanh(u) on the stack (clobbers z, e, n, r). */
  const tanh = () => {
    // large |u|: sign(u)·(1 − 2/(e^{2|u|} + 1)), |u| capped at 9 (tanh = 1 in float32)
    c.get(u).simd(ABS);
    k(9).simd(PMIN).set(z);
    c.get(z).get(z).simd(ADD).set(e);
    exp(e);
    k(1).simd(ADD).set(e);
    k(1);
    k(2).get(e).simd(DIV).simd(SUB).set(e); // 1 − 2/(e + 1)
    c.get(u).get(e);
    k(-0).simd(BITSELECT).set(e); // the sign bit from u, the magnitude from 1 − 2/(e + 1)
    // small |u|: u + u·z·P(z), z = u²
    c.get(u).get(u).simd(MUL).set(z);
    k(TANH_P[0]!);
    for (let i = 1; i < TANH_P.length; i++) {
      c.get(z).simd(MUL);
      k(TANH_P[i]!).simd(ADD);
    }
    c.get(z).simd(MUL).get(u).simd(MUL).get(u).simd(ADD);
    c.get(e);
    c.get(u).simd(ABS);
    k(0.625).simd(LT);
    c.simd(BITSELECT); // small where |u| < 0.625 (NaN: the large branch, which is NaN)
  };

  c.loop(
    b,
    () => c.get(NB),
    1,
    () => {
      c.get(H)
        .get(b)
        .i32(2 * v * 4)
        .op(0x6c, 0x6a)
        .set(hb); // i32.mul, i32.add
      c.get(X)
        .get(b)
        .i32(v * 4)
        .op(0x6c, 0x6a)
        .set(xb);
      c.get(OUT)
        .get(b)
        .i32((v + 1) * 4)
        .op(0x6c, 0x6a)
        .set(ob);
      c.simd(CONST, ...new Array(16).fill(0)).set(acc0);
      c.simd(CONST, ...new Array(16).fill(0)).set(acc1);
      c.loop(
        j,
        () => c.i32(v * 4),
        16,
        () => {
          c.get(M)
            .get(j)
            .op(0x6a)
            .simd(LOAD, ...mem(0));
          c.simd(CONST, ...new Array(16).fill(0))
            .simd(NE)
            .set(mask);
          c.get(hb)
            .get(j)
            .op(0x6a)
            .simd(LOAD, ...mem(0))
            .set(u);
          tanh();
          c.set(sv);
          c.get(hb)
            .get(j)
            .op(0x6a)
            .get(sv)
            .simd(STORE, ...mem(0));
          c.get(hb)
            .get(j)
            .op(0x6a)
            .simd(LOAD, ...mem(v * 4))
            .set(u);
          tanh();
          c.set(tv);
          c.get(hb)
            .get(j)
            .op(0x6a)
            .get(tv)
            .simd(STORE, ...mem(v * 4));
          c.get(xb)
            .get(j)
            .op(0x6a)
            .simd(LOAD, ...mem(0))
            .set(xv);
          // address of y, then y
          c.get(ob).get(j).op(0x6a);
          c.get(INV);
          c.op(0x04, V128); // if (result v128)
          c.get(sv);
          k(-1).simd(MUL).set(z);
          exp(z);
          c.get(xv).get(tv).simd(SUB).simd(MUL); // (x − t)·e^{−s}
          c.op(0x05); // else
          exp(sv);
          c.get(xv).simd(MUL).get(tv).simd(ADD); // x·e^{s} + t
          c.op(0x0b); // end
          c.get(xv).get(mask).simd(BITSELECT);
          c.simd(STORE, ...mem(0));
          // log|det J| partial sums in float64: s at active sites, 0 at frozen ones
          c.get(sv).get(mask).simd(AND).set(u);
          c.get(acc0).get(u).simd(PROMOTE_LOW).simd(F64X2_ADD).set(acc0);
          c.get(acc1).get(u).get(u);
          c.simd(SHUFFLE, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
          c.simd(PROMOTE_LOW).simd(F64X2_ADD).set(acc1);
        },
      );
      // OUT[b, v] = ±(Σ lanes), rounded to float32
      c.get(ob);
      c.get(acc0).get(acc1).simd(F64X2_ADD).set(acc0);
      c.get(acc0).simd(F64X2_EXTRACT, 0).get(acc0).simd(F64X2_EXTRACT, 1).op(0xa0).set(ld); // f64.add
      c.get(ld).op(0x9a).get(ld).get(INV).op(0x1b); // select(−ld, ld, inverse)
      c.op(0xb6).op(0x38, ...mem(v * 4)); // f32.demote_f64, f32.store
    },
  );
  return c.body();
}
