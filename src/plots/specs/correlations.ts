/**
 * Figure 3: correlations between sites, the notebook's 4×4 panel of 2-D histograms of
 * φ(site a) against φ(site b) for the four sites of the 2×2 corner of the lattice. Panel (a, b)
 * has φ(site b) horizontally (labelled below its column) and φ(site a) vertically (labelled
 * beside its row); the diagonal panels are φ against itself. Uncorrelated sites (the prior) give
 * round blobs, neighbouring sites of a correlated field give tilted ellipses, and the broken
 * phase gives two blobs at ±v.
 */
import {
  type Bin2d,
  type Figure,
  figureSpec,
  histogram2d,
  overlapCells,
  quantile,
  VIRIDIS_0,
} from "./common.js";

export interface CorrelationInput {
  configs: ArrayLike<number>;
  latticeShape: readonly number[];
  /** Whose samples these are, for the title (e.g. "flow", "prior"). */
  label: string;
  /** Half-width R of the window [−R, R]² (default: the 99.5th percentile of |φ|, rounded up). */
  range?: number;
  bins?: number;
  name?: string;
}

/** The four corner sites: flat index and label, e.g. φ(0,1). */
function cornerSites(latticeShape: readonly number[]): { index: number; label: string }[] {
  if (latticeShape.length === 1) {
    return [0, 1, 2, 3].map((x) => ({ index: x % latticeShape[0]!, label: `φ(${x % latticeShape[0]!})` }));
  }
  const inner = latticeShape.slice(2).reduce((a, b) => a * b, 1);
  const zeros = latticeShape
    .slice(2)
    .map(() => ",0")
    .join("");
  const out: { index: number; label: string }[] = [];
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 2; b++) {
      const x0 = a % latticeShape[0]!;
      const x1 = b % latticeShape[1]!;
      out.push({ index: (x0 * latticeShape[1]! + x1) * inner, label: `φ(${x0},${x1}${zeros})` });
    }
  }
  return out;
}

export function correlationFigure(input: CorrelationInput): Figure {
  const v = input.latticeShape.reduce((a, b) => a * b, 1);
  const n = Math.floor(input.configs.length / v);
  const bins = input.bins ?? 20;
  const sites = cornerSites(input.latticeShape);
  const series = sites.map((s) =>
    Float64Array.from({ length: n }, (_, i) => input.configs[i * v + s.index]!),
  );
  let R = input.range;
  if (R === undefined) {
    const abs = series.flatMap((s) => Array.from(s, Math.abs));
    const q = quantile(abs, 0.995);
    R = Number.isFinite(q) && q > 0 ? Math.ceil(q * 2) / 2 : 1;
  }
  const range: [number, number] = [-R, R];
  // Each panel has its own colour scale, as matplotlib's hist2d: counts relative to the panel's
  // fullest bin (the diagonal panels pile everything onto a line and would darken the rest).
  const rows: (Bin2d & { row: string; col: string; rel: number })[] = [];
  for (let a = 0; a < 4; a++) {
    for (let b = 0; b < 4; b++) {
      const h = histogram2d(series[b]!, series[a]!, range, range, bins);
      const max = Math.max(1, h.max);
      for (const c of h.cells) {
        if (c.count > 0) rows.push({ ...c, rel: c.count / max, row: `${a}`, col: `${b}` });
      }
    }
  }
  const labels = sites.map((s) => s.label);
  const labelExpr = `[${labels.map((l) => JSON.stringify(l)).join(",")}][+datum.value]`;
  const spec = figureSpec({
    title: {
      text: `Correlations in various lattice sites (${input.label})`,
      subtitle: [
        `${n} configurations; each panel φ ∈ [−${R}, ${R}]² in ${bins}×${bins} bins`,
        "horizontal: the site below the column, vertical: the site left of the row",
      ],
    },
    data: { values: overlapCells(rows) },
    facet: {
      row: {
        field: "row",
        type: "ordinal",
        title: null,
        header: { labelExpr, labelAngle: 0, labelOrient: "left", labelAlign: "left", labelPadding: 6 },
      },
      column: {
        field: "col",
        type: "ordinal",
        title: null,
        header: { labelExpr, labelOrient: "bottom", labelPadding: 6 },
      },
    },
    spacing: 4,
    spec: {
      width: 84,
      height: 84,
      view: { fill: VIRIDIS_0, stroke: null },
      mark: { type: "rect", strokeWidth: 0, clip: true },
      encoding: {
        x: {
          field: "x0",
          type: "quantitative",
          scale: { domain: range, nice: false, zero: false },
          axis: null,
        },
        x2: { field: "x1" },
        y: {
          field: "y0",
          type: "quantitative",
          scale: { domain: range, nice: false, zero: false },
          axis: null,
        },
        y2: { field: "y1" },
        color: {
          field: "rel",
          type: "quantitative",
          scale: { scheme: "viridis", domain: [0, 1], nice: false },
          legend: { type: "gradient", title: ["count / fullest", "bin of its panel"], gradientLength: 150 },
        },
      },
    },
  });
  return { name: input.name ?? `correlations-${input.label}`, spec };
}
