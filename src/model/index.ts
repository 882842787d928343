/** The model description: plain, validated data for a theory, a flow and their training. */

export { buildModel, type Model } from "./build.js";
export { exactFieldDraws } from "./exact-field-draws.js";
export {
  type AffineCnnSpec,
  AffineCnnSpecSchema,
  buildFlow,
  checkFlowFits,
  DEFAULT_FLOW_KIND,
  describeFlow,
  FLOW_DEFAULTS,
  FLOW_DOMAIN,
  FLOW_KINDS,
  type FlowKind,
  type FlowSpec,
  FlowSpecSchema,
  isZ2Symmetrised,
  type MeraSpec,
  MeraSpecSchema,
  type NcpSpec,
  NcpSpecSchema,
  type RealNvpMlpSpec,
  RealNvpMlpSpecSchema,
  type SplineSpec,
  SplineSpecSchema,
  type TebdSpec,
  TebdSpecSchema,
} from "./flow-spec.js";
export { type EnsembleMeasurement, measureEnsemble } from "./measure-ensemble.js";
export { PRESET_CONTINUES, PRESETS, presetBefore, presetChain, presetConfig } from "./presets.js";
export { type ExactReferences, exactReferences, isingExactObservables } from "./references.js";
export {
  applySettings,
  applyTheorySettings,
  type FlatSettings,
  flatten,
  type ModelSpec,
  modelSpecOf,
  parseRunConfig,
  parseTheorySpec,
  type RunConfig,
  RunConfigSchema,
  validateRunConfig,
} from "./run-config.js";
export { SpecError } from "./spec-error.js";
export { speedWarnings } from "./speed-warnings.js";
export {
  buildTheory,
  checkTheory,
  configShapeOf,
  type Domain,
  describeTheory,
  domainOf,
  type IsingSpec,
  IsingSpecSchema,
  MAX_CONFIG_SIZE,
  type Phi4Spec,
  Phi4SpecSchema,
  THEORY_DEFAULTS,
  THEORY_KINDS,
  type TheoryKind,
  type TheorySpec,
  TheorySpecSchema,
  type U1Spec,
  U1SpecSchema,
} from "./theory-spec.js";
export { TRAIN_DEFAULTS, type TrainSpec, TrainSpecSchema } from "./train-spec.js";
