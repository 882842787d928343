/**
 * The Ising model through the command line (the built CLI in a child process): `wolff` writes a
 * spin ensemble whose ⟨m²⟩, ⟨|m|⟩ and energy `measure` finds within 3σ of the exact values
 * (transfer matrix; Γ-method σ, fixed seed); `train --theory ising --flow mera` runs and reports
 * the exact floor of its loss; `lnz` reports ln Z of the spins with the exact value beside it;
 * `sample --mh` + `measure` give relaxed-ensemble observables (also with `--local-hmc`, whose HMC
 * the sidecar records); bad flags are one line, exit 2.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeNpy } from "../src/io/npy.js";
import { IsingRelaxedTheory } from "../src/theories/ising.js";
import { isingExactTorus } from "../src/theories/ising-exact.js";
import { runProcess } from "./run-cli.js";

const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-ising-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runProcess(process.execPath, [CLI, ...args]);
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field below
function lastJson(stdout: string): Record<string, any> {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

const TC = 2.269185314213022;
const ISING4 = ["--theory", "ising", "--L", "4", "--T", String(TC)];
const SPINS = join(tmp, "wolff.npy");
const RUN = join(tmp, "run");

beforeAll(async () => {
  const [w, t] = await Promise.all([
    run("wolff", ...ISING4, "--n", "20000", "--seed", "3", "--out", SPINS, "--json"),
    run(
      "train",
      ...ISING4,
      "--flow",
      "mera",
      "--ndis",
      "1",
      "--layers",
      "2",
      "--hidden",
      "8",
      "--batch",
      "64",
      "--steps",
      "30",
      "--seed",
      "1",
      "--quiet",
      "--out",
      RUN,
      "--json",
    ),
  ]);
  expect(w.code, w.stderr).toBe(0);
  expect(t.code, t.stderr).toBe(0);
}, 120_000);

describe("latticeflow wolff + measure", () => {
  it("writes spins ±1 [N, L, L] with a sidecar naming the sampler and theory", () => {
    const npy = decodeNpy(readFileSync(SPINS));
    expect(npy.shape).toEqual([20000, 4, 4]);
    expect(new Set(Array.from(npy.data as Float64Array))).toEqual(new Set([-1, 1]));
    const meta = JSON.parse(readFileSync(`${SPINS}.json`, "utf8"));
    expect(meta).toMatchObject({ sampler: "wolff", theory: { kind: "ising", latticeShape: [4, 4], T: TC } });
  });

  it("measure --json: m², |m|, energy and specific heat within 3σ of the exact 4×4 values", async () => {
    const r = await run("measure", SPINS, "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.estimator).toBe("spins");
    // Exact (enumeration / transfer matrix, docs/physics.md) at T_c on the 4×4 torus.
    expect(j.exact.m2).toBeCloseTo(0.7613589085686725, 12);
    expect(j.exact.energy).toBeCloseTo(-1.5656237876383186, 12);
    for (const k of ["m2", "abs_m", "energy", "specific_heat"]) {
      expect(Math.abs(j.n_sigma[k]), `${k}: ${JSON.stringify(j[k])}`).toBeLessThan(3);
      expect(j[k].error).toBeGreaterThan(0);
    }
  });
});

describe("latticeflow train/lnz/sample on the Ising relaxation with a MERA flow", () => {
  it("train --json reports the exact floor of the loss, −ln Z_x, and the loss lies above it", async () => {
    const c = JSON.parse(readFileSync(join(RUN, "config.json"), "utf8"));
    expect(c.theory).toEqual({ kind: "ising", latticeShape: [4, 4], T: TC, boundary: "periodic" });
    expect(c.flow).toMatchObject({ kind: "mera", ndis: 1, layers: 2, hidden: [8] });
    const th = new IsingRelaxedTheory({ latticeShape: [4, 4], T: TC, boundary: "periodic" });
    const floor = th.logZShift - isingExactTorus([4, 4], TC).lnZ;
    const r = await run("train", "--resume", "--out", RUN, "--steps", "31", "--quiet", "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.loss_floor).toBeCloseTo(floor, 10);
    expect(j.loss).toBeGreaterThan(floor);
    expect(j.loss_gap_relative).toBeCloseTo((j.loss - floor) / Math.abs(floor), 12);
  });

  it("lnz --json: ln Z of the spins (shifted), the exact value and the bound", async () => {
    const r = await run("lnz", "--run", RUN, "--n", "4096", "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    const th = new IsingRelaxedTheory({ latticeShape: [4, 4], T: TC, boundary: "periodic" });
    expect(j.lnZ_exact).toBeCloseTo(15.521915458755283, 10);
    expect(j.lnZ_shift).toBeCloseTo(th.logZShift, 10);
    expect(j.lnZ_n_sigma).toBeCloseTo((j.lnZ - j.lnZ_exact) / j.lnZ_error, 10);
    // The variational bound: F_q ≥ −ln Z (in the same convention).
    expect(j.F_variational).toBeGreaterThan(-j.lnZ_exact);
  });

  it("sample --mh + measure: a relaxed ensemble, measured with the improved estimators", async () => {
    const out = join(tmp, "mh.npy");
    const s = await run("sample", "--run", RUN, "--n", "2000", "--mh", "--out", out, "--json");
    expect(s.code, s.stderr).toBe(0);
    const r = await run("measure", out, "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.estimator).toBe("relaxed");
    expect(j.theory).toMatchObject({ kind: "ising" });
    expect(j.m2.value).toBeGreaterThan(0);
    expect(j.m2.value).toBeLessThanOrEqual(1);
    expect(Object.keys(j.n_sigma).sort()).toEqual(["abs_m", "binder", "energy", "m2", "specific_heat"]);
  });

  it("sample --mh --local-hmc 2: HMC interleaved, recorded in the sidecar and printed; measure says so", async () => {
    const out = join(tmp, "mixed.npy");
    const args = ["sample", "--run", RUN, "--n", "400", "--mh", "--z2", "--local-hmc", "2", "--seed", "5"];
    const [s, t] = await Promise.all([
      run(...args, "--out", out, "--json"),
      run(...args, "--hmc-eps", "0.2", "--hmc-leapfrog", "4", "--out", join(tmp, "mixed-text.npy")),
    ]);
    expect(s.code, s.stderr).toBe(0);
    const j = lastJson(s.stdout);
    expect(j.hmc_acceptance).toBeGreaterThan(0);
    expect(j.hmc_acceptance).toBeLessThanOrEqual(1);
    const meta = JSON.parse(readFileSync(`${out}.json`, "utf8"));
    expect(meta).toMatchObject({ sampler: "flow-mh", z2: true, acceptance: j.acceptance });
    expect(meta.localHmc).toMatchObject({ trajectories: 2, leapfrog: 10, epsTuned: true, warmup: 500 });
    expect(meta.localHmc.acceptance).toBe(j.hmc_acceptance);
    expect(meta.localHmc.eps).toBe(j.hmc_eps);
    expect(meta.localHmc.eps).toBeGreaterThan(0);
    expect(decodeNpy(readFileSync(join(tmp, "mixed.accepted.npy"))).shape).toEqual([400]);
    // The text line names the HMC acceptance (and the given step size).
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(
      /MH acceptance [\d.]+ \(flow proposals\), local HMC 2×4 steps of 0\.2000 \(given\), acceptance [\d.]+/,
    );
    const m = await run("measure", out, "--json");
    expect(m.code, m.stderr).toBe(0);
    const mj = lastJson(m.stdout);
    expect(mj.local_hmc).toEqual({ trajectories: 2, acceptance: j.hmc_acceptance });
    expect(mj.acceptance).toBeCloseTo(j.acceptance, 12);
    expect(mj.acceptance_run_tau_int.source).toBe("file");
  });

  it("--local-hmc without --mh: one line naming the fix, exit 2, nothing written", async () => {
    const out = join(tmp, "no-mh.npy");
    const r = await run("sample", "--run", RUN, "--n", "10", "--local-hmc", "2", "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--local-hmc.*add --mh/);
    expect(existsSync(out)).toBe(false);
  });
});

describe("bad Ising input: one line, exit 2, nothing written", () => {
  for (const [what, args, pattern] of [
    ["MERA on L = 6", ["--L", "6", "--flow", "mera"], /power of 2/],
    ["MERA with two hidden widths", ["--L", "4", "--flow", "mera", "--hidden", "8,8"], /one hidden width/],
    ["T ≤ 0", ["--L", "4", "--T", "0"], /--T/],
    ["an unknown boundary", ["--L", "4", "--boundary", "twisted"], /boundary/],
    ["a φ⁴ flag", ["--L", "4", "--m2", "1"], /--m2/],
  ] as const) {
    it(what, async () => {
      const out = join(tmp, `bad-${what.replace(/\W+/g, "-")}`);
      const r = await run("train", "--theory", "ising", ...args, "--steps", "1", "--out", out);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
      expect(existsSync(out)).toBe(false);
    });
  }
});
