/**
 * The layers of docs/architecture.md, enforced: each folder of src imports only the folders
 * listed for it (besides itself). Physics never sees the training stack; threads know models
 * only through the model description; rng, math and io stand on nothing above them.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(__dirname, "..", "src");

/** folder → folders it may import from. */
const ALLOWED: Record<string, string[]> = {
  math: [],
  io: [],
  rng: ["math", "mcmc"], // mcmc/random.ts: the RandomSource interface only (a type)
  engine: ["math"],
  analysis: ["math"],
  theories: ["math", "analysis"],
  mcmc: ["math", "theories"],
  observables: ["math", "analysis", "theories"],
  flows: ["engine", "math", "rng", "theories"], // theories/lattice.ts: geometry
  train: ["engine", "math", "rng", "flows", "theories", "analysis", "mcmc"],
  model: ["flows", "theories", "observables", "rng"], // measure-ensemble.ts: a spec's measurement
  parallel: ["engine", "rng", "train", "model"],
  plots: ["io", "math", "analysis"],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("layering", () => {
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    it(`${folder} imports only ${allowed.join(", ") || "itself"}`, () => {
      for (const f of files(join(SRC, folder))) {
        const text = readFileSync(f, "utf8");
        for (const m of text.matchAll(/from\s+["']([^"']+)["']/g)) {
          const spec = m[1]!;
          if (!spec.startsWith(".")) continue;
          const target = relative(SRC, join(f, "..", spec)).split(sep)[0]!;
          if (target === folder) continue;
          expect(allowed, `${relative(SRC, f)} imports ${spec}`).toContain(target);
        }
      }
    });
  }
  it("parallel/ names no theory or flow: models come from the model description", () => {
    for (const f of files(join(SRC, "parallel"))) {
      expect(readFileSync(f, "utf8"), f).not.toMatch(/Phi4|U1Theory|affineCoupling|realNvp|Coupling\b/);
    }
  });
});
