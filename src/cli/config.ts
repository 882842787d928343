/**
 * Run configuration: everything needed to rebuild the model and continue training.
 * Sources, later overriding earlier: preset → JSON config file → command-line flags.
 */
import { z } from "zod";
import { PHI4_PRESETS } from "../train/presets.js";
import { UsageError } from "./errors.js";

export const RunConfigSchema = z
  .object({
    theory: z.literal("phi4"),
    L: z.number().int().positive(),
    dim: z.number().int().min(1).max(4),
    m2: z.number().finite(),
    lam: z.number().finite().nonnegative(),
    layers: z.number().int().positive(),
    hidden: z.array(z.number().int().positive()),
    kernel: z.number().int().positive(),
    identityInit: z.boolean(),
    batch: z.number().int().positive(),
    steps: z.number().int().nonnegative(),
    lr: z.number().positive(),
    beta1: z.number().min(0).lt(1),
    beta2: z.number().min(0).lt(1),
    clipNorm: z.number().positive().nullable(),
    seed: z.number().int().nonnegative(),
    dtype: z.enum(["float64", "float32"]),
    checkpointEvery: z.number().int().positive(),
    /** Threads of the training step (results are a function of it); runs without it used 1. */
    threads: z.number().int().positive().default(1),
  })
  .strict();

export type RunConfig = z.infer<typeof RunConfigSchema>;

/** The notebook's two studies, with the CLI's own settings (seed, checkpoints, threads). */
export const PRESETS: Record<string, RunConfig> = Object.fromEntries(
  Object.entries(PHI4_PRESETS).map(([name, p]) => [
    name,
    { theory: "phi4", ...p, hidden: [...p.hidden], seed: 0, checkpointEvery: 500, threads: 1 },
  ]),
);

export function presetConfig(name: string): RunConfig {
  const p = PRESETS[name];
  if (!p) {
    throw new UsageError(`unknown preset '${name}': use one of ${Object.keys(PRESETS).join(", ")}`);
  }
  return { ...p, hidden: [...p.hidden] };
}

/** Validate a merged configuration; one line naming the first bad field on failure. */
export function validateConfig(raw: unknown, source: string): RunConfig {
  const r = RunConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === "unrecognized_keys") {
      throw new UsageError(
        `${source}: unknown setting ${issue.keys.map((k) => `'${k}'`).join(", ")}; known settings: ${Object.keys(RunConfigSchema.shape).join(", ")}`,
      );
    }
    const where = issue.path.length ? `'${issue.path.join(".")}'` : "the configuration";
    throw new UsageError(`${source}: ${where}: ${issue.message} (see latticeflow train --help)`);
  }
  const c = r.data;
  if (c.L % 2 !== 0) {
    throw new UsageError(
      `${source}: L = ${c.L} is odd; the checkerboard coupling layers need an even L (e.g. ${c.L + 1})`,
    );
  }
  if (c.threads > c.batch) {
    throw new UsageError(
      `${source}: threads = ${c.threads} exceeds batch = ${c.batch}: the extra threads would have no samples to work on; use at most ${c.batch} threads or a larger batch`,
    );
  }
  if (c.kernel % 2 !== 1) throw new UsageError(`${source}: kernel = ${c.kernel} must be odd (e.g. 3)`);
  if (c.lam === 0 && c.m2 <= 0) {
    throw new UsageError(`${source}: lam = 0 needs m2 > 0 (the free field is not normalisable otherwise)`);
  }
  return c;
}

export function latticeShapeOf(c: RunConfig): number[] {
  return new Array<number>(c.dim).fill(c.L);
}
