/**
 * The run time of the WebAssembly SIMD kernels (simd-conv.ts, simd-pad.ts, simd-couple.ts):
 * one module per padded geometry and dtype, compiled on first use and cached, all sharing one
 * WebAssembly.Memory; wrappers that copy ordinary arrays in and out, and an `arena` for
 * computations that keep their arrays in WebAssembly memory between kernels. Where SIMD is
 * unavailable or switched off (`setConvBackend("js")`) every wrapper returns false and the
 * caller runs its TypeScript kernel.
 */
import type { FloatArray } from "../tensor.js";
import { I32, vec, wasmModule } from "./assembler.js";
import { correlateFn, F32, F64, type Flavour, type Geometry, weightGradFn } from "./simd-conv.js";
import { coupleF32Fn } from "./simd-couple.js";
import { alloc, free, view, wasmMemory } from "./simd-heap.js";
import { fillBiasFn, preluBackF32Fn, preluPadFn } from "./simd-pad.js";
import {
  type WinogradPlan,
  winogradAdjointFn,
  winogradFilter,
  winogradFilterAdjoint,
  winogradInputFn,
  winogradOutputFn,
  winogradPlan,
  winogradScratch,
} from "./simd-winograd.js";
import { winogradGemmFn, winogradWeightGemmFn } from "./simd-winograd-gemm.js";

function buildModule(g: Geometry, f: Flavour): Uint8Array {
  const withCouple = f === F32 && g.v % 4 === 0;
  const plan = f === F32 ? winogradPlan(g) : null;
  const type = [0x60, ...vec(new Array(6).fill([I32])), 0x00];
  const named: [string, number[]][] = [
    ["correlate", correlateFn(g, f)],
    ["weightGrad", weightGradFn(g, f)],
    ["preluPad", preluPadFn(g, f)],
    ["fillBias", fillBiasFn(g, f)],
  ];
  if (withCouple) named.push(["coupleF32", coupleF32Fn(g.v)], ["preluBackF32", preluBackF32Fn(g)]);
  if (plan)
    named.push(
      ["wgInput", winogradInputFn(g, plan)],
      ["wgGemm", winogradGemmFn(plan)],
      ["wgOutput", winogradOutputFn(g, plan)],
      ["wgOutputBias", winogradOutputFn(g, plan, true)],
      ["wgAdjoint", winogradAdjointFn(g, plan)],
      ["wgWeightGemm", winogradWeightGemmFn(plan)],
    );
  return wasmModule(type, named);
}

type Kernel = (p: number, w: number, y: number, nb: number, cin: number, cout: number) => void;

export interface Kernels {
  correlate: Kernel;
  weightGrad: Kernel;
  preluPad: Kernel;
  fillBias: Kernel;
  /** float32 modules only: simd-couple.ts (x, h, activeMask, out, nb, inverse). */
  coupleF32?: Kernel;
  /** float32 modules only: simd-pad.ts (z, g, alpha, sums, planes, c). */
  preluBackF32?: Kernel;
  /** float32 modules where winogradPlan applies: simd-winograd.ts. */
  wgInput?: Kernel;
  wgGemm?: Kernel;
  wgOutput?: Kernel;
  wgOutputBias?: Kernel;
  wgAdjoint?: Kernel;
  wgWeightGemm?: Kernel;
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
  let k: Kernels | null = null;
  try {
    const mod = new WebAssembly.Module(buildModule(g, f) as BufferSource);
    const inst = new WebAssembly.Instance(mod, { env: { mem: wasmMemory() } });
    k = inst.exports as unknown as Kernels;
  } catch {
    k = null;
  }
  modules.set(key, k);
  return k;
}

export interface SimdGeometry extends Geometry {}

/** Whether the SIMD kernels will run for this dtype and row length. */
export function simdApplies(dtype: "float64" | "float32", rowLength: number): boolean {
  return convBackend() === "wasm" && rowLength % (dtype === "float32" ? F32.vl : F64.vl) === 0;
}

interface Operand {
  data: FloatArray;
  /** Copy in before the call ("zero": start from zeros; omitted: contents undefined). */
  init?: "copy" | "zero";
  /** Copy back after the call. */
  result?: boolean;
}

/**
 * Run a kernel on copies of ordinary arrays placed in WebAssembly memory; false (nothing
 * run) where the SIMD kernels do not apply, and the caller runs its TypeScript loop.
 */
