/**
 * `latticeflow plot --run DIR`: every figure of a run into DIR/plots/ as SVG and PNG:
 *
 *   training        loss and ESS against step (metrics.jsonl); when the exact floor of the loss is
 *                   known (relaxed Ising, src/model/references.ts), a line at −ln Z_x
 *   eras            S_eff against S for the first step of each era (eras.jsonl, written by train)
 *   samples         4×4 configurations, prior beside flow (same z), tanh φ in viridis; for U(1)
 *                   their plaquette angles wrap P₀₁(x) ∈ [−π, π) in sinebow, each titled with Q
 *   correlations-*  site-site 2-D histograms of the 2×2 corner, prior and flow (not for U(1):
 *                   its link angles are not gauge invariant)
 *   action          S_eff = −log q against S with the slope-1 fit (its offset b is printed)
 *   and for a MERA flow (NeuralRG, arXiv 1802.02840; not TEBD, which has no scales):
 *     rg            renormalised variables of 4 flow samples at every scale k = 0 … log₂L
 *     rg-scales     ∂x/∂z of one latent variable per scale (central differences, float64)
 *   evolution.gif   (no SVG/PNG) one frame per record of frames.jsonl (written by train every
 *                   era): the flow's 16 configurations from one fixed z, 4×4, as they train
 *   and for each ensemble <ens>.npy in DIR, as its theory (sidecar TheorySpec) has them:
 *     φ⁴ (or unknown):  <ens>-history, <ens>-correlator, <ens>-magnetization
 *     U(1):             <ens>-history (plaquette; Q²; each with its exact value in 2-d),
 *                       <ens>-topology (Q against Monte Carlo time, its sectors, ρ(t) of Q²,
 *                       ±√⟨Q²⟩ of the exact ⟨Q²⟩; 2-d),
 *                       <ens>-plaquettes (plaquette angles of 8 distinct configurations spread
 *                       along the chain, rejections of a flow-MH chain counted once; 2-d)
 *
 * `latticeflow plot ENSEMBLE.npy ...` draws the ensemble figures of those files alone (no run
 * directory needed, e.g. for `hmc` ensembles), into plots/ next to the first of them.
 *
 * Everything is computed and rendered in memory first, then written (each file atomically),
 * so bad input leaves nothing half-written. Also: the era records and the live refresh that
 * `train` uses.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { gammaMethodScalar } from "../analysis/gamma.js";
import { HierarchicalFlow } from "../flows/mera.js";
import { Z2SymmetrisedFlow } from "../flows/z2-symmetrised.js";
import { checkOutputDirectory, ensureOutputDirectory, writeFileAtomic } from "../io/files.js";
import { buildModel, configShapeOf, type RunConfig } from "../model/index.js";
import { exactReferences } from "../model/references.js";
import { absMagnetizationDensity, sitePhi2 } from "../observables/scalar.js";
import { type RenderedFigure, renderFigure, writeFigures } from "../plots/render.js";
import { actionFigure } from "../plots/specs/action.js";
import type { Figure } from "../plots/specs/common.js";
import { correlationFigure } from "../plots/specs/correlations.js";
import { correlatorFigure } from "../plots/specs/correlator.js";
import { type EraRecord, eraStripFigure } from "../plots/specs/eras.js";
import { historyFigure } from "../plots/specs/history.js";
import { logWeightFigure } from "../plots/specs/log-weights.js";
import { magnetizationFigure } from "../plots/specs/magnetization.js";
import { plaquetteSampleFigure } from "../plots/specs/plaquettes.js";
import { sampleGridFigure } from "../plots/specs/samples.js";
import { topologyFigure } from "../plots/specs/topology.js";
import { trainingFigure } from "../plots/specs/training.js";
import { Rng } from "../rng/philox.js";
import { U1Theory } from "../theories/u1.js";
import { fmt, num, printJson } from "./args.js";
import { UsageError } from "./errors.js";
import { EVOLUTION_GIF, evolutionGif } from "./frames.js";
import { type EnsembleReport, loadEnsemble, measureLoaded } from "./measure-command.js";
import { meraFigures } from "./rg-figures.js";
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
  /** The run directory; optional when `files` names ensembles. */
  run?: string;
  /** Ensemble .npy files to draw besides (or, without `run`, instead of) the run's. */
  files?: string[];
  /** Flow and prior samples drawn for the sample, correlation and action figures. */
  n: number;
  seed: number;
  /** Moving-average window of the training figure. */
  window: number;
  /** Skip the ensembles (*.npy) of the run. */
  ensembles: boolean;
}

