/** A model description made real: the theory and the flow it describes. */
import type { Flow } from "../flows/flow.js";
import type { Theory } from "../theories/theory.js";
import { buildFlow } from "./flow-spec.js";
import type { ModelSpec } from "./run-config.js";
import { buildTheory } from "./theory-spec.js";

export interface Model {
  theory: Theory;
  flow: Flow;
}

export function buildModel(spec: Pick<ModelSpec, "theory" | "flow">): Model {
  return { theory: buildTheory(spec.theory), flow: buildFlow(spec.flow, spec.theory) };
}
