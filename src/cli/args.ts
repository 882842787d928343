/** Shared command-line helpers: flag parsers, output formatting, the package version. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "./errors.js";

/**
 * The version in latticeflow's package.json, read at run time from the nearest package.json
 * named "latticeflow" above this module (dist/src/cli/ once built, src/cli/ from source, or
 * node_modules/latticeflow/dist/src/cli/ when installed), so it is never out of date.
 */
export function packageVersion(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; ) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: unknown; version?: unknown };
        if (pkg.name === "latticeflow" && typeof pkg.version === "string") return pkg.version;
      } catch {
        // not a readable package.json: keep looking above
      }
    }
    const up = dirname(dir);
    if (up === dir) return "unknown";
    dir = up;
  }
}

export function num(flag: string) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === "" || !Number.isFinite(x)) throw new UsageError(`${flag} expects a number, got '${v}'`);
    return x;
  };
}

export function intList(flag: string) {
  return (v: string): number[] => {
    const xs = v.split(",").map((s) => Number(s));
    if (xs.some((x) => !Number.isInteger(x) || x <= 0)) {
      throw new UsageError(`${flag} expects comma-separated positive integers like 8,8, got '${v}'`);
    }
    return xs;
  };
}

/** `--threads`: a positive integer, or "auto" (the number of cores; resolved by the command). */
export function threadsArg(flag: string) {
  return (v: string): number | "auto" => {
    const t = v.trim();
    if (t === "auto") return "auto";
    const x = Number(t);
    if (t === "" || !Number.isInteger(x) || x < 1) {
      throw new UsageError(`${flag} expects a positive integer (1, 2, ...) or 'auto', got '${v}'`);
    }
    return x;
  };
}

export function printJson(x: unknown): void {
  process.stdout.write(`${JSON.stringify(x)}\n`);
}

export function fmt(x: number | null, digits = 4): string {
  return x === null || !Number.isFinite(x) ? "n/a" : x.toFixed(digits);
}
