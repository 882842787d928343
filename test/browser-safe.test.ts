/** The core runs in browsers: nothing outside src/cli and src/io/files.ts imports Node modules or `process`. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(__dirname, "..", "src");
const NODE_ONLY = ["cli", join("io", "files.ts"), join("plots", "render.ts")];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("browser safety", () => {
  const core = files(SRC).filter((f) => !NODE_ONLY.some((n) => relative(SRC, f).startsWith(n)));
  it("covers the core modules", () => expect(core.length).toBeGreaterThan(20));
  for (const f of core) {
    it(relative(SRC, f), () => {
      const text = readFileSync(f, "utf8");
      expect(text).not.toMatch(/from\s+["'](node:|fs|path|os|child_process|worker_threads)/);
      expect(text).not.toMatch(/\bprocess\.|\brequire\(/);
    });
  }
  it("imports no package but zod, which the build copies into dist/ (workers cannot resolve bare names)", () => {
    // A browser resolves "zod" only through an import map, and Web Workers have none, so
    // scripts/vendor-zod.mjs points dist/ at its own copy; another package would need the same.
    // (`import type` is erased by the compiler.)
    const runtimeImport = /^(?:import|export)(?!\s+type\b)[^;]*?\bfrom\s+["']([^."'][^"']*)["']/gm;
    for (const f of core) {
      const packages = [...readFileSync(f, "utf8").matchAll(runtimeImport)].map((m) => m[1]);
      expect(
        packages.filter((p) => p !== "zod"),
        relative(SRC, f),
      ).toEqual([]);
    }
  });
  it("numerics take elementary functions from src/math, whose bits do not depend on the engine", () => {
    // ECMAScript leaves these Math functions and `**` to the engine (V8 versions already
    // differ); figures (src/plots) only draw, so they may use them.
    const approximated =
      /\bMath\.(exp|expm1|log|log1p|log2|log10|tanh|sinh|cosh|sin|cos|tan|asin|acos|atan|atan2|asinh|acosh|atanh|pow|cbrt|hypot)\b|[^*/\s]\s*\*\*\s*[^*/\s]/;
    for (const f of core.filter((f) => !/(plots|math)[/\\]/.test(relative(SRC, f)))) {
      const code = readFileSync(f, "utf8")
        .split("\n")
        .filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l))
        .join("\n");
      expect(code, relative(SRC, f)).not.toMatch(approximated);
    }
  });
  it("physics never imports the training stack", () => {
    for (const f of core.filter((f) => /(theories|mcmc|observables|analysis)/.test(f))) {
      expect(readFileSync(f, "utf8"), f).not.toMatch(/from\s+["']\.\.\/(engine|flows|train)\//);
    }
  });
});
