/**
 * The circle maps of the U(1) flows: NcpTransformer (mixture of non-compact projections,
 * arXiv 2002.02428 / 2101.08176) and CircularSplineTransformer (arXiv 1906.04032 on the
 * circle). For each, on random θ (with extreme log-scales and logits) and x on a grid that
 * includes 0, tiny values, π, 2π − ulp, 2π, negative and > 2π angles: inverse ∘ forward and
 * forward ∘ inverse, the log-det against finite differences of y, gradchecks in x and θ,
 * monotonicity and bijectivity, float32; and the NCP against the tutorial's formulas written
 * out literally.
 */
import { describe, expect, it } from "vitest";
import { add, cos, mul, sin, sum, Tensor, tensor, valueAndGrad } from "../src/engine/index.js";
import { CircularSplineTransformer } from "../src/flows/circular-spline-transformer.js";
import type { ElementwiseTransformer } from "../src/flows/elementwise.js";
import { NcpTransformer } from "../src/flows/ncp-transformer.js";
import { Rng } from "../src/rng/philox.js";
import { gradcheck } from "./gradcheck.js";

const TWO_PI = 2 * Math.PI;
const BELOW_TWO_PI = 6.283185307179585; // the largest double below 2π

const X_GRID = [
  0,
  5e-324,
  1e-300,
  1e-15,
  1e-8,
  0.1,
  1,
  Math.PI / 2,
  Math.PI,
  3.5,
  5,
  6.2,
  6.283185307,
  BELOW_TWO_PI,
  TWO_PI,
  -1e-20,
  -1e-9,
  -0.7,
  -4,
  -13,
  6.5,
  9,
  20,
  123.4,
];

/** x mod 2π in [0, 2π), the reference (Python's %). */
function wrap(x: number): number {
  const r = x % TWO_PI;
  return r < 0 ? r + TWO_PI : r;
}

/** Signed a − b on the circle, in [−π, π). */
function circDiff(a: number, b: number): number {
  return wrap(a - b + Math.PI) - Math.PI;
}

/** Distance of two angles on the circle. */
function circDist(a: number, b: number): number {
  return Math.abs(circDiff(a, b));
}

/** The spacing of doubles at x. */
function ulp(x: number): number {
  return Math.max(Math.abs(x) * Number.EPSILON, Number.MIN_VALUE);
}

/** x [B, n]: `values` in every row. */
function rows(values: readonly number[], b: number): Tensor {
  const data: number[] = [];
  for (let r = 0; r < b; r++) data.push(...values);
  return tensor(data, [b, values.length]);
}

/** θ [B, P, n] from f(row, channel, element). */
function thetaOf(b: number, p: number, n: number, f: (r: number, c: number, i: number) => number): Tensor {
  const data = new Float64Array(b * p * n);
  for (let r = 0; r < b; r++)
    for (let c = 0; c < p; c++) for (let i = 0; i < n; i++) data[(r * p + c) * n + i] = f(r, c, i);
  return new Tensor(data, [b, p, n]);
}

function toFloat32(t: Tensor): Tensor {
  return new Tensor(Float32Array.from(t.data), t.shape);
}

/** Columns of θ [B, P, n] repeated to m elements each (same map for every element of a row). */
function repeatColumn(theta: Tensor, column: number, m: number): Tensor {
  const [b, p, n] = theta.shape as [number, number, number];
  return thetaOf(b, p, m, (r, c) => theta.data[(r * p + c) * n + column]!);
}

interface Case {
  name: string;
  /** Whether the inverse is solved to the last ulp (NCP) rather than in closed form. */
  ulpExact: boolean;
  transformer: ElementwiseTransformer;
  /** θ [B, P, X_GRID.length], random with extreme rows. */
  theta: Tensor;
  /** Grid angles at which log g' is smooth in x (the spline's knots 0 ≡ 2π are not). */
  smoothX: readonly number[];
}

function ncpCase(components: number, seed: number): Case {
  const rng = new Rng(seed);
  const n = X_GRID.length;
  const u = () => rng.uniform();
  // Rows: random s ∈ (−5, 5); all s = +5; all s = −5; alternating ±5. t: any real.
  const theta = thetaOf(4, components + 1, n, (r, c) => {
    if (c === components) return r === 3 ? 0 : -4 + 14 * u();
    if (r === 0) return -5 + 10 * u();
    if (r === 1) return 5;
    if (r === 2) return -5;
    return c % 2 === 0 ? 5 : -5;
  });
  return {
    name: `NCP, C = ${components}`,
    ulpExact: true,
    transformer: new NcpTransformer(components),
    theta,
    smoothX: X_GRID,
  };
}

