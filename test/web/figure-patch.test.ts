/**
 * The page streams each figure update into one vega View (web/figure-patch.js, web/charts.js):
 * a view built from one spec and patched with the next one's data and signals must draw exactly
 * what a view built from the next spec draws; the training curves, the sample grids and the
 * log-weight figures must patch (same skeleton) as training goes on; long histories are thinned
 * with their extremes kept.
 */
import { parse, View } from "vega";
import { compile } from "vega-lite";
import { describe, expect, it } from "vitest";
import {
  actionFigure,
  type Figure,
  logWeightFigure,
  sampleGridFigure,
  type TrainingPoint,
  trainingFigure,
} from "../../src/plots/specs/index.js";
import { Rng } from "../../src/rng/philox.js";
import { changed, hoist, thin } from "../../web/figure-patch.js";

function normals(n: number, seed: number, scale = 1): Float64Array {
  const a = new Float64Array(n);
  new Rng(seed).normal(a);
  return a.map((x) => x * scale);
}

const history = (n: number, seed: number): TrainingPoint[] => {
  const e = normals(n, seed);
  return Array.from({ length: n }, (_, i) => ({
    step: i + 1,
    loss: 2000 / (i + 1) ** 2 - 4 + 0.3 * e[i]!,
    ess: Math.min(1, 0.02 + i / 500 + 0.02 * e[i]!),
  }));
};

interface SceneNode {
  role?: string;
  items?: SceneNode[];
}

/** Axis items in a canonical order (a patched view may hold the same ticks in another order). */
function canonical(node: SceneNode): SceneNode {
  const items = node.items?.map(canonical);
  if (!items) return node;
  const sorted = node.role?.startsWith("axis")
    ? items.map((i) => JSON.stringify(i)).sort()
    : items.map((i) => JSON.stringify(i));
  return { ...node, items: sorted.map((i) => JSON.parse(i) as SceneNode) };
}

/** The view's drawing: its scenegraph and its size. */
async function drawing(view: View): Promise<string> {
  await view.runAsync();
  // Scene's toJSON is vega's, missing from its typings.
  const json = (view.scenegraph() as unknown as { toJSON(): string }).toJSON();
  const scene = canonical(JSON.parse(json) as SceneNode);
  return JSON.stringify([scene, view.origin(), view.width(), view.height()]);
}

function build(figure: Figure, cap?: number) {
  const vg = compile(figure.spec).spec as unknown as Record<string, unknown>;
  const h = hoist(vg, cap);
  h.restore();
  return { vg, ...h };
}

/** Build a view of `a`, patch it to `b`, and compare with a view built from `b`. */
async function patchEqualsFresh(a: Figure, b: Figure, cap?: number): Promise<void> {
  const first = build(a, cap);
  const next = build(b, cap);
  expect(next.skeleton).toBe(first.skeleton);
  const json = new Map<string, string>();
  changed(first.data, json);
  changed(first.signals, json);
  const view = new View(parse(first.vg as never), { renderer: "none" });
  await view.runAsync();
  const signals = changed(next.signals, json);
  const data = changed(next.data, json);
  for (const [name, value] of Object.entries(signals)) view.signal(name, value);
  for (const [name, values] of Object.entries(data)) view.data(name, values as object[]);
  view.resize();
  const patched = await drawing(view);
  const fresh = await drawing(new View(parse(next.vg as never), { renderer: "none" }));
  expect(patched).toBe(fresh);
  view.finalize();
}

describe("figure updates streamed into one view", () => {
  it("the training curves: longer history, a new subtitle line, the loss floor", async () => {
    const all = history(400, 1);
    const opts = { lossFloor: -4.5, title: "F_q and ESS", width: 400 };
    // The subtitle gains its "off the loss scale" line between these two.
    await patchEqualsFresh(
      trainingFigure(all.slice(0, 3), opts),
      trainingFigure(all.slice(0, 120), opts),
      1500,
    );
    // Past the cap: thinned data.
    await patchEqualsFresh(trainingFigure(all.slice(0, 200), opts), trainingFigure(all, opts), 300);
  });

  it("the sample grids (the prior's panel unchanged) and the S_eff and log w figures", async () => {
    const prior = normals(16 * 64, 2);
    const grid = (seed: number, step: number) =>
      sampleGridFigure({
        latticeShape: [8, 8],
        theory: { kind: "phi4", latticeShape: [8, 8], m2: -4, lam: 8 },
        panels: [
          { title: "Prior z", configs: prior },
          { title: `Flow x = f(z), step ${step}`, configs: normals(16 * 64, seed, 0.5) },
        ],
      });
    const first = build(grid(3, 10));
    const next = build(grid(4, 20));
    const json = new Map<string, string>();
    changed(first.data, json);
    // Only the flow's panel is sent again.
    expect(Object.keys(changed(next.data, json))).toHaveLength(1);
    await patchEqualsFresh(grid(3, 10), grid(4, 20));

    const weights = (seed: number, width: number, outlier = true) => {
      const logq = normals(1024, seed, 4).map((x) => x - 20);
      const logp = logq.map((q, i) => q + width * Math.sin(i) + 3);
      if (outlier) logp[0]! -= 500; // a draw of S far off the window
      return { logq, logw: logp.map((p, i) => p - logq[i]!) };
    };
    const a = weights(5, 3);
    const b = weights(6, 1);
    const action = (w: typeof a) =>
      actionFigure({ sEff: w.logq.map((q) => -q), s: w.logw.map((x, i) => -x - w.logq[i]!) });
    // Both with draws outside the window (its note is a layer of its own: without it, a new view).
    expect(action(a).spec).toHaveProperty("layer.2");
    expect(action(b).spec).toHaveProperty("layer.2");
    await patchEqualsFresh(action(a), action(b));
    const none = weights(8, 1, false);
    expect(action(none).spec).not.toHaveProperty("layer.2");
    expect(build(action(none)).skeleton).not.toBe(build(action(a)).skeleton);
    await patchEqualsFresh(
      logWeightFigure({ logw: a.logw, label: "steps 1–16", lnZ: 2 }),
      logWeightFigure({ logw: b.logw, label: "steps 17–32", lnZ: 2 }),
    );
  });

  it("thins a long history to about the cap, keeping the first, last and extreme rows", () => {
    const rows = history(10_000, 7);
    rows[5000]!.loss = 1e6; // a spike
    rows[7000]!.ess = 0.99;
    const out = thin(rows, 1200);
    expect(out.length).toBeLessThanOrEqual(1200);
    expect(out.length).toBeGreaterThan(600);
    expect(out[0]).toBe(rows[0]);
    expect(out.at(-1)).toBe(rows.at(-1));
    expect(out).toContain(rows[5000]);
    expect(out).toContain(rows[7000]);
    for (let i = 1; i < out.length; i++) expect(out[i]!.step).toBeGreaterThan(out[i - 1]!.step);
    const short = rows.slice(0, 100);
    expect(thin(short, 1200)).toBe(short);
  });
});
