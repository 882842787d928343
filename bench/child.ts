/**
 * Running the CLI (or PyTorch) from a bench script: one child process to its end, its `--json`
 * summary taken from the last stdout line and its one-line reason from the last stderr line.
 * The processes still running are kept, so Ctrl-C can be passed on to them.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface Child {
  code: number | null;
  json: Record<string, unknown> | null;
  /** The last line on stderr: a failing command's one-line reason. */
  reason: string;
  /** Wall time of the process. */
  seconds: number;
}

/** The children not yet ended. */
export const running = new Set<ChildProcess>();

/** Run a command to its end; its summary is the JSON object on the last stdout line. */
export function runChild(cmd: string, args: string[]): Promise<Child> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    running.add(p);
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", fail);
    p.on("close", (code) => {
      running.delete(p);
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(out.trim().split("\n").pop()!);
      } catch {
        json = null;
      }
      const reason = err.trim().split("\n").pop() ?? "";
      done({ code, json, reason, seconds: (performance.now() - t0) / 1e3 });
    });
  });
}

/** A finite number, or null. */
export const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
