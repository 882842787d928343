/**
 * A complex FFT over the sites of a periodic lattice (any shape, any extents), for arrays that
 * hold a vector at every site: data[s·M + u], s the row-major site, M reals per site, grouped
 * as complex blocks of c real parts then c imaginary parts. The continuous flow's convolution
 * (cnf-conv.ts) transforms B·F feature planes at once this way, so every butterfly is a loop
 * over a long contiguous vector.
 *
 * Each axis is a mixed-radix transform (radix 4 and 2, then 3, 5, … by a naive DFT per
 * butterfly, so prime extents cost L per element and stage) whose elements are the contiguous
 * runs of all later axes' sites. The forward transform is decimation in frequency and leaves
 * the spectrum in digit-reversed order; the inverse is decimation in time and takes it in that
 * order: the convolution only multiplies pointwise in between, so nothing is ever permuted
 * (`frequencyAt` says which frequency a position holds). Both in place, unnormalised; forward
 * e^{−2πi jk/L}, inverse e^{+2πi jk/L}. The WebAssembly kernels (../wasm/cnf-fft-simd.ts) run
 * the same stages.
 */
import * as math from "../../math/index.js";
import type { FloatArray } from "../tensor.js";

export interface FftAxis {
  L: number;
  /** Sites between neighbours along the axis (the element length in sites). */
  stride: number;
  /** Radices, outermost recursion level first. */
  radices: number[];
  /** cos and sin of 2πj/L, j < L. */
  cos: Float64Array;
  sin: Float64Array;
}

export interface LatticeFft {
  shape: readonly number[];
  sites: number;
  axes: FftAxis[];
  /** The row-major frequency index held at each position of a forward transform's output. */
  frequencyAt: Int32Array;
}

function factor(L: number): number[] {
  const out: number[] = [];
  let n = L;
  while (n % 4 === 0) {
    out.push(4);
    n /= 4;
  }
  for (let p = 2; n > 1; p++)
    while (n % p === 0) {
      out.push(p);
      n /= p;
    }
  return out;
}

/** pos(n): where frequency n of one axis lands (the mixed-radix digit reversal). */
function digitReversal(L: number, radices: readonly number[]): Int32Array {
  const perm = new Int32Array(L);
  for (let n = 0; n < L; n++) {
    let r = n;
    let span = L;
    let pos = 0;
    for (const p of radices) {
      span /= p;
      pos += (r % p) * span;
      r = Math.floor(r / p);
    }
    perm[n] = pos;
  }
  return perm;
}

export function latticeFft(shape: readonly number[]): LatticeFft {
  const sites = shape.reduce((a, b) => a * b, 1);
  let stride = sites;
  const sc = new Float64Array(2);
  const perms: Int32Array[] = [];
  const axes = shape.map((L) => {
    stride /= L;
    const radices = factor(L);
    perms.push(digitReversal(L, radices));
    const cos = new Float64Array(L);
    const sin = new Float64Array(L);
    for (let j = 0; j < L; j++) {
      math.sincos((2 * Math.PI * j) / L, sc);
      sin[j] = sc[0]!;
      cos[j] = sc[1]!;
    }
    return { L, stride, radices, cos, sin };
  });
  const frequencyAt = new Int32Array(sites);
  for (let n = 0; n < sites; n++) {
    let r = n;
    let pos = 0;
    let s = 1;
    for (let a = shape.length - 1; a >= 0; a--) {
      const L = shape[a]!;
      pos += perms[a]![r % L]! * s;
      r = Math.floor(r / L);
      s *= L;
    }
    frequencyAt[pos] = n;
  }
  return { shape, sites, axes, frequencyAt };
}

/** One pass of a stage: butterflies of radix p, span `span`, on `lines` lines of the axis. */
export type StageRunner = (
  data: FloatArray,
  ax: FftAxis,
  p: number,
  span: number,
  elem: number,
  c: number,
  inverse: boolean,
  lines: number,
) => void;

