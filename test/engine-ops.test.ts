/**
 * Ops for circular splines and gauge-equivariant flows: takeAlongAxis/addAlongAxis, cumsum,
 * comparisons and where, floor and mod, transpose, searchsorted/searchBins. Values against
 * brute-force references written with explicit multi-indices; gradients against central
 * finite differences in float64 (gradcheck); float32 runs in float32.
 */
import { describe, expect, it } from "vitest";
import * as E from "../src/engine/index.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

const rng = new Rng(2024);
function randn(shape: number[], dtype: E.DType = "float64"): E.Tensor {
  const t = E.zeros(shape, "float64");
  rng.normal(t.data);
  return dtype === "float64" ? t : E.tensor(t.data, shape, dtype);
}
function randint(shape: number[], n: number): E.IndexTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const v: number[] = [];
  for (let i = 0; i < size; i++) v.push(Math.floor(rng.uniform() * n));
  return E.indexTensor(v, shape);
}
/** Σ y·R with R fixed per output shape, so every output's cotangent is exercised. */
function project(y: E.Tensor): E.Tensor {
  const w = E.zeros(y.shape);
  new Rng(7).normal(w.data);
  return E.sum(E.mul(y, w));
}
function unravel(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return c;
}
function ravel(c: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d]! + c[d]!;
  return i;
}
const arr = (t: { data: ArrayLike<number> }) => Array.from(t.data);

describe("takeAlongAxis and addAlongAxis", () => {
  const cases: { shape: number[]; axis: number; m: number }[] = [
    { shape: [2, 3, 4], axis: 2, m: 1 },
    { shape: [2, 3, 4], axis: -1, m: 6 },
    { shape: [2, 3, 4], axis: 1, m: 2 },
    { shape: [3, 4], axis: 0, m: 5 },
    { shape: [5], axis: 0, m: 3 },
  ];
  for (const { shape, axis, m } of cases) {
    const ax = axis < 0 ? axis + shape.length : axis;
    const ishape = shape.map((s, d) => (d === ax ? m : s));
    it(`values, [${shape}] axis ${axis} m ${m}`, () => {
      const x = randn(shape);
      const idx = randint(ishape, shape[ax]!);
      const y = E.takeAlongAxis(x, idx, axis);
      expect(y.shape).toEqual(ishape);
      for (let k = 0; k < y.size; k++) {
        const c = unravel(k, ishape);
        c[ax] = idx.data[k]!;
        expect(y.data[k]).toBe(x.data[ravel(c, shape)]);
      }
      const v = randn(ishape);
      const z = E.addAlongAxis(x, idx, v, axis);
      const ref = Float64Array.from(x.data);
      for (let k = 0; k < v.size; k++) {
        const c = unravel(k, ishape);
        c[ax] = idx.data[k]!;
        ref[ravel(c, shape)]! += v.data[k];
      }
      for (let i = 0; i < ref.length; i++) expect(z.data[i]).toBeCloseTo(ref[i]!, 14);
    });
    it(`gradients, [${shape}] axis ${axis} m ${m}`, () => {
      const idx = randint(ishape, shape[ax]!);
      gradcheck((p) => project(E.takeAlongAxis(p.x, idx, axis)), { x: randn(shape) });
      gradcheck((p) => project(E.addAlongAxis(p.x, idx, E.square(p.v), axis)), {
        x: randn(shape),
        v: randn(ishape),
      });
    });
  }
  it("repeated indices accumulate the gradient (scatter-add)", () => {
    const idx = E.indexTensor([1, 1, 1, 0], [1, 4]);
    const { grads } = E.valueAndGrad((p: { x: E.Tensor }) => E.sum(E.takeAlongAxis(p.x, idx, 1)))({
      x: E.tensor([5, 6, 7], [1, 3]),
    });
    expect(arr(grads.x)).toEqual([1, 3, 0]);
  });
  it("spline use: the width of each element's bin, [B, n, K] with [B, n, 1]", () => {
    const w = E.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]);
    const y = E.takeAlongAxis(w, E.indexTensor([2, 0, 1, 2], [2, 2, 1]), -1);
    expect(y.shape).toEqual([2, 2, 1]);
    expect(arr(y)).toEqual([3, 4, 8, 12]);
  });
  it("float32 in, float32 out (and gradient)", () => {
    const x = randn([2, 3], "float32");
    const idx = randint([2, 2], 3);
    expect(E.takeAlongAxis(x, idx, 1).data).toBeInstanceOf(Float32Array);
    const { grads } = E.valueAndGrad((p: { x: E.Tensor }) => E.sum(E.takeAlongAxis(p.x, idx, 1)))({ x });
    expect(grads.x.data).toBeInstanceOf(Float32Array);
    expect(E.addAlongAxis(x, idx, randn([2, 2], "float32"), 1).data).toBeInstanceOf(Float32Array);
  });
  it("rejects bad shapes, axes and indices with the op's name", () => {
    const x = randn([2, 3]);
    expect(() => E.takeAlongAxis(x, randint([2], 3), 1)).toThrow(/takeAlongAxis: index shape \[2\]/);
    expect(() => E.takeAlongAxis(x, randint([3, 1], 3), 1)).toThrow(/takeAlongAxis: index shape \[3,1\]/);
    expect(() => E.takeAlongAxis(x, randint([2, 1], 3), 2)).toThrow(/takeAlongAxis: axis 2 out of range/);
    expect(() => E.takeAlongAxis(x, E.indexTensor([0, 3], [2, 1]), 1)).toThrow(
      /index 3 out of range \[0, 3\)/,
    );
    expect(() => E.takeAlongAxis(x, E.indexTensor([0, -1], [2, 1]), 1)).toThrow(/index -1 out of range/);
    expect(() => E.addAlongAxis(x, randint([2, 1], 3), randn([2, 2]), 1)).toThrow(
      /addAlongAxis: values shape/,
    );
    expect(() => E.indexTensor([0.5])).toThrow(/indexTensor: value 0.5/);
    expect(() => E.indexTensor([1, 2], [3])).toThrow(/indexTensor: shape \[3\]/);
  });
});

