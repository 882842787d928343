/**
 * `latticeflow lnz --bridge` through the built CLI: a small MERA flow trained for 2 s (ESS ≈ 0.004) on the 4×4 Ising
 * relaxation at T_c plus a Wolff spin ensemble (turned into exact draws of p(x) by x | s ~
 * N(Ks, K)) give the exact ln Z of the spins within 3σ by bridge sampling, while importance
 * sampling from the same flow draws is reported beside it. An ensemble that is not exact draws
 * of p, or of another theory, is one line and exit 2.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "./run-cli.js";

const CLI = process.env.LATTICEFLOW_CLI ?? join(__dirname, "..", "dist", "src", "cli", "main.js");
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-bridge-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runProcess(process.execPath, [CLI, ...args]);
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field below
const lastJson = (stdout: string): Record<string, any> => JSON.parse(stdout.trim().split("\n").at(-1)!);

const TC = "2.269185314213022";
const ISING4 = ["--theory", "ising", "--L", "4", "--T", TC];
const RUN = join(tmp, "run");
const SPINS = join(tmp, "wolff.npy");
const RAW = join(tmp, "raw.npy");
const OTHER = join(tmp, "other.npy");

beforeAll(async () => {
  const steps = [
    "--ndis",
    "1",
    "--layers",
    "2",
    "--hidden",
    "8",
    "--batch",
    "64",
    "--steps",
    "200",
    "--lr",
    "1e-2",
  ];
  const [t, w, o] = await Promise.all([
    run("train", ...ISING4, "--flow", "mera", ...steps, "--seed", "2", "--quiet", "--out", RUN),
    run("wolff", ...ISING4, "--n", "8000", "--seed", "4", "--out", SPINS),
    run("wolff", "--theory", "ising", "--L", "4", "--T", "2.5", "--n", "100", "--out", OTHER),
  ]);
  for (const r of [t, w, o]) expect(r.code, r.stderr).toBe(0);
  const s = await run("sample", "--run", RUN, "--n", "100", "--out", RAW);
  expect(s.code, s.stderr).toBe(0);
}, 120_000);

describe("latticeflow lnz --bridge", () => {
  it("gives the exact ln Z of the 4×4 spins within 3σ, with the importance estimate beside it", async () => {
    const r = await run("lnz", "--run", RUN, "--n", "8192", "--seed", "3", "--bridge", SPINS, "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ method: "bridge", n_exact: 8000, n: 8192 });
    expect(j.lnZ_exact).toBeCloseTo(15.521915458755283, 10);
    expect(Math.abs(j.lnZ_n_sigma)).toBeLessThan(3);
    expect(j.lnZ_error).toBeGreaterThan(0);
    expect(j.lnZ_error).toBeLessThan(0.05);
    // The exact draws carry what the flow's few heavy weights cannot: an error ≥ 4× smaller.
    expect(j.importance.lnZ_error).toBeGreaterThan(4 * j.lnZ_error);
    const text = await run("lnz", "--run", RUN, "--n", "2048", "--bridge", SPINS);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/importance sampling alone: ln Z = /);
    expect(text.stdout).toMatch(/bridge sampling with 8000 exact draws: ln Z = /);
  });

  it("refuses draws of the flow and ensembles of another theory: one line, exit 2", async () => {
    const raw = await run("lnz", "--run", RUN, "--n", "64", "--bridge", RAW);
    expect(raw.code).toBe(2);
    expect(raw.stderr.trim().split("\n")).toHaveLength(1);
    expect(raw.stderr).toMatch(
      /sampler 'flow', not exact draws of p; give an ensemble from hmc, flow-mh, wolff/,
    );
    const other = await run("lnz", "--run", RUN, "--n", "64", "--bridge", OTHER);
    expect(other.code).toBe(2);
    expect(other.stderr.trim().split("\n")).toHaveLength(1);
    expect(other.stderr).toMatch(/samples ising 4x4 T=2.5 periodic, but the run is ising 4x4 T=2.269/);
  });
});
