/**
 * Composition of bijectors (distrax's Chain), applied first to last:
 *   f = f_n ∘ … ∘ f_1,   log|det J_f| = Σ_l log|det J_{f_l}|.
 * Parameters of bijector l are named `{l}.{name}`.
 */
import { add, type DType, type Params, type Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { type Bijector, prefixParams, subParams } from "./bijector.js";

export class Chain implements Bijector {
  constructor(readonly bijectors: readonly Bijector[]) {
    if (bijectors.length === 0) throw new RangeError("Chain needs at least one bijector");
  }

  initParams(rng: Rng, dtype: DType): Params {
    const out: Params = {};
    this.bijectors.forEach((b, i) => {
      Object.assign(out, prefixParams(b.initParams(rng, dtype), String(i)));
    });
    return out;
  }

  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor } {
    let y = x;
    let logDet: Tensor | null = null;
    this.bijectors.forEach((b, i) => {
      const r = b.forwardAndLogDet(subParams(params, String(i)), y);
      y = r.y;
      logDet = logDet === null ? r.logDet : add(logDet, r.logDet);
    });
    return { y, logDet: logDet! };
  }

  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor } {
    let x = y;
    let logDet: Tensor | null = null;
    for (let i = this.bijectors.length - 1; i >= 0; i--) {
      const r = this.bijectors[i]!.inverseAndLogDet(subParams(params, String(i)), x);
      x = r.x;
      logDet = logDet === null ? r.logDet : add(logDet, r.logDet);
    }
    return { x, logDet: logDet! };
  }
}
