/**
 * The flow of arXiv 1904.12072 and the notebook: a normal prior followed by affine coupling
 * layers with checkerboard masks of alternating parity (layer l has parity l mod 2).
 */
import { AffineCoupling } from "./affine-coupling.js";
import { AffineTransformer } from "./affine-transformer.js";
import { CnnConditioner } from "./cnn-conditioner.js";
import { Flow } from "./flow.js";
import { MaskedCoupling } from "./masked-coupling.js";
import { checkerboardFits } from "./masks.js";
import { checkerboardPartition } from "./partition.js";
import { NormalPrior } from "./prior.js";
import { Z2EquivariantConditioner } from "./z2-equivariant-conditioner.js";

export interface AffineFlowConfig {
  latticeShape: readonly number[];
  layers: number;
  hidden: readonly number[];
  kernel: number;
  identityInit?: boolean;
  /**
   * Z₂-equivariant couplings (s even, t odd in the frozen field: z2-equivariant-conditioner.ts),
   * an odd flow with q(−x) = q(x); they take the generic graph, not the fused op.
   */
  z2Equivariant?: boolean;
}

export function affineCouplingFlow(config: AffineFlowConfig): Flow {
  if (!checkerboardFits(config.latticeShape)) {
    throw new RangeError(
      `lattice [${config.latticeShape}] has an odd extent: a periodic checkerboard needs even extents`,
    );
  }
  const layers = Array.from({ length: config.layers }, (_, i) => {
    const parity = (i % 2) as 0 | 1;
    if (!config.z2Equivariant)
      return new AffineCoupling({
        latticeShape: config.latticeShape,
        parity,
        hidden: config.hidden,
        kernel: config.kernel,
        identityInit: config.identityInit ?? false,
      });
    const partition = checkerboardPartition(config.latticeShape, parity);
    const cnn = new CnnConditioner(partition, {
      hidden: config.hidden,
      kernel: config.kernel,
      outChannels: 2,
      zeroLast: config.identityInit ?? false,
    });
    return new MaskedCoupling(partition, new Z2EquivariantConditioner(cnn, [1, -1]), new AffineTransformer());
  });
  return new Flow(new NormalPrior(config.latticeShape), layers);
}
