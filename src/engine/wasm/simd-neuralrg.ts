/**
 * NeuralRG's RealNVP block (src/flows/neuralrg-block.ts) as WebAssembly SIMD kernels, one
 * coupling per call: the forward (or inverse) update of a chunk of rows with a trace of what
 * the backward needs, and the backward, which gives the rows' cotangents and accumulates the
 * weight cotangents. The wrapper that chains them over couplings and chunks is
 * ../fused/neuralrg-block.ts.
 *
 * The maths of coupling j on a row x ∈ R⁴ (frozen pair F = (f₀, f₁), active pair A = (a₀, a₁)):
 *   hᵖ_k = ELU(W₀ᵖ[k, f₀]·x_f₀ + W₀ᵖ[k, f₁]·x_f₁ + b₀ᵖ[k])           p ∈ {s, t}, k < H_p
 *   u_c = Σ_k W₂ˢ[a_c, k] hˢ_k + b₂ˢ[a_c],   th_c = tanh(u_c),   s_c = scale[a_c]·th_c
 *   t_c = Σ_k W₂ᵗ[a_c, k] hᵗ_k + b₂ᵗ[a_c]
 *   forward: y_a = x_a·e^{s} + t,  ld += s₀ + s₁;    inverse: y_a = (x_a − t)·e^{−s},  ld −= s₀ + s₁
 * Backward, from the cotangents g (of y) and g_ld, with e = e^{±s} and P = x_a·e (forward) or
 * y_a (inverse):  ḡx_a = g_a·e;  ḡs = ±(g_a·P + g_ld);  ḡt = g_a (forward), −g_a·e (inverse);
 * ḡscale += ḡs·th;  ḡu = ḡs·scale·(1 − th²);  then through each net with output cotangent
 * (γ₀, γ₁) = ḡu or ḡt, recomputing hₖ:  ḡW₂[a_c, k] += γ_c·hₖ,  ḡaₖ = (W₂[a₀,k]γ₀ + W₂[a₁,k]γ₁)·
 * (min(hₖ, 0) + 1),  ḡb₀[k] += ḡaₖ,  ḡW₀[k, f] += ḡaₖ·x_f,  ḡx_f += W₀[k, f]·ḡaₖ.
 *
 * Lanes = rows. A v128 holds the same variable of 4 (f32x4) or 2 (f64x2) consecutive rows, so
 * every product in the hidden loop is a broadcast weight times a row vector, added into a
 * row vector: no horizontal sums, no shuffles, and nets of width 2 → H → 2 (far too thin for
 * a matrix-product kernel) run at the arithmetic's speed. Each loop iteration takes G vectors
 * (G·lanes rows) so that the weights loaded for a hidden unit serve G vectors and the ELU
 * chains of the G vectors overlap. ELU's e^x − 1, tanh(u) = sign(u)·(−m/(m + 2)) with
 * m = e^{−2|u|} − 1, and e^{±s} come from simd-elu.ts's ExpEmitter: only +, −, ×, ÷, min,
 * comparisons, selects and exponent-bit arithmetic, each exactly specified by WebAssembly
 * (no FMA, no relaxed SIMD), so the kernels give the same bits in every engine.
 *
 * Memory (byte offsets into the shared heap; PB = chunk rows × element size, a plane):
 *   state  S: 5 planes: the rows' 4 variables (updated in place), then log|det| (forward);
 *             the rows' 4 cotangents, then g_ld (backward);
 *   trace  T: per coupling, 8 planes: x_f₀, x_f₁, P₀, P₁, th₀, th₁, e₀, e₁;
 *   weights W: per coupling, for each net (s then t) and hidden unit k the 5 vectors
 *             W₀[k, f₀], W₀[k, f₁], b₀[k], W₂[a₀, k], W₂[a₁, k] (each broadcast to all lanes),
 *             then b₂ˢ[a₀], b₂ˢ[a₁], scale[a₀], scale[a₁], b₂ᵗ[a₀], b₂ᵗ[a₁];
 *   ḡ weights GW: the same layout, per-lane partial sums (the wrapper adds the lanes).
 * Every function has the signature (S, T, W, GW, END, F0, F1, A0, A1): END the byte length of
 * the part of a plane to process (a multiple of 16·G), F0 … A1 the byte offsets of the planes
 * of x_f₀, x_f₁, x_a₀, x_a₁ within S.
 */
