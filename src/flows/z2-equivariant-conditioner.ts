/**
 * A Z₂-equivariant conditioner made from any conditioner c: with a parity π_k = ±1 per output
 * channel k,
 *
 *   θ_k(x) = ½ [c_k(x) + π_k · c_k(−x)],   so that θ_k(−x) = π_k · θ_k(x).
 *
 * With the affine transformer's (s, t) and parities (+1, −1), s is even and t odd in the frozen
 * field: y(−x) = −x·e^{s} − t = −y(x) on the active sites and log|det J| is even, so every
 * coupling is an odd map and a flow of them on a symmetric prior has q(−x) = q(x) exactly, for a
 * target with S(−φ) = S(φ) (φ⁴ without a source, the relaxed Ising model). Unlike the
 * symmetrised density (z2-symmetrised.ts: one more inverse pass per step, NeuralRG's
 * `Symmetrized`), the symmetry is in every layer and sampling needs no sign flip; the price is
 * two conditioner passes per layer. The parameters are c's, under the same names.
 */
import { add, type DType, mul, neg, type Params, scale, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import type { Conditioner } from "./conditioner.js";

export class Z2EquivariantConditioner implements Conditioner {
  /** The parities as a [1, P, 1] tensor per dtype (made once, broadcast over batch and sites). */
  private readonly parityTensors = new Map<DType, Tensor>();

  constructor(
    readonly inner: Conditioner,
    readonly parities: readonly (1 | -1)[],
  ) {}

  initParams(rng: Rng, dtype: DType): Params {
    return this.inner.initParams(rng, dtype);
  }

  apply(params: Params, x: Tensor): Tensor {
    const even = this.inner.apply(params, x);
    const odd = this.inner.apply(params, neg(x));
    const p = even.shape[1]!;
    if (p !== this.parities.length)
      throw new RangeError(`Z2EquivariantConditioner: ${this.parities.length} parities for ${p} channels`);
    let parity = this.parityTensors.get(even.dtype);
    if (parity === undefined) {
      const data =
        even.dtype === "float32" ? Float32Array.from(this.parities) : Float64Array.from(this.parities);
      parity = new Tensor(data, [1, p, 1]);
      this.parityTensors.set(even.dtype, parity);
    }
    return scale(add(even, mul(odd, parity)), 0.5);
  }
}
