/**
 * A dense row-major tensor over Float64Array (default; physics wants it) or Float32Array.
 * Tensors are immutable values: ops return new tensors, and the tape (autodiff.ts) records
 * how each tracked tensor was made.
 */
export type DType = "float64" | "float32";
export type FloatArray = Float64Array | Float32Array;

export class Tensor {
  /** @internal Set by the active tape when this tensor depends on a differentiated input. */
  tapeId = 0;

  constructor(
    readonly data: FloatArray,
    readonly shape: readonly number[],
  ) {
    if (sizeOf(shape) !== data.length) {
      throw new RangeError(`tensor shape [${shape.join(",")}] does not match data length ${data.length}`);
    }
  }

  get dtype(): DType {
    return this.data instanceof Float32Array ? "float32" : "float64";
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1)
      throw new RangeError(`item() needs one element, tensor has ${this.data.length}`);
    return this.data[0]!;
  }
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function allocate(dtype: DType, n: number): FloatArray {
  return dtype === "float32" ? new Float32Array(n) : new Float64Array(n);
}

export function tensor(
  values: ArrayLike<number>,
  shape?: readonly number[],
  dtype: DType = "float64",
): Tensor {
  const data = allocate(dtype, values.length);
  data.set(values);
  return new Tensor(data, shape ?? [values.length]);
}

export function zeros(shape: readonly number[], dtype: DType = "float64"): Tensor {
  return new Tensor(allocate(dtype, sizeOf(shape)), shape);
}

export function full(shape: readonly number[], value: number, dtype: DType = "float64"): Tensor {
  const t = zeros(shape, dtype);
  t.data.fill(value);
  return t;
}

export function scalar(value: number, dtype: DType = "float64"): Tensor {
  return full([], value, dtype);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolve a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new RangeError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}
