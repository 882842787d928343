/**
 * Settings that run far below this machine's speed, said before training starts. The scaling
 * runs (docs/scaling.md) found the one that matters: float32 affine couplings on lattices whose
 * rows hold 6, 10 or 14 sites fall off the WebAssembly SIMD kernels (float32 needs a multiple
 * of 4 sites, float64 of 2), and a step at L = 14 took 0.73 s instead of 0.30 s in float64.
 */
import { fusedCouplingUsesSimd } from "../flows/fused-affine.js";
import type { RunConfig } from "./run-config.js";
import { configShapeOf } from "./theory-spec.js";

/** One line per setting that is much slower than an equivalent one; empty if none. */
export function speedWarnings(config: RunConfig): string[] {
  const { flow, train } = config;
  if (flow.kind !== "affine-cnn" || train.dtype !== "float32") return [];
  const shape = configShapeOf(config.theory);
  if (fusedCouplingUsesSimd("float32", shape, flow.kernel)) return [];
  if (!fusedCouplingUsesSimd("float64", shape, flow.kernel)) return [];
  return [
    `float32 affine couplings on rows of ${shape[shape.length - 1]} sites run without WebAssembly SIMD (float32 needs a multiple of 4 sites); --dtype float64 keeps SIMD and is faster (2.5× at L = 14)`,
  ];
}