function splineCase(bins: number, seed: number): Case {
  const rng = new Rng(seed);
  const n = X_GRID.length;
  const normal = new Float64Array(1);
  const z = () => {
    rng.normal(normal);
    return normal[0]!;
  };
  // Rows: N(0, 1) logits; extreme logits (±(10 … 14): widths and heights at their minimum,
  // knot slopes from 1e-3 to 14; not exactly ±c, which would put knots on grid points such
  // as π); N(0, 3²); N(0, 0.05²) (nearly equal bins). t: any real.
  const theta = thetaOf(4, 3 * bins + 1, n, (r, c) => {
    if (c === 3 * bins) return r === 3 ? 0 : -4 + 14 * rng.uniform();
    if (r === 0) return z();
    if (r === 1) return (rng.uniform() < 0.5 ? -1 : 1) * (10 + 4 * rng.uniform());
    if (r === 2) return 3 * z();
    return 0.05 * z();
  });
  const smoothX = X_GRID.filter((x) => circDist(x, 0) > 1e-4);
  return {
    name: `circular spline, K = ${bins}`,
    ulpExact: false,
    transformer: new CircularSplineTransformer(bins),
    theta,
    smoothX,
  };
}

/** Scalar smooth functions of y (an angle) and of the log-det, for gradchecks. */
function weights(n: number, seed: number): Tensor {
  const rng = new Rng(seed);
  return tensor(
    Array.from({ length: n }, () => -1 + 2 * rng.uniform()),
    [n],
  );
}

