/** The replay buffer of the mixed objective: ring order, uniform draws, determinism, dtype. */
import { describe, expect, it } from "vitest";
import { Tensor, tensor } from "../src/engine/index.js";
import { Rng } from "../src/rng/philox.js";
import { ReplayBuffer } from "../src/train/replay-buffer.js";

/** n configurations of shape [2, 2], configuration i filled with the value `from + i`. */
function configs(from: number, n: number, dtype: "float64" | "float32" = "float64"): Tensor {
  const v: number[] = [];
  for (let i = 0; i < n; i++) v.push(from + i, from + i, from + i, from + i);
  return tensor(v, [n, 2, 2], dtype);
}

/** The label (first entry) of every configuration of x. */
const labels = (x: Tensor): number[] => Array.from({ length: x.shape[0]! }, (_, i) => x.data[i * 4]!);

describe("ReplayBuffer", () => {
  it("fills, then overwrites the oldest: a ring of `capacity` configurations", () => {
    const buf = new ReplayBuffer(5);
    expect(buf.size).toBe(0);
    buf.push(configs(0, 3));
    expect(buf.size).toBe(3);
    expect(labels(buf.contents())).toEqual([0, 1, 2]);
    buf.push(configs(3, 4));
    expect(buf.size).toBe(5);
    expect(labels(buf.contents())).toEqual([2, 3, 4, 5, 6]);
    // A push larger than the ring keeps its last `capacity` configurations.
    buf.push(configs(10, 7));
    expect(labels(buf.contents())).toEqual([12, 13, 14, 15, 16]);
    expect(buf.contents().shape).toEqual([5, 2, 2]);
  });

  it("draws uniformly with replacement, the same draws for the same generator state", () => {
    const buf = new ReplayBuffer(8);
    buf.push(configs(0, 8));
    const a = buf.draw(new Rng(7), 4000);
    const b = buf.draw(new Rng(7), 4000);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(a.shape).toEqual([4000, 2, 2]);
    const counts = new Array<number>(8).fill(0);
    for (const l of labels(a)) counts[l]!++;
    // 500 expected per slot, σ ≈ 21: every slot within 5σ, and each draw is a whole configuration.
    for (const c of counts) expect(Math.abs(c - 500)).toBeLessThan(110);
    for (let i = 0; i < 4000; i++) for (let j = 1; j < 4; j++) expect(a.data[i * 4 + j]).toBe(a.data[i * 4]);
    // The draw is slot ⌊u·size⌋, one uniform per configuration.
    const rng = new Rng(7);
    const want = Array.from({ length: 5 }, () => Math.floor(rng.uniform() * 8));
    expect(labels(buf.draw(new Rng(7), 5))).toEqual(want);
  });

  it("draws only among the filled slots", () => {
    const buf = new ReplayBuffer(100);
    buf.push(configs(0, 3));
    const d = labels(buf.draw(new Rng(1), 300));
    expect(new Set(d)).toEqual(new Set([0, 1, 2]));
  });

  it("keeps the dtype of its configurations, bit for bit, and refuses another shape or dtype", () => {
    const buf = new ReplayBuffer(4);
    const x = new Tensor(Float32Array.from([0.1, -0.2, 0.3, 1e-30, 5, 6, 7, 8]), [2, 2, 2]);
    buf.push(x);
    expect(buf.dtype).toBe("float32");
    const d = buf.draw(new Rng(3), 6);
    expect(d.data).toBeInstanceOf(Float32Array);
    for (let i = 0; i < 6; i++) {
      const row = Array.from(d.data.subarray(i * 4, (i + 1) * 4));
      expect([Array.from(x.data.subarray(0, 4)), Array.from(x.data.subarray(4, 8))]).toContainEqual(row);
    }
    expect(() => buf.push(configs(0, 1))).toThrow(/float32/);
    expect(() => buf.push(tensor([1, 2, 3], [1, 3], "float32"))).toThrow(RangeError);
    expect(() => new ReplayBuffer(4).draw(new Rng(0), 1)).toThrow(/empty/);
    expect(() => new ReplayBuffer(0)).toThrow(RangeError);
  });
});
