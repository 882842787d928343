/**
 * A U(1) flow run through the built CLI (a child process; LATTICEFLOW_CLI may point at a private
 * build): `train --theory u1 --flow ncp` on a tiny lattice, then `sample --mh`, `lnz --json`,
 * `measure`, `compare` and `plot` on the run; the u1-tutorial preset's config; bad flow flags
 * are one line, exit 2, nothing written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeNpy } from "../src/io/npy.js";
import { lastJson, runProcess } from "./run-cli.js";

const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-u1-flow-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runProcess(process.execPath, [CLI, ...args]);
const RUN = join(tmp, "run");
const TINY = ["--theory", "u1", "--L", "4", "--beta", "1", "--flow", "ncp", "--layers", "4", "--hidden", "4"];
const MH = join(RUN, "mh.npy");

beforeAll(async () => {
  const t = await run("train", ...TINY, "--steps", "30", "--batch", "16", "--quiet", "--out", RUN);
  expect(t.code, t.stderr).toBe(0);
}, 60_000);

describe("latticeflow train --theory u1 --flow ncp", () => {
  it("records the nested config and a checkpoint with the tutorial's parameter names", () => {
    const c = JSON.parse(readFileSync(join(RUN, "config.json"), "utf8"));
    expect(c.theory).toEqual({ kind: "u1", latticeShape: [4, 4], beta: 1 });
    expect(c.flow).toEqual({ kind: "ncp", layers: 4, hidden: [4], kernel: 3, components: 2 });
  });

  it("sample --mh writes links [N, 2, 4, 4] with an acceptance; lnz and measure run on them", async () => {
    const s = await run("sample", "--run", RUN, "--n", "400", "--mh", "--out", MH, "--json");
    expect(s.code, s.stderr).toBe(0);
    const j = lastJson(s.stdout) as { acceptance: number; ess: number };
    expect(j.acceptance).toBeGreaterThan(0.05);
    expect(j.acceptance).toBeLessThanOrEqual(1);
    const npy = decodeNpy(readFileSync(MH));
    expect(npy.shape).toEqual([400, 2, 4, 4]);
    for (const v of npy.data as Float64Array) expect(v >= 0 && v < 2 * Math.PI).toBe(true);

    const l = await run("lnz", "--run", RUN, "--n", "2000", "--json");
    expect(l.code, l.stderr).toBe(0);
    const z = lastJson(l.stdout) as { lnZ: number; lnZ_error: number; F_variational: number };
    expect(Number.isFinite(z.lnZ)).toBe(true);
    expect(z.lnZ_error).toBeGreaterThan(0);
    // ln Z ≥ −F_q, and Z ≥ (2π)^{2V}·e^{−⟨S⟩...}: at least finite and above the bound's side.
    expect(z.lnZ).toBeGreaterThan(-z.F_variational - 5 * z.lnZ_error);

    const m = await run("measure", MH, "--json");
    expect(m.code, m.stderr).toBe(0);
    const mj = lastJson(m.stdout) as Record<string, { value: number; error: number }>;
    expect(mj.plaquette!.value).toBeGreaterThan(0.2);
    expect(mj.plaquette!.value).toBeLessThan(0.8);
    expect(Number.isFinite(mj.q2!.value)).toBe(true);
  }, 60_000);

  it("compare flow-MH against HMC, and plot the run", async () => {
    const hmc = join(tmp, "hmc.npy");
    const h = await run(
      "hmc",
      "--theory",
      "u1",
      "--L",
      "4",
      "--beta",
      "1",
      "--n",
      "400",
      "--quiet",
      "--out",
      hmc,
    );
    expect(h.code, h.stderr).toBe(0);
    const c = await run("compare", MH, hmc, "--json");
    expect(c.code, c.stderr).toBe(0);
    const p = await run("plot", "--run", RUN, "--n", "64", "--json");
    expect(p.code, p.stderr).toBe(0);
  }, 60_000);
});

describe("u1 flow specs through flags", () => {
  it("--preset u1-tutorial is the tutorial's run", async () => {
    const out = join(tmp, "tut");
    const r = await run("train", "--preset", "u1-tutorial", "--steps", "1", "--quiet", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(c.flow).toEqual({ kind: "ncp", layers: 16, hidden: [8, 8], kernel: 3, components: 2 });
    expect(c.theory).toEqual({ kind: "u1", latticeShape: [8, 8], beta: 2 });
    expect(c.train).toMatchObject({ batch: 64, steps: 1, lr: 1e-3, dtype: "float64" });
  }, 60_000);

  const bad: [string, string[], RegExp][] = [
    [
      "L not a multiple of 4",
      [...TINY.slice(0, 2), "--L", "6", "--flow", "ncp"],
      /L = 6 is not a multiple of 4/,
    ],
    ["3-d", ["--theory", "u1", "--L", "4", "--dim", "3", "--flow", "ncp"], /2-d lattices only.*--dim 2/],
    [
      "a real-field flow on links",
      ["--theory", "u1", "--flow", "affine-cnn"],
      /use --flow ncp or --flow spline/,
    ],
    ["a circle flow on phi4", ["--theory", "phi4", "--flow", "spline"], /real fields: use --flow affine-cnn/],
    ["--z2 on ncp", ["--theory", "u1", "--flow", "ncp", "--z2"], /--z2 is a setting of flow 'affine-cnn'/],
    [
      "--bins on ncp",
      ["--theory", "u1", "--flow", "ncp", "--bins", "8"],
      /--bins is a setting of flow 'spline'/,
    ],
    ["even kernel", ["--theory", "u1", "--flow", "ncp", "--kernel", "4"], /kernel = 4 must be odd/],
  ];
  for (const [name, args, msg] of bad) {
    it(`train: ${name}`, async () => {
      const out = join(tmp, `bad-${name.replace(/\W+/g, "-")}`);
      const r = await run("train", ...args, "--out", out);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
      expect(existsSync(out)).toBe(false);
    });
  }
});
