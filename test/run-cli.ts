/**
 * Run the built CLI (dist/src/cli/main.js) in a child process without blocking the test
 * worker: a synchronous spawn would stall vitest's worker RPC on a loaded machine.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";

export const CLI = join(__dirname, "..", "dist", "src", "cli", "main.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(...args: string[]): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args]);
}

export function runProcess(cmd: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args);
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON object printed as the last stdout line. */
export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}
