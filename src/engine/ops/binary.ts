/**
 * Elementwise binary ops with broadcasting: add, sub, mul, div, atan2, maximum.
 * Each op is a kernel (value) plus its partial derivatives ∂z/∂a, ∂z/∂b.
 */

import * as math from "../../math/index.js";
import { type Backward, record } from "../autodiff.js";
import { allocate, type FloatArray, scalar, sizeOf, Tensor } from "../tensor.js";
import { broadcastIndex, broadcastShapes, reduceToInput } from "./broadcast.js";

type Operand = Tensor | number;

function asTensor(x: Operand, like: Tensor): Tensor {
  return typeof x === "number" ? scalar(x, like.dtype) : x;
}

/** Apply `f` elementwise with broadcasting; return output, index maps and input arrays. */
function apply(a: Tensor, b: Tensor, f: (x: number, y: number) => number) {
  if (a.dtype !== b.dtype) throw new TypeError(`dtype mismatch: ${a.dtype} and ${b.dtype}`);
  const shape = broadcastShapes(a.shape, b.shape);
  const n = sizeOf(shape);
  const ia = broadcastIndex(a.shape, shape);
  const ib = broadcastIndex(b.shape, shape);
  const out = allocate(a.dtype, n);
  const ad = a.data;
  const bd = b.data;
  if (ia === null && ib === null) for (let i = 0; i < n; i++) out[i] = f(ad[i]!, bd[i]!);
  else if (ia === null) for (let i = 0; i < n; i++) out[i] = f(ad[i]!, bd[ib![i]!]!);
  else if (ib === null) for (let i = 0; i < n; i++) out[i] = f(ad[ia[i]!]!, bd[i]!);
  else for (let i = 0; i < n; i++) out[i] = f(ad[ia[i]!]!, bd[ib[i]!]!);
  return { out: new Tensor(out, shape), ia, ib };
}

/** Read input element of output position i. */
function at(d: FloatArray, idx: Int32Array | null, i: number): number {
  return idx === null ? d[i]! : d[idx[i]!]!;
}

/** Cotangent of an input: g·∂z/∂input elementwise, summed over its broadcast axes. */
type Partial = (
  g: FloatArray,
  a: Tensor,
  ia: Int32Array | null,
  b: Tensor,
  ib: Int32Array | null,
  z: FloatArray,
) => FloatArray;

/** Build an op from its value and the two partials' cotangent kernels. */
function binaryOp(f: (x: number, y: number) => number, pa: Partial, pb: Partial) {
  return (a0: Operand, b0: Operand): Tensor => {
    const a = typeof a0 === "number" ? asTensor(a0, b0 as Tensor) : a0;
    const b = asTensor(b0, a);
    const { out, ia, ib } = apply(a, b, f);
    const backward: Backward = (g, needs) => [
      needs[0] ? reduceToInput(pa(g, a, ia, b, ib, out.data), ia, a.size) : null,
      needs[1] ? reduceToInput(pb(g, a, ia, b, ib, out.data), ib, b.size) : null,
    ];
    return record(out, [a, b], backward);
  };
}

/** A partial given as a function of (a, b, z), for the less frequent ops. */
function partial(pd: (x: number, y: number, z: number) => number): Partial {
  return (g, a, ia, b, ib, z) => {
    const r = allocate(a.dtype, g.length);
    for (let i = 0; i < g.length; i++) r[i] = g[i]! * pd(at(a.data, ia, i), at(b.data, ib, i), z[i]!);
    return r;
  };
}

const identityPartial: Partial = (g) => g;
const negPartial: Partial = (g) => g.map((v) => -v);
/** g times the other operand (the partials of a product). */
function times(other: "a" | "b"): Partial {
  return (g, a, ia, b, ib) => {
    const d = other === "a" ? a.data : b.data;
    const idx = other === "a" ? ia : ib;
    const r = allocate(a.dtype, g.length);
    if (idx === null) for (let i = 0; i < g.length; i++) r[i] = g[i]! * d[i]!;
    else for (let i = 0; i < g.length; i++) r[i] = g[i]! * d[idx[i]!]!;
    return r;
  };
}

export const add = binaryOp((x, y) => x + y, identityPartial, identityPartial);
export const sub = binaryOp((x, y) => x - y, identityPartial, negPartial);
export const mul = binaryOp((x, y) => x * y, times("b"), times("a"));
export const div = binaryOp(
  (x, y) => x / y,
  partial((_x, y) => 1 / y),
  partial((_x, y, z) => -z / y),
);
/** atan2(a, b): the angle of the point (b, a). */
export const atan2 = binaryOp(
  (y, x) => math.atan2(y, x),
  partial((y, x) => x / (x * x + y * y)),
  partial((y, x) => -y / (x * x + y * y)),
);
/** Elementwise maximum; the cotangent goes to a where a ≥ b. */
export const maximum = binaryOp(
  (x, y) => (x >= y ? x : y),
  partial((x, y) => (x >= y ? 1 : 0)),
  partial((x, y) => (x >= y ? 0 : 1)),
);
