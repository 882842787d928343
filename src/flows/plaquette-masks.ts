/**
 * The masks of the gauge-equivariant coupling layers on a 2-d periodic lattice (arXiv 2003.06413;
 * the tutorial's make_plaq_masks and make_2d_link_active_stripes, arXiv 2101.08176).
 *
 * Layer i updates links of direction μ = i mod 2 on the stripe x_ν ≡ o (mod 4), ν = 1 − μ,
 * o = (i // 2) mod 4, so 16 layers visit every (μ, o). With P(x) = P₀₁(x), the plaquettes fall
 * into classes by k = (x_ν − o) mod 4:
 *
 *   k = 0      active:  P(x) is transformed (its link θ_μ(x) is the one updated);
 *   k = 1, 2   frozen:  no updated link touches them; they condition the transformation;
 *   k = 3      passive: they hold an updated link too (θ_μ(x+ν̂)) and change as a consequence.
 *
 * Pictured with ν horizontal (rows along μ), o = 0:  A F F P A F F P …  in every row.
 * An updated link θ_μ(x) (x_ν ≡ o) enters P(x) (active) and P(x − ν̂) (passive) only, so
 * the update of the active plaquettes is free of the frozen ones: the Jacobian is triangular.
 * L must be a multiple of 4 along ν for the stripes to close periodically; this file covers
 * d = 2 only (one plaquette orientation, P₀₁).
 */
import { latticeVolume } from "../theories/lattice.js";
import { type Partition, partitionBy } from "./partition.js";

/** Which plaquettes a layer transforms (0), reads (1, 2) and changes in passing (3). */
export type PlaquetteClass = "active" | "frozen" | "passive";

/** Where layer i of a gauge flow acts: μ = i mod 2, offset (i // 2) mod 4 (the tutorial's cycle). */
export function gaugeLayerPlacement(i: number): { mu: 0 | 1; offset: number } {
  return { mu: (i % 2) as 0 | 1, offset: Math.floor(i / 2) % 4 };
}

/** Why these masks do not fit this lattice, or null: 2-d, both extents multiples of 4. */
export function gaugeMaskMisfit(latticeShape: readonly number[]): string | null {
  if (latticeShape.length !== 2)
    return `the gauge-equivariant coupling layers are 2-d (one plaquette orientation), got a ${latticeShape.length}-d lattice [${latticeShape}]`;
  const bad = latticeShape.find((n) => n % 4 !== 0);
  if (bad !== undefined)
    return `L = ${bad} is not a multiple of 4 (lattice [${latticeShape}]): the plaquette stripes repeat every 4 sites`;
  return null;
}

export interface PlaquetteMasks {
  readonly latticeShape: readonly [number, number];
  readonly mu: 0 | 1;
  readonly offset: number;
  /** Plaquette (= site) indices, row-major, ascending. */
  readonly active: Int32Array;
  readonly frozen: Int32Array;
  readonly passive: Int32Array;
  /** 1 at the frozen plaquettes, 0 elsewhere: what the conditioner reads. */
  readonly frozenMask: Float64Array;
  /** Link indices μ·V + x of the updated links, x running over `active` in the same order. */
  readonly activeLinks: Int32Array;
  /** The other links, ascending. */
  readonly passiveLinks: Int32Array;
}

/** The class of plaquette x (coordinates) for a layer at (μ, offset). */
export function plaquetteClass(coords: readonly number[], mu: 0 | 1, offset: number): PlaquetteClass {
  const k = (((coords[1 - mu]! - offset) % 4) + 4) % 4;
  return k === 0 ? "active" : k === 3 ? "passive" : "frozen";
}

export function plaquetteMasks(latticeShape: readonly number[], mu: 0 | 1, offset: number): PlaquetteMasks {
  const misfit = gaugeMaskMisfit(latticeShape);
  if (misfit !== null) throw new RangeError(misfit);
  const [l0, l1] = latticeShape as [number, number];
  const v = latticeVolume(latticeShape);
  const classes = { active: [] as number[], frozen: [] as number[], passive: [] as number[] };
  const frozenMask = new Float64Array(v);
  for (let a = 0; a < l0; a++)
    for (let b = 0; b < l1; b++) {
      const x = a * l1 + b;
      const c = plaquetteClass([a, b], mu, offset);
      classes[c].push(x);
      if (c === "frozen") frozenMask[x] = 1;
    }
  const activeLinks = Int32Array.from(classes.active, (x) => mu * v + x);
  const isActive = new Uint8Array(2 * v);
  for (const l of activeLinks) isActive[l] = 1;
  const passiveLinks: number[] = [];
  for (let l = 0; l < 2 * v; l++) if (!isActive[l]) passiveLinks.push(l);
  return {
    latticeShape: [l0, l1],
    mu,
    offset,
    active: Int32Array.from(classes.active),
    frozen: Int32Array.from(classes.frozen),
    passive: Int32Array.from(classes.passive),
    frozenMask,
    activeLinks,
    passiveLinks: Int32Array.from(passiveLinks),
  };
}

/**
 * The plaquette coupling's partition: the active plaquettes are transformed, the rest (frozen
 * and passive) pass through. Partition.frozen is that rest; the conditioner reads only the
 * strictly frozen ones (PlaquetteMasks.frozenMask), since the passive ones change with the links.
 */
export function plaquettePartition(m: PlaquetteMasks): Partition {
  return partitionBy(m.latticeShape, (c) => plaquetteClass(c, m.mu, m.offset) !== "active");
}

/** The tutorial's active-link mask, [2, L0, L1] flattened: 1 at the updated links θ_μ(x). */
export function activeLinkMask(m: PlaquetteMasks): Float64Array {
  const out = new Float64Array(2 * latticeVolume(m.latticeShape));
  for (const l of m.activeLinks) out[l] = 1;
  return out;
}
