/** Learning-rate schedules: the cosine's values, Adam taking a schedule, and the spec/flag plumbing. */
import { describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { applySettings, SpecError } from "../src/model/index.js";
import { adam } from "../src/train/adam.js";
import { cosineDecay, learningRateAt, learningRateOf } from "../src/train/schedule.js";

describe("learning-rate schedules", () => {
  it("cosine decays from lr to 0 through lr/2 at half way, and stays at 0 after the end", () => {
    const f = cosineDecay(1e-3, 100);
    expect(f(0)).toBe(1e-3);
    expect(f(50)).toBeCloseTo(5e-4, 15);
    expect(f(100)).toBeCloseTo(0, 15);
    expect(f(250)).toBeCloseTo(0, 15);
    for (let t = 1; t <= 100; t++) expect(f(t)).toBeLessThan(f(t - 1));
  });

  it("Adam's update scales with the schedule's rate at update count − 1", () => {
    const g = { w: new Tensor(Float64Array.from([0.3, -2]), [2]) };
    const run = (lr: number | ((t: number) => number)) => {
      const opt = adam({ lr });
      let st = opt.init(g);
      const out: number[] = [];
      for (let k = 0; k < 3; k++) {
        const r = opt.update(g, st);
        st = r.state;
        out.push(r.updates.w!.data[0]!);
      }
      return out;
    };
    const constant = run(1e-3);
    const halving = run((t) => 1e-3 / 2 ** t);
    expect(run(() => 1e-3)).toEqual(constant);
    for (let k = 0; k < 3; k++) expect(halving[k]).toBeCloseTo(constant[k]! / 2 ** k, 15);
  });

  it("a run's spec chooses the schedule; a bad value is one SpecError", () => {
    const c = applySettings(undefined, { lrSchedule: "cosine", steps: 10, lr: 0.01 }, "flags");
    const s = learningRateOf(c.train);
    expect(learningRateAt(s, 0)).toBe(0.01);
    expect(learningRateAt(s, 10)).toBeCloseTo(0, 15);
    expect(learningRateOf(applySettings(undefined, {}, "flags").train)).toBe(1e-3);
    expect(() => applySettings(undefined, { lrSchedule: "linear" }, "flags")).toThrow(SpecError);
  });
});
