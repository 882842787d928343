/**
 * Reductions over axes: sum, mean, logsumexp.
 *   sum:  ∂/∂x_i = g_{out(i)};  mean: the same divided by the count;
 *   logsumexp: y = m + log Σ e^{x−m} (m = max, for stability), ∂y/∂x_i = e^{x_i − y}.
 */

import * as math from "../../math/index.js";
import { record } from "../autodiff.js";
import { allocate, normAxis, sizeOf, Tensor as T, type Tensor } from "../tensor.js";
import { broadcastIndex } from "./broadcast.js";

/** Output shapes (kept and dropped axes) and the input→output index map. */
function plan(x: Tensor, axes: readonly number[] | undefined, keepDims: boolean) {
  const ax = new Set((axes ?? x.shape.map((_, i) => i)).map((a) => normAxis(a, x.rank)));
  const kept = x.shape.map((s, i) => (ax.has(i) ? 1 : s));
  const shape = keepDims ? kept : x.shape.filter((_, i) => !ax.has(i));
  const idx = broadcastIndex(kept, x.shape) ?? identity(x.size);
  return { shape, idx, outSize: sizeOf(kept), count: x.size / Math.max(1, sizeOf(kept)) };
}

function identity(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

export function sum(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const { shape, idx, outSize } = plan(x, axes, keepDims);
  const y = allocate(x.dtype, outSize);
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) y[idx[i]!]! += xd[i];
  return record(new T(y, shape), [x], (g) => {
    const gx = allocate(x.dtype, x.size);
    for (let i = 0; i < gx.length; i++) gx[i] = g[idx[i]!]!;
    return [gx];
  });
}

export function mean(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const { shape, idx, outSize, count } = plan(x, axes, keepDims);
  const y = allocate(x.dtype, outSize);
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) y[idx[i]!]! += xd[i];
  for (let j = 0; j < outSize; j++) y[j]! /= count;
  return record(new T(y, shape), [x], (g) => {
    const gx = allocate(x.dtype, x.size);
    for (let i = 0; i < gx.length; i++) gx[i] = g[idx[i]!]! / count;
    return [gx];
  });
}

export function logsumexp(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const { shape, idx, outSize } = plan(x, axes, keepDims);
  const xd = x.data;
  const m = new Float64Array(outSize).fill(-Infinity);
  for (let i = 0; i < xd.length; i++) if (xd[i]! > m[idx[i]!]!) m[idx[i]!] = xd[i]!;
  const s = new Float64Array(outSize);
  for (let i = 0; i < xd.length; i++) {
    const mj = m[idx[i]!]!;
    if (mj !== -Infinity) s[idx[i]!]! += math.exp(xd[i]! - mj);
  }
  const y = allocate(x.dtype, outSize);
  for (let j = 0; j < outSize; j++) y[j] = m[j] === -Infinity ? -Infinity : m[j]! + math.log(s[j]!);
  return record(new T(y, shape), [x], (g) => {
    const gx = allocate(x.dtype, x.size);
    for (let i = 0; i < gx.length; i++) {
      const yj = y[idx[i]!]!;
      gx[i] = yj === -Infinity ? 0 : g[idx[i]!]! * math.exp(xd[i]! - yj);
    }
    return [gx];
  });
}
