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
 *    allocates no big arrays per step; where the SIMD kernels run they stay in WebAssembly
 *    memory instead (coupling-resident.ts: sampling, and float32 training).
 *
 * Output: a [B, V + 1] tensor per row y (V sites) then log|det J|; couplingLayer splits it.
 */
import { record, willRecord } from "../autodiff.js";
import {
  adjointWeights,
  correlate,
  correlateSites,
  correlateWeightGrad,
  correlateWeightGradSites,
  type PadGeometry,
  padGeometry,
} from "../ops/conv-kernels.js";
import { reshape, slice } from "../ops/shape.js";
import { acquire, acquireZeroed, release } from "../pool.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { simdApplies, simdCorrelate, simdPreluPad } from "../wasm/simd-runtime.js";
import { couplingResident, couplingTapedResident } from "./coupling-resident.js";
import {
  couple,
  frozenParity,
  frozenSites,
  is2d3x3,
  lastCotangent,
  pad,
  padFrozen,
  simdGeometryOf,
  wrap2d,
} from "./coupling-sites.js";

export interface CouplingNet {
  /** Conv weights [C_{l+1}, C_l, ...K], C_0 = 1, C_n = 2. */
  weights: readonly Tensor[];
  /** Conv biases [C_{l+1}]. */
  biases: readonly Tensor[];
  /** PReLU slopes after each conv but the last: [1] (shared) or [C_{l+1}]. */
  alphas: readonly Tensor[];
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

function fillBias(y: FloatArray, bias: FloatArray, nb: number, c: number, v: number) {
  for (let q = 0; q < nb * c; q++) y.fill(bias[q % c]!, q * v, (q + 1) * v);
}

/** y = bias + correlate(P, w): the bias fill in WebAssembly where the SIMD kernels run. */
function convBias(
  P: FloatArray,
  w: FloatArray,
  bias: FloatArray,
  y: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: PadGeometry,
): void {
  if (is2d3x3(g) && simdCorrelate(P, w, y, nb, cin, cout, simdGeometryOf(g), { bias })) return;
  fillBias(y, bias, nb, cout, g.volume);
  correlate(P, w, y, nb, cin, cout, g);
}

const zerosCache = new Map<string, FloatArray>();
function zeros(dtype: "float64" | "float32", n: number): FloatArray {
  const key = `${dtype}|${n}`;
  let z = zerosCache.get(key);
  if (!z) zerosCache.set(key, (z = allocate(dtype, n)));
  return z;
}

/**
 * The cotangent of a conv's input (unpadded) from the cotangent gz of its output: a
 * correlation of padded gz with the adjoint weights wT. Where the SIMD kernels run, the
 * padding and zeroing happen in WebAssembly memory, and in float32 also the PReLU backward
 * through z (then `sums` holds [Σ g·z·[z < 0], Σ g] per plane and the result is returned as
 * true); otherwise the caller runs the PReLU backward (false).
 */
function inputCotangent(
  gz: FloatArray,
  wT: FloatArray,
  out: FloatArray,
  nb: number,
  cin: number,
  cout: number,
  g: PadGeometry,
  prelu: { z: FloatArray; alpha: FloatArray; sums: Float32Array } | null,
): boolean {
  const dtype = gz instanceof Float32Array ? "float32" : "float64";
  if (is2d3x3(g)) {
    const geom = simdGeometryOf(g);
    const bias = zeros(dtype, cin);
    if (prelu && dtype === "float32") {
      const alpha = new Float32Array(cin).map((_, ch) => prelu.alpha[prelu.alpha.length === 1 ? 0 : ch]!);
      const z = prelu.z as Float32Array;
      const sums = prelu.sums;
      if (
        simdCorrelate(gz, wT, out, nb, cout, cin, geom, {
          bias,
          padInput: true,
          preluBackward: { z, alpha, sums },
        })
      )
        return true;
    }
    if (simdCorrelate(gz, wT, out, nb, cout, cin, geom, { bias, padInput: true })) return false;
  }
  const Pg = acquire(dtype, nb * cout * g.paddedVolume);
  pad(gz, nb * cout, g, Pg);
  out.fill(0);
  correlate(Pg, wT, out, nb, cout, cin, g);
  release(Pg);
  return false;
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
  const inputs: Tensor[] = [x];
  for (let l = 0; l < n; l++) {
    inputs.push(net.weights[l]!, net.biases[l]!);
    if (l < n - 1) inputs.push(net.alphas[l]!);
  }
  const resident = couplingTapedResident(x, net, maskParity, inverse, inputs);
  if (resident) return resident;
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
    convBias(P[l]!, net.weights[l]!.data, net.biases[l]!.data, zl, nb, sizes[l]!, c, g);
    z.push(zl);
    const Pn = acquire(dtype, nb * c * pv);
    padPrelu(zl, c, nb, net.alphas[l]!.data, g, Pn);
    P.push(Pn);
  }
  // Last conv at the active sites only; h = tanh of it (frozen entries of h are unused).
  const h = acquire(dtype, nb * 2 * v);
  // With SIMD kernels all sites cost less than the active half in scalar code.
  const simd = simdApplies(dtype, g.rowLength) && is2d3x3(g);
  if (simd)
    convBias(P[n - 1]!, net.weights[n - 1]!.data, net.biases[n - 1]!.data, h, nb, sizes[n - 1]!, 2, g);
  else {
    fillBias(h, net.biases[n - 1]!.data, nb, 2, v);
    correlateSites(P[n - 1]!, net.weights[n - 1]!.data, h, nb, sizes[n - 1]!, 2, g, qa);
  }

