/**
 * NeuralRG's hierarchical flows (Li & Wang, arXiv 1802.02840): MERA-like and TEBD-like
 * networks of RealNVP blocks (arXiv 1605.08803, neuralrg-block.ts) acting on 2×2 blocks of an
 * L×L lattice, each layer a Blockwise bijector (one block network shared by all its blocks).
 *
 * MERA (L = 2ⁿ). Read in the renormalisation-group direction x → z (inference): level
 * k = 0 … n−1 works on the sites with both coordinates multiples of s = 2ᵏ, an (L/s)² sublattice,
 * and applies ndis + 1 Blockwise layers j = 0 … ndis whose blocks are the 2×2 blocks of that
 * sublattice, periodic:
 *
 *   j even (aligned):  {(s(2a+u), s(2b+v)) : u, v ∈ {0,1}},
 *   j odd (shifted):   {(s(2a+1+u) mod L, s(2b+1+v) mod L) : u, v ∈ {0,1}},
 *
 * listed in block-local order (u,v) = (0,0), (0,1), (1,0), (1,1). The last layer of a level is the
 * decimator: of each of its blocks, the site with both coordinates multiples of 2s goes on to
 * level k+1, the other three are final latent variables (scale k). After level n−1 one site,
 * (0,0), is left (scale n). This is NeuralRG oldstable's MERA with metaDepth = ndis + 1 (with
 * ndis = 1, master's [aligned, shifted] pair per level). Each layer has its own block weights.
 *
 * As a Flow (z → x, generation) the layers come in the reverse order: coarsest level first and,
 * within a level, the decimator first. Each Blockwise's forward runs the block's forward
 * (NeuralRG's `generate`); the RG map is the inverse, so
 *   z = f⁻¹(x) (Flow.inverse),   log q(x) = log r(z) + log|det ∂z/∂x|,   r = N(0, 1)^{L²}.
 *
 * TEBD: depth × (aligned blocks, blocks shifted by one site along both axes) on the full
 * lattice, no coarse-graining; the same ordering conventions (the RG-direction list is
 * [aligned, shifted, aligned, …], the Flow holds it reversed).
 *
 * Renormalised variables: for each level k = 0 … n, the configuration after the RG map through
 * all levels < k, restricted to the stride-2ᵏ sublattice ([B, L/2ᵏ, L/2ᵏ]; k = 0 is x, k = n the
 * single top variable): the coarse-grained fields of the learnt RG.
 *
 * Parameters `{l}.{j}.{s,t}.…` with l the Flow layer (generative order) and j the coupling of
 * its block (neuralrg-block.ts).
 */
import { gather, type Params, reshape, type Tensor } from "../engine/index.js";
import type { Bijector } from "./bijector.js";
import { subParams } from "./bijector.js";
import { Blockwise } from "./blockwise.js";
import { Flow } from "./flow.js";
import { NeuralRgBlock } from "./neuralrg-block.js";
import { NormalPrior } from "./prior.js";

export interface MeraConfig {
  latticeShape: readonly number[];
  /** Disentangler layers per level before the decimator (≥ 0). */
  ndis: number;
  /** Couplings per RealNVP block. */
  nlayers: number;
  hiddenS: number;
  hiddenT: number;
  /** Every block starts as the identity. */
  identityInit?: boolean;
}

export interface TebdConfig {
  latticeShape: readonly number[];
  /** Number of (aligned, shifted) pairs. */
  depth: number;
  nlayers: number;
  hiddenS: number;
  hiddenT: number;
  identityInit?: boolean;
}

/** A Flow built from Blockwise layers, with the level each layer belongs to. */
export class HierarchicalFlow extends Flow {
  constructor(
    layers: readonly Blockwise[],
    /** Lattice extent L (lattice [L, L]). */
    readonly latticeSize: number,
    /** The RG level of each Flow layer (0 = finest; all 0 for TEBD). */
    readonly layerLevel: readonly number[],
    readonly kind: "mera" | "tebd",
  ) {
    super(new NormalPrior([latticeSize, latticeSize]), layers);
  }

