/**
 * Training a preset from a bench script as the chain of presets it ends (src/model/presets.ts:
 * `presetChain`), each stage `train --preset STAGE --init-from <the stage before>`, one run
 * directory per stage. A stage directory that already holds a run is resumed with its own
 * settings (`train --resume`; a finished run returns at once), so a study given again goes on
 * where it was cut off. Used by seed-spread.ts and scaling.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readMetrics, trainingSeconds } from "../src/cli/run-dir.js";
import { type Child, runChild } from "./child.js";

/** One `train` of a chain. */
export interface Stage {
  preset: string;
  /** The directory held a run, which was resumed rather than started. */
  resumed: boolean;
  /** Wall time of this train process (of the resume alone when resumed). */
  wall_s: number | null;
  /** The run's training time over all its invocations (metrics.jsonl: src/cli/run-dir.ts). */
  train_s: number | null;
  train: Record<string, unknown> | null;
  /** The command, as a user would type it. */
  command: string;
}

export interface ChainOptions {
  /** The built CLI's main.js. */
  cli: string;
  chain: readonly string[];
  seed: number;
  /** The run directory of each stage. */
  dirOf: (stage: string) => string;
  /** Flags for every new stage (after the script's own, so they win). */
  trainFlags: readonly string[];
  /** Flags a resume may take (e.g. `--threads 2`). */
  resumeFlags: readonly string[];
  /** Asked before each stage: a reason to stop (Ctrl-C), or null to go on. */
  stop: () => string | null;
}

export interface ChainResult {
  stages: Stage[];
  /**
   * The failed train process and its stage; or why the chain stopped before a stage: Ctrl-C
   * (`stopped`) or a usage problem (`refused`: a kept directory holding another seed's run); or
   * null when every stage trained.
   */
  failure:
    | { stage: string; child: Child }
    | { stage: string; stopped: string }
    | { stage: string; refused: string }
    | null;
}

export async function trainPresetChain(o: ChainOptions): Promise<ChainResult> {
  const stages: Stage[] = [];
  let previous: string | null = null;
  for (const stage of o.chain) {
    const stopped = o.stop();
    if (stopped !== null) return { stages, failure: { stage, stopped } };
    const out = o.dirOf(stage);
    const resumed = existsSync(join(out, "config.json"));
    const why = keptSeedProblem(out, o.seed);
    if (why !== null) return { stages, failure: { stage, refused: why } };
    const args = resumed
      ? ["train", "--resume", "--out", out, "--json", "--quiet", ...o.resumeFlags]
      : [
          ...["train", "--preset", stage, "--seed", String(o.seed), "--out", out, "--json", "--quiet"],
          ...(previous === null ? [] : ["--init-from", previous]),
          ...o.trainFlags,
        ];
    const t = await runChild(process.execPath, [o.cli, ...args]);
    const train_s = existsSync(out) ? trainingSeconds(readMetrics(out)) : null;
    stages.push({
      preset: stage,
      resumed,
      wall_s: t.seconds,
      train_s,
      train: t.json,
      command: ["latticeflow", ...args].join(" "),
    });
    if (t.code !== 0 || t.json === null) return { stages, failure: { stage, child: t } };
    previous = out;
  }
  return { stages, failure: null };
}

/**
 * Why the run kept in `dir` cannot be resumed as seed `seed`'s stage (it is another seed's), or
 * null (it is this seed's, or there is none).
 */
export function keptSeedProblem(dir: string, seed: number): string | null {
  if (!existsSync(join(dir, "config.json"))) return null;
  let kept: unknown = null;
  try {
    kept = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))?.train?.seed;
  } catch {
    // Unreadable: train --resume names the problem.
    return null;
  }
  return kept === seed
    ? null
    : `${dir} holds a run of seed ${kept}, not ${seed}: give --seed ${kept}, or another --keep directory`;
}
