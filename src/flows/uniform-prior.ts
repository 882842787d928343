/**
 * The prior of gauge flows: independent uniform angles, the Haar measure of U(1) per link
 * (arXiv 2003.06413; the tutorial's MultivariateUniform(0, 2π), arXiv 2101.08176):
 *
 *   z_i ~ U[0, 2π) for each of the N = Π eventShape components,   log r(z) = −N·ln 2π.
 *
 * The density lives on the torus, so log r is the same for any real z (an angle outside
 * [0, 2π) is the point it names modulo 2π); draws are in [0, 2π).
 */
import { allocate, type DType, full, Tensor } from "../engine/index.js";
import * as math from "../math/index.js";
import type { Rng } from "../rng/philox.js";
import type { Prior } from "./prior.js";

const TWO_PI = 2 * Math.PI;

export class UniformPrior implements Prior {
  /** N: angles per configuration. */
  readonly size: number;
  private readonly logDensity: number;

  constructor(readonly eventShape: readonly number[]) {
    if (eventShape.length === 0 || eventShape.some((n) => !Number.isInteger(n) || n < 1))
      throw new RangeError(`UniformPrior: eventShape needs positive integer extents, got [${eventShape}]`);
    this.size = eventShape.reduce((a, b) => a * b, 1);
    this.logDensity = -this.size * math.log(TWO_PI);
  }

  sample(rng: Rng, n: number, dtype: DType = "float64"): Tensor {
    const z = allocate(dtype, n * this.size);
    for (let i = 0; i < z.length; i++) {
      z[i] = TWO_PI * rng.uniform();
      // float32 may round the largest draws up to 2π itself, which is the angle 0.
      if (z[i]! >= TWO_PI) z[i] = 0;
    }
    return new Tensor(z, [n, ...this.eventShape]);
  }

  /** −N·ln 2π per batch element, shape [B]. */
  logProb(z: Tensor): Tensor {
    const b = z.shape[0]!;
    if (z.size !== b * this.size)
      throw new RangeError(
        `UniformPrior: input [${z.shape}] does not hold configurations of [${this.eventShape}]`,
      );
    return full([b], this.logDensity, z.dtype);
  }
}