  /** The Blockwise layers, in Flow (generative) order. */
  get blockLayers(): readonly Blockwise[] {
    return this.layers as readonly Blockwise[];
  }
}

function log2Exact(n: number): number {
  let k = 0;
  while (1 << k < n) k++;
  return k;
}

function isPowerOf2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

function squareSide(name: string, shape: readonly number[]): number {
  if (shape.length !== 2 || shape[0] !== shape[1])
    throw new RangeError(`${name}: the lattice must be square [L, L], got [${shape}]`);
  return shape[0]!;
}

function checkInt(name: string, what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min)
    throw new RangeError(`${name}: ${what} must be an integer ≥ ${min}, got ${v}`);
}

/**
 * The 2×2 blocks of the stride-`stride` sublattice of an L×L lattice (periodic), aligned or
 * shifted by one sublattice step along both axes: nBlocks × 4 flat indices (row-major, site
 * (i, j) ↦ i·L + j), block after block (row-major in (a, b)), each block in block-local order
 * (0,0), (0,1), (1,0), (1,1).
 */
export function blockIndices(latticeSize: number, stride: number, shifted: boolean): Int32Array {
  const L = latticeSize;
  const n = L / stride;
  if (!Number.isInteger(n) || n < 2 || n % 2 !== 0)
    throw new RangeError(`blockIndices: stride ${stride} does not give an even sublattice of L = ${L}`);
  const o = shifted ? 1 : 0;
  const h = n / 2;
  const out = new Int32Array(h * h * 4);
  let p = 0;
  for (let a = 0; a < h; a++)
    for (let b = 0; b < h; b++)
      for (let u = 0; u < 2; u++)
        for (let v = 0; v < 2; v++) {
          const i = ((2 * a + u + o) % n) * stride;
          const j = ((2 * b + v + o) % n) * stride;
          out[p++] = i * L + j;
        }
  return out;
}

/** Flat indices of the stride-`stride` sublattice of an L×L lattice, row-major. */
export function sublatticeIndices(latticeSize: number, stride: number): Int32Array {
  const n = latticeSize / stride;
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`sublatticeIndices: stride ${stride} does not divide L = ${latticeSize}`);
  const out = new Int32Array(n * n);
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) out[a * n + b] = a * stride * latticeSize + b * stride;
  return out;
}

/** RG-direction layer plan of a MERA: (level, blocks) for each Blockwise, level by level. */
export function meraPlan(latticeSize: number, ndis: number): { level: number; blocks: Int32Array }[] {
  const levels = log2Exact(latticeSize);
  const plan: { level: number; blocks: Int32Array }[] = [];
  for (let k = 0; k < levels; k++)
    for (let j = 0; j <= ndis; j++)
      plan.push({ level: k, blocks: blockIndices(latticeSize, 1 << k, j % 2 === 1) });
  return plan;
}

function blockFor(config: { nlayers: number; hiddenS: number; hiddenT: number; identityInit?: boolean }) {
  return new NeuralRgBlock({
    nlayers: config.nlayers,
    hiddenS: config.hiddenS,
    hiddenT: config.hiddenT,
    identityInit: config.identityInit ?? false,
  });
}

/** NeuralRG's MERA flow on [L, L], L a power of 2 (see the file comment). */
export function meraFlow(config: MeraConfig): HierarchicalFlow {
  const L = squareSide("meraFlow", config.latticeShape);
  if (!isPowerOf2(L) || L < 2) throw new RangeError(`meraFlow: L must be a power of 2 (≥ 2), got ${L}`);
  checkInt("meraFlow", "ndis", config.ndis, 0);
  checkInt("meraFlow", "nlayers", config.nlayers, 1);
  checkInt("meraFlow", "hiddenS", config.hiddenS, 1);
  checkInt("meraFlow", "hiddenT", config.hiddenT, 1);
  const plan = meraPlan(L, config.ndis).reverse();
  return new HierarchicalFlow(
    plan.map((p) => new Blockwise(p.blocks, blockFor(config))),
    L,
    plan.map((p) => p.level),
    "mera",
  );
}

