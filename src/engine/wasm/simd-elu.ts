/**
 * The ELU activation (ops/elu.ts), y = x (x ≥ 0 or NaN), eˣ − 1 (x < 0), and its cotangent
 * g·(min(y, 0) + 1), as WebAssembly SIMD kernels (f32x4 in float32, f64x2 in float64) with
 * TypeScript twins that give the same bits (float32: Math.fround after every operation).
 *
 * Why not Math.exp / Math.expm1: ECMAScript leaves them "implementation-approximated", so
 * Node and Chromium (or two V8 versions) may differ in the last bit, and a run would not be
 * reproducible from its seed everywhere. src/math's fdlibm expm1 is engine-independent but
 * scalar and branchy (~30 ns a call, most of a NeuralRG training step). Here only +, −, ×,
 * comparisons and exponent-bit arithmetic are used, each exactly specified by IEEE 754 in
 * WebAssembly (NaN payloads aside; NaN inputs are passed through untouched anyway) and in
 * JavaScript; no fused multiply–add, no relaxed SIMD. JavaScript never contracts a·b + c.
 *
 * eˣ − 1 for x < 0 (x ≥ 0 and NaN take the other branch of a select):
 *   1. clamp x to ≥ X_MIN (−40 float64, −18 float32). Below −37.5 (float32 −17.4) eˣ is less
 *      than half the spacing of the numbers just below 1, so eˣ − 1 rounds to −1, and the
 *      clamped computation gives −1 too (−∞ → −1).
 *   2. k = round(x/ln2) by the "magic number" trick: t = x·(1/ln2) + 1.5·2⁵² (float32
 *      1.5·2²³) rounds to an integer in its last place (ties to even), k = t − 1.5·2⁵²
 *      exactly, and the low bits of t's encoding are k in two's complement. k ≥ −58 (−26).
 *   3. Cody–Waite: r = (x − k·ln2_hi) − k·ln2_lo, ln2_hi with trailing zero bits (fdlibm's,
 *      and 0x3f317200 in float32) so that k·ln2_hi and x − k·ln2_hi are exact; |r| ≤ ln2/2
 *      (plus a few ulps from the rounding of x/ln2).
 *   4. eʳ − 1 ≈ p(r) = r + r²·Q(r), Horner in Q: Q of degree 9 (p of degree 11) in float64,
 *      of degree 5 (p of degree 7) in float32, minimax for the relative error on
 *      |r| ≤ 0.3466 (Remez in mpmath at 60 digits, coefficients rounded to the dtype):
 *      |p/(eʳ − 1) − 1| ≤ 2.1·10⁻¹⁷ (0.2 ulp) resp. 2.7·10⁻¹⁰. Degree 6 in float32 would
 *      leave 1.2·10⁻⁷ (a whole float32 ulp; even degrees gain little with the linear term
 *      pinned to r), hence 7. Writing r + r²·Q keeps r's bits as the leading term, so tiny
 *      |x| (k = 0, r = x exactly) keeps full relative precision, down to subnormals.
 *   5. s = 2ᵏ from bits ((t's bits << 52) + (1023 << 52), float32 << 23 and 127 << 23; the
 *      twin reads the same powers of two from a table), then eˣ − 1 = s·(1 + p) − 1 computed
 *      as s·p + (s − 1): s·p is exact (a power-of-two scaling, no underflow for k ≥ −58) and
 *      s − 1 is exact for k ≥ −53 (float32 −24), so the only rounding after p is the last
 *      add, and it cancels little: for k ≤ −1 the result has magnitude ≥ 0.29 (for k = 0
 *      it is p itself).
 * Error: for k = 0 (x ∈ [−0.347, 0)) p's last rounding (0.5 ulp) plus r²·Q's rounding and
 * the polynomial's error (together ≲ 0.3 ulp); for k ≤ −1 the error of p and r (≲ 1 ulp of
 * p) is scaled by 2ᵏ against a result of magnitude ≥ 0.29 (≲ 0.6 ulp), plus 0.5 ulp for the
 * final add; for k ≤ −54 (x < −36.7, float64) s − 1 rounds to −1 (≤ 0.71 ulp). So ≲ 1.2 ulp.
 * Measured: float64 ≤ 1.10 ulp of the exact value (mpmath on 1.2·10⁶ inputs: random bit
 * patterns in [−50, 0), uniform, near 0, near the clamp and near k·ln2 and (k + ½)·ln2;
 * 3.4 % not correctly rounded; fdlibm: ≤ 0.76 ulp), ≤ 1 ulp from fdlibm's expm1; float32:
 * all 2.1·10⁹ negative float32 inputs ≤ 1 ulp from Math.fround(fdlibm expm1) (0.3 % differ),
 * and the kernel equal to the twin on every one of them (test/elu-simd.test.ts samples).
 *
 * −0 → −0 and NaN → NaN (its own bits) because the select takes x unless x < 0.
 *
 * `ExpEmitter` emits this arithmetic into other modules' kernels (simd-neuralrg.ts: ELU with
 * these bits, tanh from eˣ − 1, and eˣ = 2ᵏ·(1 + p(r)) from the same reduction).
 *
 * Memory: JavaScript arrays cannot be read by WebAssembly, so the wrappers copy through a
 * fixed chunk of ELU_CHUNK elements on the shared heap (simd-heap.ts): copy in, run, copy
 * out, chunk by chunk, so the heap stays small and the chunk stays in L1/L2 between the
 * copies (placed off the destination's page alignment: `placed`).
 */
