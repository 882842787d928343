/**
 * Samples of a 2-d U(1) gauge field as its plaquette angles: a grid of small heat maps of
 * wrap(P₀₁(x)) ∈ [−π, π) (P₀₁(x) = θ₀(x) + θ₁(x+0̂) − θ₀(x+1̂) − θ₁(x), gauge invariant, unlike the
 * links), one per configuration, in a cyclic colour scheme (sinebow: −π and π are one colour),
 * each titled with its topological charge Q = (1/2π) Σ_x wrap(P₀₁(x)) (an integer on the torus).
 * Row index x₀ downward, column index x₁ rightward, as the φ⁴ sample grid (samples.ts).
 *
 * Panels side by side, e.g. prior beside flow for a run (the same z), or one panel of an
 * ensemble: with `distinct`, configurations repeated consecutively (the rejections of a flow
 * Metropolis–Hastings chain) count once and the configurations drawn are spread evenly along
 * the chain, each titled with its Monte Carlo time.
 */
import { wrapAngle } from "../../math/index.js";
import { type Figure, figureSpec, type TheoryLike, theoryLabel } from "./common.js";

export interface PlaquetteSampleInput {
  /**
   * Plaquette angles P₀₁(x) of each configuration, row-major [n, rows, cols] (any real: wrapped
   * here into [−π, π)).
   */
  panels: { title: string; angles: ArrayLike<number>; distinct?: boolean }[];
  /** The 2-d lattice, [rows, cols]. */
  latticeShape: readonly number[];
  /** Configurations drawn per panel (default 16, in rows of `columns`). */
  count?: number;
  /** Heat maps per row (default 4). */
  columns?: number;
  /** The theory, for the subtitle (a TheorySpec, or just its couplings). */
  theory?: TheoryLike;
  /** Which samples, for the title, e.g. "u1.npy (hmc)". */
  label?: string;
  /** Pixels per lattice site (default: heat maps of about 96 pixels, 120 for at most 8). */
  cell?: number;
  name?: string;
}

const TWO_PI = 2 * Math.PI;

/** φ mod 2π in [−π, π). */
export const wrapPlaquette = wrapAngle;

/** Q = (1/2π) Σ_x wrap(P(x)) of configuration k of `angles` ([n, size]), rounded to an integer. */
export function chargeOf(angles: ArrayLike<number>, size: number, k: number): number {
  let s = 0;
  for (let x = 0; x < size; x++) s += wrapPlaquette(angles[k * size + x]!);
  const q = Math.round(s / TWO_PI);
  return q === 0 ? 0 : q; // no −0 in titles
}

/**
 * The first index of each run of identical consecutive configurations (of `size` values each):
 * a flow-MH chain repeats the current configuration on every rejection, so these are the
 * configurations the chain actually visited, in order.
 */
export function distinctConfigurations(values: ArrayLike<number>, size: number): number[] {
  const n = Math.floor(values.length / size);
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    let same = k > 0;
    for (let x = 0; same && x < size; x++) same = values[k * size + x] === values[(k - 1) * size + x];
    if (!same) out.push(k);
  }
  return out;
}

/** `k` of the indices, evenly spread (first and last kept), in order. */
function spread(indices: readonly number[], k: number): number[] {
  if (indices.length <= k) return [...indices];
  if (k <= 1) return indices.slice(0, k);
  return Array.from({ length: k }, (_, i) => indices[Math.round((i * (indices.length - 1)) / (k - 1))]!);
}

/** Legend labels at −π, −π/2, 0, π/2, π. */
const PI_LABELS =
  "datum.value < -3 ? '−π' : datum.value < -1 ? '−π/2' : datum.value < 1 ? '0' : datum.value < 3 ? 'π/2' : 'π'";

