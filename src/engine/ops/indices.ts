/**
 * Integer index tensors: `{data: Int32Array, shape}`, row-major like Tensor but never
 * differentiated. searchsorted/searchBins return them; takeAlongAxis/addAlongAxis read them.
 * A plain object literal of this shape works too; `indexTensor` builds one from numbers.
 */
import { normAxis, sizeOf } from "../tensor.js";

export interface IndexTensor {
  readonly data: Int32Array;
  readonly shape: readonly number[];
}

/** An index tensor from integer values (shape defaults to 1-D). */
export function indexTensor(values: ArrayLike<number>, shape?: readonly number[]): IndexTensor {
  const s = shape ?? [values.length];
  if (sizeOf(s) !== values.length)
    throw new RangeError(`indexTensor: shape [${s}] does not match ${values.length} values`);
  const data = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v !== (v | 0))
      throw new RangeError(`indexTensor: value ${v} at ${i} is not a 32-bit integer`);
    data[i] = v;
  }
  return { data, shape: [...s] };
}

/** Element counts before (`outer`) and after (`inner`) an axis, and its extent. */
export function axisLayout(shape: readonly number[], axis: number) {
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, n: shape[axis]!, inner };
}

/** normAxis with the op's name in the error. */
export function axisOf(op: string, axis: number, shape: readonly number[]): number {
  try {
    return normAxis(axis, shape.length);
  } catch {
    throw new RangeError(`${op}: axis ${axis} out of range for shape [${shape}] (rank ${shape.length})`);
  }
}
