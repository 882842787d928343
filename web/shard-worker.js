/** A thread of the parallel trainer (the browser twin of src/parallel/web-worker.ts). */
import { createWorkerHandler } from "latticeflow";

const handler = createWorkerHandler();
self.onmessage = (e) => handler.onMessage(e.data);
// An error outside a job: mark this thread dead so the blocked trainer fails instead of waiting.
self.addEventListener("error", () => handler.exiting());
