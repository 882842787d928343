/**
 * The training half of a run's description: optimiser, batch, schedule, seed, precision,
 * threads, objective. Fields added after v0.1 are optional, absent meaning the old behaviour, so
 * that stored runs parse and train as before.
 */
import { z } from "zod";

const BETA_RANGE = "must be at least 0 and below 1 (a decay rate of Adam's running means; e.g. 0.9)";

export const TrainSpecSchema = z
  .object({
    batch: z.number().int().positive(),
    /**
     * Batch growth (arXiv 1711.00489, src/train/batch-schedule.ts): the batch doubles every this
     * many steps, min(batchMax, batch·2^⌊t/batchGrowthEvery⌋) at step t. With batchMax, or
     * neither (absent: a constant batch).
     */
    batchGrowthEvery: z.number().int().positive().optional(),
    /** Batch growth: the largest batch, ≥ batch. With batchGrowthEvery. */
    batchMax: z.number().int().positive().optional(),
    steps: z.number().int().nonnegative(),
    lr: z.number().finite().positive(),
    /**
     * How lr changes over the run (src/train/schedule.ts): constant (absent), cosine decay to 0
     * at `steps`, or step decay lr·γ^⌊t/lrDecayEvery⌋ (γ = lrDecayFactor).
     */
    lrSchedule: z.enum(["constant", "cosine", "step"]).optional(),
    /** Step decay: updates between two drops of the rate. Required with lrSchedule step, only with it. */
    lrDecayEvery: z.number().int().positive().optional(),
    /** Step decay: the factor γ of each drop, 0 < γ < 1. Absent: 0.5. Only with lrSchedule step. */
    lrDecayFactor: z
      .number()
      .gt(0, "must be between 0 and 1 (exclusive): the factor of each drop of the learning rate")
      .lt(1, "must be between 0 and 1 (exclusive): the factor of each drop of the learning rate")
      .optional(),
    /**
     * Linear warm-up: the rate is scaled by min(1, (t+1)/lrWarmup) at update t, on top of any
     * lrSchedule (arXiv 1706.02677). Absent: none.
     */
    lrWarmup: z.number().int().positive().optional(),
    /** Adam's decay rates of the running mean of the gradient and of its square, in [0, 1). */
    beta1: z.number().min(0, BETA_RANGE).lt(1, BETA_RANGE),
    beta2: z.number().min(0, BETA_RANGE).lt(1, BETA_RANGE),
    clipNorm: z.number().finite().positive().nullable(),
    seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    dtype: z.enum(["float64", "float32"]),
    checkpointEvery: z.number().int().positive(),
    /** Threads of the training step (results are a function of it); runs without it used 1. */
    threads: z.number().int().positive().default(1),
    /**
     * Adam's L2 weight decay, torch semantics (wd·θ added to the clipped gradient); NeuralRG
     * (arXiv 1802.02840) used 0.001. Absent: 0.
     */
    weightDecay: z.number().finite().min(0).optional(),
    /**
     * δ of NeuralRG's mixed objective δ·NLL + ω·KL (src/train/mixed-objective.ts): the weight of
     * the NLL of flow-MH samples drawn from a replay buffer. Absent: 0 (plain reverse KL).
     */
    nllWeight: z.number().finite().min(0).optional(),
    /** ω of the mixed objective: the weight of the reverse KL. Absent: 1. */
    klWeight: z.number().finite().min(0).optional(),
    /**
     * HMC trajectories of every MH chain of the mixed objective per step (local moves beside the
     * flow's proposals, arXiv 2105.12603): the chains then reach what the flow misses. Needs
     * nllWeight > 0. Absent: 0.
     */
    chainHmc: z.number().int().min(0).optional(),
    /**
     * The reverse KL's gradient estimator (src/train/gradient-estimator.ts): reparameterization
     * (absent), path (arXiv 2207.08219) or reinforce (arXiv 2308.13294).
     */
    gradientEstimator: z.enum(["reparameterization", "path", "reinforce"]).optional(),
  })
  .strict();

export type TrainSpec = z.infer<typeof TrainSpecSchema>;

export const TRAIN_DEFAULTS: TrainSpec = {
  batch: 64,
  steps: 2500,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  clipNorm: null,
  seed: 0,
  dtype: "float64",
  checkpointEvery: 500,
  threads: 1,
};
