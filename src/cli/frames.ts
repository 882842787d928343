/**
 * The evolution film of a run: `train` appends the flow's samples from one fixed z to
 * frames.jsonl every era; `plot` turns the records into plots/evolution.gif (gifenc).
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Params } from "../engine/index.js";
import { writeFileAtomic } from "../io/files.js";
import { buildModel, configShapeOf, type RunConfig, type TheorySpec } from "../model/index.js";
import { type ConfigurationRecord, configurationGif, type GifEncoderFactory } from "../plots/gif.js";
import { Rng } from "../rng/philox.js";
import { U1Theory } from "../theories/u1.js";

export const FRAMES_FILE = "frames.jsonl";
export const EVOLUTION_GIF = "evolution.gif";
/** Configurations per frame (4×4). */
export const FRAME_CONFIGS = 16;
/** Runs whose lattice has more sites, or whose drawn plane is larger than 32×32, record no frames. */
export const FRAME_MAX_SITES = 1024;
export const FRAME_MAX_SIDE = 32;
/** Sub-stream of the run seed that draws the frames' fixed z (not the training stream). */
const FRAMES_STREAM = 0x6672616d;

/** One line of frames.jsonl: the flow's FRAME_CONFIGS configurations at `step` from the run's fixed z. */
export interface FrameLine {
  step: number;
  /** The lattice extent along dimension 0. */
  L: number;
  /** The plane drawn of each configuration, rows × cols. */
  shape: [number, number];
  /** FRAME_CONFIGS planes, row-major, rounded to 3 decimals. */
  values: number[];
}

/**
 * The plane drawn of each configuration (flat indices into it), as samples.ts draws them: the
 * plane through dimensions 0 and 1 at the origin (a 1-d lattice: one row); for U(1) in 2-d the
 * plaquette angles P₀₁(x) (gauge invariant, unlike the links), else the link angles θ₀ of
 * direction 0. Null if the run is too large to film.
 */
export function framePlane(theory: TheorySpec): { rows: number; cols: number; index: Int32Array } | null {
  const lat = theory.latticeShape;
  const sites = lat.reduce((a, b) => a * b, 1);
  const rows = lat.length === 1 ? 1 : lat[0]!;
  const cols = lat.length === 1 ? lat[0]! : lat[1]!;
  if (sites > FRAME_MAX_SITES || rows > FRAME_MAX_SIDE || cols > FRAME_MAX_SIDE) return null;
  const inner = lat.slice(2).reduce((a, b) => a * b, 1);
  const index = new Int32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) index[i * cols + j] = (i * cols + j) * inner;
  return { rows, cols, index };
}

/** How a frame's values are drawn on [−1, 1]: tanh φ (φ⁴, relaxed Ising: ⟨s⟩), U(1): θ/π wrapped. */
function frameColourValue(theory: TheorySpec): (v: number) => number {
  if (theory.kind === "u1") return (v) => Math.atan2(Math.sin(v), Math.cos(v)) / Math.PI;
  return Math.tanh;
}

export function readFrames(dir: string): FrameLine[] {
  const path = join(dir, FRAMES_FILE);
  if (!existsSync(path)) return [];
  const out: FrameLine[] = [];
  for (const l of readFileSync(path, "utf8").split("\n")) {
    if (l.trim() === "") continue;
    try {
      const f = JSON.parse(l) as FrameLine;
      if (Number.isFinite(f.step) && Array.isArray(f.values) && Array.isArray(f.shape)) out.push(f);
    } catch {
      break; // a torn last line from a crash
    }
  }
  return out;
}

/** Keep the frame records up to `step` (on resume from an earlier checkpoint), as truncateEras. */
export function truncateFrames(dir: string, step: number): void {
  if (!existsSync(join(dir, FRAMES_FILE))) return;
  const kept = readFrames(dir).filter((f) => f.step <= step);
  writeFileAtomic(join(dir, FRAMES_FILE), kept.map((f) => `${JSON.stringify(f)}\n`).join(""));
}

/**
 * For `train`: a function that appends the flow's configurations from the run's fixed z (FRAME_CONFIGS
 * prior samples drawn once from a sub-stream of the run seed) to frames.jsonl at every step that
 * is a multiple of `eraSteps` (step 0 included) and, with `final`, at the last step; never twice
 * for a step, nor for a step at or below the last one recorded. A no-op when `eraSteps` is 0 or
 * the lattice is too large (framePlane). A failure warns once and stops the recording: a
 * picture must never stop a training run.
 */
export function frameRecorder(
  dir: string,
  config: RunConfig,
  eraSteps: number,
): (step: number, params: Params, final?: boolean) => void {
  const plane = framePlane(config.theory);
  if (!(eraSteps > 0) || plane === null) return () => {};
  const { flow } = buildModel(config);
  const z = flow.prior.sample(
    new Rng(config.train.seed).split(FRAMES_STREAM),
    FRAME_CONFIGS,
    config.train.dtype,
  );
  const V = configShapeOf(config.theory).reduce((a, b) => a * b, 1);
  const t = config.theory;
  // U(1) in 2-d: film P₀₁(x), plaquette k = site x (plaquette-major, one plane).
  const u1 = t.kind === "u1" && t.latticeShape.length === 2 ? new U1Theory(t) : null;
  let last = readFrames(dir).at(-1)?.step ?? -1;
  let failed = false;
  return (step, params, final = false) => {
    if (failed || step <= last || !(final || step % eraSteps === 0)) return;
    try {
      const { x } = flow.forwardWithLogProb(params, z);
      const values: number[] = [];
      for (let n = 0; n < FRAME_CONFIGS; n++) {
        const src = u1 ? u1.plaquettes(x.data, n) : x.data.subarray(n * V, (n + 1) * V);
        for (const p of plane.index) values.push(Math.round(src[p]! * 1000) / 1000);
      }
      const line: FrameLine = {
        step,
        L: config.theory.latticeShape[0]!,
        shape: [plane.rows, plane.cols],
        values,
      };
      appendFileSync(join(dir, FRAMES_FILE), `${JSON.stringify(line)}\n`);
      last = step;
    } catch (e) {
      failed = true;
      process.stderr.write(`latticeflow: warning: cannot record ${FRAMES_FILE}: ${(e as Error).message}\n`);
    }
  };
}

const require = createRequire(import.meta.url);

/** The evolution film of a run's frames.jsonl as GIF bytes (gifenc), or null without records. */
export function evolutionGif(dir: string, theory: TheorySpec): Uint8Array | null {
  const lines = readFrames(dir);
  if (lines.length === 0) return null;
  const [rows, cols] = lines[0]!.shape;
  const colour = frameColourValue(theory);
  const records: ConfigurationRecord[] = lines
    .filter((l) => l.shape[0] === rows && l.shape[1] === cols)
    .map((l) => ({ step: l.step, rows, cols, values: l.values.map(colour) }));
  const { GIFEncoder } = require("gifenc") as { GIFEncoder: GifEncoderFactory };
  return configurationGif(records, GIFEncoder, { side: 4 });
}
