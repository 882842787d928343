/**
 * Single-cluster Wolff updates for the ferromagnetic Ising model: U. Wolff, "Collective Monte
 * Carlo updating for spin systems", Phys. Rev. Lett. 62 (1989) 361 (the cluster construction of
 * Swendsen & Wang, PRL 58 (1987) 86, grown from one random site).
 *
 * Model (the conventions of the Ising relaxation, src/theories/ising.ts): spins s = ±1 on a
 * periodic lattice `latticeShape` (any dimension, every extent ≥ 2), row-major with the last
 * axis fastest; one bond (x, x+μ̂) per site x and axis μ, so an extent-2 axis has each of its
 * neighbour pairs twice (a doubled coupling 2J); extent 1 would make the bond a self-loop and
 * is rejected. H = −J Σ_bonds s_x s_{x+μ̂}, weight e^{−H/T}.
 *
 * One update: pick a site uniformly, flip it, and grow: every bond from a cluster site x to a
 * neighbour y that still has the cluster's old spin joins y (flipped at once, so it is tested
 * from no other site again) with probability
 *
 *   p_add = 1 − e^{−2J/T}   (J ≥ 0).
 *
 * Each bond instance is tested on its own, so a doubled bond of an extent-2 axis joins with
 * 1 − (1 − p_add)² = 1 − e^{−4J/T}, exactly the p_add of its coupling 2J. The update satisfies
 * detailed balance for e^{−H/T} with acceptance 1. The cluster is a depth-first stack of site
 * indices in an Int32Array (each site is pushed at most once per cluster); nothing is allocated
 * per update.
 *
 * Cluster size and improved estimator: the seed is uniform, so a cluster of the Swendsen–Wang
 * decomposition is chosen with probability |C|/N and ⟨|C|⟩ = N⟨m²⟩ (m = Σs/N), the Wolff
 * improved estimator of the susceptibility (Wolff, Nucl. Phys. B322 (1989) 759).
 *
 * Sweeps: a "Wolff sweep" is the number of single-cluster updates that flips about N sites on
 * average, round(N/⟨|C|⟩). Thermalisation runs `thermalise` sweeps, each flipping clusters until
 * at least N sites have been flipped in it (a state-dependent stopping rule, harmless there since
 * the states are discarded), and estimates ⟨|C|⟩ from its second half. Production then uses a
 * FIXED count, clustersPerSample = max(1, round(sweepsPerSample·N/⟨|C|⟩)), or the count given
 * explicitly: a fixed number of updates between samples keeps the recorded chain a
 * time-homogeneous Markov chain (stopping at "≥ N sites flipped" would bias the recorded states
 * towards configurations with small clusters).
 *
 * Randomness: `rng.uniform()` only (the seeded Philox `Rng` of src/rng/philox.ts implements
 * `RandomSource`): one draw per seed site and one per tested bond, so a chain is a pure function
 * of (options, seed).
 */

import * as math from "../math/index.js";
import { checkIsingLattice, latticeVolume, neighbourTables } from "../theories/lattice.js";
import type { RandomSource } from "./random.js";

export interface WolffOptions {
  /** Lattice extents, each an integer ≥ 2 (periodic). */
  latticeShape: readonly number[];
  /** Temperature, > 0. */
  T: number;
  /** Coupling, ≥ 0 (ferromagnetic; default 1). */
  J?: number;
  /** Number of samples to record, an integer ≥ 1. */
  n: number;
  /** Thermalisation, in Wolff sweeps (≈ N flipped sites each; see the module comment); default 100. */
  thermalise?: number;
  /**
   * Wolff sweeps between recorded samples, > 0 (may be fractional), default 1: each sample follows
   * clustersPerSample = max(1, round(sweepsPerSample·N/⟨|C|⟩_therm)) single-cluster updates, so
   * ≈ sweepsPerSample·N sites are flipped per sample on average. Ignored if `clustersPerSample`
   * is given.
   */
  sweepsPerSample?: number;
  /** Explicit number of single-cluster updates between samples (an integer ≥ 1). */
  clustersPerSample?: number;
  /** The random stream (e.g. `new Rng(seed)`). */
  rng: RandomSource;
  /** Initial configuration (N values ±1; copied). Default: all +1 (cold start). */
  init?: Int8Array;
}