function checkCircleMap(c: Case) {
  describe(c.name, () => {
    const { transformer: tr, theta } = c;
    const b = theta.shape[0]!;
    const x = rows(X_GRID, b);

    it("inverse(forward(x)) = x mod 2π, forward(inverse(y)) = y, log|dx/dy| = −log|dy/dx| at x", () => {
      const f = tr.forwardAndLogDet(x, theta);
      const back = tr.inverseAndLogDet(f.y, theta);
      const atBack = tr.forwardAndLogDet(back.x, theta);
      for (let e = 0; e < x.size; e++) {
        const y = f.y.data[e]!;
        expect(y >= 0 && y < TWO_PI, `y[${e}] = ${y}`).toBe(true);
        const xb = back.x.data[e]!;
        expect(xb >= 0 && xb < TWO_PI, `x[${e}] = ${xb}`).toBe(true);
        // y holds x to |dy/dx|·ulp: where the map is very flat (the extreme spline rows reach
        // g' ~ 1e−6) a few roundings of y near 2π decide x to 8·ulp(2π)/g' only.
        const tol = Math.max(1e-12, (8 * ulp(TWO_PI)) / Math.exp(f.logDet.data[e]!));
        expect(circDist(xb, x.data[e]!), `x = ${x.data[e]} (element ${e})`).toBeLessThanOrEqual(tol);
        expect(Math.abs(back.logDet.data[e]! + atBack.logDet.data[e]!)).toBeLessThanOrEqual(1e-10);
      }
      // forward(inverse(y)) on the grid of y. NCP's Newton iteration goes to the last ulp: the
      // error of the best double x, slope·ulp(x), plus a few roundings of angles near 2π.
      const yGrid = rows(X_GRID.map(wrap), b);
      const inv = tr.inverseAndLogDet(yGrid, theta);
      const fwd = tr.forwardAndLogDet(inv.x, theta);
      for (let e = 0; e < yGrid.size; e++) {
        const bound = 4 * ulp(TWO_PI) + Math.exp(fwd.logDet.data[e]!) * ulp(inv.x.data[e]!);
        expect(
          circDist(fwd.y.data[e]!, yGrid.data[e]!),
          `y = ${yGrid.data[e]} (element ${e})`,
        ).toBeLessThanOrEqual(c.ulpExact ? Math.min(bound, 1e-12) : 1e-12);
      }
    });

    it("log|dy/dx| matches finite differences (across the wrap)", () => {
      // 4th-order stencils, central and one-sided (the spline is only C¹ at its knots: there
      // one of the one-sided stencils stays inside a bin), at steps h from 1e-3 to 1e-7 (where
      // g' varies fast), of y in x and — where the map is so flat that y's rounding swamps Δy —
      // of the inverse, x in y, with y-steps 2^⌊log₂(h·g')⌋ (x moves by ~h; y + k·step exact):
      // the best estimate must agree.
      const offsets = [-4, -3, -2, -1, 1, 2, 3, 4];
      const { y, logDet } = tr.forwardAndLogDet(x, theta);
      const best = new Float64Array(x.size).fill(Number.POSITIVE_INFINITY);
      const update = (e: number, d: (k: number) => number, h: number, sign: number) => {
        const central = (8 * (d(1) - d(-1)) - (d(2) - d(-2))) / (12 * h);
        const ahead = (48 * d(1) - 36 * d(2) + 16 * d(3) - 3 * d(4)) / (12 * h);
        const behind = -(48 * d(-1) - 36 * d(-2) + 16 * d(-3) - 3 * d(-4)) / (12 * h);
        for (const fd of [central, ahead, behind]) {
          const err = Math.abs(sign * Math.log(fd) - logDet.data[e]!);
          if (err < best[e]!) best[e] = err; // NaN (fd ≤ 0, a step over a steep stretch) never wins
        }
      };
      const xBack = tr.inverseAndLogDet(y, theta).x;
      for (const h of [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]) {
        const hy = Array.from(logDet.data, (l) => 2 ** Math.floor(Math.log2(h * Math.exp(l))));
        const ys = offsets.map((k) => tr.forwardAndLogDet(add(x, tensor([k * h])), theta).y.data);
        const xs = offsets.map(
          (k) =>
            tr.inverseAndLogDet(
              tensor(
                Array.from(y.data, (v, e) => v + k * hy[e]!),
                y.shape,
              ),
              theta,
            ).x.data,
        );
        for (let e = 0; e < x.size; e++) {
          update(e, (k) => circDiff(ys[offsets.indexOf(k)]![e]!, y.data[e]!), h, 1);
          update(e, (k) => circDiff(xs[offsets.indexOf(k)]![e]!, xBack.data[e]!), hy[e]!, -1);
        }
      }
      for (let e = 0; e < x.size; e++)
        expect(best[e], `x = ${x.data[e]} (element ${e})`).toBeLessThanOrEqual(1e-7);
    });

    it("gradients of y and of log|dy/dx| in x and θ (gradcheck)", () => {
      const n = X_GRID.length;
      const a = weights(n, 11);
      const bw = weights(n, 12);
      const cw = weights(n, 13);
      const loss = (xx: Tensor, th: Tensor) => {
        const r = tr.forwardAndLogDet(xx, th);
        return { y: sum(add(mul(sin(r.y), a), mul(cos(r.y), bw))), logDet: sum(mul(r.logDet, cw)) };
      };
      const thetaP = new Tensor(theta.data.slice(), theta.shape);
      gradcheck((p: { theta: Tensor }) => loss(x, p.theta).y, { theta: thetaP });
      gradcheck((p: { theta: Tensor }) => loss(x, p.theta).logDet, { theta: thetaP });
      // x: where the map is smooth in x (the spline's log g' has kinks at its knots).
      const xs = rows(c.smoothX, b);
      const th = repeatColumn(theta, 2, c.smoothX.length);
      const a2 = weights(c.smoothX.length, 14);
      const c2 = weights(c.smoothX.length, 15);
      const xP = new Tensor(xs.data.slice(), xs.shape);
      gradcheck(
        (p: { x: Tensor }) => sum(mul(sin(tr.forwardAndLogDet(p.x, th).y), a2)),
        { x: xP },
        1e-6,
        1e-6,
      );
      gradcheck(
        (p: { x: Tensor }) => sum(mul(tr.forwardAndLogDet(p.x, th).logDet, c2)),
        { x: xP },
        1e-6,
        1e-6,
      );
      // On the whole grid (the spline's knots too, where central differences are off by
      // h·(jump of g'')/4), ∂y/∂x is the log-det's exp, which is checked against one-sided
      // differences above.
      const xFull = new Tensor(x.data.slice(), x.shape);
      const { grads } = valueAndGrad((p: { x: Tensor }) => sum(tr.forwardAndLogDet(p.x, theta).y))({
        x: xFull,
      });
      const { logDet } = tr.forwardAndLogDet(x, theta);
      for (let e = 0; e < x.size; e++) {
        const expected = Math.exp(logDet.data[e]!);
        expect(Math.abs(grads.x.data[e]! - expected), `x = ${x.data[e]}`).toBeLessThanOrEqual(
          1e-12 * expected,
        );
      }
    });

    it("the inverse on a tape: the untaped values, and the gradients of x and log|dx/dy| in y and θ (gradcheck)", () => {
      const y = tr.forwardAndLogDet(x, theta).y;
      const plain = tr.inverseAndLogDet(y, theta);
      const taped = valueAndGrad((p: { theta: Tensor }) => {
        const r = tr.inverseAndLogDet(y, p.theta);
        expect(Array.from(r.x.data)).toEqual(Array.from(plain.x.data));
        expect(Array.from(r.logDet.data)).toEqual(Array.from(plain.logDet.data));
        return sum(r.logDet);
      });
      taped({ theta: new Tensor(theta.data.slice(), theta.shape) });
      // Away from the spline's knot at 0 (where central differences are off by h·(jump of g'')/4),
      // and without its rows of extreme and N(0, 3²) logits, whose inverse bends on scales below
      // h (central differences reach their gradients only as h → 1e-8).
      const [bb, pp, nn] = theta.shape as [number, number, number];
      const mild = (r: number) => (c.ulpExact ? r : r % 2 === 0 ? 0 : 3);
      const th = thetaOf(bb, pp, c.smoothX.length, (r, ch) => theta.data[(mild(r) * pp + ch) * nn + 2]!);
      const ys = tr.forwardAndLogDet(rows(c.smoothX, b), th).y;
      const m = c.smoothX.length;
      const [a, bw, cw] = [weights(m, 21), weights(m, 22), weights(m, 23)];
      const inv = (yy: Tensor, t: Tensor) => {
        const r = tr.inverseAndLogDet(yy, t);
        return { x: sum(add(mul(sin(r.x), a), mul(cos(r.x), bw))), logDet: sum(mul(r.logDet, cw)) };
      };
      const thP = new Tensor(th.data.slice(), th.shape);
      // The spline's closed-form inverse is exact to ~1e-12, noise that central differences
      // divide by h: its tolerance is 1e-5 where NCP's (Newton to the ulp) is 1e-6.
      const tol = c.ulpExact ? 1e-6 : 1e-5;
      gradcheck((p: { theta: Tensor }) => inv(ys, p.theta).x, { theta: thP }, 1e-6, tol);
      gradcheck((p: { theta: Tensor }) => inv(ys, p.theta).logDet, { theta: thP }, 1e-6, tol);
      const yP = new Tensor(ys.data.slice(), ys.shape);
      gradcheck((p: { y: Tensor }) => inv(p.y, th).x, { y: yP }, 1e-6, tol);
      gradcheck((p: { y: Tensor }) => inv(p.y, th).logDet, { y: yP }, 1e-6, tol);
    });

    it("is monotone and bijective on [0, 2π): a sorted grid maps to a sorted grid up to one wrap", () => {
      const m = 2001;
      const grid = Array.from({ length: m }, (_, i) => (i * TWO_PI) / m);
      grid[m - 1] = BELOW_TWO_PI;
      grid[1] = 1e-300;
      for (const column of [0, 5, 17]) {
        const th = repeatColumn(theta, column, m);
        const { y } = tr.forwardAndLogDet(rows(grid, b), th);
        for (let r = 0; r < b; r++) {
          let descents = 0;
          let winding = 0;
          for (let i = 0; i < m; i++) {
            const y0 = y.data[r * m + i]!;
            const y1 = y.data[r * m + ((i + 1) % m)]!;
            if (i + 1 < m && y1 < y0) descents++;
            const step = circDiff(y1, y0);
            // Up to the rounding of g + t at the wrap (fl(g(2π⁻) + t) may round up).
            expect(step, `row ${r}, column ${column}, x = ${grid[i]}`).toBeGreaterThanOrEqual(
              -4 * ulp(TWO_PI),
            );
            winding += step;
          }
          expect(descents).toBeLessThanOrEqual(1);
          expect(Math.abs(winding - TWO_PI)).toBeLessThan(1e-9); // the circle once round
        }
      }
    });

    it("runs in float32 and stays in [0, 2π)", () => {
      const x32 = toFloat32(x);
      const th32 = toFloat32(theta);
      const f = tr.forwardAndLogDet(x32, th32);
      const ref = tr.forwardAndLogDet(x, theta);
      expect(f.y.dtype).toBe("float32");
      expect(f.logDet.dtype).toBe("float32");
      const back = tr.inverseAndLogDet(f.y, th32);
      expect(back.x.dtype).toBe("float32");
      for (let e = 0; e < x.size; e++) {
        for (const v of [f.y.data[e]!, back.x.data[e]!])
          expect(v >= 0 && v < TWO_PI, `${v} at ${e}`).toBe(true);
        expect(Number.isFinite(f.logDet.data[e]!) && Number.isFinite(back.logDet.data[e]!)).toBe(true);
        expect(circDist(f.y.data[e]!, ref.y.data[e]!)).toBeLessThan(1e-3);
      }
    });

    it("rejects θ of the wrong shape", () => {
      const bad = thetaOf(b, tr.paramsPerElement + 1, X_GRID.length, () => 0);
      expect(() => tr.forwardAndLogDet(x, bad)).toThrow(RangeError);
      expect(() => tr.inverseAndLogDet(x, bad)).toThrow(RangeError);
    });
  });
}

