/** Entry of a worker_threads worker of the multi-threaded trainer (src/parallel/shard.ts). */
import { parentPort } from "node:worker_threads";
import { createWorkerHandler } from "../parallel/shard.js";

const handle = createWorkerHandler();
parentPort!.on("message", handle);
