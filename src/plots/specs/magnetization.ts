/**
 * Figure 8: the distribution of the magnetisation M = Σ_x φ(x) over an ensemble. In the
 * symmetric phase it is one peak at 0; in the broken phase two peaks at ±V·v, and a chain that
 * samples both (flow MH tunnels freely) keeps them equally high: the Z₂ symmetry is respected.
 */
import { C0, type Figure, figureSpec, fmtErr, fmtNum, histogram1d, niceRange, quantile } from "./common.js";

export interface MagnetizationInput {
  /** M per configuration. */
  m: ArrayLike<number>;
  volume: number;
  label: string;
  /** Γ-method error of ⟨M⟩ (Monte Carlo chains are autocorrelated), if known. */
  meanError?: number;
  bins?: number;
  name?: string;
}

export function magnetizationFigure(input: MagnetizationInput): Figure {
  const bins = input.bins ?? 60;
  const absMax = Math.max(quantile(Array.from(input.m, Math.abs), 1), 1e-9);
  const [, R] = niceRange(-absMax, absMax, 10);
  const h = histogram1d(input.m, [-R, R], bins);
  const n = input.m.length;
  const width = (2 * R) / bins;
  const density = h.map((b) => ({ ...b, d: b.count / (n * width) }));
  let pos = 0;
  let mean = 0;
  for (let i = 0; i < n; i++) {
    pos += input.m[i]! > 0 ? 1 : 0;
    mean += input.m[i]!;
  }
  mean /= n;
  // A chain stuck in one well of the broken phase (or a flow collapsed onto one sign) misses
  // half of the Z₂-symmetric distribution: draw the mirror image M → −M where it would be.
  const err = input.meanError;
  const oneSided =
    err !== undefined &&
    Number.isFinite(err) &&
    Math.abs(mean) > 5 * err &&
    Math.min(pos, n - pos) < 0.02 * n;
  const mirror = density.map((b, i) => ({ ...density[bins - 1 - i]!, x0: b.x0, x1: b.x1 }));
  const subtitle = [
    `${n} configurations, V = ${input.volume}; ⟨M⟩ = ${err === undefined ? fmtNum(mean, 2) : fmtErr(mean, err)}, ` +
      `fraction with M > 0: ${fmtNum(pos / n, 3)}`,
  ];
  if (oneSided) {
    subtitle.push("only one sign of M sampled: dashed, the mirror image M → −M that Z₂ symmetry requires");
  }
  const x = {
    field: "x0",
    type: "quantitative",
    title: "M = Σ_x φ(x)",
    scale: { domain: [-R, R], nice: false },
  };
  const layers: Record<string, unknown>[] = [
    {
      data: { values: density },
      mark: { type: "rect", color: C0, stroke: "white", strokeWidth: 0.5 },
      encoding: {
        x,
        x2: { field: "x1" },
        y: { field: "d", type: "quantitative", title: "probability density" },
        y2: { datum: 0 },
      },
    },
  ];
  if (oneSided) {
    layers.push({
      data: { values: mirror.filter((b) => b.count > 0) },
      mark: { type: "rect", fillOpacity: 0, stroke: "#444", strokeDash: [4, 3], strokeWidth: 1.2 },
      encoding: { x, x2: { field: "x1" }, y: { field: "d", type: "quantitative" }, y2: { datum: 0 } },
    });
  }
  const spec = figureSpec({
    title: { text: `Magnetisation histogram: ${input.label}`, subtitle },
    width: 480,
    height: 260,
    layer: layers,
  });
  return { name: input.name ?? "magnetization", spec, notes: { mean_M: mean } };
}
