/**
 * A run directory (docs/architecture.md):
 *   config.json             the RunConfig
 *   metrics.jsonl           one JSON object per step: {step, loss, logp, logq, ess, accepted, seconds}
 *                           (+ solverError at the steps an ODE flow's solver is checked)
 *   checkpoint.safetensors  flow weights, PyTorch state_dict names (loads into the notebook's model);
 *                           metadata: step, config
 *   train_state.safetensors Adam moments `mu.<name>`, `nu.<name>`; metadata: step, count, rng,
 *                           rejected, metrics (the checkpoint's step's line of metrics.jsonl)
 *
 * What a SIGKILL at any moment leaves is resumable (test/cli-kill.test.ts):
 * - Every file is written atomically (temp file, fsync, rename). Temp files of a killed
 *   process are removed by the next `train` in the directory ({@link recoverRunDir}).
 * - A new run writes config.json, then a checkpoint of step 0. A directory with config.json
 *   but no checkpoint (killed between the two) resumes from the start.
 * - The two checkpoint files must agree on the step, so they are written as a pair: the new
 *   train_state goes to train_state.pending.safetensors (complete, fsynced), then the
 *   checkpoint is replaced, then the pending file is renamed over train_state. After a kill
 *   between the last two renames the checkpoint and the pending file agree and the pending
 *   file is moved into place; a pending file that the checkpoint does not match (killed
 *   before the checkpoint's rename) is removed, leaving the old pair.
 * - A metrics line is written (and, before each checkpoint, fsynced) before the checkpoint
 *   that covers it; a resume cuts metrics.jsonl back to the checkpoint's step, and restores
 *   the checkpoint's own step from train_state if a crash cut that line.
 * - config.json and the checkpoint (whose metadata holds the config it was trained with) must
 *   agree on the theory, flow, dtype, seed and batch, or the run is refused with one line.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Params, Tensor } from "../engine/index.js";
import { readSafetensorsFile, syncDirectory, writeFileAtomic, writeSafetensorsFile } from "../io/files.js";
import { FormatError, type SafetensorsTensor } from "../io/safetensors.js";
import { parseRunConfig, type RunConfig } from "../model/index.js";
import type { RngState } from "../rng/philox.js";
import type { AdamState } from "../train/adam.js";
import type { StepMetrics } from "../train/trainer.js";
import { UsageError } from "./errors.js";

export const RUN_FILES = {
  config: "config.json",
  metrics: "metrics.jsonl",
  checkpoint: "checkpoint.safetensors",
  trainState: "train_state.safetensors",
  /** The train_state of a save under way (see the file comment); gone once the save completes. */
  trainStatePending: "train_state.pending.safetensors",
} as const;

/** A step's scalar metrics: a line of metrics.jsonl without its `seconds`. */
export type StepRecord = Omit<StepMetrics, "batchLogp" | "batchLogq"> & {
  /**
   * ODE flows, at the steps `train` checks: max |log q_N − log q_2N| over a few draws, N the RK4
   * steps (src/cli/solver-check.ts); null if not finite. Absent at other steps and for other flows.
   */
  solverError?: number | null;
};

/** One line of metrics.jsonl: a step's scalar metrics and the seconds since the start of the invocation. */
export type MetricRecord = StepRecord & {
  /** Null for a line restored from train_state after a crash cut it (the time was not kept). */
  seconds: number | null;
};

export interface SavedTraining {
  step: number;
  params: Params;
  opt: AdamState;
  rng: RngState;
  rejected: number;
  /** The metrics of step `step` (none for step 0 and for runs written before v0.2). */
  metrics?: StepRecord;
}

/** The temp files of an atomic write (src/io/files.ts) and its directory probe: `.<name>.tmp-<pid>-<random>`. */
const TEMP_FILE = /^\..*\.tmp-(\d+)-[0-9a-z]*$|^\.latticeflow-probe-(\d+)-[0-9a-z]*$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The temp files in `dir` left by processes that no longer run (a kill in mid-write). */
function staleTempFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => {
    const m = TEMP_FILE.exec(f);
    return m !== null && !processAlive(Number(m[1] ?? m[2]));
  });
}