import type { DType } from "../tensor.js";
import { Code, I32, uleb, V128, vec, wasmModule } from "./assembler.js";
import { ExpEmitter, F32, F64, type Flavour } from "./simd-elu.js";
import { wasmMemory } from "./simd-heap.js";

const LOAD = 0x00;
const STORE = 0x0b;
const CONST = 0x0c;
const BITSELECT = 0x52;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I32_LT_U = 0x49;
const at = (o: number) => [4, ...uleb(o)];

/** Bytes of one hidden unit's weight vectors (5 v128s). */
export const UNIT_BYTES = 80;
/** Vectors of the per-coupling tail: b₂ˢ[a₀], b₂ˢ[a₁], scale[a₀], scale[a₁], b₂ᵗ[a₀], b₂ᵗ[a₁]. */
export const TAIL_VECTORS = 6;
/** Trace planes per coupling. */
export const TRACE_PLANES = 8;

export interface NeuralRgGeometry {
  hiddenS: number;
  hiddenT: number;
  /** Rows per chunk (a multiple of lanes·G). */
  chunk: number;
  /** Vectors per loop iteration. */
  group: number;
}

/** Bytes of one coupling's weight table. */
export function couplingBytes(g: NeuralRgGeometry): number {
  return UNIT_BYTES * (g.hiddenS + g.hiddenT) + 16 * TAIL_VECTORS;
}

const [S, T, W, GW, END, F0, F1, A0, A1] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

