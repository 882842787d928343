/**
 * The site-wise field features of the equivariant continuous flow (Gerdes et al.,
 * arXiv 2207.00283): for a field φ [B, ...sites] (N = B·V values), frequencies ω [K] and a
 * mixing matrix A [F, K+1],
 *
 *   h[b,x,f] = Σ_{k<K} A[f,k]·sin(ω_k φ_bx) + A[f,K]·φ_bx      output [B, ...sites, F]
 *   c[b,k]   = Σ_x cos(ω_k φ_bx)                                output [B, K]
 *
 * c is what the exact divergence needs: ∂h[b,x,f]/∂φ_bx = Σ_k A[f,k]·ω_k·cos(ω_k φ_bx) + A[f,K].
 * One sincos pass gives both outputs; each is its own tape node, and each backward recomputes
 * the sines and cosines rather than keeping [N, K] tables (an ODE solve puts 4·steps of these
 * on the tape). With S = sin(ω_k φ_n), C = cos(ω_k φ_n), T = [S | φ] and G = ḡ_h·A [N, K+1]:
 *
 *   from h:  ∂/∂φ_n = Σ_k G[n,k]·ω_k·C[n,k] + G[n,K],   ∂/∂ω_k = Σ_n G[n,k]·φ_n·C[n,k],   ∂/∂A = ḡ_hᵀ·T
 *   from c:  ∂/∂φ_bx = −Σ_k ḡ_c[b,k]·ω_k·S[bx,k],       ∂/∂ω_k = −Σ_{b,x} ḡ_c[b,k]·φ_bx·S[bx,k]
 */
import * as math from "../../math/index.js";
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { gemm } from "./matmul.js";

const sc = new Float64Array(2);

// fdlibm's π/2 = PIO2_1 + PIO2_1T (PIO2_1 has 33 bits, so n·PIO2_1 is exact for |n| < 2²⁰)
// and its kernel coefficients on [−π/4, π/4].
const INV_PIO2 = 0.6366197723675814;
const PIO2_1 = 1.5707963267341256;
const PIO2_1T = 6.077100506506192e-11;
const S1 = -0.16666666666666632;
const S2 = 0.00833333333332249;
const S3 = -0.0001984126982985795;
const S4 = 2.7557313707070068e-6;
const S5 = -2.5050760253406863e-8;
const S6 = 1.58969099521155e-10;
const C1 = 0.0416666666666666;
const C2 = -0.001388888888887411;
const C3 = 2.480158728947673e-5;
const C4 = -2.7557314351390663e-7;
const C5 = 2.087572321298175e-9;
const C6 = -1.1359647557788195e-11;

/**
 * out = (sin x, cos x) to within a few 1e-16 absolute, from +, −, ×, ÷ and Math.round only, so
 * identical in every engine: x = n·π/2 + r (Cody–Waite, 85 bits of π/2), fdlibm's polynomials
 * in r, the quadrant n mod 4. About ten times faster than math.sincos, whose exact argument
 * reduction and sub-ulp refinements this kernel does not need (the features are smooth functions
 * of moderate arguments; |x| ≥ 2¹⁹·π/2 falls back to math.sincos).
 */
export function featureSinCos(x: number, out: Float64Array): void {
  const n = Math.round(x * INV_PIO2);
  if (!(Math.abs(n) < 524288)) {
    math.sincos(x, out);
    return;
  }
  const r = x - n * PIO2_1 - n * PIO2_1T;
  const z = r * r;
  const s = r + r * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
  const c = 1 - 0.5 * z + z * z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  switch (n & 3) {
    case 0:
      out[0] = s;
      out[1] = c;
      break;
    case 1:
      out[0] = c;
      out[1] = -s;
      break;
    case 2:
      out[0] = -s;
      out[1] = -c;
      break;
    default:
      out[0] = -c;
      out[1] = s;
  }
}

function checkShapes(phi: Tensor, omega: Tensor, mix: Tensor): void {
  if (phi.rank < 2) throw new RangeError(`sineFeatures: field must be [B, ...sites], got [${phi.shape}]`);
  if (omega.rank !== 1) throw new RangeError(`sineFeatures: frequencies must be [K], got [${omega.shape}]`);
  if (mix.rank !== 2 || mix.shape[1] !== omega.shape[0]! + 1)
    throw new RangeError(`sineFeatures: mixing [${mix.shape}] must be [F, ${omega.shape[0]! + 1}]`);
  if (phi.dtype !== omega.dtype || phi.dtype !== mix.dtype)
    throw new TypeError(`sineFeatures: dtype mismatch ${phi.dtype}, ${omega.dtype}, ${mix.dtype}`);
}

