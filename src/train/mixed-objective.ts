/**
 * NeuralRG's mixed training objective (Li & Wang, arXiv 1802.02840; the oldstable `MClearn`):
 *
 *   L = δ · (1/B) Σ_{x ∈ D} −log q(x)  +  ω · (1/B) Σ_b [log q(x_b) − log p̃(x_b)],
 *
 * the second term the reverse KL of src/train/reverse-kl.ts on the step's batch x_b = f(z_b),
 * the first the negative log-likelihood of B configurations D drawn uniformly (with
 * replacement) from a replay buffer (src/train/replay-buffer.ts, capacity 10·B) of samples of p.
 * Those samples come from B parallel independence Metropolis–Hastings chains driven by the
 * flow: at every step chain b proposes the step's x_b and accepts it with
 *
 *   min(1, w(x_b) / w(s_b)),   w = p̃/q,   in logs: log u < log w(x_b) − log w(s_b),  u ~ U[0, 1),
 *
 * s_b the chain's state; the chains start from the first batch. log q and log p̃ of the
 * proposals are the KL term's (no extra flow pass for them); log q of the states is taken
 * again under the current weights each step (one inverse pass without gradient, as NeuralRG's
 * MCMC does), so the rule is the exact independence-MH rule of the current q, and log p̃ of a
 * state is kept from when it was proposed. The B states are pushed into the buffer every step,
 * and, when S(−x) = S(x) (`Theory.z2Symmetric`: φ⁴, the relaxed Ising model; not U(1)), their
 * flips −s_b too (NeuralRG's "data augmentation using inversion symmetry"), before the draw.
 * The NLL term pulls q towards the regions the chains visit, e.g. the well a reverse-KL flow
 * has missed; δ = 0 is plain reverse KL (scaled by ω; ω = 1 is bit for bit the plain loss).
 *
 * With `hmcTrajectories` = k > 0 every chain also takes k HMC trajectories per step after its
 * MH move (Gabrié, Rotskoff, Vanden-Eijnden, arXiv 2105.12603: local moves carry the chains
 * into regions the flow does not propose, and the NLL term then teaches the flow to cover
 * them). The step size adapts to a mean acceptance of 0.8 (Robbins–Monro in log ε with a
 * constant gain of 0.05): the chains feed training, so an adapting kernel is acceptable here,
 * never for an ensemble. 10 leapfrog steps of the initial ε = 0.1 (trajectory length 1).
 *
 * The gradient is one backward pass through both terms: δ·∇NLL + ω·∇KL, the buffer draw a
 * constant. The chains and the buffer live in memory only: they are not checkpointed, and a
 * resumed run starts them empty (from its first batch).
 */
import {
  add,
  type FloatArray,
  type Grads,
  mean,
  neg,
  type Params,
  scale,
  Tensor,
  valueAndGradWithAux,
} from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import * as math from "../math/index.js";
import { hmcBatchTrajectory, makeBatchWork } from "../mcmc/hmc-batch.js";
import type { RandomSource } from "../mcmc/random.js";
import type { Theory } from "../theories/theory.js";
import { ReplayBuffer } from "./replay-buffer.js";
import { reverseKlTerms } from "./reverse-kl.js";

export interface MixedObjectiveConfig {
  /** δ ≥ 0: weight of the NLL of buffer draws (0: no chains, no buffer). */
  nllWeight: number;
  /** ω ≥ 0: weight of the reverse KL. */
  klWeight: number;
  /** Push the states' flips −s as well; default: the theory's `z2Symmetric`. */
  flips?: boolean;
  /** Buffer capacity in configurations; default 10 × batch (NeuralRG's). */
  capacity?: number;
  /** HMC trajectories of every chain per step (default 0: the flow's proposals only). */
  hmcTrajectories?: number;
}

/**
 * A run's objective from its training spec (structural, like `learningRateOf`): undefined for
 * the plain reverse KL (δ absent or 0 and ω absent or 1), so such runs take today's path.
 */
export function objectiveOf(t: {
  nllWeight?: number | undefined;
  klWeight?: number | undefined;
  chainHmc?: number | undefined;
}): MixedObjectiveConfig | undefined {
  const nllWeight = t.nllWeight ?? 0;
  const klWeight = t.klWeight ?? 1;
  if (nllWeight === 0 && klWeight === 1) return undefined;
  const hmc = t.chainHmc ?? 0;
  return hmc > 0 ? { nllWeight, klWeight, hmcTrajectories: hmc } : { nllWeight, klWeight };
}

