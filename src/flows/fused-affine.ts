/**
 * The fast path of the notebook's layer: a checkerboard partition, a periodic-CNN conditioner
 * ending in tanh with 2 channels (s, t) and the unbounded affine transformer are, together,
 * the fused coupling op of src/engine/fused/coupling.ts (one tape node, WebAssembly kernels).
 * `fusedCouplingFor` recognises that configuration; MaskedCoupling uses it when it matches.
 */
import { couplingLayer, type DType, type Params, simdApplies, type Tensor } from "../engine/index.js";
import { AffineTransformer } from "./affine-transformer.js";
import { subParams } from "./bijector.js";
import { CnnConditioner } from "./cnn-conditioner.js";
import type { Conditioner } from "./conditioner.js";
import type { ElementwiseTransformer } from "./elementwise.js";
import type { Partition } from "./partition.js";

export interface FusedCoupling {
  forward(params: Params, x: Tensor): { y: Tensor; logDet: Tensor };
  inverse(params: Params, y: Tensor): { x: Tensor; logDet: Tensor };
}

export function fusedCouplingFor(
  partition: Partition,
  conditioner: Conditioner,
  transformer: ElementwiseTransformer,
): FusedCoupling | null {
  const parity = partition.checkerboardParity;
  if (parity === undefined) return null;
  if (!(conditioner instanceof CnnConditioner) || conditioner.config.outChannels !== 2) return null;
  if (!(transformer instanceof AffineTransformer) || transformer.options.boundedLogScale) return null;
  const net = (params: Params) => conditioner.net.couplingNet(subParams(params, "net"));
  return {
    forward: (params, x) => couplingLayer(x, net(params), parity, false),
    inverse: (params, y) => {
      const r = couplingLayer(y, net(params), parity, true);
      return { x: r.y, logDet: r.logDet };
    },
  };
}

/**
 * Whether the fused coupling runs its WebAssembly SIMD kernels for this lattice and dtype: they
 * take 2-d lattices, kernel 3, and rows a multiple of the vector lanes (4 sites in float32, 2 in
 * float64). Elsewhere the same op runs in plain TypeScript, several times slower.
 */
export function fusedCouplingUsesSimd(
  dtype: DType,
  latticeShape: readonly number[],
  kernel: number,
): boolean {
  return latticeShape.length === 2 && kernel === 3 && simdApplies(dtype, latticeShape[1]!);
}
