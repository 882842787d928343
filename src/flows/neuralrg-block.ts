/**
 * NeuralRG's bijector on one 2×2 block (Li & Wang, arXiv 1802.02840; NeuralRG's
 * `model/realnvp.py`, master's `flow/rnvp.py`): a RealNVP (arXiv 1605.08803) of `nlayers`
 * affine couplings on the 4 variables x = (x₀, x₁, x₂, x₃) of a block, in block-local order
 * (0,0), (0,1), (1,0), (1,1).
 *
 * Coupling j updates two variables A_j, conditioned on the other two F_j:
 *
 *   y_F = x_F,   y_A = x_A ⊙ e^{s_j(x ⊙ m_j)} + t_j(x ⊙ m_j),   log|det J| = Σ_{i∈A} s_{j,i},
 *
 * with m_j the 0/1 mask of F_j. This is the generative direction (NeuralRG's `generate`,
 * master's `RNVP.inverse`) and the bijector's forward; couplings act in order j = 0, 1, …
 * The inverse (NeuralRG's `inference`) undoes them last to first:
 * x_A = (y_A − t)·e^{−s}, log|det| = −Σ s.
 *
 * The splits cycle so that every pair of the block's variables interacts: coupling j uses
 * split ⌊j/2⌋ mod 3 of
 *
 *   ({0,1} | {2,3}),   ({0,2} | {1,3}),   ({0,3} | {1,2}),
 *
 * updating the first half for even j and the second half for odd j. (NeuralRG alternates one
 * mask and its complement, i.e. a fixed pair of couplings; this is that alternation with the
 * split rotated every two couplings, so the rows, columns and diagonals of the block all get
 * coupled.)
 *
 * The nets (NeuralRG's SimpleMLPreshape with ELU hidden activations, ScalableTanh on s):
 *   s_j(u) = scale ⊙ tanh(W₂ ELU(W₀u + b₀) + b₂)   Linear(4→Hs)–ELU–Linear(Hs→4)–ScalableTanh,
 *   t_j(u) = W₂′ ELU(W₀′u + b₀′) + b₂′              Linear(4→Ht)–ELU–Linear(Ht→4),
 * read at u = x ⊙ m_j; only their A_j entries are used. Since u vanishes off F_j,
 * W₀u = W₀[:, F_j]·x_F: the implementation gathers those two columns of W₀ (and the A_j rows of
 * W₂, b₂, scale) and runs the nets [M, 2] → [M, H] → [M, 2]: the same function and the same
 * gradients (zero for the unused entries, as in NeuralRG), with half the input and output width.
 * Linear–ELU is one op (linearElu: one [M, H] array per hidden layer) and the coupling's
 * elementwise update (x, s, t) ↦ y is one op (`affineUpdate`), so a coupling is a handful of
 * large ops on [M, ·] (M = blocks × batch), whatever the number of blocks.
 *
 * Parameters (PyTorch names, nn.Sequential indices, coupling j first):
 *   `{j}.s.0.weight` [Hs, 4], `{j}.s.0.bias` [Hs], `{j}.s.2.weight` [4, Hs], `{j}.s.2.bias` [4],
 *   `{j}.s.scale` [4], `{j}.t.0.weight` [Ht, 4], `{j}.t.0.bias` [Ht], `{j}.t.2.weight` [4, Ht],
 *   `{j}.t.2.bias` [4]. Initialisation: PyTorch's default U(±1/√fan_in) (fan_in 4, then H),
 *   except scale = 0, so s = 0 at init (NeuralRG's ScalableTanh); `identityInit` also zeroes
 *   the t-nets' last layer, so the block starts as the identity.
 */

import { type NeuralRgCouplingParams, neuralRgBlockFused } from "../engine/fused/neuralrg-block.js";
import {
  add,
  allocate,
  concat,
  type DType,
  elu,
  gather,
  linear,
  linearElu,
  mul,
  neg,
  type Params,
  record,
  reshape,
  sum,
  Tensor,
  tanh,
  zeros,
} from "../engine/index.js";
import * as math from "../math/index.js";
import type { Rng } from "../rng/philox.js";
import { type Bijector, prefixParams, subParams } from "./bijector.js";
import type { Conditioner } from "./conditioner.js";
import { Mlp } from "./mlp.js";
import { type Partition, partitionBy } from "./partition.js";

/** The three ways of splitting a 2×2 block (block-local indices) into two pairs. */
export const BLOCK_SPLITS: readonly (readonly [readonly number[], readonly number[]])[] = [
  [
    [0, 1],
    [2, 3],
  ],
  [
    [0, 2],
    [1, 3],
  ],
  [
    [0, 3],
    [1, 2],
  ],
];

/** Coupling j's updated (active) and conditioning (frozen) block-local indices, ascending. */
export function neuralRgSplit(j: number): { active: readonly number[]; frozen: readonly number[] } {
  if (!Number.isInteger(j) || j < 0) throw new RangeError(`neuralRgSplit: bad coupling index ${j}`);
  const [first, second] = BLOCK_SPLITS[Math.floor(j / 2) % 3]!;
  return j % 2 === 0 ? { active: first, frozen: second } : { active: second, frozen: first };
}

