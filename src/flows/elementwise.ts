/**
 * An elementwise transformer (distrax's "bijector" slot of a coupling): a bijection of each
 * active component, y_i = h(x_i; θ_i), with P parameters per element, taken unconstrained from
 * the conditioner and mapped to valid values by the transformer itself.
 */
import type { Tensor } from "../engine/index.js";

export interface ElementwiseTransformer {
  /** P: parameters per element (the conditioner's channel count). */
  readonly paramsPerElement: number;
  /** x [B, n], θ [B, P, n] → y [B, n] and log|dy/dx| per element [B, n]. */
  forwardAndLogDet(x: Tensor, theta: Tensor): { y: Tensor; logDet: Tensor };
  /** y [B, n], θ [B, P, n] → x [B, n] and log|dx/dy| per element [B, n]. */
  inverseAndLogDet(y: Tensor, theta: Tensor): { x: Tensor; logDet: Tensor };
}