function withCopies(
  f: Flavour,
  g: Geometry,
  operands: Operand[],
  call: (k: Kernels, offsets: number[]) => void,
  scratch: number[] = [],
): boolean {
  if (convBackend() !== "wasm" || g.n % f.vl !== 0) return false;
  const k = kernels(g, f);
  if (!k) return false;
  const dtype = f === F32 ? "float32" : "float64";
  const offsets: number[] = [];
  try {
    for (const n of [...operands.map((o) => o.data.length), ...scratch]) offsets.push(alloc(n * f.eb));
  } catch (e) {
    free(...offsets);
    if (e instanceof RangeError) return false; // the heap could not grow: TypeScript kernels
    throw e;
  }
  try {
    operands.forEach((o, i) => {
      const v = view(dtype, offsets[i]!, o.data.length);
      if (o.init === "copy") v.set(o.data);
      else if (o.init === "zero") v.fill(0);
    });
    call(k, offsets);
    operands.forEach((o, i) => {
      if (o.result) o.data.set(view(dtype, offsets[i]!, o.data.length));
    });
  } finally {
    free(...offsets);
  }
  return true;
}

const flavourOf = (a: FloatArray) => (a instanceof Float32Array ? F32 : F64);

let winograd = true;

/** Whether float32 correlations use Winograd F(2×2, 3×3) where it applies (default true). */
export function setWinograd(enabled: boolean): void {
  winograd = enabled;
}

/** Below this many channel pairs the transforms cost more than the multiplies saved. */
const WINOGRAD_MIN_PAIRS = 256;

/** The Winograd plan for a float32 correlation, or null where the direct kernel runs. */
function winogradFor(P: FloatArray, g: Geometry, cin: number, cout: number): WinogradPlan | null {
  if (!winograd || !(P instanceof Float32Array) || convBackend() !== "wasm") return null;
  if (cin % 4 !== 0 || cout % 4 !== 0 || cin * cout < WINOGRAD_MIN_PAIRS) return null;
  const plan = winogradPlan(g);
  return plan && kernels(g, F32)?.wgGemm ? plan : null;
}

/** How simdCorrelate finds its input and output. */
export interface CorrelateOptions {
  /** y = bias + correlate(P, w) (bias per output channel) instead of y += correlate(P, w). */
  bias?: FloatArray;
  /** P holds unpadded planes [nb, cin, v], padded periodically in WebAssembly memory. */
  padInput?: boolean;
  /**
   * float32 only: then the PReLU backward through pre-activations z (simd-pad.ts), y being
   * the cotangent of the PReLU's output; `alpha` has one slope per channel of y; `sums`
   * receives [Σ g·z·[z < 0], Σ y] per plane of y.
   */
  preluBackward?: { z: Float32Array; alpha: Float32Array; sums: Float32Array };
}

const ONE32 = new Float32Array([1]);
const ONE64 = new Float64Array([1]);

/**
 * y += correlate(P, w) (simd-conv.ts; simd-winograd.ts in float32 where it applies) if
 * possible; false when the caller must use TS. With `bias` and `padInput` the bias fill and
 * the padding run in WebAssembly too (JavaScript loops and fills over these arrays cost as
 * much as the convolution at L = 32); both are exact, so results do not change.
 */
export function simdCorrelate(
  P: FloatArray,
  w: FloatArray,
  y: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: SimdGeometry,
  opts: CorrelateOptions = {},
): boolean {
  const f = flavourOf(P);
  const plan = winogradFor(P, g, cin, cout);
  const weights = plan ? winogradFilter(w as Float32Array, cin, cout) : w;
  const { bias, padInput = false, preluBackward: pb } = opts;
  const one = f === F32 ? ONE32 : ONE64;
  if (pb && (f !== F32 || !kernels(g, F32)?.preluBackF32)) return false;
  const scratch = [padInput ? nb * cin * g.pv : 0];
  if (plan) scratch.push(winogradScratch(plan, cin), winogradScratch(plan, cout));
  return withCopies(
    f,
    g,
    [
      { data: P, init: "copy" },
      { data: weights, init: "copy" },
      { data: y, init: bias ? undefined : "copy", result: true },
      { data: bias ?? one, init: "copy" },
      { data: one, init: "copy" },
      { data: pb?.z ?? one, init: pb ? "copy" : undefined },
      { data: pb?.alpha ?? one, init: "copy" },
      { data: pb?.sums ?? one, result: pb !== undefined },
    ],
    (k, [src, wo, yo, bo, oneo, zo, ao, so, padded, vs, ms]) => {
      let p = src!;
      if (padInput) {
        k.preluPad(src!, padded!, oneo!, nb * cin, cin, 0); // slope 1: a plain periodic pad
        p = padded!;
      }
      correlateAt(k, g, plan, p, wo!, yo!, nb, cin, cout, vs ?? 0, ms ?? 0, bias ? bo! : -1);
      if (pb) k.preluBackF32!(zo!, yo!, ao!, so!, nb * cout, cout);
    },
    scratch,
  );
}

