/**
 * Shared pieces of the figure specs: the look (matplotlib/seaborn-like, as in the seed
 * notebook), binning, moving averages and quantiles. Browser-safe: plain data in, Vega-Lite
 * specs (plain JSON objects) out; rendering lives in src/plots/render.ts (Node) or in a page.
 */
import type { TopLevelSpec } from "vega-lite";
import { quantileSorted } from "../../analysis/quantiles.js";

export type { TopLevelSpec };

/** A figure: its spec and the numbers it shows that a caller may want to print. */
export interface Figure {
  /** File stem, e.g. "training" → training.svg, training.png. */
  name: string;
  spec: TopLevelSpec;
  /** Numbers shown in the figure (fit offsets, windows, …), by name. */
  notes?: Record<string, number>;
}

export const FONT = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif";
/** matplotlib's default cycle: C0 blue, C1 orange, C2 green, C3 red. */
export const C0 = "#1f77b4";
export const C1 = "#ff7f0e";
export const C2 = "#2ca02c";
export const C3 = "#d62728";
/** viridis(0): the colour of an empty bin; histograms paint it as the background and skip empty cells. */
export const VIRIDIS_0 = "#440154";

/** The look shared by all figures (seaborn "whitegrid"-like, DejaVu Sans as matplotlib's default). */
export const CONFIG = {
  font: FONT,
  // No per-mark ARIA labels: a 20×20×16 histogram would carry 6400 of them in the SVG.
  aria: false,
  background: "white",
  padding: 10,
  title: { fontSize: 15, fontWeight: "bold", subtitleFontSize: 11.5, subtitleColor: "#444", offset: 8 },
  axis: {
    labelFontSize: 11,
    titleFontSize: 13,
    titleFontWeight: "normal",
    gridColor: "#e6e6e6",
    domainColor: "#555",
    tickColor: "#555",
    labelColor: "#222",
    titleColor: "#111",
  },
  legend: { labelFontSize: 11.5, titleFontSize: 11.5, titleFontWeight: "normal", symbolStrokeWidth: 2.5 },
  header: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: "normal" },
  view: { stroke: "#999" },
  concat: { spacing: 24 },
} as const;

export const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/** Attach the schema and the shared look to a spec body. */
export function figureSpec(body: Record<string, unknown>): TopLevelSpec {
  return { $schema: SCHEMA, config: CONFIG, ...body } as unknown as TopLevelSpec;
}

/** Unicode minus and a fixed number of digits, as a physicist writes numbers. */
export function fmtNum(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return "n/a";
  const s = x.toFixed(digits);
  return s.startsWith("-") ? `−${s.slice(1)}` : s;
}

/** value(error) in the usual short form, e.g. 0.3021(14); falls back to ± if the error is 0 or NaN. */
export function fmtErr(value: number, error: number): string {
  if (!Number.isFinite(value)) return "n/a";
  if (!(error > 0) || !Number.isFinite(error)) return fmtNum(value, 4);
  const digits = Math.max(0, Math.min(10, 1 - Math.floor(Math.log10(error))));
  const scaled = Math.round(error * 10 ** digits);
  return digits === 0 ? `${fmtNum(value, 0)}(${scaled})` : `${fmtNum(value, digits)}(${scaled})`;
}

/** Centred moving average over `window` points (numpy's convolve 'valid'); x at each window's centre. */
export function movingAverage(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  window: number,
): { x: number; y: number }[] {
  const n = ys.length;
  const w = Math.max(1, Math.min(Math.floor(window), n));
  const out: { x: number; y: number }[] = [];
  if (n === 0) return out;
  let s = 0;
  for (let i = 0; i < w; i++) s += ys[i]!;
  for (let i = 0; ; i++) {
    const c = i + (w - 1) / 2;
    const lo = Math.floor(c);
    const xc = lo === c ? xs[lo]! : (xs[lo]! + xs[lo + 1]!) / 2;
    out.push({ x: xc, y: s / w });
    if (i + w >= n) break;
    s += ys[i + w]! - ys[i]!;
  }
  return out;
}

/** Quantile q ∈ [0, 1] of the finite values (linear interpolation); NaN if there are none. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const v = Array.from(values).filter(Number.isFinite);
  if (v.length === 0) return Number.NaN;
  v.sort((a, b) => a - b);
  return quantileSorted(v, Math.min(1, Math.max(0, q)));
}

/** A round step (1, 2 or 5 × 10^k) of about span/target. */
export function niceStep(span: number, target = 10): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/** [lo, hi] widened outward to multiples of a round step. */
export function niceRange(lo: number, hi: number, target = 10): [number, number] {
  if (!(hi > lo)) {
    const c = Number.isFinite(lo) ? lo : 0;
    return [c - 1, c + 1];
  }
  const step = niceStep(hi - lo, target);
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
}

