/**
 * Figure 1: the training history, as the notebook's live plot: ESS (left axis, blue) and the
 * loss (right axis, orange) against the step, every step faint and a moving average (notebook:
 * window 15) solid. The loss axis shows the bulk of the run: the first few steps, whose loss is
 * orders of magnitude above the rest, run off its top (stated in the subtitle). When the exact
 * floor of the loss is known (the relaxed Ising model: −ln Z_x, src/model/references.ts), it is
 * drawn as a dashed line and the loss axis is named for what it is, F_q = E_q[ln q + S].
 */
import { C0, C1, type Figure, figureSpec, fmtNum, movingAverage, niceRange, quantile } from "./common.js";

export interface TrainingPoint {
  step: number;
  loss: number;
  ess: number;
}

export interface TrainingSpecOptions {
  /** Moving-average window in steps (notebook: 15). */
  window?: number;
  title?: string;
  width?: number;
  height?: number;
  /** The exact floor of the loss (−ln ∫ e^{−S}), drawn as a reference line; null/undefined: unknown. */
  lossFloor?: number | null;
}

/** Loss and ESS against step, raw (faint) and moving average, twin y axes. */
export function trainingFigure(points: readonly TrainingPoint[], opts: TrainingSpecOptions = {}): Figure {
  const window = opts.window ?? 15;
  const pts = points.filter((p) => Number.isFinite(p.step));
  const steps = pts.map((p) => p.step);
  const loss = pts.map((p) => p.loss);
  const ess = pts.map((p) => p.ess);
  const finiteLoss = loss.filter(Number.isFinite);
  const lossMa = movingAverage(
    steps.filter((_, i) => Number.isFinite(loss[i])),
    finiteLoss,
    window,
  );
  const essMa = movingAverage(
    steps,
    ess.map((e) => (Number.isFinite(e) ? e : 0)),
    window,
  );

  // Loss axis: from the lowest loss to the 95th percentile, so that the first steps (loss in the
  // thousands for a random flow) do not flatten the part of the run that matters.
  const floor = opts.lossFloor ?? null;
  const hasFloor = floor !== null && Number.isFinite(floor);
  let lo = quantile(finiteLoss, 0);
  if (hasFloor) lo = Number.isFinite(lo) ? Math.min(lo, floor) : floor;
  let hi = quantile(finiteLoss, 0.95);
  const max = quantile(finiteLoss, 1);
  if (!(hi > lo)) {
    hi = max > lo ? max : lo + 1;
  }
  const pad = 0.04 * (hi - lo);
  [lo, hi] = niceRange(lo - pad, hi + pad, 8);
  const clippedSteps = pts.filter((p) => p.loss > hi).map((p) => p.step);
  const lastLoss = lossMa.length ? lossMa[lossMa.length - 1]!.y : Number.NaN;
  const lastEss = essMa.length ? essMa[essMa.length - 1]!.y : Number.NaN;
  const xDomain = [steps.length ? Math.min(0, steps[0]!) : 0, steps.length ? steps[steps.length - 1]! : 1];

  // Off-scale values are clamped just outside the axis (the clip hides them): SVG renderers drop
  // paths with coordinates millions of pixels away.
  const span = hi - lo;
  const clamp = (l: number) => Math.min(hi + span, Math.max(lo - span, l));
  const raw = pts.map((p) => ({
    step: p.step,
    loss: Number.isFinite(p.loss) ? clamp(p.loss) : null,
    ess: p.ess,
  }));
  const lossMaClamped = lossMa.map((p) => ({ x: p.x, y: clamp(p.y) }));
  const x = {
    field: "step",
    type: "quantitative",
    title: "training step",
    scale: { domain: xDomain, nice: false },
    axis: { format: "d" },
  };
  const colour = (name: string) => ({
    datum: name,
    scale: { domain: ["ESS", "loss"], range: [C0, C1] },
    legend: { title: null, orient: "top", direction: "horizontal", symbolType: "stroke", symbolOpacity: 1 },
  });
  const essAxis = { title: "ESS", titleColor: C0, orient: "left", grid: true };
  const lossAxis = {
    title: hasFloor ? "F_q = E_q[ln q + S]" : "loss  = ⟨log q + S⟩  (≥ −log Z)",
    titleColor: C1,
    orient: "right",
    grid: false,
    titleAngle: -90, // read bottom to top, as the ESS axis (matplotlib twinx)
    titleBaseline: "top",
  };
  const subtitle = [
    `faint: every step; solid: moving average over ${window} steps. ` +
      `Last average: loss ${fmtNum(lastLoss, 3)}, ESS ${fmtNum(lastEss, 3)}`,
  ];
  if (hasFloor) {
    subtitle.push(
      `dashed: the exact floor −ln Z_x = ${fmtNum(floor, 3)}; the last average is ${fmtNum(lastLoss - floor, 3)} above it`,
    );
  }
  if (clippedSteps.length > 0) {
    const last = clippedSteps[clippedSteps.length - 1]!;
    subtitle.push(
      `off the loss scale (above ${fmtNum(hi, 1)}): ${clippedSteps.length} step${clippedSteps.length > 1 ? "s" : ""}, ` +
        `the last at step ${last}`,
    );
  }

  const spec = figureSpec({
    title: { text: opts.title ?? "Training: loss and effective sample size", subtitle },
    width: opts.width ?? 560,
    height: opts.height ?? 300,
    layer: [
      {
        layer: [
          {
            data: { values: raw },
            mark: { type: "line", strokeWidth: 0.8, opacity: 0.28, clip: true },
            encoding: {
              x,
              y: { field: "ess", type: "quantitative", scale: { domain: [0, 1] }, axis: essAxis },
              color: colour("ESS"),
            },
          },
          {
            data: { values: essMa },
            mark: { type: "line", strokeWidth: 2, clip: true },
            encoding: {
              x: { ...x, field: "x" },
              y: { field: "y", type: "quantitative", scale: { domain: [0, 1] }, axis: essAxis },
              color: colour("ESS"),
            },
          },
        ],
      },
      {
        layer: [
          {
            data: { values: raw },
            mark: { type: "line", strokeWidth: 0.8, opacity: 0.28, clip: true },
            encoding: {
              x,
              y: {
                field: "loss",
                type: "quantitative",
                scale: { domain: [lo, hi], nice: false, zero: false },
                axis: lossAxis,
              },
              color: colour("loss"),
            },
          },
          {
            data: { values: lossMaClamped },
            mark: { type: "line", strokeWidth: 2, clip: true },
            encoding: {
              x: { ...x, field: "x" },
              y: {
                field: "y",
                type: "quantitative",
                scale: { domain: [lo, hi], nice: false, zero: false },
                axis: lossAxis,
              },
              color: colour("loss"),
            },
          },
          ...(hasFloor ? floorLayers(floor, xDomain[1]!, [lo, hi], lossAxis) : []),
        ],
      },
    ],
    resolve: { scale: { y: "independent" } },
  });
  return { name: "training", spec, notes: { loss: lastLoss, ess: lastEss } };
}

/** The exact floor of the loss: a dashed rule across the plot and its label at the right end. */
function floorLayers(
  floor: number,
  xEnd: number,
  domain: readonly [number, number],
  lossAxis: Record<string, unknown>,
): Record<string, unknown>[] {
  const y = {
    field: "floor",
    type: "quantitative",
    scale: { domain, nice: false, zero: false },
    axis: lossAxis,
  };
  const data = { values: [{ floor, step: xEnd }] };
  return [
    {
      data,
      mark: { type: "rule", color: "#333", strokeDash: [5, 3], strokeWidth: 1.2, clip: true },
      encoding: { y },
    },
    {
      data,
      mark: {
        type: "text",
        text: "exact −ln Z_x (floor of F_q)",
        align: "right",
        baseline: "bottom",
        dx: -4,
        dy: -3,
        fontSize: 11,
        color: "#333",
      },
      encoding: { x: { field: "step", type: "quantitative" }, y },
    },
  ];
}
