/**
 * `train --init-from RUN` (src/cli/init-from.ts): a new run starts from another run's weights,
 * across a change of coupling, lattice size (convolutional flows) and dtype; a flow with other
 * tensors is refused with one line and nothing written; a resume refuses the flag.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { INIT_FROM_FILE } from "../src/cli/init-from.js";
import { runReport } from "../src/cli/report-command.js";
import { loadWeights } from "../src/cli/run-dir.js";
import { runTraining } from "../src/cli/train-command.js";
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
