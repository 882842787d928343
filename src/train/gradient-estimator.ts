/**
 * Gradient estimators of the reverse KL, E_q[log q − log p̃] (src/train/reverse-kl.ts). All have
 * the expectation ∇_θ KL and differ in variance and cost:
 *
 * - `reparameterization` (the default, src/train/reverse-kl.ts): ∇_θ of the loss through x = f_θ(z);
 * - `path` (src/train/path-gradient.ts, arXiv 2207.08219): the same less the score term, zero
 *   variance at q = p, about twice the work;
 * - `reinforce` (src/train/reinforce.ts, arXiv 2308.13294): the score-function estimator, no
 *   derivative of the action or of the forward map.
 *
 * Each is a surrogate of one shard of the batch: a function of the parameters whose gradient
 * is the shard's share of the estimate, and whose value is the shard's share of the loss,
 * Σ_shard (log q − log p̃) / B, so that the shards of src/parallel add up to the batch.
 */
import type { Params, Tensor } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import type { Theory } from "../theories/theory.js";
import { pathGradient } from "./path-gradient.js";
import { reinforce } from "./reinforce.js";
import { type KlAux, reverseKlShare } from "./reverse-kl.js";

/** One shard's surrogate: `batch` is the whole batch's size, z the shard's prior draws. */
export type KlSurrogate = (params: Params, z: Tensor, batch: number) => { loss: Tensor; aux: KlAux };

export type GradientEstimator = (flow: Flow, theory: Theory) => KlSurrogate;

export const GRADIENT_ESTIMATORS = {
  reparameterization: reverseKlShare,
  path: pathGradient,
  reinforce,
} as const satisfies Record<string, GradientEstimator>;

export type GradientEstimatorName = keyof typeof GRADIENT_ESTIMATORS;

/**
 * A run's estimator from its training spec (structural, like `objectiveOf`): undefined for the
 * reparameterisation gradient, so such runs take the plain trainer's path bit for bit.
 */
export function gradientEstimatorOf(t: {
  gradientEstimator?: GradientEstimatorName | undefined;
}): GradientEstimator | undefined {
  const name = t.gradientEstimator ?? "reparameterization";
  return name === "reparameterization" ? undefined : GRADIENT_ESTIMATORS[name];
}
