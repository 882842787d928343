/**
 * The circular rational-quadratic spline: Durkan et al.'s monotone spline (arXiv 1906.04032)
 * on [0, 2π] with equal end slopes, a diffeomorphism of the circle (Rezende et al., arXiv
 * 2002.02428), followed by a rotation. Per element, θ [B, 3K+1, n] holds K width logits
 * (channels [0, K)), K height logits ([K, 2K)), K derivative pre-activations for knots 0..K−1
 * ([2K, 3K)) and the rotation t (channel 3K). As in nflows:
 *
 *   W = m_w + (1 − K·m_w)·softmax(width logits),   X_j = 2π·Σ_{i<j} W_i   (X_0 = 0, X_K = 2π),
 *   H = m_h + (1 − K·m_h)·softmax(height logits),  Y_j = 2π·Σ_{i<j} H_i   (Y_0 = 0, Y_K = 2π),
 *   δ_j = m_δ + softplus(d_j) for j < K,  δ_K = δ_0   (so g' is continuous across 0 ≡ 2π).
 *
 * On bin k ∋ x̃ = x mod 2π, with w = X_{k+1} − X_k, h = Y_{k+1} − Y_k, σ = h/w, ξ = (x̃ − X_k)/w,
 * ζ = ξ(1 − ξ) and D = σ + (δ_k + δ_{k+1} − 2σ)ζ:
 *
 *   g(x̃) = Y_k + h·(σξ² + δ_k ζ)/D,   g'(x̃) = σ²·(δ_{k+1}ξ² + 2σζ + δ_k(1 − ξ)²)/D²,
 *   y = (g(x̃) + t) mod 2π,   log|dy/dx| = log g'(x̃).
 *
 * Gradients are written by hand, so y and the log-det are one op each: the partials of g and
 * log g' with respect to (x̃, X_k, X_{k+1}, Y_k, Y_{k+1}, δ_k, δ_{k+1}) are kept per element and
 * taken back through the cumulative softmax (X_0 and X_K are constants: Σ W = 1 exactly): with
 * G_i = [i < k]·∂/∂X_k + [i ≤ k]·∂/∂X_{k+1} (so ∂/∂W_i = 2π·G_i) and p the softmax,
 *   ∂/∂u_i = 2π(1 − K·m)·p_i·(G_i − Σ_j p_j G_j),
 * and likewise for the heights; through the softplus ∂δ/∂d = sigmoid d (for K = 1 both ends
 * of the one bin are d_0's, and their cotangents add).
 *
 * Inverse (closed form; records nothing: src/flows/implicit-inverse.ts differentiates it through
 * the forward map): z = (y − t) mod 2π, its bin among the Y knots, and ξ the root in [0, 1] of
 * aξ² + bξ + c = 0 with a = h(σ − δ_k) + (z − Y_k)(δ_{k+1} + δ_k − 2σ),
 * b = hδ_k − (z − Y_k)(δ_{k+1} + δ_k − 2σ), c = −σ(z − Y_k), taken in the cancellation-free
 * form ξ = 2c/(−b − √(b² − 4ac)) with the discriminant clamped at 0; log|dx/dy| = −log g'.
 *
 * Edges: x̃ < 2π always (wrapAngle), the last knot is set to exactly 2π and any x̃ beyond the
 * (K−1)-th knot falls in the last bin, ξ is clamped to [0, 1], and an angle that rounds up to
 * 2π (g + t in float32, or ξ = 1 in the last bin of the inverse) is stored as 0 ≡ 2π. Values
 * are computed in float64 and stored in the tensors' dtype, as the other ops do.
 */
import * as math from "../../math/index.js";
import { record, willRecord } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { circleMapShapes, TWO_PI, wrapAngle } from "./circle.js";

export interface CircularSplineBounds {
  /** Smallest bin width as a fraction of 2π (m_w; default 1e-3, at most 1/K). */
  minBinWidth: number;
  /** Smallest bin height as a fraction of 2π (m_h; default 1e-3, at most 1/K). */
  minBinHeight: number;
  /** Smallest knot derivative (m_δ; default 1e-3). */
  minDerivative: number;
}

/** nflows' defaults (DEFAULT_MIN_BIN_WIDTH, _HEIGHT, _DERIVATIVE). */
const DEFAULT_MIN = 1e-3;

