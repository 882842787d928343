/**
 * A bijector applied independently to disjoint blocks of sites, with one set of weights for
 * every block (weight sharing, the "disentangler"/"decimator" layers of NeuralRG, arXiv
 * 1802.02840). With blocks β_1 … β_n (each k flat site indices, in block-local order) and an
 * inner bijector g on k variables:
 *
 *   y[β_i] = g(x[β_i])   (i = 1 … n),   y_s = x_s for sites s in no block,
 *   log|det ∂y/∂x| = Σ_i log|det J_g(x[β_i])|,
 *
 * exact because the blocks are disjoint, so the Jacobian is block diagonal (up to a
 * permutation). The blocks of all configurations are stacked into one batch [B·n, k] for the
 * inner bijector, so the work is a few large ops however many blocks there are; the result
 * goes back by one op (`replaceColumns`: the block sites replaced, the others kept).
 */
import {
  allocate,
  type DType,
  gather,
  type Params,
  record,
  reshape,
  scatter,
  sum,
  Tensor,
} from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import type { Bijector } from "./bijector.js";

export class Blockwise implements Bijector {
  /** Number of blocks. */
  readonly nBlocks: number;
  private readonly restCache = new Map<number, Int32Array>();

  /**
   * @param blocks flat site indices, nBlocks × blockSize, block after block (row-major
   *   offsets into one configuration); blocks must be disjoint.
   * @param inner the bijector on [M, blockSize] (shared by all blocks; its parameters are this
   *   layer's, unprefixed).
   */
  constructor(
    readonly blocks: Int32Array,
    readonly inner: Bijector,
    readonly blockSize = 4,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 1)
      throw new RangeError(`Blockwise: block size must be a positive integer, got ${blockSize}`);
    if (blocks.length === 0 || blocks.length % blockSize !== 0)
      throw new RangeError(
        `Blockwise: ${blocks.length} indices do not make whole blocks of ${blockSize} (and need at least one)`,
      );
    this.nBlocks = blocks.length / blockSize;
    const seen = new Set<number>();
    for (const i of blocks) {
      if (!Number.isInteger(i) || i < 0) throw new RangeError(`Blockwise: bad site index ${i}`);
      if (seen.has(i)) throw new RangeError(`Blockwise: site ${i} is in more than one block`);
      seen.add(i);
    }
  }

  initParams(rng: Rng, dtype: DType): Params {
    return this.inner.initParams(rng, dtype);
  }

  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor } {
    return this.apply(params, x, false);
  }

  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor } {
    const r = this.apply(params, y, true);
    return { x: r.y, logDet: r.logDet };
  }

  /** Sites of a configuration of `volume` sites in no block, ascending. */
  passThrough(volume: number): Int32Array {
    let rest = this.restCache.get(volume);
    if (rest === undefined) {
      const inBlock = new Uint8Array(volume);
      for (const i of this.blocks) {
        if (i >= volume)
          throw new RangeError(`Blockwise: site ${i} is outside a configuration of ${volume} sites`);
        inBlock[i] = 1;
      }
      const r: number[] = [];
      for (let i = 0; i < volume; i++) if (inBlock[i] === 0) r.push(i);
      rest = Int32Array.from(r);
      this.restCache.set(volume, rest);
    }
    return rest;
  }

  private apply(params: Params, x: Tensor, inverse: boolean): { y: Tensor; logDet: Tensor } {
    const b = x.shape[0]!;
    const v = x.shape.slice(1).reduce((a, c) => a * c, 1);
    const rest = this.passThrough(v);
    const n = this.nBlocks;
    const k = this.blockSize;
    const flat = reshape(x, [b, v]);
    const xb = reshape(gather(flat, 1, this.blocks), [b * n, k]);
    const r = inverse ? this.inner.inverseAndLogDet(params, xb) : this.inner.forwardAndLogDet(params, xb);
    const yb = reshape("y" in r ? r.y : r.x, [b, n * k]);
    const y = rest.length > 0 ? replaceColumns(flat, this.blocks, yb) : scatter(yb, 1, this.blocks, v);
    return { y: reshape(y, x.shape), logDet: sum(reshape(r.logDet, [b, n]), [1]) };
  }
}

/**
 * x [B, V] with columns idx replaced by u [B, n] (one op for scatter(u) + x at the other
 * columns): y[:, idx[j]] = u[:, j], y = x elsewhere. Cotangents: ḡx = g with the idx columns
 * zeroed, ḡu = g[:, idx].
 */
export function replaceColumns(x: Tensor, idx: Int32Array, u: Tensor): Tensor {
  const [b, v] = x.shape as [number, number];
  const n = idx.length;
  if (u.size !== b * n) throw new RangeError(`replaceColumns: u [${u.shape}] for ${b} rows of ${n} columns`);
  const xd = x.data;
  const ud = u.data;
  const y = allocate(x.dtype, x.size);
  y.set(xd);
  for (let r = 0; r < b; r++) {
    const yo = r * v;
    const uo = r * n;
    for (let j = 0; j < n; j++) y[yo + idx[j]!] = ud[uo + j]!;
  }
  return record(new Tensor(y, x.shape), [x, u], (g, needs) => {
    let gx = null;
    let gu = null;
    if (needs[0]) {
      gx = allocate(x.dtype, x.size);
      gx.set(g);
      for (let r = 0; r < b; r++) for (let j = 0; j < n; j++) gx[r * v + idx[j]!] = 0;
    }
    if (needs[1]) {
      gu = allocate(x.dtype, b * n);
      for (let r = 0; r < b; r++) for (let j = 0; j < n; j++) gu[r * n + j] = g[r * v + idx[j]!]!;
    }
    return [gx, gu];
  });
}
