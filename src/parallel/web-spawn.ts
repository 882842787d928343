/**
 * The browser backend of the multi-threaded trainer (src/parallel/shard.ts): module Web
 * Workers running web-worker.js. Two browser rules apply: SharedArrayBuffer needs a
 * cross-origin isolated page (served with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`), and the caller blocks in Atomics.wait, which
 * browsers allow in workers only, so the trainer itself runs in a worker, not on the page.
 */
import type { Spawn, WorkerPort } from "./shard.js";

/** A Spawn starting `new Worker(url, {type: "module"})`; url defaults to the compiled web-worker.js. */
export function webWorkerSpawn(url: string | URL = new URL("./web-worker.js", import.meta.url)): Spawn {
  if (typeof SharedArrayBuffer === "undefined")
    throw new Error(
      "webWorkerSpawn: SharedArrayBuffer is unavailable; serve the page cross-origin isolated (COOP same-origin, COEP require-corp) or use threads: 1",
    );
  return (): WorkerPort => new Worker(url, { type: "module" });
}