/** Is `dir` a non-empty directory? Temp files of a killed writer do not count (they are removed). */
export function isNonEmptyDir(dir: string): boolean {
  if (!existsSync(dir)) return false;
  for (const f of staleTempFiles(dir)) rmSync(join(dir, f), { force: true });
  return readdirSync(dir).length > 0;
}

export function writeConfig(dir: string, c: RunConfig): void {
  writeFileAtomic(join(dir, RUN_FILES.config), `${JSON.stringify(c, null, 2)}\n`);
}

export function readConfig(dir: string): RunConfig {
  const path = join(dir, RUN_FILES.config);
  if (!existsSync(path)) {
    throw new UsageError(
      `${dir} is not a run directory (no ${RUN_FILES.config}); train one with 'latticeflow train --out ${dir}'`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON (${(e as Error).message}); fix or delete it`);
  }
  return parseRunConfig(raw, path);
}

function toSafetensors(t: Tensor): SafetensorsTensor {
  return t.data instanceof Float32Array
    ? { dtype: "F32", shape: [...t.shape], data: t.data }
    : { dtype: "F64", shape: [...t.shape], data: t.data };
}

/**
 * Write the checkpoint and train_state of `s` as a pair (see the file comment for the order).
 * Both files are a function of the training state and `config` only (no times), so a resumed
 * run writes the same bytes as an uninterrupted one.
 */
export function saveTraining(dir: string, s: SavedTraining, config: RunConfig): void {
  const state: Record<string, SafetensorsTensor> = {};
  for (const [k, p] of Object.entries(s.params)) {
    state[`mu.${k}`] = toSafetensors(new Tensor(s.opt.mu[k]!, p.shape));
    state[`nu.${k}`] = toSafetensors(new Tensor(s.opt.nu[k]!, p.shape));
  }
  const step = String(s.step);
  const meta: Record<string, string> = {
    step,
    count: String(s.opt.count),
    rng: JSON.stringify({ seed: s.rng.seed, counter: s.rng.counter }),
    rejected: String(s.rejected),
  };
  if (s.metrics !== undefined) meta.metrics = JSON.stringify(s.metrics);
  const pending = join(dir, RUN_FILES.trainStatePending);
  writeSafetensorsFile(pending, state, meta);
  const weights: Record<string, SafetensorsTensor> = {};
  for (const [k, p] of Object.entries(s.params)) weights[k] = toSafetensors(p);
  writeSafetensorsFile(join(dir, RUN_FILES.checkpoint), weights, {
    format: "latticeflow",
    step,
    config: JSON.stringify(config),
  });
  renameSync(pending, join(dir, RUN_FILES.trainState));
  syncDirectory(dir);
}

/** The step a checkpoint file's metadata records, or null if the file is unreadable. */
function stepOf(path: string): string | null {
  try {
    return readSafetensorsFile(path).metadata.step ?? null;
  } catch {
    return null;
  }
}

/**
 * Finish or undo what a killed `train` left half-done in `dir`: remove the temp files of dead
 * processes, and move a pending train_state into place if the checkpoint beside it is of the
 * same step (the save was complete but for the last rename), else remove it.
 */
export function recoverRunDir(dir: string): void {
  for (const f of staleTempFiles(dir)) rmSync(join(dir, f), { force: true });
  const pending = join(dir, RUN_FILES.trainStatePending);
  if (!existsSync(pending)) return;
  const checkpoint = join(dir, RUN_FILES.checkpoint);
  const step = stepOf(pending);
  if (step !== null && existsSync(checkpoint) && stepOf(checkpoint) === step) {
    renameSync(pending, join(dir, RUN_FILES.trainState));
    syncDirectory(dir);
  } else {
    rmSync(pending, { force: true });
  }
}

/** Does `dir` hold a checkpoint or a train_state (else a resume starts from step 0)? */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.checkpoint)) || existsSync(join(dir, RUN_FILES.trainState));
}

/** The parts of a run that the weights and the random stream depend on: they never change. */
function fixedPart(c: RunConfig): Record<string, unknown> {
  return {
    theory: c.theory,
    flow: c.flow,
    dtype: c.train.dtype,
    seed: c.train.seed,
    batch: c.train.batch,
  };
}

const show = (v: unknown) => (v === undefined ? "nothing" : JSON.stringify(v));

/** `a` against `b`: e.g. `theory.latticeShape [16,16] (checkpoint: [8,8])`. */
function differences(a: Record<string, unknown>, b: Record<string, unknown>, prefix = ""): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[k];
    const y = b[k];
    const name =
      prefix === "" && (k === "dtype" || k === "seed" || k === "batch") ? `train.${k}` : `${prefix}${k}`;
    if (isRecord(x) && isRecord(y)) out.push(...differences(x, y, `${name}.`));
    else if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${name} ${show(x)} (checkpoint: ${show(y)})`);
  }
  return out;
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * config.json against the config a checkpoint was written with (its metadata): the theory,
 * flow, dtype, seed and batch must agree. A checkpoint without one (not written by
 * latticeflow) is not checked.
 */
function checkAgreement(dir: string, path: string, metadata: Record<string, string>): void {
  if (metadata.config === undefined) return;
  let raw: unknown;
  try {
    raw = JSON.parse(metadata.config);
  } catch {
    throw new FormatError(`${path}: metadata 'config' is not valid JSON; the checkpoint is damaged`);
  }
  const trained = parseRunConfig(raw, `${path} (metadata 'config')`);
  const config = readConfig(dir);
  const diff = differences(fixedPart(config), fixedPart(trained));
  if (diff.length > 0) {
    throw new FormatError(
      `${join(dir, RUN_FILES.config)} does not match the checkpoint ${path} (step ${metadata.step ?? "?"}): ` +
        `${diff.join("; ")}; put the checkpoint's values back in config.json, or train a new run with another --out`,
    );
  }
}

/**
 * Load weights, checking config.json against the checkpoint's own config, and names, shapes
 * and dtype against freshly initialised `like`.
 */
export function loadWeights(dir: string, like: Params): { params: Params; step: number } {
  const path = join(dir, RUN_FILES.checkpoint);
  if (!existsSync(path)) {
    throw new UsageError(
      `no checkpoint in ${dir} (${RUN_FILES.checkpoint} missing): train it first with 'latticeflow train --resume --out ${dir}', or pass another --run`,
    );
  }
  const file = readSafetensorsFile(path);
  checkAgreement(dir, path, file.metadata);
  const params: Params = {};
  for (const [k, p] of Object.entries(like)) {
    const t = file.tensors[k];
    if (!t)
      throw new FormatError(`${path}: tensor '${k}' is missing; the checkpoint does not match config.json`);
    if (t.shape.join(",") !== p.shape.join(",")) {
      throw new FormatError(
        `${path}: tensor '${k}' has shape [${t.shape}], config.json implies [${p.shape}]`,
      );
    }
    if (t.dtype !== (p.dtype === "float32" ? "F32" : "F64")) {
      throw new FormatError(`${path}: tensor '${k}' is ${t.dtype}, config.json says ${p.dtype}`);
    }
    const data = t.data as Float64Array | Float32Array;
    for (const v of data) {
      if (!Number.isFinite(v)) throw new FormatError(`${path}: tensor '${k}' holds non-finite values`);
    }
    params[k] = new Tensor(data, p.shape);
  }
  return { params, step: Number(file.metadata.step ?? 0) };
}

function parseStepRecord(text: string | undefined, step: number): StepRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as StepRecord;
    return r.step === step ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The checkpoint and train_state of `dir` (call {@link recoverRunDir} first). */
export function loadTraining(dir: string, like: Params): SavedTraining {
  const restart = `delete ${dir} and train it again, or train a new run with another --out`;
  const path = join(dir, RUN_FILES.trainState);
  if (!existsSync(join(dir, RUN_FILES.checkpoint))) {
    throw new FormatError(
      `cannot resume ${dir}: ${RUN_FILES.checkpoint} is missing beside ${path}; ${restart}`,
    );
  }
  const { params, step } = loadWeights(dir, like);
  if (!existsSync(path)) {
    throw new FormatError(
      `cannot resume ${dir}: ${path} (the optimiser state of the checkpoint of step ${step}) is missing; ${restart}`,
    );
  }
  const file = readSafetensorsFile(path);
  const m = file.metadata;
  if (Number(m.step) !== step) {
    throw new FormatError(
      `${dir}: checkpoint is from step ${step} but train_state from step ${m.step}; ${restart}`,
    );
  }
  const mu: AdamState["mu"] = {};
  const nu: AdamState["nu"] = {};
  for (const [k, p] of Object.entries(like)) {
    const a = file.tensors[`mu.${k}`];
    const b = file.tensors[`nu.${k}`];
    if (!a || !b || a.shape.join(",") !== p.shape.join(",")) {
      throw new FormatError(`${path}: optimiser moments for '${k}' are missing or mis-shaped`);
    }
    mu[k] = a.data as Float64Array | Float32Array;
    nu[k] = b.data as Float64Array | Float32Array;
  }
  let rng: RngState;
  try {
    rng = JSON.parse(m.rng ?? "");
  } catch {
    throw new FormatError(`${path}: metadata 'rng' is not valid JSON`);
  }
  return {
    step,
    params,
    opt: { count: Number(m.count), mu, nu },
    rng: { seed: rng.seed, counter: rng.counter },
    rejected: Number(m.rejected ?? 0),
    metrics: parseStepRecord(m.metrics, step),
  };
}

/**
 * The lines of metrics.jsonl that parse, by step (a later line of the same step wins). A line
 * cut by a crash is skipped.
 */
export function readMetrics(dir: string): MetricRecord[] {
  const path = join(dir, RUN_FILES.metrics);
  if (!existsSync(path)) return [];
  const byStep = new Map<number, MetricRecord>();
  for (const l of readFileSync(path, "utf8").split("\n")) {
    if (l.trim() === "") continue;
    try {
      const r = JSON.parse(l) as MetricRecord;
      if (Number.isInteger(r?.step) && r.step > 0) byStep.set(r.step, r);
    } catch {
      // A line cut by a crash.
    }
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/**
 * The training time of a run's kept steps over all its invocations: `seconds` counts from each
 * invocation's start, so each stretch where it keeps rising adds its last value. Steps a crash
 * or an interrupt made the resume recompute are not counted twice (their lines were dropped).
 */
export function trainingSeconds(records: readonly MetricRecord[]): number {
  let total = 0;
  let prev = 0;
  for (const r of records) {
    if (r.seconds === null) continue;
    if (r.seconds < prev) total += prev;
    prev = r.seconds;
  }
  return total + prev;
}

/**
 * Repair metrics.jsonl for a resume from the checkpoint of `step`: keep the whole lines of steps
 * 1..step (dropping later steps, which the resume recomputes, and lines cut by a crash), and
 * if the line of `step` itself was cut, restore it from the checkpoint (`saved`). Returns the
 * records kept and the steps still missing (lost before a checkpoint that does not cover them:
 * only a crash of the machine, not of the process, can do that).
 */
export function repairMetrics(
  dir: string,
  step: number,
  saved?: StepRecord,
): { records: MetricRecord[]; missing: number[] } {
  const records = readMetrics(dir).filter((r) => r.step <= step);
  if (saved !== undefined && saved.step === step && step > 0 && records.at(-1)?.step !== step) {
    records.push({ ...saved, seconds: null });
  }
  writeFileAtomic(join(dir, RUN_FILES.metrics), records.map((r) => `${JSON.stringify(r)}\n`).join(""));
  const have = new Set(records.map((r) => r.step));
  const missing: number[] = [];
  for (let s = 1; s <= step; s++) if (!have.has(s)) missing.push(s);
  return { records, missing };
}

/** Keep only the metrics up to `step` (after a resume from an earlier checkpoint). */
export function truncateMetrics(dir: string, step: number): void {
  repairMetrics(dir, step);
}
