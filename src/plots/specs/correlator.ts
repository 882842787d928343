/**
 * Figure 7: the connected zero-momentum correlator C(t) (log scale when it is positive
 * throughout) and the effective mass m_eff(t) = arccosh[(C(t+1) + C(t−1))/(2C(t))], both with
 * Γ-method error bars (docs/physics.md). Points where m_eff is undefined (noise) are left out
 * and counted in the subtitle.
 */
import { C0, C3, type Figure, figureSpec, fmtErr } from "./common.js";

export interface TimePointLike {
  t: number;
  value: number;
  error: number;
}

export interface CorrelatorInput {
  correlator: readonly TimePointLike[];
  mEff: readonly TimePointLike[];
  /** Which ensemble, for the title. */
  label: string;
  name?: string;
}

function points(ps: readonly TimePointLike[]) {
  return ps
    .filter((p) => Number.isFinite(p.value))
    .map((p) => {
      const err = Number.isFinite(p.error) ? p.error : 0;
      return { t: p.t, v: p.value, lo: p.value - err, hi: p.value + err };
    });
}

function errorPanel(
  data: ReturnType<typeof points>,
  opts: {
    title: string;
    yTitle: string;
    colour: string;
    log: boolean;
    tMin: number;
    tMax: number;
    zero?: boolean;
  },
): Record<string, unknown> {
  const x = {
    field: "t",
    type: "quantitative",
    title: "t",
    scale: { domain: [opts.tMin - 0.5, opts.tMax + 0.5], nice: false },
    axis: { format: "d", values: Array.from({ length: opts.tMax - opts.tMin + 1 }, (_, t) => opts.tMin + t) },
  };
  const scale = opts.log ? { type: "log" } : { zero: false };
  return {
    width: 300,
    height: 240,
    title: { text: opts.title, fontSize: 13, fontWeight: "normal" },
    data: { values: data },
    layer: [
      ...(opts.zero
        ? [
            {
              data: { values: [{ z: 0 }] },
              mark: { type: "rule", color: "#777" },
              encoding: { y: { field: "z", type: "quantitative" } },
            },
          ]
        : []),
      {
        mark: { type: "rule", color: opts.colour, strokeWidth: 1.5 },
        encoding: {
          x,
          y: { field: "lo", type: "quantitative", scale, title: opts.yTitle },
          y2: { field: "hi" },
        },
      },
      {
        mark: { type: "tick", color: opts.colour, orient: "horizontal", size: 8, thickness: 1.5 },
        encoding: { x, y: { field: "lo", type: "quantitative", scale } },
      },
      {
        mark: { type: "tick", color: opts.colour, orient: "horizontal", size: 8, thickness: 1.5 },
        encoding: { x, y: { field: "hi", type: "quantitative", scale } },
      },
      {
        mark: { type: "point", filled: true, size: 40, color: opts.colour },
        encoding: { x, y: { field: "v", type: "quantitative", scale } },
      },
    ],
  };
}

export function correlatorFigure(input: CorrelatorInput): Figure {
  const c = points(input.correlator);
  // Log scale needs every bar inside (0, ∞); otherwise linear.
  const log = c.length > 0 && c.every((p) => p.lo > 0);
  const m = points(input.mEff);
  const T = input.correlator.length;
  const dropped = input.mEff.length - m.length;
  const left = errorPanel(c, {
    title: "connected correlator",
    yTitle: "C(t)",
    colour: C0,
    log,
    tMin: 0,
    tMax: Math.max(1, T - 1),
    zero: !log,
  });
  const right = errorPanel(m, {
    title: "effective mass",
    yTitle: "m_eff(t)",
    colour: C3,
    log: false,
    tMin: Math.min(1, ...input.mEff.map((p) => p.t)),
    tMax: Math.max(1, ...input.mEff.map((p) => p.t)),
  });
  const mid = input.mEff.find((p) => p.t === Math.floor(T / 4)) ?? input.mEff[0];
  const subtitle = [
    `C(t): connected zero-momentum correlator, time = dimension 0 (T = ${T}); Γ-method error bars`,
    "m_eff(t) = arccosh[(C(t+1) + C(t−1)) / 2C(t)]",
  ];
  const notes = [];
  if (mid && Number.isFinite(mid.value)) notes.push(`m_eff(${mid.t}) = ${fmtErr(mid.value, mid.error)}`);
  if (dropped > 0) notes.push(`${dropped} m_eff point${dropped > 1 ? "s" : ""} undefined (noise), not shown`);
  if (notes.length) subtitle[1] += `;  ${notes.join("; ")}`;
  const spec = figureSpec({
    title: { text: `Correlator and effective mass: ${input.label}`, subtitle },
    hconcat: [left, right],
    spacing: 40,
  });
  const numbers: Record<string, number> = {};
  if (mid) numbers[`m_eff(${mid.t})`] = mid.value;
  return { name: input.name ?? "correlator", spec, notes: numbers };
}