function forwardFn(f: Flavour, geo: NeuralRgGeometry, inverse: boolean): number[] {
  const c = new Code(9);
  const em = new ExpEmitter(c, f);
  const G = geo.group;
  const pb = geo.chunk * f.eb;
  const tail = UNIT_BYTES * (geo.hiddenS + geo.hiddenT);
  const p = c.local(I32);
  const w = c.local(I32);
  const wEnd = c.local(I32);
  const pf0 = c.local(I32);
  const pf1 = c.local(I32);
  const pa = [c.local(I32), c.local(I32)];
  const pt = c.local(I32);
  const wv = Array.from({ length: 5 }, () => c.local(V128));
  const signBit = c.local(V128);
  c.simd(CONST, ...f.splat(-0)).set(signBit);
  const two = c.local(V128);
  c.simd(CONST, ...f.splat(2)).set(two);
  const minusTwo = c.local(V128);
  c.simd(CONST, ...f.splat(-2)).set(minusTwo);
  const rows = Array.from({ length: G }, () => ({
    xf0: c.local(V128),
    xf1: c.local(V128),
    u: [c.local(V128), c.local(V128)], // the s-net's outputs
    t: [c.local(V128), c.local(V128)], // the t-net's
    a: c.local(V128),
    h: c.local(V128),
    ld: c.local(V128),
  }));
  /** Per row vector and active component: m, th, s, ±s, e^{±s}, P. */
  const outs = rows.flatMap((r, u) =>
    [0, 1].map((k) => ({
      r,
      u,
      k,
      m: c.local(V128),
      th: c.local(V128),
      sv: c.local(V128),
      sigma: c.local(V128),
      ev: c.local(V128),
      P: c.local(V128),
    })),
  );
  const addr = (base: number, off: number) => c.get(base).get(off).op(I32_ADD).get(p).op(I32_ADD);

  c.i32(0).set(p);
  c.op(0x03, 0x40); // loop over row groups
  addr(S, F0).set(pf0);
  addr(S, F1).set(pf1);
  addr(S, A0).set(pa[0]!);
  addr(S, A1).set(pa[1]!);
  c.get(T).get(p).op(I32_ADD).set(pt);
  rows.forEach((r, u) => {
    c.get(pf0)
      .simd(LOAD, ...at(16 * u))
      .set(r.xf0);
    c.get(pf1)
      .simd(LOAD, ...at(16 * u))
      .set(r.xf1);
    for (let k = 0; k < 2; k++) {
      c.get(W)
        .simd(LOAD, ...at(tail + 16 * k))
        .set(r.u[k]!);
      c.get(W)
        .simd(LOAD, ...at(tail + 16 * (4 + k)))
        .set(r.t[k]!);
    }
  });
  // the two nets, hidden units from w to wEnd, summed into u (s-net) and t (t-net)
  c.get(W).set(w);
  for (const net of ["s", "t"] as const) {
    const width = net === "s" ? geo.hiddenS : geo.hiddenT;
    c.get(w)
      .i32(UNIT_BYTES * width)
      .op(I32_ADD)
      .set(wEnd);
    c.op(0x03, 0x40); // loop over hidden units
    wv.forEach((l, i) => {
      c.get(w)
        .simd(LOAD, ...at(16 * i))
        .set(l);
    });
    for (const r of rows) {
      c.get(wv[0]!).get(r.xf0).simd(f.mul).get(wv[1]!).get(r.xf1).simd(f.mul).simd(f.add);
      c.get(wv[2]!).simd(f.add).set(r.a);
    }
    em.elu(
      rows.map((r) => r.a),
      rows.map((r) => r.h),
    );
    for (const r of rows) {
      const acc = net === "s" ? r.u : r.t;
      for (let k = 0; k < 2; k++)
        c.get(acc[k]!)
          .get(wv[3 + k]!)
          .get(r.h)
          .simd(f.mul)
          .simd(f.add)
          .set(acc[k]!);
    }
    c.get(w).i32(UNIT_BYTES).op(I32_ADD).set(w);
    c.get(w).get(wEnd).op(I32_LT_U, 0x0d, 0, 0x0b); // br_if 0, end
  }
  // th = tanh(u) = sign(u)·(−m/(m + 2)), m = e^{−2|u|} − 1
  for (const o of outs) c.get(o.r.u[o.k]!).simd(f.abs).get(minusTwo).simd(f.mul).set(o.m);
  em.expm1Neg(
    outs.map((o) => o.m),
    outs.map((o) => o.m),
  );
  for (const o of outs) {
    c.get(o.r.u[o.k]!);
    c.get(o.m).simd(f.neg).get(o.m).get(two).simd(f.add).simd(f.div);
    c.get(signBit).simd(BITSELECT).set(o.th);
    // s = scale·th; e = e^{±s}
    c.get(W)
      .simd(LOAD, ...at(tail + 16 * (2 + o.k)))
      .get(o.th)
      .simd(f.mul)
      .set(o.sv);
    if (inverse) c.get(o.sv).simd(f.neg).set(o.sigma);
  }
  em.exp(
    outs.map((o) => (inverse ? o.sigma : o.sv)),
    outs.map((o) => o.ev),
  );
  for (const o of outs) {
    const off = 16 * o.u;
    const pk = pa[o.k]!;
    c.get(pk).simd(LOAD, ...at(off));
    if (inverse) {
      c.get(o.r.t[o.k]!).simd(f.sub).get(o.ev).simd(f.mul).set(o.P); // y = (x − t)·e^{−s}
      c.get(pk)
        .get(o.P)
        .simd(STORE, ...at(off));
    } else {
      c.get(o.ev).simd(f.mul).set(o.P); // P = x·e^{s}, y = P + t
      c.get(pk)
        .get(o.P)
        .get(o.r.t[o.k]!)
        .simd(f.add)
        .simd(STORE, ...at(off));
    }
  }
  rows.forEach((r, u) => {
    const o = 16 * u;
    const store = (plane: number, v: number) => {
      c.get(pt).get(v);
      c.simd(STORE, ...at(plane * pb + o));
    };
    const [o0, o1] = [outs[2 * u]!, outs[2 * u + 1]!];
    store(0, r.xf0);
    store(1, r.xf1);
    store(2, o0.P);
    store(3, o1.P);
    store(4, o0.th);
    store(5, o1.th);
    store(6, o0.ev);
    store(7, o1.ev);
    // ld ± (s₀ + s₁)
    c.get(o0.sv).get(o1.sv).simd(f.add).set(r.ld);
    c.get(S)
      .get(p)
      .op(I32_ADD)
      .get(S)
      .get(p)
      .op(I32_ADD)
      .simd(LOAD, ...at(4 * pb + o))
      .get(r.ld)
      .simd(inverse ? f.sub : f.add)
      .simd(STORE, ...at(4 * pb + o));
  });
  c.get(p)
    .i32(16 * G)
    .op(I32_ADD)
    .set(p);
  c.get(p).get(END).op(I32_LT_U, 0x0d, 0, 0x0b);
  return c.body();
}

