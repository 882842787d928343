/**
 * The flow of arXiv 1904.12072 and the notebook: a normal prior followed by affine coupling
 * layers with checkerboard masks of alternating parity (layer l has parity l mod 2).
 */
import { AffineCoupling } from "./affine-coupling.js";
import { Flow } from "./flow.js";
import { checkerboardFits } from "./masks.js";
import { NormalPrior } from "./prior.js";

export interface AffineFlowConfig {
  latticeShape: readonly number[];
  layers: number;
  hidden: readonly number[];
  kernel: number;
  identityInit?: boolean;
}

export function affineCouplingFlow(config: AffineFlowConfig): Flow {
  if (!checkerboardFits(config.latticeShape)) {
    throw new RangeError(
      `lattice [${config.latticeShape}] has an odd extent: a periodic checkerboard needs even extents`,
    );
  }
  const layers = Array.from(
    { length: config.layers },
    (_, i) =>
      new AffineCoupling({
        latticeShape: config.latticeShape,
        parity: (i % 2) as 0 | 1,
        hidden: config.hidden,
        kernel: config.kernel,
        identityInit: config.identityInit ?? false,
      }),
  );
  return new Flow(new NormalPrior(config.latticeShape), layers);
}
