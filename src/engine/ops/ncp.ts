/**
 * The mixture of non-compact projections (NCP), a circle map of Rezende et al. (arXiv
 * 2002.02428) as used by the U(1) gauge-equivariant flows of Kanwar et al. (arXiv 2003.06413)
 * and the tutorial of Albergo et al. (arXiv 2101.08176). Per element: x̃ = x mod 2π, C
 * log-scales s_c and a rotation t (θ [B, C+1, n]: channels 0..C−1 are s, channel C is t):
 *
 *   h(x̃|s)    = 2·atan(e^s·tan(x̃/2)) taken in [0, 2π) = 2·atan2(e^s·sin(x̃/2), cos(x̃/2)),
 *   y         = (mean_c h(x̃|s_c) + t) mod 2π,
 *   h'(x̃|s)   = 1/(e^{−s}·cos²(x̃/2) + e^{s}·sin²(x̃/2)),
 *   log|dy/dx| = log mean_c h'(x̃|s_c) = logsumexp_c log h'(x̃|s_c) − ln C.
 *
 * Each h(·|s) fixes 0, increases to 2π and has h(·|−s) as inverse; their mean is again an
 * increasing bijection of [0, 2π). sin(x̃/2) ≥ 0, so atan2 gives h ∈ [0, 2π] directly and h stays
 * continuous up to x̃ → 2π (the tutorial's remainder of each h would send an h that rounds to 2π
 * to 0, a jump of 2π/C in the mean; the two agree everywhere else). Divided by e^{|s|} the
 * denominator is q = e^{−2|s|}cos² + sin² (s ≥ 0) or cos² + e^{−2|s|}sin² (s < 0), in
 * [e^{−2|s|}, 1], so h' = e^{−|s|}/q needs no log per component and cannot overflow for
 * |s| ≲ 700 (beyond, the log-sum-exp is taken of log h' = −|s| − log q).
 *
 * Gradients (dx̃/dx = 1), written by hand so that y and log|dy/dx| are two ops in all:
 *   ∂h/∂x̃ = h',   ∂h/∂s = sin x̃·h',   ∂y/∂t = 1,
 *   ∂log h'/∂x̃ = −sin x̃·sinh s·h' (sinh s·h' = ±(1 − e^{−2|s|})/2q),   ∂log h'/∂s = cos h,
 * and with the weights w_c = h'_c/Σ h', ∂L/∂x̃ = Σ_c w_c ∂log h'_c/∂x̃, ∂L/∂s_c = w_c cos h_c.
 *
 * Inverse (records nothing; src/flows/implicit-inverse.ts differentiates it through the forward
 * map): z = (y − t) mod 2π and x̃ solves mean_c h(x̃|s_c) = z. Each component's own solution
 * x_c = h(z|−s_c) brackets it (all h_c increase, so the mean is ≤ z at min x_c and ≥ z at
 * max x_c; the ends are checked since rounding can move them by an ulp), and Newton's method,
 * falling back to bisection whenever a step leaves the bracket, runs until the step is below
 * half an ulp of x̃ or the bracket is two neighbouring doubles; the evaluated x̃ with the
 * smallest residual is returned. C = 1 starts at the exact inverse. log|dx/dy| is minus the
 * forward log-det at the returned x̃. Values are computed in float64 and stored in the
 * tensors' dtype, as the other ops do; a float32 angle that rounds up to 2π is stored as 0.
 */
import * as math from "../../math/index.js";
import { record, willRecord } from "../autodiff.js";
import { allocate, type DType, type FloatArray, Tensor } from "../tensor.js";
import { circleMapShapes, TWO_PI, wrapAngle } from "./circle.js";

/** The largest double below 2π. */
const BELOW_TWO_PI = 6.283185307179585;
const MAX_ITERATIONS = 100;

