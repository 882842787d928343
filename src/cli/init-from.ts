/**
 * `train --init-from RUN`: a new run whose flow starts from another run's weights instead of
 * its seed's initialisation (transfer learning: a flow trained at one coupling or lattice size
 * starts the training at another, as in the β and volume transfers of arXiv 2003.06413 and
 * 2101.08176). The flows must have the same tensors (names and shapes); the theory, the lattice
 * size (for convolutional flows, whose weights do not depend on it), the dtype and every
 * training setting may differ. The cnf flow's kernel w [orbits, F, T] does depend on the
 * lattice: a cnf run moves to a lattice of the same dimension, at least as large on every axis,
 * by embedding that kernel (src/flows/cnf-kernel-transfer.ts, as in arXiv 2207.00283); its
 * other tensors must match as above. Adam starts afresh. The source is recorded in the new
 * run's init_from.json, beside its config.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Params, Tensor } from "../engine/index.js";
import { cnfTransferProblem, embedCnfKernel } from "../flows/cnf-kernel-transfer.js";
import { writeFileAtomic } from "../io/files.js";
import { buildModel, configShapeOf, type RunConfig } from "../model/index.js";
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
 * initialised parameters: same names and shapes) and cast to its dtype. `config` is the new
 * run's: a cnf source moves to its cnf lattice by embedding its kernels (cnfLatticeMove).
 */
export function loadInitialWeights(fromDir: string, like: Params, config: RunConfig): InitialWeights {
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
  const move = cnfLatticeMove(fromDir, source, config);
  const out: Params = {};
  for (const [k, p] of Object.entries(like)) {
    let t = params[k]!;
    if (move && isCnfKernel(k) && t.shape.slice(1).join(",") === p.shape.slice(1).join(",")) {
      const [, F, T] = t.shape as [number, number, number];
      t = new Tensor(embedCnfKernel(t.data, F, T, move.from, move.to), [p.shape[0]!, F, T]);
    }
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

/** The cnf kernel's name: `w` of the flow's one layer (`0.w`). */
const isCnfKernel = (name: string) => name === "w" || name.endsWith(".w");

/**
 * The lattices a cnf source's kernels move between, or null if either flow is not cnf or the
 * lattices agree. Throws a UsageError if the kernels cannot move (smaller lattice, other dimension).
 */
function cnfLatticeMove(
  fromDir: string,
  source: RunConfig,
  config: RunConfig,
): { from: number[]; to: number[] } | null {
  if (source.flow.kind !== "cnf" || config.flow.kind !== "cnf") return null;
  const from = configShapeOf(source.theory);
  const to = configShapeOf(config.theory);
  if (from.join(",") === to.join(",")) return null;
  const problem = cnfTransferProblem(from, to);
  if (problem !== null) {
    const hypercubic = from.every((L) => L === from[0]);
    throw new UsageError(
      `--init-from ${fromDir}: its cnf kernel cannot move from lattice [${from}] to this run's [${to}] (${problem}); a cnf flow moves to a lattice of the same dimension at least as large on every axis: ${hypercubic ? `use --dim ${from.length} --L ${from[0]} or larger` : `use a lattice at least [${from}] on every axis, not square`}, or drop --init-from`,
    );
  }
  return { from, to };
}

/** Record the source of a run's initial weights in `dir`/init_from.json. */
export function writeInitFrom(dir: string, fromDir: string, step: number): void {
  writeFileAtomic(
    join(dir, INIT_FROM_FILE),
    `${JSON.stringify({ run: fromDir, checkpoint_step: step }, null, 2)}\n`,
  );
}
