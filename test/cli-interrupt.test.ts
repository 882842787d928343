/**
 * Ctrl-C on the command line (the built dist/ CLI in a child process). `train` (and `demo`,
 * while it trains) finishes the step under way, writes the checkpoint, train_state and metrics
 * as a normal end of run would, prints one line naming the step and `--resume`, and exits 130;
 * `--resume` then continues exactly (the same numbers as a run never interrupted), on one
 * thread or two. `sample` and `hmc` install no handler: Ctrl-C ends them at once, and since
 * they write their files only at the end (atomically), nothing is left behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadTraining, loadWeights, readConfig } from "../src/cli/run-dir.js";
import { buildModel } from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";
import { CLI, lastJson, runCli } from "./run-cli.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-interrupt-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ["--L", "4", "--layers", "2", "--hidden", "4", "--batch", "8", "--quiet"];
/** How long a signalled process may take to end (one step, the checkpoint, exit). */
const PROMPT_MS = 5000;

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the signal to the end of the process. */
  ms: number;
}

/**
 * Start the CLI, poll `ready` every 20 ms and send `signal` once it holds; resolve when the
 * process has ended. A process that never gets ready within 20 s, or ignores the signal for
 * 2 × PROMPT_MS, is killed with SIGKILL (and the test fails on its exit code).
 */
function signalWhen(args: string[], ready: () => boolean, signal: NodeJS.Signals = "SIGINT"): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const p: ChildProcess = spawn(process.execPath, [CLI, ...args]);
    let stdout = "";
    let stderr = "";
    let sentAt = Number.NaN;
    let guard: NodeJS.Timeout | undefined;
    p.stdout!.on("data", (d) => (stdout += d));
    p.stderr!.on("data", (d) => (stderr += d));
    const started = performance.now();
    const poll = setInterval(() => {
      if (ready()) {
        clearInterval(poll);
        sentAt = performance.now();
        p.kill(signal);
        guard = setTimeout(() => p.kill("SIGKILL"), 2 * PROMPT_MS);
      } else if (performance.now() - started > 20_000) {
        clearInterval(poll);
        p.kill("SIGKILL");
      }
    }, 20);
    p.on("error", (e) => {
      clearInterval(poll);
      reject(e);
    });
    p.on("close", (code, sig) => {
      clearInterval(poll);
      clearTimeout(guard);
      resolve({ code, signal: sig, stdout, stderr, ms: performance.now() - sentAt });
    });
  });
}

const lines = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
const metricSteps = (dir: string): number[] =>
  lines(join(dir, "metrics.jsonl")).map((l) => JSON.parse(l).step as number);
const losses = (dir: string): number[] =>
  lines(join(dir, "metrics.jsonl")).map((l) => JSON.parse(l).loss as number);
const hasMetrics = (dir: string, n: number) => () => lines(join(dir, "metrics.jsonl")).length >= n;

/** The step of the one stderr line an interrupted run prints (and that it names --resume). */
function interruptedStep(r: Ended, out: string): number {
  const msg = r.stderr.trim().split("\n");
  expect(msg, r.stderr).toHaveLength(1);
  expect(msg[0]).toContain(`latticeflow train --resume --out ${out}`);
  const m = /^latticeflow: interrupted at step (\d+);/.exec(msg[0]!);
  expect(m, msg[0]).not.toBeNull();
  return Number(m![1]);
}

/** The checkpoint and the optimiser state both load, at `step`; the metrics run 1..step. */
function expectSavedAt(dir: string, step: number): void {
  const config = readConfig(dir);
  const like = buildModel(config).flow.initParams(new Rng(config.train.seed), config.train.dtype);
  expect(loadWeights(dir, like).step).toBe(step);
  expect(loadTraining(dir, like).step).toBe(step);
  expect(metricSteps(dir)).toEqual(Array.from({ length: step }, (_, i) => i + 1));
  // Nothing half-written: no temporary file of an atomic write, no pending train_state.
  expect(readdirSync(dir).filter((f) => f.includes(".tmp-") || f.includes("pending"))).toEqual([]);
}

