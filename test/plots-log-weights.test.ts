/**
 * The histogram of the importance log-weights (src/plots/specs/log-weights.ts), as test/plots.test.ts
 * checks the other figures: its numbers (mean, ln Ẑ, ESS) and a valid, non-blank SVG and PNG.
 */
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { essFromLogWeights } from "../src/index.js";
import { renderFigure } from "../src/plots/render.js";
import { logWeightFigure, logWeightSummary } from "../src/plots/specs/log-weights.js";
import { Rng } from "../src/rng/philox.js";

function normals(n: number, seed: number): Float64Array {
  const a = new Float64Array(n);
  new Rng(seed).normal(a);
  return a;
}

describe("the log-weight histogram", () => {
  it("summarises log w: its mean, ln⟨w⟩ (stable), and the library's ESS", () => {
    const logw = normals(4096, 1).map((x) => 0.5 * x - 800); // far below exp's range
    const s = logWeightSummary(logw);
    expect(s.n).toBe(4096);
    let mean = 0;
    for (const x of logw) mean += x / logw.length;
    expect(s.mean).toBeCloseTo(mean, 10);
    // Gaussian log w with σ = 0.5: ln⟨w⟩ ≈ μ + σ²/2, ESS ≈ exp(−σ²).
    expect(s.lnZHat).toBeCloseTo(-800 + 0.125, 1);
    expect(s.std).toBeCloseTo(0.5, 1);
    expect(s.ess).toBeCloseTo(essFromLogWeights(logw), 12);
    expect(s.ess).toBeCloseTo(Math.exp(-0.25), 1);
    // Non-finite weights (a proposal of zero density) are left out.
    expect(logWeightSummary([Number.NaN, 1, 1, -Infinity]).ess).toBe(1);
    expect(logWeightSummary([]).n).toBe(0);
  });

  it("renders to SVG and PNG with the marked values and the exact ln Z", () => {
    const logw = normals(1024, 2).map((x) => 1.5 * x + 4);
    const fig = logWeightFigure({ logw, label: "1024 flow samples x ~ q", lnZ: 5.25 });
    expect(fig.name).toBe("log-weights");
    expect(fig.notes?.ess).toBeCloseTo(essFromLogWeights(logw), 12);
    const warnings: string[] = [];
    const r = renderFigure(fig, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    expect(r.svg.startsWith("<svg")).toBe(true);
    expect(r.svg).toContain("Importance log-weights");
    expect(r.svg).toContain("exact ln Z = 5.250");
    expect(r.svg).toContain("1024 flow samples x ~ q; ESS");
    const png = PNG.sync.read(Buffer.from(r.png));
    expect(png.width).toBeGreaterThan(200);
    // Not blank: the bars (C0 blue) are drawn.
    let blue = 0;
    for (let i = 0; i < png.data.length; i += 4)
      if (png.data[i]! < 60 && png.data[i + 1]! > 100 && png.data[i + 2]! > 160) blue++;
    expect(blue).toBeGreaterThan(500);
    // One value or none: still a figure, not an exception.
    expect(() => renderFigure(logWeightFigure({ logw: [3, 3, 3] }))).not.toThrow();
    expect(() => renderFigure(logWeightFigure({ logw: [] }))).not.toThrow();
  });
});