import type { DType, FloatArray } from "../tensor.js";
import { Code, I32, uleb, V128, vec, wasmModule } from "./assembler.js";
import { alloc, free, view, wasmMemory } from "./simd-heap.js";
import { convBackend } from "./simd-runtime.js";

// ——— constants (shared by kernel and twin) ———

/** float64: 1/ln2, ln2 = LN2_HI + LN2_LO (fdlibm), the rounding constant 1.5·2^52, clamp. */
const INV_LN2 = Math.LOG2E; // 1.4426950408889634
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
const MAGIC = 6755399441055744;
const X_MIN = -40;
/** float64 minimax coefficients: p(r) = r + A2·r² + A3·r³ + … + A11·r¹¹. */
const A2 = 0.5000000000000007;
const A3 = 0.16666666666666696;
const A4 = 0.041666666666562435;
const A5 = 0.008333333333293225;
const A6 = 0.0013888888936173086;
const A7 = 0.00019841269986910977;
const A8 = 2.4801499760438072e-5;
const A9 = 2.755711690924823e-6;
const A10 = 2.7628227403817056e-7;
const A11 = 2.5161361378887057e-8;

/** float32 (each exactly a float32): 1/ln2, ln2 = LN2_HI_F (0x3f317200) + LN2_LO_F, 1.5·2^23. */
const INV_LN2_F = 1.4426950216293335;
const LN2_HI_F = 0.693145751953125;
const LN2_LO_F = 1.428606765330187e-6;
const MAGIC_F = 12582912;
const X_MIN_F = -18;
/** float32 minimax coefficients (float32 values): p(r) = r + B2·r² + … + B7·r⁷. */
const B2 = 0.5;
const B3 = 0.1666666716337204;
const B4 = 0.04166632518172264;
const B5 = 0.008333220146596432;
const B6 = 0.001394320628605783;
const B7 = 0.00019962165970355272;

/** 2ᵏ at index k + 64, −64 ≤ k ≤ 0 (exact in both dtypes down to 2⁻⁶⁴). */
const POW2 = new Float64Array(65);
for (let k = 0, v = 1; k >= -64; k--, v /= 2) POW2[k + 64] = v; // halving is exact

// ——— TypeScript twins (monomorphic) ———