export const PLOT_DEFAULTS: Omit<PlotOptions, "run" | "files"> = {
  n: 1024,
  seed: 0,
  window: 15,
  ensembles: true,
};

/**
 * The training figures: loss/ESS (with the exact floor of the loss when known; by default that
 * of the run's theory), and the era strip once eras are recorded. Cheap.
 */
export function trainingFigures(
  dir: string,
  window = PLOT_DEFAULTS.window,
  lossFloor: number | null = exactReferences(readConfig(dir).theory).lossFloor,
): Figure[] {
  const figures: Figure[] = [];
  const metrics = readMetrics(dir);
  if (metrics.length > 0) figures.push(trainingFigure(metrics, { window, lossFloor }));
  const eras = readEras(dir);
  if (eras.length > 0) figures.push(eraStripFigure({ eras, eraSteps: eras[0]!.eraSteps ?? ERA_STEPS }));
  return figures;
}

/** Configurations drawn in an ensemble's plaquette-angle figure (2 rows of 4). */
export const ENSEMBLE_PLAQUETTE_SAMPLES = 8;

/** The plaquette angles P₀₁(x) of `n` configurations of a 2-d U(1) theory, [n, L₀, L₁]. */
export function plaquetteAngles(theory: U1Theory, configs: ArrayLike<number>, n: number): Float64Array {
  const v = theory.plaquetteCount;
  const out = new Float64Array(n * v);
  const p = new Float64Array(v);
  for (let b = 0; b < n; b++) out.set(theory.plaquettes(configs as Float64Array, b, p), b * v);
  return out;
}

/** Prior and flow samples (the flow's from the same z), their S_eff and S: figures 2–4. */
function flowFigures(
  dir: string,
  config: RunConfig,
  opts: PlotOptions,
): { figures: Figure[]; offset: number } {
  const { theory, flow } = buildModel(config);
  const { seed, dtype } = config.train;
  const { params, step } = loadWeights(dir, flow.initParams(new Rng(seed), dtype));
  const configShape = configShapeOf(config.theory);
  const rng = new Rng(opts.seed);
  const z = flow.prior.sample(rng, opts.n, dtype);
  const { x, logq } = flow.forwardWithLogProb(params, z);
  const xs = Float64Array.from(x.data);
  const s = theory.action(xs, opts.n);
  const sEff = Float64Array.from(logq.data, (q) => -q);
  const zs = Float64Array.from(z.data);
  const action = actionFigure({ sEff, s, label: `${opts.n} flow samples x ~ q (checkpoint)` });
  const floor = exactReferences(config.theory).lossFloor;
  const logWeights = logWeightFigure({
    logw: Float64Array.from(s, (si, i) => -si + sEff[i]!),
    label: `${opts.n} flow samples x ~ q (checkpoint)`,
    lnZ: floor === null ? null : -floor,
  });
  // NeuralRG's pictures need the scales of a MERA; a TEBD flow has none (every layer acts on the
  // full lattice, no latent variable belongs to a scale), so it gets neither rg nor rg-scales.
  // (A Z₂-symmetrised MERA is drawn through its base flow: the scales are the base's.)
  const hierarchy = flow instanceof Z2SymmetrisedFlow ? flow.base : flow;
  const rg =
    hierarchy instanceof HierarchicalFlow && hierarchy.kind === "mera"
      ? meraFigures(hierarchy, params, config.theory, {
          seed: opts.seed,
          label: `checkpoint of step ${step}`,
        })
      : [];
  // U(1): gauge-invariant pictures only, the plaquette angles. The site-site histograms would
  // show link angles θ_μ(x), which a gauge transformation changes (and read [d, L, L] as a 3-d
  // lattice of φ), so a U(1) run has no correlations-* figures.
  const pictures =
    config.theory.kind === "u1" && config.theory.latticeShape.length === 2
      ? [u1SampleFigure(new U1Theory(config.theory), config, zs, xs)]
      : [
          sampleGridFigure({
            latticeShape: configShape,
            theory: config.theory,
            panels: [
              { title: "Samples of the prior z", configs: zs },
              { title: "Samples from the flow x = f(z)", configs: xs },
            ],
          }),
          correlationFigure({ configs: zs, latticeShape: configShape, label: "prior" }),
          correlationFigure({ configs: xs, latticeShape: configShape, label: "flow" }),
        ];
  return {
    figures: [...pictures, action, logWeights, ...rg],
    offset: action.notes?.offset ?? Number.NaN,
  };
}

