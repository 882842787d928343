/**
 * Animated GIFs of configuration grids: one frame per record, each a side×side grid of 2-d
 * configurations drawn as samples.ts draws them (values v ∈ [−1, 1], normally tanh φ, in
 * viridis; row index downward), with the record's step printed above the grid in a 3×5 pixel
 * font. Frames are indexed bitmaps on one fixed palette (white, black, grey for non-finite
 * values, 253 viridis shades), so no colour quantisation is needed.
 *
 * The LZW encoding is gifenc's (pure JS, github.com/mattdesl/gifenc, pinned 1.0.3), passed in by
 * the caller as its `GIFEncoder` factory: this module stays browser-safe (no Node module, no
 * package import); `src/cli/plot-command.ts` loads gifenc in Node.
 */

/** The part of gifenc's encoder that is used (gifenc 1.0.3 ships no type declarations). */
export interface GifEncoderLike {
  writeFrame(
    index: Uint8Array,
    width: number,
    height: number,
    opts?: { palette?: number[][]; delay?: number; repeat?: number; first?: boolean },
  ): void;
  finish(): void;
  bytes(): Uint8Array;
}

/** gifenc's `GIFEncoder` (auto mode: header, global palette and loop block with the first frame). */
export type GifEncoderFactory = () => GifEncoderLike;

/** One indexed frame: `index[y·width + x]` is a palette entry. */
export interface GifFrame {
  width: number;
  height: number;
  index: Uint8Array;
  /** How long the frame shows, in ms (GIF stores centiseconds). */
  delayMs: number;
}

/**
 * Encode frames (all on the one global `palette`, ≤ 256 RGB triples) as a looping GIF89a.
 * Throws on no frames, frames of different sizes, or indices outside the palette.
 */
export function encodeGif(
  frames: readonly GifFrame[],
  palette: readonly (readonly number[])[],
  createEncoder: GifEncoderFactory,
  opts: { repeat?: number } = {},
): Uint8Array {
  if (frames.length === 0) throw new RangeError("encodeGif: no frames");
  if (palette.length < 2 || palette.length > 256)
    throw new RangeError(`encodeGif: the palette needs 2 to 256 colours, got ${palette.length}`);
  const { width, height } = frames[0]!;
  const gif = createEncoder();
  frames.forEach((f, i) => {
    if (f.width !== width || f.height !== height || f.index.length !== width * height)
      throw new RangeError(`encodeGif: frame ${i} is not ${width}×${height}`);
    for (let p = 0; p < f.index.length; p++)
      if (f.index[p]! >= palette.length)
        throw new RangeError(`encodeGif: frame ${i} uses colour ${f.index[p]} of ${palette.length}`);
    gif.writeFrame(f.index, width, height, {
      ...(i === 0 ? { palette: palette.map((c) => [...c]), repeat: opts.repeat ?? 0 } : {}),
      delay: f.delayMs,
    });
  });
  gif.finish();
  return gif.bytes();
}

/** viridis at 17 equally spaced points (vega's scheme, as samples.ts uses), RGB. */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [72, 25, 107],
  [71, 45, 123],
  [66, 64, 134],
  [59, 82, 139],
  [52, 99, 141],
  [44, 114, 142],
  [39, 130, 142],
  [33, 145, 141],
  [31, 159, 136],
  [40, 174, 128],
  [62, 188, 116],
  [93, 201, 99],
  [130, 211, 76],
  [171, 220, 50],
  [213, 226, 27],
  [253, 231, 37],
];

/** viridis(t), t ∈ [0, 1], linear between the anchors. */
export function viridis(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + f * (b[c]! - a[c]!))) as [number, number, number];
}

/** Palette entries of the configuration frames. */
export const GIF_WHITE = 0;
export const GIF_BLACK = 1;
export const GIF_GREY = 2;
const SHADES = 253;
const FIRST_SHADE = 3;

/** The fixed palette: white, black, grey (non-finite values), then viridis from −1 to 1. */
export function configurationPalette(): number[][] {
  const p: number[][] = [
    [255, 255, 255],
    [0, 0, 0],
    [128, 128, 128],
  ];
  for (let s = 0; s < SHADES; s++) p.push(viridis(s / (SHADES - 1)));
  return p;
}

/** The palette index of a value on [−1, 1] (clamped; non-finite: grey). */
export function shadeIndex(v: number): number {
  if (!Number.isFinite(v)) return GIF_GREY;
  const t = (Math.min(1, Math.max(-1, v)) + 1) / 2;
  return FIRST_SHADE + Math.round(t * (SHADES - 1));
}