/** The bounds with defaults filled in, checked for `bins` bins. */
export function circularSplineBounds(
  bins: number,
  options: Partial<CircularSplineBounds> = {},
): CircularSplineBounds {
  if (!Number.isInteger(bins) || bins < 1)
    throw new RangeError(`circular spline: bins must be a positive integer, got ${bins}`);
  const bounds = {
    minBinWidth: options.minBinWidth ?? DEFAULT_MIN,
    minBinHeight: options.minBinHeight ?? DEFAULT_MIN,
    minDerivative: options.minDerivative ?? DEFAULT_MIN,
  };
  for (const key of ["minBinWidth", "minBinHeight"] as const) {
    const v = bounds[key];
    // A positive minimum keeps every bin's width and height (and so g') positive.
    if (!(v > 0 && v * bins <= 1))
      throw new RangeError(`circular spline: ${key} must be in (0, 1/${bins}], got ${v}`);
  }
  if (!(bounds.minDerivative > 0 && Number.isFinite(bounds.minDerivative)))
    throw new RangeError(`circular spline: minDerivative must be positive, got ${bounds.minDerivative}`);
  return bounds;
}

function softplus(v: number): number {
  return v > 0 ? v + math.log1p(math.exp(-v)) : math.log1p(math.exp(v));
}

function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + math.exp(-v));
  const e = math.exp(v);
  return e / (1 + e);
}

/** out[j] = softmax(θ[base + i·stride], i < K)_j. */
function softmax(theta: FloatArray, base: number, stride: number, k: number, out: Float64Array): void {
  let top = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) top = Math.max(top, theta[base + j * stride]!);
  let total = 0;
  for (let j = 0; j < k; j++) {
    const e = math.exp(theta[base + j * stride]! - top);
    out[j] = e;
    total += e;
  }
  for (let j = 0; j < k; j++) out[j]! /= total;
}

/**
 * Knots 2π·Σ_{i<j}(m + (1 − K·m)·p_i), the last one exactly 2π. `locate` finds the bin
 * [knot_k, knot_{k+1}) of v ∈ [0, 2π) (v past the (K−1)-th knot: the last bin), `edgesOf` the
 * edges of bin k; both sum in the same order, so forward and inverse see the same knots.
 */
function locate(p: Float64Array, k: number, min: number, v: number, edges: Float64Array): number {
  const a = 1 - k * min;
  let cum = 0;
  let lower = 0;
  for (let j = 0; j < k - 1; j++) {
    cum += min + a * p[j]!;
    const upper = TWO_PI * cum;
    if (v < upper) {
      edges[0] = lower;
      edges[1] = upper;
      return j;
    }
    lower = upper;
  }
  edges[0] = lower;
  edges[1] = TWO_PI;
  return k - 1;
}

function edgesOf(p: Float64Array, k: number, min: number, bin: number, edges: Float64Array): void {
  const a = 1 - k * min;
  let cum = 0;
  let lower = 0;
  for (let j = 0; j < bin; j++) {
    cum += min + a * p[j]!;
    lower = TWO_PI * cum;
  }
  edges[0] = lower;
  edges[1] = bin === k - 1 ? TWO_PI : TWO_PI * (cum + min + a * p[bin]!);
}

/** Number of partials kept per element: 7 of g, then 7 of log g'. */
const PARTIALS = 14;

/** One rational-quadratic segment [x0, x1] → [y0, y1] with end slopes d0, d1. */
class Segment {
  g = 0;
  logSlope = 0;

  /**
   * g and log g' at x̃; with `partials`, their derivatives with respect to
   * (x̃, x0, x1, y0, y1, d0, d1) at partials[o..o+7) and partials[o+7..o+14).
   */
  forward(
    xt: number,
    x0: number,
    x1: number,
    y0: number,
    y1: number,
    d0: number,
    d1: number,
    partials: Float64Array | null,
    o: number,
  ): void {
    const w = x1 - x0;
    const h = y1 - y0;
    const s = h / w;
    let xi = (xt - x0) / w;
    if (xi < 0) xi = 0;
    else if (xi > 1) xi = 1;
    const om = 1 - xi;
    const z = xi * om;
    const curv = d0 + d1 - 2 * s;
    const num = s * xi * xi + d0 * z;
    const den = s + curv * z;
    const ratio = num / den;
    const mid = d1 * xi * xi + 2 * s * z + d0 * om * om;
    const slope = (s * s * mid) / (den * den);
    this.g = y0 + h * ratio;
    this.logSlope = math.log(slope);
    if (partials === null) return;
    // g = y0 + h·R(ξ, σ, d0, d1) with ξ = (x̃ − x0)/w, σ = h/w, w = x1 − x0, h = y1 − y0.
    const zp = om - xi; // dζ/dξ
    const denXi = curv * zp;
    const denS = 1 - 2 * z;
    const rXi = (2 * s * xi + d0 * zp - ratio * denXi) / den;
    const rS = (xi * xi - ratio * denS) / den;
    const gH = ratio + s * rS;
    const gW = -s * (xi * rXi + s * rS);
    partials[o] = slope;
    partials[o + 1] = -slope - gW;
    partials[o + 2] = gW;
    partials[o + 3] = 1 - gH;
    partials[o + 4] = gH;
    partials[o + 5] = (h * z * (1 - ratio)) / den;
    partials[o + 6] = (-h * ratio * z) / den;
    // log g' = 2 log σ + log mid − 2 log D.
    const lXi = (2 * (d1 * xi + s * zp - d0 * om)) / mid - (2 * denXi) / den;
    const lS = 2 / s + (2 * z) / mid - (2 * denS) / den;
    const lX = lXi / w;
    const lW = -(xi * lXi + s * lS) / w;
    const lH = lS / w;
    partials[o + 7] = lX;
    partials[o + 8] = -lX - lW;
    partials[o + 9] = lW;
    partials[o + 10] = -lH;
    partials[o + 11] = lH;
    partials[o + 12] = (om * om) / mid - (2 * z) / den;
    partials[o + 13] = (xi * xi) / mid - (2 * z) / den;
  }

