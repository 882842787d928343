/**
 * NeuralRG's RealNVP block (src/flows/neuralrg-block.ts) as one op: all `nlayers` affine
 * couplings of a 2×2 block, forward or inverse, on rows x [M, 4] → y [M, 4] and log|det J| [M],
 * with a backward that gives the cotangents of x and of every coupling's nine parameters.
 * The maths and the kernels' memory layout are in ../wasm/simd-neuralrg.ts; this file
 * streams the rows through the WebAssembly heap and chains the kernels:
 *
 *  - rows go through the heap in chunks of CHUNK rows, transposed to planes (one plane per
 *    variable: lanes = rows), zero-padded to a whole number of loop iterations; each chunk
 *    runs through every coupling (coupling-major within a chunk, so one coupling's weight
 *    table, ≈ 10 KiB at H = 64 float32, stays in L1 while the chunk streams past it);
 *  - the weights are broadcast into a table per call (Σ 5·(Hs + Ht) + 6 vectors per coupling),
 *    so the kernels' hidden loop reads whole vectors;
 *  - the forward keeps, when the op is recorded on a tape, a trace of 8 numbers per row and
 *    coupling (x_F, x_A·e^{s} or y_A, tanh, e^{±s}) instead of the nets' [M, H] activations:
 *    the backward recomputes each hidden unit (W₀x_F + b₀, ELU) per row;
 *  - the weight cotangents are summed per lane in the kernels, and the lanes added in float64
 *    after every chunk (a fixed order: the result does not depend on the engine).
 * Padded rows have x = 0 and zero cotangents, so they add exactly 0 to the weight cotangents.
 *
 * The output is one flat tensor (y [M, 4] then log|det| [M]) sliced in two, as the tape
 * records one output per op. Where WebAssembly SIMD is not available (or `setConvBackend("js")`
 * is in force) `neuralRgBlockFused` returns null and the caller takes its op path.
 */
import { record, willRecord } from "../autodiff.js";
import { reshape, slice } from "../ops/shape.js";
import { acquire, release } from "../pool.js";
import { allocate, type DType, type FloatArray, Tensor } from "../tensor.js";
import { alloc, free, view } from "../wasm/simd-heap.js";
import {
  couplingBytes,
  type NeuralRgGeometry,
  type NeuralRgKernels,
  neuralRgKernels,
  TRACE_PLANES,
} from "../wasm/simd-neuralrg.js";
import { convBackend } from "../wasm/simd-runtime.js";

/** One coupling: its parameters (PyTorch shapes) and its frozen / active block-local pairs. */
export interface NeuralRgCouplingParams {
  /** s.0.weight [Hs, 4], s.0.bias [Hs], s.2.weight [4, Hs], s.2.bias [4], s.scale [4]. */
  s0w: Tensor;
  s0b: Tensor;
  s2w: Tensor;
  s2b: Tensor;
  scale: Tensor;
  /** t.0.weight [Ht, 4], t.0.bias [Ht], t.2.weight [4, Ht], t.2.bias [4]. */
  t0w: Tensor;
  t0b: Tensor;
  t2w: Tensor;
  t2b: Tensor;
  frozen: ArrayLike<number>;
  active: ArrayLike<number>;
}

/** The parameter tensors of a coupling in the op's input order. */
const PARAM_KEYS = ["s0w", "s0b", "s2w", "s2b", "scale", "t0w", "t0b", "t2w", "t2b"] as const;

/** Rows per heap chunk (a multiple of every lanes·GROUP). */
export const NEURALRG_CHUNK = 512;
/**
 * Vectors per kernel loop iteration (4: 16 float32 / 8 float64 rows; 1.4× faster than 2 and
 * about as fast as 8 on the benchmark machine, an AMD EPYC).
 */
const GROUP = 4;

function geometry(hiddenS: number, hiddenT: number): NeuralRgGeometry {
  return { hiddenS, hiddenT, chunk: NEURALRG_CHUNK, group: GROUP };
}

