/**
 * A continuous normalizing flow (neural ODE, arXiv 1806.07366; FFJORD, arXiv 1810.01367) with
 * the translation-equivariant vector field of Gerdes et al. (arXiv 2207.00283,
 * equivariant-vector-field.ts), for real scalar fields:
 *
 *   dφ/dt = v(φ, t),  φ(0) = z ~ r,  x = φ(1);     d/dt log q_t(φ(t)) = −div v(φ(t), t),
 *   so  log|det ∂x/∂z| = ∫₀¹ div v dt  and  log q(x) = log r(z) − ∫₀¹ div v dt.
 *
 * Solver: classical RK4 with `steps` fixed steps over t ∈ [0, 1] (the reference code's
 * odeint_rk4, 50 steps), the log-det integral carried as one more state component whose
 * integrand is evaluated at the same stages. Map and log-det are the ODE's to O(h⁴), h = 1/steps;
 * the log-det is RK4's quadrature of the exact divergence, not the log-det of the discrete RK4
 * map, and the two differ by O(h⁴) as well, so log q of a sample is exact only up to solver
 * error (more steps, or reweighting with enough of them, bound the bias). The inverse runs RK4
 * backwards from t = 1 to 0 with the same steps: f⁻¹(f(z)) = z + O(h⁴), not to rounding (in
 * practice O(h⁵): RK4's leading local error is odd in h and cancels between the two solves).
 *
 * Training is discretise-then-optimise: backprop through the solver is the exact gradient of
 * the loss of the map actually computed (samples and log q as evaluated). The reference code
 * uses the adjoint method instead (optimise-then-discretise), whose gradient is a second,
 * backward ODE solve and so matches the computed loss only up to that solve's error. Each RK4
 * step is one fused tape op (engine/fused/cnf-rk4.ts: hand-written backward, FFT convolution,
 * WebAssembly kernels; the tape keeps 3·B·V per step, plus B·V·F per stage within a memory
 * budget); `fused: false` records every stage as ordinary ops instead (memory O(4·steps·B·V·F)),
 * the reference the fused step is tested against.
 *
 * Parameters: `w`, `timeMix`, `featureMix`, `omega` of the vector field; at initialisation
 * w = 0 and the flow is the identity.
 */
import type { CnfConvKind } from "../engine/fused/cnf-conv.js";
import { cnfRk4Step } from "../engine/fused/cnf-rk4.js";
import { add, type DType, type Params, scale, type Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import type { Bijector } from "./bijector.js";
import { EquivariantVectorField, type VectorFieldConfig } from "./equivariant-vector-field.js";
import { Flow } from "./flow.js";
import { NormalPrior } from "./prior.js";

export interface ContinuousFlowConfig extends VectorFieldConfig {
  /** RK4 steps over t ∈ [0, 1]. */
  steps: number;
  /**
   * Each RK4 step as one fused op (engine/fused/cnf-rk4.ts; default true) or as ordinary ops
   * (false: the reference the fused op is tested against).
   */
  fused?: boolean;
  /**
   * The fused op's convolution: "fft" (default; faster from 4×4 up, docs/performance.md) or
   * "dense" (a V×V matrix per feature).
   */
  convolution?: CnfConvKind;
}

export class ContinuousFlowLayer implements Bijector {
  readonly field: EquivariantVectorField;

  constructor(readonly config: ContinuousFlowConfig) {
    if (!(Number.isInteger(config.steps) && config.steps >= 1))
      throw new RangeError(`ContinuousFlowLayer: steps = ${config.steps}`);
    this.field = new EquivariantVectorField(config);
  }

  initParams(rng: Rng, dtype: DType): Params {
    return this.field.initParams(rng, dtype);
  }

  /** RK4 from t0 to t1: the end state and ∫_{t0}^{t1} div v dt, shape [B]. */
  private integrate(params: Params, x: Tensor, t0: number, t1: number): { y: Tensor; logDet: Tensor } {
    return this.config.fused === false
      ? this.integrateOps(params, x, t0, t1)
      : this.integrateFused(params, x, t0, t1);
  }

  private integrateFused(params: Params, x: Tensor, t0: number, t1: number): { y: Tensor; logDet: Tensor } {
    const n = this.config.steps;
    const h = (t1 - t0) / n;
    const plan = this.field.convPlan(this.config.convolution ?? "fft");
    const A = this.field.mixing(params);
    const kern = (t: number) => this.field.kernel(params, t, x.dtype);
    let phi = x;
    let logDet: Tensor | null = null;
    for (let i = 0; i < n; i++) {
      const t = t0 + ((t1 - t0) * i) / n;
      const r = cnfRk4Step(plan, phi, params.omega!, A, [kern(t), kern(t + h / 2), kern(t + h)], h);
      phi = r.y;
      logDet = logDet === null ? r.logDet : add(logDet, r.logDet);
    }
    return { y: phi, logDet: logDet! };
  }

  /** The reference path: every stage as ordinary ops on the tape. */
  private integrateOps(params: Params, x: Tensor, t0: number, t1: number): { y: Tensor; logDet: Tensor } {
    const n = this.config.steps;
    const h = (t1 - t0) / n;
    const f = (phi: Tensor, t: number) => this.field.evaluate(params, phi, t);
    let phi = x;
    let logDet: Tensor | null = null;
    for (let i = 0; i < n; i++) {
      const t = t0 + ((t1 - t0) * i) / n;
      const k1 = f(phi, t);
      const k2 = f(add(phi, scale(k1.v, h / 2)), t + h / 2);
      const k3 = f(add(phi, scale(k2.v, h / 2)), t + h / 2);
      const k4 = f(add(phi, scale(k3.v, h)), t + h);
      phi = add(phi, rk4Sum(k1.v, k2.v, k3.v, k4.v, h));
      const dl = rk4Sum(k1.div, k2.div, k3.div, k4.div, h);
      logDet = logDet === null ? dl : add(logDet, dl);
    }
    return { y: phi, logDet: logDet! };
  }

  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor } {
    return this.integrate(params, x, 0, 1);
  }

  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor } {
    const r = this.integrate(params, y, 1, 0);
    return { x: r.y, logDet: r.logDet };
  }
}

/** (h/6)·(a + 2b + 2c + d). */
function rk4Sum(a: Tensor, b: Tensor, c: Tensor, d: Tensor, h: number): Tensor {
  return add(add(scale(a, h / 6), scale(b, h / 3)), add(scale(c, h / 3), scale(d, h / 6)));
}

/** The paper's model: a normal prior and one equivariant continuous flow (params `0.w`, …). */
export function continuousFlow(config: ContinuousFlowConfig): Flow {
  return new Flow(new NormalPrior(config.latticeShape), [new ContinuousFlowLayer(config)]);
}
