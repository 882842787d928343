/**
 * `latticeflow report --run DIR`: DIR/report.html, one self-contained page about a run: the
 * configuration, a training summary, the measurements of each ensemble (Γ-method errors and
 * τ_int; each ensemble's theory from its TheorySpec, φ⁴ or U(1)) and every figure of
 * `latticeflow plot`, embedded as SVG (no external files, works offline, sharp at any zoom).
 * `latticeflow report ENSEMBLE.npy ...` does the same for ensemble files alone (report.html next
 * to the first). The output path is checked first (a writable directory; an existing report is
 * replaced only with --force), then everything is computed, then the page is written atomically.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { checkOutputFiles, writeFileAtomic } from "../io/files.js";
import { describeFlow, describeTheory, type RunConfig } from "../model/index.js";
import { renderSvg } from "../plots/render.js";
import { fmtErr } from "../plots/specs/common.js";
import { printJson } from "./args.js";
import { UsageError } from "./errors.js";
import { INIT_FROM_FILE } from "./init-from.js";
import { type EnsembleReport, isingDeviations, plaquetteDeviation, u1Deviations } from "./measure-command.js";
import { collectRunFigures, type PlotOptions, plotOptions, withPlotOptions } from "./plot-command.js";
import { readConfig, readMetrics } from "./run-dir.js";

function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

function table(head: string[], rows: string[][], cls = ""): string {
  const th = head.map((h) => `<th>${h}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("\n");
  return `<table class="${cls}"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function num(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return (Number.isInteger(x) ? String(x) : x.toFixed(digits)).replace(/^-/, "−");
}

/** Labels of the configuration table, by the setting's path in the nested RunConfig. */
const CONFIG_LABELS: Record<string, string> = {
  "theory.kind": "theory",
  "theory.latticeShape": "lattice",
  "theory.m2": "m²",
  "theory.lam": "λ",
  "theory.beta": "β",
  "flow.kind": "flow",
  "flow.layers": "coupling layers",
  "flow.hidden": "hidden widths per conditioner",
  "flow.kernel": "kernel size",
  "flow.partition": "partition",
  "flow.identityInit": "identity initialisation",
  "train.batch": "batch",
  "train.batchGrowthEvery": "batch doubles every (steps)",
  "train.batchMax": "largest batch",
  "train.steps": "training steps",
  "train.lr": "Adam learning rate",
  "train.lrSchedule": "learning-rate schedule",
  "train.lrDecayEvery": "learning rate drops every (steps)",
  "train.lrWarmup": "learning rate warm-up (steps)",
  "train.lrDecayFactor": "factor of each learning-rate drop",
  "train.beta1": "Adam β₁",
  "train.beta2": "Adam β₂",
  "train.clipNorm": "gradient-norm clip",
  "train.weightDecay": "Adam weight decay (L2, torch semantics)",
  "train.nllWeight": "δ, weight of the NLL of flow-MH samples (NeuralRG)",
  "train.klWeight": "ω, weight of the reverse KL (NeuralRG)",
  "train.chainHmc": "HMC trajectories per MH chain and step",
  "train.gradientEstimator": "gradient estimator of the reverse KL",
  "train.seed": "seed",
  "train.dtype": "dtype",
  "train.checkpointEvery": "checkpoint every (steps)",
  "train.threads": "threads",
};

/** " Its training started from …" for a run trained with --init-from (its init_from.json). */
function initFromText(run: string | undefined): string {
  const path = run === undefined ? undefined : join(run, INIT_FROM_FILE);
  if (path === undefined || !existsSync(path)) return "";
  try {
    const r = JSON.parse(readFileSync(path, "utf8")) as { run?: unknown; checkpoint_step?: unknown };
    return ` Its training started from the weights of run <code>${esc(String(r.run))}</code> (its step ${esc(String(r.checkpoint_step))}).`;
  } catch {
    return "";
  }
}

