/**
 * The notebook's coupling layer (arXiv 1904.12072; the notebook's CouplingLayer): with m the
 * checkerboard mask (1 = frozen) and (s, t) = tanh(CNN(m⊙x)),
 *
 *   forward:  y = m⊙x + (1−m)⊙(x⊙e^{s} + t),        log|det J| =  Σ_x (1−m)·s
 *   inverse:  x = m⊙y + (1−m)⊙(y − t)⊙e^{−s},       log|det J⁻¹| = −Σ_x (1−m)·s
 *
 * It is MaskedCoupling(checkerboard, CnnConditioner, AffineTransformer), which runs the fused
 * coupling op (engine/fused/coupling.ts) unless `fused: false` asks for the generic graph.
 * Parameters: `net.{j}.weight` etc., the notebook's state_dict names.
 */
import { AffineTransformer } from "./affine-transformer.js";
import type { PeriodicCnn } from "./cnn.js";
import { CnnConditioner } from "./cnn-conditioner.js";
import { MaskedCoupling } from "./masked-coupling.js";
import { checkerboardPartition } from "./partition.js";

export interface AffineCouplingConfig {
  latticeShape: readonly number[];
  parity: 0 | 1;
  hidden: readonly number[];
  kernel: number;
  /** Start as the identity map (last conv zeroed). */
  identityInit?: boolean;
  /** Use the fused coupling op (default). false runs the generic graph it is tested against. */
  fused?: boolean;
}

export class AffineCoupling extends MaskedCoupling {
  constructor(readonly config: AffineCouplingConfig) {
    const partition = checkerboardPartition(config.latticeShape, config.parity);
    const conditioner = new CnnConditioner(partition, {
      hidden: config.hidden,
      kernel: config.kernel,
      outChannels: 2,
      zeroLast: config.identityInit ?? false,
    });
    super(partition, conditioner, new AffineTransformer(), { fused: config.fused });
  }

  get net(): PeriodicCnn {
    return (this.conditioner as CnnConditioner).net;
  }
}