export interface WolffResult {
  /** The n recorded configurations, n·N values ±1, row-major per configuration. */
  spins: Int8Array;
  /** Per sample: the mean size of the clusters flipped since the previous sample (length n). */
  clusterSizes: Float64Array;
  /** Single-cluster updates between samples (fixed during production). */
  clustersPerSample: number;
  /** ⟨|C|⟩ over the thermalisation sweeps used to choose clustersPerSample (NaN if it was given). */
  thermalisationClusterSize: number;
  /** Mean cluster size over production; an unbiased estimator of N⟨m²⟩. */
  meanClusterSize: number;
  /** p_add = 1 − e^{−2J/T}. */
  pAdd: number;
  /** Cluster updates done during thermalisation and production. */
  clusterUpdates: number;
  /** Spins flipped during thermalisation and production. */
  flips: number;
  /** Bond tests (neighbour visits of cluster sites) during thermalisation and production. */
  bondTests: number;
}

/** Checks T > 0 finite and J finite (J ≥ 0 if `ferro`). */
export function checkIsingCouplings(who: string, T: number, J: number, ferro: boolean): void {
  if (typeof T !== "number" || !(T > 0) || !Number.isFinite(T))
    throw new RangeError(`${who}: temperature T must be a finite number > 0, got ${T}`);
  if (typeof J !== "number" || !Number.isFinite(J) || (ferro && J < 0))
    throw new RangeError(`${who}: coupling J must be a finite number${ferro ? " ≥ 0" : ""}, got ${J}`);
}

/** Checks a sample count (integer ≥ 1). */
export function checkCount(who: string, name: string, n: number, min = 1): void {
  if (!Number.isInteger(n) || n < min)
    throw new RangeError(`${who}: ${name} must be an integer ≥ ${min}, got ${n}`);
}

/** A copy of `init` (N values ±1), or all +1. */
export function initialSpins(who: string, v: number, init: Int8Array | undefined): Int8Array {
  const spins = new Int8Array(v);
  if (init === undefined) return spins.fill(1);
  if (!(init instanceof Int8Array) || init.length !== v)
    throw new RangeError(`${who}: init must be an Int8Array of N = ${v} spins, got length ${init?.length}`);
  for (let i = 0; i < v; i++) {
    const s = init[i]!;
    if (s !== 1 && s !== -1) throw new RangeError(`${who}: init[${i}] = ${s}, spins must be ±1`);
    spins[i] = s;
  }
  return spins;
}

/** nbr[x·2d + 2μ] = x + μ̂, nbr[x·2d + 2μ + 1] = x − μ̂ (equal for an extent-2 axis; both kept). */
export function flatNeighbours(latticeShape: readonly number[]): Int32Array {
  const { up, down } = neighbourTables(latticeShape);
  const d = latticeShape.length;
  const v = latticeVolume(latticeShape);
  const nbr = new Int32Array(v * 2 * d);
  for (let x = 0; x < v; x++)
    for (let mu = 0; mu < d; mu++) {
      nbr[x * 2 * d + 2 * mu] = up[mu]![x]!;
      nbr[x * 2 * d + 2 * mu + 1] = down[mu]![x]!;
    }
  return nbr;
}

/** Mutable state of a Wolff chain: the spins and scratch. */
class WolffState {
  readonly stack: Int32Array;
  readonly deg: number;
  bondTests = 0;
  constructor(
    readonly spins: Int8Array,
    readonly nbr: Int32Array,
    readonly pAdd: number,
    readonly rng: RandomSource,
  ) {
    this.stack = new Int32Array(spins.length);
    this.deg = nbr.length / spins.length;
  }

