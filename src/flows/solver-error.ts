/**
 * The ODE solver's error in log q (continuous-flow.ts), estimated by step doubling. A flow with
 * RK4 in N steps gives draws x with log q_N(x); the same flow and parameters with 2N steps give
 * log q_2N(x) through the inverse pass, and per configuration
 *
 *   Δ(x) = log q_N(x) − log q_2N(x).
 *
 * RK4's global error is C·h⁴ with h = 1/N, so log q_N − log q_ODE ≈ C/N⁴ and
 * Δ ≈ (1 − 1/16)·C/N⁴: Δ is the error of the N-step log q against the ODE's density to about
 * 6 %, while the solver is in its asymptotic regime. A stiff field (h·|∂v/∂φ| of order 1) leaves
 * that regime; then Δ is large, and log q_N is not to be trusted whatever Δ's exact size.
 * The error against the density of the N-step map's own draws (log|det ∂F_N/∂z| against RK4's
 * quadrature of div v), which is what MH and reweighting see, is a different O(h⁴) term of the
 * same order: 1.7–5 times max |Δ| in test/cnf-solver-error.test.ts.
 *
 * The 2N-step pass runs in float64 (float32 parameters and draws are widened), and so do both
 * passes of `sampleSolverError`; a given float32 log q_N carries its rounding into Δ.
 */
import { type Params, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { ContinuousFlowLayer } from "./continuous-flow.js";
import { Flow } from "./flow.js";
import { Z2SymmetrisedFlow } from "./z2-symmetrised.js";

export interface SolverErrorEstimate {
  /** RK4 steps of the flow (N) and of the refined one (2N). */
  steps: number;
  refinedSteps: number;
  /** Δ_b = log q_N(x_b) − log q_2N(x_b), per configuration. */
  delta: Float64Array;
  /** mean Δ: a Δ the same for every x shifts ln Z estimates by about −mean Δ. */
  mean: number;
  meanAbs: number;
  /** max |Δ| (the number the CLI reports as `solver_error`). */
  maxAbs: number;
}

/**
 * The same flow with the RK4 steps of every continuous layer multiplied by `factor` (same
 * parameter names and shapes: the steps are no parameter), or null if the flow has no
 * continuous layer. A Z₂-symmetrised flow stays symmetrised.
 */
export function refineOdeSolver(flow: Flow, factor = 2): Flow | null {
  if (!(Number.isInteger(factor) && factor >= 1)) throw new RangeError(`refineOdeSolver: factor = ${factor}`);
  const base = flow instanceof Z2SymmetrisedFlow ? flow.base : flow;
  if (!base.layers.some((l) => l instanceof ContinuousFlowLayer)) return null;
  const layers = base.layers.map((l) =>
    l instanceof ContinuousFlowLayer
      ? new ContinuousFlowLayer({ ...l.config, steps: l.config.steps * factor })
      : l,
  );
  const refined = new Flow(base.prior, layers);
  return flow instanceof Z2SymmetrisedFlow ? new Z2SymmetrisedFlow(refined) : refined;
}

/** The RK4 steps of the flow's (first) continuous layer, or null if it has none. */
export function odeStepsOf(flow: Flow): number | null {
  const base = flow instanceof Z2SymmetrisedFlow ? flow.base : flow;
  const layer = base.layers.find((l) => l instanceof ContinuousFlowLayer);
  return layer instanceof ContinuousFlowLayer ? layer.config.steps : null;
}

/** The refined flow of each flow, made once (its layers plan their convolutions on first use). */
const refinedOf = new WeakMap<Flow, Flow | null>();

function refinedFlow(flow: Flow): Flow {
  let fine = refinedOf.get(flow);
  if (fine === undefined) refinedOf.set(flow, (fine = refineOdeSolver(flow)));
  if (fine === null) throw new TypeError("solverError: the flow has no ODE solver (no continuous layer)");
  return fine;
}

const widen = (t: Tensor): Tensor =>
  t.data instanceof Float64Array ? t : new Tensor(Float64Array.from(t.data), t.shape);

function widenParams(params: Params): Params {
  const out: Params = {};
  for (const [k, t] of Object.entries(params)) out[k] = widen(t);
  return out;
}

/**
 * Δ of configurations `x` [B, ...] drawn from `flow` (which has a continuous layer) with
 * parameters `params`, given their log q_N: one inverse pass of the flow with twice the RK4
 * steps, in float64.
 */
export function solverError(
  flow: Flow,
  params: Params,
  x: Tensor,
  logq: ArrayLike<number>,
): SolverErrorEstimate {
  const fine = refinedFlow(flow);
  const B = x.shape[0]!;
  if (logq.length !== B) throw new RangeError(`solverError: ${logq.length} log q for ${B} configurations`);
  const logqFine = fine.logProb(widenParams(params), widen(x)).data;
  const delta = new Float64Array(B);
  let sum = 0;
  let sumAbs = 0;
  let maxAbs = 0;
  for (let b = 0; b < B; b++) {
    const d = logq[b]! - logqFine[b]!;
    delta[b] = d;
    const a = d < 0 ? -d : d;
    sum += d;
    sumAbs += a;
    // A non-finite Δ (a diverged solve) must not hide behind the comparison.
    maxAbs = Number.isNaN(a) || a > maxAbs ? a : maxAbs;
  }
  return {
    steps: odeStepsOf(flow)!,
    refinedSteps: odeStepsOf(fine)!,
    delta,
    mean: sum / B,
    meanAbs: sumAbs / B,
    maxAbs,
  };
}

/**
 * Δ of `n` fresh draws of `flow` (float64, prior draws from `rng`): the check a training run
 * or a sampler makes without touching its own random stream.
 */
export function sampleSolverError(flow: Flow, params: Params, rng: Rng, n: number): SolverErrorEstimate {
  const p64 = widenParams(params);
  const { x, logq } = flow.forwardWithLogProb(p64, flow.prior.sample(rng, n, "float64"));
  return solverError(flow, p64, x, logq.data);
}
