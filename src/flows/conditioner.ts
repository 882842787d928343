/**
 * A coupling's conditioner (distrax's "conditioner"): a network that reads the frozen components
 * of x and returns the parameters θ of the elementwise transformer for each active component,
 * shape [B, P, n_active] (P = the transformer's parameters per element). It must not depend on
 * the active components, so the coupling's Jacobian is triangular.
 */
import type { DType, Params, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";

export interface Conditioner {
  /** Fresh parameters, named relative to the conditioner (e.g. `0.weight`). */
  initParams(rng: Rng, dtype: DType): Params;
  /** θ for the active components of x [B, ...shape]: [B, P, n_active]. */
  apply(params: Params, x: Tensor): Tensor;
}
