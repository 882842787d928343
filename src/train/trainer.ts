/**
 * One reverse-KL training step and the state it advances. A step whose loss or gradient is
 * not finite, or whose update would make a weight non-finite, is rejected: parameters and
 * optimiser state stay as they were, and it is counted. With `objective` the step optimises
 * NeuralRG's mixed objective δ·NLL + ω·KL instead (src/train/mixed-objective.ts).
 */

import { essFromLogWeights } from "../analysis/reweighting.js";
import { type DType, mean, type Params, sub, valueAndGradWithAux } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import type { Rng } from "../rng/philox.js";
import type { Theory } from "../theories/theory.js";
import { type AdamState, applyUpdates, type Optimizer } from "./adam.js";
import type { GradientEstimator } from "./gradient-estimator.js";
import { createMixedObjective, type MixedObjective, type MixedObjectiveConfig } from "./mixed-objective.js";
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
  /** Mixed objective: its NLL term, mean −log q of the buffer draws (absent otherwise). */
  nll?: number;
  /** Mixed objective: the fraction of the MH chains that moved this step (absent at their first step). */
  mhAcceptance?: number;
  /** Mixed objective with chain HMC: the mean acceptance probability of the chains' trajectories. */
  hmcAcceptance?: number;
}

/** What a step reports beside the objective's value (the mixed objective's terms). */
export interface StepExtras {
  /** The loss to report when it is not the value optimised (the mixed objective's KL term). */
  loss?: number;
  nll?: number;
  mhAcceptance?: number;
  hmcAcceptance?: number;
}

export interface TrainerConfig {
  flow: Flow;
  theory: Theory;
  optimizer: Optimizer;
  batch: number;
  dtype: DType;
  /**
   * NeuralRG's mixed objective (δ·NLL on flow-MH samples + ω·KL); absent: the plain reverse
   * KL, today's numbers bit for bit. Its chains and buffer belong to the TrainState they
   * advanced and are not checkpointed: a state restored from a checkpoint starts them empty.
   */
  objective?: MixedObjectiveConfig;
  /**
   * The reverse KL's gradient estimator (src/train/gradient-estimator.ts: the path gradient or
   * REINFORCE); absent: the reparameterisation gradient, today's numbers bit for bit. The
   * reported loss is the reverse KL either way. Not with `objective`.
   */
  gradientEstimator?: GradientEstimator;
  /**
   * The batch of each step from the steps taken before it, `state.step` (batch growth,
   * src/train/batch-schedule.ts): a function of the step alone, so a resumed run draws what an
   * uninterrupted one does. Absent: `batch` at every step. Not with `objective`, whose chains
   * and replay buffer are sized by `batch`.
   */
  batchAt?: (step: number) => number;
}

/**
 * The sub-stream (Rng.split id, plus the step it starts at) of the mixed objective's MH and
 * buffer draws: the prior draws stay those of the plain trainer with the same seed.
 */
const MIXED_STREAM = 0x4d4300000000;

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
 * or updated weights), advance `state` in place, and report the metrics. `value` is the value
 * optimised (its finiteness decides); it is reported as the loss unless `extra.loss` is given.
 * (Also used by the multi-threaded trainer, src/parallel.)
 */
