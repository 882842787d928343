/**
 * What the circle maps (ncp.ts, circular-spline.ts) share: angles reduced to [0, 2π) and the
 * shapes of an elementwise transformer's operands, x [B, n] and θ [B, P, n].
 *
 * wrapAngle(x) = x mod 2π as mod.ts computes it: fmod (JS `%`, exact) plus 2π when negative,
 * and a result that rounds up to 2π (x = −1e−20, or a float32 store) becomes 0 ≡ 2π, so an
 * angle is always in [0, 2π). d(x mod 2π)/dx = 1, so the maps' gradients are unchanged by it.
 */
import type { Tensor } from "../tensor.js";

export const TWO_PI = 2 * Math.PI;

/** x mod 2π in [0, 2π); +0 for every multiple of 2π; NaN and ±Infinity give NaN. */
export function wrapAngle(x: number): number {
  let r = x % TWO_PI;
  if (r < 0) r += TWO_PI;
  return r >= TWO_PI ? 0 : r + 0; // + 0 turns −0 into +0
}

/** Check x [B, n] and θ [B, P, n] (same dtype) and return B and n. */
export function circleMapShapes(op: string, x: Tensor, theta: Tensor, p: number): { b: number; n: number } {
  const [b, n] = x.shape as [number, number];
  if (
    x.rank !== 2 ||
    theta.rank !== 3 ||
    theta.shape[0] !== b ||
    theta.shape[1] !== p ||
    theta.shape[2] !== n
  )
    throw new RangeError(
      `${op}: need x [B, n] and θ [B, ${p}, n], got x [${x.shape}] and θ [${theta.shape}]`,
    );
  if (x.dtype !== theta.dtype) throw new TypeError(`${op}: dtype mismatch: ${x.dtype} and ${theta.dtype}`);
  return { b, n };
}
