/**
 * tanh from basic arithmetic and expm1, identical in every JavaScript engine (Node 20 and
 * Chromium 150 already differ in the last bit of Math.tanh for ~3·10⁻⁴ of inputs).
 * fdlibm 5.3's algorithm (FreeBSD's form, as V8 uses it):
 *   |x| < 2⁻²⁸: x;   |x| < 1: −t/(t + 2), t = expm1(−2|x|);   |x| < 22: 1 − 2/(expm1(2|x|) + 2);
 *   otherwise ±1; the sign of x restored.
 */
import { expm1 } from "./exp.js";

const TWO_M28 = 3.725290298461914e-9;

/** Hyperbolic tangent, identical in every engine. */
export function tanh(x: number): number {
  const ax = Math.abs(x);
  if (!(ax < 22)) {
    if (Number.isNaN(x)) return x + x; // NaN
    return x > 0 ? 1 : -1; // |x| ≥ 22 (fdlibm tests the high word against 22's: the same)
  }
  if (ax < TWO_M28) return x;
  let z: number;
  if (ax >= 1) {
    z = 1 - 2 / (expm1(2 * ax) + 2);
  } else {
    const t = expm1(-2 * ax);
    z = -t / (t + 2);
  }
  return x < 0 ? -z : z;
}
