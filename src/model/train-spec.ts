/** The training half of a run's description: optimiser, batch, schedule, seed, precision, threads. */
import { z } from "zod";

export const TrainSpecSchema = z
  .object({
    batch: z.number().int().positive(),
    steps: z.number().int().nonnegative(),
    lr: z.number().finite().positive(),
    /** How lr changes over the run: constant (absent), or cosine decay to 0 at `steps`. */
    lrSchedule: z.enum(["constant", "cosine"]).optional(),
    beta1: z.number().min(0).lt(1),
    beta2: z.number().min(0).lt(1),
    clipNorm: z.number().finite().positive().nullable(),
    seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    dtype: z.enum(["float64", "float32"]),
    checkpointEvery: z.number().int().positive(),
    /** Threads of the training step (results are a function of it); runs without it used 1. */
    threads: z.number().int().positive().default(1),
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
