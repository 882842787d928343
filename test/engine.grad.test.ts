/**
 * Every op's gradient against central finite differences in float64 (h = 1e-6, so the
 * O(h²) truncation error is ~1e-12 and rounding ~1e-10: a 1e-6 tolerance has a wide margin).
 * The loss is Σ op(...)·R with a fixed random R, so every output element's cotangent is tested.
 */
import { describe, expect, it } from "vitest";
import * as E from "../src/engine/index.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

const rng = new Rng(42);
function randn(shape: number[], scale = 1): E.Tensor {
  const t = E.zeros(shape);
  rng.normal(t.data);
  for (let i = 0; i < t.size; i++) t.data[i]! *= scale;
  return t;
}
function positive(shape: number[]): E.Tensor {
  const t = randn(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = 0.5 + Math.abs(t.data[i]!);
  return t;
}
/** Σ y·R with R fixed per output shape. */
function project(y: E.Tensor): E.Tensor {
  const r = new Rng(7);
  const w = E.zeros(y.shape);
  r.normal(w.data);
  return E.sum(E.mul(y, w));
}

describe("unary ops", () => {
  const ops = {
    neg: E.neg,
    exp: E.exp,
    tanh: E.tanh,
    sigmoid: E.sigmoid,
    softplus: E.softplus,
    sin: E.sin,
    cos: E.cos,
    square: E.square,
  };
  for (const [name, op] of Object.entries(ops)) {
    it(name, () => gradcheck((p) => project(op(p.x)), { x: randn([3, 4]) }));
  }
  it("log, sqrt on positive inputs", () => {
    gradcheck((p) => project(E.log(p.x)), { x: positive([5]) });
    gradcheck((p) => project(E.sqrt(p.x)), { x: positive([5]) });
  });
  it("abs away from 0", () => gradcheck((p) => project(E.abs(p.x)), { x: positive([4]) }));
  it("scale and shift", () => gradcheck((p) => project(E.shift(E.scale(p.x, -2.5), 3)), { x: randn([4]) }));
});

describe("binary ops with broadcasting", () => {
  const ops = { add: E.add, sub: E.sub, mul: E.mul, div: E.div, atan2: E.atan2, maximum: E.maximum };
  const shapes: [number[], number[]][] = [
    [
      [2, 3],
      [2, 3],
    ],
    [
      [2, 3, 4],
      [3, 4],
    ],
    [
      [2, 3, 4],
      [3, 1],
    ],
    [
      [2, 1, 4],
      [1, 3, 1],
    ],
    [[], [2, 2]],
  ];
  for (const [name, op] of Object.entries(ops)) {
    for (const [sa, sb] of shapes) {
      it(`${name} [${sa}] with [${sb}]`, () => {
        const b = name === "div" ? positive(sb) : randn(sb);
        gradcheck((p) => project(op(p.a, p.b)), { a: randn(sa), b });
      });
    }
  }
  it("broadcast shape and values", () => {
    const y = E.add(E.tensor([1, 2, 3], [3]), E.tensor([10, 20], [2, 1]));
    expect(y.shape).toEqual([2, 3]);
    expect(Array.from(y.data)).toEqual([11, 12, 13, 21, 22, 23]);
  });
  it("numbers as operands", () => {
    gradcheck((p) => project(E.mul(2, E.sub(p.x, 1))), { x: randn([3]) });
  });
});

describe("activations", () => {
  it("prelu with a shared slope (PyTorch nn.PReLU())", () =>
    gradcheck((p) => project(E.prelu(p.x, p.a)), { x: randn([2, 3, 4]), a: E.tensor([0.25]) }));
  it("prelu per channel", () =>
    gradcheck((p) => project(E.prelu(p.x, p.a)), { x: randn([2, 3, 4]), a: E.tensor([0.1, 0.2, 0.3]) }));
  it("leakyRelu", () => gradcheck((p) => project(E.leakyRelu(p.x, 0.01)), { x: randn([10]) }));
  it("relu", () => gradcheck((p) => project(E.relu(p.x)), { x: randn([10]) }));
});

describe("reductions", () => {
  const x = () => randn([2, 3, 4]);
  it("sum over all, one axis, several axes, keepDims", () => {
    gradcheck((p) => E.sum(p.x), { x: x() });
    gradcheck((p) => project(E.sum(p.x, [1])), { x: x() });
    gradcheck((p) => project(E.sum(p.x, [0, 2], true)), { x: x() });
    gradcheck((p) => project(E.sum(p.x, [-1])), { x: x() });
  });
  it("mean", () => gradcheck((p) => project(E.mean(p.x, [0])), { x: x() }));
  it("logsumexp, stable for large inputs", () => {
    gradcheck((p) => project(E.logsumexp(p.x, [1])), { x: x() });
    const big = E.logsumexp(E.tensor([1000, 1000]));
    expect(big.item()).toBeCloseTo(1000 + Math.log(2), 10);
  });
  it("reduction values", () => {
    const t = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(Array.from(E.sum(t, [0]).data)).toEqual([5, 7, 9]);
    expect(Array.from(E.mean(t, [1]).data)).toEqual([2, 5]);
  });
});

describe("matmul", () => {
  it("gradient", () => gradcheck((p) => project(E.matmul(p.a, p.b)), { a: randn([3, 4]), b: randn([4, 2]) }));
  it("value", () => {
    const c = E.matmul(E.tensor([1, 2, 3, 4], [2, 2]), E.tensor([5, 6, 7, 8], [2, 2]));
    expect(Array.from(c.data)).toEqual([19, 22, 43, 50]);
  });
});

describe("periodic convolution", () => {
  const cases: { lattice: number[]; kernel: number[]; cin: number; cout: number }[] = [
    { lattice: [5], kernel: [3], cin: 2, cout: 3 },
    { lattice: [4, 3], kernel: [3, 3], cin: 2, cout: 2 },
    { lattice: [4, 4], kernel: [5, 1], cin: 1, cout: 2 },
    { lattice: [3, 2, 3], kernel: [3, 3, 3], cin: 1, cout: 2 },
    { lattice: [2, 3, 2, 2], kernel: [3, 1, 3, 1], cin: 2, cout: 1 },
  ];
  for (const c of cases) {
    it(`gradients, lattice [${c.lattice}] kernel [${c.kernel}]`, () => {
      gradcheck((p) => project(E.periodicConv(p.x, p.w, p.b)), {
        x: randn([2, c.cin, ...c.lattice]),
        w: randn([c.cout, c.cin, ...c.kernel]),
        b: randn([c.cout]),
      });
    });
  }
  it("matches a direct periodic cross-correlation (PyTorch convention)", () => {
    const L = [4, 5];
    const x = randn([1, 1, ...L]);
    const w = randn([1, 1, 3, 3]);
    const y = E.periodicConv(x, w);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 5; j++) {
        let acc = 0;
        for (let a = 0; a < 3; a++) {
          for (let b = 0; b < 3; b++) {
            const ii = (i + a - 1 + 4) % 4;
            const jj = (j + b - 1 + 5) % 5;
            acc += w.data[a * 3 + b]! * x.data[ii * 5 + jj]!;
          }
        }
        expect(y.data[i * 5 + j]).toBeCloseTo(acc, 12);
      }
    }
  });
  it("rejects even kernels and mismatched channels", () => {
    expect(() => E.periodicConv(randn([1, 1, 4]), randn([1, 1, 2]))).toThrow(/odd/);
    expect(() => E.periodicConv(randn([1, 2, 4]), randn([1, 1, 3]))).toThrow(/does not fit/);
  });
});

