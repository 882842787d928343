/**
 * Adam (Kingma & Ba, arXiv 1412.6980) as pure init/update functions (optax style), with the
 * same arithmetic as torch.optim.Adam, and optional clipping of the global gradient norm.
 *   m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) g²,
 *   Δθ = −lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)
 * The state is a plain record of arrays and a count: checkpointing is writing it out.
 *
 * Weight decay as torch.optim.Adam(weight_decay=wd) (NeuralRG, arXiv 1802.02840, used 0.001):
 * L2 added to the gradient, g ← g + wd·θ, before the moments (not AdamW's decoupled decay).
 * The clip acts first and on the loss's gradient alone, as torch's clip_grad_norm_ runs
 * before optimizer.step: g ← clip·∇L + wd·θ.
 */
import { allocate, type FloatArray, type Params, Tensor } from "../engine/index.js";
import * as math from "../math/index.js";
import { type LearningRate, type LearningRateSpec, learningRateAt, learningRateOf } from "./schedule.js";

export interface AdamConfig {
  /** A constant, or a schedule: the rate of update t = count − 1 (src/train/schedule.ts). */
  lr: LearningRate;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Rescale the gradient so that its global L2 norm is at most this. */
  clipNorm?: number | null;
  /** L2 weight decay added to the (clipped) gradient, torch semantics; 0 or absent: none. */
  weightDecay?: number;
}

export interface AdamState {
  count: number;
  mu: Record<string, FloatArray>;
  nu: Record<string, FloatArray>;
}

export interface Optimizer {
  init(params: Params): AdamState;
  /**
   * The parameter updates (to add) and the next state. `params` (the weights the gradient was
   * taken at) is needed when the optimiser decays weights.
   */
  update(grads: Params, state: AdamState, params?: Params): { updates: Params; state: AdamState };
}

export function globalNorm(grads: Params): number {
  let s = 0;
  for (const g of Object.values(grads)) for (const v of g.data) s += v * v;
  return Math.sqrt(s);
}

export function adam(config: AdamConfig): Optimizer {
  const b1 = config.beta1 ?? 0.9;
  const b2 = config.beta2 ?? 0.999;
  const eps = config.eps ?? 1e-8;
  const wd = config.weightDecay ?? 0;
  if (!(wd >= 0 && Number.isFinite(wd)))
    throw new RangeError(`adam: weightDecay must be a finite number ≥ 0, got ${wd}`);
  return {
    init(params) {
      const mu: Record<string, FloatArray> = {};
      const nu: Record<string, FloatArray> = {};
      for (const [k, p] of Object.entries(params)) {
        mu[k] = allocate(p.dtype, p.size);
        nu[k] = allocate(p.dtype, p.size);
      }
      return { count: 0, mu, nu };
    },
    update(grads, state, params) {
      if (wd > 0 && params === undefined)
        throw new RangeError("adam: weight decay needs the parameters: call update(grads, state, params)");
      const count = state.count + 1;
      let clip = 1;
      if (config.clipNorm) {
        const n = globalNorm(grads);
        if (n > config.clipNorm) clip = config.clipNorm / n;
      }
      const c1 = 1 - math.pow(b1, count);
      const c2 = 1 - math.pow(b2, count);
      const lr = learningRateAt(config.lr, count - 1);
      const mu: Record<string, FloatArray> = {};
      const nu: Record<string, FloatArray> = {};
      const updates: Params = {};
      for (const [k, g] of Object.entries(grads)) {
        const m0 = state.mu[k]!;
        const v0 = state.nu[k]!;
        const m = allocate(g.dtype, g.size);
        const v = allocate(g.dtype, g.size);
        const u = allocate(g.dtype, g.size);
        const theta = wd > 0 ? params![k]!.data : null;
        for (let i = 0; i < g.size; i++) {
          // Without decay the arithmetic is exactly that of the optimiser before it had one.
          const gi = theta === null ? g.data[i]! * clip : g.data[i]! * clip + wd * theta[i]!;
          m[i] = b1 * m0[i]! + (1 - b1) * gi;
          v[i] = b2 * v0[i]! + (1 - b2) * gi * gi;
          u[i] = (-lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
        }
        mu[k] = m;
        nu[k] = v;
        updates[k] = new Tensor(u, g.shape);
      }
      return { updates, state: { count, mu, nu } };
    },
  };
}

/**
 * A run's optimiser from its training spec (structural: train/ knows no model description), so
 * the CLI, the page's worker and the tests build the same one.
 */
export function adamOf(
  t: LearningRateSpec & {
    beta1: number;
    beta2: number;
    clipNorm: number | null;
    weightDecay?: number | undefined;
  },
): Optimizer {
  return adam({
    lr: learningRateOf(t),
    beta1: t.beta1,
    beta2: t.beta2,
    clipNorm: t.clipNorm,
    ...(t.weightDecay === undefined ? {} : { weightDecay: t.weightDecay }),
  });
}

/** θ + Δθ, as new tensors. */
export function applyUpdates(params: Params, updates: Params): Params {
  const out: Params = {};
  for (const [k, p] of Object.entries(params)) {
    const u = updates[k];
    const d = allocate(p.dtype, p.size);
    for (let i = 0; i < p.size; i++) d[i] = p.data[i]! + (u ? u.data[i]! : 0);
    out[k] = new Tensor(d, p.shape);
  }
  return out;
}
