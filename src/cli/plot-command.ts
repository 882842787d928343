/**
 * `latticeflow plot --run DIR`: every figure of a run into DIR/plots/ as SVG and PNG:
 *
 *   training        loss and ESS against step (metrics.jsonl)
 *   eras            S_eff against S for the first step of each era (eras.jsonl, written by train)
 *   samples         4×4 configurations, prior beside flow (same z), tanh φ in viridis
 *   correlations-*  site-site 2-D histograms of the 2×2 corner, prior and flow
 *   action          S_eff = −log q against S with the slope-1 fit (its offset b is printed)
 *   <ens>-history, <ens>-correlator, <ens>-magnetization   for each ensemble <ens>.npy in DIR
 *
 * Everything is computed and rendered in memory first, then written (each file atomically),
 * so bad input leaves nothing half-written. Also: the era records and the live refresh that
 * `train` uses.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Command } from "commander";
import { gammaMethodScalar } from "../analysis/gamma.js";
import { writeFileAtomic } from "../io/files.js";
import { absMagnetizationDensity, sitePhi2 } from "../observables/scalar.js";
import { type RenderedFigure, renderFigure, writeFigures } from "../plots/render.js";
import { actionFigure } from "../plots/specs/action.js";
import type { Figure } from "../plots/specs/common.js";
import { correlationFigure } from "../plots/specs/correlations.js";
import { correlatorFigure } from "../plots/specs/correlator.js";
import { type EraRecord, eraStripFigure } from "../plots/specs/eras.js";
import { historyFigure } from "../plots/specs/history.js";
import { magnetizationFigure } from "../plots/specs/magnetization.js";
import { sampleGridFigure } from "../plots/specs/samples.js";
import { trainingFigure } from "../plots/specs/training.js";
import { Rng } from "../rng/philox.js";
import { fmt, num, printJson } from "./args.js";
import { latticeShapeOf, type RunConfig } from "./config.js";
import { UsageError } from "./errors.js";
import { type EnsembleReport, loadEnsemble, measureLoaded } from "./measure-command.js";
import { buildModel } from "./model.js";
import { loadWeights, RUN_FILES, readConfig, readMetrics } from "./run-dir.js";

export const ERAS_FILE = "eras.jsonl";
export const PLOTS_DIR = "plots";
/** Default steps per era (the notebook's N_epoch). */
export const ERA_STEPS = 100;

/** One line of eras.jsonl: the batch of the first step of an era. */
export interface EraLine extends EraRecord {
  era: number;
  eraSteps: number;
}

/** Append the batch of step `m.step` if it is the first step of an era (steps count from 1). */
export function recordEra(
  dir: string,
  m: { step: number; batchLogp: ArrayLike<number>; batchLogq: ArrayLike<number> },
  eraSteps: number,
): void {
  if (!(eraSteps > 0) || (m.step - 1) % eraSteps !== 0) return;
  const line: EraLine = {
    step: m.step,
    era: (m.step - 1) / eraSteps,
    eraSteps,
    logp: Array.from(m.batchLogp),
    logq: Array.from(m.batchLogq),
  };
  appendFileSync(join(dir, ERAS_FILE), `${JSON.stringify(line)}\n`);
}

export function readEras(dir: string): EraLine[] {
  const path = join(dir, ERAS_FILE);
  if (!existsSync(path)) return [];
  const out: EraLine[] = [];
  for (const l of readFileSync(path, "utf8").split("\n")) {
    if (l.trim() === "") continue;
    try {
      const e = JSON.parse(l) as EraLine;
      if (Array.isArray(e.logp) && Array.isArray(e.logq) && Number.isFinite(e.step)) out.push(e);
    } catch {
      break; // a torn last line from a crash
    }
  }
  return out;
}

/** Keep the era records up to `step` (on resume from an earlier checkpoint). */
export function truncateEras(dir: string, step: number): void {
  if (!existsSync(join(dir, ERAS_FILE))) return;
  const kept = readEras(dir).filter((e) => e.step <= step);
  writeFileAtomic(join(dir, ERAS_FILE), kept.map((e) => `${JSON.stringify(e)}\n`).join(""));
}