/** dst[i] = elu(src[i]), float64 (dst may be src). */
export function eluForwardF64(src: Float64Array, dst: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    if (!(x < 0)) {
      dst[i] = x;
      continue;
    }
    const xc = x < X_MIN ? X_MIN : x;
    const t = xc * INV_LN2 + MAGIC;
    const k = t - MAGIC;
    const r = xc - k * LN2_HI - k * LN2_LO;
    const q =
      ((((((((A11 * r + A10) * r + A9) * r + A8) * r + A7) * r + A6) * r + A5) * r + A4) * r + A3) * r + A2;
    const p = r + r * r * q;
    const s = POW2[k + 64]!;
    dst[i] = s * p + (s - 1);
  }
}

const fr = Math.fround;

/** dst[i] = elu(src[i]) in float32 arithmetic (dst may be src). */
export function eluForwardF32(src: Float32Array, dst: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    if (!(x < 0)) {
      dst[i] = x;
      continue;
    }
    const xc = x < X_MIN_F ? X_MIN_F : x;
    const t = fr(fr(xc * INV_LN2_F) + MAGIC_F);
    const k = t - MAGIC_F; // exact
    const r = fr(fr(xc - fr(k * LN2_HI_F)) - fr(k * LN2_LO_F));
    let q = fr(fr(B7 * r) + B6);
    q = fr(fr(q * r) + B5);
    q = fr(fr(q * r) + B4);
    q = fr(fr(q * r) + B3);
    q = fr(fr(q * r) + B2);
    const p = fr(r + fr(fr(r * r) * q));
    const s = POW2[k + 64]!;
    dst[i] = fr(s * p) + fr(s - 1); // s·p exact; the store rounds the sum to float32
  }
}

/** out[i] = g[i]·(min(y[i], 0) + 1), float64 (out may be g). */
export function eluBackwardF64(g: Float64Array, y: Float64Array, out: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = g[i]! * (Math.min(y[i]!, 0) + 1);
}

/** out[i] = g[i]·(min(y[i], 0) + 1) in float32 arithmetic (out may be g). */
export function eluBackwardF32(g: Float32Array, y: Float32Array, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = g[i]! * fr(Math.min(y[i]!, 0) + 1); // the store rounds
}

// ——— WebAssembly kernels ———

/** A dtype's SIMD opcodes and constants (exported for the kernels that reuse `ExpEmitter`). */
export interface Flavour {
  eb: number;
  add: number;
  sub: number;
  mul: number;
  min: number;
  pmax: number;
  lt: number;
  /** For the kernels that reuse ExpEmitter: pmin, gt, abs, neg, div. */
  pmin: number;
  gt: number;
  abs: number;
  neg: number;
  div: number;
  /** Integer lane shift left / add of the same width. */
  shl: number;
  iadd: number;
  shift: number;
  splat: (x: number) => number[];
  /** The exponent bias in place: 1023 << 52 / 127 << 23, as integer lanes. */
  bias: number[];
  invLn2: number;
  ln2Hi: number;
  ln2Lo: number;
  magic: number;
  xMin: number;
  coeffs: number[];
}