describe("shape ops", () => {
  it("roll: value as torch.roll, gradient", () => {
    const y = E.roll(E.tensor([0, 1, 2, 3], [4]), 1, 0);
    expect(Array.from(y.data)).toEqual([3, 0, 1, 2]);
    gradcheck((p) => project(E.roll(p.x, -2, 1)), { x: randn([2, 5, 3]) });
  });
  it("gather and scatter", () => {
    const idx = new Int32Array([3, 0, 2]);
    gradcheck((p) => project(E.gather(p.x, 1, idx)), { x: randn([2, 4, 2]) });
    gradcheck((p) => project(E.scatter(p.x, 1, idx, 5)), { x: randn([2, 3, 2]) });
    const g = E.gather(E.tensor([10, 11, 12, 13], [4]), 0, idx);
    expect(Array.from(g.data)).toEqual([13, 10, 12]);
  });
  it("reshape, slice, concat, split", () => {
    gradcheck((p) => project(E.reshape(p.x, [3, -1])), { x: randn([2, 3, 2]) });
    gradcheck((p) => project(E.slice(p.x, 1, 1, 2)), { x: randn([2, 4]) });
    gradcheck((p) => project(E.concat([p.a, p.b, p.a], 1)), { a: randn([2, 1, 3]), b: randn([2, 2, 3]) });
    gradcheck(
      (p) => {
        const [u, v] = E.split(p.x, 0, [1, 2]);
        return E.add(project(E.square(u!)), project(v!));
      },
      { x: randn([3, 2]) },
    );
  });
});

