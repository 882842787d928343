/**
 * Moving the equivariant continuous flow (continuous-flow.ts) to a larger lattice, as Gerdes et
 * al. (arXiv 2207.00283) transfer flows learned on small lattices to larger ones. Only the kernel
 * w [O, F, T] depends on the lattice (O = offsetOrbits(shape).count); timeMix, featureMix and
 * omega carry over unchanged.
 *
 * Source lattice S (extents Lₛ), target T (extents Lₜ ≥ Lₛ on every axis, same dimension). On
 * target offsets d in minimal-image coordinates, −Lₜ/2 < d_a ≤ Lₜ/2:
 *
 *   Kₜ(d) = Kₛ(d mod Lₛ) / 2^k   if every |d_a| ≤ Lₛ/2,   else 0,
 *
 * with k the number of axes where |d_a| = Lₛ/2 exactly and Lₜ > Lₛ (Lₛ even): there ±Lₛ/2
 * are two target offsets that the one source offset Lₛ/2 stands for. (With Lₜ = Lₛ on an axis,
 * Lₛ/2 is one offset of either lattice and is not halved.) Then w_t[o] = Kₜ(d) at any offset d
 * of target orbit o; all of them agree, since Kₛ is constant on source orbits, and checked below.
 *
 * Why: on a target field that tiles a source field (Lₜ a multiple of Lₛ, φ_x = φ_{x mod Lₛ}),
 *
 *   Σ_d Kₜ(d) h(φ_{x+d}) = Σ_{dₛ} h(φ_{x+dₛ}) Σ_{d ≡ dₛ} Kₜ(d) = Σ_{dₛ} Kₛ(dₛ) h(φ_{x+dₛ}),
 *
 * because the 2^k images of dₛ in the window |d_a| ≤ Lₛ/2 carry total weight Kₛ(dₛ). So the
 * vector field maps tiled fields to tiled fields, Kₜ(0) = Kₛ(0), and the flow obeys
 * f_T(tile z) = tile f_S(z) and log-det_T(tile z) = (V_T/V_S)·log-det_S(z).
 *
 * A square target (all extents equal) has orbits closed under axis permutations, which a
 * non-square source's kernel need not respect: that embedding is refused, as are a smaller
 * target and another dimension.
 */
import { offsetOrbits } from "./equivariant-vector-field.js";

/** Why a cnf kernel on lattice `from` cannot move to `to`, or null if it can. */
export function cnfTransferProblem(from: readonly number[], to: readonly number[]): string | null {
  if (from.length !== to.length)
    return `lattice [${from}] is ${from.length}-d, lattice [${to}] ${to.length}-d`;
  const a = to.findIndex((L, i) => L < from[i]!);
  if (a >= 0) return `lattice [${to}] is smaller than [${from}] on axis ${a}`;
  const square = (s: readonly number[]) => s.every((L) => L === s[0]);
  if (square(to) && !square(from))
    return `lattice [${to}] is square, [${from}] is not: its kernel lacks the axis-permutation symmetry`;
  return null;
}

/** The kernel w [O_from, F, T] of lattice `from` embedded in lattice `to`: w [O_to, F, T] (see above). */
export function embedCnfKernel<A extends Float64Array | Float32Array>(
  w: A,
  F: number,
  T: number,
  from: readonly number[],
  to: readonly number[],
): A {
  const problem = cnfTransferProblem(from, to);
  if (problem !== null) throw new RangeError(`embedCnfKernel: ${problem}`);
  const src = offsetOrbits(from);
  const dst = offsetOrbits(to);
  const FT = F * T;
  if (w.length !== src.count * FT)
    throw new RangeError(
      `embedCnfKernel: w has ${w.length} entries, lattice [${from}] needs ${src.count}·${FT}`,
    );
  const out = new (w.constructor as new (n: number) => A)(dst.count * FT);
  const seen = new Uint8Array(dst.count);
  const round = w instanceof Float32Array ? Math.fround : (v: number) => v;
  for (let i = 0; i < dst.orbit.length; i++) {
    // Offset i (row-major over `to`) in minimal-image coordinates → source offset and weight.
    let r = i;
    let j = 0;
    let stride = 1;
    let weight = 1;
    for (let a = to.length - 1; a >= 0; a--) {
      const Lt = to[a]!;
      const Ls = from[a]!;
      const c = r % Lt;
      r = (r - c) / Lt;
      const d = 2 * c <= Lt ? c : c - Lt;
      const d2 = 2 * Math.abs(d);
      if (d2 > Ls) weight = 0;
      else if (d2 === Ls && Lt > Ls) weight /= 2;
      j += (((d % Ls) + Ls) % Ls) * stride;
      stride *= Ls;
    }
    const o = dst.orbit[i]!;
    const s = src.orbit[j]!;
    for (let e = 0; e < FT; e++) {
      const v = round(weight * w[s * FT + e]!);
      if (seen[o] && out[o * FT + e] !== v)
        throw new Error(`embedCnfKernel: orbit ${o} of [${to}] gets two values (a symmetry bug)`);
      out[o * FT + e] = v;
    }
    seen[o] = 1;
  }
  return out;
}
