/**
 * exp and expm1 from basic arithmetic only, so every JavaScript engine gives the same bits
 * (ECMAScript leaves Math.exp "implementation-approximated"; V8 versions already disagree
 * on Math.tanh and Math.pow). The algorithms and constants are fdlibm 5.3's (Sun, 1993),
 * which V8 also uses, so in Node these agree bit for bit with Math.exp / Math.expm1.
 *
 * exp: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split into hi + lo), then
 *   exp(r) = 1 + r + r·c/(2 − c),  c = r − r²·(P1 + r²·(P2 + … + r²·P5))  (Remez, |err| < 2⁻⁵⁹),
 *   exp(x) = 2ᵏ·exp(r).
 * expm1: the same reduction, a rational approximation of r·(eʳ+1)/(eʳ−1) in r², and a
 * correction term for the rounding of the reduction; scaled back without cancellation.
 */
import { fromWords } from "./words.js";

const LN2_HI = 6.9314718036912381649e-1;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = Math.LOG2E; // fdlibm: 1.44269504088896338700
const O_THRESHOLD = 7.09782712893383973096e2;
const U_THRESHOLD = -7.4513321910194110842e2;
const TWO_M1000 = 9.3326361850321887899e-302;
/** exp's Remez coefficients on [−ln2/2, ln2/2]; pow's last step uses them too. */
export const P1 = 1.66666666666666019037e-1;
export const P2 = -2.77777777770155933842e-3;
export const P3 = 6.61375632143793436117e-5;
export const P4 = -1.6533902205465251539e-6;
export const P5 = 4.13813679705723846039e-8;

/** 2ᵏ for −1022 ≤ k ≤ 1023, at index k + 1022. */
const POW2 = new Float64Array(2046);
for (let k = -1022; k <= 1023; k++) POW2[k + 1022] = fromWords((k + 1023) << 20, 0);

// fdlibm tests the high word of |x|; these doubles make the same tests as comparisons
// (high word ≥ H ⟺ |x| ≥ the double with high word H and low word 0), which are faster.
const ABS_HI_0x40862e42 = fromWords(0x40862e42, 0); // 709.78…
const ABS_HI_0x3fd62e43 = fromWords(0x3fd62e43, 0); // just above ln2/2
const ABS_HI_0x3ff0a2b2 = fromWords(0x3ff0a2b2, 0); // 1.5·ln2
const TWO_M28 = fromWords(0x3e300000, 0);

/** eˣ, identical in every engine (≤ 1 ulp). */
export function exp(x: number): number {
  const ax = Math.abs(x);
  let hi = 0;
  let lo = 0;
  let k = 0;
  if (!(ax < ABS_HI_0x40862e42)) {
    if (Number.isNaN(x)) return x + x; // NaN
    if (ax === Number.POSITIVE_INFINITY) return x > 0 ? x : 0;
    if (x > O_THRESHOLD) return Number.POSITIVE_INFINITY;
    if (x < U_THRESHOLD) return 0;
  }
  if (ax >= ABS_HI_0x3fd62e43) {
    // |x| > ln2/2
    if (ax < ABS_HI_0x3ff0a2b2) {
      if (x === 1) return Math.E; // V8's addition to fdlibm, so that Math.exp(1) === Math.E
      hi = x > 0 ? x - LN2_HI : x + LN2_HI;
      lo = x > 0 ? LN2_LO : -LN2_LO;
      k = x > 0 ? 1 : -1;
    } else {
      k = Math.trunc(INV_LN2 * x + (x > 0 ? 0.5 : -0.5));
      hi = x - k * LN2_HI;
      lo = k * LN2_LO;
    }
    x = hi - lo;
  } else if (ax < TWO_M28) {
    return 1 + x;
  }
  const t = x * x;
  const c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k === 0) return 1 - ((x * c) / (c - 2) - x);
  const y = 1 - (lo - (x * c) / (2 - c) - hi);
  // y ∈ (½, 2): scaling by 2ᵏ is exact unless the result is subnormal (one rounding, as fdlibm).
  if (k >= -1021) return k === 1024 ? y * 2 * POW2[1023 + 1022]! : y * POW2[k + 1022]!;
  return y * POW2[k + 1000 + 1022]! * TWO_M1000;
}

const Q1 = -3.33333333333331316428e-2;
const Q2 = 1.58730158725481460165e-3;
const Q3 = -7.93650757867487942473e-5;
const Q4 = 4.00821782732936239552e-6;
const Q5 = -2.01099218183624371326e-7;

const ABS_HI_0x4043687a = fromWords(0x4043687a, 0); // 56·ln2
const TWO_M54 = fromWords(0x3c900000, 0);

/** eˣ − 1, accurate near 0, identical in every engine (≤ 1 ulp). */
export function expm1(x: number): number {
  const ax = Math.abs(x);
  const neg = x < 0;
  let k = 0;
  let c = 0;
  if (!(ax < ABS_HI_0x4043687a)) {
    // |x| ≥ 56·ln2, or NaN
    if (Number.isNaN(x)) return x + x;
    if (ax === Number.POSITIVE_INFINITY) return neg ? -1 : x;
    if (x > O_THRESHOLD) return Number.POSITIVE_INFINITY;
    if (neg) return -1; // e^x − 1 rounds to −1
  }
  if (ax >= ABS_HI_0x3fd62e43) {
    // |x| > ln2/2
    let hi: number;
    let lo: number;
    if (ax < ABS_HI_0x3ff0a2b2) {
      hi = neg ? x + LN2_HI : x - LN2_HI;
      lo = neg ? -LN2_LO : LN2_LO;
      k = neg ? -1 : 1;
    } else {
      k = Math.trunc(INV_LN2 * x + (neg ? -0.5 : 0.5));
      hi = x - k * LN2_HI;
      lo = k * LN2_LO;
    }
    x = hi - lo;
    c = hi - x - lo;
  } else if (ax < TWO_M54) {
    return x;
  }
  const hfx = 0.5 * x;
  const hxs = x * hfx;
  const r1 = 1 + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))));
  const t = 3 - r1 * hfx;
  let e = hxs * ((r1 - t) / (6 - x * t));
  if (k === 0) return x - (x * e - hxs);
  e = x * (e - c) - c;
  e -= hxs;
  if (k === -1) return 0.5 * (x - e) - 0.5;
  if (k === 1) return x < -0.25 ? -2 * (e - (x + 0.5)) : 1 + 2 * (x - e);
  // Below, y lies in (½, 2) and 2ᵏ scales it exactly (fdlibm adds k to the exponent).
  if (k <= -2 || k > 56) {
    const y = 1 - (e - x);
    return (k === 1024 ? y * 2 * POW2[1023 + 1022]! : y * POW2[k + 1022]!) - 1;
  }
  if (k < 20) return (1 - POW2[-k + 1022]! - (e - x)) * POW2[k + 1022]!; // (1 − 2⁻ᵏ) − (e − x)
  return (x - (e + POW2[-k + 1022]!) + 1) * POW2[k + 1022]!;
}
