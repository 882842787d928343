/**
 * A multilayer perceptron with PyTorch's nn.Sequential(Linear, act, …, Linear) layout and names:
 *   `{2j}.weight` [out, in], `{2j}.bias` [out];  h_{j+1} = act(h_j W_jᵀ + b_j), no act after the last.
 * Initialisation is PyTorch's default, U(±1/√fan_in) for weights and biases; `zeroLast` zeroes
 * the last layer (output 0).
 */
import { type DType, linear, type Params, relu, type Tensor, tanh, zeros } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";

/** Hidden activations, as functions (PyTorch's nn.ReLU and nn.Tanh). */
export const ACTIVATIONS = { relu, tanh } as const;
export type Activation = (x: Tensor) => Tensor;

export interface MlpConfig {
  inFeatures: number;
  hidden: readonly number[];
  outFeatures: number;
  activation?: Activation;
  zeroLast?: boolean;
}

export class Mlp {
  readonly sizes: number[];

  constructor(readonly config: MlpConfig) {
    this.sizes = [config.inFeatures, ...config.hidden, config.outFeatures];
    if (this.sizes.some((n) => !Number.isInteger(n) || n < 1))
      throw new RangeError(`Mlp: layer sizes must be positive integers, got [${this.sizes}]`);
  }

  initParams(rng: Rng, dtype: DType): Params {
    const params: Params = {};
    const n = this.sizes.length - 1;
    for (let j = 0; j < n; j++) {
      const fanIn = this.sizes[j]!;
      const w = zeros([this.sizes[j + 1]!, fanIn], dtype);
      const b = zeros([this.sizes[j + 1]!], dtype);
      if (!(this.config.zeroLast && j === n - 1)) {
        const bound = 1 / Math.sqrt(fanIn);
        for (let i = 0; i < w.size; i++) w.data[i] = (2 * rng.uniform() - 1) * bound;
        for (let i = 0; i < b.size; i++) b.data[i] = (2 * rng.uniform() - 1) * bound;
      }
      params[`${2 * j}.weight`] = w;
      params[`${2 * j}.bias`] = b;
    }
    return params;
  }

  /** x [M, in] → [M, out]. */
  apply(params: Params, x: Tensor): Tensor {
    const act = this.config.activation ?? relu;
    const n = this.sizes.length - 1;
    let h = x;
    for (let j = 0; j < n; j++) {
      h = linear(h, params[`${2 * j}.weight`]!, params[`${2 * j}.bias`]!);
      if (j < n - 1) h = act(h);
    }
    return h;
  }
}
