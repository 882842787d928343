/**
 * Pictures (issue 5): every figure renders to a valid SVG and PNG with non-trivial content; the
 * synchronous renderer agrees with vega's own toSVG; `plot` and `report` on a tiny trained run
 * (with an MH ensemble) write what they promise, and bad input writes nothing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gammaMethodScalar } from "../src/analysis/gamma.js";
import { UsageError } from "../src/cli/errors.js";
import { ERAS_FILE, readEras, runPlot } from "../src/cli/plot-command.js";
import { runReport } from "../src/cli/report-command.js";
import { runSampling } from "../src/cli/sample-command.js";
import { runTraining } from "../src/cli/train-command.js";
import { writeNpyFile } from "../src/io/files.js";
import { hmcChain } from "../src/mcmc/hmc.js";
import { applySettings, presetConfig } from "../src/model/index.js";
import { measureScalarEnsemble } from "../src/observables/measure.js";
import { measureU1Ensemble } from "../src/observables/u1-measure.js";
import { renderFigure, renderSvg, renderSvgAsync, subscriptSymbols } from "../src/plots/render.js";
import { actionFigure, slopeOneOffset } from "../src/plots/specs/action.js";
import { type Figure, histogram2d, movingAverage, quantile } from "../src/plots/specs/common.js";
import { correlationFigure } from "../src/plots/specs/correlations.js";
import { correlatorFigure } from "../src/plots/specs/correlator.js";
import { eraStripFigure, spreadIndices } from "../src/plots/specs/eras.js";
import { historyFigure } from "../src/plots/specs/history.js";
import { magnetizationFigure } from "../src/plots/specs/magnetization.js";
import { sampleGridFigure } from "../src/plots/specs/samples.js";
import { topologyFigure } from "../src/plots/specs/topology.js";
import { trainingFigure } from "../src/plots/specs/training.js";
import { Rng } from "../src/rng/philox.js";
import { U1Theory } from "../src/theories/u1.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-plots-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function svgSize(svg: string): { width: number; height: number } {
  const head = svg.slice(0, svg.indexOf(">"));
  return {
    width: Number(/width="([\d.]+)"/.exec(head)![1]),
    height: Number(/height="([\d.]+)"/.exec(head)![1]),
  };
}

/** Distinct RGB colours in a PNG (quantised to 4 bits per channel, so anti-aliasing does not count). */
function colours(png: PNG, region?: { x0: number; y0: number; x1: number; y1: number }): number {
  const r = region ?? { x0: 0, y0: 0, x1: png.width, y1: png.height };
  const seen = new Set<number>();
  for (let y = r.y0; y < r.y1; y++) {
    for (let x = r.x0; x < r.x1; x++) {
      const i = 4 * (y * png.width + x);
      seen.add(((png.data[i]! >> 4) << 8) | ((png.data[i + 1]! >> 4) << 4) | (png.data[i + 2]! >> 4));
    }
  }
  return seen.size;
}

/** Render and check: valid SVG, PNG signature, PNG size = 2 × SVG size, not blank. */
function checkFigure(fig: Figure, minColours = 8): { svg: string; png: PNG } {
  const warnings: string[] = [];
  const r = renderFigure(fig, { onWarning: (w) => warnings.push(w) });
  expect(warnings, fig.name).toEqual([]);
  expect(r.svg.startsWith("<svg"), fig.name).toBe(true);
  expect(r.svg.trimEnd().endsWith("</svg>"), fig.name).toBe(true);
  expect([...r.png.subarray(0, 8)], fig.name).toEqual(PNG_SIGNATURE);
  const png = PNG.sync.read(Buffer.from(r.png));
  const { width, height } = svgSize(r.svg);
  expect(width, fig.name).toBeGreaterThan(100);
  expect(height, fig.name).toBeGreaterThan(100);
  expect(png.width, fig.name).toBe(Math.round(2 * width));
  expect(png.height, fig.name).toBe(Math.round(2 * height));
  expect(colours(png), fig.name).toBeGreaterThanOrEqual(minColours);
  return { svg: r.svg, png };
}