/** NeuralRG's TEBD flow on [L, L], L even: depth × (aligned, shifted) Blockwise layers. */
export function tebdFlow(config: TebdConfig): HierarchicalFlow {
  const L = squareSide("tebdFlow", config.latticeShape);
  if (!Number.isInteger(L) || L < 2 || L % 2 !== 0)
    throw new RangeError(`tebdFlow: L must be even (≥ 2), got ${L}`);
  checkInt("tebdFlow", "depth", config.depth, 1);
  checkInt("tebdFlow", "nlayers", config.nlayers, 1);
  checkInt("tebdFlow", "hiddenS", config.hiddenS, 1);
  checkInt("tebdFlow", "hiddenT", config.hiddenT, 1);
  const rg: Int32Array[] = [];
  for (let d = 0; d < config.depth; d++) rg.push(blockIndices(L, 1, false), blockIndices(L, 1, true));
  const layers = rg.reverse().map((b) => new Blockwise(b, blockFor(config)));
  return new HierarchicalFlow(
    layers,
    L,
    layers.map(() => 0),
    "tebd",
  );
}

/**
 * For each site of z (row-major), the MERA level at which it becomes a final latent variable:
 * k where both coordinates are multiples of 2ᵏ but not both of 2ᵏ⁺¹; the site (0,0) gets log₂L.
 * Level k holds 3·(L/2ᵏ⁺¹)² sites.
 */
export function meraScaleOfSite(latticeSize: number): Int32Array {
  const L = latticeSize;
  if (!isPowerOf2(L)) throw new RangeError(`meraScaleOfSite: L must be a power of 2, got ${L}`);
  const top = log2Exact(L);
  const out = new Int32Array(L * L);
  for (let i = 0; i < L; i++)
    for (let j = 0; j < L; j++) {
      let k = 0;
      while (k < top && i % (2 << k) === 0 && j % (2 << k) === 0) k++;
      out[i * L + j] = k;
    }
  return out;
}

/**
 * The renormalised variables of a MERA flow at x [B, L, L]: for k = 0 … log₂L, the
 * configuration after the RG map (x → z) through all levels < k, restricted to the stride-2ᵏ
 * sublattice, [B, L/2ᵏ, L/2ᵏ]. The first is x, the last the top variable [B, 1, 1] (= z at (0,0)).
 * Differentiable (engine ops).
 */
export function renormalisedVariables(flow: HierarchicalFlow, params: Params, x: Tensor): Tensor[] {
  if (flow.kind !== "mera") throw new RangeError("renormalisedVariables: needs a MERA flow (meraFlow)");
  const L = flow.latticeSize;
  const b = x.shape[0]!;
  const levels = log2Exact(L);
  const restrict = (t: Tensor, k: number) => {
    const n = L >> k;
    return reshape(gather(reshape(t, [b, L * L]), 1, sublatticeIndices(L, 1 << k)), [b, n, n]);
  };
  const out: Tensor[] = [reshape(x, [b, L, L])];
  let z = x;
  const layers: readonly Bijector[] = flow.layers;
  for (let i = layers.length - 1; i >= 0; i--) {
    z = layers[i]!.inverseAndLogDet(subParams(params, String(i)), z).x;
    const level = flow.layerLevel[i]!;
    if (i === 0 || flow.layerLevel[i - 1] !== level) out.push(restrict(z, level + 1));
  }
  if (out.length !== levels + 1) throw new Error("renormalisedVariables: inconsistent levels");
  return out;
}