/** One element's mixture: per-component constants, and the map evaluated at one angle. */
class Mixture {
  private readonly s: Float64Array;
  private readonly es: Float64Array; // e^{s}
  private readonly ems: Float64Array; // e^{−|s|}
  private readonly e2: Float64Array; // e^{−2|s|}
  private readonly q: Float64Array; // h' = e^{−|s|}/q
  /** h'_c at the last evaluated angle. */
  readonly dh: Float64Array;
  /** Softmax weights h'_c/Σh', after logDet. */
  readonly w: Float64Array;
  private readonly sc = new Float64Array(2);
  private readonly logC: number;
  private cos2 = 0;
  private sin2 = 0;
  private dhSum = 0;
  /** sin x̃ at the last evaluated angle. */
  sinX = 0;

  constructor(readonly components: number) {
    this.s = new Float64Array(components);
    this.es = new Float64Array(components);
    this.ems = new Float64Array(components);
    this.e2 = new Float64Array(components);
    this.q = new Float64Array(components);
    this.dh = new Float64Array(components);
    this.w = new Float64Array(components);
    this.logC = math.log(components);
  }

  /** Read s_c = θ[base + c·stride]. */
  load(theta: FloatArray, base: number, stride: number): void {
    for (let c = 0; c < this.components; c++) {
      const s = theta[base + c * stride]!;
      const es = math.exp(s);
      const ems = s >= 0 ? 1 / es : es;
      this.s[c] = s;
      this.es[c] = es;
      this.ems[c] = ems;
      this.e2[c] = ems * ems;
    }
  }

  /** mean_c h(x̃|s_c) ∈ [0, 2π] for x̃ ∈ [0, 2π); keeps h'_c for slope, logDet and the gradients. */
  evaluate(xt: number): number {
    math.sincos(0.5 * xt, this.sc);
    const sn = this.sc[0]!;
    const cs = this.sc[1]!;
    const cos2 = cs * cs;
    const sin2 = sn * sn;
    this.cos2 = cos2;
    this.sin2 = sin2;
    this.sinX = 2 * sn * cs;
    let angle = 0;
    let dhSum = 0;
    for (let c = 0; c < this.components; c++) {
      angle += math.atan2(this.es[c]! * sn, cs);
      const e2 = this.e2[c]!;
      const q = this.s[c]! >= 0 ? e2 * cos2 + sin2 : cos2 + e2 * sin2;
      const dh = this.ems[c]! / q;
      this.q[c] = q;
      this.dh[c] = dh;
      dhSum += dh;
    }
    this.dhSum = dhSum;
    return (2 * angle) / this.components;
  }

  /** d mean_c h/dx̃ at the last evaluated angle. */
  get slope(): number {
    return this.dhSum / this.components;
  }

