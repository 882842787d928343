/**
 * `hmc`, `measure`, `compare` and `lnz` end to end, as a user runs them (the built CLI in a child
 * process; `npm test` builds dist/ first, LATTICEFLOW_CLI points elsewhere). Tiny free-field
 * ensembles (L = 4, m² = 1, λ = 0), whose answers are exact: χ₂ = 1/(2m²) = 0.5 and
 * ln Z = (V/2) ln 2π − ½ Σ_p ln 2(m² + p̂²); statistical checks at 4σ (Γ-method σ).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeNpy } from "../src/io/npy.js";
import { runProcess } from "./run-cli.js";

const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-measure-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Asynchronous (test/run-cli.ts): a synchronous spawn stalls vitest's worker RPC under load. */
const run = (...args: string[]) => runProcess(process.execPath, [CLI, ...args]);
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field below
function lastJson(stdout: string): Record<string, any> {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

/** Exact free-field ln Z on an L×L lattice. */
function exactLnZ(L: number, m2: number): number {
  let logDet = 0;
  for (let a = 0; a < L; a++) {
    for (let b = 0; b < L; b++) {
      const phat2 = 4 * Math.sin((Math.PI * a) / L) ** 2 + 4 * Math.sin((Math.PI * b) / L) ** 2;
      logDet += Math.log(2 * (m2 + phat2));
    }
  }
  return ((L * L) / 2) * Math.log(2 * Math.PI) - 0.5 * logDet;
}

const RUN = join(tmp, "run");
const HMC = join(tmp, "hmc.npy");
const MH = join(RUN, "mh.npy");
const FREE = ["--L", "4", "--m2", "1", "--lam", "0"];

beforeAll(async () => {
  // A small flow for the free field: MH is exact whatever its quality.
  const t = await run(
    "train",
    ...FREE,
    "--layers",
    "2",
    "--hidden",
    "8",
    "--identity-init",
    "--lr",
    "3e-3",
    "--steps",
    "250",
    "--quiet",
    "--out",
    RUN,
  );
  expect(t.code, t.stderr).toBe(0);
  const s = await run("sample", "--run", RUN, "--n", "6000", "--mh", "--seed", "2", "--out", MH);
  expect(s.code, s.stderr).toBe(0);
});

describe("latticeflow hmc", () => {
  it("writes a float64 [N, ...sites] ensemble and a sidecar", async () => {
    const r = await run(
      "hmc",
      ...FREE,
      "--n",
      "6000",
      "--therm",
      "300",
      "--leapfrog",
      "7",
      "--traj-length",
      "0.7",
      "--seed",
      "3",
      "--out",
      HMC,
      "--json",
    );
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson(r.stdout);
    expect(s).toMatchObject({ n: 6000, out: HMC });
    expect(s.acceptance).toBeGreaterThan(0.6);
    const npy = decodeNpy(readFileSync(HMC));
    expect(npy.dtype).toBe("<f8");
    expect(npy.shape).toEqual([6000, 4, 4]);
    const meta = JSON.parse(readFileSync(`${HMC}.json`, "utf8"));
    expect(meta).toMatchObject({
      sampler: "hmc",
      theory: { kind: "phi4", latticeShape: [4, 4], m2: 1, lam: 0 },
      n: 6000,
      seed: 3,
      integrator: "leapfrog",
    });
    for (const k of ["acceptance", "stepSize", "seconds", "meanExpMinusDeltaH"])
      expect(typeof meta[k]).toBe("number");
  });
});

describe("latticeflow measure", () => {
  it("flow-MH ensemble: --json field names, exact χ₂ within 4σ, acceptance-run τ_int", async () => {
    const meta = JSON.parse(readFileSync(`${MH}.json`, "utf8"));
    expect(meta.acceptedFile).toBe("mh.accepted.npy");
    const flags = decodeNpy(readFileSync(join(RUN, "mh.accepted.npy")));
    expect(flags.shape).toEqual([6000]);
    const r = await run("measure", MH, "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ sampler: "flow-mh", n: 6000, latticeShape: [4, 4] });
    expect(j.theory).toEqual({ kind: "phi4", latticeShape: [4, 4], m2: 1, lam: 0, source: `${MH}.json` });
    for (const k of ["m", "chi2", "chi2_connected", "abs_m", "phi2", "phi4", "binder", "action_density"]) {
      expect(Object.keys(j[k])).toEqual(
        expect.arrayContaining(["value", "error", "tau_int", "tau_int_error", "cost_s"]),
      );
    }
    expect(Object.keys(j.m_eff[0])).toEqual(["t", "value", "error", "tau_int"]);
    expect(j.m_eff.map((p: { t: number }) => p.t)).toEqual([1, 2]);
    expect(j.correlator).toHaveLength(4);
    expect(typeof j.sign_changes).toBe("number");
    expect(Math.abs(j.chi2.value - 0.5)).toBeLessThan(4 * j.chi2.error); // exact χ₂ = 1/(2m²), 4σ
    expect(Math.abs(j.action_density.value - 0.5)).toBeLessThan(4 * j.action_density.error); // ⟨S⟩/V = 1/2
    expect(j.acceptance).toBeCloseTo(meta.acceptance, 12);
    expect(j.acceptance_run_tau_int.value).toBeGreaterThan(0.5);
    expect(j.acceptance_run_tau_int.source).toBe("file");
    // cost per independent sample = seconds/N · 2τ_int
    expect(j.chi2.cost_s).toBeCloseTo((meta.seconds / 6000) * 2 * j.chi2.tau_int, 12);
  });

  it("prints a table; the theory comes from config.json or flags when there is no sidecar", async () => {
    const text = await run("measure", MH);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/observable\s+value\s+error\s+tau_int\s+cost\/indep/);
    expect(text.stdout).toMatch(/m_eff\(1\)/);
    expect(text.stdout).toMatch(/acceptance-run tau_int/);

    const bare = join(RUN, "bare.npy"); // no sidecar, no accept flags: config.json of the run
    copyFileSync(MH, bare);
    const j = lastJson((await run("measure", bare, "--json")).stdout);
    expect(j.theory.source).toBe(join(RUN, "config.json"));
    expect(j.sampler).toBeNull();
    expect(j.acceptance).toBeNull();

    const other = join(tmp, "elsewhere");
    mkdirSync(other);
    copyFileSync(MH, join(other, "e.npy"));
    const none = lastJson((await run("measure", join(other, "e.npy"), "--json")).stdout);
    expect(none.theory).toBeNull();
    expect(none.action_density).toBeNull();
    expect(none.chi2.value).toBeCloseTo(j.chi2.value, 12);
    const flags = lastJson(
      (await run("measure", join(other, "e.npy"), "--m2", "1", "--lam", "0", "--json")).stdout,
    );
    expect(flags.theory).toEqual({ kind: "phi4", latticeShape: [4, 4], m2: 1, lam: 0, source: "flags" });
    expect(flags.action_density.value).toBeCloseTo(j.action_density.value, 12);
    // A flag changes one coupling of the recorded theory: the action density follows it.
    const m2 = lastJson((await run("measure", bare, "--m2", "2", "--json")).stdout);
    expect(m2.theory).toMatchObject({ kind: "phi4", m2: 2, lam: 0, source: "flags" });
    expect(m2.chi2.value).toBe(j.chi2.value);
    expect(m2.action_density.value).toBeCloseTo(j.action_density.value + j.phi2.value, 10); // S/V gains (2 − 1)·φ²
  });

  it('ensembles written by v0.1 (sidecar theory {name: "phi4", …}, flat config.json) still load', async () => {
    const fix = join(__dirname, "fixtures", "v0.1-run");
    for (const [file, sampler, source] of [
      [join(fix, "hmc.npy"), "hmc", `${join(fix, "hmc.npy")}.json`],
      [join(fix, "run", "ensemble.npy"), "flow-mh", `${join(fix, "run", "ensemble.npy")}.json`],
    ] as const) {
      const r = await run("measure", file, "--json");
      expect(r.code, r.stderr).toBe(0);
      const j = lastJson(r.stdout);
      expect(j).toMatchObject({ sampler, n: 16, latticeShape: [4, 4], configShape: [4, 4] });
      expect(j.theory).toEqual({ kind: "phi4", latticeShape: [4, 4], m2: -4, lam: 8, source });
      expect(Number.isFinite(j.chi2.value)).toBe(true);
      expect(Number.isFinite(j.action_density.value)).toBe(true);
    }
    // Without its sidecar, the ensemble takes the theory from the run's flat v0.1 config.json.
    const dir = join(tmp, "v0.1");
    mkdirSync(dir);
    copyFileSync(join(fix, "run", "config.json"), join(dir, "config.json"));
    copyFileSync(join(fix, "run", "ensemble.npy"), join(dir, "e.npy"));
    const j = lastJson((await run("measure", join(dir, "e.npy"), "--json")).stdout);
    expect(j.theory).toMatchObject({ kind: "phi4", m2: -4, lam: 8, source: join(dir, "config.json") });
  });
});

describe("latticeflow sample --z2", () => {
  it("the φ → −φ symmetrised proposal still gives an exact chain (free field χ₂ within 4σ)", async () => {
    const out = join(tmp, "z2.npy");
    const s = await run("sample", "--run", RUN, "--n", "4000", "--mh", "--z2", "--seed", "4", "--out", out);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(readFileSync(`${out}.json`, "utf8")).z2).toBe(true);
    const j = lastJson((await run("measure", out, "--m2", "1", "--lam", "0", "--json")).stdout);
    expect(Math.abs(j.chi2.value - 0.5)).toBeLessThan(4 * j.chi2.error);
    expect(Math.abs(j.m.value)).toBeLessThan(4 * j.m.error); // ⟨M⟩ = 0
    expect(j.sign_changes).toBeGreaterThan(1000);
  });
});

