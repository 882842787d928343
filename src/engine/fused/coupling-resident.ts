/**
 * The fused coupling op (coupling.ts) with its arrays resident in WebAssembly memory, so
 * consecutive SIMD kernels pass data in place instead of copying to and from ordinary arrays
 * around every call (at L = 32 those copies cost a fifth of a training step; writing into
 * big cold arrays is the expensive half):
 *  - couplingResident: the untaped forward (sampling), float64 and float32;
 *  - couplingTapedResident: the taped float32 forward, whose padded inputs and
 *    pre-activations stay in WebAssembly memory until the backward pass has used them.
 * Same arithmetic per element as couplingPacked's SIMD path. Null where SIMD does not
 * apply; the caller then runs couplingPacked.
 */
import { record } from "../autodiff.js";
import { adjointWeights, padGeometry } from "../ops/conv-kernels.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { alloc, free, heapFits, view } from "../wasm/simd-heap.js";
import { arena, correlateResident, kernelsFor, weightGradResident } from "../wasm/simd-runtime.js";
import type { CouplingNet } from "./coupling.js";
import {
  activeMask,
  couple,
  frozenSites,
  is2d3x3,
  lastCotangent,
  padFrozen,
  simdGeometryOf,
} from "./coupling-sites.js";

/** The untaped forward: the packed output [B, V+1], or null where SIMD does not apply. */
export function couplingResident(
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
  const geom = simdGeometryOf(g);
  const v = g.volume;
  const pv = g.paddedVolume;
  const n = net.weights.length;
  const sizes = [1, ...net.weights.map((w) => w.shape[0]!)];
  // One region of WebAssembly memory per array: padded conv inputs, pre-activations, h, the
  // parameters, and for the float32 end x, the active-site mask and the packed output.
  const arrays: number[] = [];
  const slot = (size: number) => arrays.push(size) - 1;
  const iP = sizes.slice(0, n).map((c) => slot(nb * c * pv));
  const iZ = sizes.slice(1, n).map((c) => slot(nb * c * v));
  const iH = slot(nb * 2 * v);
  const iA = net.alphas.map((al) => slot(al.size));
  const iX = slot(nb * v);
  const iM = slot(v);
  const iOut = slot(nb * (v + 1));
  const ar = arena(dtype, arrays, geom);
  if (!ar) return null;
  try {
    const frozen = frozenSites(lattice, maskParity);
    padFrozen(x.data, frozen, nb, g, ar.view(iP[0]!));
    for (let l = 0; l < n - 1; l++) ar.view(iA[l]!).set(net.alphas[l]!.data);
    const off = ar.offsets;
    for (let l = 0; l < n; l++) {
      const c = sizes[l + 1]!;
      const last = l === n - 1;
      const zi = last ? iH : iZ[l]!;
      const bias = net.biases[l]!.data;
      correlateResident(dtype, geom, off[iP[l]!]!, net.weights[l]!.data, off[zi]!, nb, sizes[l]!, c, bias);
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
  } finally {
    ar.release();
  }
}

/** Frees a tape's regions if it is dropped without a backward pass. */
const orphans = new FinalizationRegistry<{ regions: number[] }>((t) => {
  free(...t.regions.splice(0));
});

/** A region holding `data` (float32). */
function placed(data: Float32Array): number {
  const off = alloc(4 * data.length);
  view("float32", off, data.length).set(data);
  return off;
}

/**
 * The taped float32 forward with its activations resident in WebAssembly memory; the
 * packed output [B, V+1] recorded on the tape, or null where this path does not apply
 * (float64, other geometries, or the activations would not fit in the 32-bit heap).
 */
export function couplingTapedResident(
  x: Tensor,
  net: CouplingNet,
  maskParity: 0 | 1,
  inverse: boolean,
  inputs: Tensor[],
): Tensor | null {
  if (x.dtype !== "float32") return null;
  const nb = x.shape[0]!;
  const lattice = x.shape.slice(1);
  const g = padGeometry(lattice, net.weights[0]!.shape.slice(2));
  if (!is2d3x3(g)) return null;
  const geom = simdGeometryOf(g);
  const k = kernelsFor("float32", geom);
  if (!k?.coupleF32 || !k.preluBackF32) return null;
  const kk = k;
  const preluBack = k.preluBackF32;
  const v = g.volume;
  const pv = g.paddedVolume;
  const n = net.weights.length;
  const sizes = [1, ...net.weights.map((w) => w.shape[0]!)];
  const tapeFloats = sizes.slice(0, n).reduce((s, c, l) => s + nb * c * pv + (l > 0 ? nb * c * v : 0), 0);
  if (!heapFits(4 * (2 * tapeFloats + 8 * nb * (v + 1)))) return null;

  const frozen = frozenSites(lattice, maskParity);
  // The tape: padded inputs P[l] of every conv and pre-activations Z[l] of every hidden one.
  const tape = { regions: [] as number[] };
  const P: number[] = [];
  const Z: number[] = [];
  const p0 = new Float32Array(nb * pv);
  padFrozen(x.data, frozen, nb, g, p0);
  const h = new Float32Array(nb * 2 * v);
  const out = allocate("float32", nb * (v + 1)) as Float32Array;
  const temps: number[] = [];
  try {
    P.push(placed(p0));
    tape.regions.push(P[0]!);
    const H = alloc(4 * h.length);
    temps.push(H);
    for (let l = 0; l < n; l++) {
      const c = sizes[l + 1]!;
      const last = l === n - 1;
      const y = last ? H : alloc(4 * nb * c * v);
      if (!last) {
        Z.push(y);
        tape.regions.push(y);
      }
      correlateResident(
        "float32",
        geom,
        P[l]!,
        net.weights[l]!.data,
        y,
        nb,
        sizes[l]!,
        c,
        net.biases[l]!.data,
      );
      if (!last) {
        const next = alloc(4 * nb * c * pv);
        P.push(next);
        tape.regions.push(next);
        const alpha = placed(net.alphas[l]!.data as Float32Array);
        k.preluPad(y, next, alpha, nb * c, c, net.alphas[l]!.size === 1 ? 0 : 1);
        free(alpha);
      }
    }
    const X = placed(x.data as Float32Array);
    const M = placed(activeMask(frozen));
    const O = alloc(4 * out.length);
    temps.push(X, M, O);
    k.coupleF32(X, H, M, O, nb, inverse ? 1 : 0);
    out.set(view("float32", O, out.length));
    h.set(view("float32", H, h.length)); // s, t: the backward's JavaScript end reads them
  } catch (e) {
    free(...tape.regions);
    if (e instanceof RangeError) return null; // the heap could not grow: the copying path
    throw e;
  } finally {
    free(...temps);
  }

  const packed = record(new Tensor(out, [nb, v + 1]), inputs, (gOut, needs) => {
    try {
      return backward(gOut, needs);
    } finally {
      orphans.unregister(tape);
      free(...tape.regions.splice(0));
    }
  });
  if (packed.tapeId === 0) free(...tape.regions.splice(0));
  else orphans.register(packed, tape, tape);
  return packed;

  function backward(gOut: FloatArray, needs: readonly boolean[]): (FloatArray | null)[] {
    const res: (FloatArray | null)[] = new Array(inputs.length).fill(null);
    const wIdx = (l: number) => 1 + 3 * l; // weight, bias, slope of conv l in `inputs`
    const gz = new Float32Array(nb * 2 * v);
    const gx = needs[0] ? (allocate("float32", nb * v) as Float32Array) : null;
    lastCotangent(gOut, h, x.data, frozen, nb, v, inverse, gz, gx);
    let GZ = placed(gz);
    const one = placed(new Float32Array([1]));
    const zeros = new Float32Array(Math.max(...sizes));
    // Per-plane sums of the current cotangent (bias gradient), from the PReLU backward.
    let planeSums: Float32Array | null = null;
    try {
      for (let l = n - 1; l >= 0; l--) {
        const cin = sizes[l]!;
        const cout = sizes[l + 1]!;
        if (needs[wIdx(l)]) {
          const gw = allocate("float32", net.weights[l]!.size);
          weightGradResident("float32", geom, P[l]!, GZ, gw, nb, cin, cout);
          res[wIdx(l)] = gw;
        }
        if (needs[wIdx(l) + 1]) {
          const gb = allocate("float32", cout);
          if (planeSums) for (let q = 0; q < nb * cout; q++) gb[q % cout]! += planeSums[2 * q + 1];
          else
            for (let q = 0; q < nb * cout; q++) {
              let s = 0;
              for (let j = q * v; j < (q + 1) * v; j++) s += gz[j]!;
              gb[q % cout]! += s;
            }
          res[wIdx(l) + 1] = gb;
        }
        if (l === 0 && !gx) break;
        const w = net.weights[l]!;
        const wT = adjointWeights(w.data, cin, cout, g.taps.length, allocate("float32", w.size));
        // Cotangent of conv l's input: correlate the padded cotangent with the adjoint weights.
        const PG = alloc(4 * nb * cout * pv);
        const GA = alloc(4 * nb * cin * v);
        kk.preluPad(GZ, PG, one, nb * cout, cout, 0); // slope 1: a plain periodic pad
        correlateResident("float32", geom, PG, wT, GA, nb, cout, cin, zeros);
        free(PG, GZ);
        GZ = GA;
        if (l === 0) {
          // x reaches the conditioner only through the frozen sites.
          const gc = view("float32", GA, nb * v);
          for (let i = 0; i < nb * v; i++) if (frozen[i % v]) gx![i]! += gc[i];
          break;
        }
        // PReLU backward through Z[l−1], in place on GA, with per-plane sums.
        const alpha = net.alphas[l - 1]!;
        const shared = alpha.size === 1;
        const perChannel = new Float32Array(cin).map((_, ch) => alpha.data[shared ? 0 : ch]!);
        const AL = placed(perChannel);
        const S = alloc(4 * 2 * nb * cin);
        preluBack(Z[l - 1]!, GA, AL, S, nb * cin, cin);
        planeSums = view("float32", S, 2 * nb * cin).slice() as Float32Array;
        free(AL, S);
        if (needs[wIdx(l - 1) + 2]) {
          const gAlpha = allocate("float32", alpha.size);
          for (let q = 0; q < nb * cin; q++) gAlpha[shared ? 0 : q % cin]! += planeSums[2 * q];
          res[wIdx(l - 1) + 2] = gAlpha;
        }
        if (l - 1 === 0 && !gx && !needs[wIdx(0)] && !needs[wIdx(0) + 1]) break;
      }
    } finally {
      free(GZ, one);
    }
    res[0] = gx;
    return res;
  }
}
