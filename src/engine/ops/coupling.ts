/**
 * The fused checkerboard affine coupling layer: one op for
 *
 *   (s, t) = tanh(conv_n(… prelu(conv_1(m⊙x)) …)),   m = frozen sites (1), active sites (0)
 *   forward: y = m⊙x + (1−m)⊙(x⊙e^{s} + t),      log|det J| =  Σ_active s
 *   inverse: y = m⊙x + (1−m)⊙(x − t)⊙e^{−s},     log|det J| = −Σ_active s
 *
 * with periodic convolutions (conv.ts conventions) and PReLU slopes shared or per channel.
 * It computes what the unfused graph (src/flows/affine-coupling.ts with fused: false)
 * computes, with the same per-element arithmetic, but:
 *  - no elementwise intermediates: the PReLU is applied while padding the next conv's input,
 *    tanh and the coupling only at active sites;
 *  - the checkerboard: the first conv reads the frozen sites only (the padded input is
 *    m⊙x), the last conv computes only the active sites (the only s, t that are used), its
 *    weight gradient sums only over them, and the first conv's input gradient is computed
 *    only at the frozen sites (the only ones through which x reaches the conditioner);
 *  - the big intermediates (padded activations, pre-activations) come from the scratch
 *    pool (pool.ts) and go back once the backward pass has run, so a training loop
 *    allocates no big arrays per step.
 *
 * Output: a [B, V + 1] tensor per row y (V sites) then log|det J|; couplingLayer splits it.
 */
import { record, willRecord } from "../autodiff.js";
import { acquire, acquireZeroed, release } from "../pool.js";
import { allocate, type FloatArray, sizeOf, Tensor } from "../tensor.js";
import { arena, simdApplies, simdCouple, simdPreluPad } from "../wasm/simd-runtime.js";
import {
  adjointWeights,
  correlate,
  correlateSites,
  correlateWeightGrad,
  correlateWeightGradSites,
  type PadGeometry,
  padGeometry,
  padPlanes,
} from "./conv-kernels.js";
import { reshape, slice } from "./shape.js";

export interface CouplingNet {
  /** Conv weights [C_{l+1}, C_l, ...K], C_0 = 1, C_n = 2. */
  weights: readonly Tensor[];
  /** Conv biases [C_{l+1}]. */
  biases: readonly Tensor[];
  /** PReLU slopes after each conv but the last: [1] (shared) or [C_{l+1}]. */
  alphas: readonly Tensor[];
}

/** Site parity (coordinate sum mod 2) of the frozen sites of the mask of this parity. */
export function frozenParity(maskParity: 0 | 1): number {
  // mask(x) = (Σx + parity) mod 2 = 1  ⇔  Σx ≡ 1 − parity.
  return (1 + maskParity) & 1;
}

function checkNet(x: Tensor, net: CouplingNet): void {
  const n = net.weights.length;
  if (n < 1 || net.biases.length !== n || net.alphas.length !== n - 1)
    throw new RangeError("couplingLayer: need n convs, n biases and n−1 PReLU slopes");
  const d = x.rank - 1;
  let c = 1;
  for (let l = 0; l < n; l++) {
    const w = net.weights[l]!;
    if (w.rank !== d + 2 || w.shape[1] !== c || w.dtype !== x.dtype)
      throw new RangeError(`couplingLayer: conv ${l} weight [${w.shape}] does not fit ${c} input channels`);
    c = w.shape[0]!;
    if (net.biases[l]!.size !== c) throw new RangeError(`couplingLayer: conv ${l} bias size`);
    if (l < n - 1 && net.alphas[l]!.size !== 1 && net.alphas[l]!.size !== c)
      throw new RangeError(`couplingLayer: PReLU ${l} has ${net.alphas[l]!.size} slopes for ${c} channels`);
  }
  if (c !== 2) throw new RangeError(`couplingLayer: the last conv must have 2 outputs (s, t), has ${c}`);
}

