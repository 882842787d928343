/**
 * Node's backend of the multi-threaded trainer (src/parallel/shard.ts): worker_threads
 * running src/cli/thread-worker.ts. Workers are unref'd, so a process that forgets close()
 * still exits. Use with the compiled package (dist/), where thread-worker.js sits next to
 * this module.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Spawn, WorkerPort } from "../parallel/shard.js";

export const nodeSpawn: Spawn = (): WorkerPort => {
  const w = new Worker(new URL("./thread-worker.js", import.meta.url));
  w.unref();
  return w;
};

/** The number of cores Node reports (the default thread count of `--threads auto`). */
export function coreCount(): number {
  return availableParallelism();
}

/**
 * The thread count a `--threads` value asks for: "auto" is the number of cores, capped at
 * `cap` when given (training: the batch; threads beyond it would have no samples).
 */
export function resolveThreads(v: number | "auto", cap?: number): number {
  if (v !== "auto") return v;
  const n = coreCount();
  return cap === undefined ? n : Math.max(1, Math.min(n, cap));
}
