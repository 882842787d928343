/**
 * The ϑ-derivatives behind the exact ⟨Q²⟩ of 2-d U(1) (src/theories/u1-exact.ts; derivation in
 * docs/physics.md, "U(1) in two dimensions: exact results"). With the geometric charge
 * Q = (1/2π) Σ_P wrap(P), wrap ∈ [−π, π), the ϑ-weighted plaquette factor
 * f(p) = e^{β cos p + iϑ wrap(p)/2π} is 2π-periodic with Fourier coefficients
 *   c(ν) = (1/2π) ∫_{−π}^{π} e^{β cos p} e^{−iνp} dp = (1/π) ∫_0^π e^{β cos p} cos(νp) dp,
 * ν = n − ϑ/2π, so Z(ϑ) ∝ Σ_n c(n − ϑ/2π)^V. At integer ν = n, c = I_n(β) and
 *   c′(n)  = −(1/π) ∫_0^π p e^{β cos p} sin(np) dp,
 *   c″(n)  = −(1/π) ∫_0^π p² e^{β cos p} cos(np) dp.
 * They are not Bessel functions of integer order (the 2π-periodic extension of p and p² has a
 * jump, resp. kink, at π), so they are integrated numerically, scaled by e^{−β}:
 *   m_n = (1/π) ∫_0^π e^{β(cos p − 1)} cos(np) dp          = e^{−β} I_n(β),
 *   s_n = (1/π) ∫_0^π p e^{β(cos p − 1)} sin(np) dp         = −e^{−β} c′(n),
 *   h_n = (1/π) ∫_0^π p² e^{β(cos p − 1)} cos(np) dp        = −e^{−β} c″(n).
 *
 * Quadrature: composite Gauss–Legendre, 20 nodes per panel on [0, π]. On [0, π] the integrands
 * are entire (no endpoint singularity, unlike the periodic trapezoid rule that would see the
 * kink of p² at ±π), so each panel converges geometrically: for a panel of half-width a the error
 * is ≲ ρ^{−40}·max|f| on the Bernstein ellipse of parameter ρ. With a ≤ 1/√β (the width of
 * e^{β(cos p−1)} ≈ e^{−βp²/2}) and n·a ≤ 4 (the oscillation), ρ = e costs a growth of at most
 * e^{0.7+4.7} there, so the absolute error is ≲ 1e-15 of m_0 (checked in test/u1-exact.test.ts
 * against the Bessel series for m_n and against panel doubling and a Bessel-series form of
 * s_n, h_n). A series alternative — p = 2Σ_k (−1)^{k+1} sin(kp)/k, p² = π²/3 + 4Σ_k (−1)^k
 * cos(kp)/k² turn s_n, h_n into sums of I_{n±k} — loses digits to cancellation at large β (h_0 ≈
 * m_0/β from terms of size m_0), hence quadrature here and the series only as a test.
 *
 * Infinite volume: only n = 0 survives, ln Z(ϑ) ≈ V ln c(−ϑ/2π), and
 *   χ_top = ⟨Q²⟩/V → h_0 / (4π² m_0) = ⟨p²⟩/(4π²) with p distributed as e^{β cos p} on [−π, π)
 * (the plaquettes decouple); ≈ 1/(4π²β) at large β, 1/12 at β = 0.
 */
import * as math from "../math/index.js";

const NODES = 20;
let gauss: { x: Float64Array; w: Float64Array } | null = null;

/** Gauss–Legendre nodes and weights on [−1, 1] (Newton on P_m; Golub & Welsch not needed at m = 20). */
function gaussLegendre(): { x: Float64Array; w: Float64Array } {
  if (gauss) return gauss;
  const m = NODES;
  const x = new Float64Array(m);
  const w = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let z = math.cos((Math.PI * (i + 0.75)) / (m + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      // P_m(z) and P_m′(z) by the three-term recurrence.
      let p0 = 1;
      let p1 = z;
      for (let k = 2; k <= m; k++) {
        const p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (m * (z * p1 - p0)) / (z * z - 1);
      const dz = p1 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-16) break;
    }
    x[i] = z;
    w[i] = 2 / ((1 - z * z) * dp * dp);
  }
  gauss = { x, w };
  return gauss;
}

export interface U1ThetaMoments {
  /** m_n = e^{−β} I_n(β), n = 0 … nMax. */
  m: Float64Array;
  /** s_n = −e^{−β} ∂_ν c(ν) at ν = n (s_0 = 0). */
  s: Float64Array;
  /** h_n = −e^{−β} ∂²_ν c(ν) at ν = n. */
  h: Float64Array;
}

/** The moments m_n, s_n, h_n of the file comment for n = 0 … nMax, at coupling 0 ≤ β ≤ 500. */
export function u1ThetaMoments(beta: number, nMax: number): U1ThetaMoments {
  if (!(beta >= 0) || !(beta <= 500))
    throw new RangeError(`u1ThetaMoments: beta must lie in [0, 500], got ${beta}`);
  if (!Number.isInteger(nMax) || nMax < 0 || nMax > 100000)
    throw new RangeError(`u1ThetaMoments: nMax must be an integer in [0, 100000], got ${nMax}`);
  const { x, w } = gaussLegendre();
  // Panel width: ≤ π/8, ≤ 2/√β (the peak), ≤ 8/nMax (the oscillation); see the file comment.
  let width = Math.PI / 8;
  if (beta > 0) width = Math.min(width, 2 / Math.sqrt(beta));
  if (nMax > 0) width = Math.min(width, 8 / nMax);
  const panels = Math.ceil(Math.PI / width);
  const a = Math.PI / panels / 2; // half-width
  const m = new Float64Array(nMax + 1);
  const s = new Float64Array(nMax + 1);
  const h = new Float64Array(nMax + 1);
  const sc = new Float64Array(2);
  for (let j = 0; j < panels; j++) {
    const mid = (2 * j + 1) * a;
    for (let i = 0; i < NODES; i++) {
      const p = mid + a * x[i]!;
      const f = (a * w[i]! * math.exp(beta * (math.cos(p) - 1))) / Math.PI;
      for (let n = 0; n <= nMax; n++) {
        math.sincos(n * p, sc);
        m[n]! += f * sc[1]!;
        s[n]! += f * p * sc[0]!;
        h[n]! += f * p * p * sc[1]!;
      }
    }
  }
  return { m, s, h };
}

/** lim_{V→∞} ⟨Q²⟩/V of 2-d U(1) at coupling 0 ≤ β ≤ 500: ⟨p²⟩/4π² under e^{β cos p} on [−π, π). */
export function u1ChiTopInfiniteVolume(beta: number): number {
  const { m, h } = u1ThetaMoments(beta, 0);
  return h[0]! / (4 * Math.PI * Math.PI * m[0]!);
}