/**
 * y += correlate(P, w) on byte offsets (y = bias + correlate(P, w) with a bias offset): the
 * direct kernel, or with a plan Winograd (w is then the transformed U, and vs, ms scratch
 * of winogradScratch(plan, cin / cout) floats).
 */
function correlateAt(
  k: Kernels,
  g: Geometry,
  plan: WinogradPlan | null,
  p: number,
  w: number,
  y: number,
  nb: number,
  cin: number,
  cout: number,
  vs: number,
  ms: number,
  bias = -1,
): void {
  if (!plan) {
    if (bias >= 0) k.fillBias(bias, y, nb * cout, cout, 0, 0);
    k.correlate(p, w, y, nb, cin, cout);
    return;
  }
  const output = bias >= 0 ? k.wgOutputBias! : k.wgOutput!;
  for (let b = 0; b < nb; b++) {
    const pB = p + b * cin * g.pv * 4;
    const yB = y + b * cout * g.v * 4;
    for (let blk = 0; blk < plan.blocks; blk++) {
      const ty0 = blk * plan.tileRows;
      k.wgInput!(pB, vs, cin, ty0, 0, 0);
      k.wgGemm!(w, vs, ms, cin, cout, 0);
      output(ms, yB, cout, ty0, bias, 0);
    }
  }
}

/**
 * The weight gradient on byte offsets into gw (zeroed by the caller): the direct kernel, or
 * with a plan Winograd into dU4 (16·cout·cin·4 floats, winogradFilterAdjoint makes gw of it).
 */
function weightGradAt(
  k: Kernels,
  g: Geometry,
  plan: WinogradPlan | null,
  p: number,
  gy: number,
  gw: number,
  nb: number,
  cin: number,
  cout: number,
  vs: number,
  mh: number,
): void {
  if (!plan) {
    k.weightGrad(p, gy, gw, nb, cin, cout);
    return;
  }
  for (let b = 0; b < nb; b++) {
    const pB = p + b * cin * g.pv * 4;
    const gB = gy + b * cout * g.v * 4;
    for (let blk = 0; blk < plan.blocks; blk++) {
      const ty0 = blk * plan.tileRows;
      k.wgInput!(pB, vs, cin, ty0, 0, 0);
      k.wgAdjoint!(gB, mh, cout, ty0, 0, 0);
      k.wgWeightGemm!(mh, vs, gw, cin, cout, 0);
    }
  }
}

/** gw = the weight gradient (simd-conv.ts) if possible; false when the caller must use TS. */
export function simdWeightGrad(
  P: FloatArray,
  gy: FloatArray,
  gw: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: SimdGeometry,
): boolean {
  const plan = winogradFor(P, g, cin, cout);
  const acc = plan ? new Float32Array(16 * cout * cin * 4) : gw;
  const ran = withCopies(
    flavourOf(P),
    g,
    [
      { data: P, init: "copy" },
      { data: gy, init: "copy" },
      { data: acc, init: "zero", result: true },
    ],
    (k, [p, go, wo, vs, mh]) => weightGradAt(k, g, plan, p!, go!, wo!, nb, cin, cout, vs ?? 0, mh ?? 0),
    plan ? [winogradScratch(plan, cin), winogradScratch(plan, cout)] : [],
  );
  if (ran && plan) winogradFilterAdjoint(acc as Float32Array, cin, cout, gw as Float32Array);
  return ran;
}

/**
 * out = padded prelu(z) over `planes` planes of c channels (simd-pad.ts) if possible; false
 * when the caller must use its own loop. Exactly the TypeScript arithmetic (a select).
 */
export function simdPreluPad(
  z: FloatArray,
  out: FloatArray,
  alpha: FloatArray,
  planes: number,
  c: number,
  g: SimdGeometry,
): boolean {
  return withCopies(
    flavourOf(z),
    g,
    [
      { data: z, init: "copy" },
      { data: out, result: true },
      { data: alpha, init: "copy" },
    ],
    (k, [zo, po, ao]) => k.preluPad(zo!, po!, ao!, planes, c, alpha.length === 1 ? 0 : 1),
  );
}

