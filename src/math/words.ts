/**
 * The 32-bit halves of a double, as fdlibm reads and writes them (little-endian layout:
 * word 0 is the low half, word 1 the sign, exponent and top 20 mantissa bits).
 */
const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);

/** The high word of x, signed (sign bit → negative). */
export function highWord(x: number): number {
  f64[0] = x;
  return i32[1]!;
}

/** The low word of x, signed. */
export function lowWord(x: number): number {
  f64[0] = x;
  return i32[0]!;
}

/** x with its high word replaced. */
export function withHighWord(x: number, hi: number): number {
  f64[0] = x;
  i32[1] = hi;
  return f64[0]!;
}

/** The double with these words. */
export function fromWords(hi: number, lo: number): number {
  i32[1] = hi;
  i32[0] = lo;
  return f64[0]!;
}
