/**
 * latticeflow's public API, flat and by name. Everything here runs in Node and in browsers;
 * Node-only file I/O lives in `latticeflow/io` (src/io/files.ts) and the CLI.
 */

export { type BootstrapOptions, bootstrap } from "./analysis/bootstrap.js";
export { type BridgeEstimate, bridgeLogZ } from "./analysis/bridge.js";
export { type GammaOptions, type GammaResult, gammaMethod, gammaMethodScalar } from "./analysis/gamma.js";
export { binMeans, binnedJackknife, type JackknifeResult } from "./analysis/jackknife.js";
export { type FiveNumberSummary, fiveNumberSummary, quantileSorted } from "./analysis/quantiles.js";
export {
  essFromLogWeights,
  essStandardError,
  type LogZEstimate,
  logsumexp,
  logZEstimate,
  reweightedMean,
} from "./analysis/reweighting.js";
// Tensor engine and autodiff.
export * from "./engine/index.js";
export { AffineCoupling, type AffineCouplingConfig } from "./flows/affine-coupling.js";
export { type AffineFlowConfig, affineCouplingFlow } from "./flows/affine-flow.js";
export { AffineTransformer } from "./flows/affine-transformer.js";
// Flows.
export { type Bijector, forward, inverse, prefixParams, subParams } from "./flows/bijector.js";
export { Blockwise } from "./flows/blockwise.js";
export { Chain } from "./flows/chain.js";
export { CircularSplineTransformer } from "./flows/circular-spline-transformer.js";
export { type CnnActivation, type CnnConfig, LEAKY_RELU_SLOPE, PeriodicCnn } from "./flows/cnn.js";
export { CnnConditioner, type CnnConditionerConfig } from "./flows/cnn-conditioner.js";
export type { Conditioner } from "./flows/conditioner.js";
export { type ContinuousFlowConfig, ContinuousFlowLayer, continuousFlow } from "./flows/continuous-flow.js";
export type { ElementwiseTransformer } from "./flows/elementwise.js";
export { EquivariantVectorField, type VectorFieldConfig } from "./flows/equivariant-vector-field.js";
export { Flow } from "./flows/flow.js";
export { GaugeEquivariantCoupling, plaquettes2d } from "./flows/gauge-coupling.js";
export { implicitInverse } from "./flows/implicit-inverse.js";
export { Inverse } from "./flows/inverse.js";
export { MaskedCoupling, type MaskedCouplingOptions } from "./flows/masked-coupling.js";
export { checkerboardFits, checkerboardMask } from "./flows/masks.js";
export {
  blockIndices,
  HierarchicalFlow,
  type MeraConfig,
  meraFlow,
  meraPlan,
  meraScaleOfSite,
  renormalisedVariables,
  sublatticeIndices,
  type TebdConfig,
  tebdFlow,
} from "./flows/mera.js";
export { ACTIVATIONS, type Activation, Mlp, type MlpConfig } from "./flows/mlp.js";
export { MlpConditioner, type MlpConditionerConfig } from "./flows/mlp-conditioner.js";
export { NcpTransformer } from "./flows/ncp-transformer.js";
export {
  NeuralRgBlock,
  type NeuralRgBlockConfig,
  NeuralRgConditioner,
  neuralRgPartition,
  neuralRgSplit,
} from "./flows/neuralrg-block.js";
export { checkerboardPartition, type Partition, partitionBy, stripePartition } from "./flows/partition.js";
export { PlaquetteConditioner, type PlaquetteConditionerConfig } from "./flows/plaquette-conditioner.js";
export {
  activeLinkMask,
  gaugeLayerPlacement,
  gaugeMaskMisfit,
  type PlaquetteMasks,
  plaquetteClass,
  plaquetteMasks,
  plaquettePartition,
} from "./flows/plaquette-masks.js";
export { NormalPrior, type Prior } from "./flows/prior.js";
export { type RealNvpMlpConfig, realNvpMlpFlow, realNvpPartition } from "./flows/realnvp-mlp.js";
export {
  odeStepsOf,
  refineOdeSolver,
  type SolverErrorEstimate,
  sampleSolverError,
  solverError,
} from "./flows/solver-error.js";
export { gaugeCouplingLayer, type U1GaugeFlowConfig, u1GaugeFlow } from "./flows/u1-flow.js";
export { UniformPrior } from "./flows/uniform-prior.js";
export { Z2EquivariantConditioner } from "./flows/z2-equivariant-conditioner.js";
// Browser-safe file formats.
export { decodeNpy, encodeNpy } from "./io/npy.js";
export {
  decodeSafetensors,
  encodeSafetensors,
  FormatError,
  type SafetensorsTensor,
} from "./io/safetensors.js";
export {
  FLOW_HMC_DEFAULT_LEAPFROG,
  FLOW_HMC_DEFAULT_WARMUP,
  FLOW_HMC_INITIAL_EPS,
  FLOW_HMC_TARGET_ACCEPTANCE,
  type FlowHmcOptions,
  type FlowHmcResult,
  flowMetropolisWithHmc,
} from "./mcmc/flow-hmc-chain.js";
// Sampling.
export {
  type HmcOptions,
  type HmcResult,
  hamiltonian,
  hmcChain,
  type Integrator,
  jitterHalfWidth,
  leapfrog,
  OMELYAN_LAMBDA,
  omelyan,
} from "./mcmc/hmc.js";
export {
  type IndependenceMetropolisOptions,
  type IndependenceMetropolisResult,
  independenceMetropolis,
  type Proposals,
} from "./mcmc/independence-metropolis.js";
export type { RandomSource } from "./mcmc/random.js";
export {
  type SpinMetropolisOptions,
  type SpinMetropolisResult,
  spinMetropolisChain,
} from "./mcmc/spin-metropolis.js";
export { type WolffOptions, type WolffResult, wolffChain } from "./mcmc/wolff.js";
// The model description: {theory, flow, train} as validated plain data, presets, building.
export * from "./model/index.js";
export {
  drawSpins,
  improvedEnergy,
  improvedIsingEstimators,
  improvedM2,
  spinEnergy,
  spinMagnetization,
} from "./observables/ising.js";
export {
  type IsingMeasurement,
  measureIsingRelaxed,
  measureIsingSpins,
} from "./observables/ising-measure.js";
export {
  type MeasureOptions,
  measureScalarEnsemble,
  type RejectionRunResult,
  rejectionRunTauInt,
  type ScalarMeasurement,
} from "./observables/measure.js";
// Observables and error analysis.
export {
  absMagnetizationDensity,
  actionDensity,
  binderCumulant,
  chi2,
  correlatorFromSliceSums,
  effectiveMass,
  magnetization,
  sitePhi2,
  sitePhi4,
  timeSliceSums,
} from "./observables/scalar.js";
export { plaquetteMean, topologicalCharge, wilsonLoop, wrapAngle } from "./observables/u1.js";
export {
  DEFAULT_U1_WILSON_LOOPS,
  measureU1Ensemble,
  type U1Measurement,
  type U1MeasureOptions,
  type U1WilsonLoopMeasurement,
} from "./observables/u1-measure.js";
// Data-parallel training and sampling (Node: src/cli/threads.ts; browsers: webWorkerSpawn).
export {
  createParallelSampler,
  createParallelTrainer,
  createWorkerHandler,
  type ParallelConfig,
  type PoolConfig,
  type Spawn,
  WorkerError,
  type WorkerHandler,
  type WorkerPort,
} from "./parallel/shard.js";
export { webWorkerSpawn } from "./parallel/web-spawn.js";
// Figure specifications (Vega-Lite, browser-safe; rendering to SVG/PNG is Node-side in src/plots/render.ts).
export * from "./plots/specs/index.js";
// Randomness.
export { philox4x32, Rng, type RngState } from "./rng/philox.js";
// Theories.
export {
  ISING_RELAXATION_GAP,
  type IsingBoundary,
  type IsingParams,
  IsingRelaxedTheory,
  logCosh,
} from "./theories/ising.js";
export { isingEnumerate } from "./theories/ising-enumerate.js";
export { ISING_TC, type IsingFull, type IsingThermo, isingExactTorus } from "./theories/ising-exact.js";
export { isingTransferMatrix } from "./theories/ising-transfer.js";
export { latticeStrides, latticeVolume, neighbourTables, shiftTable } from "./theories/lattice.js";
export {
  type HoppingParams,
  hoppingToNotebook,
  notebookToHopping,
  type Phi4Params,
  Phi4Theory,
} from "./theories/phi4.js";
export type { FloatArray as LatticeArray, Theory } from "./theories/theory.js";
export { type U1Params, U1Theory } from "./theories/u1.js";
export {
  logBesselI,
  type U1ExactTorus,
  u1ExactTorus,
  u1PlaquetteExact,
  u1WilsonLoopExact,
} from "./theories/u1-exact.js";
export {
  type U1ThetaMoments,
  u1ChiTopInfiniteVolume,
  u1ThetaMoments,
} from "./theories/u1-topology-exact.js";
// Training.
export { actionOp } from "./train/action-op.js";
export {
  type AdamConfig,
  type AdamState,
  adam,
  adamOf,
  applyUpdates,
  globalNorm,
  type Optimizer,
} from "./train/adam.js";
export { type BatchSpec, batchAt, batchScheduleOf } from "./train/batch-schedule.js";
export {
  GRADIENT_ESTIMATORS,
  type GradientEstimator,
  type GradientEstimatorName,
  gradientEstimatorOf,
  type KlSurrogate,
} from "./train/gradient-estimator.js";
export {
  createMixedObjective,
  IndependenceChains,
  type MixedObjective,
  type MixedObjectiveConfig,
  type MixedStep,
  mhAccept,
  objectiveOf,
} from "./train/mixed-objective.js";
export { pathGradient } from "./train/path-gradient.js";
export { reinforce } from "./train/reinforce.js";
export { ReplayBuffer } from "./train/replay-buffer.js";
export { type KlAux, reverseKl, reverseKlShare, reverseKlTerms } from "./train/reverse-kl.js";
export {
  cosineDecay,
  type LearningRate,
  type LearningRateSpec,
  learningRateAt,
  learningRateOf,
  STEP_DECAY_FACTOR,
  stepDecay,
} from "./train/schedule.js";
export {
  createTrainer,
  type StepExtras,
  type StepMetrics,
  type TrainerConfig,
  type TrainState,
} from "./train/trainer.js";
