/**
 * NeuralRG's pictures of a trained MERA flow (arXiv 1802.02840, its visualizeRG and
 * visualizeRGscales): the renormalised variables of a few samples at every scale, and the response
 * ∂x/∂z of the configuration to one latent variable of each scale. Drawn by `plot --run`.
 */
import { type Params, Tensor } from "../engine/index.js";
import { type HierarchicalFlow, meraScaleOfSite, renormalisedVariables } from "../flows/mera.js";
import type { TheorySpec } from "../model/index.js";
import type { Figure } from "../plots/specs/common.js";
import { rgFigure } from "../plots/specs/rg.js";
import { rgScalesFigure } from "../plots/specs/rg-scales.js";
import { Rng } from "../rng/philox.js";

/** Samples of the rg figure (NeuralRG's visualizeRG draws 4). */
export const RG_SAMPLES = 4;
/** Step of the central differences of the rg-scales figure (float64). */
export const RG_JACOBIAN_STEP = 1e-4;

/**
 * The latent site of scale k (meraScaleOfSite) nearest the centre ((L−1)/2, (L−1)/2) of an L×L
 * lattice, ties to the first in row-major order.
 */
export function latentSiteNearCentre(latticeSize: number, k: number): [number, number] {
  const L = latticeSize;
  const scales = meraScaleOfSite(L);
  const c = (L - 1) / 2;
  let best: [number, number] | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (let i = 0; i < L; i++)
    for (let j = 0; j < L; j++) {
      if (scales[i * L + j] !== k) continue;
      const d = (i - c) ** 2 + (j - c) ** 2;
      if (d < bestD) {
        bestD = d;
        best = [i, j];
      }
    }
  if (best === null) throw new RangeError(`latentSiteNearCentre: no site of scale ${k} on ${L}×${L}`);
  return best;
}

/**
 * Columns of the Jacobian ∂x/∂z of a MERA flow at `z` [L·L] (float64, central differences with
 * step h), one for each of `sites`: L·L values each. One batched forward pass of 2·sites rows.
 */
export function jacobianColumns(
  flow: HierarchicalFlow,
  params: Params,
  z: ArrayLike<number>,
  sites: readonly (readonly [number, number])[],
  h = RG_JACOBIAN_STEP,
): Float64Array[] {
  const L = flow.latticeSize;
  const V = L * L;
  const p64: Params = {};
  for (const [name, t] of Object.entries(params)) p64[name] = new Tensor(Float64Array.from(t.data), t.shape);
  const batch = new Float64Array(2 * sites.length * V);
  sites.forEach(([i, j], s) => {
    for (const [r, sign] of [
      [2 * s, 1],
      [2 * s + 1, -1],
    ] as const) {
      for (let p = 0; p < V; p++) batch[r * V + p] = z[p]!;
      batch[r * V + i * L + j]! += sign * h;
    }
  });
  const { x } = flow.forwardWithLogProb(p64, new Tensor(batch, [2 * sites.length, L, L]));
  return sites.map((_, s) => {
    const col = new Float64Array(V);
    for (let p = 0; p < V; p++) col[p] = (x.data[2 * s * V + p]! - x.data[(2 * s + 1) * V + p]!) / (2 * h);
    return col;
  });
}

/**
 * NeuralRG's pictures of a MERA flow: `rg` (the renormalised variables of RG_SAMPLES samples
 * x ~ q drawn with `seed`; tanh at k = 0 for the relaxed Ising model) and `rg-scales` (∂x/∂z at
 * one prior sample z drawn with `seed`, for the latent site of each scale nearest the centre).
 */
export function meraFigures(
  flow: HierarchicalFlow,
  params: Params,
  theory: TheorySpec,
  opts: { seed: number; label?: string },
): Figure[] {
  if (flow.kind !== "mera") throw new RangeError("meraFigures: needs a MERA flow");
  const L = flow.latticeSize;
  const dtype = Object.values(params)[0]?.dtype ?? "float64";
  const { x } = flow.sample(params, new Rng(opts.seed), RG_SAMPLES, dtype);
  const levels = renormalisedVariables(flow, params, x).map((t) => ({
    side: t.shape[1]!,
    values: Float64Array.from(t.data),
  }));
  const label = opts.label;
  const rg = rgFigure({
    levels,
    spinExpectation: theory.kind === "ising",
    theory,
    ...(label === undefined ? {} : { label }),
  });
  const z = flow.prior.sample(new Rng(opts.seed), 1, "float64").data;
  const scales = levels.map((_, k) => k);
  const sites = scales.map((k) => latentSiteNearCentre(L, k));
  const columns = jacobianColumns(flow, params, z, sites);
  const scalesFig = rgScalesFigure({
    latticeSize: L,
    panels: scales.map((k) => ({ k, site: sites[k]!, response: columns[k]! })),
    quantity: "∂x/∂z",
    method: `by central differences (h = ${RG_JACOBIAN_STEP}, float64) at one prior sample z`,
    theory,
    ...(label === undefined ? {} : { label }),
  });
  return [rg, scalesFig];
}
