/**
 * Periodic (circular) convolution on d-dimensional lattices, d = 1..4, odd kernels, any channels.
 * Same cross-correlation convention as PyTorch's ConvNd(padding_mode='circular', padding=k//2):
 *
 *   y[b,o,x] = bias[o] + Σ_i Σ_k w[o,i,k] · x[b,i, x + k − ⌊K/2⌋ (mod L)]
 *
 * with x: [B, Cin, ...L], w: [Cout, Cin, ...K], bias: [Cout]. Gradients:
 *   ∂/∂x[b,i,s] = Σ_o Σ_k w[o,i,k] · g[b,o, s − (k − ⌊K/2⌋)]  (the same correlation of the
 *                 periodically padded g with mirrored, transposed weights)
 *   ∂/∂w[o,i,k] = Σ_b Σ_s g[b,o,s] · x[b,i, s + k − ⌊K/2⌋]
 *   ∂/∂bias[o]  = Σ_b Σ_s g[b,o,s]
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { adjointWeights, correlate, correlateWeightGrad, padGeometry, padPlanes } from "./conv-kernels.js";

function checkShapes(x: Tensor, w: Tensor, bias: Tensor | undefined) {
  const d = x.rank - 2;
  if (d < 1 || d > 4)
    throw new RangeError("periodicConv: input must be [B, C, ...sites] with 1-4 lattice dims");
  if (w.rank !== d + 2 || w.shape[1] !== x.shape[1]) {
    throw new RangeError(`periodicConv: weight [${w.shape}] does not fit input [${x.shape}]`);
  }
  for (let a = 0; a < d; a++) {
    if (w.shape[2 + a]! % 2 !== 1) {
      throw new RangeError(`periodicConv: kernel sizes must be odd, got [${w.shape.slice(2)}]`);
    }
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== w.shape[0])) {
    throw new RangeError(`periodicConv: bias [${bias.shape}] does not match ${w.shape[0]} output channels`);
  }
  if (x.dtype !== w.dtype) throw new TypeError(`periodicConv: dtype mismatch ${x.dtype} vs ${w.dtype}`);
}

export function periodicConv(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
  checkShapes(x, w, bias);
  const lattice = x.shape.slice(2);
  const geo = padGeometry(lattice, w.shape.slice(2));
  const nb = x.shape[0]!;
  const cin = x.shape[1]!;
  const cout = w.shape[0]!;
  const v = geo.volume;
  const nk = geo.taps.length;
  const P = padPlanes(x.data, nb * cin, geo, allocate(x.dtype, nb * cin * geo.paddedVolume));
  const y = allocate(x.dtype, nb * cout * v);
  if (bias) for (let q = 0; q < nb * cout; q++) y.fill(bias.data[q % cout]!, q * v, (q + 1) * v);
  correlate(P, w.data, y, nb, cin, cout, geo);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(new Tensor(y, [nb, cout, ...lattice]), inputs, (g, needs) => {
    let gx: FloatArray | null = null;
    let gw: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (needs[0]) {
      const Pg = padPlanes(g, nb * cout, geo, allocate(x.dtype, nb * cout * geo.paddedVolume));
      const wT = adjointWeights(w.data, cin, cout, nk, allocate(x.dtype, w.size));
      gx = allocate(x.dtype, x.size);
      correlate(Pg, wT, gx, nb, cout, cin, geo);
    }
    if (needs[1]) {
      gw = allocate(x.dtype, w.size);
      correlateWeightGrad(P, g, gw, nb, cin, cout, geo);
    }
    if (bias && needs[2]) {
      gb = allocate(x.dtype, cout);
      for (let q = 0; q < nb * cout; q++) {
        let s = 0;
        for (let j = q * v; j < (q + 1) * v; j++) s += g[j]!;
        gb[q % cout]! += s;
      }
    }
    return [gx, gw, gb];
  });
}
