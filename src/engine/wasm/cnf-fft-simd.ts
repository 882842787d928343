/**
 * WebAssembly SIMD kernels of the continuous flow's FFT convolution (../fused/cnf-fft.ts and
 * cnf-conv.ts have the maths; ../fused/cnf-resident.ts calls these): the radix-2 and radix-4
 * stages of the lattice FFT (forward: decimation in frequency, twiddles after the butterfly;
 * inverse: decimation in time, twiddles before), and the two pointwise products in Fourier
 * space. f32x4 in float32, f64x2 in float64; + − × only.
 *
 * Stage kernels r{p}f, r{p}i for p = 2, 4 (split-radix butterflies) and 3, 5, 7 (a naive
 * p-point DFT with constant roots of unity) (DATA, LINES, LINEB, BLOCKS, BLOCKB, SPAN, SPANB,
 * ELEMB, CB, TW): for each of LINES lines (LINEB bytes apart), BLOCKS blocks (BLOCKB apart) and k < SPAN,
 * the butterfly on the elements at a₀ + r·SPANB (a₀ = line + block + k·ELEMB), each element
 * ELEMB bytes of complex blocks [CB bytes of real parts | CB bytes of imaginary parts] (CB a
 * multiple of 16). TW holds, per k, the twiddles W^{rk} (r = 1 … p−1) as splatted vectors
 * (re, im) with the direction's sign.
 *
 * contract(H, KH, W, V, Q, F, QW): W[x][q] = Σ_f KH[x][f]·H[x][q][re f], W[x][QW + q] = … [im f]
 * (H: per site Q complex blocks of F; F·eb a multiple of 16; W: per site 2·QW numbers, QW ≥ Q
 * so that its complex blocks are whole vectors for the stages; W[x][Q…QW) is left as it is).
 * pointBack(H, G, KH, RED, GH, V, Q, F, QW): with g = (G[x][q], G[x][QW + q]):
 * RED[x][f] += H[x][q][re f]·g_re + H[x][q][im f]·g_im, GH[x][q][re/im f] = KH[x][f]·g_re/im.
 */
import * as math from "../../math/index.js";
import type { DType } from "../tensor.js";
import { Code, I32, uleb, V128, vec, wasmModule } from "./assembler.js";
import { wasmMemory } from "./simd-heap.js";

const LOAD = 0x00;
const STORE = 0x0b;
const CONST = 0x0c;
const [I32_ADD, I32_SUB, I32_MUL] = [0x6a, 0x6b, 0x6c];
const m = (off = 0) => [0, ...uleb(off)];

interface Fl {
  eb: number;
  add: number;
  sub: number;
  mul: number;
  splat: number;
  sload: number;
  sstore: number;
  salign: number;
  sadd: number;
}
const F64: Fl = {
  eb: 8,
  add: 0xf0,
  sub: 0xf1,
  mul: 0xf2,
  splat: 0x14,
  sload: 0x2b,
  sstore: 0x39,
  salign: 3,
  sadd: 0xa0,
};
const F32: Fl = {
  eb: 4,
  add: 0xe4,
  sub: 0xe5,
  mul: 0xe6,
  splat: 0x13,
  sload: 0x2a,
  sstore: 0x38,
  salign: 2,
  sadd: 0x92,
};

const PARAMS = 10;
const ZERO16 = new Array(16).fill(0);

/** Complex numbers as (re, im) local pairs, and their arithmetic into new or given locals. */
class Cx {
  constructor(
    private readonly c: Code,
    private readonly f: Fl,
  ) {}
  pair(): [number, number] {
    return [this.c.local(V128), this.c.local(V128)];
  }
  /** out = a ∘ b (add or sub), componentwise. */
  addsub(op: "add" | "sub", a: [number, number], b: [number, number], out: [number, number]): void {
    const o = op === "add" ? this.f.add : this.f.sub;
    this.c.get(a[0]).get(b[0]).simd(o).set(out[0]);
    this.c.get(a[1]).get(b[1]).simd(o).set(out[1]);
  }
  /** out = a·w (out ≠ a). */
  mul(a: [number, number], w: [number, number], out: [number, number]): void {
    const { c, f } = this;
    c.get(a[0]).get(w[0]).simd(f.mul).get(a[1]).get(w[1]).simd(f.mul).simd(f.sub).set(out[0]);
    c.get(a[0]).get(w[1]).simd(f.mul).get(a[1]).get(w[0]).simd(f.mul).simd(f.add).set(out[1]);
  }
}

