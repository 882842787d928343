/**
 * The U(1) gauge-equivariant flow of arXiv 2003.06413 and the tutorial (make_u1_equiv_layers,
 * arXiv 2101.08176): uniform (Haar) links, then `layers` gauge-equivariant couplings, layer i
 * at μ = i mod 2, offset (i // 2) mod 4, each transforming its active plaquettes with a circle
 * map (NCP mixtures, or circular splines, arXiv 2002.02428) whose parameters come from a
 * periodic CNN on (cos P, sin P) of the frozen plaquettes. 2-d lattices, extents multiples of 4.
 *
 * Parameters `{i}.plaq_coupling.net.{2j}.weight|bias`: the tutorial's ModuleList state_dict.
 */
import type { ElementwiseTransformer } from "./elementwise.js";
import { Flow } from "./flow.js";
import { GaugeEquivariantCoupling } from "./gauge-coupling.js";
import { MaskedCoupling } from "./masked-coupling.js";
import { PlaquetteConditioner } from "./plaquette-conditioner.js";
import { gaugeLayerPlacement, plaquetteMasks, plaquettePartition } from "./plaquette-masks.js";
import { UniformPrior } from "./uniform-prior.js";

export interface U1GaugeFlowConfig {
  /** [L0, L1], both multiples of 4. */
  latticeShape: readonly number[];
  layers: number;
  hidden: readonly number[];
  kernel: number;
  /** The circle map of the active plaquettes (shared: transformers hold no parameters). */
  transformer: ElementwiseTransformer;
}

/** Layer i: the plaquette coupling (partition, conditioner, circle map) and its link update. */
export function gaugeCouplingLayer(config: U1GaugeFlowConfig, i: number): GaugeEquivariantCoupling {
  const { mu, offset } = gaugeLayerPlacement(i);
  const masks = plaquetteMasks(config.latticeShape, mu, offset);
  const conditioner = new PlaquetteConditioner(masks, {
    hidden: config.hidden,
    kernel: config.kernel,
    outChannels: config.transformer.paramsPerElement,
  });
  const plaq = new MaskedCoupling(plaquettePartition(masks), conditioner, config.transformer);
  return new GaugeEquivariantCoupling(masks, plaq);
}

export function u1GaugeFlow(config: U1GaugeFlowConfig): Flow {
  const layers = Array.from({ length: config.layers }, (_, i) => gaugeCouplingLayer(config, i));
  return new Flow(new UniformPrior([2, ...config.latticeShape]), layers);
}
