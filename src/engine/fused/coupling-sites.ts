/**
 * The checkerboard and the periodic padding of the fused coupling op (coupling.ts,
 * coupling-resident.ts): which sites are frozen, padded copies of planes, and the cotangent
 * of the last conv's output from the cotangent of the packed output.
 */

import * as math from "../../math/index.js";
import { type PadGeometry, padPlanes } from "../ops/conv-kernels.js";
import { type FloatArray, sizeOf } from "../tensor.js";
import { simdCouple } from "../wasm/simd-runtime.js";

/** Site parity (coordinate sum mod 2) of the frozen sites of the mask of this parity. */
export function frozenParity(maskParity: 0 | 1): number {
  // mask(x) = (Σx + parity) mod 2 = 1  ⇔  Σx ≡ 1 − parity.
  return (1 + maskParity) & 1;
}

/** The SIMD kernels' view of a 2-D padded geometry. */
export function simdGeometryOf(g: PadGeometry) {
  return { n: g.rowLength, rows: g.volume / g.rowLength, pw: g.paddedRow, pv: g.paddedVolume, v: g.volume };
}

export function is2d3x3(g: PadGeometry): boolean {
  return g.lattice.length === 2 && g.kernel[0] === 3 && g.kernel[1] === 3;
}

/** Fill the halo of a 2-D padded plane (kernel 3×3) whose interior is set. */
export function wrap2d(P: FloatArray, po: number, rows: number, n: number, pw: number): void {
  for (let r = 1; r <= rows; r++) {
    const pr = po + r * pw;
    P[pr] = P[pr + n]!;
    P[pr + n + 1] = P[pr + 1]!;
  }
  P.copyWithin(po, po + rows * pw, po + (rows + 1) * pw);
  P.copyWithin(po + (rows + 1) * pw, po + pw, po + 2 * pw);
}

/** Padded copies of planes (padPlanes), by rows in the 2-D 3×3 case. */
export function pad(src: FloatArray, planes: number, g: PadGeometry, out: FloatArray): void {
  if (!is2d3x3(g)) {
    padPlanes(src, planes, g, out);
    return;
  }
  const { volume, paddedVolume, rowLength: n, paddedRow: pw } = g;
  const rows = volume / n;
  for (let q = 0; q < planes; q++) {
    const so = q * volume;
    const po = q * paddedVolume;
    for (let r = 0; r < rows; r++) {
      const sr = so + r * n;
      const pr = po + (r + 1) * pw + 1;
      for (let j = 0; j < n; j++) out[pr + j] = src[sr + j]!;
    }
    wrap2d(out, po, rows, n, pw);
  }
}

const frozenCache = new Map<string, Uint8Array>();

/** frozen[x] = 1 where the checkerboard mask of this parity is 1 (src/flows/masks.ts). */
export function frozenSites(lattice: readonly number[], maskParity: 0 | 1): Uint8Array {
  const key = `${lattice}|${maskParity}`;
  let m = frozenCache.get(key);
  if (!m) {
    const v = sizeOf(lattice);
    m = new Uint8Array(v);
    const c = new Array<number>(lattice.length).fill(0);
    for (let s = 0; s < v; s++) {
      let sum = maskParity as number;
      for (const ci of c) sum += ci;
      m[s] = sum & 1;
      for (let a = lattice.length - 1; a >= 0; a--) {
        if (++c[a]! < lattice[a]!) break;
        c[a] = 0;
      }
    }
    frozenCache.set(key, m);
  }
  return m;
}

const activeCache = new Map<Uint8Array, Float32Array>();

/** 1 at active sites, 0 at frozen ones, as float32 (the SIMD coupling kernel's mask). */
export function activeMask(frozen: Uint8Array): Float32Array {
  let m = activeCache.get(frozen);
  if (!m) {
    m = new Float32Array(frozen.length);
    for (let s = 0; s < frozen.length; s++) m[s] = frozen[s] ? 0 : 1;
    activeCache.set(frozen, m);
  }
  return m;
}

