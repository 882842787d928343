/**
 * A partition of a configuration's components into frozen ones (read by a coupling's
 * conditioner, passed through unchanged) and active ones (transformed). Any site set works;
 * the flows here use checkerboards (arXiv 1904.12072) and stripes (alternating slabs along one
 * axis, the layout of RealNVP's spatial masks, arXiv 1605.08803).
 *
 * Indices are row-major offsets into one configuration, ascending.
 */
import { latticeStrides, latticeVolume } from "../theories/lattice.js";
import { checkerboardMask } from "./masks.js";

export interface Partition {
  /** Components per configuration. */
  readonly size: number;
  /** The shape of one configuration. */
  readonly shape: readonly number[];
  readonly frozen: Int32Array;
  readonly active: Int32Array;
  /** 1 at frozen components, 0 at active ones. */
  readonly frozenMask: Float64Array;
  /** Set when this is a checkerboard (Σ_μ x_μ + parity) mod 2 = 1 frozen: the fused kernels' layout. */
  readonly checkerboardParity?: 0 | 1;
}

/** The partition whose frozen components are those where `isFrozen(coords)` holds. */
export function partitionBy(shape: readonly number[], isFrozen: (coords: number[]) => boolean): Partition {
  const size = latticeVolume(shape);
  const strides = latticeStrides(shape);
  const frozenMask = new Float64Array(size);
  const frozen: number[] = [];
  const active: number[] = [];
  const coords = new Array<number>(shape.length).fill(0);
  for (let x = 0; x < size; x++) {
    for (let d = 0; d < shape.length; d++) coords[d] = Math.floor(x / strides[d]!) % shape[d]!;
    if (isFrozen(coords)) {
      frozenMask[x] = 1;
      frozen.push(x);
    } else active.push(x);
  }
  if (frozen.length === 0 || active.length === 0)
    throw new RangeError(
      `partition of [${shape}] leaves ${frozen.length === 0 ? "nothing frozen" : "nothing active"}`,
    );
  return {
    size,
    shape: [...shape],
    frozen: Int32Array.from(frozen),
    active: Int32Array.from(active),
    frozenMask,
  };
}

/** Checkerboard: the frozen sites of masks.ts (the notebook's get_mask), shared with the fused op. */
export function checkerboardPartition(shape: readonly number[], parity: 0 | 1): Partition {
  const mask = checkerboardMask(shape, parity);
  let x = 0;
  const p = partitionBy(shape, () => mask[x++] === 1);
  return { ...p, checkerboardParity: parity };
}

/** Stripes: x_axis ≡ parity (mod 2) frozen. */
export function stripePartition(shape: readonly number[], axis: number, parity: 0 | 1): Partition {
  if (!(axis >= 0 && axis < shape.length))
    throw new RangeError(`stripePartition: axis ${axis} of [${shape}]`);
  return partitionBy(shape, (c) => c[axis]! % 2 === parity);
}
