/**
 * The response of x to one latent variable per scale (NeuralRG's visualizeRGscales, arXiv
 * 1802.02840): for a MERA flow x = f(z) and, for each scale k, one latent site of that scale
 * (src/flows/mera.ts, meraScaleOfSite), the column ∂x/∂z_site of the Jacobian as an L×L heatmap.
 * A latent variable of a coarse scale moves a large region of x, one of the finest scale a local
 * patch. Each panel is divided by its own largest |entry| (printed in its title) and drawn on one
 * diverging scale on [−1, 1]; the perturbed site is outlined.
 */
import { type Figure, figureSpec, fmtNum, type TheoryLike, theoryLabel } from "./common.js";
import { DIVERGING, heatmapCells, heatmapPosition } from "./rg.js";

export interface RgScalesPanel {
  /** The scale of the latent site (0 = finest). */
  k: number;
  /** Its (row, column). */
  site: readonly [number, number];
  /** The response of x, L×L row-major (e.g. ∂x/∂z_site). */
  response: ArrayLike<number>;
}

export interface RgScalesInput {
  latticeSize: number;
  panels: RgScalesPanel[];
  /** Symbol of what the panels show (default "∂x/∂z"). */
  quantity?: string;
  /** How it was computed, for the subtitle. */
  method?: string;
  theory?: TheoryLike & { latticeShape: readonly number[] };
  label?: string;
  /** Pixels of a panel's side (default 150). */
  panel?: number;
}

export function rgScalesFigure(input: RgScalesInput): Figure {
  const L = input.latticeSize;
  const P = input.panel ?? 150;
  const q = input.quantity ?? "∂x/∂z";
  const notes: Record<string, number> = {};
  const panels = input.panels.map((p) => {
    let a = 0;
    for (let s = 0; s < L * L; s++) {
      const v = Math.abs(p.response[s]!);
      if (Number.isFinite(v)) a = Math.max(a, v);
    }
    notes[`max_k${p.k}`] = a;
    const scale = a > 0 ? 1 / a : 1;
    const [si, sj] = p.site;
    const pos = heatmapPosition(L);
    return {
      title: {
        text: [`k = ${p.k}: z at (${si}, ${sj})`, `max |${q}| = ${fmtNum(a, 3)}`],
        fontSize: 12,
        fontWeight: "normal",
      },
      width: P,
      height: P,
      layer: [
        {
          data: { values: heatmapCells(p.response, 0, L, (v) => v * scale) },
          mark: { type: "rect", strokeWidth: 0, clip: true },
          encoding: {
            ...pos,
            color: {
              field: "v",
              type: "quantitative",
              scale: { ...DIVERGING, domain: [-1, 1], clamp: true },
              legend: {
                type: "gradient",
                title: `${q} / max`,
                orient: "right",
                gradientLength: P,
              },
            },
          },
        },
        {
          data: { values: [{ x: sj, x2: sj + 1, y: si, y2: si + 1 }] },
          mark: { type: "rect", filled: false, stroke: "black", strokeWidth: 1.5, clip: true },
          encoding: pos,
        },
      ],
      view: { stroke: "#bbb" },
    };
  });
  const where = input.theory ? theoryLabel(input.theory) : `${L}×${L} lattice`;
  // Short lines: vega measures text headlessly by an estimate that makes long lines wide.
  const subtitle = [
    `${where}${input.label ? `; ${input.label}` : ""}`,
    `${q} for the latent site of each scale k nearest the centre (outlined)`,
    ...(input.method ? [input.method] : []),
    "each panel divided by its largest |entry|:",
    "coarse latent variables move large regions, fine ones local patches",
  ];
  const spec = figureSpec({
    title: { text: "Response of x to one latent variable per scale", subtitle },
    hconcat: panels,
    spacing: 14,
    resolve: { scale: { color: "shared" } },
  });
  return { name: "rg-scales", spec, notes };
}
