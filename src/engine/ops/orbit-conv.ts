/**
 * A periodic convolution whose kernel covers the whole lattice and is tied across orbits of
 * offsets (the equivariant continuous flow of arXiv 2207.00283): for features h [B, V, F],
 * orbit weights k [O, F] and index[y·V + x] = o(y − x) ∈ [0, O),
 *
 *   v[b, x] = Σ_y Σ_f k[index[y·V + x], f] · h[b, y, f]        output [B, V]
 *
 * computed as h [B, V·F] × M [V·F, V] with M[(y, f), x] = k[index[y·V + x], f] built in a scratch
 * buffer, so the tape keeps h and k only (not the V²·F matrix). Gradients:
 *   ∂/∂h = ḡ Mᵀ,    ∂/∂k[o, f] = Σ_{(y,x): index = o} (hᵀ ḡ)[(y, f), x].
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { gemm } from "./matmul.js";

function buildMatrix(k: FloatArray, index: Int32Array, V: number, F: number, M: FloatArray): void {
  for (let y = 0; y < V; y++)
    for (let x = 0; x < V; x++) {
      const o = index[y * V + x]! * F;
      const base = y * F * V + x;
      for (let f = 0; f < F; f++) M[base + f * V] = k[o + f]!;
    }
}

export function orbitConv(h: Tensor, kern: Tensor, index: Int32Array): Tensor {
  if (h.rank !== 3 || kern.rank !== 2 || h.shape[2] !== kern.shape[1])
    throw new RangeError(`orbitConv: features [${h.shape}] and kernel [${kern.shape}] do not fit`);
  const [B, V, F] = h.shape as [number, number, number];
  const O = kern.shape[0]!;
  if (index.length !== V * V)
    throw new RangeError(`orbitConv: index has ${index.length} entries, not V² = ${V * V}`);
  for (const o of index)
    if (o < 0 || o >= O) throw new RangeError(`orbitConv: orbit ${o} out of range [0, ${O})`);
  if (h.dtype !== kern.dtype) throw new TypeError(`orbitConv: dtype mismatch ${h.dtype} vs ${kern.dtype}`);
  const dtype = h.dtype;
  const M = allocate(dtype, V * F * V);
  buildMatrix(kern.data, index, V, F, M);
  const v = allocate(dtype, B * V);
  gemm({ m: B, n: V, p: V * F, a: h.data, aT: false, b: M, bT: false, bias: null }, v);
  return record(new Tensor(v, [B, V]), [h, kern], (g, needs) => {
    let gh: FloatArray | null = null;
    let gk: FloatArray | null = null;
    if (needs[0]) {
      const Mb = allocate(dtype, V * F * V);
      buildMatrix(kern.data, index, V, F, Mb);
      gh = allocate(dtype, B * V * F); // ḡ Mᵀ
      gemm({ m: B, n: V * F, p: V, a: g, aT: false, b: Mb, bT: true, bias: null }, gh);
    }
    if (needs[1]) {
      const gM = allocate(dtype, V * F * V); // hᵀ ḡ
      gemm({ m: V * F, n: V, p: B, a: h.data, aT: true, b: g, bT: false, bias: null }, gM);
      const acc = new Float64Array(O * F);
      for (let y = 0; y < V; y++)
        for (let x = 0; x < V; x++) {
          const o = index[y * V + x]! * F;
          const base = y * F * V + x;
          for (let f = 0; f < F; f++) acc[o + f]! += gM[base + f * V];
        }
      gk = allocate(dtype, O * F);
      gk.set(acc);
    }
    return [gh, gk];
  });
}
