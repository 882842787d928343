/**
 * log q of given configurations through a trained flow's inverse, in the run's dtype, and the
 * φ → −φ symmetrised density q_sym(x) = ½[q(x) + q(−x)] that `--z2` proposals carry. Used where
 * configurations the flow did not draw must be weighed: the states of a flow-MH chain after HMC
 * moves (`sample --local-hmc`) and exact draws of p for bridge sampling (`lnz --bridge`).
 */
import { type DType, type Params, Tensor } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";

/** log ½[q(x) + q(−x)] from a = log q(x), b = log q(−x). */
export function z2LogDensity(a: number, b: number): number {
  const hi = Math.max(a, b);
  return hi === Number.NEGATIVE_INFINITY ? hi : hi + Math.log1p(Math.exp(Math.min(a, b) - hi)) - Math.LN2;
}

/**
 * log q (z2: log q_sym) of the n configurations packed in `x` (n·V numbers), `batch` per flow
 * pass; with z2, x and −x go through one pass of 2·m. A float32 run takes them rounded to float32,
 * within the float32 error its own draws' log q has.
 */
export function flowLogDensity(
  flow: Flow,
  params: Params,
  x: Float64Array,
  n: number,
  configShape: readonly number[],
  dtype: DType,
  z2: boolean,
  batch: number,
): Float64Array {
  const v = x.length / n;
  const out = new Float64Array(n);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const rows = z2 ? 2 * m : m;
    const data = dtype === "float32" ? new Float32Array(rows * v) : new Float64Array(rows * v);
    const xs = x.subarray(start * v, (start + m) * v);
    data.set(xs);
    if (z2) for (let i = 0; i < m * v; i++) data[m * v + i] = -xs[i]!;
    const lq = flow.logProb(params, new Tensor(data, [rows, ...configShape])).data;
    for (let j = 0; j < m; j++) out[start + j] = z2 ? z2LogDensity(lq[j]!, lq[m + j]!) : lq[j]!;
  }
  return out;
}

/** log q (z2: log q_sym) of one configuration: the weight of a chain state. */
export function flowStateLogq(
  flow: Flow,
  params: Params,
  configShape: readonly number[],
  dtype: DType,
  z2: boolean,
): (x: Float64Array) => number {
  return (x) => flowLogDensity(flow, params, x, 1, configShape, dtype, z2, 1)[0]!;
}
