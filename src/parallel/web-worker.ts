/**
 * Entry of a Web Worker of the multi-threaded trainer (src/parallel/shard.ts) in browsers;
 * `webWorkerSpawn` starts it. The browser counterpart of src/cli/thread-worker.ts.
 */
import { createWorkerHandler } from "./shard.js";

const handler = createWorkerHandler();
self.onmessage = (e: MessageEvent) => handler.onMessage(e.data);
// An error outside a job: mark this worker dead so the blocked caller fails instead of waiting.
self.addEventListener("error", () => handler.exiting());
