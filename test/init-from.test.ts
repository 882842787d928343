/**
 * `train --init-from RUN` (src/cli/init-from.ts): a new run starts from another run's weights,
 * across a change of coupling, lattice size (convolutional flows) and dtype; a flow with other
 * tensors is refused with one line and nothing written; a resume refuses the flag; a cnf run
 * moves to a larger lattice with its kernel embedded (src/flows/cnf-kernel-transfer.ts), and is
 * refused a smaller one or another dimension.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { INIT_FROM_FILE } from "../src/cli/init-from.js";
import { runReport } from "../src/cli/report-command.js";
import { loadWeights } from "../src/cli/run-dir.js";
import { runTraining } from "../src/cli/train-command.js";
import { embedCnfKernel } from "../src/flows/cnf-kernel-transfer.js";
import { applySettings, buildModel, presetConfig, type RunConfig } from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-init-from-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = { L: 4, layers: 2, hidden: [4], batch: 8, steps: 6, seed: 3, checkpointEvery: 100 };
const configOf = (over: Record<string, unknown>): RunConfig =>
  applySettings(presetConfig("phi4-notebook"), { ...TINY, ...over }, "test");
const weightsOf = (dir: string, config: RunConfig) =>
  loadWeights(dir, buildModel(config).flow.initParams(new Rng(0), config.train.dtype)).params;

async function thrown(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

describe("train --init-from", () => {
  const source = join(tmp, "source");
  const sourceConfig = configOf({ dtype: "float64" });

  it("starts a run at another coupling, lattice size and dtype from the source's weights", async () => {
    await runTraining({ out: source, config: sourceConfig, resume: false, quiet: true });
    const trained = weightsOf(source, sourceConfig);

    // Step 0 of the new run is the source's last checkpoint, cast to float32.
    const target = join(tmp, "target");
    const targetConfig = configOf({ L: 6, lam: 5, dtype: "float32", steps: 0 });
    await runTraining({ out: target, config: targetConfig, resume: false, quiet: true, initFrom: source });
    const start = weightsOf(target, targetConfig);
    expect(Object.keys(start).sort()).toEqual(Object.keys(trained).sort());
    for (const [k, t] of Object.entries(trained)) {
      expect(start[k]!.dtype).toBe("float32");
      expect(Array.from(start[k]!.data)).toEqual(Array.from(Float32Array.from(t.data)));
    }
    const record = JSON.parse(readFileSync(join(target, INIT_FROM_FILE), "utf8"));
    expect(record).toEqual({ run: source, checkpoint_step: 6 });
    const report = runReport({ run: target, n: 16, seed: 0, window: 15, ensembles: false });
    expect(readFileSync(report.out, "utf8")).toContain(
      `Its training started from the weights of run <code>${source}</code> (its step 6).`,
    );

    // It trains on from there, and resumes like any run.
    const s = await runTraining({ out: target, resume: true, changes: { steps: 4 }, quiet: true });
    expect(s.steps).toBe(4);
    expect(Number.isFinite(s.loss)).toBe(true);
  });

  it("differs from a fresh start with the same seed", async () => {
    const fresh = join(tmp, "fresh");
    const warm = join(tmp, "warm");
    const c = configOf({ lam: 5, steps: 0 });
    await runTraining({ out: fresh, config: c, resume: false, quiet: true });
    await runTraining({ out: warm, config: c, resume: false, quiet: true, initFrom: source });
    const a = weightsOf(fresh, c);
    const b = weightsOf(warm, c);
    expect(Object.keys(a).some((k) => a[k]!.data.some((v, i) => v !== b[k]!.data[i]))).toBe(true);
  });

  it("refuses a flow with other tensors, writing nothing", async () => {
    const out = join(tmp, "wider");
    const e = await thrown(
      runTraining({ out, config: configOf({ hidden: [6] }), resume: false, quiet: true, initFrom: source }),
    );
    expect(e.name).toBe("UsageError");
    expect(e.message).toMatch(
      /^--init-from .*source: its tensor '.*' has shape \[.*\], this run's flow needs/,
    );
    expect(e.message).toContain("same flow");
    expect(existsSync(out)).toBe(false);

    const deeper = join(tmp, "deeper");
    const e2 = await thrown(
      runTraining({
        out: deeper,
        config: configOf({ layers: 4 }),
        resume: false,
        quiet: true,
        initFrom: source,
      }),
    );
    expect(e2.message).toMatch(/its flow has \d+ tensors, this run's \d+ \(missing '.*'\)/);
    expect(existsSync(deeper)).toBe(false);
  });

  it("refuses to resume a run killed before its first checkpoint, rather than start it from the seed", async () => {
    const out = join(tmp, "killed");
    await runTraining({ out, config: configOf({ steps: 0 }), resume: false, quiet: true, initFrom: source });
    rmSync(join(out, "checkpoint.safetensors"));
    rmSync(join(out, "train_state.safetensors"));
    const e = await thrown(runTraining({ out, resume: true, changes: { steps: 2 }, quiet: true }));
    expect(e.name).toBe("UsageError");
    expect(e.message).toMatch(
      /was started with --init-from and stopped before its first checkpoint: delete it/,
    );
  });

  it("refuses a source that is not a run, and --resume with it", async () => {
    const e = await thrown(
      runTraining({ out: join(tmp, "x"), config: configOf({}), resume: false, quiet: true, initFrom: tmp }),
    );
    expect(e.message).toMatch(/^--init-from .* is not a run directory \(no config.json\)/);
    expect(existsSync(join(tmp, "x"))).toBe(false);
    const e2 = await thrown(runTraining({ out: source, resume: true, quiet: true, initFrom: source }));
    expect(e2.message).toMatch(/^--init-from starts a new run; --resume continues .*: drop --init-from$/);
  });
});

describe("train --init-from, cnf across lattice sizes", () => {
  const CNF = { flow: "cnf", odeSteps: 2, frequencies: 3, timeFrequencies: 1, hidden: [3, 2] };
  const cnfConfig = (over: Record<string, unknown>): RunConfig =>
    applySettings(
      presetConfig("phi4-notebook"),
      { ...CNF, L: 4, batch: 4, steps: 2, seed: 3, checkpointEvery: 100, dtype: "float64", ...over },
      "test",
    );
  const small = join(tmp, "cnf4");
  const large = join(tmp, "cnf8");
  const smallConfig = cnfConfig({});

  it("starts an L = 8 run from an L = 4 run, its kernel embedded and the rest copied", async () => {
    await runTraining({ out: small, config: smallConfig, resume: false, quiet: true });
    const trained = weightsOf(small, smallConfig);
    const largeConfig = cnfConfig({ L: 8, steps: 0 });
    await runTraining({ out: large, config: largeConfig, resume: false, quiet: true, initFrom: small });
    const start = weightsOf(large, largeConfig);
    const w = trained["0.w"]!;
    expect(Array.from(start["0.w"]!.data)).toEqual(
      Array.from(embedCnfKernel(w.data, w.shape[1]!, w.shape[2]!, [4, 4], [8, 8])),
    );
    expect(start["0.w"]!.shape[0]).toBeGreaterThan(w.shape[0]!);
    for (const k of ["0.timeMix", "0.featureMix", "0.omega"])
      expect(Array.from(start[k]!.data)).toEqual(Array.from(trained[k]!.data));
    expect(JSON.parse(readFileSync(join(large, INIT_FROM_FILE), "utf8"))).toEqual({
      run: small,
      checkpoint_step: 2,
    });
    const s = await runTraining({ out: large, resume: true, changes: { steps: 1 }, quiet: true });
    expect(s.steps).toBe(1);
    expect(Number.isFinite(s.loss)).toBe(true);
  });

  it("refuses a smaller lattice and another dimension with one line, writing nothing", async () => {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      [
        "cnf2",
        { L: 2 },
        large,
        /lattice \[2,2\] is smaller than \[8,8\] on axis 0.*use --dim 2 --L 8 or larger/,
      ],
      [
        "cnf3d",
        { dim: 3 },
        small,
        /lattice \[4,4\] is 2-d, lattice \[4,4,4\] 3-d.*use --dim 2 --L 4 or larger/,
      ],
    ];
    for (const [name, over, from, message] of cases) {
      const out = join(tmp, name);
      const e = await thrown(
        runTraining({ out, config: cnfConfig(over), resume: false, quiet: true, initFrom: from }),
      );
      expect(e.name).toBe("UsageError");
      expect(e.message).toMatch(/^--init-from .*: its cnf kernel cannot move from lattice /);
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/, or drop --init-from$/);
      expect(e.message).not.toContain("\n");
      expect(existsSync(out)).toBe(false);
    }
  });
});
