/**
 * A run directory (docs/architecture.md):
 *   config.json             the RunConfig
 *   metrics.jsonl           one JSON object per step: {step, loss, logp, logq, ess, accepted, seconds}
 *   checkpoint.safetensors  flow weights, PyTorch state_dict names (loads into the notebook's model)
 *   train_state.safetensors Adam moments `mu.<name>`, `nu.<name>`; metadata: step, count, rng, rejected
 * Every file is written atomically; the two checkpoint files carry the step and must agree.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Params, Tensor } from "../engine/index.js";
import { readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from "../io/files.js";
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
} as const;

export interface SavedTraining {
  step: number;
  params: Params;
  opt: AdamState;
  rng: RngState;
  rejected: number;
}

export function isNonEmptyDir(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
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

export function saveTraining(dir: string, s: SavedTraining, config: RunConfig): void {
  const state: Record<string, SafetensorsTensor> = {};
  for (const [k, p] of Object.entries(s.params)) {
    state[`mu.${k}`] = toSafetensors(new Tensor(s.opt.mu[k]!, p.shape));
    state[`nu.${k}`] = toSafetensors(new Tensor(s.opt.nu[k]!, p.shape));
  }
  const step = String(s.step);
  writeSafetensorsFile(join(dir, RUN_FILES.trainState), state, {
    step,
    count: String(s.opt.count),
    rng: JSON.stringify(s.rng),
    rejected: String(s.rejected),
  });
  const weights: Record<string, SafetensorsTensor> = {};
  for (const [k, p] of Object.entries(s.params)) weights[k] = toSafetensors(p);
  writeSafetensorsFile(join(dir, RUN_FILES.checkpoint), weights, {
    format: "latticeflow",
    step,
    config: JSON.stringify(config),
  });
}

/** Load weights, checking names, shapes and dtype against freshly initialised `like`. */
export function loadWeights(dir: string, like: Params): { params: Params; step: number } {
  const path = join(dir, RUN_FILES.checkpoint);
  if (!existsSync(path)) {
    throw new UsageError(
      `no checkpoint in ${dir} (${RUN_FILES.checkpoint} missing); train first or pass the right --run`,
    );
  }
  const file = readSafetensorsFile(path);
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

export function loadTraining(dir: string, like: Params): SavedTraining {
  const { params, step } = loadWeights(dir, like);
  const path = join(dir, RUN_FILES.trainState);
  if (!existsSync(path)) throw new UsageError(`cannot resume: ${path} is missing`);
  const file = readSafetensorsFile(path);
  const m = file.metadata;
  if (Number(m.step) !== step) {
    throw new FormatError(
      `${dir}: checkpoint is from step ${step} but train_state from step ${m.step} (interrupted save?); delete both to restart`,
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
  return { step, params, opt: { count: Number(m.count), mu, nu }, rng, rejected: Number(m.rejected ?? 0) };
}

/** One line of metrics.jsonl: a step's scalar metrics and the seconds since the start of the invocation. */
export type MetricRecord = Omit<StepMetrics, "batchLogp" | "batchLogq"> & { seconds: number };

export function readMetrics(dir: string): MetricRecord[] {
  const path = join(dir, RUN_FILES.metrics);
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
  const out: MetricRecord[] = [];
  for (const l of lines) {
    try {
      out.push(JSON.parse(l) as MetricRecord);
    } catch {
      // A torn last line from a crash: stop there; the checkpoint decides where training resumes.
      break;
    }
  }
  return out;
}

/** Keep only the metrics up to `step` (after a resume from an earlier checkpoint). */
export function truncateMetrics(dir: string, step: number): void {
  const kept = readMetrics(dir).filter((r) => r.step <= step);
  writeFileAtomic(join(dir, RUN_FILES.metrics), kept.map((r) => `${JSON.stringify(r)}\n`).join(""));
}