const [DATA, LINES, LINEB, BLOCKS, BLOCKB, SPAN, SPANB, ELEMB, CB, TW] = Array.from(
  { length: PARAMS },
  (_, i) => i,
);

function stageFn(f: Fl, radix: number, inverse: boolean): number[] {
  const c = new Code(PARAMS);
  const cx = new Cx(c, f);
  const [line, blk, k, u, j, lp, bp, a0, p, tw, uEnd] = Array.from({ length: 11 }, () => c.local(I32));
  const x = Array.from({ length: radix }, () => cx.pair());
  const w = Array.from({ length: radix - 1 }, () => cx.pair());
  const t = Array.from({ length: 4 }, () => cx.pair());
  const addr = (r: number, im: boolean) => {
    c.get(p);
    if (r > 0) c.get(SPANB).i32(r).op(I32_MUL, I32_ADD);
    if (im) c.get(CB).op(I32_ADD);
  };
  c.loop(
    line,
    () => c.get(LINES),
    1,
    () => {
      c.get(DATA).get(line).get(LINEB).op(I32_MUL, I32_ADD).set(lp);
      c.loop(
        blk,
        () => c.get(BLOCKS),
        1,
        () => {
          c.get(lp).get(blk).get(BLOCKB).op(I32_MUL, I32_ADD).set(bp);
          c.get(TW).set(tw);
          c.loop(
            k,
            () => c.get(SPAN),
            1,
            () => {
              w.forEach((wr, i) => {
                c.get(tw)
                  .simd(LOAD, 4, ...uleb(32 * i))
                  .set(wr[0]);
                c.get(tw)
                  .simd(LOAD, 4, ...uleb(32 * i + 16))
                  .set(wr[1]);
              });
              c.get(tw)
                .i32(32 * w.length)
                .op(I32_ADD)
                .set(tw);
              c.get(bp).get(k).get(ELEMB).op(I32_MUL, I32_ADD).set(a0);
              c.get(a0).get(ELEMB).op(I32_ADD).set(uEnd);
              // over the complex blocks of the element, then the vectors of a block
              c.get(a0).set(u);
              c.op(0x02, 0x40, 0x03, 0x40); // block, loop
              c.get(u).get(uEnd).op(0x4f, 0x0d, 1); // i32.ge_u, br_if 1
              c.loop(
                j,
                () => c.get(CB),
                16,
                () => {
                  c.get(u).get(j).op(I32_ADD).set(p);
                  x.forEach((xr, r) => {
                    addr(r, false);
                    c.simd(LOAD, ...m()).set(xr[0]);
                    addr(r, true);
                    c.simd(LOAD, ...m()).set(xr[1]);
                  });
                  const out =
                    radix === 2 || radix === 4
                      ? butterfly(c, cx, f, radix, inverse, x, w, t)
                      : naive(c, cx, f, radix, inverse, x, w);
                  out.forEach((o, r) => {
                    addr(r, false);
                    c.get(o[0]).simd(STORE, ...m());
                    addr(r, true);
                    c.get(o[1]).simd(STORE, ...m());
                  });
                },
              );
              c.get(u).get(CB).i32(2).op(I32_MUL, I32_ADD).set(u);
              c.op(0x0c, 0, 0x0b, 0x0b); // br 0, end, end
            },
          );
        },
      );
    },
  );
  return c.body();
}

