/** Shared command-line helpers: flag parsers and output formatting. */
import { UsageError } from "./errors.js";

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
