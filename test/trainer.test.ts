/** Training: the loss decreases on an easy target; non-finite steps are rejected; Adam matches PyTorch's formula. */
import { describe, expect, it } from "vitest";
import { tensor } from "../src/engine/index.js";
import { affineCouplingFlow } from "../src/flows/affine-flow.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import type { Theory } from "../src/theories/theory.js";
import { adam, applyUpdates } from "../src/train/adam.js";
import { createTrainer } from "../src/train/trainer.js";

const flow = affineCouplingFlow({ latticeShape: [4, 4], layers: 2, hidden: [4], kernel: 3 });

describe("reverse-KL training", () => {
  it("reduces the loss on a free field", () => {
    const theory = new Phi4Theory({ latticeShape: [4, 4], m2: 1, lam: 0 });
    const tr = createTrainer({ flow, theory, optimizer: adam({ lr: 1e-2 }), batch: 32, dtype: "float64" });
    const st = tr.init(new Rng(1));
    const losses: number[] = [];
    for (let i = 0; i < 150; i++) losses.push(tr.step(st).loss);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)) - 1);
  });

  it("rejects a step with a non-finite loss and leaves the weights untouched", () => {
    const good = new Phi4Theory({ latticeShape: [4, 4], m2: 1, lam: 0 });
    let poison = false;
    const theory: Theory = {
      latticeShape: good.latticeShape,
      configShape: good.configShape,
      size: good.size,
      action: (phi, b, out) => {
        const s = good.action(phi, b, out);
        if (poison) s[0] = Number.NaN;
        return s;
      },
      force: (phi, b, out) => good.force(phi, b, out),
    };
    const tr = createTrainer({ flow, theory, optimizer: adam({ lr: 1e-2 }), batch: 8, dtype: "float64" });
    const st = tr.init(new Rng(2));
    tr.step(st);
    const before = st.params;
    poison = true;
    const m = tr.step(st);
    expect(m.accepted).toBe(false);
    expect(st.rejected).toBe(1);
    expect(st.params).toBe(before);
    poison = false;
    expect(tr.step(st).accepted).toBe(true);
  });

  it("float32 training runs in float32", () => {
    const theory = new Phi4Theory({ latticeShape: [4, 4], m2: -4, lam: 8 });
    const tr = createTrainer({ flow, theory, optimizer: adam({ lr: 1e-3 }), batch: 8, dtype: "float32" });
    const st = tr.init(new Rng(3));
    expect(Number.isFinite(tr.step(st).loss)).toBe(true);
    expect(Object.values(st.params)[0]!.data).toBeInstanceOf(Float32Array);
  });
});

describe("adam", () => {
  it("first step moves each weight by -lr·sign(g) (bias-corrected), as torch.optim.Adam", () => {
    const opt = adam({ lr: 0.1 });
    const params = { w: tensor([1, -2, 3]) };
    const s0 = opt.init(params);
    const { updates } = opt.update({ w: tensor([0.5, -4, 0]) }, s0);
    const p = applyUpdates(params, updates);
    expect(p.w!.data[0]).toBeCloseTo(0.9, 6);
    expect(p.w!.data[1]).toBeCloseTo(-1.9, 6);
    expect(p.w!.data[2]).toBe(3);
  });
  it("clips the global gradient norm", () => {
    const opt = adam({ lr: 1, clipNorm: 1 });
    const s = opt.update({ w: tensor([3, 4]) }, opt.init({ w: tensor([0, 0]) })).state;
    // m = (1−β1)·g·(1/5): clipped gradient (0.6, 0.8).
    expect(s.mu.w![0]).toBeCloseTo(0.1 * 0.6, 12);
    expect(s.mu.w![1]).toBeCloseTo(0.1 * 0.8, 12);
  });
});
