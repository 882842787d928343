/**
 * SIGKILL at random moments (the built dist/ CLI in a child process): a tiny training run is
 * killed again and again, at times and steps drawn from a fixed seed: in Node's start-up,
 * between config.json and the first checkpoint, in mid-step, in mid-save. After every kill the
 * next command (`train --resume`, or the first `train` again if config.json was never written)
 * must continue, and at the end the checkpoint and train_state are byte for byte those of a run
 * never interrupted, and metrics.jsonl holds steps 1..40 with its losses.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, runCli } from "./run-cli.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-kill-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const STEPS = 40;
const RUN = [
  ...["--L", "4", "--layers", "2", "--hidden", "4", "--batch", "8", "--seed", "11"],
  ...["--steps", String(STEPS), "--checkpoint-every", "5"],
];
/** Kills to deliver; the seed of their times. */
const KILLS = 20;
const SEED = Number(process.env.LATTICEFLOW_KILL_SEED ?? 20_240_601);
/** Step-targeted kills aim 1–6 steps past the checkpoint, at most this far (no run may reach its end). */
const LAST_TARGET = 34;
/** Every run is killed once its progress shows this step (a file-event plan may not come true). */
const BACKSTOP = 36;

/** mulberry32: a small seeded generator for the kill plan. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Plan =
  | { after: "ms"; ms: number }
  | { after: "step"; step: number; ms: number }
  | { after: "files"; events: number };

interface Outcome {
  killed: boolean;
  code: number | null;
  stderr: string;
}

/**
 * Run the CLI and SIGKILL it as planned: `ms` after the start; `ms` after its progress output
 * (one stderr line every 2 steps) reports step `step` or later; or at the `events`-th file
 * created, renamed or removed in the run directory `dir` (inotify: the kill lands a moment
 * later, somewhere in a sequence of atomic writes).
 */
function runAndKill(args: string[], plan: Plan, dir: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let seenEvents = 0;
    const watcher =
      plan.after === "files"
        ? watch(dir, (type, file) => {
            if (type !== "rename" || file === null || /^(metrics|eras)\.jsonl$/.test(file)) return;
            if (++seenEvents === plan.events) p.kill("SIGKILL");
          })
        : undefined;
    const p = spawn(process.execPath, [CLI, ...args]);
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    let armed = false;
    const arm = (ms: number) => {
      if (armed) return;
      armed = true;
      timer = setTimeout(() => p.kill("SIGKILL"), ms);
    };
    if (plan.after === "ms") arm(plan.ms);
    p.stdout.resume();
    p.stderr.on("data", (d) => {
      stderr += d;
      const seen = Math.max(0, ...[...stderr.matchAll(/train step (\d+)\//g)].map((m) => Number(m[1])));
      // Whatever the plan, a kill before the end: else the run would be complete.
      if (seen >= BACKSTOP) p.kill("SIGKILL");
      else if (plan.after === "step" && seen >= plan.step) arm(plan.ms);
    });
    p.on("error", reject);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      watcher?.close();
      resolve({ killed: signal === "SIGKILL", code, stderr });
    });
  });
}

const lines = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];

/** The step in a safetensors file's metadata (null if absent or unreadable). */
function stepOf(file: string): number | null {
  try {
    const b = readFileSync(file);
    const n = Number(b.readBigUInt64LE(0));
    return Number(JSON.parse(b.subarray(8, 8 + n).toString("utf8")).__metadata__.step);
  } catch {
    return null;
  }
}

/** What a run directory holds, to see where a kill landed. */
function stateOf(dir: string): string {
  const f = (n: string) => (existsSync(join(dir, n)) ? readFileSync(join(dir, n)).toString("base64") : "-");
  return [
    f("config.json"),
    f("metrics.jsonl"),
    f("checkpoint.safetensors"),
    f("train_state.safetensors"),
  ].join("|");
}

