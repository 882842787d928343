/**
 * Single-spin Metropolis (or heat-bath) sweeps for the Ising model (Metropolis, Rosenbluth,
 * Rosenbluth, Teller, Teller, J. Chem. Phys. 21 (1953) 1087; heat bath: Glauber, J. Math. Phys. 4
 * (1963) 294), a local baseline for the Wolff cluster chain (src/mcmc/wolff.ts) and for flow
 * samplers. Same model and conventions as there: spins ±1 on a
 * periodic `latticeShape` (every extent ≥ 2), bonds (x, x+μ̂) for every site and axis (an
 * extent-2 axis has each pair twice), H = −J Σ_bonds s_x s_{x+μ̂}, weight e^{−H/T}.
 *
 * Flipping s_x changes the energy by
 *
 *   ΔH = 2J s_x h_x,   h_x = Σ_μ (s_{x+μ̂} + s_{x−μ̂})   (2d terms, with multiplicity),
 *
 * and the flip is accepted with probability a(ΔH):
 *
 *   rule "metropolis" (default):  a = min(1, e^{−ΔH/T}) for ΔH ≠ 0,  a = ½ for ΔH = 0;
 *   rule "heatbath" (Glauber):    a = 1/(1 + e^{ΔH/T}).
 *
 * Both satisfy detailed balance, a(ΔH) = e^{−ΔH/T}·a(−ΔH), so every single-spin update leaves
 * e^{−H/T} invariant. A uniform is drawn only when a < 1. s_x h_x takes the 2d + 1 values
 * −2d, −2d+2, …, 2d, so a is a table.
 *
 * Why ½ at ΔH = 0: with a deterministic site order, the textbook rule (a = 1 at ΔH = 0) makes
 * every energy-neutral flip forced, and the sweep is then NOT ergodic on periodic lattices: the
 * chain started from all +1 never reaches some states, which form closed classes of their own.
 * Exhaustive reachability over sweeps (exact, T-independent since only the sign of ΔH
 * matters): 3×3 sequential reaches 504 of 512 states, 4×4 checkerboard 65500 of 65536, 2×2
 * 12 of 16, a ring of 8 sites 140 of 256, of 7 sites 14 of 128. The missing states carry
 * weight, so averages are biased: on 3×3 at T = 2.269 the chain converges (exact sweep-kernel
 * iteration) to ⟨m²⟩ = 0.81055 instead of 0.80943, ⟨e⟩ lower by 2.5·10⁻³, seen as a 3σ
 * deviation in 10⁶ sweeps. With a = ½ at ΔH = 0 every one of these lattices (and 2×3, 3×4,
 * 3×5, 2×6, 2×2×2, 2×2×3, 2×2×4, 3×3×2, 2×2×2×2, rings of 2, 7, 8) is reachable from all +1,
 * hence irreducible (π > 0 is stationary, so every state is recurrent and the class of all +1 is
 * everything); that is an exhaustive check on these lattices, not a general proof. The
 * heat-bath rule is irreducible on every lattice: both outcomes of every update have
 * probability > 0, so one sweep reaches any state.
 *
 * Order: if every extent is even, a sweep visits the even sites (Σ_μ x_μ even) and then the odd
 * ones, a checkerboard: a site's neighbours all have the other parity (also for extent 2), so
 * the updates of one colour commute and the sweep is the product of two parallel half-sweeps
 * (the order a vectorised or GPU implementation would use). With an odd extent the lattice is
 * not bipartite and the sweep is sequential in site order.
 *
 * Randomness: `rng.uniform()` only; a chain is a pure function of (options, seed).
 */
import * as math from "../math/index.js";
import { checkIsingLattice, latticeStrides } from "../theories/lattice.js";
import type { RandomSource } from "./random.js";
import { checkCount, checkIsingCouplings, flatNeighbours, initialSpins } from "./wolff.js";

export interface SpinMetropolisOptions {
  /** Lattice extents, each an integer ≥ 2 (periodic). */
  latticeShape: readonly number[];
  /** Temperature, > 0. */
  T: number;
  /** Coupling (default 1; any finite value). */
  J?: number;
  /** Number of samples to record, an integer ≥ 1. */
  n: number;
  /** Thermalisation sweeps (discarded), default 1000. */
  thermalise?: number;
  /** Sweeps between recorded samples, an integer ≥ 1, default 1. */
  sweepsPerSample?: number;
  /** Acceptance rule (module comment), default "metropolis". */
  rule?: SpinUpdateRule;
  /** The random stream (e.g. `new Rng(seed)`). */
  rng: RandomSource;
  /** Initial configuration (N values ±1; copied). Default: all +1 (cold start). */
  init?: Int8Array;
}