/** 3×5 glyphs ('#' on), for the step label. */
const GLYPHS: Record<string, readonly string[]> = {
  "0": ["###", "#.#", "#.#", "#.#", "###"],
  "1": [".#.", "##.", ".#.", ".#.", "###"],
  "2": ["###", "..#", "###", "#..", "###"],
  "3": ["###", "..#", "###", "..#", "###"],
  "4": ["#.#", "#.#", "###", "..#", "..#"],
  "5": ["###", "#..", "###", "..#", "###"],
  "6": ["###", "#..", "###", "#.#", "###"],
  "7": ["###", "..#", "..#", "..#", "..#"],
  "8": ["###", "#.#", "###", "#.#", "###"],
  "9": ["###", "#.#", "###", "..#", "###"],
  S: [".##", "#..", ".#.", "..#", "##."],
  T: ["###", ".#.", ".#.", ".#.", ".#."],
  E: ["###", "#..", "##.", "#..", "###"],
  P: ["##.", "#.#", "##.", "#..", "#.."],
  " ": ["...", "...", "...", "...", "..."],
};

/** Width in pixels of `text` in the 3×5 font at `scale` (1 column of space between glyphs). */
export function textWidth(text: string, scale: number): number {
  return text.length === 0 ? 0 : (4 * text.length - 1) * scale;
}

/** Draw `text` (digits, S, T, E, P and spaces; other characters are skipped) into a frame. */
export function drawText(
  index: Uint8Array,
  width: number,
  text: string,
  x0: number,
  y0: number,
  scale: number,
  colour = GIF_BLACK,
): void {
  const height = index.length / width;
  let x = x0;
  for (const ch of text.toUpperCase()) {
    const g = GLYPHS[ch];
    if (g === undefined) continue;
    for (let r = 0; r < 5; r++)
      for (let c = 0; c < 3; c++) {
        if (g[r]![c] !== "#") continue;
        for (let dy = 0; dy < scale; dy++)
          for (let dx = 0; dx < scale; dx++) {
            const px = x + c * scale + dx;
            const py = y0 + r * scale + dy;
            if (px >= 0 && px < width && py >= 0 && py < height) index[py * width + px] = colour;
          }
      }
    x += 4 * scale;
  }
}

/** One record of a configuration film: the configurations at a training step. */
export interface ConfigurationRecord {
  step: number;
  /** Configurations rows × cols, row-major, one after the other, as values on [−1, 1]. */
  values: ArrayLike<number>;
  rows: number;
  cols: number;
}

export interface ConfigurationGifOptions {
  /** Grid side: side × side configurations per frame (default 4). */
  side?: number;
  /** Pixels per lattice site (default: about 56 px per configuration, at least 2). */
  cell?: number;
  /** Print "STEP n" above the grid (default true). */
  label?: boolean;
  /** ms per frame; the last one shows `lastDelayMs`. */
  delayMs?: number;
  lastDelayMs?: number;
}

/**
 * The indexed frames of a configuration film: per record, the first side² configurations
 * (fewer leave their cells white) on a white background, the step printed above.
 */
export function configurationFrames(
  records: readonly ConfigurationRecord[],
  opts: ConfigurationGifOptions = {},
): GifFrame[] {
  if (records.length === 0) return [];
  const side = opts.side ?? 4;
  const { rows, cols } = records[0]!;
  for (const r of records)
    if (r.rows !== rows || r.cols !== cols)
      throw new RangeError(`configurationFrames: records of ${rows}×${cols} and ${r.rows}×${r.cols}`);
  const cell = opts.cell ?? Math.max(2, Math.round(56 / Math.max(rows, cols)));
  const gap = 4;
  const margin = 6;
  const font = 2;
  const header = opts.label === false ? 0 : 5 * font + margin;
  const gridW = side * cols * cell + (side - 1) * gap;
  const gridH = side * rows * cell + (side - 1) * gap;
  const lastStep = Math.max(...records.map((r) => r.step));
  const width = Math.max(gridW, textWidth(`STEP ${lastStep}`, font)) + 2 * margin;
  const height = gridH + header + 2 * margin;
  const v = rows * cols;
  return records.map((r, f) => {
    const index = new Uint8Array(width * height).fill(GIF_WHITE);
    if (header > 0) drawText(index, width, `STEP ${r.step}`, margin, margin, font);
    const n = Math.min(side * side, Math.floor(r.values.length / v));
    for (let k = 0; k < n; k++) {
      const ox = margin + (k % side) * (cols * cell + gap);
      const oy = margin + header + Math.floor(k / side) * (rows * cell + gap);
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) {
          const c = shadeIndex(r.values[k * v + i * cols + j]!);
          for (let dy = 0; dy < cell; dy++) {
            const row = (oy + i * cell + dy) * width + ox + j * cell;
            index.fill(c, row, row + cell);
          }
        }
    }
    const last = f === records.length - 1;
    return { width, height, index, delayMs: last ? (opts.lastDelayMs ?? 1500) : (opts.delayMs ?? 400) };
  });
}

/** A looping GIF of configuration grids, one frame per record (see {@link configurationFrames}). */
export function configurationGif(
  records: readonly ConfigurationRecord[],
  createEncoder: GifEncoderFactory,
  opts: ConfigurationGifOptions = {},
): Uint8Array {
  return encodeGif(configurationFrames(records, opts), configurationPalette(), createEncoder);
}
