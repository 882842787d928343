/**
 * A coupling layer after distrax's MaskedCoupling (arXiv 1605.08803): a partition keeps which
 * components are frozen, a conditioner computes θ from them, an elementwise transformer h maps
 * the active ones:
 *
 *   y_F = x_F,   y_A = h(x_A; θ(x_F)),   log|det J| = Σ_{i∈A} log|h'(x_i; θ_i)|
 *
 * The Jacobian is triangular (θ does not depend on x_A), the inverse is h⁻¹ with the same θ
 * (y_F = x_F). Configurations of any shape [B, ...shape] with partition.size components.
 * Where a fused kernel implements the configuration (fused-affine.ts), it is used.
 */
import { add, type DType, gather, type Params, reshape, scatter, sum, type Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import type { Bijector } from "./bijector.js";
import type { Conditioner } from "./conditioner.js";
import type { ElementwiseTransformer } from "./elementwise.js";
import { type FusedCoupling, fusedCouplingFor } from "./fused-affine.js";
import type { Partition } from "./partition.js";

export interface MaskedCouplingOptions {
  /** Use a fused kernel where one implements this configuration (default true). */
  fused?: boolean;
}

export class MaskedCoupling implements Bijector {
  private readonly fusedPath: FusedCoupling | null;

  constructor(
    readonly partition: Partition,
    readonly conditioner: Conditioner,
    readonly transformer: ElementwiseTransformer,
    options: MaskedCouplingOptions = {},
  ) {
    this.fusedPath = options.fused === false ? null : fusedCouplingFor(partition, conditioner, transformer);
  }

  /** Whether calls take a fused kernel. */
  get isFused(): boolean {
    return this.fusedPath !== null;
  }

  initParams(rng: Rng, dtype: DType): Params {
    return this.conditioner.initParams(rng, dtype);
  }

  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor } {
    if (this.fusedPath) return this.fusedPath.forward(params, x);
    return this.couple(params, x, false);
  }

  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor } {
    if (this.fusedPath) return this.fusedPath.inverse(params, y);
    const r = this.couple(params, y, true);
    return { x: r.y, logDet: r.logDet };
  }

  private couple(params: Params, x: Tensor, inverse: boolean): { y: Tensor; logDet: Tensor } {
    const { size, frozen, active } = this.partition;
    const b = x.shape[0]!;
    if (x.size !== b * size)
      throw new RangeError(
        `MaskedCoupling: input [${x.shape}] does not hold configurations of ${size} components`,
      );
    const flat = reshape(x, [b, size]);
    const theta = this.conditioner.apply(params, x);
    const xa = gather(flat, 1, active);
    const r = inverse
      ? this.transformer.inverseAndLogDet(xa, theta)
      : this.transformer.forwardAndLogDet(xa, theta);
    const ya = "y" in r ? r.y : r.x;
    const y = add(scatter(gather(flat, 1, frozen), 1, frozen, size), scatter(ya, 1, active, size));
    return { y: reshape(y, x.shape), logDet: sum(r.logDet, [1]) };
  }
}