describe("cumsum", () => {
  const shape = [2, 3, 4];
  for (const axis of [0, 1, 2, -1]) {
    for (const exclusive of [false, true]) {
      for (const reverse of [false, true]) {
        const opts = { exclusive, reverse };
        it(`axis ${axis} ${JSON.stringify(opts)}: values and gradient`, () => {
          const x = randn(shape);
          const y = E.cumsum(x, axis, opts);
          const ax = axis < 0 ? axis + 3 : axis;
          for (let k = 0; k < y.size; k++) {
            const c = unravel(k, shape);
            let acc = 0;
            for (let t = 0; t < shape[ax]!; t++) {
              const inRange = reverse
                ? t > c[ax]! || (!exclusive && t === c[ax])
                : t < c[ax]! || (!exclusive && t === c[ax]);
              if (!inRange) continue;
              const s = [...c];
              s[ax] = t;
              acc += x.data[ravel(s, shape)]!;
            }
            expect(y.data[k]).toBeCloseTo(acc, 13);
          }
          gradcheck((p) => project(E.cumsum(p.x, axis, opts)), { x: randn(shape) });
        });
      }
    }
  }
  it("exclusive sum of spline widths gives the left knots", () => {
    const left = E.cumsum(E.tensor([1, 2, 3, 0.5, 0.5, 1], [2, 3]), -1, { exclusive: true });
    expect(arr(left)).toEqual([0, 1, 3, 0, 0.5, 1]);
  });
  it("float32, accumulated in float64", () => {
    const y = E.cumsum(E.tensor([1e8, 1, 1, 1, 1], [5], "float32"), 0);
    expect(y.data).toBeInstanceOf(Float32Array);
    expect(y.data[4]).toBe(Math.fround(1e8 + 4));
  });
  it("rejects a bad axis", () => expect(() => E.cumsum(randn([2]), 1)).toThrow(/cumsum: axis 1/));
});