/** T = [sin(ω_k φ_n) | φ_n] as [N, K+1], and c[b,k] += cos(ω_k φ_n) for n in row b. */
function sineTable(phi: FloatArray, w: FloatArray, V: number, T: FloatArray, cosSums: FloatArray): void {
  const K = w.length;
  const P = K + 1;
  for (let n = 0; n < phi.length; n++) {
    const x = phi[n]!;
    const row = n * P;
    const cb = Math.floor(n / V) * K;
    for (let k = 0; k < K; k++) {
      featureSinCos(w[k]! * x, sc);
      T[row + k] = sc[0]!;
      cosSums[cb + k]! += sc[1];
    }
    T[row + K] = x;
  }
}

export function sineFeatures(phi: Tensor, omega: Tensor, mix: Tensor): { h: Tensor; cosSums: Tensor } {
  checkShapes(phi, omega, mix);
  const dtype = phi.dtype;
  const B = phi.shape[0]!;
  const N = phi.size;
  const V = N / B;
  const K = omega.size;
  const P = K + 1;
  const F = mix.shape[0]!;
  const x = phi.data;
  const w = omega.data;
  const T = allocate(dtype, N * P);
  const c = allocate(dtype, B * K);
  sineTable(x, w, V, T, c);
  const hData = allocate(dtype, N * F);
  gemm({ m: N, n: F, p: P, a: T, aT: false, b: mix.data, bT: true, bias: null }, hData);

  const h = record(new Tensor(hData, [...phi.shape, F]), [phi, omega, mix], (g, needs) => {
    const gphi = needs[0] ? allocate(dtype, N) : null;
    const gw = needs[1] ? new Float64Array(K) : null;
    const Tb = needs[2] ? allocate(dtype, N * P) : null;
    const G = gphi || gw ? allocate(dtype, N * P) : null; // ḡ_h · A
    if (G) gemm({ m: N, n: P, p: F, a: g, aT: false, b: mix.data, bT: false, bias: null }, G);
    for (let n = 0; n < N && (G || Tb); n++) {
      const xn = x[n]!;
      const row = n * P;
      let acc = G ? G[row + K]! : 0;
      for (let k = 0; k < K; k++) {
        const wk = w[k]!;
        featureSinCos(wk * xn, sc);
        if (Tb) Tb[row + k] = sc[0]!;
        if (G) {
          const gc = G[row + k]! * sc[1]!;
          acc += gc * wk;
          if (gw) gw[k]! += gc * xn;
        }
      }
      if (Tb) Tb[row + K] = xn;
      if (gphi) gphi[n] = acc;
    }
    let gmix: FloatArray | null = null;
    if (Tb) {
      gmix = allocate(dtype, F * P); // ḡ_hᵀ · T
      gemm({ m: F, n: P, p: N, a: g, aT: true, b: Tb, bT: false, bias: null }, gmix);
    }
    return [gphi, gw ? inDtype(dtype, gw) : null, gmix];
  });

  const cosSums = record(new Tensor(c, [B, K]), [phi, omega], (g, needs) => {
    const gphi = needs[0] ? allocate(dtype, N) : null;
    const gw = needs[1] ? new Float64Array(K) : null;
    for (let n = 0; n < N; n++) {
      const xn = x[n]!;
      const gb = Math.floor(n / V) * K;
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const wk = w[k]!;
        featureSinCos(wk * xn, sc);
        const gs = g[gb + k]! * sc[0]!;
        acc -= gs * wk;
        if (gw) gw[k]! -= gs * xn;
      }
      if (gphi) gphi[n] = acc;
    }
    return [gphi, gw ? inDtype(dtype, gw) : null];
  });
  return { h, cosSums };
}

function inDtype(dtype: Tensor["dtype"], a: Float64Array): FloatArray {
  if (dtype === "float64") return a;
  const out = allocate(dtype, a.length);
  out.set(a);
  return out;
}
