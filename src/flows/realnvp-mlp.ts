/**
 * RealNVP with MLP conditioners (arXiv 1605.08803) on a lattice field: a normal prior and
 * `layers` affine couplings; layer l freezes the stripes x_a ≡ l mod 2 (mod 2) along axis
 * a = ⌊l/2⌋ mod d (or a checkerboard of parity l mod 2), and its conditioner is an MLP
 *   x_F [B, V/2] → Linear → ReLU → … → Linear → [B, 2, V/2] = (s̃, t),  s = tanh s̃,
 * so each layer sees the whole frozen half (no locality assumed, unlike the CNN flow).
 * Parameters `{l}.net.{0,2,…}.{weight,bias}`: PyTorch nn.Sequential names.
 */
import { AffineTransformer } from "./affine-transformer.js";
import { Flow } from "./flow.js";
import { MaskedCoupling } from "./masked-coupling.js";
import { MlpConditioner } from "./mlp-conditioner.js";
import { checkerboardPartition, type Partition, stripePartition } from "./partition.js";
import { NormalPrior } from "./prior.js";
import { Z2EquivariantConditioner } from "./z2-equivariant-conditioner.js";

export interface RealNvpMlpConfig {
  latticeShape: readonly number[];
  layers: number;
  hidden: readonly number[];
  partition: "stripes" | "checkerboard";
  /** Start as the identity map (last layer zeroed). */
  identityInit?: boolean;
  /** Z₂-equivariant couplings (s even, t odd: z2-equivariant-conditioner.ts): an odd flow. */
  z2Equivariant?: boolean;
}

/** The partition of layer l. */
export function realNvpPartition(config: RealNvpMlpConfig, l: number): Partition {
  const parity = (l % 2) as 0 | 1;
  const d = config.latticeShape.length;
  return config.partition === "stripes"
    ? stripePartition(config.latticeShape, Math.floor(l / 2) % d, parity)
    : checkerboardPartition(config.latticeShape, parity);
}

export function realNvpMlpFlow(config: RealNvpMlpConfig): Flow {
  if (config.latticeShape.some((n) => n % 2 !== 0))
    throw new RangeError(`realNvpMlpFlow: lattice [${config.latticeShape}] needs even extents`);
  const transformer = new AffineTransformer({ boundedLogScale: true });
  const layers = Array.from({ length: config.layers }, (_, l) => {
    const partition = realNvpPartition(config, l);
    const conditioner = new MlpConditioner(partition, {
      hidden: config.hidden,
      outChannels: 2,
      zeroLast: config.identityInit ?? false,
    });
    const c = config.z2Equivariant ? new Z2EquivariantConditioner(conditioner, [1, -1]) : conditioner;
    return new MaskedCoupling(partition, c, transformer);
  });
  return new Flow(new NormalPrior(config.latticeShape), layers);
}
