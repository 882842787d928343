/**
 * where(cond, a, b) with NumPy broadcasting of all three: z = cond ≠ 0 ? a : b. A nonzero
 * cond selects a, NaN included (NumPy's truthiness); comparisons give 0/1 conds.
 * Gradient: g goes to a where cond ≠ 0 and to b elsewhere (summed over broadcast axes);
 * cond gets none. Numbers take the dtype of the tensor among a, b (else cond's).
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, scalar, sizeOf, Tensor } from "../tensor.js";
import { broadcastIndex, reduceToInput } from "./broadcast.js";
import { broadcastAll, type Operand, tensorPair } from "./compare.js";

export function where(cond: Tensor, a0: Operand, b0: Operand): Tensor {
  const [a, b] =
    typeof a0 === "number" && typeof b0 === "number"
      ? [scalar(a0, cond.dtype), scalar(b0, cond.dtype)]
      : tensorPair("where", a0, b0);
  const shape = broadcastAll("where", [cond.shape, a.shape, b.shape]);
  const n = sizeOf(shape);
  const ic = broadcastIndex(cond.shape, shape);
  const ia = broadcastIndex(a.shape, shape);
  const ib = broadcastIndex(b.shape, shape);
  const cd = cond.data;
  const take = new Uint8Array(n);
  for (let i = 0; i < n; i++) take[i] = cd[ic === null ? i : ic[i]!] !== 0 ? 1 : 0;
  const out = allocate(a.dtype, n);
  const ad = a.data;
  const bd = b.data;
  for (let i = 0; i < n; i++)
    out[i] = take[i] ? ad[ia === null ? i : ia[i]!]! : bd[ib === null ? i : ib[i]!]!;
  /** g where take === side, 0 elsewhere, summed back to the input's shape. */
  const route = (g: FloatArray, side: number, idx: Int32Array | null, size: number) => {
    const r = allocate(a.dtype, n);
    for (let i = 0; i < n; i++) r[i] = take[i] === side ? g[i]! : 0;
    return reduceToInput(r, idx, size);
  };
  return record(new Tensor(out, shape), [a, b], (g, needs) => [
    needs[0] ? route(g, 1, ia, a.size) : null,
    needs[1] ? route(g, 0, ib, b.size) : null,
  ]);
}
