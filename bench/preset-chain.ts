/**
 * Training a preset from a bench script as the chain of presets it ends (src/model/presets.ts:
 * `presetChain`), each stage `train --preset STAGE --init-from <the stage before>`, one run
 * directory per stage. A stage directory that already holds a run is resumed with its own
 * settings (`train --resume`; a finished run returns at once), so a study given again goes on
 * where it was cut off. Used by seed-spread.ts and scaling.ts.
 */
import { existsSync } from "node:fs";
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
  /** The failed train process and its stage, or null when every stage trained. */
  failure: { stage: string; child: Child } | { stage: string; stopped: string } | null;
}

export async function trainPresetChain(o: ChainOptions): Promise<ChainResult> {
  const stages: Stage[] = [];
  let previous: string | null = null;
  for (const stage of o.chain) {
    const stopped = o.stop();
    if (stopped !== null) return { stages, failure: { stage, stopped } };
    const out = o.dirOf(stage);
    const resumed = existsSync(join(out, "config.json"));
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
