/**
 * The bijector contract (after distrax): a bijector maps x ↦ y = f(x) for a batch [B, ...]
 * and reports log|det ∂f/∂x| per batch element. It is a pure function of its parameters,
 * which live outside it (a flat record of named tensors), so that `valueAndGrad` and
 * optimisers see one explicit parameter tree and checkpoints are plain name → tensor maps.
 *
 * Implementations provide forwardAndLogDet and inverseAndLogDet; everything else is derived.
 */
import type { DType, Params, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";

export interface Bijector {
  /** y = f(x) and log|det J_f(x)|, shape [B]. */
  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor };
  /** x = f⁻¹(y) and log|det J_{f⁻¹}(y)| = −log|det J_f(x)|, shape [B]. */
  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor };
  /** Fresh parameters, named relative to this bijector (PyTorch state_dict style). */
  initParams(rng: Rng, dtype: DType): Params;
}

export function forward(b: Bijector, params: Params, x: Tensor): Tensor {
  return b.forwardAndLogDet(params, x).y;
}

export function inverse(b: Bijector, params: Params, y: Tensor): Tensor {
  return b.inverseAndLogDet(params, y).x;
}

/** The parameters of a sub-module: entries under `prefix.`, with the prefix removed. */
export function subParams(params: Params, prefix: string): Params {
  const out: Params = {};
  const p = `${prefix}.`;
  for (const k in params) if (k.startsWith(p)) out[k.slice(p.length)] = params[k]!;
  return out;
}

/** Prefix every name of a sub-module's parameters. */
export function prefixParams(params: Params, prefix: string): Params {
  const out: Params = {};
  for (const k in params) out[`${prefix}.${k}`] = params[k]!;
  return out;
}
