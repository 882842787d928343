/**
 * Figure 5: how the flow learned the action, era by era (the notebook's 1×10 strip): for the
 * first training step of each era, the 2-D histogram of S_eff = −log q against S over that
 * step's batch. All panels share the window of the last era, so the early, far-off batches
 * leave their panels nearly empty (the count off the window is printed in each panel) and the
 * cloud settles onto the slope-1 line (dotted, the last era's fit) as training proceeds.
 */
import { actionPanelLayers, actionWindow, slopeOneOffset } from "./action.js";
import { type Figure, figureSpec, fmtNum, histogram2d, VIRIDIS_0 } from "./common.js";

/** One recorded batch: its training step and per-sample log p̃ = −S and log q. */
export interface EraRecord {
  step: number;
  logp: readonly number[];
  logq: readonly number[];
}

export interface EraStripInput {
  eras: readonly EraRecord[];
  /** Steps per era (for the panel titles). */
  eraSteps: number;
  /** At most this many panels, evenly spaced over the recorded eras, first and last included. */
  maxPanels?: number;
  bins?: number;
  size?: number;
}

/** Indices of at most `k` records spread evenly over n, first and last included. */
export function spreadIndices(n: number, k: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  const out = new Set<number>();
  for (let i = 0; i < k; i++) out.add(Math.round((i * (n - 1)) / (k - 1)));
  return [...out];
}

export function eraStripFigure(input: EraStripInput): Figure {
  const eras = [...input.eras].sort((a, b) => a.step - b.step);
  if (eras.length === 0) throw new RangeError("eraStripFigure: no eras recorded");
  const picked = spreadIndices(eras.length, input.maxPanels ?? 10).map((i) => eras[i]!);
  const bins = input.bins ?? 20;
  const size = input.size ?? 118;
  const last = picked[picked.length - 1]!;
  const sEffLast = last.logq.map((q) => -q);
  const sLast = last.logp.map((p) => -p);
  const bLast = slopeOneOffset(sEffLast, sLast);
  const window = actionWindow(sEffLast, sLast, bLast);
  const panels = picked.map((e, k) => {
    const sEff = e.logq.map((q) => -q);
    const s = e.logp.map((p) => -p);
    const h = histogram2d(sEff, s, window.x, window.y, bins);
    const b = slopeOneOffset(sEff, s);
    const era = Math.floor((e.step - 1) / input.eraSteps);
    return {
      title: { text: `Era ${era}`, subtitle: `b = ${fmtNum(b, 2)}`, fontSize: 12, subtitleFontSize: 10 },
      width: size,
      height: size,
      view: { fill: VIRIDIS_0 },
      layer: actionPanelLayers(h.cells, window, bLast, {
        axes: k === 0,
        outside: h.outside ? `${h.outside}/${s.length} off` : undefined,
      }),
    };
  });
  const spec = figureSpec({
    title: {
      text: "Learning the action, era by era: S(x) against S_eff = −log q(x)",
      subtitle:
        `first training step of each era (${input.eraSteps} steps), one batch of ${last.logp.length}; ` +
        `window and dotted slope-1 line (b = ${fmtNum(bLast, 3)}) of the last era shown`,
    },
    hconcat: panels,
    spacing: 8,
    // Each panel its own colour scale (as matplotlib's hist2d): a batch of 64 is sparse.
    resolve: { scale: { color: "independent" } },
  });
  return { name: "eras", spec, notes: { offset: bLast } };
}
