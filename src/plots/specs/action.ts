/**
 * Figure 4: the learned effective action against the true one, as in the notebook: a 2-D
 * histogram of S_eff = −log q(x) (horizontal) against S(x) (vertical) for samples x ~ q, with
 * the slope-1 fit S = S_eff + b, b = ⟨S − S_eff⟩ = ⟨S + log q⟩. For a perfect flow S = S_eff − log Z,
 * so b is the notebook's estimate of the shift −log Z; it equals the reverse-KL loss on these
 * samples, an upper bound on −log Z (docs/physics.md). Both axes span the same width, so the
 * slope-1 line runs at 45°.
 */
import {
  type Bin2d,
  type Figure,
  figureSpec,
  fmtNum,
  histogram2d,
  niceRange,
  overlapCells,
  quantile,
  VIRIDIS_0,
} from "./common.js";

/** b of the slope-1 fit S = S_eff + b (least squares with the slope fixed to 1): ⟨S⟩ − ⟨S_eff⟩. */
export function slopeOneOffset(sEff: ArrayLike<number>, s: ArrayLike<number>): number {
  let acc = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s[i]! - sEff[i]!;
    if (Number.isFinite(d)) {
      acc += d;
      n++;
    }
  }
  return n ? acc / n : Number.NaN;
}

/** Equal-width windows for S_eff and S that hold the central 99% of both, centred on the fit line. */
export function actionWindow(
  sEff: ArrayLike<number>,
  s: ArrayLike<number>,
  b: number,
): { x: [number, number]; y: [number, number] } {
  const xLo = quantile(sEff, 0.005);
  const xHi = quantile(sEff, 0.995);
  const yLo = quantile(s, 0.005);
  const yHi = quantile(s, 0.995);
  const half = 0.5 * 1.15 * Math.max(xHi - xLo, yHi - yLo) || 1;
  const cx = 0.5 * (Math.max(xLo, yLo - b) + Math.min(xHi, yHi - b));
  const centre = Number.isFinite(cx) ? cx : 0;
  const [x0, x1] = niceRange(centre - half, centre + half, 6);
  const w = x1 - x0;
  const [y0] = niceRange(centre + b - w / 2, centre + b + w / 2, 6);
  return { x: [x0, x1], y: [y0, y0 + w] };
}

export interface ActionInput {
  sEff: ArrayLike<number>;
  s: ArrayLike<number>;
  /** Whose samples, for the subtitle, e.g. "1024 flow samples". */
  label?: string;
  bins?: number;
  size?: number;
}

/** Layers of one S_eff-vs-S panel: histogram, slope-1 line, optional off-scale note. */
export function actionPanelLayers(
  cells: Bin2d[],
  window: { x: [number, number]; y: [number, number] },
  b: number,
  opts: { axes: boolean; outside?: string; legend?: boolean },
): Record<string, unknown>[] {
  const max = Math.max(1, ...cells.map((c) => c.count));
  const axis = (title: string) => (opts.axes ? { title, grid: false, tickCount: 5 } : null);
  const [x0, x1] = window.x;
  const line = [
    { x: x0, y: x0 + b },
    { x: x1, y: x1 + b },
  ];
  const layers: Record<string, unknown>[] = [
    {
      data: { values: overlapCells(cells.filter((c) => c.count > 0)) },
      mark: { type: "rect", strokeWidth: 0, clip: true },
      encoding: {
        x: {
          field: "x0",
          type: "quantitative",
          scale: { domain: window.x, nice: false, zero: false },
          axis: axis("S_eff = −log q(x)"),
        },
        x2: { field: "x1" },
        y: {
          field: "y0",
          type: "quantitative",
          scale: { domain: window.y, nice: false, zero: false },
          axis: axis("S(x)"),
        },
        y2: { field: "y1" },
        color: {
          field: "count",
          type: "quantitative",
          scale: { scheme: "viridis", domain: [0, max], nice: false },
          legend: opts.legend ? { type: "gradient", title: "count", gradientLength: 160 } : null,
        },
      },
    },
    {
      data: { values: Number.isFinite(b) ? line : [] },
      mark: { type: "line", color: "white", strokeDash: [2, 3], strokeWidth: 1.6, clip: true },
      encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
    },
  ];
  if (opts.outside) {
    layers.push({
      data: { values: [{ t: opts.outside }] },
      mark: {
        type: "text",
        color: "white",
        align: "right",
        baseline: "bottom",
        fontSize: 10,
        x: "width",
        y: "height",
        dx: -3,
        dy: -3,
      },
      encoding: { text: { field: "t" } },
    });
  }
  return layers;
}

export function actionFigure(input: ActionInput): Figure {
  const bins = input.bins ?? 20;
  const b = slopeOneOffset(input.sEff, input.s);
  const window = actionWindow(input.sEff, input.s, b);
  const h = histogram2d(input.sEff, input.s, window.x, window.y, bins);
  const size = input.size ?? 340;
  const outside = h.outside ? `${h.outside} of ${input.s.length} outside` : undefined;
  const spec = figureSpec({
    title: {
      text: "Learned effective action vs. true action",
      subtitle: [
        `slope-1 fit (dotted): S = S_eff + b,  b = ⟨S − S_eff⟩ = ${fmtNum(b, 4)}  (≥ −log Z)`,
        `${input.label ?? `${input.s.length} samples x ~ q`}, ${bins}×${bins} bins`,
      ],
    },
    width: size,
    height: size,
    view: { fill: VIRIDIS_0 },
    layer: actionPanelLayers(h.cells, window, b, { axes: true, outside, legend: true }),
  });
  return { name: "action", spec, notes: { offset: b } };
}
