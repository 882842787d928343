/**
 * Figure specs (Vega-Lite, browser-safe): each a plain function of data returning a `Figure`
 * {name, spec, notes}. Render them with src/plots/render.ts in Node, or with vega-embed in a page.
 */
export { actionFigure, actionWindow, slopeOneOffset } from "./action.js";
export {
  type Bin2d,
  CONFIG,
  type Figure,
  histogram1d,
  histogram2d,
  movingAverage,
  quantile,
  type TopLevelSpec,
} from "./common.js";
export { type CorrelationInput, correlationFigure } from "./correlations.js";
export { type CorrelatorInput, correlatorFigure, type TimePointLike } from "./correlator.js";
export { type EraRecord, type EraStripInput, eraStripFigure, spreadIndices } from "./eras.js";
export { acfPanel, type GammaSummary, type HistoryInput, type HistoryRow, historyFigure } from "./history.js";
export {
  type LogWeightInput,
  type LogWeightSummary,
  logWeightFigure,
  logWeightSummary,
} from "./log-weights.js";
export { type MagnetizationInput, magnetizationFigure } from "./magnetization.js";
export {
  chargeOf,
  distinctConfigurations,
  type PlaquetteSampleInput,
  plaquetteSampleFigure,
  wrapPlaquette,
} from "./plaquettes.js";
export { DIVERGING, heatmapCells, heatmapPosition, type RgInput, rgFigure } from "./rg.js";
export { type RgScalesInput, type RgScalesPanel, rgScalesFigure } from "./rg-scales.js";
export { type SampleGridInput, sampleGridFigure } from "./samples.js";
export { type TopologyInput, topologyFigure } from "./topology.js";
export { type TrainingPoint, type TrainingSpecOptions, trainingFigure } from "./training.js";