/** A U(1) run's sample figure: the plaquette angles of 16 prior samples beside the flow's from the same z. */
function u1SampleFigure(theory: U1Theory, config: RunConfig, zs: Float64Array, xs: Float64Array): Figure {
  const n = 16;
  return plaquetteSampleFigure({
    name: "samples",
    label: "prior and flow",
    latticeShape: theory.latticeShape,
    theory: config.theory,
    count: n,
    panels: [
      { title: "Samples of the prior z", angles: plaquetteAngles(theory, zs, n) },
      { title: "Samples from the flow x = f(z)", angles: plaquetteAngles(theory, xs, n) },
    ],
  });
}

/** *.npy ensembles of the run (not the .logw.npy / .accepted.npy side files). */
export function ensembleFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".npy") && !/\.(logw|accepted)\.npy$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** The figures of a measured ensemble: 6–8 for a scalar field; history, topology and plaquettes for U(1). */
export function ensembleFigures(r: EnsembleReport): Figure[] {
  const e = r.ensemble;
  const stem = basename(e.path).replace(/\.npy$/, "");
  const label = `${basename(e.path)}${e.sampler ? ` (${e.sampler})` : ""}`;
  switch (r.kind) {
    case "scalar": {
      const v = r.m.volume;
      const mDensity = r.m.magnetization.map((m) => m / v);
      const absM = absMagnetizationDensity(e.data, e.configShape);
      const phi2 = sitePhi2(e.data, e.configShape);
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
    case "u1": {
      const m = r.m;
      const exact = m.plaquette_exact;
      const rows = [
        {
          label: "plaquette ⟨cos P⟩",
          series: m.plaquettes,
          estimate: m.plaquette,
          ...(exact === null ? {} : { reference: { value: exact, label: "exact" } }),
        },
      ];
      const figures: Figure[] = [];
      if (m.charge !== null && m.q2 !== null) {
        const q2Exact = m.q2_exact;
        rows.push({
          label: "Q²",
          series: m.charge.map((q) => q * q),
          estimate: m.q2,
          ...(q2Exact === null ? {} : { reference: { value: q2Exact, label: "exact" } }),
        });
        figures.push(
          topologyFigure({
            name: `${stem}-topology`,
            label,
            charge: m.charge,
            q2: m.q2,
            q2Exact,
            volume: m.volume,
          }),
        );
      }
      if (m.latticeShape.length === 2 && e.theory?.kind === "u1") {
        const theory = new U1Theory(e.theory);
        figures.push(
          plaquetteSampleFigure({
            name: `${stem}-plaquettes`,
            label,
            latticeShape: m.latticeShape,
            theory: e.theory,
            count: ENSEMBLE_PLAQUETTE_SAMPLES,
            panels: [
              {
                title: `${m.n} configurations`,
                angles: plaquetteAngles(theory, e.data, m.n),
                distinct: true,
              },
            ],
          }),
        );
      }
      return [historyFigure({ name: `${stem}-history`, label, rows }), ...figures];
    }
    case "ising": {
      const m = r.m;
      const ref = (v: number | null) => (v === null ? {} : { reference: { value: v, label: "exact" } });
      const rows = [
        { label: "m", series: m.magnetization, estimate: m.m, ...ref(r.exact.m) },
        { label: "energy/site", series: m.energies, estimate: m.energy, ...ref(r.exact.energy) },
      ];
      return [historyFigure({ name: `${stem}-history`, label, rows })];
    }
  }
}

export interface RunFigures {
  figures: Figure[];
  /** Files drawn without Vega (evolution.gif), by file name. */
  animations: { file: string; bytes: Uint8Array }[];
  /** The run's configuration; null when only ensemble files were given. */
  config: RunConfig | null;
  /** Slope-1 offset b of the action figure (NaN without a checkpoint). */
  offset: number;
  ensembles: EnsembleReport[];
}

/** Where the figures go: <run>/plots, or plots/ next to the first ensemble file. */
export function plotsDir(opts: Pick<PlotOptions, "run" | "files">): string {
  const base = opts.run ?? (opts.files?.[0] !== undefined ? dirname(opts.files[0]) : ".");
  return join(base, PLOTS_DIR);
}

/** Every figure of a run (and of the ensemble files given), computed in memory (nothing is written). */
export function collectRunFigures(opts: PlotOptions): RunFigures {
  if (!Number.isInteger(opts.n) || opts.n < 16)
    throw new UsageError(`--n must be an integer ≥ 16, got ${opts.n}`);
  if (!Number.isInteger(opts.window) || opts.window < 1)
    throw new UsageError(`--window must be a positive integer, got ${opts.window}`);
  const files = opts.files ?? [];
  if (opts.run === undefined && files.length === 0) {
    throw new UsageError("nothing to draw: give --run DIR (a run directory) or ensemble .npy files");
  }
  const figures: Figure[] = [];
  let config: RunConfig | null = null;
  let offset = Number.NaN;
  const animations: RunFigures["animations"] = [];
  const paths = [...files];
  if (opts.run !== undefined) {
    config = readConfig(opts.run);
    figures.push(...trainingFigures(opts.run, opts.window, exactReferences(config.theory).lossFloor));
    if (existsSync(join(opts.run, RUN_FILES.checkpoint))) {
      const f = flowFigures(opts.run, config, opts);
      figures.push(...f.figures);
      offset = f.offset;
    }
    const gif = evolutionGif(opts.run, config.theory);
    if (gif !== null) animations.push({ file: EVOLUTION_GIF, bytes: gif });
    if (opts.ensembles) paths.unshift(...ensembleFiles(opts.run).filter((p) => !files.includes(p)));
  }
  const ensembles: EnsembleReport[] = [];
  for (const path of paths) {
    const r = measureLoaded(loadEnsemble(path));
    ensembles.push(r);
    figures.push(...ensembleFigures(r));
  }
  const names = figures.map((f) => f.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) {
    throw new UsageError(`two ensembles would both draw ${twice}: give files with different names`);
  }
  if (figures.length === 0) {
    throw new UsageError(
      `nothing to plot in ${opts.run}: no metrics, checkpoint or ensembles yet; train first`,
    );
  }
  return { figures, animations, config, offset, ensembles };
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

/**
 * Before the work: the figures' directory can be written (it, or the directory that will hold
 * it, is a writable directory, not a file, not under /proc, /sys or /dev). A run that is no run
 * is said first; a missing ensemble's own error is clearer than one about its directory.
 */
export function checkPlotsDir(opts: Pick<PlotOptions, "run" | "files">): string {
  if (opts.run !== undefined) readConfig(opts.run);
  const dir = plotsDir(opts);
  if (existsSync(dirname(dir))) checkOutputDirectory(dir, "directory", true);
  return dir;
}

export function runPlot(opts: PlotOptions): PlotSummary {
  const t0 = performance.now();
  const dir = checkPlotsDir(opts);
  const all = collectRunFigures(opts);
  const rendered = renderAll(all.figures);
  ensureOutputDirectory(dir, "directory");
  const files = writeFigures(dir, rendered);
  for (const a of all.animations) {
    writeFileAtomic(join(dir, a.file), a.bytes);
    files.push(join(dir, a.file));
  }
  return {
    dir,
    files,
    offset: Number.isFinite(all.offset) ? all.offset : null,
    seconds: (performance.now() - t0) / 1000,
  };
}

export function plotOptions(o: Record<string, unknown>, files: string[] = []): PlotOptions {
  return {
    run: o.run as string | undefined,
    files,
    n: o.n as number,
    seed: o.seed as number,
    window: o.window as number,
    ensembles: o.ensembles !== false,
  };
}

/** Options shared by plot and report. */
export function withPlotOptions(cmd: Command): Command {
  return cmd
    .argument(
      "[ensembles...]",
      "ensemble .npy files (from sample or hmc) to draw besides or instead of a run's",
    )
    .option("--run <dir>", "run directory")
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
    program
      .command("plot")
      .description(
        "write every figure of a run to <run>/plots/ (SVG and PNG); of ensemble files alone: to plots/ next to them",
      ),
  )
    .option("--json", "print one JSON summary as the last line", false)
    .action((files: string[], o: Record<string, unknown>) => {
      const s = runPlot(plotOptions(o, files));
      const figureFiles = s.files.filter((f) => /\.(svg|png)$/.test(f));
      const names = [...new Set(figureFiles.map((f) => basename(f).replace(/\.(svg|png)$/, "")))];
      const animations = s.files.filter((f) => f.endsWith(".gif")).map((f) => basename(f));
      if (o.json) printJson({ dir: s.dir, figures: names, animations, offset: s.offset, files: s.files });
      else {
        console.log(
          `${names.length} figures (SVG + PNG) → ${s.dir} in ${s.seconds.toFixed(1)} s: ${names.join(", ")}` +
            (animations.length > 0 ? `; animation: ${animations.join(", ")}` : ""),
        );
        if (s.offset !== null) {
          const b = s.offset < 0 ? `− ${fmt(-s.offset)}` : `+ ${fmt(s.offset)}`;
          console.log(`slope-1 fit of S against S_eff = −log q over the flow samples: S = S_eff ${b}`);
        }
      }
    });
}
