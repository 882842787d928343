/**
 * floor(x) and mod(x, m) for a constant m (Python/NumPy `%`: the sign of m).
 *   floor: ⌊x⌋; its gradient is zero almost everywhere, so it records nothing.
 *   mod:   x − m·⌊x/m⌋, in [0, m) for m > 0 and (m, 0] for m < 0; ∂/∂x = 1 (at the jumps too).
 * mod is computed as fmod (JS `%`, exact) plus m when the sign is wrong. When x is a tiny
 * negative number (e.g. −1e−20 mod 2π) the exact result m − |x| rounds to m itself, which
 * Python returns; here it becomes 0 (≡ m modulo m) so that the result is always in [0, m),
 * also after rounding to float32. Zero results are +0 for m > 0; NaN and ±Infinity give NaN.
 */
import { record } from "../autodiff.js";
import { allocate, Tensor } from "../tensor.js";

export function floor(x: Tensor): Tensor {
  const y = allocate(x.dtype, x.size);
  const d = x.data;
  for (let i = 0; i < d.length; i++) y[i] = Math.floor(d[i]!);
  return new Tensor(y, x.shape);
}

export function mod(x: Tensor, m: number): Tensor {
  if (!Number.isFinite(m) || m === 0)
    throw new RangeError(`mod: modulus must be finite and nonzero, got ${m}`);
  const y = allocate(x.dtype, x.size);
  const d = x.data;
  const zero = m > 0 ? 0 : -0;
  for (let i = 0; i < d.length; i++) {
    let r = d[i]! % m;
    if (r !== 0 && r < 0 !== m < 0) r += m;
    y[i] = r === 0 ? zero : r;
    if (m > 0 ? y[i]! >= m : y[i]! <= m) y[i] = zero;
  }
  return record(new Tensor(y, x.shape), [x], (g) => [g.slice()]);
}
