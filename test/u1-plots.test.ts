/**
 * U(1) figures (issue 13): the plaquette-angle sample grid and the exact ⟨Q²⟩ in the history and
 * topology figures. Every spec compiles and renders (SVG and PNG, no Vega warnings); the exact
 * line is drawn when q2_exact is known and not when it is null; an ensemble's grid draws each
 * configuration a flow-MH chain visited once, not its repeats; a U(1) run's sample figure is the
 * plaquette angles of prior and flow (no link-angle correlation figures).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, describe, expect, it } from "vitest";
import { loadEnsemble, measureLoaded } from "../src/cli/measure-command.js";
import { ensembleFigures, plaquetteAngles, runPlot } from "../src/cli/plot-command.js";
import { runTraining } from "../src/cli/train-command.js";
import { writeNpyFile } from "../src/io/files.js";
import { applySettings, presetConfig } from "../src/model/index.js";
import { topologicalCharge } from "../src/observables/u1.js";
import { measureU1Ensemble } from "../src/observables/u1-measure.js";
import { renderFigure } from "../src/plots/render.js";
import { C2, type Figure } from "../src/plots/specs/common.js";
import {
  chargeOf,
  distinctConfigurations,
  plaquetteSampleFigure,
  wrapPlaquette,
} from "../src/plots/specs/plaquettes.js";
import { topologyFigure } from "../src/plots/specs/topology.js";
import { Rng } from "../src/rng/philox.js";
import { U1Theory } from "../src/theories/u1.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-u1-plots-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Render and check: no Vega warnings, an SVG, a PNG twice its size with more than a few colours. */
function render(fig: Figure): { svg: string; png: PNG } {
  const warnings: string[] = [];
  const r = renderFigure(fig, { onWarning: (w) => warnings.push(w) });
  expect(warnings, fig.name).toEqual([]);
  expect(r.svg.startsWith("<svg"), fig.name).toBe(true);
  expect(r.svg.trimEnd().endsWith("</svg>"), fig.name).toBe(true);
  expect([...r.png.subarray(0, 8)], fig.name).toEqual(PNG_SIGNATURE);
  const png = PNG.sync.read(Buffer.from(r.png));
  const width = Number(/width="([\d.]+)"/.exec(r.svg.slice(0, r.svg.indexOf(">")))![1]);
  expect(png.width, fig.name).toBe(Math.round(2 * width));
  const seen = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4)
    seen.add(((png.data[i]! >> 4) << 8) | ((png.data[i + 1]! >> 4) << 4) | (png.data[i + 2]! >> 4));
  expect(seen.size, fig.name).toBeGreaterThan(20);
  return { svg: r.svg, png };
}

/** `n` configurations of links on an L×L lattice: normals of width `scale` (Q mostly 0, some ±1). */
function links(theory: U1Theory, n: number, scale: number, seed: number): Float64Array {
  const a = new Float64Array(n * theory.size);
  new Rng(seed).normal(a);
  return a.map((x) => x * scale);
}

/** A flow-MH-like chain: configuration k of `distinct` repeated repeats[k] times. */
function withRepeats(distinct: Float64Array, size: number, repeats: number[]): Float64Array {
  const out = new Float64Array(repeats.reduce((a, b) => a + b, 0) * size);
  let o = 0;
  repeats.forEach((r, k) => {
    for (let j = 0; j < r; j++, o += size) out.set(distinct.subarray(k * size, (k + 1) * size), o);
  });
  return out;
}

/** An ensemble file with its sidecar, measured as `plot` measures it. */
function ensemble(name: string, data: Float64Array, L: number, beta: number, sampler: string) {
  const path = join(tmp, `${name}.npy`);
  const n = data.length / (2 * L * L);
  writeNpyFile(path, data, [n, 2, L, L]);
  writeFileSync(
    `${path}.json`,
    JSON.stringify({ sampler, theory: { kind: "u1", latticeShape: [L, L], beta }, n }),
  );
  return measureLoaded(loadEnsemble(path));
}