/** The kernels for these widths, or null where they cannot run (no SIMD, JS backend). */
export function neuralRgFusedKernels(dtype: DType, hiddenS: number, hiddenT: number): NeuralRgKernels | null {
  if (convBackend() !== "wasm") return null;
  return neuralRgKernels(dtype, geometry(hiddenS, hiddenT));
}

function check(x: Tensor, cs: readonly NeuralRgCouplingParams[]): { hs: number; ht: number } {
  if (cs.length === 0) throw new RangeError("neuralRgBlockFused: no couplings");
  const hs = cs[0]!.s0b.size;
  const ht = cs[0]!.t0b.size;
  const want: Record<(typeof PARAM_KEYS)[number], number> = {
    s0w: hs * 4,
    s0b: hs,
    s2w: 4 * hs,
    s2b: 4,
    scale: 4,
    t0w: ht * 4,
    t0b: ht,
    t2w: 4 * ht,
    t2b: 4,
  };
  for (const c of cs) {
    for (const k of PARAM_KEYS)
      if (c[k].size !== want[k] || c[k].dtype !== x.dtype)
        throw new RangeError(`neuralRgBlockFused: parameter ${k} [${c[k].shape}] does not fit`);
    if (c.frozen.length !== 2 || c.active.length !== 2)
      throw new RangeError("neuralRgBlockFused: each coupling needs 2 frozen and 2 active variables");
  }
  return { hs, ht };
}

interface Layout {
  lanes: number;
  /** Element offsets in the heap view: state, trace, weights, weight cotangents. */
  s: number;
  t: number;
  w: number;
  gw: number;
  /** Elements per coupling: trace, weight table. */
  tPer: number;
  wPer: number;
  total: number;
}

function layout(dtype: DType, n: number, geo: NeuralRgGeometry): Layout {
  const eb = dtype === "float32" ? 4 : 8;
  const lanes = 16 / eb;
  const C = geo.chunk;
  const wPer = couplingBytes(geo) / eb;
  const tPer = TRACE_PLANES * C;
  const s = 0;
  const t = 5 * C;
  const w = t + n * tPer;
  const gw = w + n * wPer;
  return { lanes, s, t, w, gw, tPer, wPer, total: gw + n * wPer };
}

/** Broadcast every coupling's weights into the table, in order of application. */
function fillWeights(
  h: FloatArray,
  lay: Layout,
  cs: readonly NeuralRgCouplingParams[],
  order: (q: number) => number,
  hs: number,
  ht: number,
) {
  const L = lay.lanes;
  for (let q = 0; q < cs.length; q++) {
    const c = cs[order(q)]!;
    const f0 = c.frozen[0]!;
    const f1 = c.frozen[1]!;
    const a0 = c.active[0]!;
    const a1 = c.active[1]!;
    let o = lay.w + q * lay.wPer;
    const put = (v: number) => {
      for (let l = 0; l < L; l++) h[o++] = v;
    };
    for (const [w0, b0, w2, H] of [
      [c.s0w.data, c.s0b.data, c.s2w.data, hs],
      [c.t0w.data, c.t0b.data, c.t2w.data, ht],
    ] as const) {
      for (let k = 0; k < H; k++) {
        put(w0[k * 4 + f0]!);
        put(w0[k * 4 + f1]!);
        put(b0[k]!);
        put(w2[a0 * H + k]!);
        put(w2[a1 * H + k]!);
      }
    }
    put(c.s2b.data[a0]!);
    put(c.s2b.data[a1]!);
    put(c.scale.data[a0]!);
    put(c.scale.data[a1]!);
    put(c.t2b.data[a0]!);
    put(c.t2b.data[a1]!);
  }
}

/**
 * The whole block on x [M, 4] (rows of a 2×2 block's variables): y [M, 4] and log|det J| [M]
 * (couplings 0, 1, … forward; the reverse order, inverted, when `inverse`). Null where the
 * kernels cannot run; the caller then takes the op path.
 */
