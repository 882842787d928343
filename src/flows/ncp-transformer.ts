/**
 * The NCP circle map as an elementwise transformer: a mixture of C non-compact projections
 * and a rotation (Rezende et al., arXiv 2002.02428; the U(1) flows of arXiv 2003.06413 and the
 * tutorial's NCPPlaqCouplingLayer, arXiv 2101.08176). With x̃ = x mod 2π (x any real: a
 * plaquette is a sum of four link angles),
 *
 *   h(x̃|s) = 2·atan(e^s·tan(x̃/2)) in [0, 2π),   y = (mean_c h(x̃|s_c) + t) mod 2π ∈ [0, 2π),
 *   log|dy/dx| = logsumexp_c(−log(e^{−s_c}cos²(x̃/2) + e^{s_c}sin²(x̃/2))) − ln C.
 *
 * θ [B, C+1, n]: channels 0..C−1 are the unconstrained log-scales s_c, channel C the rotation
 * t (the tutorial's net_out[:, :-1], net_out[:, -1]). s = 0, t = 0 is the identity of
 * [0, 2π). The forward map is differentiable in x and θ; the inverse (Newton's method to the
 * last ulp) is made so by the implicit function theorem (src/flows/implicit-inverse.ts). The
 * kernels and their gradients are engine/ops/ncp.ts.
 */
import type { Tensor } from "../engine/index.js";
// Direct import until the engine index re-exports the op.
import { ncpForward, ncpInverse } from "../engine/ops/ncp.js";
import type { ElementwiseTransformer } from "./elementwise.js";
import { implicitInverse } from "./implicit-inverse.js";

export class NcpTransformer implements ElementwiseTransformer {
  readonly paramsPerElement: number;

  constructor(readonly components: number) {
    if (!Number.isInteger(components) || components < 1)
      throw new RangeError(`NcpTransformer: components must be a positive integer, got ${components}`);
    this.paramsPerElement = components + 1;
  }

  forwardAndLogDet(x: Tensor, theta: Tensor): { y: Tensor; logDet: Tensor } {
    return ncpForward(x, theta, this.components);
  }

  /** Differentiable in y and θ through the forward map (see the file comment). */
  inverseAndLogDet(y: Tensor, theta: Tensor): { x: Tensor; logDet: Tensor } {
    const c = this.components;
    return implicitInverse(
      y,
      theta,
      (x, t) => ncpForward(x, t, c),
      (yy, t) => ncpInverse(yy, t, c),
    );
  }
}
