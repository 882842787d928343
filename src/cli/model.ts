/** Build the theory and the flow a run configuration describes. */
import { affineCouplingFlow } from "../flows/affine-flow.js";
import type { Flow } from "../flows/flow.js";
import type { ModelSpec } from "../parallel/shard.js";
import { Phi4Theory } from "../theories/phi4.js";
import { latticeShapeOf, type RunConfig } from "./config.js";

export function buildModel(c: RunConfig): { theory: Phi4Theory; flow: Flow } {
  const spec = modelSpec(c);
  return { theory: new Phi4Theory(spec.theory), flow: affineCouplingFlow(spec.flow) };
}

/** The same model as plain data, from which the worker threads of src/parallel rebuild it. */
export function modelSpec(c: RunConfig): ModelSpec {
  const latticeShape = latticeShapeOf(c);
  return {
    flow: {
      latticeShape,
      layers: c.layers,
      hidden: c.hidden,
      kernel: c.kernel,
      identityInit: c.identityInit,
    },
    theory: { latticeShape, m2: c.m2, lam: c.lam },
    dtype: c.dtype,
  };
}
