/**
 * The affine transformer of RealNVP (arXiv 1605.08803): θ = (s̃, t) per element,
 *   s = s̃ (unbounded) or tanh s̃ (bounded log-scale, |log dy/dx| < 1: a stable default for MLPs),
 *   y = x·e^{s} + t,   log|dy/dx| = s;      x = (y − t)·e^{−s},   log|dx/dy| = −s.
 */
import { add, exp, mul, neg, reshape, slice, sub, type Tensor, tanh } from "../engine/index.js";
import type { ElementwiseTransformer } from "./elementwise.js";

export class AffineTransformer implements ElementwiseTransformer {
  readonly paramsPerElement = 2;

  constructor(readonly options: { boundedLogScale?: boolean } = {}) {}

  private split(theta: Tensor): { s: Tensor; t: Tensor } {
    const [b, , n] = theta.shape as [number, number, number];
    const raw = reshape(slice(theta, 1, 0, 1), [b, n]);
    const t = reshape(slice(theta, 1, 1, 1), [b, n]);
    return { s: this.options.boundedLogScale ? tanh(raw) : raw, t };
  }

  forwardAndLogDet(x: Tensor, theta: Tensor): { y: Tensor; logDet: Tensor } {
    const { s, t } = this.split(theta);
    return { y: add(mul(x, exp(s)), t), logDet: s };
  }

  inverseAndLogDet(y: Tensor, theta: Tensor): { x: Tensor; logDet: Tensor } {
    const { s, t } = this.split(theta);
    return { x: mul(sub(y, t), exp(neg(s))), logDet: neg(s) };
  }
}
