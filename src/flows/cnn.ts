/**
 * The coupling layers' conditioner: a CNN with periodic padding (arXiv 1904.12072, notebook
 * get_CNN): conv → PReLU → … → conv → tanh. Parameter names and shapes match the PyTorch
 * nn.Sequential of the notebook, so a checkpoint loads there with load_state_dict:
 *   net.{2j}.weight [C_{j+1}, C_j, k, …, k], net.{2j}.bias [C_{j+1}], net.{2j+1}.weight [1] (PReLU).
 * Initialisation is PyTorch's default: U(±1/√fan_in) for conv weights and biases, PReLU slope 0.25.
 *
 * The U(1) tutorial's make_conv_net (arXiv 2101.08176) is the same stack with nn.LeakyReLU
 * (slope 0.01, no parameters: slot 2j+1 holds none) and no final tanh (use_final_tanh=False):
 * `activation: "leaky-relu"`, `finalTanh: false`. The names of the convolutions do not change.
 */
import {
  type CouplingNet,
  type DType,
  full,
  leakyRelu,
  type Params,
  periodicConv,
  prelu,
  type Tensor,
  tanh,
  zeros,
} from "../engine/index.js";
import type { Rng } from "../rng/philox.js";

export interface CnnConfig {
  inChannels: number;
  hidden: readonly number[];
  outChannels: number;
  kernel: number;
  /** Lattice dimension (number of spatial axes of the convolution). */
  dim: number;
  /** Zero the last convolution so the network outputs 0 (identity coupling). */
  zeroLast?: boolean;
  /** Between convolutions: nn.PReLU (default) or nn.LeakyReLU(0.01), which has no parameters. */
  activation?: CnnActivation;
  /** A tanh after the last convolution (default true). */
  finalTanh?: boolean;
}

export type CnnActivation = "prelu" | "leaky-relu";

/** nn.LeakyReLU's default negative slope. */
export const LEAKY_RELU_SLOPE = 0.01;

export class PeriodicCnn {
  readonly sizes: number[];
  private readonly names: { w: string; b: string; a: string | null; last: boolean }[];
  private readonly leaky: boolean;
  private readonly finalTanh: boolean;

  constructor(readonly config: CnnConfig) {
    if (config.kernel % 2 !== 1 || config.kernel < 1)
      throw new RangeError(`kernel must be odd, got ${config.kernel}`);
    this.sizes = [config.inChannels, ...config.hidden, config.outChannels];
    this.leaky = config.activation === "leaky-relu";
    this.finalTanh = config.finalTanh ?? true;
    const n = this.sizes.length - 1;
    this.names = Array.from({ length: n }, (_, j) => ({
      w: `${2 * j}.weight`,
      b: `${2 * j}.bias`,
      a: j < n - 1 && !this.leaky ? `${2 * j + 1}.weight` : null,
      last: j === n - 1,
    }));
  }

  initParams(rng: Rng, dtype: DType): Params {
    const { kernel, dim } = this.config;
    const kshape = new Array<number>(dim).fill(kernel);
    const params: Params = {};
    const n = this.names.length;
    for (let j = 0; j < n; j++) {
      const cin = this.sizes[j]!;
      const cout = this.sizes[j + 1]!;
      const w = zeros([cout, cin, ...kshape], dtype);
      const b = zeros([cout], dtype);
      if (!(this.config.zeroLast && j === n - 1)) {
        const bound = 1 / Math.sqrt(cin * kshape.reduce((p, k) => p * k, 1));
        for (let i = 0; i < w.size; i++) w.data[i] = (2 * rng.uniform() - 1) * bound;
        for (let i = 0; i < b.size; i++) b.data[i] = (2 * rng.uniform() - 1) * bound;
      }
      const nm = this.names[j]!;
      params[nm.w] = w;
      params[nm.b] = b;
      if (nm.a) params[nm.a] = full([1], 0.25, dtype);
    }
    return params;
  }

  /** The parameters in the layout of the fused coupling op (engine/fused/coupling.ts). */
  couplingNet(params: Params): CouplingNet {
    if (this.leaky || !this.finalTanh)
      throw new RangeError("couplingNet: the fused coupling op runs PReLU nets that end in tanh");
    const weights: Tensor[] = [];
    const biases: Tensor[] = [];
    const alphas: Tensor[] = [];
    for (const nm of this.names) {
      weights.push(params[nm.w]!);
      biases.push(params[nm.b]!);
      if (nm.a) alphas.push(params[nm.a]!);
    }
    return { weights, biases, alphas };
  }

  /** x: [B, C_in, ...L] → [B, C_out, ...L]. */
  apply(params: Params, x: Tensor): Tensor {
    let h = x;
    for (const nm of this.names) {
      h = periodicConv(h, params[nm.w]!, params[nm.b]!);
      if (!nm.last) h = nm.a ? prelu(h, params[nm.a]!) : leakyRelu(h, LEAKY_RELU_SLOPE);
      else if (this.finalTanh) h = tanh(h);
    }
    return h;
  }
}
