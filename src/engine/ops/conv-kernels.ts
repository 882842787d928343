/**
 * Kernels of the periodic convolution (conv.ts). Each input plane is first copied into a
 * periodically padded plane (extent L + K − 1 per axis); the window of output site s then
 * starts at a fixed padded position, and kernel tap k is a fixed flat offset from it, so
 * the inner loops are contiguous and branch-free. The 2-D 3×3 case, the notebook's, has
 * unrolled kernels; other shapes use the generic loops.
 */
import type { FloatArray } from "../tensor.js";
import { simdCorrelate, simdWeightGrad } from "../wasm/simd-runtime.js";

function simdGeometry(g: PadGeometry) {
  return { n: g.rowLength, rows: g.rowOrigins.length, pw: g.paddedRow, pv: g.paddedVolume, v: g.volume };
}

/** Geometry of a padded lattice: padded volume, tap offsets and window origins per output row. */
export interface PadGeometry {
  lattice: readonly number[];
  kernel: readonly number[];
  volume: number;
  paddedVolume: number;
  /** Flat offset of each kernel tap (row-major over the kernel) in the padded plane. */
  taps: Int32Array;
  /** Padded position of the window origin of the first site of each output row. */
  rowOrigins: Int32Array;
  /** Extent of the last (contiguous) axis. */
  rowLength: number;
  /** Padded extent of the last axis. */
  paddedRow: number;
  /** For each padded position, the lattice site it copies. */
  source: Int32Array;
  /** Parity of the coordinate sum of each output row's first site (checkerboard colour). */
  rowParity: Uint8Array;
}

const cache = new Map<string, PadGeometry>();