describe("plaquette-angle samples", () => {
  const theory = new U1Theory({ latticeShape: [6, 6], beta: 1 });
  const V = theory.volume;

  it("wraps into [−π, π) and titles each heat map with the Q the observables measure", () => {
    expect(wrapPlaquette(Math.PI)).toBeCloseTo(-Math.PI, 14);
    expect(wrapPlaquette(-Math.PI)).toBeCloseTo(-Math.PI, 14);
    expect(wrapPlaquette(7)).toBeCloseTo(7 - 2 * Math.PI, 14);
    const configs = links(theory, 6, 1.5, 1);
    const angles = plaquetteAngles(theory, configs, 6);
    const q = topologicalCharge(theory, configs);
    expect(Array.from({ length: 6 }, (_, k) => chargeOf(angles, V, k))).toEqual(Array.from(q, (x) => x + 0));
    expect(new Set(q).size, "test data spans more than one sector").toBeGreaterThan(1);
    const fig = plaquetteSampleFigure({
      latticeShape: theory.latticeShape,
      theory: { kind: "u1", beta: 1 },
      count: 6,
      columns: 3,
      panels: [{ title: "six", angles }],
    });
    expect(fig.name).toBe("plaquettes");
    expect(fig.notes).toMatchObject({ "shown 0": 6 });
    const json = JSON.stringify(fig.spec);
    expect(json).toContain('"scheme":"sinebow"');
    expect(json).toContain(`"domain":[${-Math.PI},${Math.PI}]`);
    const { svg } = render(fig);
    expect(svg).toContain("Plaquette angles");
    expect(svg).toContain("U(1) on 6×6, β = 1");
    for (const x of q) expect(svg).toContain(`Q = ${x < 0 ? `−${-x}` : x + 0}`);
    // Legend in multiples of π.
    expect(svg).toContain(">−π<");
    expect(svg).toContain(">π/2<");
  });

  it("an ensemble's grid skips the repeats of a flow-MH chain and spreads along it", () => {
    const distinct = links(theory, 5, 0.7, 2);
    const chain = withRepeats(distinct, theory.size, [3, 1, 4, 2, 5]); // starts 0, 3, 4, 8, 10
    const angles = plaquetteAngles(theory, chain, 15);
    expect(distinctConfigurations(angles, V)).toEqual([0, 3, 4, 8, 10]);
    expect(distinctConfigurations(chain, theory.size)).toEqual([0, 3, 4, 8, 10]);
    // Not consecutive: a configuration visited again later is a new visit.
    expect(distinctConfigurations([1, 1, 2, 1, 1], 1)).toEqual([0, 2, 3]);
    const all = plaquetteSampleFigure({
      latticeShape: theory.latticeShape,
      count: 8,
      panels: [{ title: "15 configurations", angles, distinct: true }],
    });
    expect(all.notes).toMatchObject({ "distinct 0": 5, "shown 0": 5 });
    const { svg } = render(all);
    for (const k of [0, 3, 4, 8, 10]) expect(svg).toContain(`#${k}: Q = `);
    for (const k of [1, 2, 5, 9, 14]) expect(svg).not.toContain(`#${k}: Q = `);
    expect(svg).toContain("15 configurations: 5 distinct");
    // Fewer drawn than visited: spread from the first to the last.
    const three = plaquetteSampleFigure({
      latticeShape: theory.latticeShape,
      count: 3,
      panels: [{ title: "chain", angles, distinct: true }],
    });
    const titles = JSON.stringify(three.spec).match(/#\d+: Q/g);
    expect(titles).toEqual(["#0: Q", "#4: Q", "#10: Q"]);
  });

  it("needs a 2-d lattice", () => {
    expect(() =>
      plaquetteSampleFigure({
        latticeShape: [4, 4, 4],
        panels: [{ title: "x", angles: new Float64Array(64) }],
      }),
    ).toThrow(RangeError);
  });
});

describe("the exact ⟨Q²⟩ in the U(1) ensemble figures", () => {
  const L = 4;
  const theory = new U1Theory({ latticeShape: [L, L], beta: 1 });
  const configs = links(theory, 60, 1.2, 3);

  it("topology: ±√⟨Q²⟩_exact as green guides and the value in the subtitle; none without it", () => {
    const m = measureU1Ensemble(configs, theory);
    expect(m.q2_exact).not.toBeNull();
    const base = { label: "u1 (test)", charge: m.charge!, q2: m.q2!, volume: m.volume };
    const withExact = topologyFigure({ ...base, q2Exact: m.q2_exact });
    const rules = JSON.stringify(withExact.spec).match(/"values":\[\{"q":[^\]]*\]/g);
    const root = Math.sqrt(m.q2_exact!);
    expect(rules).toContain(`"values":[{"q":${root}},{"q":${-root}}]`);
    const a = render(withExact);
    expect(a.svg).toContain(`exact ⟨Q²⟩ = ${m.q2_exact!.toFixed(4)}`);
    expect(a.svg).toContain(C2);
    for (const q2Exact of [null, undefined]) {
      const fig = topologyFigure({ ...base, q2Exact });
      expect(JSON.stringify(fig.spec)).not.toContain(C2);
      const b = render(fig);
      expect(b.svg).not.toContain("exact");
      expect(b.svg).not.toContain(C2);
    }
  });

  it("plot's u1 figures: history (plaquette, Q² with exact lines), topology and plaquettes", () => {
    const r = ensemble("u1", configs, L, 1, "hmc");
    expect(r.kind).toBe("u1");
    const figs = ensembleFigures(r);
    expect(figs.map((f) => f.name)).toEqual(["u1-history", "u1-topology", "u1-plaquettes"]);
    const m = r.kind === "u1" ? r.m : null;
    const history = render(figs[0]!).svg;
    expect(history).toContain(`exact ${m!.plaquette_exact!.toFixed(5)}`);
    expect(history).toContain(`exact ${m!.q2_exact!.toFixed(5)}`);
    expect(render(figs[1]!).svg).toContain(`exact ⟨Q²⟩ = ${m!.q2_exact!.toFixed(4)}`);
    const plaquettes = render(figs[2]!).svg;
    expect(plaquettes).toContain("Plaquette angles: u1.npy (hmc)");
    expect(plaquettes).toContain("60 configurations: all distinct");
  });

  it("without an exact ⟨Q²⟩ (β outside the solved range) the Q² row has no exact line", () => {
    const hot = new U1Theory({ latticeShape: [L, L], beta: 600 });
    const r = ensemble("hot", links(hot, 30, 0.05, 4), L, 600, "flow-mh");
    const m = r.kind === "u1" ? r.m : null;
    expect(m!.q2).not.toBeNull();
    expect(m!.q2_exact).toBeNull();
    const [history, topology] = ensembleFigures(r);
    const h = JSON.stringify(history!.spec);
    expect(h).not.toContain(C2);
    expect(render(history!).svg).not.toContain("exact");
    expect(JSON.stringify(topology!.spec)).not.toContain(C2);
  });
});

describe("plot on a U(1) run", () => {
  it("the sample figure is the plaquette angles of prior and flow; no link-angle correlations", async () => {
    const run = join(tmp, "run");
    const config = applySettings(
      presetConfig("u1-tutorial"),
      { L: 4, beta: 1, layers: 2, hidden: [4], batch: 8, steps: 2 },
      "test",
    );
    await runTraining({ out: run, config, resume: false, quiet: true });
    const s = runPlot({ run, n: 16, seed: 0, window: 15, ensembles: true });
    const names = [...new Set(s.files.map((f) => basename(f).replace(/\.(svg|png|gif)$/, "")))];
    expect(names).toEqual(expect.arrayContaining(["training", "samples", "action"]));
    expect(names.filter((n) => n.startsWith("correlations"))).toEqual([]);
    const svg = readFileSync(join(s.dir, "samples.svg"), "utf8");
    expect(svg).toContain("Plaquette angles: prior and flow");
    expect(svg).toContain("Samples of the prior z");
    expect(svg).toContain("Samples from the flow x = f(z)");
    expect(svg.match(/>Q = /g)).toHaveLength(32);
  }, 60_000);
});
