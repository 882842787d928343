/** The tensor engine: tensors, reverse-mode autodiff, and ops (each with its gradient). */
export {
  type Backward,
  type Grads,
  type Params,
  record,
  stopGradient,
  valueAndGrad,
  valueAndGradWithAux,
  willRecord,
} from "./autodiff.js";
export type { CnfConvKind } from "./fused/cnf-conv.js";
export { setCnfCacheBytes } from "./fused/cnf-resident.js";
export { type CouplingNet, couplingLayer } from "./fused/coupling.js";
export { leakyRelu, prelu, relu } from "./ops/activation.js";
export { batchedMatmul } from "./ops/batched-matmul.js";
export { add, atan2, div, maximum, mul, sub } from "./ops/binary.js";
// Ops for splines and gauge flows
export { equal, greater, greaterEqual, less, lessEqual } from "./ops/compare.js";
export { periodicConv } from "./ops/conv.js";
export { type CumsumOptions, cumsum } from "./ops/cumsum.js";
export { elu, linearElu } from "./ops/elu.js";
export { gather, scatter } from "./ops/gather.js";
export { type IndexTensor, indexTensor } from "./ops/indices.js";
export { linear } from "./ops/linear.js";
export { matmul } from "./ops/matmul.js";
export { floor, mod } from "./ops/mod.js";
export { logsumexp, mean, sum } from "./ops/reduce.js";
export { roll } from "./ops/roll.js";
export { searchBins, searchsorted } from "./ops/searchsorted.js";
export { concat, reshape, slice, split } from "./ops/shape.js";
export { addAlongAxis, takeAlongAxis } from "./ops/take-along.js";
export { transpose } from "./ops/transpose.js";
export {
  abs,
  cos,
  exp,
  log,
  neg,
  scale,
  shift,
  sigmoid,
  sin,
  softplus,
  sqrt,
  square,
  tanh,
} from "./ops/unary.js";
export { where } from "./ops/where.js";
export { acquire, clearPool, poolBytes, release } from "./pool.js";
export { allocate, type DType, type FloatArray, full, scalar, Tensor, tensor, zeros } from "./tensor.js";
export { type EluBackend, eluBackend, setEluBackend } from "./wasm/simd-elu.js";
export { type GemmBackend, gemmBackend, setGemmBackend } from "./wasm/simd-gemm.js";
export { convBackend, setConvBackend, setWinograd, simdApplies, simdSupported } from "./wasm/simd-runtime.js";