const bytesOf = (a: ArrayBufferView) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
export const F64: Flavour = {
  eb: 8,
  add: 0xf0,
  sub: 0xf1,
  mul: 0xf2,
  min: 0xf4,
  pmax: 0xf7,
  lt: 0x49,
  pmin: 0xf6,
  gt: 0x4a,
  abs: 0xec,
  neg: 0xed,
  div: 0xf3,
  shl: 0xcb, // i64x2.shl
  iadd: 0xce, // i64x2.add
  shift: 52,
  splat: (x) => bytesOf(new Float64Array([x, x])),
  bias: bytesOf(new BigInt64Array([1023n << 52n, 1023n << 52n])),
  invLn2: INV_LN2,
  ln2Hi: LN2_HI,
  ln2Lo: LN2_LO,
  magic: MAGIC,
  xMin: X_MIN,
  coeffs: [A2, A3, A4, A5, A6, A7, A8, A9, A10, A11],
};
export const F32: Flavour = {
  eb: 4,
  add: 0xe4,
  sub: 0xe5,
  mul: 0xe6,
  min: 0xe8,
  pmax: 0xeb,
  lt: 0x43,
  pmin: 0xea,
  gt: 0x44,
  abs: 0xe0,
  neg: 0xe1,
  div: 0xe7,
  shl: 0xab, // i32x4.shl
  iadd: 0xae, // i32x4.add
  shift: 23,
  splat: (x) => bytesOf(new Float32Array([x, x, x, x])),
  bias: bytesOf(new Int32Array([127 << 23, 127 << 23, 127 << 23, 127 << 23])),
  invLn2: INV_LN2_F,
  ln2Hi: LN2_HI_F,
  ln2Lo: LN2_LO_F,
  magic: MAGIC_F,
  xMin: X_MIN_F,
  coeffs: [B2, B3, B4, B5, B6, B7],
};

const LOAD = 0x00;
const STORE = 0x0b;
const CONST = 0x0c;
const BITSELECT = 0x52;
/** memarg of a v128 load / store: 16-byte alignment, byte offset o. */
const at = (o: number) => [4, ...uleb(o)];

/** The largest / smallest arguments of `ExpEmitter.exp` whose 2ᵏ is a normal number. */
const EXP_HI = { 8: 709, 4: 88 } as const;
const EXP_LO = { 8: -708, 4: -87.3 } as const;

/**
 * The arithmetic of the kernel below as a code emitter for kernels in other modules
 * (simd-neuralrg.ts): e^x − 1 with the same instructions, hence the same bits as `elu`'s
 * kernel and its twins, plus e^x from the same reduction. Made at the start of a function
 * body: the constructor sets the constant locals, before any loop. Each method takes the
 * locals of one or more argument vectors and the locals to write the results to, and
 * interleaves the vectors step by step (independent instructions side by side: the
 * out-of-order window of the core sees several chains at once, as `UNROLL` does below).
 * Results may overwrite arguments; the emitter's temporaries are clobbered.
 */
export class ExpEmitter {
  private readonly cst: Record<string, number> = {};
  private readonly coeffs: number[];
  private readonly tmp: { xc: number; t: number; k: number; r: number; q: number; s: number }[] = [];

  constructor(
    private readonly c: Code,
    readonly f: Flavour,
  ) {
    const set = (name: string, imm: number[]) => {
      const l = c.local(V128);
      c.simd(CONST, ...imm).set(l);
      this.cst[name] = l;
    };
    set("xMin", f.splat(f.xMin));
    set("invLn2", f.splat(f.invLn2));
    set("magic", f.splat(f.magic));
    set("hi", f.splat(f.ln2Hi));
    set("lo", f.splat(f.ln2Lo));
    set("one", f.splat(1));
    set("zero", f.splat(0));
    set("bias", f.bias);
    set("expHi", f.splat(EXP_HI[f.eb as 4 | 8]));
    set("expLo", f.splat(EXP_LO[f.eb as 4 | 8]));
    set("inf", f.splat(Number.POSITIVE_INFINITY));
    this.coeffs = f.coeffs.map((x) => {
      const l = c.local(V128);
      c.simd(CONST, ...f.splat(x)).set(l);
      return l;
    });
  }

  /** The local holding a constant vector: 0 or 1. */
  constant(name: "zero" | "one"): number {
    return this.cst[name]!;
  }

  private temps(n: number) {
    while (this.tmp.length < n) {
      const l = () => this.c.local(V128);
      this.tmp.push({ xc: l(), t: l(), k: l(), r: l(), q: l(), s: l() });
    }
    return this.tmp.slice(0, n);
  }

