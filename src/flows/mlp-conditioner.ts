/**
 * An MLP conditioner over the whole frozen set (RealNVP with fully connected conditioners,
 * arXiv 1605.08803; the MLP blocks of NeuralRG, arXiv 1802.02840): x[frozen] [B, n_frozen] →
 * MLP → [B, P·n_active], read as θ [B, P, n_active]. Parameters under `net.` (nn.Sequential names).
 */
import { type DType, gather, type Params, reshape, type Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { subParams } from "./bijector.js";
import type { Conditioner } from "./conditioner.js";
import { type Activation, Mlp } from "./mlp.js";
import type { Partition } from "./partition.js";

export interface MlpConditionerConfig {
  hidden: readonly number[];
  /** Transformer parameters per active component. */
  outChannels: number;
  activation?: Activation;
  /** Zero the last layer: θ = 0. */
  zeroLast?: boolean;
}

export class MlpConditioner implements Conditioner {
  readonly net: Mlp;

  constructor(
    readonly partition: Partition,
    readonly config: MlpConditionerConfig,
  ) {
    this.net = new Mlp({
      inFeatures: partition.frozen.length,
      hidden: config.hidden,
      outFeatures: config.outChannels * partition.active.length,
      activation: config.activation,
      zeroLast: config.zeroLast,
    });
  }

  initParams(rng: Rng, dtype: DType): Params {
    const p = this.net.initParams(rng, dtype);
    const out: Params = {};
    for (const k in p) out[`net.${k}`] = p[k]!;
    return out;
  }

  apply(params: Params, x: Tensor): Tensor {
    const b = x.shape[0]!;
    const xf = gather(reshape(x, [b, this.partition.size]), 1, this.partition.frozen);
    const out = this.net.apply(subParams(params, "net"), xf);
    return reshape(out, [b, this.config.outChannels, this.partition.active.length]);
  }
}
