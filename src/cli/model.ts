/** Build the theory and the flow a run configuration describes. */
import { affineCouplingFlow } from "../flows/affine-flow.js";
import type { Flow } from "../flows/flow.js";
import { Phi4Theory } from "../theories/phi4.js";
import { latticeShapeOf, type RunConfig } from "./config.js";

export function buildModel(c: RunConfig): { theory: Phi4Theory; flow: Flow } {
  const latticeShape = latticeShapeOf(c);
  const theory = new Phi4Theory({ latticeShape, m2: c.m2, lam: c.lam });
  const flow = affineCouplingFlow({
    latticeShape,
    layers: c.layers,
    hidden: c.hidden,
    kernel: c.kernel,
    identityInit: c.identityInit,
  });
  return { theory, flow };
}
