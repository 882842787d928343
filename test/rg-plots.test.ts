/**
 * NeuralRG's pictures of a MERA run: the renormalised-variables and latent-response figures
 * (built for a tiny MERA and rendered), the training figure's exact floor, the animated GIF of
 * configurations (its structure walked and its LZW frames decoded: omggif is not installed), and
 * the frame records train writes (one per era, none twice across a resume, cut back on resume).
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, describe, expect, it } from "vitest";
import { EVOLUTION_GIF, FRAME_CONFIGS, FRAMES_FILE, framePlane, readFrames } from "../src/cli/frames.js";
import { runPlot } from "../src/cli/plot-command.js";
import { jacobianColumns, latentSiteNearCentre, meraFigures } from "../src/cli/rg-figures.js";
import { runTraining } from "../src/cli/train-command.js";
import { type Params, Tensor } from "../src/engine/index.js";
import { meraFlow } from "../src/flows/mera.js";
import { applySettings, presetConfig, type RunConfig, type TheorySpec } from "../src/model/index.js";
import { exactReferences } from "../src/model/references.js";
import {
  type ConfigurationRecord,
  configurationFrames,
  configurationGif,
  configurationPalette,
  GIF_WHITE,
  type GifEncoderFactory,
  shadeIndex,
} from "../src/plots/gif.js";
import { renderFigure } from "../src/plots/render.js";
import type { Figure } from "../src/plots/specs/common.js";
import { trainingFigure } from "../src/plots/specs/training.js";
import { Rng } from "../src/rng/philox.js";

const require = createRequire(import.meta.url);
const { GIFEncoder } = require("gifenc") as { GIFEncoder: GifEncoderFactory };

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-rg-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ISING_TC = 2.269185314213022;
const ising = (L: number): TheorySpec => ({
  kind: "ising",
  latticeShape: [L, L],
  T: ISING_TC,
  boundary: "periodic",
});

/** Render: no warnings, an SVG, a PNG of twice its size with some colours in it. */
function checkFigure(fig: Figure): string {
  const warnings: string[] = [];
  const r = renderFigure(fig, { onWarning: (w) => warnings.push(w) });
  expect(warnings, fig.name).toEqual([]);
  expect(r.svg.startsWith("<svg"), fig.name).toBe(true);
  const png = PNG.sync.read(Buffer.from(r.png));
  expect(png.width, fig.name).toBeGreaterThan(200);
  const seen = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4)
    seen.add((png.data[i]! << 16) | (png.data[i + 1]! << 8) | png.data[i + 2]!);
  expect(seen.size, fig.name).toBeGreaterThan(20);
  return r.svg;
}

function randomise(p: Params, seed: number, amp = 0.4): Params {
  const rng = new Rng(seed);
  for (const t of Object.values(p))
    for (let i = 0; i < t.size; i++) t.data[i] = amp * (2 * rng.uniform() - 1);
  return p;
}

