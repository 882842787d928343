/**
 * The path gradient of the reverse KL (Vaitl, Nicoli, Nakajima, Kessel, arXiv 2207.08219; the
 * "sticking the landing" estimator of Roeder et al., arXiv 1703.09194). With x = f_θ(z), z ~ r,
 *
 *   ∇_θ KL = E_z[ d/dθ (log q_θ(f_θ(z)) − log p̃(f_θ(z))) ] − E_z[ ∂_θ log q_θ(x) |_{x = f_θ(z)} ],
 *
 * the second term (the score) having expectation 0. The first is the reparameterisation
 * gradient (src/train/reverse-kl.ts); dropping the score leaves E_z[∇_x(log q_θ − log p̃)·∂_θ f],
 * which vanishes sample by sample when q = p: lower variance near convergence, for one more
 * pass (log q_θ(x) at the fixed x by the inverse, with its backward): about twice the work.
 * The Z₂-symmetrised density qualifies: its score is even in x, so its mean under q is that
 * under q_sym, 0.
 */
import { neg, type Params, scale, shift, stopGradient, sub, sum, type Tensor } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import type { Theory } from "../theories/theory.js";
import { actionOp } from "./action-op.js";
import type { KlSurrogate } from "./gradient-estimator.js";

export function pathGradient(flow: Flow, theory: Theory): KlSurrogate {
  return (params: Params, z: Tensor, batch: number) => {
    const { x, logq } = flow.forwardWithLogProb(params, z);
    const logp = neg(actionOp(theory, x));
    const share = scale(sum(sub(logq, logp)), 1 / batch);
    // log q_θ at the sampled x held fixed: its θ-gradient is the score.
    const score = scale(sum(flow.logProb(params, stopGradient(x))), 1 / batch);
    // Value: the KL share (up to rounding); gradient: reparameterisation less the score.
    return { loss: shift(sub(share, score), score.item()), aux: { logp, logq } };
  };
}