/** Single-spin acceptance: Metropolis (with ½ at ΔH = 0) or heat bath. */
export type SpinUpdateRule = "metropolis" | "heatbath";

export interface SpinMetropolisResult {
  /** The n recorded configurations, n·N values ±1, row-major per configuration. */
  spins: Int8Array;
  /** Fraction of accepted single-spin proposals during production. */
  acceptance: number;
  /** True if sweeps went even sites, then odd sites (all extents even); false: sequential. */
  checkerboard: boolean;
  /** Sweeps between samples. */
  sweepsPerSample: number;
  rule: SpinUpdateRule;
}

/** The order of one sweep: even sites then odd sites if every extent is even, else 0..N−1. */
function sweepOrder(
  latticeShape: readonly number[],
  v: number,
): { order: Int32Array; checkerboard: boolean } {
  const order = new Int32Array(v);
  const checkerboard = latticeShape.every((L) => L % 2 === 0);
  if (!checkerboard) {
    for (let x = 0; x < v; x++) order[x] = x;
    return { order, checkerboard };
  }
  const strides = latticeStrides(latticeShape);
  let k = 0;
  for (const colour of [0, 1])
    for (let x = 0; x < v; x++) {
      let parity = 0;
      for (let mu = 0; mu < latticeShape.length; mu++)
        parity += Math.floor(x / strides[mu]!) % latticeShape[mu]!;
      if (parity % 2 === colour) order[k++] = x;
    }
  return { order, checkerboard };
}

/**
 * A single-spin Metropolis chain for the Ising model at temperature T: `thermalise` sweeps, then
 * `n` samples with `sweepsPerSample` sweeps before each. See the module comment.
 */
export function spinMetropolisChain(opts: SpinMetropolisOptions): SpinMetropolisResult {
  const who = "spinMetropolisChain";
  const { latticeShape, T, n, rng } = opts;
  const J = opts.J ?? 1;
  const v = checkIsingLattice(who, latticeShape);
  checkIsingCouplings(who, T, J, false);
  checkCount(who, "n (the number of samples)", n);
  const thermalise = opts.thermalise ?? 1000;
  checkCount(who, "thermalise (sweeps)", thermalise, 0);
  const sweepsPerSample = opts.sweepsPerSample ?? 1;
  checkCount(who, "sweepsPerSample", sweepsPerSample);
  const rule = opts.rule ?? "metropolis";
  if (rule !== "metropolis" && rule !== "heatbath")
    throw new RangeError(`${who}: rule must be "metropolis" or "heatbath", got ${String(rule)}`);
  if (!rng || typeof rng.uniform !== "function") throw new RangeError(`${who}: rng must provide uniform()`);

  const spins = initialSpins(who, v, opts.init);
  const nbr = flatNeighbours(latticeShape);
  const deg = 2 * latticeShape.length;
  const { order, checkerboard } = sweepOrder(latticeShape, v);
  // acc[s·h + deg] = a(ΔH = 2J s h); a ≥ 1 means accept without drawing a uniform.
  const acc = new Float64Array(2 * deg + 1);
  for (let sh = -deg; sh <= deg; sh++) {
    const dH = 2 * J * sh;
    acc[sh + deg] = rule === "heatbath" ? 1 / (1 + math.exp(dH / T)) : dH === 0 ? 0.5 : math.exp(-dH / T);
  }

  let accepted = 0;
  const sweep = (): void => {
    for (let k = 0; k < v; k++) {
      const x = order[k]!;
      const o = x * deg;
      let h = 0;
      for (let j = 0; j < deg; j++) h += spins[nbr[o + j]!]!;
      const s = spins[x]!;
      const a = acc[s * h + deg]!;
      if (a >= 1 || rng.uniform() < a) {
        spins[x] = -s;
        accepted++;
      }
    }
  };

  for (let t = 0; t < thermalise; t++) sweep();
  accepted = 0;
  const out = new Int8Array(n * v);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < sweepsPerSample; t++) sweep();
    out.set(spins, i * v);
  }
  return {
    spins: out,
    acceptance: accepted / (n * sweepsPerSample * v),
    checkerboard,
    sweepsPerSample,
    rule,
  };
}
