/** The tensor engine: tensors, reverse-mode autodiff, and ops (each with its gradient). */
export {
  type Backward,
  type Grads,
  type Params,
  record,
  valueAndGrad,
  valueAndGradWithAux,
} from "./autodiff.js";
export { leakyRelu, prelu } from "./ops/activation.js";
export { add, atan2, div, maximum, mul, sub } from "./ops/binary.js";
export { periodicConv } from "./ops/conv.js";
export { type CouplingNet, couplingLayer } from "./ops/coupling.js";
export { gather, scatter } from "./ops/gather.js";
export { matmul } from "./ops/matmul.js";
export { logsumexp, mean, sum } from "./ops/reduce.js";
export { roll } from "./ops/roll.js";
export { concat, reshape, slice, split } from "./ops/shape.js";
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
export { acquire, clearPool, poolBytes, release } from "./pool.js";
export { allocate, type DType, type FloatArray, full, scalar, Tensor, tensor, zeros } from "./tensor.js";
export { convBackend, setConvBackend, setWinograd, simdSupported } from "./wasm/simd-runtime.js";