/** The butterfly on x (clobbered) with twiddles w; returns the locals holding outputs 0…radix−1. */
function butterfly(
  c: Code,
  cx: Cx,
  f: Fl,
  radix: 2 | 4,
  inverse: boolean,
  x: [number, number][],
  w: [number, number][],
  t: [number, number][],
): [number, number][] {
  const [t0, t1, t2, t3] = t as [[number, number], [number, number], [number, number], [number, number]];
  if (radix === 2) {
    const [x0, x1] = x as [[number, number], [number, number]];
    if (inverse) {
      cx.mul(x1, w[0]!, t0);
      cx.addsub("add", x0, t0, x1); // x1 is free once t0 = x1·w
      cx.addsub("sub", x0, t0, t1);
      return [x1, t1];
    }
    cx.addsub("add", x0, x1, t0);
    cx.addsub("sub", x0, x1, t1);
    cx.mul(t1, w[0]!, t2);
    return [t0, t2];
  }
  const [x0, x1, x2, x3] = x as [[number, number], [number, number], [number, number], [number, number]];
  if (inverse) {
    for (const [xi, wi] of [
      [x1, w[0]!],
      [x2, w[1]!],
      [x3, w[2]!],
    ] as const) {
      cx.mul(xi, wi, t0);
      c.get(t0[0]).set(xi[0]).get(t0[1]).set(xi[1]);
    }
  }
  cx.addsub("add", x0, x2, t0); // a
  cx.addsub("sub", x0, x2, t1); // b
  cx.addsub("add", x1, x3, t2); // c
  cx.addsub("sub", x1, x3, t3); // x1 − x3
  // e = (x1 − x3)·(∓i): forward (−i) → (im, −re), inverse (+i) → (−im, re); into x3.
  if (inverse) {
    c.get(t3[0]).set(x3[1]);
    c.simd(CONST, ...ZERO16)
      .get(t3[1])
      .simd(f.sub)
      .set(x3[0]);
  } else {
    c.get(t3[1]).set(x3[0]);
    c.simd(CONST, ...ZERO16)
      .get(t3[0])
      .simd(f.sub)
      .set(x3[1]);
  }
  cx.addsub("add", t0, t2, x0); // y0
  cx.addsub("add", t1, x3, x1); // y1
  cx.addsub("sub", t0, t2, x2); // y2
  cx.addsub("sub", t1, x3, t3); // y3
  if (inverse) return [x0, x1, x2, t3];
  cx.mul(x1, w[0]!, t0);
  cx.mul(x2, w[1]!, t1);
  cx.mul(t3, w[2]!, t2);
  return [x0, t0, t1, t2];
}

/** Any radix p: the p-point DFT X_q = Σ_r x_r e^{∓2πi rq/p} with splatted constants, twiddled. */
function naive(
  c: Code,
  cx: Cx,
  f: Fl,
  p: number,
  inverse: boolean,
  x: [number, number][],
  w: [number, number][],
): [number, number][] {
  const sg = inverse ? 1 : -1;
  const tmp = cx.pair();
  if (inverse)
    for (let r = 1; r < p; r++) {
      cx.mul(x[r]!, w[r - 1]!, tmp);
      c.get(tmp[0]).set(x[r]![0]).get(tmp[1]).set(x[r]![1]);
    }
  const out = Array.from({ length: p }, () => cx.pair());
  const sc = new Float64Array(2);
  for (let q = 0; q < p; q++) {
    const o = out[q]!;
    c.get(x[0]![0]).set(o[0]).get(x[0]![1]).set(o[1]);
    for (let r = 1; r < p; r++) {
      math.sincos((2 * Math.PI * ((r * q) % p)) / p, sc);
      const [wr, wi] = [sc[1]!, sg * sc[0]!];
      // o += x_r·(wr + i wi)
      c.get(o[0])
        .get(x[r]![0])
        .simd(CONST, ...splat(f, wr))
        .simd(f.mul)
        .simd(f.add);
      c.get(x[r]![1])
        .simd(CONST, ...splat(f, wi))
        .simd(f.mul)
        .simd(f.sub)
        .set(o[0]);
      c.get(o[1])
        .get(x[r]![0])
        .simd(CONST, ...splat(f, wi))
        .simd(f.mul)
        .simd(f.add);
      c.get(x[r]![1])
        .simd(CONST, ...splat(f, wr))
        .simd(f.mul)
        .simd(f.add)
        .set(o[1]);
    }
  }
  if (inverse) return out;
  for (let q = 1; q < p; q++) {
    cx.mul(out[q]!, w[q - 1]!, tmp);
    c.get(tmp[0]).set(out[q]![0]).get(tmp[1]).set(out[q]![1]);
  }
  return out;
}

