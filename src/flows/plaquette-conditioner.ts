/**
 * The conditioner of a plaquette coupling (arXiv 2003.06413; the tutorial's NCPPlaqCouplingLayer
 * with make_conv_net, arXiv 2101.08176): the frozen plaquettes as two channels
 *
 *   (cos(m⊙P), sin(m⊙P)),   m = 1 on frozen plaquettes, 0 elsewhere
 *
 * (so every other plaquette reads as (1, 0), the tutorial's stack_cos_sin of the masked angle),
 * through a periodic CNN: conv → LeakyReLU(0.01) → … → conv, no final tanh; its P output
 * channels are the transformer's parameters, read at the active plaquettes. Angles enter only
 * through cos and sin, so θ is 2π-periodic in each frozen plaquette. Parameters `net.{2j}.weight`,
 * `net.{2j}.bias`: the tutorial's state_dict names under plaq_coupling.
 */
import { concat, cos, type DType, gather, mul, type Params, reshape, sin, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { subParams } from "./bijector.js";
import { PeriodicCnn } from "./cnn.js";
import type { Conditioner } from "./conditioner.js";
import type { PlaquetteMasks } from "./plaquette-masks.js";

export interface PlaquetteConditionerConfig {
  hidden: readonly number[];
  kernel: number;
  /** The transformer's parameters per plaquette (output channels). */
  outChannels: number;
}

export class PlaquetteConditioner implements Conditioner {
  readonly net: PeriodicCnn;
  private readonly masks = new Map<DType, Tensor>();

  constructor(
    readonly plaquettes: PlaquetteMasks,
    readonly config: PlaquetteConditionerConfig,
  ) {
    this.net = new PeriodicCnn({
      inChannels: 2,
      hidden: config.hidden,
      outChannels: config.outChannels,
      kernel: config.kernel,
      dim: 2,
      activation: "leaky-relu",
      finalTanh: false,
    });
  }

  initParams(rng: Rng, dtype: DType): Params {
    const p = this.net.initParams(rng, dtype);
    const out: Params = {};
    for (const k in p) out[`net.${k}`] = p[k]!;
    return out;
  }

  private frozenMask(dtype: DType): Tensor {
    let m = this.masks.get(dtype);
    if (!m) {
      const a = this.plaquettes.frozenMask;
      m = new Tensor(dtype === "float32" ? Float32Array.from(a) : Float64Array.from(a), [
        ...this.plaquettes.latticeShape,
      ]);
      this.masks.set(dtype, m);
    }
    return m;
  }

  /** P [B, L0, L1] → θ [B, outChannels, n_active]. */
  apply(params: Params, plaq: Tensor): Tensor {
    const b = plaq.shape[0]!;
    const shape = this.plaquettes.latticeShape;
    const masked = reshape(mul(plaq, this.frozenMask(plaq.dtype)), [b, 1, ...shape]);
    const h = this.net.apply(subParams(params, "net"), concat([cos(masked), sin(masked)], 1));
    const v = shape[0] * shape[1];
    return gather(reshape(h, [b, this.config.outChannels, v]), 2, this.plaquettes.active);
  }
}