/** Forward (DIF, natural → digit-reversed) or inverse (DIT, digit-reversed → natural), in place. */
export function fftLattice(
  plan: LatticeFft,
  data: FloatArray,
  M: number,
  c: number,
  inverse: boolean,
  run: StageRunner = stageJs,
): void {
  for (const ax of plan.axes) {
    const { L, radices } = ax;
    if (L === 1) continue;
    const elem = ax.stride * M;
    const lines = plan.sites / (L * ax.stride);
    if (inverse) {
      let span = 1;
      for (let i = radices.length - 1; i >= 0; i--) {
        run(data, ax, radices[i]!, span, elem, c, true, lines);
        span *= radices[i]!;
      }
    } else {
      let span = L;
      for (const p of radices) {
        span /= p;
        run(data, ax, p, span, elem, c, false, lines);
      }
    }
  }
}

/**
 * The TypeScript stage: for every line (L elements of `elem` reals, lines `L·elem` apart), every
 * block of span·p positions and k < span, the butterfly on positions at + r·span: DIT
 * (inverse) twiddles inputs by W^{rk} then takes the p-point DFT; DIF (forward) takes the DFT
 * then twiddles output q by W^{qk}; W = e^{∓2πi/(span·p)}.
 */
export function stageJs(
  data: FloatArray,
  ax: FftAxis,
  p: number,
  span: number,
  elem: number,
  c: number,
  inverse: boolean,
  lines: number,
): void {
  const { L } = ax;
  const block = span * p;
  const step = L / block;
  for (let o = 0; o < lines; o++)
    for (let base = 0; base < L; base += block)
      for (let k = 0; k < span; k++) {
        const at = (o * L + base + k) * elem;
        if (p === 2) radix2(data, at, span * elem, elem, c, ax, k * step, inverse);
        else if (p === 4) radix4(data, at, span * elem, elem, c, ax, k * step, inverse);
        else radixP(data, at, span * elem, elem, c, ax, p, k * step, inverse);
      }
}

function radix2(
  d: FloatArray,
  a0: number,
  sp: number,
  elem: number,
  c: number,
  ax: FftAxis,
  t: number,
  inv: boolean,
): void {
  const wr = ax.cos[t]!;
  const wi = (inv ? 1 : -1) * ax.sin[t]!;
  const a1 = a0 + sp;
  for (let u = 0; u < elem; u += 2 * c)
    for (let j = u; j < u + c; j++) {
      let xr = d[a1 + j]!;
      let xi = d[a1 + c + j]!;
      const yr = d[a0 + j]!;
      const yi = d[a0 + c + j]!;
      if (inv) {
        const q = xr * wr - xi * wi;
        xi = xr * wi + xi * wr;
        xr = q;
        d[a0 + j] = yr + xr;
        d[a0 + c + j] = yi + xi;
        d[a1 + j] = yr - xr;
        d[a1 + c + j] = yi - xi;
      } else {
        const dr = yr - xr;
        const di = yi - xi;
        d[a0 + j] = yr + xr;
        d[a0 + c + j] = yi + xi;
        d[a1 + j] = dr * wr - di * wi;
        d[a1 + c + j] = dr * wi + di * wr;
      }
    }
}