export function finishStep(
  optimizer: Optimizer,
  state: TrainState,
  value: number,
  grads: Params,
  logp: ArrayLike<number>,
  logq: ArrayLike<number>,
  extra?: StepExtras,
): StepMetrics {
  const batch = logp.length;
  const batchLogp = Float64Array.from(logp);
  const batchLogq = Float64Array.from(logq);
  const logw = new Float64Array(batch);
  for (let i = 0; i < batch; i++) logw[i] = batchLogp[i]! - batchLogq[i]!;
  let accepted = Number.isFinite(value) && allFinite(grads);
  if (accepted) {
    const { updates, state: opt } = optimizer.update(grads, state.opt, state.params);
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
  const m: StepMetrics = {
    step: state.step,
    loss: extra?.loss ?? value,
    logp: meanOf(batchLogp),
    logq: meanOf(batchLogq),
    ess: accepted ? essFromLogWeights(logw) : Number.NaN,
    accepted,
    batchLogp,
    batchLogq,
  };
  if (extra?.nll !== undefined) m.nll = extra.nll;
  if (extra?.mhAcceptance !== undefined) m.mhAcceptance = extra.mhAcceptance;
  if (extra?.hmcAcceptance !== undefined) m.hmcAcceptance = extra.hmcAcceptance;
  return m;
}

/**
 * The batch of the step taken after `step` steps: `batchAt`'s, checked to be a positive
 * integer, or the constant `batch`. (Also used by the multi-threaded trainer, src/parallel.)
 */
export function stepBatch(batch: number, batchAt?: (step: number) => number): (step: number) => number {
  if (batchAt === undefined) return () => batch;
  return (step) => {
    const b = batchAt(step);
    if (!(Number.isInteger(b) && b >= 1))
      throw new RangeError(`trainer: batchAt(${step}) must be a positive integer, got ${b}`);
    return b;
  };
}

export function createTrainer(cfg: TrainerConfig) {
  const lossAndGrad = valueAndGradWithAux(reverseKl(cfg.flow, cfg.theory));
  const objective = cfg.objective;
  if (objective !== undefined && cfg.gradientEstimator !== undefined)
    throw new RangeError(
      "trainer: a gradient estimator applies to the plain reverse KL, not the mixed objective",
    );
  const surrogate =
    cfg.gradientEstimator === undefined
      ? null
      : valueAndGradWithAux(cfg.gradientEstimator(cfg.flow, cfg.theory));
  if (objective !== undefined && cfg.batchAt !== undefined)
    throw new RangeError(
      "trainer: batch growth needs the plain reverse KL: the mixed objective's chains and buffer are sized by the batch",
    );
  const batchOf = stepBatch(cfg.batch, cfg.batchAt);
  /** Each state's chains and buffer (kept beside it, not in it: checkpoints do not hold them). */
  const mixed = new WeakMap<TrainState, MixedObjective>();
  const mixedOf = (state: TrainState, o: MixedObjectiveConfig): MixedObjective => {
    let m = mixed.get(state);
    if (m === undefined) {
      const rng = state.rng.split(MIXED_STREAM + state.step);
      m = createMixedObjective(cfg.flow, cfg.theory, o, cfg.batch, rng);
      mixed.set(state, m);
    }
    return m;
  };
  return {
    init(rng: Rng, params?: Params): TrainState {
      const p = params ?? cfg.flow.initParams(rng, cfg.dtype);
      return { step: 0, params: p, opt: cfg.optimizer.init(p), rng, rejected: 0 };
    },
    /** Advance `state` by one step (in place) and return the step's metrics. */
    step(state: TrainState): StepMetrics {
      const batch = batchOf(state.step);
      const z = cfg.flow.prior.sample(state.rng, batch, cfg.dtype);
      if (objective !== undefined) {
        const r = mixedOf(state, objective).step(state.params, z);
        const extra: StepExtras = { loss: r.kl };
        if (r.nll !== undefined) extra.nll = r.nll;
        if (r.mhAcceptance !== undefined) extra.mhAcceptance = r.mhAcceptance;
        if (r.hmcAcceptance !== undefined) extra.hmcAcceptance = r.hmcAcceptance;
        return finishStep(cfg.optimizer, state, r.value, r.grads, r.logp, r.logq, extra);
      }
      if (surrogate !== null) {
        const { value, aux, grads } = surrogate(state.params, z, batch);
        // The loss as the plain and the multi-threaded trainers compute it.
        const kl = mean(sub(aux.logq, aux.logp)).item();
        return finishStep(cfg.optimizer, state, value, grads, aux.logp.data, aux.logq.data, { loss: kl });
      }
      const { value, aux, grads } = lossAndGrad(state.params, z);
      return finishStep(cfg.optimizer, state, value, grads, aux.logp.data, aux.logq.data);
    },
  };
}
