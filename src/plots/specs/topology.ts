/**
 * The topological charge of a U(1) gauge ensemble (2-d): one row like a row of the history
 * figure (history.ts). Left, Q of each configuration against Monte Carlo time (an integer, so a
 * step line: a chain frozen in one sector is a flat line, the known difficulty of local updates
 * near the continuum, arXiv:2003.06413); middle, the fraction of configurations in each sector
 * with the Gaussian e^{−Q²/2⟨Q²⟩} of the measured ⟨Q²⟩ dashed; right, the normalised
 * autocorrelation ρ(t) of Q² up to 2W with τ_int. Where the exact ⟨Q²⟩ is known (2-d periodic
 * lattice, src/theories/u1-exact.ts) it is named in the subtitle (with χ_t = ⟨Q²⟩/V), and
 * ±√⟨Q²⟩_exact are drawn as green dashed guide lines in the left and middle panels (the exact
 * distribution of Q itself is not available, only its second moment).
 */
import { C0, C2, C3, type Figure, figureSpec, fmtErr, fmtNum } from "./common.js";
import { acfPanel, type GammaSummary } from "./history.js";

export interface TopologyInput {
  /** Q per configuration (integers). */
  charge: ArrayLike<number>;
  /** The Γ-method estimate of ⟨Q²⟩. */
  q2: GammaSummary;
  /** Lattice volume V, for χ_t = ⟨Q²⟩/V. */
  volume: number;
  /** The exact ⟨Q²⟩ (U1Measurement.q2_exact); null or absent where unknown. */
  q2Exact?: number | null;
  /** Which chain, for the title, e.g. "u1.npy (hmc)". */
  label: string;
  /** At most this many points are drawn in the history (evenly thinned beyond). */
  maxPoints?: number;
  name?: string;
}

const panelTitle = { fontSize: 12.5, fontWeight: "normal", anchor: "start", frame: "group", offset: 6 };

export function topologyFigure(input: TopologyInput): Figure {
  const n = input.charge.length;
  const maxPoints = input.maxPoints ?? 4000;
  const stride = Math.max(1, Math.ceil(n / maxPoints));
  const values: { i: number; q: number }[] = [];
  let qMin = 0;
  let qMax = 0;
  let changes = 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const q = input.charge[i]!;
    qMin = Math.min(qMin, q);
    qMax = Math.max(qMax, q);
    if (i > 0 && q !== input.charge[i - 1]) changes++;
    counts.set(q, (counts.get(q) ?? 0) + 1);
    if (i % stride === 0) values.push({ i, q });
  }
  const exact = input.q2Exact ?? null;
  const hasExact = exact !== null && Number.isFinite(exact) && exact >= 0;
  const qExact = hasExact ? Math.sqrt(exact) : 0;
  // The sectors seen, at least −1…1, and room for the guides at ±√⟨Q²⟩_exact.
  const reach = Math.ceil(qExact - 0.5);
  const lo = Math.min(qMin, -1, -reach);
  const hi = Math.max(qMax, 1, reach);
  const yDomain = [lo - 0.5, hi + 0.5];
  const yAxis = { format: "d", tickMinStep: 1 };
  const q2 = input.q2;
  const sectors: { lo: number; hi: number; f0: number; f: number }[] = [];
  for (const [q, c] of counts) sectors.push({ lo: q - 0.4, hi: q + 0.4, f0: 0, f: c / n });
  // The Gaussian of the measured ⟨Q²⟩ over the sectors shown, normalised over them.
  const gauss: { q: number; f: number }[] = [];
  if (q2.value > 0) {
    let z = 0;
    for (let q = lo; q <= hi; q++) z += Math.exp((-q * q) / (2 * q2.value));
    for (let q = lo; q <= hi; q++) gauss.push({ q, f: Math.exp((-q * q) / (2 * q2.value)) / z });
  }
  // ±√⟨Q²⟩_exact as horizontal guides on a Q axis (both panels have Q vertical).
  const guides = hasExact
    ? [
        {
          data: { values: [{ q: qExact }, { q: -qExact }] },
          mark: { type: "rule", color: C2, strokeDash: [6, 3], strokeWidth: 1.5 },
          encoding: { y: { field: "q", type: "quantitative" } },
        },
      ]
    : [];
  const fMax = Math.max(...sectors.map((b) => b.f), ...gauss.map((g) => g.f));
  const fDomain = [0, Math.min(1, Math.ceil(10 * fMax + 0.5) / 10)];
  const history = {
    width: 430,
    height: 150,
    title: { text: `Q: changed ${changes} times in ${n} configurations`, ...panelTitle },
    layer: [
      {
        data: { values },
        mark: { type: "line", interpolate: "step-after", strokeWidth: 0.8, color: C0, clip: true },
        encoding: {
          x: {
            field: "i",
            type: "quantitative",
            title: "Monte Carlo time",
            scale: { domain: [0, Math.max(1, n - 1)], nice: false },
            axis: { format: "d" },
          },
          y: {
            field: "q",
            type: "quantitative",
            title: "Q",
            scale: { domain: yDomain, nice: false },
            axis: yAxis,
          },
        },
      },
      ...guides,
    ],
  };
  const histogram = {
    width: 200,
    height: 150,
    title: { text: `⟨Q²⟩ = ${fmtErr(q2.value, q2.error)}`, ...panelTitle },
    layer: [
      {
        data: { values: sectors },
        mark: { type: "rect", color: C0, opacity: 0.8 },
        encoding: {
          x: {
            field: "f0",
            type: "quantitative",
            title: "fraction",
            scale: { domain: fDomain, nice: false },
          },
          x2: { field: "f" },
          y: {
            field: "lo",
            type: "quantitative",
            title: "Q",
            scale: { domain: yDomain, nice: false },
            axis: yAxis,
          },
          y2: { field: "hi" },
        },
      },
      {
        data: { values: gauss },
        mark: {
          type: "line",
          color: C3,
          strokeDash: [5, 3],
          strokeWidth: 1.5,
          point: { size: 14, color: C3 },
        },
        encoding: {
          x: { field: "f", type: "quantitative" },
          y: { field: "q", type: "quantitative" },
          order: { field: "q", type: "quantitative" },
        },
      },
      ...guides,
    ],
  };
  const acf = acfPanel(q2);
  const spec = figureSpec({
    title: {
      text: `Topological charge: ${input.label}`,
      subtitle: [
        `${n} configurations, V = ${input.volume}; Q = (1/2π) Σ_x P_01(x), plaquette angles wrapped into [−π, π)`,
        `χ_t = ⟨Q²⟩/V = ${fmtErr(q2.value / input.volume, q2.error / input.volume)}` +
          (hasExact
            ? `;  exact ⟨Q²⟩ = ${fmtNum(exact, 4)} (green dashed: ±√⟨Q²⟩), χ_t = ${fmtNum(exact / input.volume, 5)}`
            : ""),
        "left: Q of each configuration; middle: fraction per sector, red dashed: Gaussian of the measured ⟨Q²⟩",
        "right: normalised autocorrelation ρ(t) of Q²; dashed: Wolff's automatic window W (S = 1.5)",
      ],
    },
    hconcat: [history, histogram, acf],
    spacing: 30,
  });
  return {
    name: input.name ?? "topology",
    spec,
    notes: { q2: q2.value, chi_top: q2.value / input.volume, q_changes: changes, "tau_int Q²": q2.tauInt },
  };
}
