/**
 * One reverse-KL training step and the state it advances. A step whose loss or gradient is
 * not finite, or whose update would make a weight non-finite, is rejected: parameters and
 * optimiser state stay as they were, and it is counted.
 */

import { essFromLogWeights } from "../analysis/reweighting.js";
import { type DType, type Params, valueAndGradWithAux } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import type { Rng } from "../rng/philox.js";
import type { Theory } from "../theories/theory.js";
import { type AdamState, applyUpdates, type Optimizer } from "./adam.js";
import { reverseKl } from "./reverse-kl.js";

export interface TrainState {
  step: number;
  params: Params;
  opt: AdamState;
  rng: Rng;
  rejected: number;
}

export interface StepMetrics {
  step: number;
  loss: number;
  logp: number;
  logq: number;
  ess: number;
  /** False when the step was rejected for a non-finite loss, gradient or updated weight. */
  accepted: boolean;
  /** Per-sample log p̃ = −S and log q of the step's batch (for S_eff-vs-S pictures). */
  batchLogp: Float64Array;
  batchLogq: Float64Array;
}

export interface TrainerConfig {
  flow: Flow;
  theory: Theory;
  optimizer: Optimizer;
  batch: number;
  dtype: DType;
}

function meanOf(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}

function allFinite(grads: Params): boolean {
  for (const g of Object.values(grads)) for (const v of g.data) if (!Number.isFinite(v)) return false;
  return true;
}

/**
 * The common end of a training step, given the loss, its gradient and the batch's per-sample
 * log p̃ and log q: apply the optimiser, or reject a step that is not finite (loss, gradient
 * or updated weights), advance `state` in place, and report the metrics. (Also used by the multi-threaded trainer, src/parallel.)
 */
export function finishStep(
  optimizer: Optimizer,
  state: TrainState,
  value: number,
  grads: Params,
  logp: ArrayLike<number>,
  logq: ArrayLike<number>,
): StepMetrics {
  const batch = logp.length;
  const batchLogp = Float64Array.from(logp);
  const batchLogq = Float64Array.from(logq);
  const logw = new Float64Array(batch);
  for (let i = 0; i < batch; i++) logw[i] = batchLogp[i]! - batchLogq[i]!;
  let accepted = Number.isFinite(value) && allFinite(grads);
  if (accepted) {
    const { updates, state: opt } = optimizer.update(grads, state.opt);
    const params = applyUpdates(state.params, updates);
    // A finite gradient can still overflow the weights (a huge --lr, float32): reject that too,
    // so that a checkpoint never holds non-finite weights.
    accepted = allFinite(params);
    if (accepted) {
      state.params = params;
      state.opt = opt;
    }
  }
  if (!accepted) state.rejected++;
  state.step++;
  return {
    step: state.step,
    loss: value,
    logp: meanOf(batchLogp),
    logq: meanOf(batchLogq),
    ess: accepted ? essFromLogWeights(logw) : Number.NaN,
    accepted,
    batchLogp,
    batchLogq,
  };
}

export function createTrainer(cfg: TrainerConfig) {
  const lossAndGrad = valueAndGradWithAux(reverseKl(cfg.flow, cfg.theory));
  return {
    init(rng: Rng, params?: Params): TrainState {
      const p = params ?? cfg.flow.initParams(rng, cfg.dtype);
      return { step: 0, params: p, opt: cfg.optimizer.init(p), rng, rejected: 0 };
    },
    /** Advance `state` by one step (in place) and return the step's metrics. */
    step(state: TrainState): StepMetrics {
      const z = cfg.flow.prior.sample(state.rng, cfg.batch, cfg.dtype);
      const { value, aux, grads } = lossAndGrad(state.params, z);
      return finishStep(cfg.optimizer, state, value, grads, aux.logp.data, aux.logq.data);
    },
  };
}
