/**
 * sin and cos from basic arithmetic only, identical in every JavaScript engine (see exp.ts).
 * fdlibm 5.3's algorithms and constants: x = n·π/2 + (y0 + y1) with π/2 in three parts
 * (Cody–Waite, refined while cancellation is detected), then the kernels on [−π/4, π/4]:
 *   sin(y) ≈ y + y³·(S1 + y²·(S2 + … + y²·S6)),  cos(y) ≈ 1 − y²/2 + y⁴·(C1 + … + y²·C6),
 * each with the tail y1 folded in, and the quadrant n mod 4 picking ±sin or ±cos.
 * Arguments beyond 2¹⁹·π/2 ≈ 8.2·10⁵ would need Payne–Hanek reduction; there Math.sin/cos
 * are used (no lattice code produces such angles).
 */
import { highWord } from "./words.js";

const S1 = -1.66666666666666324348e-1;
const S2 = 8.33333333332248946124e-3;
const S3 = -1.98412698298579493134e-4;
const S4 = 2.75573137070700676789e-6;
const S5 = -2.50507602534068634195e-8;
const S6 = 1.58969099521155010221e-10;

function kernelSin(x: number, y: number, iy: boolean): number {
  const ix = highWord(x) & 0x7fffffff;
  if (ix < 0x3e400000 && Math.trunc(x) === 0) return x; // |x| < 2⁻²⁷
  const z = x * x;
  const v = z * x;
  const r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  if (!iy) return x + v * (S1 + z * r);
  return x - (z * (0.5 * y - v * r) - y - v * S1);
}

const C1 = 4.16666666666666019037e-2;
const C2 = -1.38888888888741095749e-3;
const C3 = 2.48015872894767294178e-5;
const C4 = -2.75573143513906633035e-7;
const C5 = 2.0875723212981748279e-9;
const C6 = -1.13596475577881948265e-11;

function kernelCos(x: number, y: number): number {
  const ix = highWord(x) & 0x7fffffff;
  if (ix < 0x3e400000 && Math.trunc(x) === 0) return 1; // |x| < 2⁻²⁷
  const z = x * x;
  const r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  if (ix < 0x3fd33333) return 1 - (0.5 * z - (z * r - x * y)); // |x| < 0.3
  const qx = ix > 0x3fe90000 ? 0.28125 : x4(ix); // |x|/4, or 0.28125 beyond 0.78125
  const hz = 0.5 * z - qx;
  const a = 1 - qx;
  return a - (hz - (z * r - x * y));
}

const w64 = new Float64Array(1);
const w32 = new Int32Array(w64.buffer);
/** The double with high word ix − 2²¹ (|x|/4) and low word 0. */
function x4(ix: number): number {
  w32[1] = ix - 0x00200000;
  w32[0] = 0;
  return w64[0]!;
}

const INV_PIO2 = 6.36619772367581382433e-1;
const PIO2_1 = 1.57079632673412561417;
const PIO2_1T = 6.07710050650619224932e-11;
const PIO2_2 = 6.0771005063039659766e-11;
const PIO2_2T = 2.02226624879595063154e-21;
const PIO2_3 = 2.0222662487111664558e-21;
const PIO2_3T = 8.47842766036889956997e-32;