/** Coupling j's partition of the block's 4 variables (for MaskedCoupling). */
export function neuralRgPartition(j: number): Partition {
  const { frozen } = neuralRgSplit(j);
  return partitionBy([4], (c) => frozen.includes(c[0]!));
}

export interface NeuralRgConditionerConfig {
  hiddenS: number;
  hiddenT: number;
  /** Zero the t-net's last layer (with scale = 0 the coupling is the identity). */
  zeroT?: boolean;
}

/**
 * One coupling's s-net and t-net (see the file comment), on a partition of 4 variables.
 * Parameters `s.0.weight`, `s.0.bias`, `s.2.weight`, `s.2.bias`, `s.scale`, `t.0.weight`,
 * `t.0.bias`, `t.2.weight`, `t.2.bias`. As a Conditioner (for MaskedCoupling with an unbounded
 * AffineTransformer) θ = (s, t) [M, 2, n_active]; NeuralRgBlock calls `scaleAndShift`.
 */
export class NeuralRgConditioner implements Conditioner {
  private readonly sNet: Mlp;
  private readonly tNet: Mlp;

  constructor(
    readonly partition: Partition,
    readonly config: NeuralRgConditionerConfig,
  ) {
    if (partition.size !== 4)
      throw new RangeError(`NeuralRgConditioner: needs 4 variables, got ${partition.size}`);
    this.sNet = new Mlp({ inFeatures: 4, hidden: [config.hiddenS], outFeatures: 4, activation: elu });
    this.tNet = new Mlp({
      inFeatures: 4,
      hidden: [config.hiddenT],
      outFeatures: 4,
      activation: elu,
      zeroLast: config.zeroT ?? false,
    });
  }

  initParams(rng: Rng, dtype: DType): Params {
    return {
      ...prefixParams(this.sNet.initParams(rng, dtype), "s"),
      "s.scale": zeros([4], dtype),
      ...prefixParams(this.tNet.initParams(rng, dtype), "t"),
    };
  }

  /** s and t at the active components, [M, n_active] each, from x [M, 4]. */
  scaleAndShift(params: Params, x: Tensor): { s: Tensor; t: Tensor } {
    const { frozen, active } = this.partition;
    const xf = gather(reshape(x, [x.shape[0]!, 4]), 1, frozen);
    const net = (p: "s" | "t"): Tensor => {
      const h = linearElu(xf, gather(params[`${p}.0.weight`]!, 1, frozen), params[`${p}.0.bias`]!);
      return linear(
        h,
        gather(params[`${p}.2.weight`]!, 0, active),
        gather(params[`${p}.2.bias`]!, 0, active),
      );
    };
    return { s: mul(tanh(net("s")), gather(params["s.scale"]!, 0, active)), t: net("t") };
  }

  apply(params: Params, x: Tensor): Tensor {
    const m = x.shape[0]!;
    const na = this.partition.active.length;
    const { s, t } = this.scaleAndShift(params, x);
    return concat([reshape(s, [m, 1, na]), reshape(t, [m, 1, na])], 1);
  }
}

/**
 * The coupling's elementwise update as one op: x [M, K]; s, t [M, n] at the `active` columns.
 *   forward: y_F = x_F, y_A = x_A·e^{s} + t;   inverse: y_A = (x_A − t)·e^{−s}.
 * Cotangents (forward): ḡx_F = g_F, ḡx_A = g_A e^{s}, ḡs = g_A x_A e^{s}, ḡt = g_A;
 * (inverse): ḡx_A = g_A e^{−s}, ḡs = −g_A y_A, ḡt = −g_A e^{−s}.
 */
export function affineUpdate(x: Tensor, s: Tensor, t: Tensor, active: Int32Array, inverse: boolean): Tensor {
  const k = x.shape[x.rank - 1]!;
  const m = x.size / k;
  const n = active.length;
  if (s.size !== m * n || t.size !== m * n)
    throw new RangeError(
      `affineUpdate: s [${s.shape}], t [${t.shape}] do not match x [${x.shape}] and ${n} columns`,
    );
  const xd = x.data;
  const sd = s.data;
  const td = t.data;
  const y = allocate(x.dtype, x.size);
  y.set(xd);
  const e = allocate(x.dtype, m * n); // e^{±s}, kept for the backward pass
  for (let r = 0; r < m; r++) {
    const ro = r * k;
    const so = r * n;
    for (let c = 0; c < n; c++) {
      const i = ro + active[c]!;
      const sv = sd[so + c]!;
      if (inverse) {
        const ev = math.exp(-sv);
        e[so + c] = ev;
        y[i] = (xd[i]! - td[so + c]!) * ev;
      } else {
        const ev = math.exp(sv);
        e[so + c] = ev;
        y[i] = xd[i]! * ev + td[so + c]!;
      }
    }
  }
  return record(new Tensor(y, x.shape), [x, s, t], (g, needs) => {
    const gx = needs[0] ? allocate(x.dtype, x.size) : null;
    const gs = needs[1] ? allocate(x.dtype, m * n) : null;
    const gt = needs[2] ? allocate(x.dtype, m * n) : null;
    if (gx) gx.set(g);
    for (let r = 0; r < m; r++) {
      const ro = r * k;
      const so = r * n;
      for (let c = 0; c < n; c++) {
        const i = ro + active[c]!;
        const ev = e[so + c]!;
        const gv = g[i]!;
        if (gx) gx[i] = gv * ev;
        if (inverse) {
          if (gs) gs[so + c] = -gv * y[i]!;
          if (gt) gt[so + c] = -gv * ev;
        } else {
          if (gs) gs[so + c] = gv * xd[i]! * ev;
          if (gt) gt[so + c] = gv;
        }
      }
    }
    return [gx, gs, gt];
  });
}

