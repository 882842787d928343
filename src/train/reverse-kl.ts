/**
 * Reverse Kullback–Leibler loss (arXiv 1904.12072, eq. 11; the notebook's kl_divergence):
 *   L = (1/B) Σ_b [log q(x_b) − log p̃(x_b)],  x_b = f(z_b), z_b ~ r,  log p̃ = −S.
 * L ≥ −log Z with equality iff q = p; it needs no samples of p.
 */
import { mean, neg, type Params, scale, sub, sum, type Tensor } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import type { Theory } from "../theories/theory.js";
import { actionOp } from "./action-op.js";

export interface KlAux {
  logp: Tensor;
  logq: Tensor;
}

/** The batch's x = f(z), log q, log p̃ and the reverse-KL loss (for objectives that use x too). */
export function reverseKlTerms(
  flow: Flow,
  theory: Theory,
  params: Params,
  z: Tensor,
): { loss: Tensor; x: Tensor; logp: Tensor; logq: Tensor } {
  const { x, logq } = flow.forwardWithLogProb(params, z);
  const logp = neg(actionOp(theory, x));
  return { loss: mean(sub(logq, logp)), x, logp, logq };
}

export function reverseKl(flow: Flow, theory: Theory) {
  return (params: Params, z: Tensor): { loss: Tensor; aux: KlAux } => {
    const { loss, logp, logq } = reverseKlTerms(flow, theory, params, z);
    return { loss, aux: { logp, logq } };
  };
}

/**
 * A shard's share of the batch-mean loss, Σ_shard (log q − log p̃) / B, for data-parallel
 * training (src/parallel): the shards' values and gradients add up to the batch's.
 */
export function reverseKlShare(flow: Flow, theory: Theory) {
  return (params: Params, z: Tensor, batch: number): { loss: Tensor; aux: KlAux } => {
    const { x, logq } = flow.forwardWithLogProb(params, z);
    const logp = neg(actionOp(theory, x));
    return { loss: scale(sum(sub(logq, logp)), 1 / batch), aux: { logp, logq } };
  };
}