export interface PlotOptions {
  run: string;
  /** Flow and prior samples drawn for the sample, correlation and action figures. */
  n: number;
  seed: number;
  /** Moving-average window of the training figure. */
  window: number;
  /** Skip the ensembles (*.npy) of the run. */
  ensembles: boolean;
}

export const PLOT_DEFAULTS: Omit<PlotOptions, "run"> = { n: 1024, seed: 0, window: 15, ensembles: true };

/** The training figures: loss/ESS, and the era strip once eras are recorded. Cheap. */
export function trainingFigures(dir: string, window = PLOT_DEFAULTS.window): Figure[] {
  const figures: Figure[] = [];
  const metrics = readMetrics(dir);
  if (metrics.length > 0) figures.push(trainingFigure(metrics, { window }));
  const eras = readEras(dir);
  if (eras.length > 0) figures.push(eraStripFigure({ eras, eraSteps: eras[0]!.eraSteps ?? ERA_STEPS }));
  return figures;
}

/** Prior and flow samples (the flow's from the same z), their S_eff and S: figures 2–4. */
function flowFigures(
  dir: string,
  config: RunConfig,
  opts: PlotOptions,
): { figures: Figure[]; offset: number } {
  const { theory, flow } = buildModel(config);
  const { params } = loadWeights(dir, flow.initParams(new Rng(config.seed), config.dtype));
  const latticeShape = latticeShapeOf(config);
  const rng = new Rng(opts.seed);
  const z = flow.prior.sample(rng, opts.n, config.dtype);
  const { x, logq } = flow.forwardWithLogProb(params, z);
  const xs = Float64Array.from(x.data);
  const s = theory.action(xs, opts.n);
  const sEff = Float64Array.from(logq.data, (q) => -q);
  const zs = Float64Array.from(z.data);
  const t = { m2: config.m2, lam: config.lam };
  const action = actionFigure({ sEff, s, label: `${opts.n} flow samples x ~ q (checkpoint)` });
  return {
    figures: [
      sampleGridFigure({
        latticeShape,
        theory: t,
        panels: [
          { title: "Samples of the prior z", configs: zs },
          { title: "Samples from the flow x = f(z)", configs: xs },
        ],
      }),
      correlationFigure({ configs: zs, latticeShape, label: "prior" }),
      correlationFigure({ configs: xs, latticeShape, label: "flow" }),
      action,
    ],
    offset: action.notes?.offset ?? Number.NaN,
  };
}

/** *.npy ensembles of the run (not the .logw.npy / .accepted.npy side files). */
export function ensembleFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".npy") && !/\.(logw|accepted)\.npy$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Figures 6–8 of a measured ensemble. */
export function ensembleFigures(r: EnsembleReport): Figure[] {
  const e = r.ensemble;
  const stem = basename(e.path).replace(/\.npy$/, "");
  const label = `${basename(e.path)}${e.sampler ? ` (${e.sampler})` : ""}`;
  const v = r.m.volume;
  const mDensity = r.m.magnetization.map((m) => m / v);
  const absM = absMagnetizationDensity(e.data, e.latticeShape);
  const phi2 = sitePhi2(e.data, e.latticeShape);
  const mGamma = gammaMethodScalar(r.m.magnetization);
  return [
    historyFigure({
      name: `${stem}-history`,
      label,
      rows: [
        { label: "M/V", series: mDensity, estimate: gammaMethodScalar(mDensity) },
        { label: "|M|/V", series: absM, estimate: r.m.abs_m },
        { label: "⟨φ²⟩ₓ", series: phi2, estimate: r.m.phi2 },
      ],
    }),
    correlatorFigure({ name: `${stem}-correlator`, label, correlator: r.m.correlator, mEff: r.m.m_eff }),
    magnetizationFigure({
      name: `${stem}-magnetization`,
      label,
      m: r.m.magnetization,
      volume: v,
      meanError: mGamma.error,
    }),
  ];
}

export interface RunFigures {
  figures: Figure[];
  config: RunConfig;
  /** Slope-1 offset b of the action figure (NaN without a checkpoint). */
  offset: number;
  ensembles: EnsembleReport[];
}