/** The reduced argument: x = n·π/2 + y0 + y1 (n returned, y in `red`); null when |x| is too large. */
const red = new Float64Array(2);
function remPio2(x: number): number | null {
  const hx = highWord(x);
  const ix = hx & 0x7fffffff;
  if (ix < 0x4002d97c) {
    // |x| < 3π/4: n = ±1
    if (hx > 0) {
      let z = x - PIO2_1;
      if (ix !== 0x3ff921fb) {
        red[0] = z - PIO2_1T;
        red[1] = z - red[0]! - PIO2_1T;
      } else {
        z -= PIO2_2; // x near π/2: 33 more bits of π/2
        red[0] = z - PIO2_2T;
        red[1] = z - red[0]! - PIO2_2T;
      }
      return 1;
    }
    let z = x + PIO2_1;
    if (ix !== 0x3ff921fb) {
      red[0] = z + PIO2_1T;
      red[1] = z - red[0]! + PIO2_1T;
    } else {
      z += PIO2_2;
      red[0] = z + PIO2_2T;
      red[1] = z - red[0]! + PIO2_2T;
    }
    return -1;
  }
  if (ix > 0x413921fb) return null; // |x| > 2¹⁹·π/2
  const t0 = Math.abs(x);
  const n = Math.trunc(t0 * INV_PIO2 + 0.5);
  let r = t0 - n * PIO2_1;
  let w = n * PIO2_1T; // good to 85 bits
  // fdlibm skips this check for n < 32 away from multiples of π/2, where it cannot fire.
  const j = ix >> 20;
  red[0] = r - w;
  let i = j - ((highWord(red[0]!) >> 20) & 0x7ff);
  if (i > 16) {
    // cancellation: a second round, good to 118 bits
    let t = r;
    w = n * PIO2_2;
    r = t - w;
    w = n * PIO2_2T - (t - r - w);
    red[0] = r - w;
    i = j - ((highWord(red[0]!) >> 20) & 0x7ff);
    if (i > 49) {
      // a third, good to 151 bits
      t = r;
      w = n * PIO2_3;
      r = t - w;
      w = n * PIO2_3T - (t - r - w);
      red[0] = r - w;
    }
  }
  red[1] = r - red[0]! - w;
  if (hx < 0) {
    red[0] = -red[0]!;
    red[1] = -red[1]!;
    return -n;
  }
  return n;
}

/** sin x, identical in every engine for |x| ≤ 8.2·10⁵ (≤ 1 ulp). */
export function sin(x: number): number {
  const ix = highWord(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) return kernelSin(x, 0, false); // |x| ≤ π/4
  if (ix >= 0x7ff00000) return x - x; // NaN
  const n = remPio2(x);
  if (n === null) return Math.sin(x);
  const y0 = red[0]!;
  const y1 = red[1]!;
  switch (n & 3) {
    case 0:
      return kernelSin(y0, y1, true);
    case 1:
      return kernelCos(y0, y1);
    case 2:
      return -kernelSin(y0, y1, true);
    default:
      return -kernelCos(y0, y1);
  }
}

/** cos x, identical in every engine for |x| ≤ 8.2·10⁵ (≤ 1 ulp). */
export function cos(x: number): number {
  const ix = highWord(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) return kernelCos(x, 0);
  if (ix >= 0x7ff00000) return x - x;
  const n = remPio2(x);
  if (n === null) return Math.cos(x);
  const y0 = red[0]!;
  const y1 = red[1]!;
  switch (n & 3) {
    case 0:
      return kernelCos(y0, y1);
    case 1:
      return -kernelSin(y0, y1, true);
    case 2:
      return -kernelCos(y0, y1);
    default:
      return kernelSin(y0, y1, true);
  }
}

/**
 * sin x and cos x at once, sharing the argument reduction (Box–Muller needs both): out[0] =
 * sin x, out[1] = cos x, bit for bit those of `sin` and `cos`.
 */
export function sincos(x: number, out: Float64Array): void {
  const ix = highWord(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) {
    out[0] = kernelSin(x, 0, false);
    out[1] = kernelCos(x, 0);
    return;
  }
  const n = ix >= 0x7ff00000 ? null : remPio2(x);
  if (n === null) {
    out[0] = sin(x);
    out[1] = cos(x);
    return;
  }
  const y0 = red[0]!;
  const y1 = red[1]!;
  const s = kernelSin(y0, y1, true);
  const c = kernelCos(y0, y1);
  switch (n & 3) {
    case 0:
      out[0] = s;
      out[1] = c;
      break;
    case 1:
      out[0] = c;
      out[1] = -s;
      break;
    case 2:
      out[0] = -s;
      out[1] = -c;
      break;
    default:
      out[0] = -c;
      out[1] = s;
  }
}