  /** log mean_c h'_c at the last evaluated angle; sets the weights w. */
  logDet(): number {
    const C = this.components;
    const sum = this.dhSum;
    if (sum > 0 && sum < Number.POSITIVE_INFINITY) {
      for (let c = 0; c < C; c++) this.w[c] = this.dh[c]! / sum;
      return math.log(sum) - this.logC;
    }
    // |s| ≳ 700: some h' over- or underflows, so take the log-sum-exp of log h' = −|s| − log q.
    let top = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < C; c++) {
      const l = -Math.abs(this.s[c]!) - math.log(this.q[c]!);
      this.w[c] = l;
      if (l > top) top = l;
    }
    let total = 0;
    for (let c = 0; c < C; c++) {
      const e = math.exp(this.w[c]! - top);
      this.w[c] = e;
      total += e;
    }
    for (let c = 0; c < C; c++) this.w[c]! /= total;
    return top + math.log(total) - this.logC;
  }

  /** ∂(log-det)/∂x̃ = Σ_c w_c·(−sin x̃·sinh s_c·h'_c), after logDet. */
  logDetSlope(): number {
    let acc = 0;
    for (let c = 0; c < this.components; c++) {
      const s = this.s[c]!;
      const sinhDh = (1 - this.e2[c]!) / (2 * this.q[c]!);
      acc += this.w[c]! * (s >= 0 ? sinhDh : -sinhDh);
    }
    return -this.sinX * acc;
  }

  /** cos h_c = ∂log h'_c/∂s_c at the last evaluated angle. */
  cosH(c: number): number {
    const e2 = this.e2[c]!;
    const num = this.s[c]! >= 0 ? e2 * this.cos2 - this.sin2 : this.cos2 - e2 * this.sin2;
    return num / this.q[c]!;
  }

  /** The x̃ ∈ [0, 2π) with mean_c h(x̃|s_c) = z, for z ∈ [0, 2π) (see the file comment). */
  invert(z: number): number {
    if (!(z > 0)) return z === 0 ? 0 : Number.NaN; // h_c(0) = 0; NaN stays NaN
    const C = this.components;
    math.sincos(0.5 * z, this.sc);
    const sz = this.sc[0]!;
    const cz = this.sc[1]!;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < C; c++) {
      const xc = 2 * math.atan2(sz / this.es[c]!, cz); // h(z|−s_c)
      if (xc < lo) lo = xc;
      if (xc > hi) hi = xc;
    }
    let x: number;
    if (lo === hi) {
      x = lo; // one component (or equal ones): the exact inverse, only polished below
      lo = 0;
      hi = TWO_PI;
    } else {
      let fLo = this.evaluate(lo) - z;
      let fHi = this.evaluate(hi) - z;
      if (fLo > 0) {
        lo = 0;
        fLo = -z;
      }
      if (fHi < 0) {
        hi = TWO_PI;
        fHi = TWO_PI - z;
      }
      x = lo + (hi - lo) * (-fLo / (fHi - fLo)); // regula falsi
      if (!(x >= lo && x <= hi)) x = lo + 0.5 * (hi - lo);
    }
    let best = x;
    let bestResidual = Number.POSITIVE_INFINITY;
    for (let it = 0; it < MAX_ITERATIONS; it++) {
      const f = this.evaluate(x) - z;
      const r = Math.abs(f);
      if (r < bestResidual) {
        bestResidual = r;
        best = x;
      }
      if (f === 0) break;
      if (f < 0) lo = x;
      else hi = x;
      let next = x - f / this.slope;
      if (next === x) break; // the Newton step is below half an ulp
      if (!(next > lo && next < hi)) {
        next = lo + 0.5 * (hi - lo);
        if (next === lo || next === hi) break; // lo and hi are neighbouring doubles
      }
      x = next;
    }
    return Math.min(best, BELOW_TWO_PI);
  }
}

function checkComponents(op: string, components: number): void {
  if (!Number.isInteger(components) || components < 1)
    throw new RangeError(`${op}: components must be a positive integer, got ${components}`);
}

/** g·d elementwise, in dtype. */
function scaled(g: FloatArray, d: Float64Array, dtype: DType): FloatArray {
  const out = allocate(dtype, d.length);
  for (let e = 0; e < d.length; e++) out[e] = g[e]! * d[e]!;
  return out;
}

/** θ's cotangent [B, C+1, n] from g [B, n], ∂/∂s_c [B, C, n] and ∂/∂t (1 or 0). */
function thetaCotangent(
  g: FloatArray,
  dS: Float64Array,
  b: number,
  c: number,
  n: number,
  dT: number,
  dtype: DType,
) {
  const p = c + 1;
  const out = allocate(dtype, b * p * n);
  for (let r = 0; r < b; r++) {
    for (let k = 0; k < c; k++) {
      const o = (r * p + k) * n;
      const so = (r * c + k) * n;
      for (let i = 0; i < n; i++) out[o + i] = g[r * n + i]! * dS[so + i]!;
    }
    if (dT !== 0) {
      const o = (r * p + c) * n;
      for (let i = 0; i < n; i++) out[o + i] = g[r * n + i]! * dT;
    }
  }
  return out;
}