function backwardFn(f: Flavour, geo: NeuralRgGeometry, inverse: boolean): number[] {
  const c = new Code(9);
  const em = new ExpEmitter(c, f);
  const G = geo.group;
  const pb = geo.chunk * f.eb;
  const tail = UNIT_BYTES * (geo.hiddenS + geo.hiddenT);
  const p = c.local(I32);
  const w = c.local(I32);
  const wEnd = c.local(I32);
  const delta = c.local(I32); // GW − W
  const pf = [c.local(I32), c.local(I32)];
  const pa = [c.local(I32), c.local(I32)];
  const pt = c.local(I32);
  const wv = Array.from({ length: 5 }, () => c.local(V128));
  const sums = Array.from({ length: 6 }, () => c.local(V128));
  const rows = Array.from({ length: G }, () => ({
    xf: [c.local(V128), c.local(V128)],
    gs: [c.local(V128), c.local(V128)], // ḡu: the s-net's output cotangent
    gt: [c.local(V128), c.local(V128)], // the t-net's
    gx: [c.local(V128), c.local(V128)],
    a: c.local(V128),
    h: c.local(V128),
    ga: c.local(V128),
  }));
  const gA = c.local(V128);
  const gld = c.local(V128);
  const th = c.local(V128);
  const ev = c.local(V128);
  const gsv = c.local(V128);
  const one = em.constant("one");
  const zero = em.constant("zero");
  const addr = (base: number, off: number) => c.get(base).get(off).op(I32_ADD).get(p).op(I32_ADD);
  /** sums[i] (+)= the vector `push` leaves (the first addend of a group taken as is). */
  const accumulate = (i: number, first: boolean, push: () => void) => {
    if (first) {
      push();
      c.set(sums[i]!);
    } else {
      c.get(sums[i]!);
      push();
      c.simd(f.add).set(sums[i]!);
    }
  };
  /** memory[base + off] += sums[i] */
  const flush = (base: () => void, off: number, i: number) => {
    base();
    base();
    c.simd(LOAD, ...at(off))
      .get(sums[i]!)
      .simd(f.add)
      .simd(STORE, ...at(off));
  };

  c.get(GW).get(W).op(I32_SUB).set(delta);
  c.i32(0).set(p);
  c.op(0x03, 0x40); // loop over row groups
  addr(S, F0).set(pf[0]!);
  addr(S, F1).set(pf[1]!);
  addr(S, A0).set(pa[0]!);
  addr(S, A1).set(pa[1]!);
  c.get(T).get(p).op(I32_ADD).set(pt);
  rows.forEach((r, u) => {
    const o = 16 * u;
    const trace = (plane: number) => c.get(pt).simd(LOAD, ...at(plane * pb + o));
    trace(0).set(r.xf[0]!);
    trace(1).set(r.xf[1]!);
    c.get(S)
      .get(p)
      .op(I32_ADD)
      .simd(LOAD, ...at(4 * pb + o))
      .set(gld);
    for (let k = 0; k < 2; k++) {
      c.get(pa[k]!)
        .simd(LOAD, ...at(o))
        .set(gA);
      trace(4 + k).set(th);
      trace(6 + k).set(ev);
      // ḡx_a = g_a·e
      c.get(pa[k]!)
        .get(gA)
        .get(ev)
        .simd(f.mul)
        .simd(STORE, ...at(o));
      // ḡs = ±(g_a·P + g_ld)
      c.get(gA);
      trace(2 + k);
      c.simd(f.mul).get(gld).simd(f.add);
      if (inverse) c.simd(f.neg);
      c.set(gsv);
      // ḡt = g_a or −g_a·e
      if (inverse) c.get(gA).get(ev).simd(f.mul).simd(f.neg).set(r.gt[k]!);
      else c.get(gA).set(r.gt[k]!);
      // ḡscale += ḡs·th, ḡu = ḡs·scale·(1 − th²)
      accumulate(2 + k, u === 0, () => c.get(gsv).get(th).simd(f.mul));
      c.get(gsv)
        .get(W)
        .simd(LOAD, ...at(tail + 16 * (2 + k)))
        .simd(f.mul);
      c.get(one).get(th).get(th).simd(f.mul).simd(f.sub).simd(f.mul).set(r.gs[k]!);
      accumulate(k, u === 0, () => c.get(r.gs[k]!));
      accumulate(4 + k, u === 0, () => c.get(r.gt[k]!));
    }
  });
  for (let i = 0; i < TAIL_VECTORS; i++) flush(() => c.get(GW), tail + 16 * i, i);
  rows.forEach((r, u) => {
    for (let k = 0; k < 2; k++)
      c.get(pf[k]!)
        .simd(LOAD, ...at(16 * u))
        .set(r.gx[k]!);
  });
  c.get(W).set(w);
  for (const net of ["s", "t"] as const) {
    const width = net === "s" ? geo.hiddenS : geo.hiddenT;
    c.get(w)
      .i32(UNIT_BYTES * width)
      .op(I32_ADD)
      .set(wEnd);
    c.op(0x03, 0x40); // loop over hidden units
    wv.forEach((l, i) => {
      c.get(w)
        .simd(LOAD, ...at(16 * i))
        .set(l);
    });
    for (const r of rows) {
      c.get(wv[0]!).get(r.xf[0]!).simd(f.mul).get(wv[1]!).get(r.xf[1]!).simd(f.mul).simd(f.add);
      c.get(wv[2]!).simd(f.add).set(r.a);
    }
    em.elu(
      rows.map((r) => r.a),
      rows.map((r) => r.h),
    );
    for (const r of rows) {
      const g = net === "s" ? r.gs : r.gt;
      // ḡa = (W₂[a₀]γ₀ + W₂[a₁]γ₁)·(min(h, 0) + 1)
      c.get(wv[3]!).get(g[0]!).simd(f.mul).get(wv[4]!).get(g[1]!).simd(f.mul).simd(f.add);
      c.get(r.h).get(zero).simd(f.min).get(one).simd(f.add).simd(f.mul).set(r.ga);
    }
    for (const r of rows)
      for (let k = 0; k < 2; k++) c.get(r.gx[k]!).get(wv[k]!).get(r.ga).simd(f.mul).simd(f.add).set(r.gx[k]!);
    rows.forEach((r, u) => {
      const g = net === "s" ? r.gs : r.gt;
      const first = u === 0;
      accumulate(0, first, () => c.get(r.ga).get(r.xf[0]!).simd(f.mul));
      accumulate(1, first, () => c.get(r.ga).get(r.xf[1]!).simd(f.mul));
      accumulate(2, first, () => c.get(r.ga));
      accumulate(3, first, () => c.get(g[0]!).get(r.h).simd(f.mul));
      accumulate(4, first, () => c.get(g[1]!).get(r.h).simd(f.mul));
    });
    for (let i = 0; i < 5; i++) flush(() => c.get(w).get(delta).op(I32_ADD), 16 * i, i);
    c.get(w).i32(UNIT_BYTES).op(I32_ADD).set(w);
    c.get(w).get(wEnd).op(I32_LT_U, 0x0d, 0, 0x0b);
  }
  rows.forEach((r, u) => {
    for (let k = 0; k < 2; k++)
      c.get(pf[k]!)
        .get(r.gx[k]!)
        .simd(STORE, ...at(16 * u));
  });
  c.get(p)
    .i32(16 * G)
    .op(I32_ADD)
    .set(p);
  c.get(p).get(END).op(I32_LT_U, 0x0d, 0, 0x0b);
  return c.body();
}