/**
 * The independence-MH decision: accept a proposal of log-weight `logwProposal` against the
 * state's `logwState` given u ∈ [0, 1) (log w = log p̃ − log q). A proposal whose weight is not
 * finite is never taken; a state whose weight is NaN (never a valid sample) is always left.
 * When q = p exactly the weights are equal and every proposal is taken (log u < 0).
 */
export function mhAccept(logwProposal: number, logwState: number, u: number): boolean {
  if (!Number.isFinite(logwProposal)) return false;
  return Number.isNaN(logwState) || math.log(u) < logwProposal - logwState;
}

/** `count` parallel independence-MH chains over configurations of one shape. */
export class IndependenceChains {
  private x: FloatArray | null = null;
  private shape: readonly number[] = [];
  /** log p̃ of each state (from when it was proposed). */
  readonly logp: Float64Array;

  constructor(readonly count: number) {
    this.logp = new Float64Array(count);
  }

  get started(): boolean {
    return this.x !== null;
  }

  /** The states, shape [count, ...event] (a copy). */
  states(): Tensor {
    if (this.x === null) throw new RangeError("chains: not started");
    return new Tensor(this.x.slice(), [this.count, ...this.shape]);
  }

  /**
   * One step of every chain: chain b proposes configuration b of `x` (shape [count, ...event])
   * with its log p̃ and log q; `stateLogq` is log q of the current states under the same q.
   * The first call starts the chains at the proposals and returns null; later calls draw one
   * u per chain from `rng` (in chain order) and return the fraction accepted.
   */
  advance(
    x: Tensor,
    logp: ArrayLike<number>,
    logq: ArrayLike<number>,
    stateLogq: ArrayLike<number> | null,
    rng: Pick<RandomSource, "uniform">,
  ): number | null {
    const n = this.count;
    if (x.shape[0] !== n || logp.length !== n || logq.length !== n)
      throw new RangeError(`chains: ${n} chains need ${n} proposals, got ${x.shape[0]}`);
    if (this.x === null) {
      this.x = x.data.slice();
      this.shape = x.shape.slice(1);
      for (let b = 0; b < n; b++) this.logp[b] = logp[b]!;
      return null;
    }
    if (stateLogq === null || stateLogq.length !== n)
      throw new RangeError("chains: log q of the current states is needed after the first step");
    const v = x.size / n;
    let accepted = 0;
    for (let b = 0; b < n; b++) {
      const u = rng.uniform();
      if (mhAccept(logp[b]! - logq[b]!, this.logp[b]! - stateLogq[b]!, u)) {
        this.x.set(x.data.subarray(b * v, (b + 1) * v), b * v);
        this.logp[b] = logp[b]!;
        accepted++;
      }
    }
    return accepted / n;
  }

  /**
   * `trajectories` HMC trajectories of every chain (`hmcBatchTrajectory`, in float64; the states
   * are stored back in their dtype and their log p̃ recomputed from the stored values). Returns
   * the mean acceptance probability.
   */
  hmc(theory: Theory, trajectories: number, eps: number, nLeapfrog: number, rng: RandomSource): number {
    if (this.x === null) throw new RangeError("chains: not started");
    const phi = Float64Array.from(this.x);
    const work = makeBatchWork(theory, this.count); // scratch shared by the trajectories
    let acc = 0;
    for (let t = 0; t < trajectories; t++) {
      const p = hmcBatchTrajectory(theory, phi, this.count, eps, nLeapfrog, rng, work);
      for (let b = 0; b < this.count; b++) acc += p[b]!;
    }
    this.x.set(phi);
    const s = theory.action(this.x, this.count);
    for (let b = 0; b < this.count; b++) this.logp[b] = -s[b]!;
    return acc / (trajectories * this.count);
  }
}