  /** One single-cluster update; returns the cluster size. */
  update(): number {
    const { spins, nbr, stack, deg, pAdd, rng } = this;
    const v = spins.length;
    const seed = Math.floor(rng.uniform() * v);
    const s0 = spins[seed]!;
    const flipped = -s0;
    spins[seed] = flipped;
    stack[0] = seed;
    let top = 1;
    let size = 1;
    let tests = 0;
    while (top > 0) {
      const o = stack[--top]! * deg;
      for (let k = 0; k < deg; k++) {
        const y = nbr[o + k]!;
        if (spins[y] === s0) {
          tests++;
          if (rng.uniform() < pAdd) {
            spins[y] = flipped;
            stack[top++] = y;
            size++;
          }
        }
      }
    }
    this.bondTests += tests;
    return size;
  }
}

/**
 * A Wolff single-cluster chain for the Ising model at temperature T: `thermalise` sweeps, then
 * `n` samples with `clustersPerSample` updates before each. See the module comment.
 */
export function wolffChain(opts: WolffOptions): WolffResult {
  const who = "wolffChain";
  const { latticeShape, T, n, rng } = opts;
  const J = opts.J ?? 1;
  const v = checkIsingLattice(who, latticeShape);
  checkIsingCouplings(who, T, J, true);
  checkCount(who, "n (the number of samples)", n);
  const thermalise = opts.thermalise ?? 100;
  checkCount(who, "thermalise (sweeps)", thermalise, 0);
  const sweepsPerSample = opts.sweepsPerSample ?? 1;
  if (!(sweepsPerSample > 0) || !Number.isFinite(sweepsPerSample))
    throw new RangeError(`${who}: sweepsPerSample must be a finite number > 0, got ${sweepsPerSample}`);
  if (opts.clustersPerSample !== undefined) checkCount(who, "clustersPerSample", opts.clustersPerSample);
  else if (thermalise < 1)
    throw new RangeError(
      `${who}: with thermalise = 0 there is no estimate of the cluster size: give clustersPerSample`,
    );
  if (!rng || typeof rng.uniform !== "function") throw new RangeError(`${who}: rng must provide uniform()`);

  const spins = initialSpins(who, v, opts.init);
  // p_add = 1 − e^{−2J/T}, via expm1 for accuracy at small J/T.
  const pAdd = -math.expm1((-2 * J) / T);
  const state = new WolffState(spins, flatNeighbours(latticeShape), pAdd, rng);
  let updates = 0;
  let flips = 0;

  // Thermalisation: sweeps of ≥ N flipped sites; ⟨|C|⟩ from the second half.
  const from = Math.floor(thermalise / 2);
  let sizeSum = 0;
  let sizeCount = 0;
  for (let sweep = 0; sweep < thermalise; sweep++) {
    let done = 0;
    while (done < v) {
      const c = state.update();
      done += c;
      updates++;
      if (sweep >= from) {
        sizeSum += c;
        sizeCount++;
      }
    }
    flips += done;
  }
  const thermSize = opts.clustersPerSample === undefined ? sizeSum / sizeCount : Number.NaN;
  const perSample = opts.clustersPerSample ?? Math.max(1, Math.round((sweepsPerSample * v) / thermSize));

  const out = new Int8Array(n * v);
  const clusterSizes = new Float64Array(n);
  let prodSum = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < perSample; k++) s += state.update();
    clusterSizes[i] = s / perSample;
    prodSum += s;
    flips += s;
    updates += perSample;
    out.set(spins, i * v);
  }
  return {
    spins: out,
    clusterSizes,
    clustersPerSample: perSample,
    thermalisationClusterSize: thermSize,
    meanClusterSize: prodSum / (n * perSample),
    pAdd,
    clusterUpdates: updates,
    flips,
    bondTests: state.bondTests,
  };
}
