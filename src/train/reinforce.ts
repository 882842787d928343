/**
 * The score-function (REINFORCE) gradient of the reverse KL (for flows: Białas, Korcyl, Stebel,
 * arXiv 2308.13294). With s(x) = log q_θ(x) − log p̃(x) and E_q[∂_θ log q_θ] = 0,
 *
 *   ∇_θ E_q[s] = E_q[s ∇_θ log q_θ] = E_q[(s − b) ∇_θ log q_θ]   for any constant b.
 *
 * The samples are drawn without a tape and log q_θ(x) is taken again by the inverse pass; the
 * action is only evaluated, never differentiated, and the forward map is not differentiated
 * either: the estimator for actions whose force is expensive or absent. With n samples in a
 * shard and b their mean s̄, (1/(n−1)) Σ_i (s_i − s̄) ∇ log q_i is unbiased (the n/(n−1)
 * undoes the sample's own share in s̄), so a shard needs n ≥ 2. A shard's surrogate is that
 * estimate scaled by n/B, so shards add up to the batch's.
 *
 * s_i, the value and the reported log q are the forward pass's log q, the one every other
 * estimator's loss uses; the inverse pass only supplies ∇ log q. The two differ where log q is
 * exact only up to a solver's error (the ODE flow), and the loss must not depend on the estimator.
 */
import { allocate, mul, type Params, shift, stopGradient, sum, Tensor } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import type { Theory } from "../theories/theory.js";
import type { KlSurrogate } from "./gradient-estimator.js";

/** The parameters as constants: a pass with them records nothing on the tape. */
function constants(params: Params): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(params)) out[k] = stopGradient(v);
  return out;
}

export function reinforce(flow: Flow, theory: Theory): KlSurrogate {
  return (params: Params, z: Tensor, batch: number) => {
    const n = z.shape[0]!;
    if (n < 2) throw new RangeError(`reinforce: a shard of ${n} sample has no baseline; give it at least 2`);
    const { x, logq: logqForward } = flow.forwardWithLogProb(constants(params), z);
    const logq = flow.logProb(params, x);
    const action = theory.action(x.data, n);
    const logpData = allocate(x.dtype, n);
    const s = new Float64Array(n);
    let mean = 0;
    for (let i = 0; i < n; i++) {
      logpData[i] = -action[i]!;
      s[i] = logqForward.data[i]! + action[i]!;
      mean += s[i]!;
    }
    mean /= n;
    const c = allocate(x.dtype, n);
    let share = 0;
    let surrogate = 0;
    for (let i = 0; i < n; i++) {
      c[i] = ((s[i]! - mean) * n) / ((n - 1) * batch);
      share += s[i]! / batch;
      surrogate += c[i]! * logq.data[i]!;
    }
    // Value: the KL share (up to rounding); gradient: Σ c_i ∇ log q_i.
    const loss = shift(sum(mul(logq, new Tensor(c, [n]))), share - surrogate);
    return { loss, aux: { logp: new Tensor(logpData, [n]), logq: logqForward } };
  };
}
