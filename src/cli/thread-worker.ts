/** Entry of a worker_threads worker of the multi-threaded trainer (src/parallel/shard.ts). */
import { parentPort } from "node:worker_threads";
import { createWorkerHandler } from "../parallel/shard.js";

const handler = createWorkerHandler();
parentPort!.on("message", handler.onMessage);
// 'exit' also fires after an uncaught error; the handler wakes the blocked caller.
process.on("exit", handler.exiting);