export interface NeuralRgBlockConfig {
  /** Number of affine couplings. */
  nlayers: number;
  /** Hidden width of the s-nets. */
  hiddenS: number;
  /** Hidden width of the t-nets. */
  hiddenT: number;
  /** Start as the identity (t-nets' last layer zeroed; scale is 0 anyway). */
  identityInit?: boolean;
  /**
   * Run the whole block as one fused op (engine/fused/neuralrg-block.ts: WebAssembly SIMD,
   * lanes = rows) where it can run (default true); else, and with false, the op path below.
   */
  fused?: boolean;
}

/** The RealNVP block on 4 variables: x [M, 4] (or any [M, …] of 4 components). */
export class NeuralRgBlock implements Bijector {
  readonly conditioners: readonly NeuralRgConditioner[];
  /** Whether calls try the fused op (config.fused; settable: benchmarks compare the paths). */
  fused: boolean;

  constructor(readonly config: NeuralRgBlockConfig) {
    const { nlayers, hiddenS, hiddenT } = config;
    if (!Number.isInteger(nlayers) || nlayers < 1)
      throw new RangeError(`NeuralRgBlock: nlayers must be an integer ≥ 1, got ${nlayers}`);
    for (const [name, h] of [
      ["hiddenS", hiddenS],
      ["hiddenT", hiddenT],
    ] as const)
      if (!Number.isInteger(h) || h < 1)
        throw new RangeError(`NeuralRgBlock: ${name} must be an integer ≥ 1, got ${h}`);
    this.fused = config.fused ?? true;
    this.conditioners = Array.from(
      { length: nlayers },
      (_, j) =>
        new NeuralRgConditioner(neuralRgPartition(j), {
          hiddenS,
          hiddenT,
          zeroT: config.identityInit ?? false,
        }),
    );
  }

  initParams(rng: Rng, dtype: DType): Params {
    const out: Params = {};
    this.conditioners.forEach((c, j) => {
      Object.assign(out, prefixParams(c.initParams(rng, dtype), String(j)));
    });
    return out;
  }

  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor } {
    return this.run(params, x, false);
  }

  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor } {
    const r = this.run(params, y, true);
    return { x: r.y, logDet: r.logDet };
  }

  private run(params: Params, x: Tensor, inverse: boolean): { y: Tensor; logDet: Tensor } {
    const m = x.shape[0]!;
    if (x.size !== m * 4)
      throw new RangeError(`NeuralRgBlock: input [${x.shape}] does not hold blocks of 4 variables`);
    let y = reshape(x, [m, 4]);
    const n = this.conditioners.length;
    if (this.fused) {
      const cs: NeuralRgCouplingParams[] = this.conditioners.map((c, j) => {
        const p = (name: string) => {
          const t = params[`${j}.${name}`];
          if (!t) throw new RangeError(`NeuralRgBlock: missing parameter ${j}.${name}`);
          return t;
        };
        return {
          s0w: p("s.0.weight"),
          s0b: p("s.0.bias"),
          s2w: p("s.2.weight"),
          s2b: p("s.2.bias"),
          scale: p("s.scale"),
          t0w: p("t.0.weight"),
          t0b: p("t.0.bias"),
          t2w: p("t.2.weight"),
          t2b: p("t.2.bias"),
          frozen: c.partition.frozen,
          active: c.partition.active,
        };
      });
      const r = neuralRgBlockFused(y, cs, inverse);
      if (r) return { y: reshape(r.y, x.shape), logDet: r.logDet };
    }
    let logDet: Tensor | null = null;
    for (let q = 0; q < n; q++) {
      const j = inverse ? n - 1 - q : q;
      const c = this.conditioners[j]!;
      const { s, t } = c.scaleAndShift(subParams(params, String(j)), y);
      y = affineUpdate(y, s, t, c.partition.active, inverse);
      const ld = sum(s, [1]);
      logDet = logDet === null ? ld : add(logDet, ld);
    }
    return { y: reshape(y, x.shape), logDet: inverse ? neg(logDet!) : logDet! };
  }
}