/** m⊙x, periodically padded: the first conv's input. */
export function padFrozen(
  xd: FloatArray,
  frozen: Uint8Array,
  nb: number,
  g: PadGeometry,
  P0: FloatArray,
): void {
  const { volume: v, paddedVolume: pv, source } = g;
  if (is2d3x3(g)) {
    const { rowLength: n, paddedRow: pw } = g;
    const rows = v / n;
    for (let b = 0; b < nb; b++) {
      const so = b * v;
      const po = b * pv;
      for (let r = 0; r < rows; r++) {
        const pr = po + (r + 1) * pw + 1;
        const sr = r * n;
        for (let j = 0; j < n; j++) P0[pr + j] = frozen[sr + j] ? xd[so + sr + j]! : 0;
      }
      wrap2d(P0, po, rows, n, pw);
    }
    return;
  }
  for (let b = 0; b < nb; b++) {
    const so = b * v;
    const po = b * pv;
    for (let p = 0; p < pv; p++) {
      const s = source[p]!;
      P0[po + p] = frozen[s] ? xd[so + s]! : 0;
    }
  }
}

/**
 * tanh of (s, t) at active sites (in place in h) and the packed output [B, V+1]. float32
 * with SIMD: the WebAssembly kernel of simd-couple.ts (float32 tanh/exp, equal to this loop
 * within float32 rounding).
 */
export function couple(
  xd: FloatArray,
  h: FloatArray,
  frozen: Uint8Array,
  nb: number,
  v: number,
  inverse: boolean,
  out: FloatArray,
  g: PadGeometry,
): void {
  if (
    xd instanceof Float32Array &&
    h instanceof Float32Array &&
    out instanceof Float32Array &&
    is2d3x3(g) &&
    simdCouple(xd, h, activeMask(frozen), nb, inverse, out, simdGeometryOf(g))
  )
    return;
  for (let b = 0; b < nb; b++) {
    const hs = b * 2 * v;
    const ht = hs + v;
    const xo = b * v;
    const yo = b * (v + 1);
    let ld = 0;
    for (let s = 0; s < v; s++) {
      const xv = xd[xo + s]!;
      if (frozen[s]) {
        out[yo + s] = xv;
        continue;
      }
      h[hs + s] = math.tanh(h[hs + s]!);
      h[ht + s] = math.tanh(h[ht + s]!);
      const sv = h[hs + s]!; // read back: the stored (possibly float32) values are s and t
      const tv = h[ht + s]!;
      out[yo + s] = inverse ? (xv - tv) * math.exp(-sv) : xv * math.exp(sv) + tv;
      ld += sv;
    }
    out[yo + v] = inverse ? -ld : ld;
  }
}

/**
 * Cotangents of the last conv's pre-activation (s, t channels; written at active sites, the
 * caller zeroes gz) and of x through the coupling itself (gx, where wanted), from the
 * cotangent gOut of the packed output [B, V+1]; h holds s, t (after tanh).
 */
export function lastCotangent(
  gOut: FloatArray,
  h: FloatArray,
  xd: FloatArray,
  frozen: Uint8Array,
  nb: number,
  v: number,
  inverse: boolean,
  gz: FloatArray,
  gx: FloatArray | null,
): void {
  for (let b = 0; b < nb; b++) {
    const hs = b * 2 * v;
    const ht = hs + v;
    const xo = b * v;
    const go = b * (v + 1);
    const gld = gOut[go + v]!;
    for (let s = 0; s < v; s++) {
      const gy = gOut[go + s]!;
      if (frozen[s]) {
        if (gx) gx[xo + s] = gy;
        continue;
      }
      const sv = h[hs + s]!;
      const tv = h[ht + s]!;
      const xv = xd[xo + s]!;
      let gs: number;
      let gt: number;
      if (inverse) {
        const e = math.exp(-sv);
        gs = -gy * ((xv - tv) * e) - gld;
        gt = -gy * e;
        if (gx) gx[xo + s] = gy * e;
      } else {
        const e = math.exp(sv);
        gs = gy * xv * e + gld;
        gt = gy;
        if (gx) gx[xo + s] = gy * e;
      }
      gz[hs + s] = gs * (1 - sv * sv);
      gz[ht + s] = gt * (1 - tv * tv);
    }
  }
}