/**
 * The float32 end of a coupling layer (simd-couple.ts): h (pre-tanh s, t; overwritten with
 * s, t), out = packed [nb, v + 1]; `active` is 1 at active sites, 0 at frozen ones. False
 * when the caller must use its own loop.
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
  if (convBackend() !== "wasm" || g.n % F32.vl !== 0 || !kernels(g, F32)?.coupleF32) return false;
  return withCopies(
    F32,
    g,
    [
      { data: x, init: "copy" },
      { data: h, init: "copy", result: true },
      { data: active, init: "copy" },
      { data: out, result: true },
    ],
    (k, [xo, ho, mo, oo]) => k.coupleF32!(xo!, ho!, mo!, oo!, nb, inverse ? 1 : 0),
  );
}

/**
 * Regions of WebAssembly memory holding the arrays of one computation, so that consecutive
 * kernels pass data without copies (the untaped fused coupling forward). `release` returns
 * them. Views are valid until the next allocation (which may grow the memory).
 */
export function arena(
  dtype: "float64" | "float32",
  sizes: number[],
  g: SimdGeometry,
): { offsets: number[]; view: (k: number) => FloatArray; kernels: Kernels; release: () => void } | null {
  const k = kernelsFor(dtype, g);
  if (!k) return null;
  const eb = dtype === "float32" ? 4 : 8;
  const offsets: number[] = [];
  try {
    for (const n of sizes) offsets.push(alloc(n * eb));
  } catch (e) {
    free(...offsets);
    if (e instanceof RangeError) return null; // the heap could not grow
    throw e;
  }
  return {
    offsets,
    view: (i: number) => view(dtype, offsets[i]!, sizes[i]!),
    kernels: k,
    release: () => free(...offsets),
  };
}

/** The kernels for this dtype and geometry, or null where SIMD does not apply. */
export function kernelsFor(dtype: "float64" | "float32", g: SimdGeometry): Kernels | null {
  const f = dtype === "float32" ? F32 : F64;
  if (convBackend() !== "wasm" || g.n % f.vl !== 0) return null;
  return kernels(g, f);
}

/**
 * y += correlate(P, w) with P, y at byte offsets in WebAssembly memory (resident
 * computations); w an ordinary array. Winograd where it applies, as simdCorrelate. With a
 * bias (an ordinary array): y = bias + correlate(P, w), y not read.
 */
export function correlateResident(
  dtype: "float64" | "float32",
  g: SimdGeometry,
  p: number,
  w: FloatArray,
  y: number,
  nb: number,
  cin: number,
  cout: number,
  bias?: FloatArray,
): void {
  const k = kernelsFor(dtype, g)!;
  const plan = dtype === "float32" ? winogradFor(w, g, cin, cout) : null;
  const weights = plan ? winogradFilter(w as Float32Array, cin, cout) : w;
  const wo = alloc(weights.length * weights.BYTES_PER_ELEMENT);
  const bo = bias ? alloc(bias.length * bias.BYTES_PER_ELEMENT) : -1;
  const vs = plan ? alloc(4 * winogradScratch(plan, cin)) : -1;
  const ms = plan ? alloc(4 * winogradScratch(plan, cout)) : -1;
  try {
    view(dtype, wo, weights.length).set(weights);
    if (bias) view(dtype, bo, bias.length).set(bias);
    correlateAt(k, g, plan, p, wo, y, nb, cin, cout, vs, ms, bo);
  } finally {
    free(wo, ...(bias ? [bo] : []), ...(plan ? [vs, ms] : []));
  }
}

/** gw = the weight gradient from P, gy at byte offsets (resident computations). */
export function weightGradResident(
  dtype: "float64" | "float32",
  g: SimdGeometry,
  p: number,
  gy: number,
  gw: FloatArray,
  nb: number,
  cin: number,
  cout: number,
): void {
  const k = kernelsFor(dtype, g)!;
  const plan = dtype === "float32" ? winogradFor(gw, g, cin, cout) : null;
  const n = plan ? 16 * cout * cin * 4 : gw.length;
  const acc = alloc(n * gw.BYTES_PER_ELEMENT);
  const vs = plan ? alloc(4 * winogradScratch(plan, cin)) : -1;
  const mh = plan ? alloc(4 * winogradScratch(plan, cout)) : -1;
  try {
    view(dtype, acc, n).fill(0);
    weightGradAt(k, g, plan, p, gy, acc, nb, cin, cout, vs, mh);
    if (plan) winogradFilterAdjoint(view(dtype, acc, n) as Float32Array, cin, cout, gw as Float32Array);
    else gw.set(view(dtype, acc, n));
  } finally {
    free(acc, ...(plan ? [vs, mh] : []));
  }
}