function splat(f: Fl, v: number): number[] {
  const a = f.eb === 8 ? new Float64Array([v, v]) : new Float32Array([v, v, v, v]);
  return Array.from(new Uint8Array(a.buffer));
}

/** Radices with a kernel (others: cnf-fft.ts's TypeScript stage). */
export const SIMD_RADICES = [2, 3, 4, 5, 7] as const;

const [H, KH, W, V, Q, F, QW] = [0, 1, 2, 3, 4, 5, 6];

function contractFn(f: Fl): number[] {
  const c = new Code(PARAMS);
  const [x, q, j, hp, kp, wp, fb] = Array.from({ length: 7 }, () => c.local(I32));
  const [re, im, kv] = [c.local(V128), c.local(V128), c.local(V128)];
  const lanes = 16 / f.eb;
  c.get(F).i32(f.eb).op(I32_MUL).set(fb);
  c.get(W).set(wp);
  c.get(H).set(hp);
  c.loop(
    x,
    () => c.get(V),
    1,
    () => {
      c.get(KH).get(x).get(fb).op(I32_MUL, I32_ADD).set(kp);
      c.loop(
        q,
        () => c.get(Q),
        1,
        () => {
          c.simd(CONST, ...ZERO16).set(re);
          c.simd(CONST, ...ZERO16).set(im);
          c.loop(
            j,
            () => c.get(fb),
            16,
            () => {
              c.get(kp)
                .get(j)
                .op(I32_ADD)
                .simd(LOAD, ...m())
                .set(kv);
              c.get(re)
                .get(kv)
                .get(hp)
                .get(j)
                .op(I32_ADD)
                .simd(LOAD, ...m())
                .simd(f.mul)
                .simd(f.add)
                .set(re);
              c.get(im)
                .get(kv)
                .get(hp)
                .get(j)
                .op(I32_ADD)
                .get(fb)
                .op(I32_ADD)
                .simd(LOAD, ...m())
                .simd(f.mul)
                .simd(f.add)
                .set(im);
            },
          );
          for (const [acc, at] of [
            [re, () => c.get(wp)],
            [im, () => c.get(wp).get(QW).i32(f.eb).op(I32_MUL, I32_ADD)],
          ] as const) {
            at();
            for (let l = 0; l < lanes; l++) {
              c.get(acc).simd(f.eb === 8 ? 0x21 : 0x1f, l); // extract_lane
              if (l > 0) c.op(f.sadd);
            }
            c.op(f.sstore, f.salign, 0);
          }
          c.get(wp).i32(f.eb).op(I32_ADD).set(wp);
          c.get(hp).get(fb).i32(2).op(I32_MUL, I32_ADD).set(hp);
        },
      );
      // past the padding and the imaginary half: (2·QW − Q)·eb
      c.get(wp).get(QW).i32(2).op(I32_MUL).get(Q).op(I32_SUB).i32(f.eb).op(I32_MUL, I32_ADD).set(wp);
    },
  );
  return c.body();
}

