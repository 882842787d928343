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
import { allocate, type DType, type Params, record, reshape, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";
import { type Bijector, prefixParams, subParams } from "./bijector.js";
import type { PlaquetteMasks } from "./plaquette-masks.js";

const TWO_PI = 2 * Math.PI;
const PLAQ = "plaq_coupling";

/**
 * P₀₁(x) of links [B, 2, L0, L1]: [B, L0, L1] (the theory's and the tutorial's convention), in one
 * pass: P(x) = (θ₀(x) + θ₁(x+ê₀)) − (θ₀(x+ê₁) + θ₁(x)), the grouping of the tensor expression
 * t0 + roll(t1) − (roll(t0) + t1), so values are the same to the bit. Gradient: each link gets
 * ±g of the two plaquettes it enters, ∂/∂θ₀(x) = g(x) − g(x−ê₁), ∂/∂θ₁(x) = g(x−ê₀) − g(x).
 */
export function plaquettes2d(links: Tensor): Tensor {
  const [b, , l0, l1] = links.shape as [number, number, number, number];
  const v = l0 * l1;
  const src = links.data;
  const out = allocate(links.dtype, b * v);
  // float32: each sum rounded as the tensor ops store it (f32 is the identity for float64).
  const f32 = links.dtype === "float32" ? Math.fround : (u: number) => u;
  for (let r = 0; r < b; r++) {
    const o0 = 2 * r * v;
    const o1 = o0 + v;
    const po = r * v;
    for (let a = 0; a < l0; a++) {
      const row = a * l1;
      const rowUp = ((a + 1) % l0) * l1;
      for (let c = 0; c < l1; c++) {
        const x = row + c;
        const right = row + (c + 1 === l1 ? 0 : c + 1);
        out[po + x] = f32(src[o0 + x]! + src[o1 + rowUp + c]!) - f32(src[o0 + right]! + src[o1 + x]!);
      }
    }
  }
  return record(new Tensor(out, [b, l0, l1]), [links], (g) => {
    const gl = allocate(links.dtype, 2 * b * v);
    for (let r = 0; r < b; r++) {
      const o0 = 2 * r * v;
      const o1 = o0 + v;
      const po = r * v;
      for (let a = 0; a < l0; a++) {
        const row = a * l1;
        const rowDown = ((a + l0 - 1) % l0) * l1;
        for (let c = 0; c < l1; c++) {
          const x = row + c;
          const left = row + (c === 0 ? l1 - 1 : c - 1);
          gl[o0 + x] = g[po + x]! - g[po + left]!;
          gl[o1 + x] = g[po + rowDown + c]! - g[po + x]!;
        }
      }
    }
    return [gl];
  });
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

  /**
   * The links with the active ones moved so that P becomes `target` at the active plaquettes:
   * θ_l ← (θ_l + sign·(target_x − P_x)) mod 2π at the active link l of plaquette x, in one pass
   * (each step rounded to the dtype, as the tensor ops would). Gradient: ∂/∂θ = 1 (mod included),
   * ∂/∂target_x = sign·g_l, ∂/∂P_x = −sign·g_l at the active plaquettes, 0 elsewhere.
   */
  private update(links: Tensor, target: Tensor, plaq: Tensor): Tensor {
    const { active, activeLinks } = this.masks;
    const b = links.shape[0]!;
    const nl = this.linkCount;
    const v = nl / 2;
    const sign = this.sign;
    const dtype = links.dtype;
    const out = allocate(dtype, b * nl);
    out.set(links.data);
    const td = target.data;
    const pd = plaq.data;
    const n = active.length;
    const f32 = dtype === "float32";
    for (let r = 0; r < b; r++) {
      for (let i = 0; i < n; i++) {
        const x = r * v + active[i]!;
        const l = r * nl + activeLinks[i]!;
        // Rounded to the dtype at each step, as the tensor ops' intermediate results are.
        const delta = td[x]! - pd[x]!;
        out[l] = out[l]! + sign * (f32 ? Math.fround(delta) : delta);
        let m = out[l]! % TWO_PI;
        if (m < 0) m += TWO_PI;
        out[l] = m === 0 ? 0 : m;
        if (out[l]! >= TWO_PI) out[l] = 0;
      }
    }
    return record(new Tensor(out, [b, 2, ...this.masks.latticeShape]), [links, target, plaq], (g, needs) => {
      const gt = needs[1] ? allocate(dtype, b * v) : null;
      const gp = needs[2] ? allocate(dtype, b * v) : null;
      if (gt || gp)
        for (let r = 0; r < b; r++)
          for (let i = 0; i < n; i++) {
            const gl = g[r * nl + activeLinks[i]!]!;
            const x = r * v + active[i]!;
            if (gt) gt[x] = sign * gl;
            if (gp) gp[x] = -sign * gl;
          }
      return [needs[0] ? g.slice() : null, gt, gp];
    });
  }
}