const rng = new Rng(7);
function normals(n: number, scale = 1): Float64Array {
  const a = new Float64Array(n);
  rng.normal(a);
  return a.map((x) => x * scale);
}
/** A correlated "chain": AR(1) with coefficient a. */
function ar1(n: number, a: number): Float64Array {
  const e = normals(n);
  const x = new Float64Array(n);
  for (let i = 1; i < n; i++) x[i] = a * x[i - 1]! + e[i]!;
  return x;
}

describe("figure helpers", () => {
  it("moving average is numpy's convolve 'valid', centred", () => {
    const m = movingAverage([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], 3);
    expect(m).toEqual([
      { x: 2, y: 2 },
      { x: 3, y: 3 },
      { x: 4, y: 4 },
    ]);
    expect(movingAverage([1, 2], [5, 7], 15)).toEqual([{ x: 1.5, y: 6 }]);
  });

  it("2-D histogram counts every point once, last edge inclusive", () => {
    const h = histogram2d([0, 0.5, 1, 2], [0, 0.5, 1, 0], [0, 1], [0, 1], 2);
    expect(h.cells).toHaveLength(4);
    expect(h.cells.reduce((a, c) => a + c.count, 0)).toBe(3);
    expect(h.outside).toBe(1);
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
  });

  it("slope-1 offset is ⟨S − S_eff⟩ and spreadIndices keeps first and last", () => {
    expect(slopeOneOffset([1, 2, 3], [0, 1, 2])).toBeCloseTo(-1, 14);
    expect(spreadIndices(25, 10)).toEqual([0, 3, 5, 8, 11, 13, 16, 19, 21, 24]);
    expect(spreadIndices(3, 10)).toEqual([0, 1, 2]);
  });

  it("known symbols get real subscripts in SVG text", () => {
    const s = subscriptSymbols('<svg><text x="1">S_eff = −log q</text><g>S_eff</g></svg>');
    expect(s).toContain('S<tspan baseline-shift="sub" font-size="72%">eff</tspan> = −log q');
    expect(s).toContain("<g>S_eff</g>");
  });
});