export function neuralRgBlockFused(
  x: Tensor,
  couplings: readonly NeuralRgCouplingParams[],
  inverse: boolean,
): { y: Tensor; logDet: Tensor } | null {
  const m = x.shape[0]!;
  if (x.size !== 4 * m || m === 0) return null;
  const { hs, ht } = check(x, couplings);
  const dtype = x.dtype;
  const k = neuralRgFusedKernels(dtype, hs, ht);
  if (!k) return null;
  const geo = geometry(hs, ht);
  const n = couplings.length;
  const lay = layout(dtype, n, geo);
  const eb = dtype === "float32" ? 4 : 8;
  const C = geo.chunk;
  const step = lay.lanes * geo.group;
  const order = (q: number) => (inverse ? n - 1 - q : q);
  const inputs: Tensor[] = [x];
  for (const c of couplings) for (const key of PARAM_KEYS) inputs.push(c[key]);
  const taped = willRecord(inputs);
  const nChunks = Math.ceil(m / C);
  const trace = taped ? acquire(dtype, nChunks * n * lay.tPer) : null;

  let off: number;
  try {
    off = alloc(lay.total * eb);
  } catch (e) {
    if (e instanceof RangeError) {
      release(trace);
      return null;
    }
    throw e;
  }
  const out = allocate(dtype, 5 * m); // y [M, 4], then log|det| [M]
  const xd = x.data;
  const fn = inverse ? k.inverse : k.forward;
  try {
    const h = view(dtype, off, lay.total);
    fillWeights(h, lay, couplings, order, hs, ht);
    const planeOf = (v: number) => v * C * eb;
    for (let ci = 0, r0 = 0; r0 < m; ci++, r0 += C) {
      const len = Math.min(C, m - r0);
      const padded = Math.ceil(len / step) * step;
      for (let v = 0; v < 4; v++) {
        const p = lay.s + v * C;
        for (let i = 0; i < len; i++) h[p + i] = xd[(r0 + i) * 4 + v]!;
        h.fill(0, p + len, p + padded);
      }
      h.fill(0, lay.s + 4 * C, lay.s + 4 * C + padded);
      for (let q = 0; q < n; q++) {
        const c = couplings[order(q)]!;
        fn(
          off + lay.s * eb,
          off + (lay.t + q * lay.tPer) * eb,
          off + (lay.w + q * lay.wPer) * eb,
          off + (lay.gw + q * lay.wPer) * eb,
          padded * eb,
          planeOf(c.frozen[0]!),
          planeOf(c.frozen[1]!),
          planeOf(c.active[0]!),
          planeOf(c.active[1]!),
        );
      }
      for (let v = 0; v < 4; v++) {
        const p = lay.s + v * C;
        for (let i = 0; i < len; i++) out[(r0 + i) * 4 + v] = h[p + i]!;
      }
      out.set(h.subarray(lay.s + 4 * C, lay.s + 4 * C + len), 4 * m + r0);
      if (trace) trace.set(h.subarray(lay.t, lay.t + n * lay.tPer), ci * n * lay.tPer);
    }
  } finally {
    free(off);
  }

  const joint = record(new Tensor(out, [5 * m]), inputs, (g, needs) => {
    const back = inverse ? k.inverseBack : k.forwardBack;
    const unitsS = 5 * hs;
    const per = 5 * (hs + ht) + 6; // vectors per coupling
    const acc = new Float64Array(n * per);
    const gx = needs[0] ? allocate(dtype, 4 * m) : null;
    const o2 = alloc(lay.total * eb); // the same size as the forward's: reused
    try {
      const h = view(dtype, o2, lay.total);
      fillWeights(h, lay, couplings, order, hs, ht);
      h.fill(0, lay.gw, lay.total);
      const planeOf = (v: number) => v * C * eb;
      const L = lay.lanes;
      for (let ci = 0, r0 = 0; r0 < m; ci++, r0 += C) {
        const len = Math.min(C, m - r0);
        const padded = Math.ceil(len / step) * step;
        for (let v = 0; v < 4; v++) {
          const p = lay.s + v * C;
          for (let i = 0; i < len; i++) h[p + i] = g[(r0 + i) * 4 + v]!;
          h.fill(0, p + len, p + padded);
        }
        const pl = lay.s + 4 * C;
        h.set(g.subarray(4 * m + r0, 4 * m + r0 + len), pl);
        h.fill(0, pl + len, pl + padded);
        h.set(trace!.subarray(ci * n * lay.tPer, (ci + 1) * n * lay.tPer), lay.t);
        for (let q = n - 1; q >= 0; q--) {
          const c = couplings[order(q)]!;
          back(
            o2 + lay.s * eb,
            o2 + (lay.t + q * lay.tPer) * eb,
            o2 + (lay.w + q * lay.wPer) * eb,
            o2 + (lay.gw + q * lay.wPer) * eb,
            padded * eb,
            planeOf(c.frozen[0]!),
            planeOf(c.frozen[1]!),
            planeOf(c.active[0]!),
            planeOf(c.active[1]!),
          );
        }
        if (gx)
          for (let v = 0; v < 4; v++) {
            const p = lay.s + v * C;
            for (let i = 0; i < len; i++) gx[(r0 + i) * 4 + v] = h[p + i]!;
          }
        // the lanes of the weight cotangents, added in float64, then cleared
        for (let q = 0; q < n; q++) {
          const base = lay.gw + q * lay.wPer;
          const ao = q * per;
          for (let i = 0; i < per; i++) {
            let s = 0;
            for (let l = 0; l < L; l++) s += h[base + i * L + l]!;
            acc[ao + i]! += s;
          }
        }
        h.fill(0, lay.gw, lay.total);
      }
    } finally {
      free(o2);
      release(trace);
    }
    const grads: (FloatArray | null)[] = [gx];
    const byJ: FloatArray[][] = new Array(n);
    for (let q = 0; q < n; q++) {
      const j = order(q);
      const c = couplings[j]!;
      const f0 = c.frozen[0]!;
      const f1 = c.frozen[1]!;
      const a0 = c.active[0]!;
      const a1 = c.active[1]!;
      const ao = q * per;
      const net = (H: number, u0: number) => {
        const w0 = allocate(dtype, H * 4);
        const b0 = allocate(dtype, H);
        const w2 = allocate(dtype, 4 * H);
        for (let kk = 0; kk < H; kk++) {
          const a = ao + u0 + 5 * kk;
          w0[kk * 4 + f0] = acc[a]!;
          w0[kk * 4 + f1] = acc[a + 1]!;
          b0[kk] = acc[a + 2]!;
          w2[a0 * H + kk] = acc[a + 3]!;
          w2[a1 * H + kk] = acc[a + 4]!;
        }
        return [w0, b0, w2];
      };
      const tail = ao + 5 * (hs + ht);
      const vec4 = (i: number) => {
        const v = allocate(dtype, 4);
        v[a0] = acc[tail + i]!;
        v[a1] = acc[tail + i + 1]!;
        return v;
      };
      const [s0w, s0b, s2w] = net(hs, 0) as [FloatArray, FloatArray, FloatArray];
      const [t0w, t0b, t2w] = net(ht, unitsS) as [FloatArray, FloatArray, FloatArray];
      byJ[j] = [s0w, s0b, s2w, vec4(0), vec4(2), t0w, t0b, t2w, vec4(4)];
    }
    for (let j = 0; j < n; j++)
      for (let i = 0; i < PARAM_KEYS.length; i++)
        grads.push(needs[1 + j * PARAM_KEYS.length + i] ? byJ[j]![i]! : null);
    return grads;
  });
  return {
    y: reshape(slice(joint, 0, 0, 4 * m), [m, 4]),
    logDet: slice(joint, 0, 4 * m, m),
  };
}