/** One step's value and gradient of the mixed objective, with what it reports. */
export interface MixedStep {
  /** δ·NLL + ω·KL: the value optimised. */
  value: number;
  grads: Grads<Params>;
  /** The batch's log p̃ = −S and log q. */
  logp: FloatArray;
  logq: FloatArray;
  /** The reverse-KL term (unweighted): the loss bounded below by −ln Z. */
  kl: number;
  /** The NLL term (unweighted); undefined when δ = 0. */
  nll?: number;
  /** Fraction of the chains that moved; undefined when δ = 0 and at the step that starts them. */
  mhAcceptance?: number;
  /** Mean acceptance probability of the chains' HMC trajectories (with `hmcTrajectories` > 0). */
  hmcAcceptance?: number;
  /** The configurations the NLL term was taken on (for tests). */
  drawn?: Tensor;
}

export interface MixedObjective {
  readonly chains: IndependenceChains;
  readonly buffer: ReplayBuffer;
  /** Value and gradient at `params` for prior draws `z` of `batch` configurations; advances the chains and the buffer. */
  step(params: Params, z: Tensor): MixedStep;
}

/** The objective for batches of `batch`, with `rng` the stream of its MH and buffer draws. */
export function createMixedObjective(
  flow: Flow,
  theory: Theory,
  cfg: MixedObjectiveConfig,
  batch: number,
  rng: RandomSource,
): MixedObjective {
  const { nllWeight: delta, klWeight: omega } = cfg;
  for (const [name, w] of [
    ["nllWeight", delta],
    ["klWeight", omega],
  ] as const) {
    if (!(Number.isFinite(w) && w >= 0))
      throw new RangeError(`mixed objective: ${name} must be ≥ 0, got ${w}`);
  }
  if (delta === 0 && omega === 0)
    throw new RangeError("mixed objective: nllWeight and klWeight are both 0: nothing to train");
  const flips = cfg.flips ?? theory.z2Symmetric === true;
  const chains = new IndependenceChains(batch);
  const buffer = new ReplayBuffer(cfg.capacity ?? 10 * batch);
  let report: { mhAcceptance?: number; hmcAcceptance?: number; drawn?: Tensor } = {};
  const hmcTrajectories = cfg.hmcTrajectories ?? 0;
  const nLeapfrog = 10;
  let logEps = math.log(0.1);

  const lossAndGrad = valueAndGradWithAux((p: Params, z: Tensor, stateLogq: FloatArray | null) => {
    const t = reverseKlTerms(flow, theory, p, z);
    let loss = omega === 1 ? t.loss : scale(t.loss, omega);
    let nll: Tensor | undefined;
    if (delta > 0) {
      const acc = chains.advance(t.x, t.logp.data, t.logq.data, stateLogq, rng);
      if (acc !== null) report.mhAcceptance = acc;
      if (hmcTrajectories > 0) {
        const eps = math.exp(logEps);
        const a = chains.hmc(theory, hmcTrajectories, eps, nLeapfrog, rng);
        report.hmcAcceptance = a;
        logEps += 0.05 * (a - 0.8);
      }
      const s = chains.states();
      buffer.push(s);
      if (flips)
        buffer.push(
          new Tensor(
            s.data.map((v) => -v),
            s.shape,
          ),
        );
      if (buffer.size >= batch) {
        const drawn = buffer.draw(rng, batch);
        report.drawn = drawn;
        nll = mean(neg(flow.logProb(p, drawn)));
        loss = add(scale(nll, delta), loss);
      }
    }
    return { loss, aux: { kl: t.loss, nll, logp: t.logp, logq: t.logq } };
  });

  return {
    chains,
    buffer,
    step(params, z) {
      report = {};
      // log q of the states under this step's weights, outside the tape: no gradient.
      const stateLogq = delta > 0 && chains.started ? flow.logProb(params, chains.states()).data : null;
      const { value, aux, grads } = lossAndGrad(params, z, stateLogq);
      const out: MixedStep = {
        value,
        grads,
        logp: aux.logp.data,
        logq: aux.logq.data,
        kl: aux.kl.item(),
      };
      if (aux.nll !== undefined) out.nll = aux.nll.item();
      if (report.mhAcceptance !== undefined) out.mhAcceptance = report.mhAcceptance;
      if (report.hmcAcceptance !== undefined) out.hmcAcceptance = report.hmcAcceptance;
      if (report.drawn !== undefined) out.drawn = report.drawn;
      return out;
    },
  };
}