  const out = allocate(dtype, nb * (v + 1));
  couple(xd, h, frozen, nb, v, inverse, out, g);

  const packed = record(new Tensor(out, [nb, v + 1]), inputs, (gOut, needs) => {
    const res: (FloatArray | null)[] = new Array(inputs.length).fill(null);
    // Cotangents of the last conv's pre-activation (s, t channels), nonzero at active sites.
    let gz = acquireZeroed(dtype, nb * 2 * v);
    const gx = needs[0] ? allocate(dtype, nb * v) : null;
    lastCotangent(gOut, h, xd, frozen, nb, v, inverse, gz, gx);
    // Walk the convs backwards. Input index of conv l's weight, bias, slope in `inputs`.
    const wIdx = (l: number) => 1 + 3 * l;
    // Per-plane sums of gz when the PReLU backward that made it ran in WebAssembly.
    let planeSums: Float32Array | null = null;
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
        if (planeSums) for (let q = 0; q < nb * cout; q++) gb[q % cout]! += planeSums[2 * q + 1];
        else
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
      const wT = adjointWeights(w.data, cin, cout, g.taps.length, allocate(dtype, w.size));
      if (l === 0) {
        // x reaches the conditioner only through the frozen sites.
        const gc = acquire(dtype, nb * v);
        if (simd) inputCotangent(gz, wT, gc, nb, 1, cout, g, null);
        else {
          const Pg = acquire(dtype, nb * cout * pv);
          pad(gz, nb * cout, g, Pg);
          gc.fill(0);
          correlateSites(Pg, wT, gc, nb, cout, 1, g, qf);
          release(Pg);
        }
        for (let i = 0; i < nb * v; i++) if (frozen[i % v]) gx![i]! += gc[i];
        release(gc, gz);
        break;
      }
      const ga = acquire(dtype, nb * cin * v);
      // PReLU backward through z[l−1]: in WebAssembly (float32) or here.
      const zl = z[l - 1]!;
      const alpha = net.alphas[l - 1]!;
      const shared = alpha.size === 1;
      const gAlpha = needs[wIdx(l - 1) + 2] ? allocate(dtype, alpha.size) : null;
      const sums = dtype === "float32" ? new Float32Array(2 * nb * cin) : null;
      const fused = inputCotangent(gz, wT, ga, nb, cin, cout, g, sums && { z: zl, alpha: alpha.data, sums });
      release(gz);
      if (fused) {
        if (gAlpha) for (let q = 0; q < nb * cin; q++) gAlpha[shared ? 0 : q % cin]! += sums![2 * q];
        planeSums = sums;
      } else {
        planeSums = null;
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