export function plaquetteSampleFigure(input: PlaquetteSampleInput): Figure {
  if (input.latticeShape.length !== 2)
    throw new RangeError(`plaquetteSampleFigure: needs a 2-d lattice, got ${input.latticeShape.join("×")}`);
  const [rows, cols] = input.latticeShape as [number, number];
  const size = rows * cols;
  const count = input.count ?? 16;
  const columns = Math.min(input.columns ?? 4, count);
  const cell = input.cell ?? Math.max(2, Math.round((count <= 8 ? 120 : 96) / Math.max(rows, cols)));
  const notes: Record<string, number> = {};

  const panels = input.panels.map((p, pi) => {
    const n = Math.floor(p.angles.length / size);
    const all = p.distinct ? distinctConfigurations(p.angles, size) : Array.from({ length: n }, (_, i) => i);
    const picked = p.distinct ? spread(all, count) : all.slice(0, count);
    if (p.distinct) notes[`distinct ${pi}`] = all.length;
    notes[`shown ${pi}`] = picked.length;
    const tiles = picked.map((k) => {
      const values: { x: number; x2: number; y: number; y2: number; p: number }[] = [];
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++)
          values.push({
            x: j,
            x2: j + 1.04, // a little overlap: no hairline seams between sites
            y: i,
            y2: i + 1.04,
            p: wrapPlaquette(p.angles[k * size + i * cols + j]!),
          });
      const q = chargeOf(p.angles, size, k);
      const qText = `Q = ${q < 0 ? `−${-q}` : q}`;
      return {
        title: {
          text: p.distinct ? `#${k}: ${qText}` : qText,
          fontSize: 11,
          fontWeight: "normal",
          offset: 3,
        },
        width: cols * cell,
        height: rows * cell,
        data: { values },
        mark: { type: "rect", strokeWidth: 0, clip: true },
        encoding: {
          x: {
            field: "x",
            type: "quantitative",
            scale: { domain: [0, cols], nice: false, zero: false },
            axis: null,
          },
          x2: { field: "x2" },
          y: {
            field: "y",
            type: "quantitative",
            scale: { domain: [0, rows], nice: false, zero: false, reverse: true },
            axis: null,
          },
          y2: { field: "y2" },
          color: {
            field: "p",
            type: "quantitative",
            scale: { scheme: "sinebow", domain: [-Math.PI, Math.PI], nice: false, clamp: true },
            legend: {
              type: "gradient",
              title: "wrap P₀₁(x)",
              orient: "right",
              values: [-Math.PI, -Math.PI / 2, 0, Math.PI / 2, Math.PI],
              labelExpr: PI_LABELS,
              gradientLength: Math.min(200, Math.ceil(picked.length / columns) * (rows * cell + 24)),
            },
          },
        },
        view: { stroke: null },
      };
    });
    const title = !p.distinct
      ? p.title
      : all.length === n
        ? `${p.title}: all distinct`
        : `${p.title}: ${all.length} distinct`;
    return {
      title: { text: title, fontSize: 13, fontWeight: "normal" },
      concat: tiles,
      columns,
      spacing: { row: 6, column: 8 },
    };
  });

  const where = input.theory
    ? theoryLabel({ latticeShape: input.latticeShape, ...input.theory })
    : `${input.latticeShape.join("×")} lattice`;
  const anyDistinct = input.panels.some((p) => p.distinct);
  // Short lines: vega sizes the figure by an estimate of the text width (no canvas in Node).
  const subtitle = [
    `${where}; wrap P₀₁(x) ∈ [−π, π)`,
    "in cyclic colours (−π and π alike); Q = (1/2π) Σ_x wrap P₀₁(x)",
    ...(anyDistinct
      ? ["repeats (Metropolis rejections) count once;", "drawn: spread along the chain, #: Monte Carlo time"]
      : []),
  ];
  const spec = figureSpec({
    title: { text: `Plaquette angles${input.label ? `: ${input.label}` : ""}`, subtitle },
    hconcat: panels,
    spacing: 28,
    resolve: { scale: { color: "shared" } },
  });
  return { name: input.name ?? "plaquettes", spec, notes };
}