export interface Bin2d {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  count: number;
}

/**
 * 2-D histogram on [xlo, xhi] × [ylo, yhi] with bins × bins cells (numpy.histogram2d: the last
 * bin includes its upper edge). Every cell is returned, empty ones too (matplotlib's hist2d draws
 * them in the colour of 0). `outside` counts the points that fell off the window.
 */
export function histogram2d(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  xRange: readonly [number, number],
  yRange: readonly [number, number],
  bins: number,
): { cells: Bin2d[]; outside: number; max: number } {
  const [xlo, xhi] = xRange;
  const [ylo, yhi] = yRange;
  const counts = new Float64Array(bins * bins);
  let outside = 0;
  const dx = (xhi - xlo) / bins;
  const dy = (yhi - ylo) / bins;
  for (let k = 0; k < xs.length; k++) {
    const x = xs[k]!;
    const y = ys[k]!;
    if (!(x >= xlo && x <= xhi && y >= ylo && y <= yhi)) {
      outside++;
      continue;
    }
    const i = Math.min(bins - 1, Math.floor((x - xlo) / dx));
    const j = Math.min(bins - 1, Math.floor((y - ylo) / dy));
    counts[i * bins + j]!++;
  }
  const cells: Bin2d[] = [];
  let max = 0;
  for (let i = 0; i < bins; i++) {
    for (let j = 0; j < bins; j++) {
      const count = counts[i * bins + j]!;
      max = Math.max(max, count);
      cells.push({
        x0: xlo + i * dx,
        x1: xlo + (i + 1) * dx,
        y0: ylo + j * dy,
        y1: ylo + (j + 1) * dy,
        count,
      });
    }
  }
  return { cells, outside, max };
}

/**
 * Cells grown by 3% of a bin to the upper side, so that neighbours overlap: anti-aliased
 * renderers otherwise leave hairline seams between adjacent rectangles (draw with clip on).
 */
export function overlapCells<T extends Bin2d>(cells: readonly T[]): T[] {
  return cells.map((c) => ({ ...c, x1: c.x1 + 0.03 * (c.x1 - c.x0), y1: c.y1 + 0.03 * (c.y1 - c.y0) }));
}

/** 1-D histogram with `bins` equal bins on [lo, hi] (upper edge included in the last bin). */
export function histogram1d(
  values: ArrayLike<number>,
  range: readonly [number, number],
  bins: number,
): { x0: number; x1: number; count: number }[] {
  const [lo, hi] = range;
  const d = (hi - lo) / bins;
  const counts = new Float64Array(bins);
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (!(v >= lo && v <= hi)) continue;
    counts[Math.min(bins - 1, Math.floor((v - lo) / d))]!++;
  }
  return Array.from(counts, (count, i) => ({ x0: lo + i * d, x1: lo + (i + 1) * d, count }));
}

/** The slice of configuration `k` through dimensions 0 and 1 (other coordinates 0) as rows × cols. */
export function slice2d(
  configs: ArrayLike<number>,
  latticeShape: readonly number[],
  k: number,
): { rows: number; cols: number; at: (i: number, j: number) => number } {
  const v = latticeShape.reduce((a, b) => a * b, 1);
  const o = k * v;
  if (latticeShape.length === 1) return { rows: 1, cols: latticeShape[0]!, at: (_i, j) => configs[o + j]! };
  const inner = latticeShape.slice(2).reduce((a, b) => a * b, 1);
  const cols = latticeShape[1]!;
  return { rows: latticeShape[0]!, cols, at: (i, j) => configs[o + (i * cols + j) * inner]! };
}

/**
 * A theory as plain data: src/model's TheorySpec (`{kind, latticeShape, ...couplings}`, kind
 * "phi4" when absent), which plots take structurally (they do not import the model).
 */
export interface TheoryLike {
  kind?: string;
  [field: string]: unknown;
}

const THEORY_NAMES: Record<string, string> = { phi4: "φ⁴", u1: "U(1)" };
const COUPLING_SYMBOLS: Record<string, string> = { m2: "m²", lam: "λ", beta: "β" };

/** Theory description for titles, e.g. "φ⁴ on 8×8, m² = −4, λ = 8" or "U(1) on 8×8, β = 2". */
export function theoryLabel(t: TheoryLike & { latticeShape: readonly number[] }): string {
  const num = (x: number) => (x < 0 ? `−${-x}` : `${x}`);
  const { kind = "phi4", latticeShape, ...couplings } = t;
  const parts = Object.entries(couplings)
    .filter((e): e is [string, number] => typeof e[1] === "number")
    .map(([k, v]) => `${COUPLING_SYMBOLS[k] ?? k} = ${num(v)}`);
  return [`${THEORY_NAMES[kind] ?? kind} on ${latticeShape.join("×")}`, ...parts].join(", ");
}
