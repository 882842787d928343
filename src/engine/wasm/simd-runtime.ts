/**
 * The run time of the WebAssembly SIMD kernels (simd-conv.ts, simd-pad.ts, simd-couple.ts):
 * one module per padded geometry and dtype, compiled on first use and cached, all sharing one
 * WebAssembly.Memory; wrappers that copy ordinary arrays in and out, and an `arena` for
 * computations that keep their arrays in WebAssembly memory between kernels. Where SIMD is
 * unavailable or switched off (`setConvBackend("js")`) every wrapper returns false and the
 * caller runs its TypeScript kernel.
 */
import type { FloatArray } from "../tensor.js";
import { I32, section, str, uleb, vec } from "./assembler.js";
import { correlateFn, F32, F64, type Flavour, type Geometry, weightGradFn } from "./simd-conv.js";
import { coupleF32Fn } from "./simd-couple.js";
import { fillBiasFn, preluPadFn } from "./simd-pad.js";

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
): boolean {
  if (convBackend() !== "wasm" || g.n % f.vl !== 0) return false;
  const k = kernels(g, f);
  if (!k) return false;
  const offsets = place(
    operands.map((o) => o.data.length),
    f.eb,
  );
  operands.forEach((o, i) => {
    const v = viewOf(o.data, offsets[i]!, o.data.length);
    if (o.init === "copy") v.set(o.data);
    else if (o.init === "zero") v.fill(0);
  });
  call(k, offsets);
  operands.forEach((o, i) => {
    if (o.result) o.data.set(viewOf(o.data, offsets[i]!, o.data.length));
  });
  return true;
}

const flavourOf = (a: FloatArray) => (a instanceof Float32Array ? F32 : F64);

/** y += correlate(P, w) (simd-conv.ts) if possible; false when the caller must use TS. */
export function simdCorrelate(
  P: FloatArray,
  w: FloatArray,
  y: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: SimdGeometry,
): boolean {
  return withCopies(
    flavourOf(P),
    g,
    [
      { data: P, init: "copy" },
      { data: w, init: "copy" },
      { data: y, init: "copy", result: true },
    ],
    (k, [p, wo, yo]) => k.correlate(p!, wo!, yo!, nb, cin, cout),
  );
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
  return withCopies(
    flavourOf(P),
    g,
    [
      { data: P, init: "copy" },
      { data: gy, init: "copy" },
      { data: gw, init: "zero", result: true },
    ],
    (k, [p, go, wo]) => k.weightGrad(p!, go!, wo!, nb, cin, cout),
  );
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