  /**
   * From each xc: t, k, r, Q(r), s = 2ᵏ (steps 2–5 of the file comment), then
   * out = s·(r + r²·Q) + (s − 1) (expm1) or s·(r + r²·Q) + s (exp).
   */
  private core(ts: ReturnType<ExpEmitter["temps"]>, outs: readonly number[], plusOne: boolean): void {
    const { c, f, cst } = this;
    for (const v of ts) c.get(v.xc).get(cst.invLn2!).simd(f.mul).get(cst.magic!).simd(f.add).set(v.t);
    for (const v of ts) c.get(v.t).get(cst.magic!).simd(f.sub).set(v.k);
    for (const v of ts) {
      c.get(v.xc).get(v.k).get(cst.hi!).simd(f.mul).simd(f.sub);
      c.get(v.k).get(cst.lo!).simd(f.mul).simd(f.sub).set(v.r);
    }
    const nc = this.coeffs.length;
    for (const v of ts) c.get(this.coeffs[nc - 1]!).set(v.q);
    for (let j = nc - 2; j >= 0; j--)
      for (const v of ts) c.get(v.q).get(v.r).simd(f.mul).get(this.coeffs[j]!).simd(f.add).set(v.q);
    for (const v of ts) c.get(v.t).i32(f.shift).simd(f.shl).get(cst.bias!).simd(f.iadd).set(v.s);
    ts.forEach((v, i) => {
      c.get(v.s);
      c.get(v.r).get(v.r).get(v.r).simd(f.mul).get(v.q).simd(f.mul).simd(f.add);
      c.simd(f.mul); // s·p: exact
      if (plusOne) c.get(v.s).get(cst.one!).simd(f.sub).simd(f.add);
      else c.get(v.s).simd(f.add);
      c.set(outs[i]!);
    });
  }

  /** out_i = e^{x_i} − 1 for the lanes with x_i < 0 (elu's bits); other lanes unspecified. */
  expm1Neg(xs: readonly number[], outs: readonly number[]): void {
    const { c, f, cst } = this;
    const ts = this.temps(xs.length);
    ts.forEach((v, i) => {
      c.get(xs[i]!).get(cst.xMin!).simd(f.pmax).set(v.xc);
    });
    this.core(ts, outs, true);
  }

  /** out_i = elu(x_i): x where !(x < 0), else e^x − 1 (the bits of `eluForward`). */
  elu(xs: readonly number[], outs: readonly number[]): void {
    const { c, f, cst } = this;
    const ts = this.temps(xs.length);
    ts.forEach((v, i) => {
      c.get(xs[i]!).get(cst.xMin!).simd(f.pmax).set(v.xc);
    });
    this.core(
      ts,
      ts.map((v) => v.k),
      true,
    );
    ts.forEach((v, i) => {
      c.get(v.k).get(xs[i]!).get(xs[i]!).get(cst.zero!).simd(f.lt).simd(BITSELECT).set(outs[i]!);
    });
  }

  /**
   * out_i = e^{x_i} = s·p + s (one rounding after p; ≲ 1 ulp), x clamped to [EXP_LO, EXP_HI]
   * so that 2ᵏ is normal, then +∞ above EXP_HI and 0 below EXP_LO (float32: e^x for x in
   * (88, 88.72] overflows one step early); NaN stays NaN.
   */
  exp(xs: readonly number[], outs: readonly number[]): void {
    const { c, f, cst } = this;
    const ts = this.temps(xs.length);
    ts.forEach((v, i) => {
      c.get(xs[i]!).get(cst.expLo!).simd(f.pmax).get(cst.expHi!).simd(f.pmin).set(v.xc);
    });
    this.core(
      ts,
      ts.map((v) => v.k),
      false,
    );
    ts.forEach((v, i) => {
      const x = xs[i]!;
      c.get(cst.inf!).get(v.k).get(x).get(cst.expHi!).simd(f.gt).simd(BITSELECT).set(v.k);
      c.get(cst.zero!).get(v.k).get(x).get(cst.expLo!).simd(f.lt).simd(BITSELECT).set(outs[i]!);
    });
  }
}

