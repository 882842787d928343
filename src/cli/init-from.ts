/**
 * `train --init-from RUN`: a new run whose flow starts from another run's weights instead of
 * its seed's initialisation (transfer learning: a flow trained at one coupling or lattice size
 * starts the training at another, as in the β and volume transfers of arXiv 2003.06413 and
 * 2101.08176). The flows must have the same tensors (names and shapes); the theory, the lattice
 * size (for convolutional flows, whose weights do not depend on it), the dtype and every
 * training setting may differ. Adam starts afresh. The source is recorded in the new run's
 * init_from.json, beside its config.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Params, Tensor } from "../engine/index.js";
import { writeFileAtomic } from "../io/files.js";
import { buildModel } from "../model/index.js";
import { Rng } from "../rng/philox.js";
import { UsageError } from "./errors.js";
import { loadWeights, RUN_FILES, readConfig } from "./run-dir.js";

/** Where a run recorded the run it started from. */
export const INIT_FROM_FILE = "init_from.json";

export interface InitialWeights {
  params: Params;
  /** The source run's checkpoint step. */
  step: number;
}

/**
 * The weights of the run in `fromDir` (its last checkpoint: written atomically, so a run still
 * training may be read), checked against `like` (the new run's freshly
 * initialised parameters: same names and shapes) and cast to its dtype.
 */
export function loadInitialWeights(fromDir: string, like: Params): InitialWeights {
  if (!existsSync(join(fromDir, RUN_FILES.config))) {
    throw new UsageError(
      `--init-from ${fromDir} is not a run directory (no config.json): give the directory of a trained run`,
    );
  }
  const source = readConfig(fromDir);
  const own = buildModel(source).flow.initParams(new Rng(source.train.seed), source.train.dtype);
  const { params, step } = loadWeights(fromDir, own);
  const fix =
    "--init-from needs a run of the same flow (kind, layers, widths, kernel); train one, or drop --init-from";
  const mine = Object.keys(like);
  const theirs = Object.keys(params);
  const missing = mine.filter((k) => !(k in params));
  if (missing.length > 0 || theirs.length !== mine.length) {
    throw new UsageError(
      `--init-from ${fromDir}: its flow has ${theirs.length} tensors, this run's ${mine.length}${missing.length > 0 ? ` (missing '${missing[0]}')` : ""}: ${fix}`,
    );
  }
  const out: Params = {};
  for (const [k, p] of Object.entries(like)) {
    const t = params[k]!;
    if (t.shape.join(",") !== p.shape.join(",")) {
      throw new UsageError(
        `--init-from ${fromDir}: its tensor '${k}' has shape [${t.shape}], this run's flow needs [${p.shape}]: ${fix}`,
      );
    }
    const data = p.dtype === "float32" ? Float32Array.from(t.data) : Float64Array.from(t.data);
    out[k] = new Tensor(data, p.shape);
  }
  return { params: out, step };
}

/** Record the source of a run's initial weights in `dir`/init_from.json. */
export function writeInitFrom(dir: string, fromDir: string, step: number): void {
  writeFileAtomic(
    join(dir, INIT_FROM_FILE),
    `${JSON.stringify({ run: fromDir, checkpoint_step: step }, null, 2)}\n`,
  );
}