type Kernel = (s: number, t: number, w: number, gw: number, end: number, ...planes: number[]) => void;

export interface NeuralRgKernels {
  forward: Kernel;
  inverse: Kernel;
  forwardBack: Kernel;
  inverseBack: Kernel;
}

const modules = new Map<string, NeuralRgKernels | null>();

/** The compiled kernels for a dtype and geometry, cached; null without WebAssembly SIMD. */
export function neuralRgKernels(dtype: DType, geo: NeuralRgGeometry): NeuralRgKernels | null {
  const key = `${dtype},${geo.hiddenS},${geo.hiddenT},${geo.chunk},${geo.group}`;
  if (modules.has(key)) return modules.get(key)!;
  const lanes = dtype === "float32" ? 4 : 2;
  if (geo.chunk % (lanes * geo.group) !== 0)
    throw new RangeError(
      `neuralRgKernels: chunk ${geo.chunk} is not a multiple of ${lanes}·${geo.group} rows`,
    );
  let k: NeuralRgKernels | null = null;
  try {
    const f = dtype === "float32" ? F32 : F64;
    const type = [0x60, ...vec(new Array(9).fill([I32])), 0x00];
    const code = wasmModule(type, [
      ["forward", forwardFn(f, geo, false)],
      ["inverse", forwardFn(f, geo, true)],
      ["forwardBack", backwardFn(f, geo, false)],
      ["inverseBack", backwardFn(f, geo, true)],
    ]);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(code as BufferSource), {
      env: { mem: wasmMemory() },
    });
    k = inst.exports as unknown as NeuralRgKernels;
  } catch {
    k = null;
  }
  modules.set(key, k);
  return k;
}