/** Vectors per loop iteration: independent chains for the out-of-order core (4: bench, ~1.4× 1). */
const UNROLL = 4;
/** Bytes per loop iteration: the kernels run over whole multiples of this. */
const STEP = 16 * UNROLL;

/**
 * elu(ptr, end): v ← elu(v) in place for the vectors at byte offsets ptr, ptr + 16, … < end
 * (end − ptr a positive multiple of STEP).
 */
function forwardFn(f: Flavour): number[] {
  const c = new Code(3);
  const [PTR, END] = [0, 1];
  const p = c.local(I32);
  /** A constant vector, set in a local before the loop; the function pushes it. */
  const cst = (imm: number[]) => {
    const l = c.local(V128);
    c.simd(CONST, ...imm).set(l);
    return () => c.get(l);
  };
  const xMin = cst(f.splat(f.xMin));
  const invLn2 = cst(f.splat(f.invLn2));
  const magic = cst(f.splat(f.magic));
  const hi = cst(f.splat(f.ln2Hi));
  const lo = cst(f.splat(f.ln2Lo));
  const one = cst(f.splat(1));
  const zero = cst(f.splat(0));
  const coeffs = f.coeffs.map((x) => cst(f.splat(x)));
  const bias = cst(f.bias);
  const lanes = Array.from({ length: UNROLL }, () => ({
    x: c.local(V128),
    xc: c.local(V128),
    t: c.local(V128),
    k: c.local(V128),
    r: c.local(V128),
    q: c.local(V128),
    s: c.local(V128),
  }));
  c.get(PTR).set(p);
  c.op(0x03, 0x40); // loop
  lanes.forEach((v, u) => {
    c.get(p)
      .simd(LOAD, ...at(16 * u))
      .set(v.x);
    c.get(v.x);
    xMin();
    c.simd(f.pmax).set(v.xc); // xc = x < xMin ? xMin : x
    c.get(v.xc);
    invLn2();
    c.simd(f.mul);
    magic();
    c.simd(f.add).set(v.t);
    c.get(v.t);
    magic();
    c.simd(f.sub).set(v.k);
    c.get(v.xc).get(v.k);
    hi();
    c.simd(f.mul).simd(f.sub);
    c.get(v.k);
    lo();
    c.simd(f.mul).simd(f.sub).set(v.r);
  });
  // Horner for Q, the lanes interleaved step by step.
  const nc = coeffs.length;
  for (const v of lanes) {
    coeffs[nc - 1]!();
    c.set(v.q);
  }
  for (let j = nc - 2; j >= 0; j--)
    for (const v of lanes) {
      c.get(v.q).get(v.r).simd(f.mul);
      coeffs[j]!();
      c.simd(f.add).set(v.q);
    }
  lanes.forEach((v, u) => {
    // s = 2ᵏ from t's low bits
    c.get(v.t).i32(f.shift).simd(f.shl);
    bias();
    c.simd(f.iadd).set(v.s);
    c.get(p); // store address
    // e = s·(r + r²·Q) + (s − 1)
    c.get(v.s);
    c.get(v.r).get(v.r).get(v.r).simd(f.mul).get(v.q).simd(f.mul).simd(f.add);
    c.simd(f.mul);
    c.get(v.s);
    one();
    c.simd(f.sub).simd(f.add);
    // x < 0 ? e : x
    c.get(v.x).get(v.x);
    zero();
    c.simd(f.lt).simd(BITSELECT);
    c.simd(STORE, ...at(16 * u));
  });
  c.get(p).i32(STEP).op(0x6a).set(p); // p += STEP
  c.get(p).get(END).op(0x49, 0x0d, 0, 0x0b); // i32.lt_u, br_if 0, end
  return c.body();
}

