/**
 * The histogram of the importance log-weights log w = −S(x) − log q(x) of draws x ~ q: how far
 * the flow is from e^{−S}/Z. A perfect flow puts every draw at log w = ln Z (one spike); the
 * wider the histogram, the lower the effective sample size, and the few draws of the upper tail
 * carry the reweighted averages. Marked: the mean ⟨log w⟩ = −F_q (the reverse-KL loss, a lower
 * bound on ln Z), ln Ẑ = ln⟨w⟩ (the importance-sampling estimate of ln Z) and, where known, the
 * exact ln Z.
 */
import { exp, log } from "../../math/index.js";
import { C0, C3, type Figure, figureSpec, fmtNum, histogram1d, niceRange, quantile } from "./common.js";

export interface LogWeightInput {
  /** log w = log p̃ − log q = −S − log q of each draw. */
  logw: ArrayLike<number>;
  /** Whose draws, for the subtitle, e.g. "1024 flow samples x ~ q". */
  label?: string;
  /** The exact ln Z where known (−lossFloor), drawn as a dotted line. */
  lnZ?: number | null;
  bins?: number;
  width?: number;
  height?: number;
  name?: string;
}

/** The numbers the figure shows: over the finite log w. */
export interface LogWeightSummary {
  /** Draws with a finite log w. */
  n: number;
  /** ⟨log w⟩ = −F_q on these draws. */
  mean: number;
  /** Standard deviation of log w. */
  std: number;
  /** ln Ẑ = ln ⟨w⟩ (log-sum-exp, stable). */
  lnZHat: number;
  /** (Σw)² / (n Σw²), in (0, 1]. */
  ess: number;
}

export function logWeightSummary(logw: ArrayLike<number>): LogWeightSummary {
  const v = Array.from(logw).filter(Number.isFinite);
  const n = v.length;
  if (n === 0) return { n, mean: Number.NaN, std: Number.NaN, lnZHat: Number.NaN, ess: Number.NaN };
  let max = -Infinity;
  let sum = 0;
  for (const x of v) {
    max = Math.max(max, x);
    sum += x;
  }
  const mean = sum / n;
  let s1 = 0;
  let s2 = 0;
  let sq = 0;
  for (const x of v) {
    const e = exp(x - max);
    s1 += e;
    s2 += e * e;
    sq += (x - mean) * (x - mean);
  }
  return { n, mean, std: Math.sqrt(sq / n), lnZHat: max + log(s1 / n), ess: (s1 * s1) / (n * s2) };
}

export function logWeightFigure(input: LogWeightInput): Figure {
  const bins = input.bins ?? 40;
  const sum = logWeightSummary(input.logw);
  const lnZ = input.lnZ ?? null;
  const hasExact = lnZ !== null && Number.isFinite(lnZ);
  // The bulk and the whole upper tail (the draws that carry the weight); the far lower tail,
  // draws of negligible weight, may fall off the left edge (counted in the subtitle).
  let lo = quantile(input.logw, 0.005);
  let hi = quantile(input.logw, 1);
  for (const x of [sum.lnZHat, hasExact ? lnZ : Number.NaN]) {
    if (Number.isFinite(x)) {
      lo = Number.isFinite(lo) ? Math.min(lo, x) : x;
      hi = Number.isFinite(hi) ? Math.max(hi, x) : x;
    }
  }
  if (!(hi > lo)) [lo, hi] = Number.isFinite(lo) ? [lo - 1, lo + 1] : [-1, 1];
  const pad = 0.03 * (hi - lo);
  const [x0, x1] = niceRange(lo - pad, hi + pad, 10);
  const h = histogram1d(input.logw, [x0, x1], bins);
  let inside = 0;
  for (const b of h) inside += b.count;
  const below = sum.n - inside;
  const x = {
    field: "x0",
    type: "quantitative",
    title: "log w = −S(x) − log q(x)",
    scale: { domain: [x0, x1], nice: false, zero: false },
  };
  const marks = [
    { at: sum.mean, what: "⟨log w⟩ = −F_q", colour: "#333", dash: [5, 3] },
    { at: sum.lnZHat, what: "ln Ẑ = ln⟨w⟩", colour: C3, dash: [] as number[] },
    ...(hasExact ? [{ at: lnZ, what: "exact ln Z", colour: "#000", dash: [1.5, 2.5] }] : []),
  ].filter((m) => Number.isFinite(m.at));
  const layers: Record<string, unknown>[] = [
    {
      data: { values: h.filter((b) => b.count > 0) },
      mark: { type: "rect", color: C0, stroke: "white", strokeWidth: 0.5 },
      encoding: {
        x,
        x2: { field: "x1" },
        y: { field: "count", type: "quantitative", title: "draws" },
        y2: { datum: 0 },
      },
    },
    ...marks.map((m) => ({
      data: { values: [{ at: m.at, what: m.what }] },
      mark: { type: "rule", color: m.colour, strokeDash: m.dash, strokeWidth: 1.6 },
      encoding: { x: { field: "at", type: "quantitative" } },
    })),
  ];
  const label = input.label ?? `${sum.n} draws x ~ q`;
  const subtitle = [
    `${label}; ESS ${fmtNum(sum.ess, 3)}, σ(log w) ${fmtNum(sum.std, 3)}` +
      (below > 0 ? `; ${below} below the left edge` : ""),
    `dashed: ⟨log w⟩ = −F_q = ${fmtNum(sum.mean, 3)}; red: ln Ẑ = ln⟨w⟩ = ${fmtNum(sum.lnZHat, 3)}` +
      (hasExact ? `; dotted: exact ln Z = ${fmtNum(lnZ, 3)}` : ""),
    "a perfect flow puts every draw at ln Z",
  ];
  const spec = figureSpec({
    title: { text: "Importance log-weights", subtitle },
    width: input.width ?? 420,
    height: input.height ?? 220,
    layer: layers,
  });
  return {
    name: input.name ?? "log-weights",
    spec,
    notes: { mean: sum.mean, std: sum.std, lnZHat: sum.lnZHat, ess: sum.ess },
  };
}