describe("comparisons and where", () => {
  const ops: [
    string,
    (a: E.Tensor | number, b: E.Tensor | number) => E.Tensor,
    (x: number, y: number) => boolean,
  ][] = [
    ["less", E.less, (x, y) => x < y],
    ["greater", E.greater, (x, y) => x > y],
    ["lessEqual", E.lessEqual, (x, y) => x <= y],
    ["greaterEqual", E.greaterEqual, (x, y) => x >= y],
    ["equal", E.equal, (x, y) => x === y],
  ];
  const vals = [-1, 0, 1, Number.NaN, 2];
  for (const [name, op, ref] of ops) {
    it(`${name}: broadcasting, ties and NaN`, () => {
      const a = E.tensor(vals, [5, 1]);
      const b = E.tensor([0, 1, Number.NaN], [1, 3]);
      const y = op(a, b);
      expect(y.shape).toEqual([5, 3]);
      for (let i = 0; i < 5; i++)
        for (let j = 0; j < 3; j++) expect(y.data[i * 3 + j]).toBe(ref(a.data[i]!, b.data[j]!) ? 1 : 0);
      expect(arr(op(E.tensor(vals), 1))).toEqual(vals.map((v) => (ref(v, 1) ? 1 : 0)));
      expect(arr(op(1, E.tensor(vals)))).toEqual(vals.map((v) => (ref(1, v) ? 1 : 0)));
      expect(op(E.tensor([1], [1], "float32"), 0).data).toBeInstanceOf(Float32Array);
    });
  }
  it("comparisons have no gradient; they are not recorded", () => {
    const { grads } = E.valueAndGrad((p: { x: E.Tensor }) => E.sum(E.mul(E.less(p.x, 0), p.x)))({
      x: E.tensor([-2, 3, -1]),
    });
    expect(arr(grads.x)).toEqual([1, 0, 1]);
  });
  it("errors name the op", () => {
    expect(() => E.less(randn([2, 3]), randn([4]))).toThrow(
      /less: shapes \[2,3\], \[4\] cannot be broadcast/,
    );
    expect(() => E.equal(randn([2]), randn([2], "float32"))).toThrow(/equal: dtype mismatch/);
    expect(() => E.where(randn([3]), randn([2]), 0)).toThrow(/where: shapes/);
  });
  it("where: values with three-way broadcasting, NaN cond selects a", () => {
    const cond = E.tensor([1, 0, Number.NaN], [3, 1]);
    const a = E.tensor([10, 20], [1, 2]);
    const z = E.where(cond, a, -1);
    expect(z.shape).toEqual([3, 2]);
    expect(arr(z)).toEqual([10, 20, -1, -1, 10, 20]);
    expect(arr(E.where(E.tensor([0, 1]), 1, 0))).toEqual([0, 1]);
    expect(E.where(E.tensor([1]), randn([2], "float32"), 0).data).toBeInstanceOf(Float32Array);
  });
  const shapes: [number[], number[], number[]][] = [
    [
      [2, 3],
      [2, 3],
      [2, 3],
    ],
    [
      [2, 1],
      [1, 3],
      [2, 3],
    ],
    [[3], [2, 3], [1]],
    [[2, 3, 1], [4], [3, 4]],
  ];
  for (const [sc, sa, sb] of shapes) {
    it(`where gradient, cond [${sc}] a [${sa}] b [${sb}]`, () => {
      const cond = E.greater(randn(sc), 0);
      gradcheck((p) => project(E.where(cond, p.a, E.square(p.b))), { a: randn(sa), b: randn(sb) });
      gradcheck((p) => project(E.where(cond, p.a, p.a)), { a: randn(sa) });
    });
  }
});