/** Padded PReLU activations: out[q][p] = prelu(z[q][source[p]]). */
function padPrelu(z: FloatArray, c: number, nb: number, alpha: FloatArray, g: PadGeometry, out: FloatArray) {
  const { volume, paddedVolume, source } = g;
  const shared = alpha.length === 1;
  if (is2d3x3(g) && simdPreluPad(z, out, alpha, nb * c, c, simdGeometryOf(g))) return;
  if (is2d3x3(g)) {
    // Activate each lattice row once into the interior of its padded row, then copy the
    // wrapped rows and columns (no per-element index table).
    const { rowLength: n, paddedRow: pw } = g;
    const rows = volume / n;
    for (let q = 0; q < nb * c; q++) {
      const a = alpha[shared ? 0 : q % c]!;
      const so = q * volume;
      const po = q * paddedVolume;
      for (let r = 0; r < rows; r++) {
        const zr = so + r * n;
        const pr = po + (r + 1) * pw + 1;
        for (let j = 0; j < n; j++) {
          const v = z[zr + j]!;
          const neg = +(v < 0);
          out[pr + j] = v * (neg * a + (1 - neg));
        }
      }
      wrap2d(out, po, rows, n, pw);
    }
    return;
  }
  for (let q = 0; q < nb * c; q++) {
    const a = alpha[shared ? 0 : q % c]!;
    const so = q * volume;
    const po = q * paddedVolume;
    for (let p = 0; p < paddedVolume; p++) {
      // Branch-free (the sign is random: a branch here mispredicts half the time);
      // v·1 = v and v·a = a·v exactly, so this is prelu's arithmetic.
      const v = z[so + source[p]!]!;
      const neg = +(v < 0);
      out[po + p] = v * (neg * a + (1 - neg));
    }
  }
}

/** The SIMD kernels' view of a 2-D padded geometry. */
function simdGeometryOf(g: PadGeometry) {
  return { n: g.rowLength, rows: g.volume / g.rowLength, pw: g.paddedRow, pv: g.paddedVolume, v: g.volume };
}

function is2d3x3(g: PadGeometry): boolean {
  return g.lattice.length === 2 && g.kernel[0] === 3 && g.kernel[1] === 3;
}

/** Fill the halo of a 2-D padded plane (kernel 3×3) whose interior is set. */
function wrap2d(P: FloatArray, po: number, rows: number, n: number, pw: number): void {
  for (let r = 1; r <= rows; r++) {
    const pr = po + r * pw;
    P[pr] = P[pr + n]!;
    P[pr + n + 1] = P[pr + 1]!;
  }
  P.copyWithin(po, po + rows * pw, po + (rows + 1) * pw);
  P.copyWithin(po + (rows + 1) * pw, po + pw, po + 2 * pw);
}

/** Padded copies of planes (padPlanes), by rows in the 2-D 3×3 case. */
function pad(src: FloatArray, planes: number, g: PadGeometry, out: FloatArray): void {
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

function fillBias(y: FloatArray, bias: FloatArray, nb: number, c: number, v: number) {
  for (let q = 0; q < nb * c; q++) y.fill(bias[q % c]!, q * v, (q + 1) * v);
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
function activeMask(frozen: Uint8Array): Float32Array {
  let m = activeCache.get(frozen);
  if (!m) {
    m = new Float32Array(frozen.length);
    for (let s = 0; s < frozen.length; s++) m[s] = frozen[s] ? 0 : 1;
    activeCache.set(frozen, m);
  }
  return m;
}

/**
 * tanh of (s, t) at active sites (in place in h) and the packed output [B, V+1]. float32
 * with SIMD: the WebAssembly kernel of simd-couple.ts (float32 tanh/exp, equal to this loop
 * within float32 rounding).
 */
function couple(
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
      h[hs + s] = Math.tanh(h[hs + s]!);
      h[ht + s] = Math.tanh(h[ht + s]!);
      const sv = h[hs + s]!; // read back: the stored (possibly float32) values are s and t
      const tv = h[ht + s]!;
      out[yo + s] = inverse ? (xv - tv) * Math.exp(-sv) : xv * Math.exp(sv) + tv;
      ld += sv;
    }
    out[yo + v] = inverse ? -ld : ld;
  }
}

