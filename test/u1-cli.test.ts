/**
 * U(1) gauge theory through the command line (the built CLI in a child process; `npm test`
 * builds dist/ first): `hmc --theory u1` writes links [N, d, L, L] with a TheorySpec sidecar,
 * `measure` finds the exact 2-d plaquette (Bessel functions) within 3σ (Γ-method σ, fixed
 * seed) and the topological charge, `compare`, `plot` and `report` take U(1) ensembles, and bad
 * theory flags are one line, exit 2, nothing written.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeNpy } from "../src/io/npy.js";
import { u1PlaquetteExact } from "../src/theories/u1-exact.js";
import { runProcess } from "./run-cli.js";

const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-u1-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runProcess(process.execPath, [CLI, ...args]);
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field below
function lastJson(stdout: string): Record<string, any> {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

const U1 = ["--theory", "u1", "--L", "8", "--beta", "2"];
const A = join(tmp, "u1.npy");
const B = join(tmp, "u1-b.npy");
const N = 4000;
const hmc = (out: string, seed: string) =>
  run("hmc", ...U1, "--n", String(N), "--therm", "200", "--seed", seed, "--quiet", "--out", out, "--json");

beforeAll(async () => {
  const [a, b] = await Promise.all([hmc(A, "5"), hmc(B, "6")]);
  expect(a.code, a.stderr).toBe(0);
  expect(b.code, b.stderr).toBe(0);
});

describe("latticeflow hmc --theory u1", () => {
  it("writes float64 links [N, d, L, L] and a sidecar with the TheorySpec", () => {
    const npy = decodeNpy(readFileSync(A));
    expect(npy.dtype).toBe("<f8");
    expect(npy.shape).toEqual([N, 2, 8, 8]);
    const meta = JSON.parse(readFileSync(`${A}.json`, "utf8"));
    expect(meta).toMatchObject({
      sampler: "hmc",
      theory: { kind: "u1", latticeShape: [8, 8], beta: 2 },
      n: N,
      seed: 5,
    });
    expect(meta.acceptance).toBeGreaterThan(0.6);
    expect(Object.keys(meta.theory).sort()).toEqual(["beta", "kind", "latticeShape"]);
  });
});

describe("latticeflow measure on a U(1) ensemble", () => {
  it("--json: plaquette within 3σ of the exact value, ⟨Q⟩, ⟨Q²⟩ and χ_t = ⟨Q²⟩/V", async () => {
    const r = await run("measure", A, "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ sampler: "hmc", n: N, latticeShape: [8, 8], configShape: [2, 8, 8] });
    expect(j.theory).toEqual({ kind: "u1", latticeShape: [8, 8], beta: 2, source: `${A}.json` });
    for (const k of ["plaquette", "q", "q2", "chi_top"]) {
      expect(Object.keys(j[k]), k).toEqual([
        "value",
        "error",
        "tau_int",
        "tau_int_error",
        "window",
        "cost_s",
      ]);
      expect(j[k].error, k).toBeGreaterThan(0);
      expect(Number.isFinite(j[k].error), k).toBe(true);
      expect(j[k].tau_int, k).toBeGreaterThan(0);
    }
    const exact = u1PlaquetteExact(2, 64);
    expect(j.plaquette_exact).toBeCloseTo(exact, 14);
    const p = j.plaquette;
    expect(Math.abs(p.value - exact), `${p.value} ± ${p.error} vs exact ${exact}`).toBeLessThan(3 * p.error);
    expect(p.error).toBeLessThan(0.005); // small enough for the check to mean something
    expect(j.plaquette_n_sigma).toBeCloseTo((p.value - exact) / p.error, 12);
    // χ_t = ⟨Q²⟩/V, V = 64, with ⟨Q²⟩'s autocorrelation.
    expect(j.chi_top.value).toBeCloseTo(j.q2.value / 64, 15);
    expect(j.chi_top.error).toBeCloseTo(j.q2.error / 64, 15);
    expect(j.chi_top.tau_int).toBe(j.q2.tau_int);
    // Q is an integer per configuration: ⟨Q⟩ = 0 by Q → −Q, and the chain moves between sectors.
    expect(Math.abs(j.q.value)).toBeLessThan(4 * j.q.error);
    expect(j.q2.value).toBeGreaterThan(0.3);
    expect(j.q_changes).toBeGreaterThan(N / 10);
    // No φ⁴ observables on links.
    for (const k of ["chi2", "m", "m_eff", "correlator"]) expect(j[k], k).toBeUndefined();
  });

  it("prints the same as a table, with the exact plaquette and the deviation in σ", async () => {
    const r = await run("measure", A);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/u1 8x8 beta=2/);
    for (const l of [/plaquette <cos P>/, /<Q>/, /<Q\^2>/, /chi_top = <Q\^2>\/V/])
      expect(r.stdout).toMatch(l);
    expect(r.stdout).toMatch(
      /exact plaquette \(2-d, periodic\) 0\.69777\d: measured − exact = \S+ = -?\d\.\d\d sigma/,
    );
    expect(r.stdout).toMatch(/Q changed \d+ times/);
  });

  it("a flag changes the coupling: --beta 3 moves the exact value, not the measurement", async () => {
    const j = lastJson((await run("measure", A, "--beta", "3", "--json")).stdout);
    const base = lastJson((await run("measure", A, "--json")).stdout);
    expect(j.theory).toMatchObject({ kind: "u1", beta: 3, source: "flags" });
    expect(j.plaquette.value).toBe(base.plaquette.value);
    expect(j.plaquette_exact).toBeCloseTo(u1PlaquetteExact(3, 64), 14);
  });
});

describe("compare, plot and report take U(1) ensembles", () => {
  it("compare: the U(1) observables side by side, two seeds agree within 4 combined σ", async () => {
    const r = await run("compare", A, B, "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(Object.keys(j.observables)).toEqual(["plaquette", "q", "q2", "chi_top"]);
    expect(j.a.theory).toMatchObject({ kind: "u1", beta: 2 });
    expect(j.warning).toBeNull();
    for (const k of ["plaquette", "q2"]) expect(Math.abs(j.observables[k].n_sigma), k).toBeLessThan(4);
    const text = await run("compare", A, B);
    expect(text.stdout).toMatch(/cost per independent plaquette sample/);
  });

  it("plot draws the plaquette and topological-charge histories and plaquette-angle samples; report names the theory", async () => {
    const p = await run("plot", A, "--json");
    expect(p.code, p.stderr).toBe(0);
    expect(lastJson(p.stdout).figures).toEqual(["u1-history", "u1-topology", "u1-plaquettes"]);
    expect(readdirSync(join(tmp, "plots")).sort()).toEqual([
      "u1-history.png",
      "u1-history.svg",
      "u1-plaquettes.png",
      "u1-plaquettes.svg",
      "u1-topology.png",
      "u1-topology.svg",
    ]);
    const svg = readFileSync(join(tmp, "plots", "u1-topology.svg"), "utf8");
    expect(svg).toContain("Topological charge");
    const out = join(tmp, "u1-report.html");
    const r = await run("report", A, "--out", out);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(out, "utf8");
    expect(html).toContain("u1 8x8 beta=2");
    expect(html).toContain("⟨Q²⟩");
    expect(html).toContain("plaquette, exact (2-d, periodic)");
    expect(html.match(/<img /g)).toHaveLength(3);
  });
});

describe("bad theory flags: one line, exit 2, nothing written", () => {
  const bad: [string, string[], RegExp][] = [
    [
      "beta not a number",
      ["hmc", "--theory", "u1", "--L", "8", "--beta", "abc"],
      /--beta expects a number, got 'abc'/,
    ],
    ["unknown theory", ["hmc", "--theory", "u2", "--L", "8"], /unknown theory 'u2': use one of phi4, u1/],
    [
      "a phi4 flag on u1",
      ["hmc", "--theory", "u1", "--m2", "1"],
      /--m2 is a setting of theory 'phi4', not of theory 'u1'/,
    ],
    ["u1 needs two dimensions", ["hmc", "--theory", "u1", "--dim", "1"], /--L\/--dim/],
  ];
  for (const [name, args, msg] of bad) {
    it(`hmc: ${name}`, async () => {
      const out = join(tmp, `bad-${name.replace(/\W+/g, "-")}.npy`);
      const r = await run(...args, "--out", out);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.json`)).toBe(false);
    });
  }

  it("measure: a phi4 flag on a u1 ensemble, or another kind, is one clear line", async () => {
    const m2 = await run("measure", A, "--m2", "1");
    expect(m2.code).toBe(2);
    expect(m2.stderr.trim().split("\n")).toHaveLength(1);
    expect(m2.stderr).toMatch(
      /--m2 is a setting of theory 'phi4', not of theory 'u1' \(u1\.npy is u1 8x8 beta=2, from .*u1\.npy\.json\); 'u1' takes --L, --dim, --beta/,
    );
    const kind = await run("measure", A, "--theory", "phi4", "--m2", "1", "--lam", "1");
    expect(kind.code).toBe(2);
    expect(kind.stderr.trim().split("\n")).toHaveLength(1);
    expect(kind.stderr).toMatch(
      /--theory phi4 contradicts .*u1\.npy\.json, which says u1\.npy is u1 8x8 beta=2/,
    );
    const shape = await run("measure", A, "--L", "4");
    expect(shape.code).toBe(2);
    expect(shape.stderr).toMatch(
      /shape \[2, 8, 8\], but the flags give u1 4x4 beta=2, whose configurations are \[2, 4, 4\]/,
    );
  });
});