export function padGeometry(lattice: readonly number[], kernel: readonly number[]): PadGeometry {
  const key = `${lattice}|${kernel}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const d = lattice.length;
  const padded = lattice.map((n, a) => n + kernel[a]! - 1);
  const pstride = new Array<number>(d);
  const lstride = new Array<number>(d);
  let ps = 1;
  let ls = 1;
  for (let a = d - 1; a >= 0; a--) {
    pstride[a] = ps;
    lstride[a] = ls;
    ps *= padded[a]!;
    ls *= lattice[a]!;
  }
  const paddedVolume = ps;
  const volume = ls;
  const source = new Int32Array(paddedVolume);
  const c = new Array<number>(d).fill(0);
  for (let p = 0; p < paddedVolume; p++) {
    let s = 0;
    for (let a = 0; a < d; a++) {
      const n = lattice[a]!;
      s += ((((c[a]! - (kernel[a]! >> 1)) % n) + n) % n) * lstride[a]!;
    }
    source[p] = s;
    for (let a = d - 1; a >= 0; a--) {
      if (++c[a]! < padded[a]!) break;
      c[a] = 0;
    }
  }
  const nk = kernel.reduce((x, y) => x * y, 1);
  const taps = new Int32Array(nk);
  const kc = new Array<number>(d).fill(0);
  for (let k = 0; k < nk; k++) {
    let off = 0;
    for (let a = 0; a < d; a++) off += kc[a]! * pstride[a]!;
    taps[k] = off;
    for (let a = d - 1; a >= 0; a--) {
      if (++kc[a]! < kernel[a]!) break;
      kc[a] = 0;
    }
  }
  const rowLength = lattice[d - 1]!;
  const rows = volume / rowLength;
  const rowOrigins = new Int32Array(rows);
  const rowParity = new Uint8Array(rows);
  const rc = new Array<number>(d).fill(0);
  for (let r = 0; r < rows; r++) {
    let o = 0;
    let par = 0;
    for (let a = 0; a < d - 1; a++) {
      o += rc[a]! * pstride[a]!;
      par += rc[a]!;
    }
    rowOrigins[r] = o;
    rowParity[r] = par & 1;
    for (let a = d - 2; a >= 0; a--) {
      if (++rc[a]! < lattice[a]!) break;
      rc[a] = 0;
    }
  }
  const g: PadGeometry = {
    lattice,
    kernel,
    volume,
    paddedVolume,
    taps,
    rowOrigins,
    rowLength,
    paddedRow: padded[d - 1]!,
    source,
    rowParity,
  };
  cache.set(key, g);
  return g;
}

/** Periodically padded copies of `planes` lattice planes. */
export function padPlanes(src: FloatArray, planes: number, g: PadGeometry, out: FloatArray): FloatArray {
  const { volume, paddedVolume, source } = g;
  for (let q = 0; q < planes; q++) {
    const so = q * volume;
    const po = q * paddedVolume;
    for (let p = 0; p < paddedVolume; p++) out[po + p] = src[so + source[p]!]!;
  }
  return out;
}

function is2d3x3(g: PadGeometry): boolean {
  return g.lattice.length === 2 && g.kernel[0] === 3 && g.kernel[1] === 3;
}

/**
 * y[b,o,s] += Σ_i Σ_k w[o,i,k] · P[b,i][origin(s) + tap(k)] for padded inputs P [nb, cin, PV].
 * `y` must hold the bias (or zeros) on entry. In the 2-D 3×3 path, two output channels share
 * each load of the input window (the per-output arithmetic, and so the rounding, is the same).
 */
export function correlate(
  P: FloatArray,
  w: FloatArray,
  y: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: PadGeometry,
): void {
  if (is2d3x3(g)) {
    if (simdCorrelate(P, w, y, nb, cin, cout, simdGeometry(g))) return;
    correlate2d3x3(P, w, y, nb, cin, cout, g);
    return;
  }
  const { volume: v, paddedVolume: pv, taps, rowOrigins, rowLength: n } = g;
  const nk = taps.length;
  const rows = rowOrigins.length;
  for (let b = 0; b < nb; b++) {
    for (let o = 0; o < cout; o++) {
      const yo = (b * cout + o) * v;
      for (let i = 0; i < cin; i++) {
        const po = (b * cin + i) * pv;
        const wo = (o * cin + i) * nk;
        for (let r = 0; r < rows; r++) {
          const yr = yo + r * n;
          const base = po + rowOrigins[r]!;
          for (let k = 0; k < nk; k++) {
            const wk = w[wo + k]!;
            const src = base + taps[k]!;
            for (let j = 0; j < n; j++) y[yr + j]! += wk * P[src + j]!;
          }
        }
      }
    }
  }
}

function correlate2d3x3(
  P: FloatArray,
  w: FloatArray,
  y: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: PadGeometry,
): void {
  const { volume: v, paddedVolume: pv, rowLength: n, paddedRow: pw } = g;
  const rows = g.rowOrigins.length;
  const ci9 = cin * 9;
  for (let b = 0; b < nb; b++) {
    let o = 0;
    for (; o + 1 < cout; o += 2) {
      const yo = (b * cout + o) * v;
      const yq = yo + v;
      for (let i = 0; i < cin; i++) {
        const po = (b * cin + i) * pv;
        const wo = (o * cin + i) * 9;
        const wq = wo + ci9;
        const w0 = w[wo]!,
          w1 = w[wo + 1]!,
          w2 = w[wo + 2]!,
          w3 = w[wo + 3]!,
          w4 = w[wo + 4]!,
          w5 = w[wo + 5]!,
          w6 = w[wo + 6]!,
          w7 = w[wo + 7]!,
          w8 = w[wo + 8]!;
        const v0 = w[wq]!,
          v1 = w[wq + 1]!,
          v2 = w[wq + 2]!,
          v3 = w[wq + 3]!,
          v4 = w[wq + 4]!,
          v5 = w[wq + 5]!,
          v6 = w[wq + 6]!,
          v7 = w[wq + 7]!,
          v8 = w[wq + 8]!;
        for (let r = 0; r < rows; r++) {
          const r0 = po + r * pw;
          const r1 = r0 + pw;
          const r2 = r1 + pw;
          const yr = yo + r * n;
          const yr2 = yq + r * n;
          for (let j = 0; j < n; j++) {
            const p0 = P[r0 + j]!,
              p1 = P[r0 + j + 1]!,
              p2 = P[r0 + j + 2]!,
              p3 = P[r1 + j]!,
              p4 = P[r1 + j + 1]!,
              p5 = P[r1 + j + 2]!,
              p6 = P[r2 + j]!,
              p7 = P[r2 + j + 1]!,
              p8 = P[r2 + j + 2]!;
            y[yr + j]! +=
              w0 * p0 + w1 * p1 + w2 * p2 + w3 * p3 + w4 * p4 + w5 * p5 + w6 * p6 + w7 * p7 + w8 * p8;
            y[yr2 + j]! +=
              v0 * p0 + v1 * p1 + v2 * p2 + v3 * p3 + v4 * p4 + v5 * p5 + v6 * p6 + v7 * p7 + v8 * p8;
          }
        }
      }
    }
    for (; o < cout; o++) {
      const yo = (b * cout + o) * v;
      for (let i = 0; i < cin; i++) {
        const po = (b * cin + i) * pv;
        const wo = (o * cin + i) * 9;
        const w0 = w[wo]!,
          w1 = w[wo + 1]!,
          w2 = w[wo + 2]!,
          w3 = w[wo + 3]!,
          w4 = w[wo + 4]!,
          w5 = w[wo + 5]!,
          w6 = w[wo + 6]!,
          w7 = w[wo + 7]!,
          w8 = w[wo + 8]!;
        for (let r = 0; r < rows; r++) {
          const r0 = po + r * pw;
          const r1 = r0 + pw;
          const r2 = r1 + pw;
          const yr = yo + r * n;
          for (let j = 0; j < n; j++) {
            y[yr + j]! +=
              w0 * P[r0 + j]! +
              w1 * P[r0 + j + 1]! +
              w2 * P[r0 + j + 2]! +
              w3 * P[r1 + j]! +
              w4 * P[r1 + j + 1]! +
              w5 * P[r1 + j + 2]! +
              w6 * P[r2 + j]! +
              w7 * P[r2 + j + 1]! +
              w8 * P[r2 + j + 2]!;
          }
        }
      }
    }
  }
}

/**
 * As correlate, but only at the output sites whose coordinate sum has parity `q` (one colour
 * of the checkerboard); other sites of `y` are left untouched. The arithmetic at each
 * computed site is the same as correlate's.
 */
export function correlateSites(
  P: FloatArray,
  w: FloatArray,
  y: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: PadGeometry,
  q: number,
): void {
  const { volume: v, paddedVolume: pv, taps, rowOrigins, rowLength: n, paddedRow: pw, rowParity } = g;
  const nk = taps.length;
  const rows = rowOrigins.length;
  const fast = is2d3x3(g);
  for (let b = 0; b < nb; b++) {
    for (let o = 0; o < cout; o++) {
      const yo = (b * cout + o) * v;
      for (let i = 0; i < cin; i++) {
        const po = (b * cin + i) * pv;
        const wo = (o * cin + i) * nk;
        if (fast) {
          const w0 = w[wo]!,
            w1 = w[wo + 1]!,
            w2 = w[wo + 2]!,
            w3 = w[wo + 3]!,
            w4 = w[wo + 4]!,
            w5 = w[wo + 5]!,
            w6 = w[wo + 6]!,
            w7 = w[wo + 7]!,
            w8 = w[wo + 8]!;
          for (let r = 0; r < rows; r++) {
            const r0 = po + r * pw;
            const r1 = r0 + pw;
            const r2 = r1 + pw;
            const yr = yo + r * n;
            for (let j = (q ^ rowParity[r]!) & 1; j < n; j += 2) {
              y[yr + j]! +=
                w0 * P[r0 + j]! +
                w1 * P[r0 + j + 1]! +
                w2 * P[r0 + j + 2]! +
                w3 * P[r1 + j]! +
                w4 * P[r1 + j + 1]! +
                w5 * P[r1 + j + 2]! +
                w6 * P[r2 + j]! +
                w7 * P[r2 + j + 1]! +
                w8 * P[r2 + j + 2]!;
            }
          }
          continue;
        }
        for (let r = 0; r < rows; r++) {
          const yr = yo + r * n;
          const base = po + rowOrigins[r]!;
          const j0 = (q ^ rowParity[r]!) & 1;
          for (let k = 0; k < nk; k++) {
            const wk = w[wo + k]!;
            const src = base + taps[k]!;
            for (let j = j0; j < n; j += 2) y[yr + j]! += wk * P[src + j]!;
          }
        }
      }
    }
  }
}

/**
 * As correlateWeightGrad with the sum restricted to the sites of parity `q` (where the
 * cotangent `gy` can be nonzero).
 */
export function correlateWeightGradSites(
  P: FloatArray,
  gy: FloatArray,
  gw: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: PadGeometry,
  q: number,
): void {
  const { volume: v, paddedVolume: pv, taps, rowOrigins, rowLength: n, paddedRow: pw, rowParity } = g;
  const nk = taps.length;
  const rows = rowOrigins.length;
  const fast = is2d3x3(g);
  const acc = new Float64Array(nk);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      acc.fill(0);
      if (fast) {
        let a0 = 0,
          a1 = 0,
          a2 = 0,
          a3 = 0,
          a4 = 0,
          a5 = 0,
          a6 = 0,
          a7 = 0,
          a8 = 0;
        for (let b = 0; b < nb; b++) {
          const go = (b * cout + o) * v;
          const po = (b * cin + i) * pv;
          for (let r = 0; r < rows; r++) {
            const r0 = po + r * pw;
            const r1 = r0 + pw;
            const r2 = r1 + pw;
            const gr = go + r * n;
            for (let j = (q ^ rowParity[r]!) & 1; j < n; j += 2) {
              const gv = gy[gr + j]!;
              a0 += gv * P[r0 + j]!;
              a1 += gv * P[r0 + j + 1]!;
              a2 += gv * P[r0 + j + 2]!;
              a3 += gv * P[r1 + j]!;
              a4 += gv * P[r1 + j + 1]!;
              a5 += gv * P[r1 + j + 2]!;
              a6 += gv * P[r2 + j]!;
              a7 += gv * P[r2 + j + 1]!;
              a8 += gv * P[r2 + j + 2]!;
            }
          }
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        acc[4] = a4;
        acc[5] = a5;
        acc[6] = a6;
        acc[7] = a7;
        acc[8] = a8;
      } else {
        for (let b = 0; b < nb; b++) {
          const go = (b * cout + o) * v;
          const po = (b * cin + i) * pv;
          for (let r = 0; r < rows; r++) {
            const gr = go + r * n;
            const base = po + rowOrigins[r]!;
            const j0 = (q ^ rowParity[r]!) & 1;
            for (let k = 0; k < nk; k++) {
              const src = base + taps[k]!;
              let s = 0;
              for (let j = j0; j < n; j += 2) s += gy[gr + j]! * P[src + j]!;
              acc[k]! += s;
            }
          }
        }
      }
      const wo = (o * cin + i) * nk;
      for (let k = 0; k < nk; k++) gw[wo + k] = acc[k]!;
    }
  }
}

/** gw[o,i,k] = Σ_b Σ_s g[b,o,s] · P[b,i][origin(s) + tap(k)]. */
export function correlateWeightGrad(
  P: FloatArray,
  gy: FloatArray,
  gw: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: PadGeometry,
): void {
  if (is2d3x3(g) && simdWeightGrad(P, gy, gw, nb, cin, cout, simdGeometry(g))) return;
  const { volume: v, paddedVolume: pv, taps, rowOrigins, rowLength: n, paddedRow: pw } = g;
  const nk = taps.length;
  const rows = rowOrigins.length;
  const fast = is2d3x3(g);
  const acc = new Float64Array(nk);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      acc.fill(0);
      if (fast) {
        let a0 = 0,
          a1 = 0,
          a2 = 0,
          a3 = 0,
          a4 = 0,
          a5 = 0,
          a6 = 0,
          a7 = 0,
          a8 = 0;
        for (let b = 0; b < nb; b++) {
          const go = (b * cout + o) * v;
          const po = (b * cin + i) * pv;
          for (let r = 0; r < rows; r++) {
            const r0 = po + r * pw;
            const r1 = r0 + pw;
            const r2 = r1 + pw;
            const gr = go + r * n;
            for (let j = 0; j < n; j++) {
              const gv = gy[gr + j]!;
              a0 += gv * P[r0 + j]!;
              a1 += gv * P[r0 + j + 1]!;
              a2 += gv * P[r0 + j + 2]!;
              a3 += gv * P[r1 + j]!;
              a4 += gv * P[r1 + j + 1]!;
              a5 += gv * P[r1 + j + 2]!;
              a6 += gv * P[r2 + j]!;
              a7 += gv * P[r2 + j + 1]!;
              a8 += gv * P[r2 + j + 2]!;
            }
          }
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        acc[4] = a4;
        acc[5] = a5;
        acc[6] = a6;
        acc[7] = a7;
        acc[8] = a8;
      } else {
        for (let b = 0; b < nb; b++) {
          const go = (b * cout + o) * v;
          const po = (b * cin + i) * pv;
          for (let r = 0; r < rows; r++) {
            const gr = go + r * n;
            const base = po + rowOrigins[r]!;
            for (let k = 0; k < nk; k++) {
              const src = base + taps[k]!;
              let s = 0;
              for (let j = 0; j < n; j++) s += gy[gr + j]! * P[src + j]!;
              acc[k]! += s;
            }
          }
        }
      }
      const wo = (o * cin + i) * nk;
      for (let k = 0; k < nk; k++) gw[wo + k] = acc[k]!;
    }
  }
}

/** The weights of the adjoint correlation: wT[i,o,k] = w[o,i,K−1−k] (mirrored taps). */
export function adjointWeights(
  w: FloatArray,
  cin: number,
  cout: number,
  nk: number,
  out: FloatArray,
): FloatArray {
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      for (let k = 0; k < nk; k++) out[(i * cout + o) * nk + k] = w[(o * cin + i) * nk + (nk - 1 - k)]!;
    }
  }
  return out;
}