/** m⊙x, periodically padded: the first conv's input. */
function padFrozen(xd: FloatArray, frozen: Uint8Array, nb: number, g: PadGeometry, P0: FloatArray): void {
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
 * The untaped forward entirely in WebAssembly memory: every conv, PReLU and padding is a
 * SIMD kernel passing data in place (no copies between kernels). Same arithmetic per
 * element as couplingPacked (float64: bit-identical). Null where SIMD does not apply.
 */
function couplingResident(
  x: Tensor,
  net: CouplingNet,
  maskParity: 0 | 1,
  inverse: boolean,
): FloatArray | null {
  const dtype = x.dtype;
  const nb = x.shape[0]!;
  const lattice = x.shape.slice(1);
  const kernel = net.weights[0]!.shape.slice(2);
  const g = padGeometry(lattice, kernel);
  if (!is2d3x3(g)) return null;
  const v = g.volume;
  const pv = g.paddedVolume;
  const n = net.weights.length;
  const sizes = [1, ...net.weights.map((w) => w.shape[0]!)];
  // One slot of WebAssembly memory per array: padded conv inputs, pre-activations, h, the
  // parameters, and for the float32 end x, the active-site mask and the packed output.
  const arrays: number[] = [];
  const slot = (size: number) => arrays.push(size) - 1;
  const iP = sizes.slice(0, n).map((c) => slot(nb * c * pv));
  const iZ = sizes.slice(1, n).map((c) => slot(nb * c * v));
  const iH = slot(nb * 2 * v);
  const iW = net.weights.map((w) => slot(w.size));
  const iA = net.alphas.map((al) => slot(al.size));
  const iB = net.biases.map((bi) => slot(bi.size));
  const iX = slot(nb * v);
  const iM = slot(v);
  const iOut = slot(nb * (v + 1));
  const ar = arena(dtype, arrays, simdGeometryOf(g));
  if (!ar) return null;
  const frozen = frozenSites(lattice, maskParity);
  padFrozen(x.data, frozen, nb, g, ar.view(iP[0]!));
  for (let l = 0; l < n; l++) ar.view(iW[l]!).set(net.weights[l]!.data);
  for (let l = 0; l < n - 1; l++) ar.view(iA[l]!).set(net.alphas[l]!.data);
  for (let l = 0; l < n; l++) ar.view(iB[l]!).set(net.biases[l]!.data);
  const off = ar.offsets;
  for (let l = 0; l < n; l++) {
    const c = sizes[l + 1]!;
    const last = l === n - 1;
    const zi = last ? iH : iZ[l]!;
    // (element loops over views of WebAssembly memory are slow in V8: a kernel fills)
    ar.kernels.fillBias(off[iB[l]!]!, off[zi]!, nb * c, c, 0, 0);
    ar.kernels.correlate(off[iP[l]!]!, off[iW[l]!]!, off[zi]!, nb, sizes[l]!, c);
    if (!last) {
      const shared = net.alphas[l]!.size === 1;
      ar.kernels.preluPad(off[zi]!, off[iP[l + 1]!]!, off[iA[l]!]!, nb * c, c, shared ? 0 : 1);
    }
  }
  const out = allocate(dtype, nb * (v + 1));
  const k = ar.kernels.coupleF32;
  if (k && x.data instanceof Float32Array) {
    ar.view(iX).set(x.data);
    ar.view(iM).set(activeMask(frozen));
    k(off[iX]!, off[iH]!, off[iM]!, off[iOut]!, nb, inverse ? 1 : 0);
    out.set(ar.view(iOut));
    return out;
  }
  couple(x.data, ar.view(iH), frozen, nb, v, inverse, out, g);
  return out;
}

/** The fused coupling op; returns the packed [B, V+1] output (y, then log|det J| per row). */
function couplingPacked(x: Tensor, net: CouplingNet, maskParity: 0 | 1, inverse: boolean): Tensor {
  checkNet(x, net);
  const dtype = x.dtype;
  const nb = x.shape[0]!;
  const lattice = x.shape.slice(1);
  const kernel = net.weights[0]!.shape.slice(2);
  const g = padGeometry(lattice, kernel);
  const v = g.volume;
  const pv = g.paddedVolume;
  const n = net.weights.length;
  const sizes = [1, ...net.weights.map((w) => w.shape[0]!)];
  const frozen = frozenSites(lattice, maskParity);
  const qf = frozenParity(maskParity);
  const qa = qf ^ 1;
  const xd = x.data;

  // Padded inputs of each conv (P[0] = m⊙x) and pre-activations z[l] of each hidden layer.
  const P: FloatArray[] = [];
  const z: FloatArray[] = [];
  const P0 = acquire(dtype, nb * pv);
  padFrozen(xd, frozen, nb, g, P0);
  P.push(P0);
  for (let l = 0; l < n - 1; l++) {
    const c = sizes[l + 1]!;
    const zl = acquire(dtype, nb * c * v);
    fillBias(zl, net.biases[l]!.data, nb, c, v);
    correlate(P[l]!, net.weights[l]!.data, zl, nb, sizes[l]!, c, g);
    z.push(zl);
    const Pn = acquire(dtype, nb * c * pv);
    padPrelu(zl, c, nb, net.alphas[l]!.data, g, Pn);
    P.push(Pn);
  }
  // Last conv at the active sites only; h = tanh of it (frozen entries of h are unused).
  const h = acquire(dtype, nb * 2 * v);
  fillBias(h, net.biases[n - 1]!.data, nb, 2, v);
  // With SIMD kernels all sites cost less than the active half in scalar code.
  const simd = simdApplies(dtype, g.rowLength) && is2d3x3(g);
  if (simd) correlate(P[n - 1]!, net.weights[n - 1]!.data, h, nb, sizes[n - 1]!, 2, g);
  else correlateSites(P[n - 1]!, net.weights[n - 1]!.data, h, nb, sizes[n - 1]!, 2, g, qa);

  const out = allocate(dtype, nb * (v + 1));
  couple(xd, h, frozen, nb, v, inverse, out, g);

  const inputs: Tensor[] = [x];
  for (let l = 0; l < n; l++) {
    inputs.push(net.weights[l]!, net.biases[l]!);
    if (l < n - 1) inputs.push(net.alphas[l]!);
  }
  const packed = record(new Tensor(out, [nb, v + 1]), inputs, (gOut, needs) => {
    const res: (FloatArray | null)[] = new Array(inputs.length).fill(null);
    // Cotangents of the last conv's pre-activation (s, t channels), nonzero at active sites.
    let gz = acquireZeroed(dtype, nb * 2 * v);
    const gx = needs[0] ? allocate(dtype, nb * v) : null;
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
          const e = Math.exp(-sv);
          gs = -gy * ((xv - tv) * e) - gld;
          gt = -gy * e;
          if (gx) gx[xo + s] = gy * e;
        } else {
          const e = Math.exp(sv);
          gs = gy * xv * e + gld;
          gt = gy;
          if (gx) gx[xo + s] = gy * e;
        }
        gz[hs + s] = gs * (1 - sv * sv);
        gz[ht + s] = gt * (1 - tv * tv);
      }
    }
    // Walk the convs backwards. Input index of conv l's weight, bias, slope in `inputs`.
    const wIdx = (l: number) => 1 + 3 * l;
    for (let l = n - 1; l >= 0; l--) {
      const cin = sizes[l]!;
      const cout = sizes[l + 1]!;
      const w = net.weights[l]!;
      const last = l === n - 1;
      if (needs[wIdx(l)]) {
        const gw = allocate(dtype, w.size);
        if (last && !simd) correlateWeightGradSites(P[l]!, gz, gw, nb, cin, cout, g, qa);
        else correlateWeightGrad(P[l]!, gz, gw, nb, cin, cout, g);
        res[wIdx(l)] = gw;
      }
      if (needs[wIdx(l) + 1]) {
        const gb = allocate(dtype, cout);
        for (let q = 0; q < nb * cout; q++) {
          let s = 0;
          for (let j = q * v; j < (q + 1) * v; j++) s += gz[j]!;
          gb[q % cout]! += s;
        }
        res[wIdx(l) + 1] = gb;
      }
      if (l === 0 && !gx) {
        release(gz);
        break;
      }
      // Cotangent of conv l's input (unpadded).
      const Pg = acquire(dtype, nb * cout * pv);
      pad(gz, nb * cout, g, Pg);
      const wT = adjointWeights(w.data, cin, cout, g.taps.length, allocate(dtype, w.size));
      if (l === 0) {
        // x reaches the conditioner only through the frozen sites.
        const gc = acquireZeroed(dtype, nb * v);
        if (simd) correlate(Pg, wT, gc, nb, cout, 1, g);
        else correlateSites(Pg, wT, gc, nb, cout, 1, g, qf);
        for (let i = 0; i < nb * v; i++) if (frozen[i % v]) gx![i]! += gc[i];
        release(Pg, gc, gz);
        break;
      }
      const ga = acquireZeroed(dtype, nb * cin * v);
      correlate(Pg, wT, ga, nb, cout, cin, g);
      release(Pg, gz);
      // PReLU backward through z[l−1].
      const zl = z[l - 1]!;
      const alpha = net.alphas[l - 1]!;
      const shared = alpha.size === 1;
      const gAlpha = needs[wIdx(l - 1) + 2] ? allocate(dtype, alpha.size) : null;
      for (let q = 0; q < nb * cin; q++) {
        const ch = shared ? 0 : q % cin;
        const a = alpha.data[ch]!;
        let acc = 0;
        for (let i = q * v; i < (q + 1) * v; i++) {
          // Branch-free as in padPrelu; for z ≥ 0 the slope term adds 0·z.
          const zv = zl[i]!;
          const gv = ga[i]!;
          const neg = +(zv < 0);
          acc += gv * zv * neg;
          ga[i] = gv * (neg * a + (1 - neg));
        }
        if (gAlpha) gAlpha[ch]! += acc;
      }
      res[wIdx(l - 1) + 2] = gAlpha;
      gz = ga;
      if (l - 1 === 0 && !gx && !needs[wIdx(0)] && !needs[wIdx(0) + 1]) {
        release(gz);
        break;
      }
    }
    res[0] = gx;
    release(...P, ...z, h);
    return res;
  });
  if (packed.tapeId === 0) release(...P, ...z, h);
  return packed;
}