describe("floor and mod", () => {
  const TWO_PI = 2 * Math.PI;
  it("floor values; zero gradient", () => {
    expect(arr(E.floor(E.tensor([-1.5, -1, -0.2, 0, 0.7, 2])))).toEqual([-2, -1, -1, 0, 0, 2]);
    const { grads } = E.valueAndGrad((p: { x: E.Tensor }) => E.sum(E.add(E.floor(p.x), 0)))({
      x: E.tensor([0.5, 2.5]),
    });
    expect(arr(grads.x)).toEqual([0, 0]);
  });
  it("mod follows Python's %", () => {
    // Python: 7 % 3, -1 % 3, -7 % 3, 6 % 3, 7 % -3, -1 % -3, 5.5 % 2, -0.5 % 2
    const x = E.tensor([7, -1, -7, 6, 5.5, -0.5]);
    expect(arr(E.mod(x, 3)).slice(0, 4)).toEqual([1, 2, 2, 0]);
    expect(arr(E.mod(x, 2)).slice(4)).toEqual([1.5, 1.5]);
    expect(arr(E.mod(E.tensor([7, -1, 6]), -3))).toEqual([-2, -1, -0]);
    expect(Object.is(E.mod(E.tensor([-0, -3]), 3).data[0], 0)).toBe(true);
    expect(Object.is(E.mod(E.tensor([-3]), 3).data[0], 0)).toBe(true);
  });
  it("mod wraps angles into [0, 2π) in float64 and float32, also at the edges", () => {
    const edge = [-1e-20, -1e-9, -TWO_PI, TWO_PI, 3 * TWO_PI, -Math.PI, 1e-300, -5e-324, 100.25];
    for (const dtype of ["float64", "float32"] as const) {
      const x = E.tensor([...edge, ...arr(randn([200])).map((v) => 10 * v)], undefined, dtype);
      const y = E.mod(x, TWO_PI);
      expect(y.data).toBeInstanceOf(dtype === "float32" ? Float32Array : Float64Array);
      for (let i = 0; i < y.size; i++) {
        expect(y.data[i]).toBeGreaterThanOrEqual(0);
        expect(y.data[i]).toBeLessThan(TWO_PI);
        // the same angle: x − y is a multiple of 2π (to rounding)
        const k = (x.data[i]! - y.data[i]!) / TWO_PI;
        expect(Math.abs(k - Math.round(k))).toBeLessThan(dtype === "float32" ? 1e-5 : 1e-12);
      }
    }
    expect(E.mod(E.tensor([-1e-20]), TWO_PI).data[0]).toBe(0); // Python gives 2π here
    expect(E.mod(E.tensor([TWO_PI]), TWO_PI).data[0]).toBe(0);
    expect(E.mod(E.tensor([-Math.PI / 2]), TWO_PI).data[0]).toBeCloseTo(1.5 * Math.PI, 14);
  });
  it("mod of NaN and ±Infinity is NaN; a bad modulus is rejected", () => {
    expect(arr(E.mod(E.tensor([Number.NaN, Infinity, -Infinity]), 2)).every(Number.isNaN)).toBe(true);
    expect(() => E.mod(randn([2]), 0)).toThrow(/mod: modulus must be finite and nonzero, got 0/);
    expect(() => E.mod(randn([2]), Number.NaN)).toThrow(/mod: modulus/);
  });
  it("mod gradient is 1 (away from the jumps)", () => {
    const x = E.tensor([0.3, 7.1, -2.2, -9.4, 4]);
    gradcheck((p) => project(E.mod(E.scale(p.x, 1.5), TWO_PI)), { x });
  });
});

