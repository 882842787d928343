/**
 * acosh from log, log1p and sqrt, identical in every JavaScript engine (see exp.ts); the
 * effective mass of a cosh-shaped correlator needs it. fdlibm 5.3's algorithm:
 *   x > 2²⁸: log(x) + ln 2;   2 < x ≤ 2²⁸: log(2x − 1/(x + √(x² − 1)));
 *   1 < x ≤ 2: log1p(t + √(2t + t²)), t = x − 1;   acosh(1) = 0;   x < 1: NaN.
 */
import { log, log1p } from "./log.js";

const LN2 = 6.93147180559945286227e-1;
const TWO28 = 268435456;

/** Inverse hyperbolic cosine, identical in every engine. */
export function acosh(x: number): number {
  if (!(x >= 1)) return Number.NaN; // x < 1 or NaN
  if (x >= TWO28) return x === Number.POSITIVE_INFINITY ? x : log(x) + LN2;
  if (x === 1) return 0;
  if (x > 2) return log(2 * x - 1 / (x + Math.sqrt(x * x - 1)));
  const t = x - 1;
  return log1p(t + Math.sqrt(2 * t + t * t));
}
