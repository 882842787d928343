/**
 * Elementwise unary ops: neg, exp, log, tanh, sigmoid, softplus, sin, cos, square, sqrt, abs,
 * scale (x·c) and shift (x + c). Each is its value plus its derivative as a function of (x, y).
 */

import * as math from "../../math/index.js";
import { record } from "../autodiff.js";
import { allocate, Tensor } from "../tensor.js";

function unaryOp(f: (x: number) => number, df: (x: number, y: number) => number) {
  return (a: Tensor): Tensor => {
    const n = a.size;
    const x = a.data;
    const y = allocate(a.dtype, n);
    for (let i = 0; i < n; i++) y[i] = f(x[i]!);
    const out = new Tensor(y, a.shape);
    return record(out, [a], (g) => {
      const r = allocate(a.dtype, n);
      for (let i = 0; i < n; i++) r[i] = g[i]! * df(x[i]!, y[i]!);
      return [r];
    });
  };
}

/** log(1 + e^x) without overflow. */
function softplusValue(x: number): number {
  return x > 0 ? x + math.log1p(math.exp(-x)) : math.log1p(math.exp(x));
}

function sigmoidValue(x: number): number {
  if (x >= 0) return 1 / (1 + math.exp(-x));
  const e = math.exp(x);
  return e / (1 + e);
}

export const neg = unaryOp(
  (x) => -x,
  () => -1,
);
export const exp = unaryOp(math.exp, (_x, y) => y);
export const log = unaryOp(math.log, (x) => 1 / x);
export const tanh = unaryOp(math.tanh, (_x, y) => 1 - y * y);
export const sigmoid = unaryOp(sigmoidValue, (_x, y) => y * (1 - y));
export const softplus = unaryOp(softplusValue, (x) => sigmoidValue(x));
export const sin = unaryOp(math.sin, (x) => math.cos(x));
export const cos = unaryOp(math.cos, (x) => -math.sin(x));
export const square = unaryOp(
  (x) => x * x,
  (x) => 2 * x,
);
export const sqrt = unaryOp(Math.sqrt, (_x, y) => 0.5 / y);
export const abs = unaryOp(Math.abs, (x) => Math.sign(x));

/** x·c for a constant c. */
export function scale(a: Tensor, c: number): Tensor {
  return unaryOp(
    (x) => x * c,
    () => c,
  )(a);
}

/** x + c for a constant c. */
export function shift(a: Tensor, c: number): Tensor {
  return unaryOp(
    (x) => x + c,
    () => 1,
  )(a);
}
