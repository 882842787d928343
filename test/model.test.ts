/**
 * The model description (src/model): presets and stored runs parse, flat settings land in their
 * sections, bad settings are one SpecError line naming the field, and the versions before it
 * keep working: a run directory and ensembles written by v0.1 (test/fixtures/v0.1-run) load,
 * resume to the same numbers v0.1 computed, and resample to the same bits; the notebook's
 * float64 and float32 losses over 30 steps are v0.1's bit for bit.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type MetricRecord, readConfig, readMetrics, trainingSeconds } from "../src/cli/run-dir.js";
import { runSampling } from "../src/cli/sample-command.js";
import { runTraining } from "../src/cli/train-command.js";
import { simdSupported } from "../src/engine/index.js";
import { cnfTransferProblem } from "../src/flows/cnf-kernel-transfer.js";
import {
  applySettings,
  applyTheorySettings,
  buildModel,
  configShapeOf,
  FLOW_DEFAULTS,
  FLOW_DOMAIN,
  modelSpecOf,
  PRESET_CONTINUES,
  PRESETS,
  parseRunConfig,
  parseTheorySpec,
  presetBefore,
  presetChain,
  presetConfig,
  SpecError,
  speedWarnings,
  THEORY_DEFAULTS,
  validateRunConfig,
} from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";
import { adamOf } from "../src/train/adam.js";
import { createTrainer } from "../src/train/trainer.js";

const FIX = join(__dirname, "fixtures");
const tmp = mkdtempSync(join(tmpdir(), "lf-model-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function specError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SpecError);
    const m = (e as Error).message;
    expect(m.split("\n")).toHaveLength(1);
    return m;
  }
  throw new Error("expected a SpecError");
}

describe("model description", () => {
  it("every preset and every default validates and builds", () => {
    for (const [name, c] of Object.entries(PRESETS)) {
      expect(validateRunConfig(c, name)).toEqual(c);
      const { theory, flow } = buildModel(c);
      expect(theory.configShape).toEqual(configShapeOf(c.theory));
      expect(flow.prior.eventShape).toEqual(theory.configShape);
    }
    for (const flow of Object.values(FLOW_DEFAULTS)) {
      const base = presetConfig(FLOW_DOMAIN[flow.kind] === "real" ? "phi4-notebook" : "u1-tutorial");
      const c = { ...base, flow };
      expect(() => buildModel(validateRunConfig(c, "test"))).not.toThrow();
    }
  });

  it("phi4-l32's stages chain by --init-from: one flow, 16×16 twice, then 32×32, all at L = 32's coupling", () => {
    const start = presetConfig("phi4-l32-start");
    const refine = presetConfig("phi4-l32-refine");
    const l32 = presetConfig("phi4-l32");
    expect(l32.theory).toEqual({ kind: "phi4", latticeShape: [32, 32], m2: -4, lam: 4.572 });
    expect(refine.theory).toEqual(start.theory);
    expect({ ...start.theory, latticeShape: [32, 32] }).toEqual(l32.theory);
    for (const c of [refine, l32]) {
      expect({ ...start.flow, odeSteps: 0 }).toEqual({ ...c.flow, odeSteps: 0 });
      expect(c.train).toMatchObject({ gradientEstimator: "path", lrSchedule: "cosine" });
      expect(c.train.lrWarmup).toBeGreaterThan(0);
    }
    expect(cnfTransferProblem(configShapeOf(refine.theory), configShapeOf(l32.theory))).toBeNull();
    const a = buildModel(start).flow.initParams(new Rng(1), "float32");
    const r = buildModel(refine).flow.initParams(new Rng(1), "float32");
    const b = buildModel(l32).flow.initParams(new Rng(1), "float32");
    expect(Object.keys(a)).toEqual(Object.keys(b));
    for (const [k, t] of Object.entries(a)) expect(r[k]!.shape).toEqual(t.shape);
    // Only the kernel w [orbits, F, T] depends on the lattice (its orbits).
    const kernel = (k: string) => k === "w" || k.endsWith(".w");
    for (const [k, t] of Object.entries(a))
      expect(kernel(k) ? t.shape.slice(1) : t.shape).toEqual(kernel(k) ? b[k]!.shape.slice(1) : b[k]!.shape);
  });

  it("presetChain: the presets to train in turn; PRESET_CONTINUES names presets only", () => {
    expect(presetChain("phi4-l32")).toEqual(["phi4-l32-start", "phi4-l32-refine", "phi4-l32"]);
    expect(presetChain("phi4-l32-refine")).toEqual(["phi4-l32-start", "phi4-l32-refine"]);
    expect(presetChain("phi4-notebook")).toEqual(["phi4-notebook"]);
    expect(presetBefore("phi4-l32-start")).toBeUndefined();
    expect(presetBefore("constructor")).toBeUndefined();
    expect(() => presetChain("nope")).toThrow(/unknown preset 'nope'/);
    for (const [name, before] of Object.entries(PRESET_CONTINUES)) {
      expect(Object.keys(PRESETS)).toContain(name);
      expect(Object.keys(PRESETS)).toContain(before);
    }
  });

  it("trainingSeconds: each invocation's last seconds, summed; restored lines without a time skipped", () => {
    const rec = (step: number, seconds: number | null) =>
      ({ step, loss: 0, ess: 0, seconds }) as MetricRecord;
    expect(trainingSeconds([])).toBe(0);
    expect(trainingSeconds([rec(1, 1), rec(2, 2), rec(3, 3.5)])).toBe(3.5);
    // Resumed after step 2 (its clock restarts), and a line restored from the checkpoint.
    expect(trainingSeconds([rec(1, 1), rec(2, 2), rec(3, null), rec(4, 0.5), rec(5, 1.25)])).toBe(3.25);
  });

  it("configShape: φ⁴ [...L], U(1) links [d, ...L]", () => {
    expect(configShapeOf({ kind: "phi4", latticeShape: [6, 4], m2: 1, lam: 0 })).toEqual([6, 4]);
    expect(configShapeOf({ kind: "u1", latticeShape: [8, 8, 4], beta: 1 })).toEqual([3, 8, 8, 4]);
  });

  it("flat settings land in their sections; a new kind starts from its defaults", () => {
    const base = presetConfig("phi4-notebook");
    const c = applySettings(base, { L: 6, dim: 3, lam: 2, flow: "realnvp-mlp", hidden: [16], lr: 0.01 }, "t");
    expect(c.theory).toEqual({ kind: "phi4", latticeShape: [6, 6, 6], m2: -4, lam: 2 });
    expect(c.flow).toEqual({ ...FLOW_DEFAULTS["realnvp-mlp"], hidden: [16] });
    expect(c.train.lr).toBe(0.01);
    expect(c.train.batch).toBe(base.train.batch);
    const u = applyTheorySettings(undefined, { theory: "u1", beta: 3, L: 4 }, "t");
    expect(u).toEqual({ ...THEORY_DEFAULTS.u1, latticeShape: [4, 4], beta: 3 });
    expect(applyTheorySettings(u, { beta: 1 }, "t")).toEqual({ ...u, beta: 1 });
    expect(specError(() => applyTheorySettings(u, { m2: 1 }, "flags"))).toMatch(
      /'m2' is a setting of theory 'phi4', not of theory 'u1'/,
    );
    expect(specError(() => applyTheorySettings(u, { layers: 1 }, "flags"))).toMatch(
      /'layers' is a setting of flow/,
    );
    expect(modelSpecOf(c)).toEqual({ theory: c.theory, flow: c.flow, dtype: "float64" });
  });

  it("bad settings: one line naming the field and the fix", () => {
    const base = presetConfig("phi4-notebook");
    expect(specError(() => applySettings(base, { beta: 2 }, "flags"))).toMatch(
      /'beta' is a setting of theory 'u1'/,
    );
    expect(specError(() => applySettings(base, { kernell: 3 }, "f.json"))).toMatch(
      /f\.json: unknown setting 'kernell'/,
    );
    expect(specError(() => applySettings(base, { theory: "su3" }, "flags"))).toMatch(
      /unknown theory 'su3'.*phi4, u1/,
    );
    expect(specError(() => applySettings(base, { L: 7 }, "flags"))).toMatch(/L = 7 is odd.*even/);
    expect(specError(() => applySettings(base, { kernel: 9 }, "flags"))).toMatch(
      /kernel = 9 is wider than the lattice/,
    );
    expect(specError(() => applySettings(base, { lam: 0, m2: -1 }, "flags"))).toMatch(/lam = 0 needs m2 > 0/);
    expect(specError(() => applySettings(base, { lr: -1 }, "flags"))).toMatch(/'train\.lr'/);
    expect(specError(() => applySettings(base, { L: 1e9 }, "flags"))).toMatch(
      /'L' must be an integer from 1/,
    );
    expect(specError(() => applySettings(base, { L: 4096 }, "flags"))).toMatch(
      /degrees of freedom.*smaller L/,
    );
    expect(specError(() => applySettings(base, { theory: "u1", flow: "affine-cnn" }, "flags"))).toMatch(
      /flow 'affine-cnn' transforms real fields, but theory 'u1' has link angles: use --flow ncp/,
    );
    expect(specError(() => applySettings(base, { threads: 100 }, "flags"))).toMatch(
      /threads = 100 exceeds batch/,
    );
  });

  it("the flat form of v0.1 parses as the notebook's flow; old sidecar theories too", () => {
    const raw = JSON.parse(readFileSync(join(FIX, "v0.1-run", "run", "config.json"), "utf8"));
    const c = parseRunConfig(raw, "config.json");
    expect(c.theory).toEqual({ kind: "phi4", latticeShape: [4, 4], m2: -4, lam: 8 });
    expect(c.flow).toEqual({ kind: "affine-cnn", layers: 2, hidden: [4], kernel: 3, identityInit: false });
    expect(c.train).toMatchObject({ batch: 8, steps: 3, seed: 5, checkpointEvery: 3, threads: 1 });
    const { threads: _, ...noThreads } = raw;
    expect(parseRunConfig(noThreads, "x").train.threads).toBe(1);
    expect(specError(() => parseRunConfig({ ...raw, kernel: undefined }, "x"))).toMatch(
      /missing setting 'kernel'/,
    );
    const side = JSON.parse(readFileSync(join(FIX, "v0.1-run", "hmc.npy.json"), "utf8"));
    expect(parseTheorySpec(side.theory, "hmc.npy.json")).toEqual(c.theory);
  });
});

describe("runs written by v0.1 (test/fixtures/v0.1-run)", () => {
  it("resume to v0.1's numbers exactly, and the config is rewritten in the nested form", async () => {
    const dir = join(tmp, "resume");
    cpSync(join(FIX, "v0.1-run", "run"), dir, { recursive: true });
    const expected = JSON.parse(readFileSync(join(FIX, "v0.1-run", "run-resume-expected.json"), "utf8"));
    await runTraining({ out: dir, resume: true, changes: { steps: expected.resumeTo }, quiet: true });
    expect(readMetrics(dir).map((r) => r.loss)).toEqual(expected.losses);
    const stored = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(stored.theory.kind).toBe("phi4");
    expect(readConfig(dir).train.steps).toBe(expected.resumeTo);
  });

  it("resample v0.1's MH ensemble bit for bit", () => {
    const dir = join(tmp, "sample");
    cpSync(join(FIX, "v0.1-run", "run"), dir, { recursive: true });
    const side = JSON.parse(readFileSync(join(dir, "ensemble.npy.json"), "utf8"));
    const out = join(tmp, "again.npy");
    runSampling({ run: dir, n: side.n, mh: true, seed: side.seed, out, batch: 8 });
    expect(readFileSync(out)).toEqual(readFileSync(join(dir, "ensemble.npy")));
  });
});

describe("the notebook's 30 float64 and float32 steps are v0.1's bit for bit", () => {
  const ref = JSON.parse(readFileSync(join(FIX, "v0.1-notebook-30-steps.json"), "utf8"));
  for (const dtype of ["float64", "float32"] as const) {
    it(dtype, () => {
      const c = applySettings(presetConfig("phi4-notebook"), { seed: 1, dtype }, "test");
      const { theory, flow } = buildModel(c);
      const tr = createTrainer({
        flow,
        theory,
        optimizer: adamOf(c.train),
        batch: c.train.batch,
        dtype,
      });
      const state = tr.init(new Rng(c.train.seed));
      const losses = Array.from({ length: 30 }, () => tr.step(state).loss);
      expect(losses).toEqual(ref.losses[dtype]);
    });
  }
});

describe("speedWarnings", () => {
  const at = (L: number, dtype: "float32" | "float64", flow = "affine-cnn") =>
    speedWarnings(applySettings(presetConfig("phi4-notebook"), { L, dtype, flow }, "test"));
  it.runIf(simdSupported())("warns for float32 affine couplings on rows that are not a multiple of 4", () => {
    for (const L of [6, 10, 14]) {
      const w = at(L, "float32");
      expect(w).toHaveLength(1);
      expect(w[0]).toContain(`rows of ${L} sites`);
      expect(w[0]).toContain("--dtype float64");
      expect(at(L, "float64")).toEqual([]);
    }
    for (const L of [4, 8, 12, 16]) expect(at(L, "float32")).toEqual([]);
    expect(at(6, "float32", "cnf")).toEqual([]);
  });
});
