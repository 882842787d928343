/**
 * Figure 2: 4×4 grids of configurations, prior beside flow, drawn as the notebook does:
 * imshow(tanh φ) with viridis on [−1, 1] (row index downward, column index rightward). For
 * lattices of dimension ≠ 2 the plane through dimensions 0 and 1 at the origin is shown
 * (a 1-D lattice is a strip).
 */
import { type Figure, figureSpec, slice2d, type TheoryLike, theoryLabel } from "./common.js";

export interface SampleGridInput {
  /** Configurations, row-major [n, ...latticeShape]; the first 16 (by default) are drawn. */
  panels: { title: string; configs: ArrayLike<number> }[];
  latticeShape: readonly number[];
  /** The theory, for the subtitle: a TheorySpec, or just its couplings (φ⁴ when no kind). */
  theory?: TheoryLike;
  /** Grid side (4 → 4×4 configurations). */
  side?: number;
  /** Pixels per lattice site. */
  cell?: number;
}

export function sampleGridFigure(input: SampleGridInput): Figure {
  const side = input.side ?? 4;
  const v = input.latticeShape.reduce((a, b) => a * b, 1);
  const first = slice2d(new Float64Array(v), input.latticeShape, 0);
  const { rows, cols } = first;
  const gap = Math.max(1, Math.round(Math.max(rows, cols) / 8));
  const width = side * cols + (side - 1) * gap;
  const height = side * rows + (side - 1) * gap;
  const cell = input.cell ?? Math.max(3, Math.round(200 / Math.max(width, height)));

  const panels = input.panels.map((p) => {
    const n = Math.min(side * side, Math.floor(p.configs.length / v));
    const values: { x: number; x2: number; y: number; y2: number; v: number }[] = [];
    for (let k = 0; k < n; k++) {
      const s = slice2d(p.configs, input.latticeShape, k);
      const ox = (k % side) * (cols + gap);
      const oy = Math.floor(k / side) * (rows + gap);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++)
          values.push({
            x: ox + j,
            x2: ox + j + 1.04, // a little overlap: no hairline seams between sites
            y: oy + i,
            y2: oy + i + 1.04,
            v: Math.tanh(s.at(i, j)),
          });
      }
    }
    return {
      title: { text: p.title, fontSize: 13, fontWeight: "normal" },
      width: width * cell,
      height: height * cell,
      data: { values },
      mark: { type: "rect", strokeWidth: 0, clip: true },
      encoding: {
        x: {
          field: "x",
          type: "quantitative",
          scale: { domain: [0, width], nice: false, zero: false },
          axis: null,
        },
        x2: { field: "x2" },
        y: {
          field: "y",
          type: "quantitative",
          scale: { domain: [0, height], nice: false, zero: false, reverse: true },
          axis: null,
        },
        y2: { field: "y2" },
        color: {
          field: "v",
          type: "quantitative",
          scale: { scheme: "viridis", domain: [-1, 1], clamp: true },
          legend: {
            type: "gradient",
            title: "tanh φ(x)",
            gradientLength: Math.min(240, height * cell),
            orient: "right",
          },
        },
      },
      view: { stroke: null },
    };
  });

  const shape = input.latticeShape.join("×");
  const where =
    input.latticeShape.length === 2
      ? ""
      : input.latticeShape.length === 1
        ? " (each row one configuration)"
        : " (plane x₂ = … = 0)";
  const title = input.theory
    ? theoryLabel({ latticeShape: input.latticeShape, ...input.theory })
    : `${shape} lattice`;
  const spec = figureSpec({
    title: { text: "Samples: tanh φ(x)", subtitle: `${title}; ${side * side} configurations each${where}` },
    hconcat: panels,
    resolve: { scale: { color: "shared" } },
  });
  return { name: "samples", spec };
}