describe("transpose", () => {
  /** y[i] = x[j] with j_{perm[k]} = i_k. */
  function reference(x: E.Tensor, perm: number[]): number[] {
    const shape = perm.map((a) => x.shape[a]!);
    const out: number[] = [];
    for (let k = 0; k < x.size; k++) {
      const c = unravel(k, shape);
      const src = new Array<number>(perm.length);
      for (let d = 0; d < perm.length; d++) src[perm[d]!] = c[d]!;
      out.push(x.data[ravel(src, x.shape)]!);
    }
    return out;
  }
  const cases: [number[], number[]][] = [
    [
      [3, 4],
      [1, 0],
    ],
    [
      [70, 45],
      [1, 0],
    ],
    [
      [2, 3, 4],
      [0, 2, 1],
    ],
    [
      [2, 3, 4],
      [2, 0, 1],
    ],
    [
      [2, 3, 4],
      [1, 0, 2],
    ],
    [
      [2, 3, 4],
      [0, 1, 2],
    ],
    [
      [2, 1, 4],
      [0, 2, 1],
    ],
    [
      [3, 1, 1, 2],
      [3, 2, 0, 1],
    ],
    [
      [2, 3, 4, 5],
      [3, 1, 2, 0],
    ],
    [
      [2, 3, 4, 5],
      [1, 0, 3, 2],
    ],
    [
      [2, 3, 4, 5],
      [0, 2, 3, 1],
    ],
    [[5], [0]],
    [[], []],
    [
      [2, 0, 3],
      [2, 1, 0],
    ],
  ];
  for (const [shape, perm] of cases) {
    it(`[${shape}] by [${perm}]: values and gradient`, () => {
      const x = randn(shape);
      const y = E.transpose(x, perm);
      expect(y.shape).toEqual(perm.map((a) => shape[a]));
      expect(arr(y)).toEqual(reference(x, perm));
      if (x.size > 0 && x.size < 200) gradcheck((p) => project(E.transpose(p.x, perm)), { x: randn(shape) });
    });
  }
  it("all permutations of rank 4 with some extent-1 axes", () => {
    const x = randn([2, 1, 3, 2]);
    const perms: number[][] = [];
    const go = (p: number[]) => {
      if (p.length === 4) perms.push(p);
      else for (let a = 0; a < 4; a++) if (!p.includes(a)) go([...p, a]);
    };
    go([]);
    for (const p of perms) expect(arr(E.transpose(x, p))).toEqual(reference(x, p));
  });
  it("default reverses the axes; negative axes; float32", () => {
    const x = randn([2, 3, 4]);
    expect(arr(E.transpose(x))).toEqual(reference(x, [2, 1, 0]));
    expect(arr(E.transpose(x, [0, -1, -2]))).toEqual(reference(x, [0, 2, 1]));
    expect(E.transpose(randn([2, 3], "float32"), [1, 0]).data).toBeInstanceOf(Float32Array);
  });
  it("rejects non-permutations", () => {
    expect(() => E.transpose(randn([2, 3]), [0, 0])).toThrow(/transpose: \[0,0\] is not a permutation/);
    expect(() => E.transpose(randn([2, 3]), [0])).toThrow(/transpose: \[0\] is not a permutation/);
    expect(() => E.transpose(randn([2, 3]), [0, 2])).toThrow(/transpose: axis 2 out of range/);
  });
});

