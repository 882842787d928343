/** A module Web Worker that runs parallelWorkload (Atomics.wait is not allowed on a page). */
import * as lf from "/dist/src/index.js";
import { parallelWorkload } from "/test/browser/workload.js";

let body;
try {
  body = {
    ok: true,
    isolated: self.crossOriginIsolated,
    result: await parallelWorkload(lf, lf.webWorkerSpawn()),
  };
} catch (e) {
  body = { ok: false, error: String(e?.stack ?? e) };
}
postMessage(body);