describe("latticeflow compare", () => {
  it("HMC against flow MH: every observable side by side, χ₂ within 4 combined σ", async () => {
    const r = await run("compare", HMC, MH, "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.a).toMatchObject({ sampler: "hmc", n: 6000 });
    expect(j.b).toMatchObject({ sampler: "flow-mh", n: 6000 });
    expect(typeof j.b.acceptance_run_tau_int).toBe("number");
    for (const k of ["chi2", "abs_m", "phi2", "phi4", "binder", "action_density", "m_eff(1)", "C(0)"]) {
      expect(Object.keys(j.observables[k])).toEqual(["a", "b", "diff", "sigma", "n_sigma"]);
    }
    const c = j.observables.chi2;
    expect(c.n_sigma).toBeCloseTo(c.diff / Math.hypot(c.a.error, c.b.error), 10);
    // Both ensembles sample the same free field: statistically compatible at 4σ.
    for (const k of ["chi2", "abs_m", "phi2", "action_density"]) {
      expect(Math.abs(j.observables[k].n_sigma), k).toBeLessThan(4);
    }
    const text = await run("compare", HMC, MH);
    expect(text.stdout).toMatch(/\(A-B\)\/sigma/);
    expect(text.stdout).toMatch(/max \|A-B\|\/sigma/);
  });
});

describe("latticeflow lnz", () => {
  it("ln Z of the free field by importance sampling: exact value within 4σ", async () => {
    const r = await run("lnz", "--run", RUN, "--n", "8000", "--seed", "5", "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(Object.keys(j)).toEqual(expect.arrayContaining(["lnZ", "lnZ_error", "F_variational", "ess"]));
    const exact = exactLnZ(4, 1);
    expect(j.ess).toBeGreaterThan(0.1);
    expect(Math.abs(j.lnZ - exact), `${j.lnZ} ± ${j.lnZ_error} vs ${exact}`).toBeLessThan(4 * j.lnZ_error);
    expect(j.F_variational).toBeGreaterThan(-exact); // F_q ≥ F = −ln Z
    // The φ → −φ symmetrised proposal is another valid importance sampler of the same Z.
    const z = lastJson(
      (await run("lnz", "--run", RUN, "--n", "8000", "--seed", "5", "--z2", "--json")).stdout,
    );
    expect(Math.abs(z.lnZ - exact), `${z.lnZ} ± ${z.lnZ_error} vs ${exact}`).toBeLessThan(4 * z.lnZ_error);
  });
});

describe("bad input: one line, exit 2, nothing written", () => {
  const bad: [string, () => string[], RegExp][] = [
    ["hmc negative lambda", () => ["hmc", "--m2", "1", "--lam", "-1", "--out", join(tmp, "b1.npy")], /--lam/],
    [
      "hmc free field needs m2 > 0",
      () => ["hmc", "--m2", "-1", "--lam", "0", "--out", join(tmp, "b2.npy")],
      /m2 > 0/,
    ],
    ["hmc not .npy", () => ["hmc", ...FREE, "--out", join(tmp, "b3.txt")], /\.npy/],
    [
      "hmc integrator",
      () => ["hmc", ...FREE, "--integrator", "euler", "--out", join(tmp, "b4.npy")],
      /integrator/,
    ],
    ["hmc n", () => ["hmc", ...FREE, "--n", "1.5", "--out", join(tmp, "b5.npy")], /--n must be an integer/],
    [
      "hmc target",
      () => ["hmc", ...FREE, "--target-acceptance", "1", "--out", join(tmp, "b6.npy")],
      /target/,
    ],
    ["hmc theory", () => ["hmc", ...FREE, "--theory", "xy", "--out", join(tmp, "b7.npy")], /unknown theory/],
    ["measure missing file", () => ["measure", join(tmp, "nothing.npy")], /no such file/],
    ["measure not npy", () => ["measure", `${HMC}.json`], /\.npy/],
    [
      "measure: couplings without a recorded theory",
      () => {
        const bare = join(tmp, "no-sidecar.npy");
        copyFileSync(HMC, bare);
        return ["measure", bare, "--m2", "1"];
      },
      /give --m2 and --lam for theory 'phi4' \(no sidecar/,
    ],
    [
      "measure a u1 flag on phi4",
      () => ["measure", HMC, "--beta", "2"],
      /--beta is a setting of theory 'u1'/,
    ],
    ["measure wrong lattice", () => ["measure", HMC, "--L", "8", "--m2", "1", "--lam", "0"], /shape/],
    ["compare one file", () => ["compare", HMC], /missing required argument/],
    ["lnz no run", () => ["lnz", "--run", join(tmp, "none"), "--n", "10"], /not a run directory/],
    ["lnz n", () => ["lnz", "--run", RUN, "--n", "1"], /--n must be/],
  ];
  for (const [name, args, msg] of bad) {
    it(name, async () => {
      const a = args();
      const r = await run(...a);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
      const out = a[a.indexOf("--out") + 1];
      if (a.includes("--out") && out) expect(existsSync(out)).toBe(false);
    });
  }
});