/** Every figure of a run, computed in memory (nothing is written). */
export function collectRunFigures(opts: PlotOptions): RunFigures {
  if (!Number.isInteger(opts.n) || opts.n < 16)
    throw new UsageError(`--n must be an integer ≥ 16, got ${opts.n}`);
  if (!Number.isInteger(opts.window) || opts.window < 1)
    throw new UsageError(`--window must be a positive integer, got ${opts.window}`);
  const config = readConfig(opts.run);
  const figures = trainingFigures(opts.run, opts.window);
  let offset = Number.NaN;
  if (existsSync(join(opts.run, RUN_FILES.checkpoint))) {
    const f = flowFigures(opts.run, config, opts);
    figures.push(...f.figures);
    offset = f.offset;
  }
  const ensembles: EnsembleReport[] = [];
  if (opts.ensembles) {
    for (const path of ensembleFiles(opts.run)) {
      const r = measureLoaded(loadEnsemble(path));
      ensembles.push(r);
      figures.push(...ensembleFigures(r));
    }
  }
  if (figures.length === 0) {
    throw new UsageError(
      `nothing to plot in ${opts.run}: no metrics, checkpoint or ensembles yet; train first`,
    );
  }
  return { figures, config, offset, ensembles };
}

export function renderAll(figures: readonly Figure[]): RenderedFigure[] {
  return figures.map((f) => renderFigure(f));
}

/** Re-render the training figures into DIR/plots (used by `train --plot-every`). */
export function refreshTrainingPlots(dir: string): string[] {
  const rendered = renderAll(trainingFigures(dir));
  return rendered.length ? writeFigures(join(dir, PLOTS_DIR), rendered) : [];
}

export interface PlotSummary {
  dir: string;
  files: string[];
  offset: number | null;
  seconds: number;
}

export function runPlot(opts: PlotOptions): PlotSummary {
  const t0 = performance.now();
  const all = collectRunFigures(opts);
  const rendered = renderAll(all.figures);
  const dir = join(opts.run, PLOTS_DIR);
  const files = writeFigures(dir, rendered);
  return {
    dir,
    files,
    offset: Number.isFinite(all.offset) ? all.offset : null,
    seconds: (performance.now() - t0) / 1000,
  };
}

export function plotOptions(o: Record<string, unknown>): PlotOptions {
  return {
    run: o.run as string,
    n: o.n as number,
    seed: o.seed as number,
    window: o.window as number,
    ensembles: o.ensembles !== false,
  };
}

/** Options shared by plot and report. */
export function withPlotOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--run <dir>", "run directory")
    .option(
      "--n <n>",
      "flow and prior samples for the sample, correlation and action figures",
      num("--n"),
      PLOT_DEFAULTS.n,
    )
    .option("--seed <n>", "seed of those samples", num("--seed"), PLOT_DEFAULTS.seed)
    .option(
      "--window <n>",
      "moving-average window of the training figure (steps)",
      num("--window"),
      PLOT_DEFAULTS.window,
    )
    .option("--no-ensembles", "skip the run's ensembles (*.npy)");
}

export function registerPlotCommand(program: Command): void {
  withPlotOptions(
    program.command("plot").description("write every figure of a run to <run>/plots/ (SVG and PNG)"),
  )
    .option("--json", "print one JSON summary as the last line", false)
    .action((o: Record<string, unknown>) => {
      const s = runPlot(plotOptions(o));
      const names = [...new Set(s.files.map((f) => basename(f).replace(/\.(svg|png)$/, "")))];
      if (o.json) printJson({ dir: s.dir, figures: names, offset: s.offset, files: s.files });
      else {
        console.log(
          `${names.length} figures (SVG + PNG) → ${s.dir} in ${s.seconds.toFixed(1)} s: ${names.join(", ")}`,
        );
        if (s.offset !== null) {
          const b = s.offset < 0 ? `− ${fmt(-s.offset)}` : `+ ${fmt(s.offset)}`;
          console.log(`slope-1 fit of S against S_eff = −log q over the flow samples: S = S_eff ${b}`);
        }
      }
    });
}
