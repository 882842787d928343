/**
 * bench/scaling.ts end to end on tiny trainings (built dist/, as `npm test` builds it): the
 * markdown row has every column, the JSON line is the file's summary and its numbers are those of
 * the commands' --json (ESS from lnz, τ_int and cost from measure, n σ and the flow's total cost
 * computed from them), the extra train flags override the family's, and the refusals.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runProcess } from "./run-cli.js";

const SCRIPT = join(__dirname, "..", "dist", "bench", "scaling.js");
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-scaling-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const scaling = (...args: string[]) => runProcess(process.execPath, [SCRIPT, ...args]);
const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

type Measured = Record<string, { value: number; error: number; tau_int: number; cost_s: number }> & {
  seconds: number;
};

describe("bench/scaling", () => {
  it("runs a tiny E1 row: one markdown row with every column, the JSON line, the file", async () => {
    const out = join(tmp, "e1", "row.json");
    const keep = join(tmp, "e1-run");
    const r = await scaling(
      ...["--row", "E1", "--n", "500", "--hmc-n", "500", "--ess-draws", "256", "--out", out, "--keep", keep],
      ...["--", "--steps", "20", "--threads", "1"],
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    const cells = lines[0]!.replace(/^\| | \|$/g, "").split(" | ");
    expect(cells).toHaveLength(16);
    expect(cells.slice(0, 3)).toEqual(["E1", "6", "6.975"]);
    for (const c of cells.slice(3)) expect(c).toMatch(/^[+−-]?\d+(\.\d+)?( ± \d+(\.\d+)?)?$/);

    const s = JSON.parse(lines[1]!) as Record<string, number | string | null>;
    const file = readJson(out);
    expect(file).toMatchObject(s);
    expect(readdirSync(join(tmp, "e1"))).toEqual(["row.json"]);
    expect(s).toMatchObject({ row: "E1", L: 6, lam: 6.975, m2: -4, flow_family: "affine-cnn" });
    expect(s).toMatchObject({ n: 500, hmc_n: 500, ess_draws: 256, seed: 1, file: out });

    const o = file.outputs as Record<string, Record<string, unknown>>;
    const mh = o.measure_mh as unknown as Measured;
    const hmc = o.measure_hmc as unknown as Measured;
    expect(o.lnz!.n).toBe(256);
    expect(s.ess).toBe(o.lnz!.ess);
    expect(s.ess_error).toBe(o.lnz!.ess_error);
    expect(s.mh_acceptance).toBe(o.sample!.acceptance);
    expect([mh.n, hmc.n, mh.sampler, hmc.sampler]).toEqual([500, 500, "flow-mh", "hmc"]);
    expect(s.tau_chi2_flow).toBe(mh.chi2!.tau_int);
    expect(s.tau_abs_m_flow).toBe(mh.abs_m!.tau_int);
    expect(s.tau_chi2_hmc).toBe(hmc.chi2!.tau_int);
    expect(s.tau_abs_m_hmc).toBe(hmc.abs_m!.tau_int);
    expect([s.chi2_flow, s.chi2_flow_error]).toEqual([mh.chi2!.value, mh.chi2!.error]);
    expect([s.chi2_hmc, s.chi2_hmc_error]).toEqual([hmc.chi2!.value, hmc.chi2!.error]);
    expect(s.chi2_n_sigma as number).toBeCloseTo(
      (mh.chi2!.value - hmc.chi2!.value) / Math.hypot(mh.chi2!.error, hmc.chi2!.error),
      12,
    );
    // Cost per independent sample: sampling seconds / N · 2τ_int, in ms.
    expect(s.sample_s).toBe(mh.seconds);
    expect(s.hmc_s).toBe(hmc.seconds);
    expect(s.cost_ms_flow as number).toBeCloseTo(
      ((mh.seconds / 500) * 2 * mh.chi2!.tau_int * 1000) as number,
      9,
    );
    expect(s.cost_ms_hmc as number).toBeCloseTo(hmc.chi2!.cost_s * 1000, 9);
    const train = s.train_s as number;
    expect(train).toBeGreaterThan(0);
    expect(s.total_cost_ms_flow as number).toBeCloseTo(
      ((train + mh.seconds) / 500) * 2 * mh.chi2!.tau_int * 1000,
      9,
    );

    // The flags after -- win over the family's (--steps 20000 --threads 2); at L = 6 the
    // affine family trains in float64, the dtype with SIMD kernels on rows of 6 sites.
    const config = readJson(join(keep, "run", "config.json")) as Record<string, Record<string, unknown>>;
    expect(config.theory).toEqual({ kind: "phi4", latticeShape: [6, 6], m2: -4, lam: 6.975 });
    expect(config.flow).toMatchObject({ kind: "affine-cnn", hidden: [16, 16] });
    expect(config.train).toMatchObject({
      steps: 20,
      threads: 1,
      lr: 2e-3,
      lrSchedule: "cosine",
      dtype: "float64",
    });
    expect(config.train!.seed).toBe(1);
    expect((file.commands as Record<string, string>).hmc).toMatch(/^latticeflow hmc --theory phi4 --L 6 /);
    expect((file.commands as Record<string, string>).hmc).toContain(" --leapfrog 10 ");
  });

  it("trains the continuous flow with --flow-family cnf", async () => {
    const out = join(tmp, "e1-cnf.json");
    const keep = join(tmp, "e1-cnf-run");
    const r = await scaling(
      ...["--row", "E1", "--flow-family", "cnf", "--n", "100", "--hmc-n", "100", "--ess-draws", "64"],
      ...["--seed", "3", "--out", out, "--keep", keep, "--", "--steps", "2"],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\| E1 \| 6 \| 6\.975 \| /);
    const config = readJson(join(keep, "run", "config.json")) as Record<string, Record<string, unknown>>;
    expect(config.flow).toMatchObject({ kind: "cnf", odeSteps: 40 });
    expect(config.train).toMatchObject({
      steps: 2,
      seed: 3,
      lr: 1e-3,
      lrSchedule: "cosine",
      dtype: "float32",
    });
    expect(readJson(out)).toMatchObject({ row: "E1", flow_family: "cnf", n: 100, hmc_n: 100, seed: 3 });
  });

  it("--preset trains the chain the preset ends, and the same command again resumes it", async () => {
    const keep = join(tmp, "x32-run");
    const args = ["--row", "X32", "--preset", "phi4-l32", "--n", "8", "--hmc-n", "20", "--ess-draws", "16"];
    args.push("--ode-steps", "3");
    const tiny = ["--", "--steps", "2", "--ode-steps", "2", "--batch", "2"];
    const first = await scaling(...args, "--keep", keep, "--out", join(tmp, "x32a.json"), ...tiny);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^\| X32 \| 32 \| 4\.572 \| /);
    const a = readJson(join(tmp, "x32a.json")) as Record<string, unknown> & {
      stages: { preset: string; resumed: boolean; train_s: number }[];
      commands: Record<string, string>;
    };
    expect(a).toMatchObject({ row: "X32", preset: "phi4-l32", flow_family: "cnf", ode_steps: 3 });
    // lnz and sample drew with 3 RK4 steps, the run has 2.
    expect((a.outputs as Record<string, Record<string, unknown>>).lnz!.ode_steps).toBe(3);
    expect(a.commands.sample).toMatch(/ --ode-steps 3 /);
    // The preset's threads push lnz's and sample's draws too (the same numbers for any count).
    expect(a.commands.sample).toMatch(/ --threads 2 /);
    expect(a.stages.map((x) => [x.preset, x.resumed])).toEqual([
      ["phi4-l32-start", false],
      ["phi4-l32-refine", false],
      ["phi4-l32", false],
    ]);
    // The flow's training time is what its three runs record, not the row's wall.
    expect(a.train_s).toBeCloseTo(
      a.stages.reduce((t, x) => t + x.train_s, 0),
      9,
    );
    expect(a.commands.train).toMatch(
      /^latticeflow train --preset phi4-l32-start .* && latticeflow train --preset phi4-l32-refine .*--init-from .*phi4-l32-start/,
    );
    const config = readJson(join(keep, "phi4-l32", "config.json")) as Record<string, Record<string, unknown>>;
    expect(config.train).toMatchObject({ gradientEstimator: "path", steps: 2, seed: 1 });
    const again = await scaling(...args, "--keep", keep, "--out", join(tmp, "x32b.json"), ...tiny);
    expect(again.code, again.stderr).toBe(0);
    const b = readJson(join(tmp, "x32b.json")) as typeof a;
    expect(b.stages.map((x) => x.resumed)).toEqual([true, true, true]);
    for (const k of ["ess", "mh_acceptance", "chi2_flow", "chi2_hmc", "train_s"]) expect(b[k], k).toBe(a[k]);
    const seed2 = await scaling(
      ...args,
      "--seed",
      "2",
      "--keep",
      keep,
      "--out",
      join(tmp, "x32c.json"),
      ...tiny,
    );
    expect(seed2.code).toBe(2);
    expect(seed2.stderr.trim().split("\n")).toHaveLength(1);
    expect(seed2.stderr.trim()).toMatch(
      /^scaling: error: .*phi4-l32-start holds a run of seed 1, not 2: give --seed 1, or another --keep directory$/,
    );
  }, 120_000);

  it("refuses bad usage in one line naming the fix, exit 2, nothing written", async () => {
    const out = join(tmp, "refused.json");
    const full = join(tmp, "full");
    mkdirSync(full);
    writeFileSync(join(full, "x"), "");
    const cases: [string[], RegExp][] = [
      [[], /--row is required: one of E1, E2, E3, E4, E5, X20, X32$/],
      [["--row", "E9"], /unknown row 'E9': use one of E1, /],
      [["--row", "E1", "--steps", "3"], /unknown option '--steps': train flags go after --/],
      [["--row", "E1", "--n", "1"], /--n must be an integer ≥ 2, got '1'/],
      [["--row", "X32", "--hmc-leapfrog", "0"], /--hmc-leapfrog must be an integer ≥ 1, got '0'/],
      [["--row", "E1", "--flow-family", "mlp"], /unknown --flow-family 'mlp': use one of affine-cnn, cnf/],
      [["--row", "E1", "--", "--seed", "3"], /--seed is not a train flag here \(use the script's --seed\)/],
      [
        ["--row", "E1", "--", "--lam=5"],
        /--lam is not a train flag here \(the row sets λ: pick another row\)/,
      ],
      [["--row", "E1", "--keep", full], /is not empty: name a new or empty directory/],
      [["--row"], /--row needs a value, e.g. --row E2/],
      [
        ["--row", "X20", "--preset", "phi4-l32"],
        /preset phi4-l32 is not row X20's ensemble .*: use --row X32$/,
      ],
      [
        ["--row", "E2", "--preset", "phi4-notebook"],
        /preset phi4-notebook is not row E2's ensemble .*: it is no row's$/,
      ],
      [["--row", "X32", "--preset", "phi4-l32", "--flow-family", "cnf"], /give one of them/],
      [["--row", "X32", "--preset", "nope"], /unknown preset 'nope'/],
      [["--row", "X32", "--", "--init-from", "x"], /--init-from is not a train flag here/],
      [
        ["--row", "E1", "--ode-steps", "80"],
        /--ode-steps sets the RK4 steps of a continuous flow; this row's flow is affine-cnn/,
      ],
      [
        ["--row", "E1", "--flow-family", "cnf", "--ode-steps", "0"],
        /--ode-steps must be an integer ≥ 1, got '0'/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await scaling("--out", out, ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout, args.join(" ")).toBe("");
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.stderr, args.join(" ")).toMatch(/^scaling: error: /);
      expect(r.stderr.trim(), args.join(" ")).toMatch(message);
    }
    expect(readdirSync(tmp)).not.toContain("refused.json");
  });
});