/** y and log|dy/dx| of the NCP mixture: x [B, n], θ [B, C+1, n]; differentiable in x and θ. */
export function ncpForward(x: Tensor, theta: Tensor, components: number): { y: Tensor; logDet: Tensor } {
  checkComponents("ncpForward", components);
  const C = components;
  const p = C + 1;
  const { b, n } = circleMapShapes("ncpForward", x, theta, p);
  const dtype = x.dtype;
  const xd = x.data;
  const td = theta.data;
  const m = b * n;
  const y = allocate(dtype, m);
  const ld = allocate(dtype, m);
  const grad = willRecord([x, theta]);
  // Local derivatives for the backward passes: per element ∂/∂x̃, per component ∂/∂s_c.
  const dyDx = grad ? new Float64Array(m) : null;
  const dlDx = grad ? new Float64Array(m) : null;
  const dyDs = grad ? new Float64Array(b * C * n) : null;
  const dlDs = grad ? new Float64Array(b * C * n) : null;
  const mix = new Mixture(C);
  for (let r = 0; r < b; r++) {
    for (let i = 0; i < n; i++) {
      const e = r * n + i;
      const base = r * p * n + i;
      mix.load(td, base, n);
      const hMean = mix.evaluate(wrapAngle(xd[e]!));
      y[e] = wrapAngle(hMean + td[base + C * n]!);
      if (y[e]! >= TWO_PI) y[e] = 0; // float32 rounds the last 2.4e−7 below 2π up to 2π
      ld[e] = mix.logDet();
      if (grad) {
        dyDx![e] = mix.slope;
        dlDx![e] = mix.logDetSlope();
        for (let c = 0; c < C; c++) {
          const o = (r * C + c) * n + i;
          dyDs![o] = (mix.sinX * mix.dh[c]!) / C;
          dlDs![o] = mix.w[c]! * mix.cosH(c);
        }
      }
    }
  }
  const yOut = record(new Tensor(y, x.shape), [x, theta], (g, needs) => [
    needs[0] ? scaled(g, dyDx!, dtype) : null,
    needs[1] ? thetaCotangent(g, dyDs!, b, C, n, 1, dtype) : null,
  ]);
  const ldOut = record(new Tensor(ld, x.shape), [x, theta], (g, needs) => [
    needs[0] ? scaled(g, dlDx!, dtype) : null,
    needs[1] ? thetaCotangent(g, dlDs!, b, C, n, 0, dtype) : null,
  ]);
  return { y: yOut, logDet: ldOut };
}

/** x ∈ [0, 2π) and log|dx/dy| of the inverse NCP mixture: y [B, n], θ [B, C+1, n]. No gradient. */
export function ncpInverse(y: Tensor, theta: Tensor, components: number): { x: Tensor; logDet: Tensor } {
  checkComponents("ncpInverse", components);
  const C = components;
  const p = C + 1;
  const { b, n } = circleMapShapes("ncpInverse", y, theta, p);
  const dtype = y.dtype;
  const yd = y.data;
  const td = theta.data;
  const x = allocate(dtype, b * n);
  const ld = allocate(dtype, b * n);
  const mix = new Mixture(C);
  for (let r = 0; r < b; r++) {
    for (let i = 0; i < n; i++) {
      const e = r * n + i;
      const base = r * p * n + i;
      mix.load(td, base, n);
      x[e] = mix.invert(wrapAngle(yd[e]! - td[base + C * n]!));
      if (x[e]! >= TWO_PI) x[e] = 0;
      mix.evaluate(x[e]!); // the stored (possibly float32) x, so the log-dets cancel
      ld[e] = -mix.logDet();
    }
  }
  return { x: new Tensor(x, y.shape), logDet: new Tensor(ld, y.shape) };
}