describe("Ctrl-C during train: checkpoint, one line, exit 130; --resume continues exactly", () => {
  for (const threads of [1, 2]) {
    it(`on ${threads} thread${threads > 1 ? "s" : ""}`, async () => {
      const out = join(tmp, `train-${threads}`);
      const common = [...TINY, "--seed", "7", "--threads", String(threads)];
      const r = await signalWhen(
        ["train", ...common, "--steps", "1000000", "--out", out, "--json"],
        hasMetrics(out, 5),
      );
      expect(r.code, r.stderr).toBe(130);
      expect(r.ms).toBeLessThan(PROMPT_MS);
      const n = interruptedStep(r, out);
      expect(n).toBeGreaterThanOrEqual(5);
      expect(n).toBeLessThan(1_000_000);
      // --json still ends stdout with the summary, at the step saved.
      expect(lastJson(r.stdout)).toMatchObject({ steps: n, threads });
      expectSavedAt(out, n);

      const resumed = await runCli("train", "--resume", "--steps", String(n + 5), "--out", out, "--json");
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(lastJson(resumed.stdout)).toMatchObject({ steps: n + 5, threads });
      expectSavedAt(out, n + 5);

      // The same numbers as a run that was never interrupted.
      const straight = join(tmp, `straight-${threads}`);
      const s = await runCli("train", ...common, "--steps", String(n + 5), "--out", straight);
      expect(s.code, s.stderr).toBe(0);
      expect(losses(out)).toEqual(losses(straight));
      const w = (d: string) => readFileSync(join(d, "checkpoint.safetensors"));
      expect(w(out).equals(w(straight))).toBe(true);
    }, 60_000);
  }

  it("without --json: only the one line (stderr), nothing on stdout", async () => {
    const out = join(tmp, "train-plain");
    const r = await signalWhen(["train", ...TINY, "--steps", "1000000", "--out", out], hasMetrics(out, 3));
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).toBe("");
    expectSavedAt(out, interruptedStep(r, out));
  }, 60_000);
});

describe("SIGTERM during demo's training: checkpoint, one line, no sampling, exit 130", () => {
  it("stops before sampling and says how to go on", async () => {
    const out = join(tmp, "demo");
    const r = await signalWhen(
      ["demo", "--steps", "100000", "--n", "64", "--out", out],
      hasMetrics(out, 2),
      "SIGTERM",
    );
    expect(r.code, r.stderr).toBe(130);
    expect(r.ms).toBeLessThan(PROMPT_MS);
    const n = interruptedStep(r, out);
    expect(r.stderr).toContain(`then: latticeflow sample --run ${out} --mh --n 64`);
    expectSavedAt(out, n);
    expect(readdirSync(out).filter((f) => f.startsWith("ensemble"))).toEqual([]);
  }, 60_000);
});

describe("Ctrl-C during sample or hmc: the process ends at once and writes nothing", () => {
  const run = join(tmp, "s-run");
  const afterStart = (ms: number) => {
    const t = performance.now();
    return () => performance.now() - t >= ms;
  };
  const cases: [string, (dir: string) => string[]][] = [
    ["sample --mh", (d) => ["sample", "--run", run, "--n", "5000000", "--mh", "--out", join(d, "e.npy")]],
    [
      "sample --threads 2",
      (d) => ["sample", "--run", run, "--n", "5000000", "--threads", "2", "--out", join(d, "e.npy")],
    ],
    [
      "hmc",
      (d) => ["hmc", "--L", "8", "--m2", "-4", "--lam", "8", "--n", "10000000", "--out", join(d, "h.npy")],
    ],
  ];
  for (const [name, args] of cases) {
    it(name, async () => {
      if (!existsSync(run)) {
        const t = await runCli("train", ...TINY, "--steps", "1", "--out", run);
        expect(t.code, t.stderr).toBe(0);
      }
      const dir = join(tmp, name.replace(/\W/g, ""));
      mkdirSync(dir);
      const r = await signalWhen(args(dir), afterStart(1000));
      // Killed by the signal (a shell reports 130), well before the chain could have finished.
      expect(r.signal === "SIGINT" || r.code === 130, `${r.code} ${r.signal} ${r.stderr}`).toBe(true);
      expect(r.ms).toBeLessThan(PROMPT_MS);
      expect(readdirSync(dir)).toEqual([]);
    }, 60_000);
  }
});
