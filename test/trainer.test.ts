/** Training: the loss decreases on an easy target; non-finite steps are rejected; Adam matches PyTorch's formula. */
import { describe, expect, it } from "vitest";
import { tensor } from "../src/engine/index.js";
import { affineCouplingFlow } from "../src/flows/affine-flow.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import type { Theory } from "../src/theories/theory.js";
import { adam, adamOf, applyUpdates } from "../src/train/adam.js";
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

  // torch.optim.Adam([w], lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1) in float64
  // (torch 1.13), three steps from w = (1, −2, 3, 0) with these gradients; "clipped": each
  // gradient first rescaled to norm ≤ 1 as latticeflow clips (torch's clip_grad_norm_ before
  // optimizer.step, without its +1e-6), so the decay term wd·θ is not clipped.
  const GRADS = [
    [0.5, -4.0, 0.0, 1.0],
    [-1.0, 2.0, 0.25, -3.0],
    [3.0, 0.0, -0.5, 2.0],
  ];
  const TORCH: Record<string, number[][]> = {
    plain: [
      [0.9500000008333334, -1.9500000001190476, 2.9500000016666665, -0.04999999950000001],
      [0.9625089395663494, -1.933918718849636, 2.9012514865481975, -0.0252687794473655],
      [0.9355638800455065, -1.9201477032681236, 2.8757638309550426, -0.026147530985532758],
    ],
    clipped: [
      [0.950000002268748, -1.9500000004298905, 2.9500000016666665, -0.049999997923344114],
      [0.9464453533920676, -1.9282289954586587, 2.8999738599976417, -0.023947919194232125],
      [0.9150851234063677, -1.90658356833865, 2.853323627478055, -0.02450794156508888],
    ],
  };
  for (const [name, clipNorm] of [
    ["plain", null],
    ["clipped", 1],
  ] as const) {
    it(`weight decay is torch.optim.Adam's (L2 added to the ${name} gradient)`, () => {
      const opt = adam({ lr: 0.05, weightDecay: 0.1, clipNorm });
      let params = { w: tensor([1, -2, 3, 0]) };
      let state = opt.init(params);
      for (let k = 0; k < GRADS.length; k++) {
        const r = opt.update({ w: tensor(GRADS[k]!) }, state, params);
        params = applyUpdates(params, r.updates) as typeof params;
        state = r.state;
        const want = TORCH[name]![k]!;
        for (let i = 0; i < 4; i++) expect(Math.abs(params.w.data[i]! - want[i]!)).toBeLessThan(1e-14);
      }
    });
  }
  it("weight decay needs the parameters; without it the step is the one without decay", () => {
    const g = { w: tensor([0.5, -4]) };
    const p = { w: tensor([1, 2]) };
    const withDecay = adam({ lr: 0.1, weightDecay: 0.01 });
    expect(() => withDecay.update(g, withDecay.init(p))).toThrow(/needs the parameters/);
    const none = adam({ lr: 0.1 }).update(g, adam({ lr: 0.1 }).init(p), p).updates.w!.data;
    const zero = adam({ lr: 0.1, weightDecay: 0 }).update(g, adam({ lr: 0.1 }).init(p)).updates.w!.data;
    expect(Array.from(zero)).toEqual(Array.from(none));
    expect(() => adam({ lr: 0.1, weightDecay: -1 })).toThrow(RangeError);
  });
  it("adamOf builds the optimiser of a training spec (schedule, betas, clip, decay)", () => {
    const spec = { lr: 0.05, steps: 3, beta1: 0.9, beta2: 0.999, clipNorm: null, weightDecay: 0.1 };
    const a = adamOf(spec);
    const b = adam({ lr: 0.05, beta1: 0.9, beta2: 0.999, clipNorm: null, weightDecay: 0.1 });
    const p = { w: tensor([1, -2, 3, 0]) };
    const g = { w: tensor(GRADS[0]!) };
    expect(Array.from(a.update(g, a.init(p), p).updates.w!.data)).toEqual(
      Array.from(b.update(g, b.init(p), p).updates.w!.data),
    );
    // cosine: the first update at lr, later ones smaller.
    const c = adamOf({ ...spec, lrSchedule: "cosine", weightDecay: undefined });
    const u0 = c.update(g, c.init(p)).updates.w!.data[0]!;
    expect(u0).toBeCloseTo(-0.05, 6);
  });
});
