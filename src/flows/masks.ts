/**
 * Checkerboard masks on periodic lattices of any dimension (arXiv 1904.12072):
 * mask(x) = (Σ_μ x_μ + parity) mod 2, as the notebook's get_mask: the parity-1 mask is 1 on
 * sites with even coordinate sum. Sites with mask 1 are frozen
 * (fed to the conditioner); sites with mask 0 are transformed.
 */
import { frozenSites } from "../engine/fused/coupling-sites.js";

/** The mask as numbers (1 = frozen); one definition shared with the fused coupling op. */
export function checkerboardMask(shape: readonly number[], parity: 0 | 1): Float64Array {
  return Float64Array.from(frozenSites(shape, parity));
}

/** Whether a checkerboard is consistent on this lattice under periodic wrapping. */
export function checkerboardFits(shape: readonly number[]): boolean {
  return shape.every((n) => n % 2 === 0);
}