function pointBackFn(f: Fl): number[] {
  const c = new Code(PARAMS);
  const [H2, G, KH2, RED, GH, V2, Q2, F2, QW2] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [x, q, j, hp, ghp, kp, rp, gp, fb] = Array.from({ length: 9 }, () => c.local(I32));
  const [gr, gi, kv, hr, hi] = Array.from({ length: 5 }, () => c.local(V128));
  c.get(F2).i32(f.eb).op(I32_MUL).set(fb);
  c.get(H2).set(hp);
  c.get(GH).set(ghp);
  c.get(G).set(gp);
  c.loop(
    x,
    () => c.get(V2),
    1,
    () => {
      c.get(KH2).get(x).get(fb).op(I32_MUL, I32_ADD).set(kp);
      c.get(RED).get(x).get(fb).op(I32_MUL, I32_ADD).set(rp);
      c.loop(
        q,
        () => c.get(Q2),
        1,
        () => {
          c.get(gp).op(f.sload, f.salign, 0).simd(f.splat).set(gr);
          c.get(gp).get(QW2).i32(f.eb).op(I32_MUL, I32_ADD).op(f.sload, f.salign, 0).simd(f.splat).set(gi);
          c.loop(
            j,
            () => c.get(fb),
            16,
            () => {
              c.get(kp)
                .get(j)
                .op(I32_ADD)
                .simd(LOAD, ...m())
                .set(kv);
              c.get(hp)
                .get(j)
                .op(I32_ADD)
                .simd(LOAD, ...m())
                .set(hr);
              c.get(hp)
                .get(j)
                .op(I32_ADD)
                .get(fb)
                .op(I32_ADD)
                .simd(LOAD, ...m())
                .set(hi);
              c.get(rp).get(j).op(I32_ADD);
              c.get(rp)
                .get(j)
                .op(I32_ADD)
                .simd(LOAD, ...m());
              c.get(hr).get(gr).simd(f.mul).simd(f.add).get(hi).get(gi).simd(f.mul).simd(f.add);
              c.simd(STORE, ...m());
              c.get(ghp)
                .get(j)
                .op(I32_ADD)
                .get(kv)
                .get(gr)
                .simd(f.mul)
                .simd(STORE, ...m());
              c.get(ghp)
                .get(j)
                .op(I32_ADD)
                .get(fb)
                .op(I32_ADD)
                .get(kv)
                .get(gi)
                .simd(f.mul)
                .simd(STORE, ...m());
            },
          );
          c.get(gp).i32(f.eb).op(I32_ADD).set(gp);
          c.get(hp).get(fb).i32(2).op(I32_MUL, I32_ADD).set(hp);
          c.get(ghp).get(fb).i32(2).op(I32_MUL, I32_ADD).set(ghp);
        },
      );
      c.get(gp).get(QW2).i32(2).op(I32_MUL).get(Q2).op(I32_SUB).i32(f.eb).op(I32_MUL, I32_ADD).set(gp);
    },
  );
  return c.body();
}

type Fn = (...args: number[]) => void;
export interface CnfFftKernels {
  /** Stage kernels by radix: forward (DIF) and inverse (DIT). */
  stage: Map<number, { forward: Fn; inverse: Fn }>;
  /** (H, KH, W, V, Q, F, QW) */
  contract: Fn;
  /** (H, G, KH, RED, GH, V, Q, F, QW) */
  pointBack: Fn;
}

const modules = new Map<DType, CnfFftKernels | null>();

/** The compiled kernels for a dtype, cached; null without WebAssembly SIMD. */
export function cnfFftKernels(dtype: DType): CnfFftKernels | null {
  if (modules.has(dtype)) return modules.get(dtype)!;
  let k: CnfFftKernels | null = null;
  try {
    const f = dtype === "float32" ? F32 : F64;
    const type = [0x60, ...vec(new Array(PARAMS).fill([I32])), 0x00];
    const code = wasmModule(type, [
      ...SIMD_RADICES.flatMap((p) => [
        [`r${p}f`, stageFn(f, p, false)] as [string, number[]],
        [`r${p}i`, stageFn(f, p, true)] as [string, number[]],
      ]),
      ["contract", contractFn(f)],
      ["pointBack", pointBackFn(f)],
    ]);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(code as BufferSource), {
      env: { mem: wasmMemory() },
    });
    const e = inst.exports as unknown as Record<string, Fn>;
    const stage = new Map(
      SIMD_RADICES.map((p) => [p as number, { forward: e[`r${p}f`]!, inverse: e[`r${p}i`]! }]),
    );
    k = { stage, contract: e.contract!, pointBack: e.pointBack! };
  } catch {
    k = null;
  }
  modules.set(dtype, k);
  return k;
}