describe("circle maps", () => {
  checkCircleMap(ncpCase(1, 1));
  checkCircleMap(ncpCase(4, 2));
  checkCircleMap(splineCase(1, 3));
  checkCircleMap(splineCase(8, 4));
});

describe("NcpTransformer against the tutorial (arXiv 2101.08176)", () => {
  // The tutorial's tan_transform, mixture_tan_transform(_logJ) and NCPPlaqCouplingLayer's
  // remainder(fx1 + t, 2π), written out literally.
  const remainder = (v: number, m: number) => v - m * Math.floor(v / m);
  const tanTransform = (x: number, s: number) =>
    remainder(2 * Math.atan(Math.exp(s) * Math.tan(x / 2)), TWO_PI);
  const tanTransformLogJ = (x: number, s: number) =>
    -Math.log(Math.exp(-s) * Math.cos(x / 2) ** 2 + Math.exp(s) * Math.sin(x / 2) ** 2);
  const tutorial = (x: number, s: readonly number[], t: number) => {
    const fx1 = s.reduce((acc, sc) => acc + tanTransform(x, sc), 0) / s.length;
    const logJ = s.map((sc) => tanTransformLogJ(x, sc));
    const top = Math.max(...logJ);
    const lse = top + Math.log(logJ.reduce((acc, l) => acc + Math.exp(l - top), 0));
    return { y: remainder(fx1 + t, TWO_PI), logJ: lse - Math.log(s.length) };
  };

  it("equals the tutorial's y and logJ for random x, s and t", () => {
    const rng = new Rng(21);
    for (const C of [1, 2, 6]) {
      const n = 200;
      const xs = Array.from({ length: n }, () => -20 + 40 * rng.uniform());
      const theta = thetaOf(1, C + 1, n, (_r, c) =>
        c < C ? -5 + 10 * rng.uniform() : -10 + 20 * rng.uniform(),
      );
      const { y, logDet } = new NcpTransformer(C).forwardAndLogDet(tensor(xs, [1, n]), theta);
      for (let i = 0; i < n; i++) {
        const s = Array.from({ length: C }, (_, c) => theta.data[c * n + i]!);
        const ref = tutorial(xs[i]!, s, theta.data[C * n + i]!);
        expect(circDist(y.data[i]!, ref.y), `x = ${xs[i]}`).toBeLessThan(1e-12);
        expect(Math.abs(logDet.data[i]! - ref.logJ), `x = ${xs[i]}`).toBeLessThan(1e-12);
      }
    }
  });

  it("s = 0, t = 0 is the identity of [0, 2π); C = 1 is the single tan map", () => {
    const n = X_GRID.length;
    const x = tensor(X_GRID, [1, n]);
    for (const C of [1, 3]) {
      const { y, logDet } = new NcpTransformer(C).forwardAndLogDet(
        x,
        thetaOf(1, C + 1, n, () => 0),
      );
      for (let i = 0; i < n; i++) {
        expect(circDist(y.data[i]!, wrap(X_GRID[i]!)), `x = ${X_GRID[i]}`).toBeLessThanOrEqual(
          4 * ulp(TWO_PI),
        );
        expect(Math.abs(logDet.data[i]!)).toBeLessThanOrEqual(1e-15);
      }
    }
    const s = [-5, -1.3, 0.4, 5];
    for (const sv of s) {
      const th = thetaOf(1, 2, n, (_r, c) => (c === 0 ? sv : 0.7));
      const { y, logDet } = new NcpTransformer(1).forwardAndLogDet(x, th);
      for (let i = 0; i < n; i++) {
        const xi = X_GRID[i]!;
        const single = wrap(2 * Math.atan(Math.exp(sv) * Math.tan(wrap(xi) / 2)) + 0.7);
        expect(circDist(y.data[i]!, single), `s = ${sv}, x = ${xi}`).toBeLessThan(1e-12);
        expect(Math.abs(logDet.data[i]! - tanTransformLogJ(xi, sv))).toBeLessThan(1e-12);
      }
    }
  });
});