describe("each figure renders to SVG and PNG", () => {
  const shape = [8, 8];
  const V = 64;

  it("the synchronous renderer draws exactly what vega's toSVG draws", async () => {
    const fig = trainingFigure(
      Array.from({ length: 50 }, (_, i) => ({ step: i + 1, loss: 10 / (i + 1), ess: i / 60 })),
    );
    expect(renderSvg(fig.spec)).toBe(await renderSvgAsync(fig.spec));
    const fig2 = actionFigure({ sEff: normals(200, 3), s: normals(200, 3) });
    expect(renderSvg(fig2.spec)).toBe(await renderSvgAsync(fig2.spec));
  });

  it("(1) training: loss and ESS, twin axes", () => {
    const pts = Array.from({ length: 300 }, (_, i) => ({
      step: i + 1,
      loss: 2000 * Math.exp(-i / 5) - 8 + 0.3 * Math.sin(i),
      ess: Math.min(1, 0.01 + i / 400 + 0.05 * Math.cos(i)),
    }));
    const { svg } = checkFigure(trainingFigure(pts));
    expect(svg).toContain("ESS");
    expect(svg).toContain("loss");
    expect(svg).toContain("off the loss scale");
  });

  it("(2) sample grids: prior vs flow in viridis, many distinct colours", () => {
    const prior = normals(16 * V);
    const flow = normals(16 * V, 0.4);
    const { png } = checkFigure(
      sampleGridFigure({
        latticeShape: shape,
        theory: { m2: -4, lam: 8 },
        panels: [
          { title: "prior", configs: prior },
          { title: "flow", configs: flow },
        ],
      }),
    );
    // The left half holds the prior grid: tanh of normals spans viridis, so many colours.
    expect(colours(png, { x0: 0, y0: 0, x1: Math.floor(png.width / 2), y1: png.height })).toBeGreaterThan(40);
    // Other lattice dimensions draw a plane (3-D) or strips (1-D).
    checkFigure(
      sampleGridFigure({ latticeShape: [4, 4, 4], panels: [{ title: "3d", configs: normals(16 * 64) }] }),
    );
    checkFigure(
      sampleGridFigure({ latticeShape: [16], panels: [{ title: "1d", configs: normals(16 * 16) }] }),
    );
  });

  it("(3) site-site correlations: 4×4 panels", () => {
    const { svg } = checkFigure(
      correlationFigure({ configs: normals(500 * V), latticeShape: shape, label: "prior" }),
    );
    for (const l of ["φ(0,0)", "φ(0,1)", "φ(1,0)", "φ(1,1)"]) expect(svg).toContain(l);
  });

  it("(4) S_eff against S with the slope-1 fit offset", () => {
    const sEff = normals(1024, 4).map((x) => x + 20);
    const s = sEff.map((x, i) => x - 8.25 + 0.5 * Math.sin(i));
    const fig = actionFigure({ sEff, s });
    expect(fig.notes?.offset).toBeCloseTo(slopeOneOffset(sEff, s), 12);
    const { svg } = checkFigure(fig);
    expect(svg).toContain(`b = ⟨S − S<tspan baseline-shift="sub" font-size="72%">eff</tspan>⟩ = −8.2`);
  });

  it("(5) era strip: one panel per era, at most 10", () => {
    const eras = Array.from({ length: 14 }, (_, k) => {
      const logq = Array.from(normals(64, 3), (x) => -(x + 20));
      const logp = logq.map((q, i) => q + 8 + (200 / (k + 1)) * Math.abs(Math.sin(i)));
      return { step: 1 + 100 * k, logp, logq };
    });
    const { svg } = checkFigure(eraStripFigure({ eras, eraSteps: 100 }));
    expect(svg).toContain("Era 0");
    expect(svg).toContain("Era 13");
    expect(svg.match(/>Era \d+</g)).toHaveLength(10);
  });

  it("(6)–(8) MC history with Γ(t) and window, C(t) and m_eff(t), histogram of M", () => {
    const n = 2000;
    const chain = ar1(n, 0.8);
    const g = gammaMethodScalar(chain);
    const h = checkFigure(
      historyFigure({ label: "ar1", rows: [{ label: "M/V", series: chain, estimate: g }] }),
    );
    expect(h.svg).toContain(`W = ${g.window}`);

    // A two-well field: every configuration near ±0.8 plus noise, the sign flipping slowly.
    const configs = new Float64Array(n * V);
    let sign = 1;
    for (let i = 0; i < n; i++) {
      if (i % 100 === 0) sign = -sign;
      const noise = normals(V, 0.3);
      for (let x = 0; x < V; x++) configs[i * V + x] = sign * 0.8 + noise[x]!;
    }
    const m = measureScalarEnsemble(configs, shape);
    checkFigure(correlatorFigure({ label: "two wells", correlator: m.correlator, mEff: m.m_eff }));
    const mag = checkFigure(
      magnetizationFigure({
        label: "two wells",
        m: m.magnetization,
        volume: V,
        meanError: gammaMethodScalar(m.magnetization).error,
      }),
      3,
    );
    expect(mag.svg).toContain("M = Σ");
  });

  it("U(1): plaquette history with its exact value, topological-charge history and sectors", () => {
    const theory = new U1Theory({ latticeShape: [8, 8], beta: 2 });
    const chain = hmcChain(
      theory,
      { nTherm: 100, n: 600, nLeapfrog: 10, trajectoryLength: 1, targetAcceptance: 0.8 },
      new Rng(3),
    );
    const m = measureU1Ensemble(chain.configs, theory);
    const h = checkFigure(
      historyFigure({
        label: "u1",
        rows: [
          {
            label: "plaquette",
            series: m.plaquettes,
            estimate: m.plaquette,
            reference: { value: m.plaquette_exact!, label: "exact" },
          },
        ],
      }),
    );
    expect(h.svg).toContain(`exact ${m.plaquette_exact!.toFixed(5)}`);
    const fig = topologyFigure({ label: "u1 (hmc)", charge: m.charge!, q2: m.q2!, volume: 64 });
    expect(fig.notes?.q_changes).toBe(m.q_changes);
    expect(fig.notes?.chi_top).toBeCloseTo(m.chi_top!.value, 15);
    const t = checkFigure(fig);
    expect(t.svg).toContain("Topological charge: u1 (hmc)");
    expect(t.svg).toContain(`changed ${m.q_changes} times`);
    // A frozen chain (one sector) still draws.
    checkFigure(topologyFigure({ label: "frozen", charge: new Float64Array(50), q2: m.q2!, volume: 64 }), 3);
  });
});

