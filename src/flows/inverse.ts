/** The inverse of a bijector (distrax's Inverse): forward is b⁻¹, inverse is b, same parameters. */
import type { DType, Params, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import type { Bijector } from "./bijector.js";

export class Inverse implements Bijector {
  constructor(readonly bijector: Bijector) {}

  initParams(rng: Rng, dtype: DType): Params {
    return this.bijector.initParams(rng, dtype);
  }

  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor } {
    const r = this.bijector.inverseAndLogDet(params, x);
    return { y: r.x, logDet: r.logDet };
  }

  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor } {
    const r = this.bijector.forwardAndLogDet(params, y);
    return { x: r.y, logDet: r.logDet };
  }
}
