/**
 * Brute-force exact Ising thermodynamics on small lattices of any dimension: the reference
 * against which the closed form (ising-exact.ts) and the row transfer matrix
 * (ising-transfer.ts) are checked.
 *
 * Spins s = ±1 on `latticeShape` (row-major, last axis fastest), H = −J Σ_bonds s_i s_j,
 * weight e^{−H/T}. Bonds are (x, x+μ̂) for every site x and axis μ: periodic boundaries keep
 * them all (an extent-2 axis carries each bond twice, an extent-1 axis a constant self-bond
 * s_x s_x = 1), open boundaries drop the bonds that cross an edge.
 *
 * All 2^N configurations are visited in Gray-code order (one spin flip per step, the bond sum
 * B = Σ_bonds s_i s_j updated by −2 s_j Σ_{k~j} s_k), filling the exact density of states
 * g(B, N₊) (N₊ = number of up spins, M = 2N₊ − N). With K = J/T:
 *   ln Z = ln Σ g(B, N₊) e^{KB}   (log-sum-exp),
 *   ⟨H⟩/N = −J⟨B⟩/N,   C = K² Var(B)/N,   ⟨m^p⟩ = ⟨(M/N)^p⟩.
 * Cost 2^N · (mean degree); N ≤ 24.
 */
import * as math from "../math/index.js";
import { type IsingFull, validateIsingCouplings, validateIsingShape } from "./ising-exact.js";
import { latticeStrides, latticeVolume } from "./lattice.js";

export { ISING_TRANSFER_MAX_ROW, isingTransferMatrix } from "./ising-transfer.js";

/** Largest number of sites `isingEnumerate` accepts (2²⁴ ≈ 1.7·10⁷ configurations). */
export const ISING_ENUMERATE_MAX_SITES = 24;

/**
 * The bonds of the lattice as (i, j) pairs, periodic or open (see the file comment).
 * Self-bonds (extent 1, periodic) are included; each bond appears once per (x, μ).
 */
export function isingBonds(shape: readonly number[], boundary: "periodic" | "open" = "periodic"): Int32Array {
  const v = latticeVolume(shape);
  const strides = latticeStrides(shape);
  const out: number[] = [];
  for (let x = 0; x < v; x++) {
    for (let mu = 0; mu < shape.length; mu++) {
      const n = shape[mu]!;
      const c = Math.floor(x / strides[mu]!) % n;
      if (c === n - 1 && boundary === "open") continue;
      const y = c === n - 1 ? x - c * strides[mu]! : x + strides[mu]!;
      out.push(x, y);
    }
  }
  return Int32Array.from(out);
}

/**
 * Moments from an exact density of states g(B, N₊), stored as counts[(B + bMax)·(N + 1) + N₊],
 * at coupling K = J/T: ln Z, energy, specific heat and the magnetisation moments.
 */
export function isingMomentsFromDensity(
  counts: Float64Array,
  bMax: number,
  sites: number,
  K: number,
  J: number,
): IsingFull {
  const width = sites + 1;
  let c = Number.NEGATIVE_INFINITY;
  for (let b = -bMax; b <= bMax; b++)
    for (let u = 0; u <= sites; u++) {
      const g = counts[(b + bMax) * width + u]!;
      if (g > 0) c = Math.max(c, K * b + math.log(g));
    }
  let z = 0;
  let sb = 0;
  let sm2 = 0;
  let sam = 0;
  let sm4 = 0;
  for (let b = -bMax; b <= bMax; b++)
    for (let u = 0; u <= sites; u++) {
      const g = counts[(b + bMax) * width + u]!;
      if (g === 0) continue;
      const w = math.exp(K * b + math.log(g) - c);
      const m = (2 * u - sites) / sites;
      z += w;
      sb += w * b;
      sm2 += w * m * m;
      sam += w * Math.abs(m);
      sm4 += w * m * m * m * m;
    }
  const meanB = sb / z;
  let varB = 0;
  for (let b = -bMax; b <= bMax; b++)
    for (let u = 0; u <= sites; u++) {
      const g = counts[(b + bMax) * width + u]!;
      if (g === 0) continue;
      varB += math.exp(K * b + math.log(g) - c) * (b - meanB) * (b - meanB);
    }
  varB /= z;
  return {
    lnZ: c + math.log(z),
    energy: (-J * meanB) / sites,
    specificHeat: (K * K * varB) / sites,
    m2: sm2 / z,
    absM: sam / z,
    m4: sm4 / z,
  };
}

/**
 * Exact Ising thermodynamics by enumerating all 2^N configurations (N ≤ 24) of a lattice of any
 * dimension, periodic (default) or open: ln Z, energy per site, specific heat per site,
 * ⟨m²⟩, ⟨|m|⟩, ⟨m⁴⟩. Any finite J (J < 0: antiferromagnet), T > 0.
 */
export function isingEnumerate(
  shape: readonly number[],
  T: number,
  opts: { J?: number; boundary?: "periodic" | "open" } = {},
): IsingFull {
  const fn = "isingEnumerate";
  const J = opts.J ?? 1;
  const boundary = opts.boundary ?? "periodic";
  validateIsingShape(fn, shape);
  validateIsingCouplings(fn, T, J);
  if (boundary !== "periodic" && boundary !== "open")
    throw new RangeError(`${fn}: boundary must be "periodic" or "open", got ${String(boundary)}`);
  const sites = latticeVolume(shape);
  if (sites > ISING_ENUMERATE_MAX_SITES)
    throw new RangeError(
      `${fn}: ${sites} sites is too many to enumerate (at most ${ISING_ENUMERATE_MAX_SITES}); use isingTransferMatrix or isingExactTorus`,
    );
  const bonds = isingBonds(shape, boundary);
  const nb = bonds.length / 2;
  // Neighbour lists with multiplicity, self-bonds left out (they never change B).
  const degree = new Int32Array(sites + 1);
  for (let e = 0; e < nb; e++) {
    const i = bonds[2 * e]!;
    const j = bonds[2 * e + 1]!;
    if (i === j) continue;
    degree[i + 1]!++;
    degree[j + 1]!++;
  }
  for (let i = 0; i < sites; i++) degree[i + 1]! += degree[i];
  const nbr = new Int32Array(degree[sites]!);
  const fill = degree.slice(0, sites);
  for (let e = 0; e < nb; e++) {
    const i = bonds[2 * e]!;
    const j = bonds[2 * e + 1]!;
    if (i === j) continue;
    nbr[fill[i]!++] = j;
    nbr[fill[j]!++] = i;
  }
  const width = sites + 1;
  const counts = new Float64Array((2 * nb + 1) * width);
  const s = new Int8Array(sites).fill(1);
  let b = nb; // all spins up: every bond satisfied
  let up = sites;
  counts[(b + nb) * width + up] = 1;
  const total = 1 << sites; // sites ≤ 24
  for (let i = 1; i < total; i++) {
    const j = 31 - Math.clz32(i & -i); // the bit that changes in the Gray code
    let h = 0;
    for (let p = degree[j]!; p < degree[j + 1]!; p++) h += s[nbr[p]!]!;
    const sj = s[j]!;
    b -= 2 * sj * h;
    s[j] = -sj;
    up -= sj;
    counts[(b + nb) * width + up]! += 1;
  }
  return isingMomentsFromDensity(counts, nb, sites, J / T, J);
}