/** eluBack(g, y, end): g ← g·(min(y, 0) + 1) for the vectors of g from g to end (y alongside). */
function backwardFn(f: Flavour): number[] {
  const c = new Code(3);
  const [G, Y, END] = [0, 1, 2];
  const g = c.local(I32);
  const y = c.local(I32);
  const one = c.local(V128);
  const zero = c.local(V128);
  c.simd(CONST, ...f.splat(1)).set(one);
  c.simd(CONST, ...f.splat(0)).set(zero);
  c.get(G).set(g);
  c.get(Y).set(y);
  c.op(0x03, 0x40); // loop
  for (let u = 0; u < UNROLL; u++) {
    c.get(g);
    c.get(g).simd(LOAD, ...at(16 * u));
    c.get(y)
      .simd(LOAD, ...at(16 * u))
      .get(zero)
      .simd(f.min)
      .get(one)
      .simd(f.add)
      .simd(f.mul);
    c.simd(STORE, ...at(16 * u));
  }
  c.get(g).i32(STEP).op(0x6a).set(g);
  c.get(y).i32(STEP).op(0x6a).set(y);
  c.get(g).get(END).op(0x49, 0x0d, 0, 0x0b);
  return c.body();
}

interface EluKernels {
  elu: (ptr: number, end: number, unused: number) => void;
  eluBack: (g: number, y: number, end: number) => void;
}

const modules = new Map<DType, EluKernels | null>();

/** The compiled kernels for a dtype, cached; null without WebAssembly SIMD. */
export function eluKernels(dtype: DType): EluKernels | null {
  if (modules.has(dtype)) return modules.get(dtype)!;
  let k: EluKernels | null = null;
  try {
    const f = dtype === "float32" ? F32 : F64;
    const type = [0x60, ...vec([[I32], [I32], [I32]]), 0x00];
    const code = wasmModule(type, [
      ["elu", forwardFn(f)],
      ["eluBack", backwardFn(f)],
    ]);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(code as BufferSource), {
      env: { mem: wasmMemory() },
    });
    k = inst.exports as unknown as EluKernels;
  } catch {
    k = null;
  }
  modules.set(dtype, k);
  return k;
}

/** Elements per chunk copied through WebAssembly memory (32 KiB in float64). */
export const ELU_CHUNK = 4096;

const roundStep = (b: number) => Math.ceil(b / STEP) * STEP;
const PAGE = 4096;

/**
 * Where a chunk goes inside a region of size + PAGE bytes at `off`: half a page away (mod
 * 4096) from the array it is copied out to. Large typed arrays start page-aligned, and so
 * would the chunk, and then every load of the copy out has the low 12 address bits of a
 * store just before it ("4K aliasing": the copy ran 4× slower). `partner` is that array's
 * byteOffset (its buffer taken as page-aligned); shift moves the chunk further along.
 */
function placed(off: number, partner: number, shift = 0): number {
  return off + (((((partner + PAGE / 2 + shift - off) % PAGE) + PAGE) % PAGE) & ~15); // 16-aligned
}

/** dst = elu(src) in WebAssembly (dst may be src); false where it cannot run (no SIMD, heap full). */
export function eluForwardWasm(src: FloatArray, dst: FloatArray, n: number): boolean {
  const dtype: DType = src instanceof Float32Array ? "float32" : "float64";
  const k = eluKernels(dtype);
  if (!k) return false;
  if (n === 0) return true;
  const eb = src.BYTES_PER_ELEMENT;
  const chunk = Math.min(n, ELU_CHUNK);
  let off: number;
  try {
    off = alloc(roundStep(chunk * eb) + PAGE);
  } catch (e) {
    if (e instanceof RangeError) return false;
    throw e;
  }
  try {
    const base = placed(off, dst.byteOffset);
    const buf = view(dtype, base, chunk);
    for (let i = 0; i < n; i += chunk) {
      const len = Math.min(chunk, n - i);
      buf.set(src.subarray(i, i + len));
      k.elu(base, base + roundStep(len * eb), 0);
      dst.set(len === chunk ? buf : buf.subarray(0, len), i);
    }
  } finally {
    free(off);
  }
  return true;
}

