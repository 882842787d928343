/**
 * A periodic-CNN conditioner (arXiv 1904.12072; the notebook's get_CNN): the masked field
 * m⊙x as one input channel, conv → PReLU → … → conv → tanh with P output channels, read at
 * the active sites. Parameters are the CNN's, under `net.` (the notebook's state_dict names).
 */
import { type DType, gather, mul, type Params, reshape, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { subParams } from "./bijector.js";
import { PeriodicCnn } from "./cnn.js";
import type { Conditioner } from "./conditioner.js";
import type { Partition } from "./partition.js";

export interface CnnConditionerConfig {
  hidden: readonly number[];
  kernel: number;
  /** Transformer parameters per site (output channels). */
  outChannels: number;
  /** Zero the last convolution: θ = 0 (for the affine transformer, the identity). */
  zeroLast?: boolean;
}

export class CnnConditioner implements Conditioner {
  readonly net: PeriodicCnn;
  private readonly masks = new Map<DType, Tensor>();

  constructor(
    readonly partition: Partition,
    readonly config: CnnConditionerConfig,
  ) {
    this.net = new PeriodicCnn({
      inChannels: 1,
      hidden: config.hidden,
      outChannels: config.outChannels,
      kernel: config.kernel,
      dim: partition.shape.length,
      zeroLast: config.zeroLast ?? false,
    });
  }

  initParams(rng: Rng, dtype: DType): Params {
    const p = this.net.initParams(rng, dtype);
    const out: Params = {};
    for (const k in p) out[`net.${k}`] = p[k]!;
    return out;
  }

  /** The frozen mask as a tensor of the input's dtype. */
  frozenMask(dtype: DType): Tensor {
    let m = this.masks.get(dtype);
    if (!m) {
      const a = this.partition.frozenMask;
      const data = dtype === "float32" ? Float32Array.from(a) : Float64Array.from(a);
      m = new Tensor(data, this.partition.shape);
      this.masks.set(dtype, m);
    }
    return m;
  }

  /** The CNN's output over all sites, [B, P, ...shape] (the unfused reference path uses it too). */
  applyAll(params: Params, x: Tensor): Tensor {
    const b = x.shape[0]!;
    const h = mul(x, this.frozenMask(x.dtype));
    return this.net.apply(subParams(params, "net"), reshape(h, [b, 1, ...this.partition.shape]));
  }

  apply(params: Params, x: Tensor): Tensor {
    const b = x.shape[0]!;
    const h = this.applyAll(params, x);
    return gather(reshape(h, [b, this.config.outChannels, this.partition.size]), 2, this.partition.active);
  }
}
