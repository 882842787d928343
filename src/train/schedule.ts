/**
 * Learning-rate schedules as plain functions of the step (optax style): lr(t) for the t-th
 * update, t = 0, 1, … A number is the constant schedule.
 *   cosine (Loshchilov & Hutter, arXiv 1608.03983, without restarts):
 *     lr(t) = lr_end + ½(lr₀ − lr_end)(1 + cos(π·min(t, T)/T)),
 * which anneals the step size so the last updates average out the gradient noise of small
 * batches instead of bouncing at the constant rate's noise floor.
 *   step decay (the staircase schedule of flow training since arXiv 1904.12072; optax's
 *   exponential_decay with staircase=True):
 *     lr(t) = lr₀·γ^⌊t/n⌋, 0 < γ < 1,
 * the same annealing in plateaus: the rate drops by γ once every n updates.
 *   linear warm-up (Goyal et al., arXiv 1706.02677), on top of any of them:
 *     lr_w(t) = min(1, (t+1)/n)·lr(t),
 * so that a fresh Adam, whose first updates move every weight by ≈ lr whatever its gradient,
 * does not throw a flow it starts from (--init-from) away from its minimum.
 */
import * as math from "../math/index.js";

export type LearningRate = number | ((step: number) => number);

export function cosineDecay(lr0: number, steps: number, lrEnd = 0): (step: number) => number {
  if (!(steps >= 1)) throw new RangeError(`cosineDecay: steps must be ≥ 1, got ${steps}`);
  return (t) => lrEnd + 0.5 * (lr0 - lrEnd) * (1 + math.cos((Math.PI * Math.min(t, steps)) / steps));
}

/** γ of the step decay when a run's spec gives none: the rate halves at every drop. */
export const STEP_DECAY_FACTOR = 0.5;

/** lr(t) = lr₀·γ^⌊t/every⌋: the rate times `factor` once every `every` updates. */
export function stepDecay(lr0: number, every: number, factor = STEP_DECAY_FACTOR): (step: number) => number {
  if (!(Number.isInteger(every) && every >= 1))
    throw new RangeError(`stepDecay: every must be an integer ≥ 1, got ${every}`);
  if (!(factor > 0 && factor < 1)) throw new RangeError(`stepDecay: factor must be in (0, 1), got ${factor}`);
  return (t) => lr0 * math.pow(factor, Math.floor(t / every));
}

/** lr(t) scaled by min(1, (t+1)/steps): a linear ramp over the first `steps` updates. */
export function linearWarmup(lr: LearningRate, steps: number): (step: number) => number {
  if (!(Number.isInteger(steps) && steps >= 1))
    throw new RangeError(`linearWarmup: steps must be an integer ≥ 1, got ${steps}`);
  return (t) => Math.min(1, (t + 1) / steps) * learningRateAt(lr, t);
}

/** The learning rate at update t (0-based). */
export function learningRateAt(lr: LearningRate, t: number): number {
  return typeof lr === "number" ? lr : lr(t);
}

/** The fields of a run's training spec that choose its learning rate (structural: train/ knows no spec). */
export interface LearningRateSpec {
  lr: number;
  lrSchedule?: "constant" | "cosine" | "step" | undefined;
  steps: number;
  /** Step decay: updates between two drops (required with lrSchedule step). */
  lrDecayEvery?: number | undefined;
  /** Step decay: γ of each drop; absent: STEP_DECAY_FACTOR. */
  lrDecayFactor?: number | undefined;
  /** Updates of the linear warm-up (absent: none). */
  lrWarmup?: number | undefined;
}

/**
 * A run's schedule from its training spec: constant `lr`, cosine from `lr` to 0 over `steps`,
 * or step decay of `lr` by `lrDecayFactor` every `lrDecayEvery` updates; with `lrWarmup`, ramped
 * up linearly over that many first updates.
 */
export function learningRateOf(t: LearningRateSpec): LearningRate {
  const base = scheduleOf(t);
  return t.lrWarmup === undefined ? base : linearWarmup(base, t.lrWarmup);
}

function scheduleOf(t: LearningRateSpec): LearningRate {
  switch (t.lrSchedule) {
    case "cosine":
      return cosineDecay(t.lr, Math.max(1, t.steps));
    case "step":
      if (t.lrDecayEvery === undefined)
        throw new RangeError("learningRateOf: lrSchedule step needs lrDecayEvery, the updates between drops");
      return stepDecay(t.lr, t.lrDecayEvery, t.lrDecayFactor ?? STEP_DECAY_FACTOR);
    default:
      return t.lr;
  }
}