describe("rg and rg-scales for a tiny MERA", () => {
  const flow = meraFlow({ latticeShape: [4, 4], ndis: 1, nlayers: 2, hiddenS: 4, hiddenT: 4 });
  const params = flow.initParams(new Rng(1), "float64");

  it("build and render, one column per scale k = 0 … log₂L", () => {
    const figs = meraFigures(flow, params, ising(4), { seed: 0, label: "untrained" });
    expect(figs.map((f) => f.name)).toEqual(["rg", "rg-scales"]);
    expect(figs[0]!.notes).toEqual({ scales: 3, samples: 4 });
    const rg = checkFigure(figs[0]!);
    for (const t of ["k = 0: 4×4", "k = 1: 2×2", "k = 2: 1×1", "⟨s⟩ = tanh x", "sample 4"])
      expect(rg).toContain(t);
    expect(rg).toContain("spin expectation");
    const scales = checkFigure(figs[1]!);
    for (const t of ["k = 0: z at (1, 1)", "k = 1: z at (2, 2)", "k = 2: z at (0, 0)", "max |∂x/∂z|"])
      expect(scales).toContain(t);
    // φ⁴ on a MERA: no tanh.
    const phi = meraFigures(
      flow,
      params,
      { kind: "phi4", latticeShape: [4, 4], m2: -4, lam: 8 },
      { seed: 0 },
    );
    expect(checkFigure(phi[0]!)).not.toContain("tanh");
  });

  it("the latent site of each scale nearest the centre", () => {
    expect([0, 1, 2, 3].map((k) => latentSiteNearCentre(8, k))).toEqual([
      [3, 3],
      [2, 4],
      [4, 4],
      [0, 0],
    ]);
    expect(() => latentSiteNearCentre(8, 4)).toThrow(RangeError);
  });

  it("∂x/∂z: the unit column for an identity flow; a fine latent moves a patch, the top one everything", () => {
    const id = meraFlow({
      latticeShape: [4, 4],
      ndis: 1,
      nlayers: 1,
      hiddenS: 2,
      hiddenT: 2,
      identityInit: true,
    });
    const z = new Float64Array(16).map((_, i) => Math.sin(i));
    const [col] = jacobianColumns(id, id.initParams(new Rng(2), "float64"), z, [[1, 2]]);
    for (let p = 0; p < 16; p++) expect(col![p]).toBeCloseTo(p === 6 ? 1 : 0, 8);

    const f8 = meraFlow({ latticeShape: [8, 8], ndis: 1, nlayers: 2, hiddenS: 4, hiddenT: 4 });
    const p8 = randomise(f8.initParams(new Rng(3), "float64"), 4);
    const z8 = new Float64Array(64);
    new Rng(5).normal(z8);
    const sites = [0, 1, 2, 3].map((k) => latentSiteNearCentre(8, k));
    const cols = jacobianColumns(f8, p8, z8, sites);
    const reach = cols.map((c) => c.filter((v) => Math.abs(v) > 1e-9).length);
    // Scale 0 enters at the last level: its two layers of 2×2 blocks reach a 4×4 patch at most.
    expect(reach[0]).toBeGreaterThan(1);
    expect(reach[0]).toBeLessThanOrEqual(16);
    expect(reach[3]).toBeGreaterThan(32);
    expect(reach[0]!).toBeLessThan(reach[1]!);
    // Against a one-sided difference at a smaller step.
    const h = 1e-7;
    const zp = Float64Array.from(z8);
    zp[3 * 8 + 3]! += h;
    const x = (z: Float64Array) => f8.forwardWithLogProb(p8, new Tensor(z, [1, 8, 8])).x.data;
    const [xp, x0] = [x(zp), x(z8)];
    for (let p = 0; p < 64; p++) expect(cols[0]![p]).toBeCloseTo((xp[p]! - x0[p]!) / h, 5);
  });
});

describe("training figure with the exact floor", () => {
  const pts = Array.from({ length: 200 }, (_, i) => ({
    step: i + 1,
    loss: -140 + 30 * Math.exp(-i / 30) + 0.3 * Math.sin(i),
    ess: Math.min(1, i / 250),
  }));

  it("a dashed line at −ln Z_x, the axis named F_q; unchanged without a floor", () => {
    const floor = exactReferences(ising(8)).lossFloor!;
    expect(floor).toBeLessThan(-140);
    const svg = checkFigure(trainingFigure(pts, { lossFloor: floor }));
    // Z_x and F_q with real subscripts (render.ts subscriptSymbols).
    expect(svg).toContain(
      'exact −ln Z<tspan baseline-shift="sub" font-size="72%">x</tspan> (floor of F<tspan baseline-shift="sub" font-size="72%">q</tspan>)',
    );
    expect(svg).toContain("[ln q + S]");
    expect(svg).toContain("stroke-dasharray");
    const plain = checkFigure(trainingFigure(pts));
    expect(plain).toContain("loss  = ⟨log q + S⟩  (≥ −log Z)");
    expect(plain).not.toContain("floor");
    expect(checkFigure(trainingFigure(pts, { lossFloor: null }))).toBe(plain);
  });
});