  /** The x̃ ∈ [x0, x1] with g(x̃) = v; sets logSlope to log g'(x̃). */
  inverse(v: number, x0: number, x1: number, y0: number, y1: number, d0: number, d1: number): number {
    const w = x1 - x0;
    const h = y1 - y0;
    const s = h / w;
    const dv = v - y0;
    const curv = d0 + d1 - 2 * s;
    const a = h * (s - d0) + dv * curv;
    const b = h * d0 - dv * curv;
    const c = -s * dv;
    const disc = Math.max(b * b - 4 * a * c, 0); // ≥ 0 but for rounding
    const den = -b - Math.sqrt(disc); // < 0 for every v in the bin (b > 0 where c = 0)
    let xi = den !== 0 ? (2 * c) / den : 0;
    if (xi < 0) xi = 0;
    else if (xi > 1) xi = 1;
    const om = 1 - xi;
    const z = xi * om;
    const mid = d1 * xi * xi + 2 * s * z + d0 * om * om;
    const dd = s + curv * z;
    this.logSlope = math.log((s * s * mid) / (dd * dd));
    return x0 + xi * w;
  }
}

/** Per-element scratch of both directions. */
class Workspace {
  readonly pw: Float64Array;
  readonly ph: Float64Array;
  readonly edges = new Float64Array(2);
  readonly seg = new Segment();
  constructor(bins: number) {
    this.pw = new Float64Array(bins);
    this.ph = new Float64Array(bins);
  }
}

/**
 * Add to out[base + i·stride] the cotangent of the logits behind knots k and k+1, given the
 * cotangents gLo, gHi of those knots (knot K = 2π is a constant).
 */
function knotCotangent(
  out: FloatArray,
  base: number,
  stride: number,
  p: Float64Array,
  po: number,
  k: number,
  min: number,
  bin: number,
  gLo: number,
  gHi: number,
): void {
  const hi = bin + 1 < k ? gHi : 0;
  let below = 0; // Σ_{i<bin} p_i
  for (let i = 0; i < bin; i++) below += p[po + i]!;
  const mean = gLo * below + hi * (below + p[po + bin]!);
  const scale = TWO_PI * (1 - k * min);
  for (let i = 0; i < k; i++) {
    const dW = (i < bin ? gLo : 0) + (i <= bin ? hi : 0);
    out[base + i * stride]! += scale * p[po + i]! * (dW - mean);
  }
}

