/**
 * Affine coupling layer with a checkerboard mask (arXiv 1605.08803 RealNVP; 1904.12072 for
 * lattices; the notebook's CouplingLayer). With m the mask (1 = frozen) and (s, t) = NN(m⊙x):
 *
 *   forward:  y = m⊙x + (1−m)⊙(x⊙e^{s} + t),        log|det J| =  Σ_x (1−m)·s
 *   inverse:  x = m⊙y + (1−m)⊙(y − t)⊙e^{−s},       log|det J⁻¹| = −Σ_x (1−m)·s
 *
 * s and t depend only on the frozen sites, so the Jacobian is triangular.
 */
import {
  add,
  couplingLayer,
  type DType,
  exp,
  mul,
  neg,
  type Params,
  reshape,
  slice,
  sub,
  sum,
  Tensor,
} from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import type { Bijector } from "./bijector.js";
import { subParams } from "./bijector.js";
import { PeriodicCnn } from "./cnn.js";
import { checkerboardMask } from "./masks.js";

export interface AffineCouplingConfig {
  latticeShape: readonly number[];
  parity: 0 | 1;
  hidden: readonly number[];
  kernel: number;
  /** Start as the identity map (last conv zeroed). */
  identityInit?: boolean;
  /**
   * Use the fused coupling op (engine/ops/coupling.ts; default). false runs the same maths
   * as a graph of elementwise ops and convolutions: the reference the fused op is tested
   * against.
   */
  fused?: boolean;
}

export class AffineCoupling implements Bijector {
  readonly net: PeriodicCnn;
  private readonly frozen: Float64Array;
  private readonly active: Float64Array;
  private readonly siteAxes: number[];
  private masks = new Map<DType, { frozen: Tensor; active: Tensor }>();

  constructor(readonly config: AffineCouplingConfig) {
    const dim = config.latticeShape.length;
    this.net = new PeriodicCnn({
      inChannels: 1,
      hidden: config.hidden,
      outChannels: 2,
      kernel: config.kernel,
      dim,
      zeroLast: config.identityInit ?? false,
    });
    this.frozen = checkerboardMask(config.latticeShape, config.parity);
    this.active = this.frozen.map((m) => 1 - m);
    this.siteAxes = Array.from({ length: dim }, (_, i) => i + 1);
  }

  initParams(rng: Rng, dtype: DType): Params {
    const p = this.net.initParams(rng, dtype);
    const out: Params = {};
    for (const k in p) out[`net.${k}`] = p[k]!;
    return out;
  }

  private mask(dtype: DType) {
    let m = this.masks.get(dtype);
    if (!m) {
      const mk = (a: Float64Array) =>
        new Tensor(dtype === "float32" ? Float32Array.from(a) : a, this.config.latticeShape);
      m = { frozen: mk(this.frozen), active: mk(this.active) };
      this.masks.set(dtype, m);
    }
    return m;
  }

  /** s and t, each [B, ...L], from the frozen sites of `x`. */
  private conditioner(
    params: Params,
    x: Tensor,
  ): { s: Tensor; t: Tensor; m: { frozen: Tensor; active: Tensor } } {
    const m = this.mask(x.dtype);
    const lattice = x.shape.slice(1);
    const h = this.net.apply(
      subParams(params, "net"),
      reshape(mul(x, m.frozen), [x.shape[0]!, 1, ...lattice]),
    );
    const s = reshape(slice(h, 1, 0, 1), x.shape);
    const t = reshape(slice(h, 1, 1, 1), x.shape);
    return { s, t, m };
  }

  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor } {
    if (this.config.fused !== false) {
      return couplingLayer(x, this.net.couplingNet(subParams(params, "net")), this.config.parity, false);
    }
    const { s, t, m } = this.conditioner(params, x);
    const y = add(mul(m.frozen, x), mul(m.active, add(mul(x, exp(s)), t)));
    const logDet = sum(mul(m.active, s), this.siteAxes);
    return { y, logDet };
  }

  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor } {
    if (this.config.fused !== false) {
      const r = couplingLayer(y, this.net.couplingNet(subParams(params, "net")), this.config.parity, true);
      return { x: r.y, logDet: r.logDet };
    }
    const { s, t, m } = this.conditioner(params, y);
    const x = add(mul(m.frozen, y), mul(m.active, mul(sub(y, t), exp(neg(s)))));
    const logDet = neg(sum(mul(m.active, s), this.siteAxes));
    return { x, logDet };
  }
}
