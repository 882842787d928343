/**
 * A normalizing flow: prior r and bijectors f = f_L ∘ … ∘ f_1 (arXiv 1904.12072):
 *   x = f(z), z ~ r,   log q(x) = log r(z) − Σ_l log|det J_{f_l}|.
 * Parameters are named `{l}.{name}` with l the layer index, as the notebook's
 * nn.Sequential state_dict (e.g. `3.net.0.weight`).
 */
import { add, type DType, type Params, sub, type Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { type Bijector, prefixParams, subParams } from "./bijector.js";
import type { Prior } from "./prior.js";

export class Flow {
  constructor(
    readonly prior: Prior,
    readonly layers: readonly Bijector[],
  ) {}

  initParams(rng: Rng, dtype: DType): Params {
    const out: Params = {};
    this.layers.forEach((l, i) => {
      Object.assign(out, prefixParams(l.initParams(rng, dtype), String(i)));
    });
    return out;
  }

  /** Push prior samples z through the flow: x and log q(x), shape [B]. */
  forwardWithLogProb(params: Params, z: Tensor): { x: Tensor; logq: Tensor } {
    let x = z;
    let logq = this.prior.logProb(z);
    this.layers.forEach((l, i) => {
      const r = l.forwardAndLogDet(subParams(params, String(i)), x);
      x = r.y;
      logq = sub(logq, r.logDet);
    });
    return { x, logq };
  }

  /** Draw n configurations with their log q. */
  sample(params: Params, rng: Rng, n: number, dtype: DType = "float64"): { x: Tensor; logq: Tensor } {
    return this.forwardWithLogProb(params, this.prior.sample(rng, n, dtype));
  }

  /** log q(x) through the inverse: log q(x) = log r(f⁻¹(x)) + Σ_l log|det J_{f_l⁻¹}|. */
  logProb(params: Params, x: Tensor): Tensor {
    let z = x;
    let acc: Tensor | null = null;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const r = this.layers[i]!.inverseAndLogDet(subParams(params, String(i)), z);
      z = r.x;
      acc = acc === null ? r.logDet : add(acc, r.logDet);
    }
    const lr = this.prior.logProb(z);
    return acc === null ? lr : add(lr, acc);
  }

  /** Inverse map x ↦ z. */
  inverse(params: Params, x: Tensor): Tensor {
    let z = x;
    for (let i = this.layers.length - 1; i >= 0; i--)
      z = this.layers[i]!.inverseAndLogDet(subParams(params, String(i)), z).x;
    return z;
  }
}
