/**
 * Checkerboard masks on periodic lattices of any dimension (arXiv 1904.12072):
 * mask(x) = (Σ_μ x_μ + parity) mod 2, as the notebook's get_mask: the parity-1 mask is 1 on
 * sites with even coordinate sum. Sites with mask 1 are frozen
 * (fed to the conditioner); sites with mask 0 are transformed.
 */
import { latticeStrides, latticeVolume } from "../theories/lattice.js";

export function checkerboardMask(shape: readonly number[], parity: 0 | 1): Float64Array {
  const v = latticeVolume(shape);
  const strides = latticeStrides(shape);
  const m = new Float64Array(v);
  for (let x = 0; x < v; x++) {
    let sum = 0;
    for (let d = 0; d < shape.length; d++) sum += Math.floor(x / strides[d]!) % shape[d]!;
    m[x] = (sum + parity) % 2;
  }
  return m;
}

/** Whether a checkerboard is consistent on this lattice under periodic wrapping. */
export function checkerboardFits(shape: readonly number[]): boolean {
  return shape.every((n) => n % 2 === 0);
}