describe("autodiff mechanics", () => {
  it("a tensor used twice accumulates both cotangents", () => {
    const { value, grads } = E.valueAndGrad((p: { x: E.Tensor }) => E.sum(E.mul(p.x, p.x)))({
      x: E.tensor([3]),
    });
    expect(value).toBe(9);
    expect(grads.x.data[0]).toBe(6);
  });
  it("a cotangent an op hands to several inputs is not changed by a later contribution to one of them", () => {
    // add passes its output's cotangent to both operands as one array; a must get its second
    // contribution (from a·a) in a copy, or b's cotangent changes too (this gave 21, not 9).
    const once = E.valueAndGrad((p: { p: E.Tensor }) => {
      const a = E.scale(p.p, 1);
      const b = E.scale(p.p, 2);
      return E.sum(E.add(E.add(a, b), E.mul(a, a)));
    })({ p: E.tensor([3]) });
    expect(once.grads.p.data[0]).toBe(9); // d/dp (3p + p²)
    // The same when the shared array is itself an accumulated copy (s used twice, then split).
    const twice = E.valueAndGrad((p: { p: E.Tensor }) => {
      const a = E.scale(p.p, 1);
      const s = E.add(a, E.scale(p.p, 2));
      return E.sum(E.add(E.add(s, s), E.mul(a, a)));
    })({ p: E.tensor([3]) });
    expect(twice.grads.p.data[0]).toBe(12); // d/dp (6p + p²)
  });
  it("unused parameters get zero gradients; constants are not tracked", () => {
    const c = E.tensor([2]);
    const { grads } = E.valueAndGrad((p: { x: E.Tensor; y: E.Tensor }) => E.sum(E.mul(p.x, c)))({
      x: E.tensor([1]),
      y: E.tensor([5]),
    });
    expect(grads.x.data[0]).toBe(2);
    expect(grads.y.data[0]).toBe(0);
  });
  it("rejects a non-scalar loss", () => {
    expect(() => E.valueAndGrad((p: { x: E.Tensor }) => p.x)({ x: E.tensor([1, 2]) })).toThrow(/scalar/);
  });
  it("float32 runs in float32", () => {
    const x = E.tensor([1, 2], [2], "float32");
    const { grads } = E.valueAndGrad((p: { x: E.Tensor }) => E.sum(E.exp(p.x)))({ x });
    expect(grads.x.data).toBeInstanceOf(Float32Array);
    expect(grads.x.data[1]).toBeCloseTo(Math.exp(2), 5);
  });
});
