/**
 * Elementwise comparisons with NumPy broadcasting: less, greater, lessEqual, greaterEqual,
 * equal (a ⋚ b). Each returns 1 where the comparison holds and 0 elsewhere, in the dtype of
 * the tensor operands. They record nothing on the tape: the gradient of a step function is
 * zero wherever it exists. NaN compares false to everything (equal(NaN, NaN) = 0), as in IEEE
 * 754 and NumPy.
 */
import { allocate, scalar, sizeOf, Tensor } from "../tensor.js";
import { broadcastIndex, broadcastShapes } from "./broadcast.js";

export type Operand = Tensor | number;

/** The broadcast shape of several operands, with the op's name in the error. */
export function broadcastAll(op: string, shapes: readonly (readonly number[])[]): number[] {
  let out: number[] = [];
  for (const s of shapes) {
    try {
      out = broadcastShapes(out, s);
    } catch {
      throw new RangeError(`${op}: shapes ${shapes.map((t) => `[${t}]`).join(", ")} cannot be broadcast`);
    }
  }
  return out;
}

/** Two operands as tensors of one dtype (numbers take the other operand's dtype). */
export function tensorPair(op: string, a: Operand, b: Operand): [Tensor, Tensor] {
  if (typeof a === "number" && typeof b === "number") throw new TypeError(`${op}: needs a tensor operand`);
  const ta = typeof a === "number" ? scalar(a, (b as Tensor).dtype) : a;
  const tb = typeof b === "number" ? scalar(b, ta.dtype) : b;
  if (ta.dtype !== tb.dtype) throw new TypeError(`${op}: dtype mismatch: ${ta.dtype} and ${tb.dtype}`);
  return [ta, tb];
}

function comparison(op: string, f: (x: number, y: number) => boolean) {
  return (a0: Operand, b0: Operand): Tensor => {
    const [a, b] = tensorPair(op, a0, b0);
    const shape = broadcastAll(op, [a.shape, b.shape]);
    const n = sizeOf(shape);
    const ia = broadcastIndex(a.shape, shape);
    const ib = broadcastIndex(b.shape, shape);
    const ad = a.data;
    const bd = b.data;
    const out = allocate(a.dtype, n);
    for (let i = 0; i < n; i++) {
      out[i] = f(ad[ia === null ? i : ia[i]!]!, bd[ib === null ? i : ib[i]!]!) ? 1 : 0;
    }
    return new Tensor(out, shape);
  };
}

export const less = comparison("less", (x, y) => x < y);
export const greater = comparison("greater", (x, y) => x > y);
export const lessEqual = comparison("lessEqual", (x, y) => x <= y);
export const greaterEqual = comparison("greaterEqual", (x, y) => x >= y);
export const equal = comparison("equal", (x, y) => x === y);
