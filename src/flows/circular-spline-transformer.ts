/**
 * The circular rational-quadratic spline as an elementwise transformer (Durkan et al., arXiv
 * 1906.04032; on the circle, Rezende et al., arXiv 2002.02428): K monotone rational-quadratic
 * bins from (0, 0) to (2π, 2π) whose knot derivatives agree at 0 ≡ 2π, then a rotation,
 *
 *   y = (g(x mod 2π) + t) mod 2π ∈ [0, 2π),   log|dy/dx| = log g'(x mod 2π),
 *
 * for any real x (a plaquette is a sum of four link angles). θ [B, 3K+1, n]: channels [0, K)
 * width logits, [K, 2K) height logits, [2K, 3K) derivative pre-activations of knots 0..K−1
 * (δ = minDerivative + softplus; knot K shares knot 0's), channel 3K the rotation t. Bin widths
 * and heights are minBin… + (1 − K·minBin…)·softmax(logits) fractions of 2π (nflows'
 * convention; defaults 1e-3). The identity is equal logits with d = log(e^{1 − minDerivative} − 1)
 * and t = 0 (all-zero θ has knot slopes ln 2 + minDerivative, not 1). The forward map is
 * differentiable in x and θ; the closed-form inverse is made so by the implicit function theorem
 * (src/flows/implicit-inverse.ts). The kernels and their gradients are
 * engine/ops/circular-spline.ts.
 */
import type { Tensor } from "../engine/index.js";
// Direct import until the engine index re-exports the op.
import {
  type CircularSplineBounds,
  circularSplineBounds,
  circularSplineForward,
  circularSplineInverse,
} from "../engine/ops/circular-spline.js";
import type { ElementwiseTransformer } from "./elementwise.js";
import { implicitInverse } from "./implicit-inverse.js";

export class CircularSplineTransformer implements ElementwiseTransformer {
  readonly paramsPerElement: number;
  private readonly bounds: CircularSplineBounds;

  constructor(
    readonly bins: number,
    options: { minBinWidth?: number; minBinHeight?: number; minDerivative?: number } = {},
  ) {
    this.bounds = circularSplineBounds(bins, options);
    this.paramsPerElement = 3 * bins + 1;
  }

  forwardAndLogDet(x: Tensor, theta: Tensor): { y: Tensor; logDet: Tensor } {
    return circularSplineForward(x, theta, this.bins, this.bounds);
  }

  /** Differentiable in y and θ through the forward map (see the file comment). */
  inverseAndLogDet(y: Tensor, theta: Tensor): { x: Tensor; logDet: Tensor } {
    const { bins, bounds } = this;
    return implicitInverse(
      y,
      theta,
      (x, t) => circularSplineForward(x, t, bins, bounds),
      (yy, t) => circularSplineInverse(yy, t, bins, bounds),
    );
  }
}
