/**
 * A gauge-equivariant coupling layer for U(1) links on a 2-d lattice (Kanwar et al., arXiv
 * 2003.06413; the tutorial's GaugeEquivCouplingLayer, arXiv 2101.08176), built from a
 * plaquette coupling g — a bijector on the plaquettes P(x) = θ₀(x) + θ₁(x+ê₀) − θ₀(x+ê₁) − θ₁(x)
 * that transforms the active ones, P'_A = h(P_A; θ(P_F)), and passes the rest through — and
 * the link update that realises it. With δ(x) = P'(x) − P(x) at the active plaquettes
 * (plaquette-masks.ts: x_ν ≡ offset mod 4, ν = 1 − μ):
 *
 *   μ = 0:  θ₀(x) ← (θ₀(x) + δ(x)) mod 2π        (θ₀(x) enters P(x) with +)
 *   μ = 1:  θ₁(x) ← (θ₁(x) − δ(x)) mod 2π        (θ₁(x) enters P(x) with −)
 *
 * at the same site x (no shift: the tutorial's stack((δ, −δ)) on the active-link mask); all
 * other links are unchanged. P(x) then becomes P'(x) mod 2π, the passive P(x − ν̂) change by
 * ∓δ, the frozen ones not at all. The link Jacobian is triangular with diagonal h'(P(x)), so
 *
 *   log|det ∂θ'/∂θ| = Σ_{x active} log h'(P(x)) = the plaquette coupling's log-det.
 *
 * Gauge transformations θ_μ(x) → θ_μ(x) + α(x) − α(x+μ̂) leave every P, hence δ, unchanged:
 * the layer commutes with them (mod 2π) and log q is gauge invariant. The inverse reads P' from
 * the output, inverts g (its conditioner sees the unchanged frozen plaquettes) and undoes the
 * update. Parameters: the plaquette coupling's under `plaq_coupling.` (the tutorial's names).
 */
import {
  add,
  type DType,
  gather,
  mod,
  type Params,
  reshape,
  roll,
  scale,
  scatter,
  slice,
  sub,
  type Tensor,
} from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { type Bijector, prefixParams, subParams } from "./bijector.js";
import type { PlaquetteMasks } from "./plaquette-masks.js";

const TWO_PI = 2 * Math.PI;
const PLAQ = "plaq_coupling";

/** P₀₁(x) of links [B, 2, L0, L1]: [B, L0, L1] (the theory's and the tutorial's convention). */
export function plaquettes2d(links: Tensor): Tensor {
  const [b, , l0, l1] = links.shape as [number, number, number, number];
  const t0 = reshape(slice(links, 1, 0, 1), [b, l0, l1]);
  const t1 = reshape(slice(links, 1, 1, 1), [b, l0, l1]);
  // roll by −1 along an axis reads the neighbour at x + ê: torch.roll's convention.
  return sub(add(t0, roll(t1, -1, 1)), add(roll(t0, -1, 2), t1));
}

export class GaugeEquivariantCoupling implements Bijector {
  private readonly linkCount: number;
  /** How the updated link enters its active plaquette. */
  private readonly sign: 1 | -1;

  constructor(
    readonly masks: PlaquetteMasks,
    /** A bijector on plaquettes [B, L0, L1] that changes only masks.active. */
    readonly plaquetteCoupling: Bijector,
  ) {
    this.linkCount = 2 * masks.latticeShape[0] * masks.latticeShape[1];
    this.sign = masks.mu === 0 ? 1 : -1;
  }

  initParams(rng: Rng, dtype: DType): Params {
    return prefixParams(this.plaquetteCoupling.initParams(rng, dtype), PLAQ);
  }

  forwardAndLogDet(params: Params, x: Tensor): { y: Tensor; logDet: Tensor } {
    const links = this.checked(x);
    const plaq = plaquettes2d(links);
    const r = this.plaquetteCoupling.forwardAndLogDet(subParams(params, PLAQ), plaq);
    return { y: reshape(this.update(links, r.y, plaq), x.shape), logDet: r.logDet };
  }

  inverseAndLogDet(params: Params, y: Tensor): { x: Tensor; logDet: Tensor } {
    const links = this.checked(y);
    const plaq = plaquettes2d(links);
    const r = this.plaquetteCoupling.inverseAndLogDet(subParams(params, PLAQ), plaq);
    return { x: reshape(this.update(links, r.x, plaq), y.shape), logDet: r.logDet };
  }

  private checked(x: Tensor): Tensor {
    const b = x.shape[0]!;
    if (x.size !== b * this.linkCount)
      throw new RangeError(
        `GaugeEquivariantCoupling: input [${x.shape}] does not hold links [2, ${this.masks.latticeShape}]`,
      );
    return reshape(x, [b, 2, ...this.masks.latticeShape]);
  }

  /** The links with the active ones moved so that P becomes `target` at the active plaquettes. */
  private update(links: Tensor, target: Tensor, plaq: Tensor): Tensor {
    const { active, activeLinks, passiveLinks } = this.masks;
    const b = links.shape[0]!;
    const v = this.linkCount / 2;
    const flat = reshape(links, [b, this.linkCount]);
    const delta = gather(reshape(sub(target, plaq), [b, v]), 1, active);
    const moved = mod(add(gather(flat, 1, activeLinks), scale(delta, this.sign)), TWO_PI);
    return add(
      scatter(gather(flat, 1, passiveLinks), 1, passiveLinks, this.linkCount),
      scatter(moved, 1, activeLinks, this.linkCount),
    );
  }
}
