/**
 * The prior r(z): an independent standard normal per site.
 *   log r(z) = −½ Σ_x z(x)² − (V/2)·log 2π
 */
import { type DType, mul, scale, shift, sum, type Tensor, zeros } from "../engine/index.js";
import * as math from "../math/index.js";
import type { Rng } from "../rng/philox.js";

/**
 * A flow's base distribution r(z): draws and their log density. Fields on sites use a normal
 * prior; angles (U(1) links) the uniform one on [0, 2π) of shape [d, ...lattice]
 * (uniform-prior.ts).
 */
export interface Prior {
  /** Shape of one configuration, without the batch axis. */
  readonly eventShape: readonly number[];
  /** n draws, shape [n, ...eventShape]. */
  sample(rng: Rng, n: number, dtype?: DType): Tensor;
  /** log r(z) per batch element, shape [B]. */
  logProb(z: Tensor): Tensor;
}

export class NormalPrior implements Prior {
  readonly volume: number;

  constructor(readonly latticeShape: readonly number[]) {
    this.volume = latticeShape.reduce((a, b) => a * b, 1);
  }

  get eventShape(): readonly number[] {
    return this.latticeShape;
  }

  sample(rng: Rng, n: number, dtype: DType = "float64"): Tensor {
    const z = zeros([n, ...this.latticeShape], dtype);
    rng.normal(z.data);
    return z;
  }

  /** log r(z) per batch element, shape [B]. */
  logProb(z: Tensor): Tensor {
    const axes = this.latticeShape.map((_, i) => i + 1);
    return shift(scale(sum(mul(z, z), axes), -0.5), -0.5 * this.volume * math.log(2 * Math.PI));
  }
}
