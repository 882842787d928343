/**
 * ELU (PyTorch nn.ELU, α = 1): values against the definition, x (x > 0), eˣ − 1 (x ≤ 0);
 * gradient 1 or eˣ against central finite differences in float64 (gradcheck), including
 * points near the kink at 0 (ELU with α = 1 is C¹ there); float32 stays float32. linearElu, the
 * fused Linear–ELU, gives the bits of elu(linear(·)) in value and gradient.
 */
import { describe, expect, it } from "vitest";
import * as E from "../src/engine/index.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

const rng = new Rng(11);
function randn(shape: number[], sd = 2): E.Tensor {
  const t = E.zeros(shape);
  rng.normal(t.data);
  for (let i = 0; i < t.size; i++) t.data[i]! *= sd;
  return t;
}
/** Σ y·R with R fixed, so every output's cotangent is exercised. */
function project(y: E.Tensor): E.Tensor {
  const w = E.zeros(y.shape);
  new Rng(7).normal(w.data);
  return E.sum(E.mul(y, w));
}

describe("elu", () => {
  it("values: x for x > 0, eˣ − 1 for x ≤ 0; shape kept; NaN stays NaN", () => {
    const x = E.tensor([-50, -3, -1e-9, -0, 0, 1e-9, 0.5, 4, Number.NaN, -Infinity, Infinity], [11]);
    const y = E.elu(x);
    expect(y.shape).toEqual([11]);
    const ref = [Math.expm1(-50), Math.expm1(-3), Math.expm1(-1e-9), -0, 0, 1e-9, 0.5, 4];
    for (let i = 0; i < ref.length; i++) expect(y.data[i]).toBe(ref[i]);
    expect(y.data[8]).toBeNaN();
    expect(y.data[9]).toBe(-1);
    expect(y.data[10]).toBe(Infinity);
    const r = randn([3, 4, 5]);
    const yr = E.elu(r);
    expect(yr.shape).toEqual([3, 4, 5]);
    for (let i = 0; i < r.size; i++) {
      const v = r.data[i]!;
      expect(yr.data[i]).toBeCloseTo(v > 0 ? v : Math.exp(v) - 1, 14);
    }
  });

  it("float32 in, float32 out", () => {
    const x = E.tensor([-2, -0.5, 0.5, 2], [2, 2], "float32");
    const y = E.elu(x);
    expect(y.dtype).toBe("float32");
    expect(y.data[0]).toBeCloseTo(Math.expm1(-2), 6);
    expect(y.data[3]).toBe(2);
  });

  it("gradient: 1 (x > 0), eˣ (x ≤ 0), against finite differences", () => {
    gradcheck((p) => project(E.elu(p.x)), { x: randn([4, 6]) });
    gradcheck((p) => project(E.elu(E.square(p.x))), { x: randn([7]) });
    // near the kink, on both sides
    gradcheck((p) => project(E.elu(p.x)), { x: E.tensor([-1e-3, -1e-4, 1e-4, 1e-3, -0.7, 0.7], [6]) });
  });

  it("gradient values at a few points", () => {
    const x = E.tensor([-2, -0.1, 0, 0.3, 5], [5]);
    const { grads } = E.valueAndGrad((p: { x: E.Tensor }) => E.sum(E.elu(p.x)))({ x });
    const ref = [Math.exp(-2), Math.exp(-0.1), 1, 1, 1];
    for (let i = 0; i < 5; i++) expect(grads.x.data[i]).toBeCloseTo(ref[i]!, 15);
  });

  it("composes in a network: ∂/∂W of Σ elu(x Wᵀ + b)", () => {
    const x = randn([5, 3], 1);
    gradcheck((p) => project(E.elu(E.linear(x, p.w, p.b))), { w: randn([4, 3], 1), b: randn([4], 1) });
  });

  it("linearElu = elu(linear(x, W, b)) bit for bit, value and gradients; with and without bias", () => {
    const x = randn([37, 5], 1);
    const w = randn([6, 5], 1);
    const b = randn([6], 1);
    for (const dtype of ["float64", "float32"] as const) {
      const cast = (t: E.Tensor) => E.tensor(t.data, t.shape, dtype);
      const p = { x: cast(x), w: cast(w), b: cast(b) };
      for (const withBias of [true, false]) {
        const f1 = (q: typeof p) => project32(E.linearElu(q.x, q.w, withBias ? q.b : null));
        const f2 = (q: typeof p) => project32(E.elu(E.linear(q.x, q.w, withBias ? q.b : null)));
        expect(Array.from(E.linearElu(p.x, p.w, p.b).data)).toEqual(
          Array.from(E.elu(E.linear(p.x, p.w, p.b)).data),
        );
        const g1 = E.valueAndGrad(f1)(p);
        const g2 = E.valueAndGrad(f2)(p);
        expect(g1.value).toBe(g2.value);
        for (const k of ["x", "w", "b"] as const)
          expect(Array.from(g1.grads[k].data)).toEqual(Array.from(g2.grads[k].data));
      }
    }
    expect(E.linearElu(E.tensor([1, -2], [2]), E.tensor([1, 1, 0, 1], [2, 2]), null).shape).toEqual([2]);
    expect(() => E.linearElu(x, randn([6, 4], 1), null)).toThrow(RangeError);
  });

  it("linearElu gradient against finite differences", () => {
    gradcheck((p) => project(E.linearElu(p.x, p.w, p.b)), {
      x: randn([4, 3], 1),
      w: randn([5, 3], 1),
      b: randn([5], 1),
    });
    gradcheck((p) => project(E.linearElu(p.x, p.w, null)), { x: randn([2, 2, 3], 1), w: randn([4, 3], 1) });
  });
});

/** project in the tensor's own dtype. */
function project32(y: E.Tensor): E.Tensor {
  const w = E.zeros(y.shape, y.dtype);
  const r = E.zeros(y.shape);
  new Rng(7).normal(r.data);
  w.data.set(r.data);
  return E.sum(E.mul(y, w));
}
