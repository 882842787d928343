/**
 * The renormalised variables of a MERA flow (NeuralRG's visualizeRG, arXiv 1802.02840 fig. 3):
 * rows are samples x ~ q, columns the scales k = 0 … log₂L, each the configuration after the
 * learnt RG map through the levels < k on its (L/2ᵏ)² sublattice (src/flows/mera.ts,
 * renormalisedVariables), from the L×L configuration to the single top variable. Diverging
 * colours symmetric about 0, one scale per column (the variables grow as they are coarse-
 * grained); for the relaxed Ising model column 0 shows the spin expectation ⟨s⟩ = tanh x.
 */
import { type Figure, figureSpec, type TheoryLike, theoryLabel } from "./common.js";

export interface RgInput {
  /** Scales k = 0 … n: the sublattice side and the values [samples, side, side], row-major. */
  levels: { side: number; values: ArrayLike<number> }[];
  /** Samples (rows) to draw; default: all of those in levels[0]. */
  samples?: number;
  /** Show tanh of the k = 0 variables (the relaxed Ising model's spin expectation). */
  spinExpectation?: boolean;
  /** For the subtitle: the theory, and where the samples come from. */
  theory?: TheoryLike & { latticeShape: readonly number[] };
  label?: string;
  /** Pixels of a panel's side (default 96). */
  panel?: number;
}

/** vega's red–blue, reversed: negative blue, positive red, white at 0. */
export const DIVERGING = { scheme: "redblue", reverse: true } as const;

/** Rectangles of an n×n heatmap (rows downward), one per site, overlapping a little against seams. */
export function heatmapCells(
  values: ArrayLike<number>,
  offset: number,
  side: number,
  map: (v: number) => number = (v) => v,
): { x: number; x2: number; y: number; y2: number; v: number }[] {
  const out: { x: number; x2: number; y: number; y2: number; v: number }[] = [];
  const grow = 0.04 * Math.min(1, side / 8);
  for (let i = 0; i < side; i++)
    for (let j = 0; j < side; j++)
      out.push({ x: j, x2: j + 1 + grow, y: i, y2: i + 1 + grow, v: map(values[offset + i * side + j]!) });
  return out;
}

/** x/y encodings of a side×side heatmap, no axes. */
export function heatmapPosition(side: number): Record<string, unknown> {
  return {
    x: {
      field: "x",
      type: "quantitative",
      scale: { domain: [0, side], nice: false, zero: false },
      axis: null,
    },
    x2: { field: "x2" },
    y: {
      field: "y",
      type: "quantitative",
      scale: { domain: [0, side], nice: false, zero: false, reverse: true },
      axis: null,
    },
    y2: { field: "y2" },
  };
}

export function rgFigure(input: RgInput): Figure {
  const levels = input.levels;
  if (levels.length === 0) throw new RangeError("rgFigure: no scales");
  const s0 = levels[0]!.side;
  const available = Math.floor(levels[0]!.values.length / (s0 * s0));
  const samples = Math.min(input.samples ?? available, available);
  const P = input.panel ?? 96;
  const spin = input.spinExpectation === true;

  const columns = levels.map((lvl, k) => {
    const side = lvl.side;
    const tanh = spin && k === 0;
    const map = tanh ? Math.tanh : (v: number) => v;
    let a = 0;
    for (let p = 0; p < samples * side * side; p++) {
      const v = Math.abs(map(lvl.values[p]!));
      if (Number.isFinite(v)) a = Math.max(a, v);
    }
    const bound = tanh ? 1 : a > 0 ? a : 1;
    const what = tanh ? "⟨s⟩ = tanh x" : k === 0 ? "x" : `x⁽${superscript(k)}⁾`;
    const rows = Array.from({ length: samples }, (_, r) => ({
      ...(r === 0
        ? { title: { text: [`k = ${k}: ${side}×${side}`, what], fontSize: 12, fontWeight: "normal" } }
        : {}),
      width: P,
      height: P,
      data: { values: heatmapCells(lvl.values, r * side * side, side, map) },
      mark: { type: "rect", strokeWidth: 0, clip: true },
      encoding: {
        ...heatmapPosition(side),
        ...(k === 0
          ? {
              y: {
                ...(heatmapPosition(side).y as Record<string, unknown>),
                axis: {
                  title: `sample ${r + 1}`,
                  labels: false,
                  ticks: false,
                  domain: false,
                  grid: false,
                  titleFontSize: 12,
                },
              },
            }
          : {}),
        color: {
          field: "v",
          type: "quantitative",
          scale: { ...DIVERGING, domain: [-bound, bound], clamp: true },
          legend: {
            type: "gradient",
            title: null,
            orient: "bottom",
            direction: "horizontal",
            gradientLength: P,
            labelFontSize: 10,
            values: [-bound, 0, bound].map((x) => Number(x.toPrecision(3))),
            format: ".3~g",
          },
        },
      },
      view: { stroke: "#bbb" },
    }));
    return { vconcat: rows, spacing: 6, resolve: { scale: { color: "shared" } } };
  });

  const L = s0;
  const where = input.theory ? theoryLabel(input.theory) : `${L}×${L} lattice`;
  // Short lines: vega measures text headlessly by an estimate that makes long lines wide.
  const subtitle = [
    `${where}${input.label ? `; ${input.label}` : ""}`,
    `rows: ${samples} samples x ~ q; column k: the variables after the learnt RG map`,
    `through the levels < k, on the (L/2ᵏ)² sublattice${spin ? "; k = 0: the spin expectation ⟨s⟩ = tanh x" : ""}`,
    "each column its own colour scale, symmetric about 0",
  ];
  const spec = figureSpec({
    title: { text: "Renormalised variables of the MERA flow", subtitle },
    hconcat: columns,
    spacing: 30,
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
  });
  const notes: Record<string, number> = { scales: levels.length, samples };
  return { name: "rg", spec, notes };
}

function superscript(k: number): string {
  const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹";
  return String(k)
    .split("")
    .map((d) => digits[Number(d)])
    .join("");
}
