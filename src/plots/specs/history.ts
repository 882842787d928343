/**
 * Figure 6: Monte Carlo histories and their autocorrelation. One row per observable: left, the
 * value of each configuration against Monte Carlo time with the mean (red) and its Γ-method
 * error band; right, the normalised autocorrelation ρ(t) = Γ(t)/Γ(0) (U. Wolff, hep-lat/0306017)
 * up to 2W, with the automatic summation window W dashed and τ_int in the panel title.
 * A flow Metropolis–Hastings chain repeats a configuration on every rejection, which is where
 * its autocorrelation comes from.
 */
import { C0, C2, C3, type Figure, figureSpec, fmtErr, fmtNum } from "./common.js";

/** The Γ-method result of one observable (src/analysis/gamma.ts, src/observables/measure.ts). */
export interface GammaSummary {
  value: number;
  error: number;
  tauInt: number;
  tauIntError: number;
  /** ρ(t), t = 0..min(2W, N/2). */
  gamma: ArrayLike<number>;
  window: number;
}

export interface HistoryRow {
  /** Axis title, e.g. "|M|/V". */
  label: string;
  series: ArrayLike<number>;
  estimate: GammaSummary;
  /** A known value drawn as a dashed green line and named in the title, e.g. an exact result. */
  reference?: { value: number; label: string };
}

export interface HistoryInput {
  rows: readonly HistoryRow[];
  /** Which chain, for the title, e.g. "ensemble.npy (flow MH)". */
  label: string;
  /** At most this many points are drawn per history (evenly thinned beyond). */
  maxPoints?: number;
  name?: string;
}

// Titles placed relative to the plot frame, so the two panels of a row line up.
const panelTitle = { fontSize: 12.5, fontWeight: "normal", anchor: "start", frame: "group", offset: 6 };

export function historyFigure(input: HistoryInput): Figure {
  const maxPoints = input.maxPoints ?? 4000;
  const rows = input.rows.map((r) => {
    const n = r.series.length;
    const stride = Math.max(1, Math.ceil(n / maxPoints));
    const values: { i: number; v: number }[] = [];
    for (let i = 0; i < n; i += stride) values.push({ i, v: r.series[i]! });
    const e = r.estimate;
    const history = {
      width: 430,
      height: 130,
      title: {
        text: `${r.label} = ${fmtErr(e.value, e.error)}${r.reference ? `;  ${r.reference.label} ${fmtNum(r.reference.value, 5)}` : ""}`,
        ...panelTitle,
      },
      layer: [
        {
          data: { values },
          mark: { type: "line", strokeWidth: 0.6, color: C0, clip: true },
          encoding: {
            x: {
              field: "i",
              type: "quantitative",
              title: "Monte Carlo time",
              scale: { domain: [0, n - 1], nice: false },
              axis: { format: "d" },
            },
            y: { field: "v", type: "quantitative", title: r.label, scale: { zero: false } },
          },
        },
        {
          data: { values: [{ lo: e.value - e.error, hi: e.value + e.error, m: e.value }] },
          layer: [
            {
              mark: { type: "rect", color: C3, opacity: 0.25 },
              encoding: { y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
            },
            {
              mark: { type: "rule", color: C3, strokeWidth: 1.4 },
              encoding: { y: { field: "m", type: "quantitative" } },
            },
          ],
        },
        ...(r.reference
          ? [
              {
                data: { values: [{ y: r.reference.value }] },
                mark: { type: "rule", color: C2, strokeDash: [6, 3], strokeWidth: 1.6 },
                encoding: { y: { field: "y", type: "quantitative" } },
              },
            ]
          : []),
      ],
    };
    const acf = acfPanel(e);
    return { hconcat: [history, acf], spacing: 30 };
  });
  const n = input.rows[0]?.series.length ?? 0;
  const spec = figureSpec({
    title: {
      text: `Monte Carlo history and autocorrelation: ${input.label}`,
      subtitle: [
        `${n} configurations; left: each configuration, red: mean ± Γ-method error`,
        "right: normalised autocorrelation ρ(t) = Γ(t)/Γ(0); dashed: Wolff's automatic window W (S = 1.5)",
      ],
    },
    vconcat: rows,
    spacing: 18,
  });
  const notes: Record<string, number> = {};
  for (const r of input.rows) notes[`tau_int ${r.label}`] = r.estimate.tauInt;
  return { name: input.name ?? "history", spec, notes };
}

/**
 * The right-hand panel of a history row: ρ(t) of a Γ-method estimate up to 2W, the window W
 * dashed, τ_int in the title (also used by the topological-charge figure).
 */
export function acfPanel(e: GammaSummary): Record<string, unknown> {
  const gamma = Array.from(e.gamma, (g, t) => ({ t, g }));
  return {
    width: 220,
    height: 130,
    title: { text: `τ_int = ${fmtErr(e.tauInt, e.tauIntError)},  W = ${e.window}`, ...panelTitle },
    layer: [
      {
        data: { values: gamma },
        mark: { type: "line", color: C0, point: gamma.length <= 60 ? { size: 16, color: C0 } : false },
        encoding: {
          x: {
            field: "t",
            type: "quantitative",
            title: "t",
            scale: { domain: [0, Math.max(1, gamma.length - 1)], nice: false },
            axis: { format: "d", tickMinStep: 1 },
          },
          y: {
            field: "g",
            type: "quantitative",
            title: "ρ(t)",
            scale: { domain: [Math.min(-0.1, ...gamma.map((p) => p.g)), 1.05] },
          },
        },
      },
      {
        data: { values: [{ y: 0 }] },
        mark: { type: "rule", color: "#777", strokeWidth: 1 },
        encoding: { y: { field: "y", type: "quantitative" } },
      },
      {
        data: { values: [{ W: e.window, label: `W = ${e.window}` }] },
        layer: [
          {
            mark: { type: "rule", color: C3, strokeDash: [5, 3], strokeWidth: 1.5 },
            encoding: { x: { field: "W", type: "quantitative" } },
          },
          {
            mark: { type: "text", color: C3, align: "left", dx: 4, y: 8, fontSize: 11 },
            encoding: { x: { field: "W", type: "quantitative" }, text: { field: "label" } },
          },
        ],
      },
    ],
  };
}