describe("float32: angles that round up to 2π are stored as 0", () => {
  // t is the float32 below f32(2π) (≈ 2π − 3e−7) and both maps are (nearly) the identity
  // near 0, so g(x) + t falls within half a float32 ulp below 2π for some of the tiny x.
  const t = Math.fround(TWO_PI) - 2 ** -21;
  const n = 64;
  const xs = Array.from({ length: n }, (_, i) => Math.fround(TWO_PI - t - i * 1e-9));
  const K = 3;
  const slopeOne = Math.log(Math.expm1(1 - 1e-3)); // softplus(d) + 1e-3 = 1
  const cases: [string, ElementwiseTransformer, (c: number) => number][] = [
    ["NCP", new NcpTransformer(1), (c) => (c === 0 ? 0 : t)],
    ["spline", new CircularSplineTransformer(K), (c) => (c === 3 * K ? t : c >= 2 * K ? slopeOne : 0)],
  ];
  for (const [name, tr, channel] of cases) {
    it(name, () => {
      const x = new Tensor(Float32Array.from(xs), [1, n]);
      const th = toFloat32(thetaOf(1, tr.paramsPerElement, n, (_r, c) => channel(c)));
      const { y } = tr.forwardAndLogDet(x, th);
      let zeros = 0;
      for (let i = 0; i < n; i++) {
        expect(y.data[i]! >= 0 && y.data[i]! < TWO_PI, `${y.data[i]}`).toBe(true);
        if (y.data[i] === 0) zeros++;
      }
      expect(zeros).toBeGreaterThan(0); // the guard was exercised
      const { x: back } = tr.inverseAndLogDet(y, th);
      for (let i = 0; i < n; i++) expect(back.data[i]! >= 0 && back.data[i]! < TWO_PI).toBe(true);
    });
  }
});

