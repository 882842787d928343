/**
 * The Z₂-symmetrised density of a flow (NeuralRG's `Symmetrized`, arXiv 1802.02840; for φ⁴,
 * arXiv 2007.07115): for a target with S(−x) = S(x),
 *
 *   q_sym(x) = ½ [q(x) + q(−x)],   log q_sym(x) = log q(x) + log ½(1 + e^{log q(−x) − log q(x)}),
 *
 * symmetric by construction, so a flow that learnt one of two wells still covers both. Drawing
 * from q_sym is drawing x ~ q and flipping its sign with probability ½ (`sample`). For training,
 * E_{q_sym}[log q_sym + S] = E_q[log q_sym + S] because the integrand is even: the reverse-KL loss
 * needs x = f(z) and log q(−x) by the inverse pass (`forwardWithLogProb`), about twice the work.
 */
import { add, exp, log, maximum, neg, type Params, shift, sub, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { Flow } from "./flow.js";

/** log ½(e^a + e^b), elementwise, without overflow. */
function logMeanExp2(a: Tensor, b: Tensor): Tensor {
  const m = maximum(a, b);
  return shift(add(m, log(add(exp(sub(a, m)), exp(sub(b, m))))), -Math.LN2);
}

export class Z2SymmetrisedFlow extends Flow {
  constructor(readonly base: Flow) {
    super(base.prior, base.layers);
  }

  /** x = f(z) (unflipped) and log q_sym(x). */
  override forwardWithLogProb(params: Params, z: Tensor): { x: Tensor; logq: Tensor } {
    const { x, logq } = this.base.forwardWithLogProb(params, z);
    return { x, logq: logMeanExp2(logq, this.base.logProb(params, neg(x))) };
  }

  /** n draws of q_sym: flow samples with random signs, and their log q_sym. */
  override sample(params: Params, rng: Rng, n: number, dtype: Parameters<Flow["sample"]>[3] = "float64") {
    const { x, logq } = this.forwardWithLogProb(params, this.prior.sample(rng, n, dtype));
    const v = x.size / n;
    const flipped = x.data.slice();
    for (let b = 0; b < n; b++)
      if (rng.uniform() < 0.5) for (let i = b * v; i < (b + 1) * v; i++) flipped[i] = -flipped[i]!;
    return { x: new Tensor(flipped, x.shape), logq };
  }

  override logProb(params: Params, x: Tensor): Tensor {
    return logMeanExp2(this.base.logProb(params, x), this.base.logProb(params, neg(x)));
  }
}