/** out = g·(min(y, 0) + 1) in WebAssembly (out may be g); false where it cannot run. */
export function eluBackwardWasm(g: FloatArray, y: FloatArray, out: FloatArray, n: number): boolean {
  const dtype: DType = g instanceof Float32Array ? "float32" : "float64";
  const k = eluKernels(dtype);
  if (!k) return false;
  if (n === 0) return true;
  const eb = g.BYTES_PER_ELEMENT;
  const chunk = Math.min(n, ELU_CHUNK);
  const size = roundStep(chunk * eb) + PAGE;
  const offs: number[] = [];
  try {
    offs.push(alloc(size), alloc(size));
  } catch (e) {
    free(...offs);
    if (e instanceof RangeError) return false;
    throw e;
  }
  try {
    // g's chunk (copied out) half a page from `out`, y's a quarter page from g's (the kernel
    // loads y just after storing g).
    const gAt = placed(offs[0]!, out.byteOffset);
    const yAt = placed(offs[1]!, gAt, PAGE / 4);
    const gb = view(dtype, gAt, chunk);
    const yb = view(dtype, yAt, chunk);
    for (let i = 0; i < n; i += chunk) {
      const len = Math.min(chunk, n - i);
      gb.set(g.subarray(i, i + len));
      yb.set(y.subarray(i, i + len));
      k.eluBack(gAt, yAt, gAt + roundStep(len * eb));
      out.set(len === chunk ? gb : gb.subarray(0, len), i);
    }
  } finally {
    free(...offs);
  }
  return true;
}

export type EluBackend = "auto" | "wasm" | "js";
let backend: EluBackend = "auto";

/**
 * Where ELU runs: "auto" (default: WebAssembly SIMD from ELU_MIN_WASM elements up, where
 * supported and `setConvBackend("js")` is not in force), "wasm" (every size; tests), "js"
 * (the TypeScript twins). The same bits either way.
 */
export function setEluBackend(b: EluBackend): void {
  backend = b;
}

export function eluBackend(): EluBackend {
  return backend;
}

/** Below this many elements the TypeScript twin wins (the copies and call cost). */
export const ELU_MIN_WASM = 64;

function usesWasm(n: number): boolean {
  if (backend === "js" || convBackend() !== "wasm") return false;
  return backend === "wasm" || n >= ELU_MIN_WASM;
}

/** dst[i] = elu(src[i]) for i < n (dst may be src): y = x (x ≥ 0 or NaN), eˣ − 1 (x < 0). */
export function eluForward(src: FloatArray, dst: FloatArray, n: number): void {
  if (usesWasm(n) && eluForwardWasm(src, dst, n)) return;
  if (src instanceof Float32Array) eluForwardF32(src, dst as Float32Array, n);
  else eluForwardF64(src, dst as Float64Array, n);
}

/** out[i] = g[i]·(min(y[i], 0) + 1) for i < n (out may be g): ELU's cotangent from its output. */
export function eluBackward(g: FloatArray, y: FloatArray, out: FloatArray, n: number): void {
  const f32 = y instanceof Float32Array;
  if (g instanceof Float32Array !== f32 || out instanceof Float32Array !== f32) {
    // A cotangent of another dtype (not made by the engine's ops): the plain formula.
    for (let i = 0; i < n; i++) out[i] = g[i]! * (Math.min(y[i]!, 0) + 1);
    return;
  }
  if (usesWasm(n) && eluBackwardWasm(g, y, out, n)) return;
  if (f32) eluBackwardF32(g as Float32Array, y, out as Float32Array, n);
  else eluBackwardF64(g as Float64Array, y as Float64Array, out as Float64Array, n);
}