describe("searchsorted and searchBins", () => {
  const count = (seq: ArrayLike<number>, v: number, right: boolean) => {
    if (Number.isNaN(v)) return seq.length;
    let c = 0;
    for (let i = 0; i < seq.length; i++) if (right ? seq[i]! <= v : seq[i]! < v) c++;
    return c;
  };
  it("batched: counts of smaller (left) / not larger (right) knots, ties and NaN", () => {
    const seq = E.tensor([0, 1, 1, 2, 5, -3, -3, 0, 4, 4], [2, 5]);
    const values = E.tensor([-4, 0, 1, 1.5, 5, 6, Number.NaN, -3, 0, 4, 4.5, 10, Number.NaN, -9], [2, 7]);
    for (const right of [false, true]) {
      const idx = E.searchsorted(seq, values, { right });
      expect(idx.shape).toEqual([2, 7]);
      expect(idx.data).toBeInstanceOf(Int32Array);
      for (let k = 0; k < 14; k++) {
        const row = seq.data.subarray(Math.floor(k / 7) * 5, Math.floor(k / 7) * 5 + 5);
        expect(idx.data[k]).toBe(count(row, values.data[k]!, right));
      }
    }
  });
  it("1-D sequence with values of any shape; random cases; float32", () => {
    const seq = E.tensor([-1, -0.5, 0, 0, 0.25, 2]);
    const values = randn([3, 2, 4]);
    values.data[0] = 0;
    values.data[1] = 2;
    for (const right of [false, true]) {
      const idx = E.searchsorted(seq, values, { right });
      expect(idx.shape).toEqual([3, 2, 4]);
      for (let k = 0; k < values.size; k++) expect(idx.data[k]).toBe(count(seq.data, values.data[k]!, right));
    }
    const f32 = E.searchsorted(E.tensor([0, 1, 2], [3], "float32"), E.tensor([1.5], [1], "float32"));
    expect(arr(f32)).toEqual([2]);
    expect(arr(E.searchsorted(E.tensor([], [0]), E.tensor([1, 2])))).toEqual([0, 0]);
  });
  it("searchBins: edge cases of a circular spline on [0, 2π]", () => {
    const TWO_PI = 2 * Math.PI;
    const knots = E.tensor([0, 1, 2.5, 4, TWO_PI]); // K = 4 bins
    const v = [0, 0.5, 1, 2.5, 6, TWO_PI, -0.1, 7, Number.NaN, 3.999];
    const bins = E.searchBins(knots, E.tensor(v));
    expect(arr(bins)).toEqual([0, 0, 1, 2, 3, 3, 0, 3, 3, 2]);
  });
  it("searchBins: batched knots from cumsum, then the bin's width via takeAlongAxis", () => {
    const widths = E.tensor([1, 2, 3, 0.5, 0.25, 0.25], [2, 3]);
    const right = E.cumsum(widths, -1);
    const knots = E.concat([E.zeros([2, 1]), right], -1); // [2, K+1] = [[0,1,3,6],[0,.5,.75,1]]
    const x = E.tensor([2.9, 6, 0.75, 0], [2, 2]);
    const bins = E.searchBins(knots, x);
    expect(arr(bins)).toEqual([1, 2, 2, 0]);
    expect(arr(E.takeAlongAxis(widths, bins, -1))).toEqual([2, 3, 0.25, 0.5]);
  });
  it("a piecewise-linear spline built from these ops has the right gradient", () => {
    // y = left_h[k] + (x − left_w[k]) · h_k / w_k with k = bin of x; widths and heights from exp.
    const x = E.tensor([0.1, 0.7, 1.3, 2.2, 0.05, 1.9], [2, 3, 1]);
    const f = (p: { w: E.Tensor; h: E.Tensor }) => {
      const w = E.exp(p.w);
      const h = E.exp(p.h);
      const lw = E.cumsum(w, -1, { exclusive: true });
      const lh = E.cumsum(h, -1, { exclusive: true });
      const knots = E.concat([lw, E.sum(w, [-1], true)], -1);
      const k = E.searchBins(knots, x);
      const at = (t: E.Tensor) => E.takeAlongAxis(t, k, -1);
      return project(E.add(at(lh), E.div(E.mul(E.sub(x, at(lw)), at(h)), at(w))));
    };
    gradcheck(f, { w: randn([2, 3, 4]), h: randn([2, 3, 4]) });
  });
  it("rejects sequences that do not fit the values", () => {
    expect(() => E.searchsorted(randn([2, 3]), randn([3, 1]))).toThrow(
      /searchsorted: sorted sequence \[2,3\] does not fit values \[3,1\]/,
    );
    expect(() => E.searchsorted(randn([2, 3]), randn([2]))).toThrow(/searchsorted: sorted sequence/);
    expect(() => E.searchsorted(E.scalar(1), randn([2]))).toThrow(/searchsorted: sorted sequence \[\]/);
    expect(() => E.searchBins(E.tensor([0]), randn([2]))).toThrow(
      /searchBins: knots \[1\] need at least 2 edges/,
    );
  });
});