describe("CircularSplineTransformer at the wrap", () => {
  it("g'(0) = g'(2π⁻) = minDerivative + softplus(d₀), and bins fill [0, 2π)", () => {
    const rng = new Rng(31);
    for (const K of [1, 3, 8]) {
      const n = 3;
      const p = 3 * K + 1;
      const theta = thetaOf(6, p, n, (r) => (r < 3 ? 4 : 1) * (2 * rng.uniform() - 1));
      const x = rows([0, BELOW_TWO_PI, TWO_PI - 1e-9], 6);
      const { logDet } = new CircularSplineTransformer(K).forwardAndLogDet(x, theta);
      for (let r = 0; r < 6; r++) {
        for (let i = 0; i < n; i++) {
          const d0 = theta.data[(r * p + 2 * K) * n + i]!;
          const expected = Math.log(1e-3 + Math.log1p(Math.exp(d0)));
          expect(Math.abs(logDet.data[r * n + i]! - expected)).toBeLessThan(
            i === 0 ? 1e-14 : i === 1 ? 1e-10 : 1e-6,
          );
        }
      }
    }
  });

  it("is the identity for equal bins, knot slopes 1 and t = 0; rejects bad bounds", () => {
    const K = 4;
    const n = X_GRID.length;
    const d = Math.log(Math.expm1(1 - 1e-3)); // softplus(d) + 1e-3 = 1
    const theta = thetaOf(1, 3 * K + 1, n, (_r, c) => (c >= 2 * K && c < 3 * K ? d : 0));
    const { y, logDet } = new CircularSplineTransformer(K).forwardAndLogDet(tensor(X_GRID, [1, n]), theta);
    for (let i = 0; i < n; i++) {
      expect(circDist(y.data[i]!, wrap(X_GRID[i]!))).toBeLessThan(1e-14);
      expect(Math.abs(logDet.data[i]!)).toBeLessThan(1e-14);
    }
    expect(() => new CircularSplineTransformer(4, { minBinWidth: 0.3 })).toThrow(RangeError);
    expect(() => new CircularSplineTransformer(4, { minBinHeight: 0 })).toThrow(RangeError);
    expect(() => new CircularSplineTransformer(0)).toThrow(RangeError);
    expect(new CircularSplineTransformer(5).paramsPerElement).toBe(16);
    expect(new NcpTransformer(3).paramsPerElement).toBe(4);
  });
});