/** Radix 4: X_q = Σ_r x_r (∓i)^{rq}, with the twiddles before (DIT) or after (DIF). */
function radix4(
  d: FloatArray,
  a0: number,
  sp: number,
  elem: number,
  c: number,
  ax: FftAxis,
  t: number,
  inv: boolean,
): void {
  const L = ax.L;
  const sg = inv ? 1 : -1;
  const w = [1, 2, 3].map((r) => [ax.cos[(r * t) % L]!, sg * ax.sin[(r * t) % L]!]) as [number, number][];
  const [w1r, w1i] = w[0]!;
  const [w2r, w2i] = w[1]!;
  const [w3r, w3i] = w[2]!;
  const tw = t !== 0;
  const a1 = a0 + sp;
  const a2 = a1 + sp;
  const a3 = a2 + sp;
  for (let u = 0; u < elem; u += 2 * c)
    for (let j = u; j < u + c; j++) {
      const x0r = d[a0 + j]!;
      const x0i = d[a0 + c + j]!;
      let x1r = d[a1 + j]!;
      let x1i = d[a1 + c + j]!;
      let x2r = d[a2 + j]!;
      let x2i = d[a2 + c + j]!;
      let x3r = d[a3 + j]!;
      let x3i = d[a3 + c + j]!;
      if (inv && tw) {
        let q = x1r * w1r - x1i * w1i;
        x1i = x1r * w1i + x1i * w1r;
        x1r = q;
        q = x2r * w2r - x2i * w2i;
        x2i = x2r * w2i + x2i * w2r;
        x2r = q;
        q = x3r * w3r - x3i * w3i;
        x3i = x3r * w3i + x3i * w3r;
        x3r = q;
      }
      const ar = x0r + x2r;
      const ai = x0i + x2i;
      const br = x0r - x2r;
      const bi = x0i - x2i;
      const cr = x1r + x3r;
      const ci = x1i + x3i;
      // (x1 − x3)·(sg·i): forward multiplies by −i, inverse by +i.
      const er = -sg * (x1i - x3i);
      const ei = sg * (x1r - x3r);
      let y1r = br + er;
      let y1i = bi + ei;
      let y2r = ar - cr;
      let y2i = ai - ci;
      let y3r = br - er;
      let y3i = bi - ei;
      if (!inv && tw) {
        let q = y1r * w1r - y1i * w1i;
        y1i = y1r * w1i + y1i * w1r;
        y1r = q;
        q = y2r * w2r - y2i * w2i;
        y2i = y2r * w2i + y2i * w2r;
        y2r = q;
        q = y3r * w3r - y3i * w3i;
        y3i = y3r * w3i + y3i * w3r;
        y3r = q;
      }
      d[a0 + j] = ar + cr;
      d[a0 + c + j] = ai + ci;
      d[a1 + j] = y1r;
      d[a1 + c + j] = y1i;
      d[a2 + j] = y2r;
      d[a2 + c + j] = y2i;
      d[a3 + j] = y3r;
      d[a3 + c + j] = y3i;
    }
}

/** Any radix p by a naive p-point DFT. */
function radixP(
  d: FloatArray,
  a0: number,
  sp: number,
  elem: number,
  c: number,
  ax: FftAxis,
  p: number,
  t: number,
  inv: boolean,
): void {
  const L = ax.L;
  const sg = inv ? 1 : -1;
  const ps = L / p; // W_p^{m} = W_L^{m·ps}
  const xr = new Float64Array(p);
  const xi = new Float64Array(p);
  for (let u = 0; u < elem; u += 2 * c)
    for (let j = u; j < u + c; j++) {
      for (let r = 0; r < p; r++) {
        const o = a0 + r * sp + j;
        const e = inv ? (r * t) % L : 0;
        const wr = ax.cos[e]!;
        const wi = sg * ax.sin[e]!;
        xr[r] = d[o]! * wr - d[o + c]! * wi;
        xi[r] = d[o]! * wi + d[o + c]! * wr;
      }
      for (let q = 0; q < p; q++) {
        let sr = 0;
        let si = 0;
        for (let r = 0; r < p; r++) {
          const e = ((r * q) % p) * ps;
          const wr = ax.cos[e]!;
          const wi = sg * ax.sin[e]!;
          sr += xr[r]! * wr - xi[r]! * wi;
          si += xr[r]! * wi + xi[r]! * wr;
        }
        const e = inv ? 0 : (q * t) % L;
        const wr = ax.cos[e]!;
        const wi = sg * ax.sin[e]!;
        const o = a0 + q * sp + j;
        d[o] = sr * wr - si * wi;
        d[o + c] = sr * wi + si * wr;
      }
    }
}
