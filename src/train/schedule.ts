/**
 * Learning-rate schedules as plain functions of the step (optax style): lr(t) for the t-th
 * update, t = 0, 1, … A number is the constant schedule.
 *   cosine (Loshchilov & Hutter, arXiv 1608.03983, without restarts):
 *     lr(t) = lr_end + ½(lr₀ − lr_end)(1 + cos(π·min(t, T)/T)),
 * which anneals the step size so the last updates average out the gradient noise of small
 * batches instead of bouncing at the constant rate's noise floor.
 */
import * as math from "../math/index.js";

export type LearningRate = number | ((step: number) => number);

export function cosineDecay(lr0: number, steps: number, lrEnd = 0): (step: number) => number {
  if (!(steps >= 1)) throw new RangeError(`cosineDecay: steps must be ≥ 1, got ${steps}`);
  return (t) => lrEnd + 0.5 * (lr0 - lrEnd) * (1 + math.cos((Math.PI * Math.min(t, steps)) / steps));
}

/** The learning rate at update t (0-based). */
export function learningRateAt(lr: LearningRate, t: number): number {
  return typeof lr === "number" ? lr : lr(t);
}

/** A run's schedule from its training spec: constant `lr`, or cosine from `lr` to 0 over `steps`. */
export function learningRateOf(t: {
  lr: number;
  lrSchedule?: "constant" | "cosine" | undefined;
  steps: number;
}): LearningRate {
  return t.lrSchedule === "cosine" ? cosineDecay(t.lr, Math.max(1, t.steps)) : t.lr;
}