/** y and log|dy/dx| of the circular spline: x [B, n], θ [B, 3K+1, n]; differentiable in x and θ. */
export function circularSplineForward(
  x: Tensor,
  theta: Tensor,
  bins: number,
  options: Partial<CircularSplineBounds> = {},
): { y: Tensor; logDet: Tensor } {
  const { minBinWidth, minBinHeight, minDerivative } = circularSplineBounds(bins, options);
  const K = bins;
  const p = 3 * K + 1;
  const { b, n } = circleMapShapes("circularSplineForward", x, theta, p);
  const dtype = x.dtype;
  const xd = x.data;
  const td = theta.data;
  const m = b * n;
  const y = allocate(dtype, m);
  const ld = allocate(dtype, m);
  const grad = willRecord([x, theta]);
  // Kept for the backward passes: each element's bin, partials, softmax weights and sigmoid(d).
  const binOf = grad ? new Int32Array(m) : null;
  const partials = grad ? new Float64Array(PARTIALS * m) : null;
  const probs = grad ? new Float64Array(2 * K * m) : null;
  const sig = grad ? new Float64Array(2 * m) : null;
  const ws = new Workspace(K);
  const { pw, ph, edges, seg } = ws;
  for (let r = 0; r < b; r++) {
    for (let i = 0; i < n; i++) {
      const e = r * n + i;
      const base = r * p * n + i;
      softmax(td, base, n, K, pw);
      softmax(td, base + K * n, n, K, ph);
      const xt = wrapAngle(xd[e]!);
      const k = locate(pw, K, minBinWidth, xt, edges);
      const x0 = edges[0]!;
      const x1 = edges[1]!;
      edgesOf(ph, K, minBinHeight, k, edges);
      const a0 = td[base + (2 * K + k) * n]!;
      const a1 = td[base + (2 * K + ((k + 1) % K)) * n]!;
      const d0 = minDerivative + softplus(a0);
      const d1 = minDerivative + softplus(a1);
      seg.forward(xt, x0, x1, edges[0]!, edges[1]!, d0, d1, partials, PARTIALS * e);
      y[e] = wrapAngle(seg.g + td[base + 3 * K * n]!);
      if (y[e]! >= TWO_PI) y[e] = 0; // float32 rounds the last 2.4e−7 below 2π up to 2π
      ld[e] = seg.logSlope;
      if (grad) {
        binOf![e] = k;
        probs!.set(pw, 2 * K * e);
        probs!.set(ph, 2 * K * e + K);
        sig![2 * e] = sigmoid(a0);
        sig![2 * e + 1] = sigmoid(a1);
      }
    }
  }
  /** Cotangents of x and θ from g, with the partials at offset `off` (0: y, 7: log g'). */
  const backward = (g: FloatArray, needs: readonly boolean[], off: number, dT: number) => {
    let gx: FloatArray | null = null;
    let gt: FloatArray | null = null;
    if (needs[0]) {
      gx = allocate(dtype, m);
      for (let e = 0; e < m; e++) gx[e] = g[e]! * partials![PARTIALS * e + off]!;
    }
    if (needs[1]) {
      gt = allocate(dtype, b * p * n);
      for (let r = 0; r < b; r++) {
        for (let i = 0; i < n; i++) {
          const e = r * n + i;
          const gv = g[e]!;
          const k = binOf![e]!;
          const o = PARTIALS * e + off;
          const base = r * p * n + i;
          const po = 2 * K * e;
          const pd = partials!;
          knotCotangent(gt, base, n, probs!, po, K, minBinWidth, k, gv * pd[o + 1]!, gv * pd[o + 2]!);
          knotCotangent(
            gt,
            base + K * n,
            n,
            probs!,
            po + K,
            K,
            minBinHeight,
            k,
            gv * pd[o + 3]!,
            gv * pd[o + 4]!,
          );
          gt[base + (2 * K + k) * n]! += gv * pd[o + 5]! * sig![2 * e]!;
          gt[base + (2 * K + ((k + 1) % K)) * n]! += gv * pd[o + 6]! * sig![2 * e + 1]!;
          if (dT !== 0) gt[base + 3 * K * n] = gv * dT;
        }
      }
    }
    return [gx, gt];
  };
  return {
    y: record(new Tensor(y, x.shape), [x, theta], (g, needs) => backward(g, needs, 0, 1)),
    logDet: record(new Tensor(ld, x.shape), [x, theta], (g, needs) => backward(g, needs, 7, 0)),
  };
}

/** x ∈ [0, 2π) and log|dx/dy| of the inverse circular spline: y [B, n], θ [B, 3K+1, n]. No gradient. */
export function circularSplineInverse(
  y: Tensor,
  theta: Tensor,
  bins: number,
  options: Partial<CircularSplineBounds> = {},
): { x: Tensor; logDet: Tensor } {
  const { minBinWidth, minBinHeight, minDerivative } = circularSplineBounds(bins, options);
  const K = bins;
  const p = 3 * K + 1;
  const { b, n } = circleMapShapes("circularSplineInverse", y, theta, p);
  const dtype = y.dtype;
  const yd = y.data;
  const td = theta.data;
  const x = allocate(dtype, b * n);
  const ld = allocate(dtype, b * n);
  const ws = new Workspace(K);
  const { pw, ph, edges, seg } = ws;
  for (let r = 0; r < b; r++) {
    for (let i = 0; i < n; i++) {
      const e = r * n + i;
      const base = r * p * n + i;
      softmax(td, base, n, K, pw);
      softmax(td, base + K * n, n, K, ph);
      const z = wrapAngle(yd[e]! - td[base + 3 * K * n]!);
      const k = locate(ph, K, minBinHeight, z, edges);
      const y0 = edges[0]!;
      const y1 = edges[1]!;
      edgesOf(pw, K, minBinWidth, k, edges);
      const d0 = minDerivative + softplus(td[base + (2 * K + k) * n]!);
      const d1 = minDerivative + softplus(td[base + (2 * K + ((k + 1) % K)) * n]!);
      x[e] = seg.inverse(z, edges[0]!, edges[1]!, y0, y1, d0, d1);
      if (x[e]! >= TWO_PI) x[e] = 0; // ξ = 1 in the last bin, or float32 rounding: 2π ≡ 0
      ld[e] = -seg.logSlope;
    }
  }
  return { x: new Tensor(x, y.shape), logDet: new Tensor(ld, y.shape) };
}