function configTable(config: RunConfig): string {
  const rows: string[][] = [];
  for (const [section, fields] of Object.entries(config)) {
    for (const [k, v] of Object.entries(fields as Record<string, unknown>)) {
      const path = `${section}.${k}`;
      const label = CONFIG_LABELS[path] ?? path;
      const text =
        v === null ? "off" : Array.isArray(v) ? v.join(k === "latticeShape" ? " × " : ", ") : String(v);
      rows.push([esc(label), `<code>${esc(text)}</code>`]);
    }
  }
  return table(["setting", "value"], rows, "kv");
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The mixed objective's rows (runs trained with --nll-weight): its NLL term and the chains' acceptance. */
function mhRows(last: readonly { nll?: number; mhAcceptance?: number }[]): string[][] {
  const nll = last.map((r) => r.nll).filter((x): x is number => typeof x === "number");
  const acc = last.map((r) => r.mhAcceptance).filter((x): x is number => typeof x === "number");
  const rows: string[][] = [];
  if (nll.length > 0)
    rows.push([`NLL of the buffer draws, mean of the last ${nll.length} steps`, num(mean(nll))]);
  if (acc.length > 0)
    rows.push([`MH acceptance of the training chains, mean of the last ${acc.length} steps`, num(mean(acc))]);
  return rows;
}

function trainingTable(run: string, offset: number): string {
  const m = readMetrics(run);
  if (m.length === 0) return "<p>No training metrics yet.</p>";
  const last = m.slice(-100);
  const rejected = m.filter((r) => r.accepted === false).length;
  const seconds = m[m.length - 1]!.seconds;
  const rows: string[][] = [
    ["steps trained", num(m[m.length - 1]!.step)],
    [`loss, mean of the last ${last.length} steps (≥ −log Z)`, num(mean(last.map((r) => r.loss)))],
    [`ESS, mean of the last ${last.length} steps`, num(mean(last.map((r) => r.ess)))],
    ["slope-1 offset b of S against S<sub>eff</sub> (flow samples)", num(offset)],
    ...mhRows(last),
    ["rejected steps (non-finite loss or gradient)", num(rejected)],
    [
      "training time",
      seconds !== null && Number.isFinite(seconds)
        ? `${num(seconds, 1)} s (${num((1000 * seconds) / m.length, 1)} ms/step)`
        : "–",
    ],
  ];
  return table(["quantity", "value"], rows, "kv");
}

/** The observables of a report's table, by their `measure --json` names, with HTML labels. */
const OBSERVABLE_LABELS: Record<string, string> = {
  abs_m: "⟨|M|⟩/V",
  chi2: "χ₂ = ⟨M²⟩/V",
  chi2_connected: "χ₂ connected = (⟨M²⟩ − ⟨M⟩²)/V",
  phi2: "⟨φ²⟩",
  phi4: "⟨φ⁴⟩",
  binder: "Binder cumulant U",
  action_density: "⟨S⟩/V",
  plaquette: "plaquette ⟨cos P⟩",
  q: "⟨Q⟩",
  q2: "⟨Q²⟩",
  chi_top: "χ<sub>t</sub> = ⟨Q²⟩/V",
  m: "⟨m⟩",
  abs_m_spin: "⟨|m|⟩",
  m2: "⟨m²⟩",
  energy: "energy per site",
  specific_heat: "specific heat per site",
};

interface Row {
  label: string;
  estimate: { value: number; error: number; tauInt: number; tauIntError: number; window: number } | null;
}

/** The rows of an ensemble's table, in order, as its kind has them. */
function observableRows(r: EnsembleReport): Row[] {
  const row = (k: string, g: Row["estimate"]) => ({ label: OBSERVABLE_LABELS[k]!, estimate: g });
  switch (r.kind) {
    case "scalar": {
      const m = r.m;
      return (["abs_m", "chi2", "chi2_connected", "phi2", "phi4", "binder", "action_density"] as const).map(
        (k) => row(k, m[k]),
      );
    }
    case "u1": {
      const m = r.m;
      return (["plaquette", "q", "q2", "chi_top"] as const).map((k) => row(k, m[k]));
    }
    case "ising": {
      const m = r.m;
      return (["abs_m", "m2", "binder", "energy", "specific_heat"] as const).map((k) =>
        row(k === "abs_m" ? "abs_m_spin" : k, m[k]),
      );
    }
  }
}

function ensembleSection(r: EnsembleReport): string {
  const e = r.ensemble;
  const sidecar = e.sidecar ?? {};
  const acceptance = typeof sidecar.acceptance === "number" ? sidecar.acceptance : null;
  const facts: (string | null)[] = [
    e.theory
      ? `theory <code>${esc(describeTheory(e.theory))}</code>`
      : `lattice ${esc(e.configShape.join(" × "))}, theory unknown`,
    `${e.n} configurations`,
    e.sampler ? `sampler <code>${esc(e.sampler)}</code>` : null,
    acceptance !== null
      ? `MH acceptance ${num(acceptance, 3)}${e.localHmc ? " (flow proposals)" : ""}`
      : null,
    e.localHmc
      ? `${e.localHmc.trajectories} local HMC trajectories per step, acceptance ${num(e.localHmc.acceptance, 3)}`
      : null,
    e.seconds !== null ? `${num(e.seconds, 1)} s` : null,
  ];
  let notes = "";
  const extra: string[][] = [];
  switch (r.kind) {
    case "scalar": {
      let signChanges = 0;
      const mag = r.m.magnetization;
      for (let i = 1; i < mag.length; i++) if (Math.sign(mag[i]!) !== Math.sign(mag[i - 1]!)) signChanges++;
      facts.push(`M changed sign ${signChanges} times`);
      if (signChanges === 0 && Math.abs(r.m.abs_m.value) > 10 * r.m.abs_m.error) {
        notes =
          '<p class="warn">M never changed sign: the chain sampled one Z₂ sector only. Z₂-even observables ' +
          "(⟨|M|⟩, χ₂, ⟨φ²⟩, …) are unaffected; ⟨M⟩ and anything odd in φ are not those of the symmetric theory.</p>";
      }
      for (const p of r.m.m_eff) {
        extra.push([`m<sub>eff</sub>(${p.t})`, fmtErr(p.value, p.error), num(p.tauInt, 2), ""]);
      }
      break;
    }
    case "u1": {
      if (r.m.q_changes !== null) facts.push(`Q changed ${r.m.q_changes} times`);
      for (const w of r.m.wilson_loops)
        extra.push([
          `Wilson loop W(${w.r}×${w.t})`,
          fmtErr(w.estimate.value, w.estimate.error),
          fmtErr(w.estimate.tauInt, w.estimate.tauIntError),
          String(w.estimate.window),
        ]);
      const d = plaquetteDeviation(r);
      if (d) {
        extra.push([
          "plaquette, exact (2-d, periodic)",
          num(d.exact, 6),
          "",
          `${num(d.nSigma, 2)} σ from the measured value`,
        ]);
      }
      for (const e of u1Deviations(r)) {
        if (e.name === "plaquette") continue;
        const label = e.name.startsWith("wilson_")
          ? `Wilson loop ${e.label.replace("x", "×")}`
          : OBSERVABLE_LABELS[e.name]!;
        extra.push([
          `${label}, exact (2-d, periodic)`,
          num(e.exact, e.name === "chi_top" ? 8 : 6),
          "",
          `${num(e.nSigma, 2)} σ from the measured value`,
        ]);
      }
      if (r.m.q_changes === 0) {
        notes =
          '<p class="warn">Q never changed: the chain stayed in one topological sector, so ⟨Q²⟩ and χ<sub>t</sub> ' +
          "are not those of the theory (topological freezing).</p>";
      }
      break;
    }
    case "ising": {
      facts.push(r.m.estimator === "spins" ? "spins" : "relaxed x: improved estimators");
      for (const d of isingDeviations(r))
        extra.push([
          `${OBSERVABLE_LABELS[d.name === "abs_m" ? "abs_m_spin" : d.name] ?? d.name}, exact`,
          num(d.exact, 6),
          "",
          `${num(d.nSigma, 2)} σ from the measured value`,
        ]);
      break;
    }
  }
  const rows: string[][] = [];
  for (const { label, estimate: g } of observableRows(r)) {
    if (!g) continue;
    rows.push([label, fmtErr(g.value, g.error), fmtErr(g.tauInt, g.tauIntError), String(g.window)]);
  }
  rows.push(...extra);
  if (r.rejection) {
    rows.push([
      "acceptance-run τ<sub>int</sub> (MH)",
      "",
      fmtErr(r.rejection.tauInt, r.rejection.tauIntError),
      "",
    ]);
  }
  return (
    `<h3><code>${esc(basename(e.path))}</code></h3><p>${facts.filter((x) => x !== null).join(", ")}.</p>${notes}` +
    table(["observable", "value(error)", "τ<sub>int</sub>", "W"], rows, "obs")
  );
}

const STYLE = `
body { font-family: "DejaVu Sans", Verdana, Helvetica, Arial, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #111; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.95em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25em 0.9em; text-align: left; }
table.obs td:nth-child(n+2) { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } .muted { color: #666; }
.warn { background: #fff4e5; border-left: 4px solid #ff7f0e; padding: 0.4em 0.8em; }
`;

export interface ReportOptions extends PlotOptions {
  out?: string;
  /** Replace an existing report (otherwise refused, naming --force). */
  force?: boolean;
}

export function runReport(opts: ReportOptions): { out: string; figures: number; seconds: number } {
  const t0 = performance.now();
  const first = opts.files?.[0];
  const out = opts.out ?? join(opts.run ?? (first !== undefined ? dirname(first) : "."), "report.html");
  if (!out.endsWith(".html")) throw new UsageError(`--out must name an .html file, got '${out}'`);
  // Before the work: a run that is not one is the first thing to say; then where the page goes.
  if (opts.run !== undefined) readConfig(opts.run);
  if (opts.out !== undefined || existsSync(dirname(out))) checkOutputFiles([out], { force: opts.force });
  const all = collectRunFigures(opts);
  const figures = all.figures.map((f) => {
    const svg = renderSvg(f.spec);
    const src = `data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}`;
    return `<figure id="${esc(f.name)}"><img alt="${esc(f.name)}" src="${src}"><figcaption>${esc(f.name)}</figcaption></figure>`;
  });
  const c = all.config;
  const title =
    opts.run !== undefined
      ? `latticeflow run ${basename(opts.run.replace(/\/+$/, "")) || opts.run}`
      : `latticeflow ensembles ${all.ensembles.map((r) => basename(r.ensemble.path)).join(", ")}`;
  const from = opts.run ?? (opts.files ?? []).join(", ");
  const intro = c
    ? `Theory <code>${esc(describeTheory(c.theory))}</code>; flow <code>${esc(describeFlow(c.flow))}</code>, trained by reverse KL (arXiv:1904.12072).${initFromText(opts.run)}`
    : "Ensembles without a run directory.";
  const runSections = c
    ? `<h2>Configuration</h2>
${configTable(c)}
<h2>Training</h2>
${trainingTable(opts.run!, all.offset)}
`
    : "";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="muted">${intro} Generated ${esc(new Date().toISOString())} from <code>${esc(from)}</code>.</p>
${runSections}<h2>Measurements</h2>
${all.ensembles.length ? all.ensembles.map(ensembleSection).join("\n") : "<p>No ensembles in the run directory yet: <code>latticeflow sample --run DIR --mh</code> makes one.</p>"}
<p class="muted">Errors and τ<sub>int</sub> by Wolff's Γ-method (hep-lat/0306017), automatic window W with S = 1.5.</p>
<h2>Figures</h2>
${figures.join("\n")}
</body></html>
`;
  writeFileAtomic(out, html);
  return { out, figures: figures.length, seconds: (performance.now() - t0) / 1000 };
}

export function registerReportCommand(program: Command): void {
  withPlotOptions(
    program
      .command("report")
      .description(
        "write an HTML report of a run (<run>/report.html), or of ensemble files (report.html next to them)",
      ),
  )
    .option("--out <file>", "output .html (default <run>/report.html)")
    .option("--force", "replace an existing report", false)
    .option("--json", "print one JSON summary as the last line", false)
    .action((files: string[], o: Record<string, unknown>) => {
      const s = runReport({
        ...plotOptions(o, files),
        out: o.out as string | undefined,
        force: o.force === true,
      });
      if (o.json) printJson({ out: s.out, figures: s.figures });
      else console.log(`report with ${s.figures} figures → ${s.out} in ${s.seconds.toFixed(1)} s`);
    });
}