describe("latticeflow plot and report on a tiny trained run", () => {
  const run = join(tmp, "run");
  beforeAll(async () => {
    const config = applySettings(
      presetConfig("phi4-notebook"),
      { L: 4, layers: 2, hidden: [4], batch: 16, steps: 12, checkpointEvery: 6 },
      "test",
    );
    await runTraining({ out: run, config, resume: false, quiet: true, eraEvery: 4, plotEvery: 6 });
    runSampling({ run, n: 200, mh: true, seed: 1, out: join(run, "ensemble.npy"), batch: 100 });
  });

  it("train records the first batch of every era and refreshes the training figures", () => {
    const eras = readEras(run);
    expect(eras.map((e) => e.step)).toEqual([1, 5, 9]);
    expect(eras[0]!.logp).toHaveLength(16);
    expect(readdirSync(join(run, "plots")).sort()).toEqual([
      "eras.png",
      "eras.svg",
      "training.png",
      "training.svg",
    ]);
  });

  it("plot writes every figure as SVG and PNG into <run>/plots", () => {
    const s = runPlot({ run, n: 64, seed: 0, window: 15, ensembles: true });
    const names = [
      "training",
      "eras",
      "samples",
      "correlations-prior",
      "correlations-flow",
      "action",
      "log-weights",
      "ensemble-history",
      "ensemble-correlator",
      "ensemble-magnetization",
    ];
    expect(readdirSync(s.dir).sort()).toEqual(names.flatMap((n) => [`${n}.png`, `${n}.svg`]).sort());
    for (const n of names) {
      const png = readFileSync(join(s.dir, `${n}.png`));
      expect([...png.subarray(0, 8)], n).toEqual(PNG_SIGNATURE);
      expect(PNG.sync.read(png).width, n).toBeGreaterThan(200);
    }
    expect(s.offset).not.toBeNull();
  });

  it("report writes one self-contained HTML page with tables and every figure", () => {
    const r = runReport({ run, n: 64, seed: 0, window: 15, ensembles: true });
    const html = readFileSync(r.out, "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("<h2>Configuration</h2>");
    // The theory and flow from the run's description; the configuration table by nested setting.
    expect(html).toContain("Theory <code>phi4 4x4 m2=-4 lam=8</code>");
    expect(html).toContain("flow <code>affine-cnn 2 layers, hidden [4], kernel 3</code>");
    expect(html).toContain("<td>lattice</td><td><code>4 × 4</code></td>");
    expect(html).toContain("<td>coupling layers</td><td><code>2</code></td>");
    expect(html).toContain("<td>seed</td><td><code>0</code></td>");
    expect(html).toContain("theory <code>phi4 4x4 m2=-4 lam=8</code>, 200 configurations");
    expect(html).toContain("⟨|M|⟩/V");
    expect(html).toContain("ensemble.npy");
    expect(html.match(/<img /g)).toHaveLength(r.figures);
    expect(r.figures).toBe(10);
    expect(html).not.toMatch(/src="(?!data:)/);
  });

  it("a run with a U(1) ensemble: its figures are the plaquette and topological-charge histories", async () => {
    const mixed = join(tmp, "mixed");
    await runTraining({
      out: mixed,
      config: applySettings(
        presetConfig("phi4-notebook"),
        { L: 4, layers: 2, hidden: [4], batch: 8, steps: 2 },
        "test",
      ),
      resume: false,
      quiet: true,
    });
    const theory = new U1Theory({ latticeShape: [4, 4], beta: 1 });
    const chain = hmcChain(theory, { nTherm: 50, n: 300, nLeapfrog: 8, trajectoryLength: 1 }, new Rng(2));
    writeNpyFile(join(mixed, "gauge.npy"), chain.configs, [300, 2, 4, 4]);
    writeFileSync(
      join(mixed, "gauge.npy.json"),
      JSON.stringify({ sampler: "hmc", theory: { kind: "u1", latticeShape: [4, 4], beta: 1 }, n: 300 }),
    );
    const s = runPlot({ run: mixed, n: 64, seed: 0, window: 15, ensembles: true });
    const names = [...new Set(s.files.map((f) => basename(f).replace(/\.(svg|png)$/, "")))];
    expect(names).toEqual(
      expect.arrayContaining(["training", "samples", "action", "gauge-history", "gauge-topology"]),
    );
    expect(names).not.toContain("gauge-magnetization");
    const r = runReport({ run: mixed, n: 64, seed: 0, window: 15, ensembles: true });
    const html = readFileSync(r.out, "utf8");
    expect(html).toContain("theory <code>u1 4x4 beta=1</code>, 300 configurations");
    expect(html).toContain("plaquette ⟨cos P⟩");
    expect(html).toContain("χ<sub>t</sub> = ⟨Q²⟩/V");
    expect(html).toContain("plaquette, exact (2-d, periodic)");
    // Ensemble files alone: figures into plots/ next to them.
    const alone = runPlot({ files: [join(mixed, "gauge.npy")], n: 64, seed: 0, window: 15, ensembles: true });
    expect(alone.dir).toBe(join(mixed, "plots"));
    expect(() => runPlot({ n: 64, seed: 0, window: 15, ensembles: true })).toThrow(UsageError);
  });

  it("bad input: a UsageError and nothing written", async () => {
    const empty = join(tmp, "not-a-run");
    expect(() => runPlot({ run: empty, n: 64, seed: 0, window: 15, ensembles: true })).toThrow(UsageError);
    expect(existsSync(join(empty, "plots"))).toBe(false);
    expect(() =>
      runReport({ run, n: 64, seed: 0, window: 15, ensembles: true, out: join(tmp, "r.txt") }),
    ).toThrow(UsageError);
    expect(existsSync(join(tmp, "r.txt"))).toBe(false);
    // A broken ensemble stops the whole plot before anything is written.
    const bad = join(tmp, "bad");
    await runTraining({
      out: bad,
      config: applySettings(
        presetConfig("phi4-notebook"),
        { L: 4, layers: 2, hidden: [4], batch: 8, steps: 2 },
        "test",
      ),
      resume: false,
      quiet: true,
    });
    writeFileSync(join(bad, "broken.npy"), "not an npy file");
    expect(() => runPlot({ run: bad, n: 64, seed: 0, window: 15, ensembles: true })).toThrow();
    expect(existsSync(join(bad, "plots"))).toBe(false);
    expect(existsSync(join(bad, ERAS_FILE))).toBe(true);
  });
});

const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
describe.skipIf(!existsSync(CLI))("the CLI", () => {
  it("plot on a directory that is no run: one line, exit 2", () => {
    const r = spawnSync(process.execPath, [CLI, "plot", "--run", join(tmp, "nothing-here")], {
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^latticeflow: error: .*not a run directory/);
  });
});