/** The blocks of a GIF: its screen, global palette size, and frames (delay, size, LZW data). */
function parseGif(b: Uint8Array) {
  const text = (o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
  const u16 = (o: number) => b[o]! | (b[o + 1]! << 8);
  expect(text(0, 6)).toBe("GIF89a");
  const width = u16(6);
  const height = u16(8);
  const packed = b[10]!;
  expect(packed & 0x80).toBe(0x80); // a global colour table
  const paletteSize = 2 << (packed & 7);
  let o = 13 + 3 * paletteSize;
  const frames: { delay: number; w: number; h: number; minCode: number; data: Uint8Array }[] = [];
  let delay = 0;
  let loop = false;
  const subBlocks = () => {
    const parts: number[] = [];
    while (b[o] !== 0) {
      const n = b[o]!;
      parts.push(...b.subarray(o + 1, o + 1 + n));
      o += n + 1;
    }
    o++;
    return Uint8Array.from(parts);
  };
  for (;;) {
    const kind = b[o++];
    if (kind === 0x3b) break;
    if (kind === 0x21) {
      const label = b[o++];
      if (label === 0xf9) delay = u16(o + 2) * 10;
      const body = subBlocks();
      if (label === 0xff && String.fromCharCode(...body.subarray(0, 11)) === "NETSCAPE2.0") loop = true;
      continue;
    }
    expect(kind).toBe(0x2c);
    const w = u16(o + 4);
    const h = u16(o + 6);
    expect(b[o + 8]! & 0x80).toBe(0); // no local palette
    o += 9;
    const minCode = b[o++]!;
    frames.push({ delay, w, h, minCode, data: subBlocks() });
  }
  expect(o).toBe(b.length);
  return { width, height, paletteSize, frames, loop };
}

/** GIF's LZW: variable-width codes, least significant bit first. */
function lzwDecode(data: Uint8Array, minCode: number, n: number): Uint8Array {
  const clear = 1 << minCode;
  const end = clear + 1;
  const out = new Uint8Array(n);
  let pos = 0;
  let size = minCode + 1;
  let dict: number[][] = [];
  const reset = () => {
    dict = Array.from({ length: clear + 2 }, (_, i) => [i]);
    size = minCode + 1;
  };
  reset();
  let prev: number[] | null = null;
  let bit = 0;
  while (bit + size <= data.length * 8) {
    let code = 0;
    for (let i = 0; i < size; i++, bit++) code |= ((data[bit >> 3]! >> (bit & 7)) & 1) << i;
    if (code === clear) {
      reset();
      prev = null;
      continue;
    }
    if (code === end) break;
    let entry: number[];
    if (code < dict.length) entry = dict[code]!;
    else if (code === dict.length && prev !== null) entry = [...prev, prev[0]!];
    else throw new Error(`bad LZW code ${code}`);
    for (const v of entry) out[pos++] = v;
    if (prev !== null && dict.length < 4096) dict.push([...prev, entry[0]!]);
    if (dict.length === 1 << size && size < 12) size++;
    prev = entry;
  }
  expect(pos).toBe(n);
  return out;
}

describe("the GIF writer", () => {
  const records: ConfigurationRecord[] = [0, 100, 200, 250].map((step, r) => ({
    step,
    rows: 4,
    cols: 4,
    values: Array.from({ length: 16 * 16 }, (_, i) => Math.tanh(Math.sin(i * 0.37 + r))),
  }));

  it("writes a looping GIF89a, one frame per record, whose pixels decode to the frames drawn", () => {
    const bytes = configurationGif(records, GIFEncoder);
    const gif = parseGif(bytes);
    const frames = configurationFrames(records);
    expect(gif.loop).toBe(true);
    expect(gif.paletteSize).toBe(256);
    expect(gif.frames).toHaveLength(records.length);
    expect([gif.width, gif.height]).toEqual([frames[0]!.width, frames[0]!.height]);
    expect(gif.frames.map((f) => f.delay)).toEqual([400, 400, 400, 1500]);
    gif.frames.forEach((f, i) => {
      expect([f.w, f.h]).toEqual([gif.width, gif.height]);
      expect(lzwDecode(f.data, f.minCode, f.w * f.h)).toEqual(frames[i]!.index);
    });
    // The first configuration's first site, in the first frame, below the step label.
    const first = frames[0]!;
    expect(first.index[(6 + 16) * first.width + 6]).toBe(shadeIndex(records[0]!.values[0] as number));
    // Different steps print differently; the background is white.
    expect(frames[0]!.index.slice(0, 16 * first.width)).not.toEqual(
      frames[1]!.index.slice(0, 16 * first.width),
    );
    expect(first.index[0]).toBe(GIF_WHITE);
    expect(configurationPalette()).toHaveLength(256);
    expect([shadeIndex(-1), shadeIndex(1), shadeIndex(Number.NaN)]).toEqual([3, 255, 2]);
  });

  it("refuses what it cannot draw", () => {
    expect(() => configurationGif([], GIFEncoder)).toThrow(RangeError);
    expect(() => configurationFrames([records[0]!, { ...records[1]!, rows: 2, cols: 8 }])).toThrow(
      RangeError,
    );
  });
});

const framesOf = (dir: string) => readFrames(dir).map((f) => f.step);

describe("train records frames; plot films them", () => {
  const tiny = (steps: number): RunConfig =>
    applySettings(
      presetConfig("phi4-notebook"),
      { L: 4, layers: 2, hidden: [4], batch: 8, steps, checkpointEvery: 5 },
      "test",
    );

  it("one record per era, at step 0 and the last step; a resume drops records past its checkpoint", async () => {
    const a = join(tmp, "a");
    const b = join(tmp, "b");
    await runTraining({ out: a, config: tiny(16), resume: false, quiet: true, frameEvery: 4 });
    expect(framesOf(a)).toEqual([0, 4, 8, 12, 16]);
    const f0 = readFrames(a)[0]!;
    expect(f0.L).toBe(4);
    expect(f0.shape).toEqual([4, 4]);
    expect(f0.values).toHaveLength(FRAME_CONFIGS * 16);
    expect(f0.values.every((v) => Math.round(v * 1000) / 1000 === v)).toBe(true);

    await runTraining({ out: b, config: tiny(10), resume: false, quiet: true, frameEvery: 4 });
    expect(framesOf(b)).toEqual([0, 4, 8, 10]);
    // As if a crash had left records past the checkpoint (step 10), the last one torn.
    const extra = { ...readFrames(b)[3]!, step: 13 };
    appendFileSync(join(b, FRAMES_FILE), `${JSON.stringify(extra)}\n{"step": 14, "L": 4, "sha`);
    await runTraining({ out: b, resume: true, changes: { steps: 16 }, quiet: true, frameEvery: 4 });
    expect(framesOf(b)).toEqual([0, 4, 8, 10, 12, 16]);
    expect(readFileSync(join(b, FRAMES_FILE), "utf8").trimEnd().split("\n")).toHaveLength(6);
    // The same fixed z and an exactly resumed training: the same pictures as the uninterrupted run.
    const byStep = (d: string) => new Map(readFrames(d).map((f) => [f.step, f.values]));
    for (const s of [0, 4, 8, 12, 16]) expect(byStep(b).get(s), `step ${s}`).toEqual(byStep(a).get(s));
    // Off unless asked (the CLI asks with its --era-every).
    const c = join(tmp, "c");
    await runTraining({ out: c, config: tiny(2), resume: false, quiet: true });
    expect(readdirSync(c)).not.toContain(FRAMES_FILE);

    const s = runPlot({ run: b, n: 32, seed: 0, window: 15, ensembles: true });
    expect(s.files).toContain(join(s.dir, EVOLUTION_GIF));
    const gif = parseGif(readFileSync(join(s.dir, EVOLUTION_GIF)));
    expect(gif.frames).toHaveLength(6);
    expect(readdirSync(s.dir)).not.toContain("rg.svg"); // not a MERA
  }, 30_000);

  it("a MERA run gets rg, rg-scales and the film; a TEBD run neither rg figure", async () => {
    const mera: RunConfig = {
      theory: ising(4),
      flow: { kind: "mera", layers: 2, hidden: [4], ndis: 1, identityInit: false },
      train: { ...tiny(3).train, batch: 8, steps: 3, dtype: "float32" },
    };
    const m = join(tmp, "mera");
    await runTraining({ out: m, config: mera, resume: false, quiet: true, frameEvery: 2 });
    expect(framesOf(m)).toEqual([0, 2, 3]);
    const s = runPlot({ run: m, n: 16, seed: 0, window: 15, ensembles: true });
    const files = readdirSync(s.dir);
    for (const f of ["rg.svg", "rg.png", "rg-scales.svg", "rg-scales.png", "training.svg", EVOLUTION_GIF])
      expect(files).toContain(f);
    expect(readFileSync(join(s.dir, "training.svg"), "utf8")).toContain("(floor of F<tspan");
    expect(parseGif(readFileSync(join(s.dir, EVOLUTION_GIF))).frames).toHaveLength(3);

    const t = join(tmp, "tebd");
    await runTraining({
      out: t,
      config: { ...mera, flow: { kind: "tebd", layers: 2, hidden: [4], depth: 1, identityInit: false } },
      resume: false,
      quiet: true,
    });
    const st = runPlot({ run: t, n: 16, seed: 0, window: 15, ensembles: true });
    expect(readdirSync(st.dir).filter((f) => f.startsWith("rg"))).toEqual([]);
  }, 30_000);

  it("films only small lattices", () => {
    expect(framePlane(ising(32))).not.toBeNull();
    expect(framePlane(ising(64))).toBeNull();
    expect(framePlane({ kind: "phi4", latticeShape: [4, 4, 4], m2: -4, lam: 8 })?.index.length).toBe(16);
    expect(framePlane({ kind: "phi4", latticeShape: [2000], m2: -4, lam: 8 })).toBeNull();
  });
});
