/**
 * Honest summaries (issue 16): `--version`, `demo --json`, `compare` warning above 3σ, `lnz`
 * warning at a low ESS, and the flow samplers refusing non-finite log q or log p̃ instead of
 * carrying NaN along. The CLI cases run the built dist/ CLI in a child process.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drawsNeeded, lowEssReason } from "../src/analysis/reweighting.js";
import { type ComparedRow, disagreementWarning, N_SIGMA_WARN } from "../src/cli/compare-command.js";
import { importanceLogWeights, lnzWarning } from "../src/cli/lnz-command.js";
import { independenceMetropolis, NonFiniteProposalError } from "../src/mcmc/independence-metropolis.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { lastJson, runCli } from "./run-cli.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-summaries-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("latticeflow --version", () => {
  it("prints package.json's version and exits 0", async () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as {
      version: string;
    };
    for (const flag of ["--version", "-V"]) {
      const r = await runCli(flag);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  });
});

describe("latticeflow demo --json", () => {
  it("prints one JSON object with training and measurement figures and their errors", async () => {
    const out = join(tmp, "demo");
    const r = await runCli("demo", "--steps", "3", "--n", "300", "--out", out, "--json", "--quiet");
    expect(r.code).toBe(0);
    // The summary is the only stdout line.
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const s = lastJson(r.stdout) as {
      out: string;
      interrupted: boolean;
      training: Record<string, number | null>;
      sampling: Record<string, number | string | null>;
      observables: Record<string, { value: number | null; error: number | null; tau_int: number | null }>;
      warning: string | null;
    };
    expect(s.out).toBe(out);
    expect(s.interrupted).toBe(false);
    expect(s.training.steps).toBe(3);
    for (const k of ["loss", "ess", "ess_error", "ms_per_step"]) expect(typeof s.training[k]).toBe("number");
    expect(s.sampling.n).toBe(300);
    expect(s.sampling.ensemble).toBe(join(out, "ensemble.npy"));
    expect(typeof s.sampling.acceptance).toBe("number");
    expect(Object.keys(s.observables)).toEqual(["abs_m", "chi2", "phi2", "m_eff(1)"]);
    for (const g of Object.values(s.observables))
      expect(Object.keys(g)).toEqual(["value", "error", "tau_int"]);
    expect(typeof s.observables.chi2!.value).toBe("number");
    // Three training steps: the chain accepts a handful of proposals, and the summary says so.
    expect(s.warning).toMatch(/the MH chain accepted only \d+ of 299 proposals/);
  });

  it("labels m_eff(t) with the t it holds", async () => {
    const r = await runCli("demo", "--steps", "2", "--n", "200", "--out", join(tmp, "demo-text"), "--quiet");
    expect(r.code).toBe(0);
    const line = r.stdout.split("\n").find((l) => l.startsWith("m_eff("));
    expect(line).toMatch(/^m_eff\(1\) /);
    expect(r.stdout).toMatch(/^warning: the MH chain accepted only/m);
  });
});

describe("latticeflow compare: warning above 3 sigma", () => {
  const hmc = (name: string, m2: string, seed: string) => [
    "hmc",
    "--L",
    "4",
    "--m2",
    m2,
    "--lam",
    "8",
    "--n",
    "2000",
    "--seed",
    seed,
    "--out",
    join(tmp, name),
    "--quiet",
  ];
  beforeAll(async () => {
    for (const args of [hmc("a.npy", "-4", "1"), hmc("b.npy", "-3", "2"), hmc("c.npy", "-4", "3")]) {
      const r = await runCli(...args);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it("warns (JSON and text) when observables differ by more than 3 sigma", async () => {
    // The theory flags give both the same theory: only the 3σ warning is left.
    const same = ["--m2", "-4", "--lam", "8"];
    const j = await runCli("compare", join(tmp, "a.npy"), join(tmp, "b.npy"), ...same, "--json");
    expect(j.code).toBe(0);
    const s = lastJson(j.stdout);
    expect(s.max_abs_n_sigma as number).toBeGreaterThan(N_SIGMA_WARN);
    expect(s.warning).toMatch(/^\d+ of \d+ observables differ by more than 3 sigma \(phi2 /);
    expect(s.warning).not.toMatch(/different theories:/);
    const t = await runCli("compare", join(tmp, "a.npy"), join(tmp, "b.npy"), ...same);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^warning: \d+ of \d+ observables differ by more than 3 sigma/m);
  });

  it("with different theories gives both warnings", async () => {
    const j = await runCli("compare", join(tmp, "a.npy"), join(tmp, "b.npy"), "--json");
    expect(lastJson(j.stdout).warning).toMatch(/^different theories: .*; \d+ of \d+ observables differ/);
  });

  it("stays silent when two ensembles of the same theory agree", async () => {
    const j = await runCli("compare", join(tmp, "a.npy"), join(tmp, "c.npy"), "--json");
    const s = lastJson(j.stdout);
    expect(s.max_abs_n_sigma as number).toBeLessThan(N_SIGMA_WARN);
    expect(s.warning).toBeNull();
    const t = await runCli("compare", join(tmp, "a.npy"), join(tmp, "c.npy"));
    expect(t.stdout).not.toMatch(/warning/);
  });

  it("names the worst observables first and ignores rows without an error", () => {
    const row = (name: string, nSigma: number): ComparedRow => {
      const e = { value: 0, error: 1, tauInt: 0.5 };
      return { name, label: name, a: e, b: e, diff: nSigma, sigma: 1, nSigma };
    };
    expect(disagreementWarning([row("x", 2.99), row("y", -3), row("z", Number.NaN)])).toBeNull();
    expect(disagreementWarning([row("x", 3.2), row("y", -5.1), row("z", 1)])).toMatch(
      /^2 of 3 observables differ by more than 3 sigma \(y -5\.1 sigma, x 3\.2 sigma\)/,
    );
  });
});

describe("latticeflow lnz: warning at low ESS", () => {
  it("warns when a barely trained flow's ESS is too low for the error to mean anything", async () => {
    const run = join(tmp, "barely");
    const tiny = ["--L", "4", "--layers", "2", "--hidden", "4", "--batch", "8", "--quiet"];
    const t = await runCli("train", ...tiny, "--steps", "3", "--out", run);
    expect(t.code, t.stderr).toBe(0);
    const j = await runCli("lnz", "--run", run, "--n", "512", "--json");
    expect(j.code, j.stderr).toBe(0);
    const s = lastJson(j.stdout);
    expect(s.ess as number).toBeLessThan(0.1);
    expect(s.ess_error as number).toBeGreaterThan(0); // src/analysis/reweighting.ts: essStandardError
    expect(s.warning).toMatch(/^ESS \S+ on N = 512 draws \(N·ESS = .* < 100.*\): .*raise --n or train/);
    const txt = await runCli("lnz", "--run", run, "--n", "512");
    expect(txt.stdout).toMatch(/^warning: ESS \S+ on N = 512 draws/m);
    expect(txt.stdout).toMatch(/; ESS \d\.\d{4} ± \d\.\d{4}; 512 samples/);
  });

  it("thresholds: N·ESS ≥ 100 and N·ESS² ≥ 10", () => {
    expect(lnzWarning(0.66, 16384)).toBeNull(); // the broken-phase flow of the README
    expect(lnzWarning(0.15, 8192)).toBeNull();
    expect(lnzWarning(0.014, 8192)).toMatch(/N·ESS² = 1\.6 < 10/); // issue 16's case
    expect(lnzWarning(0.9, 50)).toMatch(/N·ESS = 45 < 100/);
    expect(drawsNeeded(0.014)).toBe(51021);
    expect(drawsNeeded(0.15)).toBe(667);
    expect(lowEssReason(0, 1000)).toMatch(/the ESS is 0/);
  });
});

describe("non-finite log q or log p̃: refused, not propagated", () => {
  const theory = new Phi4Theory({ latticeShape: [4], m2: 1, lam: 1 });
  /** Gaussian proposals whose `bad`-th one (counted over all calls) gets log q = `logq` or x = `x`. */
  const proposer = (bad: number, what: { logq?: number; x?: number }) => {
    const rng = new Rng(5);
    let done = 0;
    return (n: number) => {
      const x = new Float64Array(n * 4);
      rng.normal(x);
      const logq = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = 0; k < 4; k++) s += x[i * 4 + k]! ** 2;
        logq[i] = -s / 2 - 2 * Math.log(2 * Math.PI);
        if (done + i === bad) {
          if (what.logq !== undefined) logq[i] = what.logq;
          if (what.x !== undefined) x[i * 4] = what.x;
        }
      }
      done += n;
      return { x, logq };
    };
  };

  it("independenceMetropolis names the proposal and the likely cause", () => {
    for (const [bad, what, text] of [
      [
        37,
        { logq: Number.NaN },
        /^proposal 37 \(counting from 0\) has log q = NaN: the flow has most likely diverged/,
      ],
      [0, { logq: Number.NaN }, /^proposal 0 .* log q = NaN/],
      [5, { logq: Number.POSITIVE_INFINITY }, /^proposal 5 .* log q = Infinity/],
      [70, { x: Number.NaN }, /^proposal 70 .* log p̃ = −S = NaN/],
      [12, { x: 1e200 }, /^proposal 12 .* log p̃ = −S = -Infinity/], // φ² overflows
    ] as const) {
      const run = () =>
        independenceMetropolis(theory, proposer(bad, what), { n: 100, batch: 16 }, new Rng(6));
      expect(run).toThrow(NonFiniteProposalError);
      expect(run).toThrow(text);
      try {
        run();
      } catch (e) {
        expect((e as NonFiniteProposalError).index).toBe(bad);
      }
    }
  });

  it("a chain of finite proposals is unchanged", () => {
    const r = independenceMetropolis(theory, proposer(-1, {}), { n: 100, batch: 16 }, new Rng(6));
    expect(r.proposalLogWeights.every(Number.isFinite)).toBe(true);
    expect(r.configs.every(Number.isFinite)).toBe(true);
  });

  it("refuses a batch size that would never finish", () => {
    expect(() => independenceMetropolis(theory, proposer(-1, {}), { n: 10, batch: 0 }, new Rng(6))).toThrow(
      /proposals per batch must be a positive integer/,
    );
  });

  it("lnz's importance weights refuse a non-finite sample the same way", () => {
    expect(() => importanceLogWeights(theory, proposer(9, { logq: Number.NaN }), 64, 8)).toThrow(
      /^flow sample 9 \(counting from 0\) has log q = NaN: the flow has most likely diverged/,
    );
    const ok = importanceLogWeights(theory, proposer(-1, {}), 64, 8);
    expect(ok.every(Number.isFinite)).toBe(true);
  });
});