/** Where a kill left the run directory (`before`: its state when the command started). */
function landing(dir: string, before: string): string {
  const files = readdirSync(dir);
  if (files.some((f) => f.includes(".tmp-"))) return "in an atomic write (temp file left)";
  if (files.includes("train_state.pending.safetensors"))
    return "in a checkpoint save (pending train_state left)";
  if (stateOf(dir) === before) return "before the command wrote anything (start-up)";
  if (!files.includes("config.json")) return "before config.json";
  if (!files.includes("checkpoint.safetensors")) return "between config.json and the first checkpoint";
  const done = lines(join(dir, "metrics.jsonl")).length;
  if (done === 0) return "after the first checkpoint, before step 1";
  return `training (${done - (stepOf(join(dir, "checkpoint.safetensors")) ?? 0)} steps past the checkpoint)`;
}

describe("SIGKILL at random moments, resume after each: the uninterrupted run's bytes", () => {
  it(`${KILLS} kills of a ${STEPS}-step run`, async () => {
    const t0 = performance.now();
    const straight = join(tmp, "straight");
    const s = await runCli("train", ...RUN, "--quiet", "--out", straight);
    expect(s.code, s.stderr).toBe(0);

    const dir = join(tmp, "killed");
    mkdirSync(dir); // an empty directory is a new run's --out as well, and can be watched
    const rand = seeded(SEED);
    const where = new Map<string, number>();
    const stepsAtKill: number[] = [];
    let kills = 0;
    let completed = false;
    for (let attempt = 0; kills < KILLS && attempt < 3 * KILLS; attempt++) {
      const resume = existsSync(join(dir, "config.json"));
      const args = resume ? ["train", "--resume", "--out", dir] : ["train", ...RUN, "--out", dir];
      const ckpt = stepOf(join(dir, "checkpoint.safetensors")) ?? 0;
      // A kill at a time after the start (Node's start-up, the first writes), a few
      // milliseconds after a chosen step (mid-step), or at a file event (mid-write, mid-save).
      const u = rand();
      const plan: Plan =
        u < 0.2
          ? { after: "ms", ms: 20 + Math.floor(rand() * 700) }
          : u < 0.6
            ? {
                after: "step",
                step: Math.min(LAST_TARGET, ckpt + 1 + Math.floor(rand() * 6)),
                ms: Math.floor(rand() * 5),
              }
            : { after: "files", events: 1 + Math.floor(rand() * 20) };
      const before = stateOf(dir);
      const r = await runAndKill(args, plan, dir);
      if (!r.killed) {
        // It finished before the kill: the run is complete (nothing left to kill).
        expect(r.code, r.stderr).toBe(0);
        completed = true;
        break;
      }
      kills++;
      const w = landing(dir, before).replace(/\d+ steps/, "n steps");
      where.set(w, (where.get(w) ?? 0) + 1);
      stepsAtKill.push(lines(join(dir, "metrics.jsonl")).length);
    }
    if (!completed) {
      const r = await runCli("train", "--resume", "--out", dir, "--quiet");
      expect(r.code, r.stderr).toBe(0);
    }

    const bytes = (d: string, f: string) => readFileSync(join(d, f));
    expect(bytes(dir, "checkpoint.safetensors").equals(bytes(straight, "checkpoint.safetensors"))).toBe(true);
    expect(bytes(dir, "train_state.safetensors").equals(bytes(straight, "train_state.safetensors"))).toBe(
      true,
    );
    const metrics = (d: string) => lines(join(d, "metrics.jsonl")).map((l) => JSON.parse(l));
    expect(metrics(dir).map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    expect(metrics(dir).map((m) => m.loss)).toEqual(metrics(straight).map((m) => m.loss));
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-") || f.includes("pending"))).toEqual([]);

    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `kill test: ${kills} SIGKILLs survived in ${seconds.toFixed(1)} s; steps done at the kills: ${stepsAtKill.join(" ")}; ` +
        `landed: ${[...where].map(([k, n]) => `${k} ×${n}`).join("; ")}`,
    );
    expect(kills).toBeGreaterThanOrEqual(KILLS - 2);
    expect(new Set(stepsAtKill).size).toBeGreaterThanOrEqual(5);
  }, 180_000);
});