/** Samples per call of the op when nothing is recorded (keeps the scratch in cache). */
const CHUNK = 64;

/** Fused coupling layer: y and log|det J| (shape [B]) for x [B, ...L]. */
export function couplingLayer(
  x: Tensor,
  net: CouplingNet,
  maskParity: 0 | 1,
  inverse = false,
): { y: Tensor; logDet: Tensor } {
  const nb = x.shape[0]!;
  const v = x.size / nb;
  const all = [x, ...net.weights, ...net.biases, ...net.alphas];
  if (!willRecord(all)) {
    // Without a tape (sampling), big batches go in chunks whose scratch stays in cache;
    // every sample is computed exactly as in one call.
    const y = allocate(x.dtype, x.size);
    const logDet = allocate(x.dtype, nb);
    for (let b0 = 0; b0 < nb; b0 += CHUNK) {
      const m = Math.min(CHUNK, nb - b0);
      const xc = new Tensor(x.data.subarray(b0 * v, (b0 + m) * v), [m, ...x.shape.slice(1)]);
      const pk =
        couplingResident(xc, net, maskParity, inverse) ?? couplingPacked(xc, net, maskParity, inverse).data;
      for (let b = 0; b < m; b++) {
        const src = b * (v + 1);
        const dst = (b0 + b) * v;
        for (let s = 0; s < v; s++) y[dst + s] = pk[src + s]!;
        logDet[b0 + b] = pk[src + v]!;
      }
    }
    return { y: new Tensor(y, x.shape), logDet: new Tensor(logDet, [nb]) };
  }
  const packed = couplingPacked(x, net, maskParity, inverse);
  const y = reshape(slice(packed, 1, 0, v), x.shape);
  const logDet = reshape(slice(packed, 1, v, 1), [nb]);
  return { y, logDet };
}
