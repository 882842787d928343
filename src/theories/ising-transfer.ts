/**
 * Exact Ising thermodynamics on an L0 × L1 lattice by the row-to-row transfer matrix, with the
 * full magnetisation distribution: ⟨m²⟩, ⟨|m|⟩, ⟨m⁴⟩ exact, for rows of up to 12 spins.
 *
 * Conventions as in ising-enumerate.ts: `shape = [L0, L1]`, row-major, spins s = ±1,
 * H = −J Σ_bonds s_i s_j, K = J/T; periodic (every bond (x, x+μ̂), doubled at extent 2) or
 * open boundaries on both axes. A row state σ is an L1-bit integer, bit x set ⇔ s_x = −1.
 * With b(σ) = Σ_x s_x s_{x+1} the row's own bonds, b_ref = max_σ b (K ≥ 0) or min_σ b (K < 0)
 * and t = e^{−2|K|}, each vertical bond is e^{K s s′} = e^{|K|}·(A if s = s′ else B), with
 * (A, B) = (1, t) for K ≥ 0 and (t, 1) for K < 0, so
 *
 *   T(σ, σ′) = e^{K Σ_x s_x s′_x} e^{K b(σ′)} = e^{|K| L1 + K b_ref} X(σ, σ′) D(σ′),
 *   X = ⊗_x [[A, B], [B, A]],   D(σ) = e^{K(b(σ) − b_ref)} ≤ 1,
 *
 * and X is applied one bit at a time in O(L1·2^{L1}) (never stored). Periodic along axis 0,
 *   Z = e^{L0(|K| L1 + K b_ref)} Σ_ρ ⟨ρ| (X D)^{L0} |ρ⟩;
 * open, Z = e^{(L0−1)|K| L1 + L0 K b_ref} Σ_σ [(D X)^{L0−1} D 1](σ).
 * The trace is taken only over one row ρ per orbit of the cyclic shifts, the reflection
 * x → L1−1−x and the global flip (all commute with X and D), weighted by the orbit size; the
 * flip maps M to −M, so each orbit's magnetisation distribution enters symmetrised.
 *
 * Two passes, each rescaled to its maximum after every row (the logs of the scales summed):
 * - thermodynamics: the vector carries second-order jets in K (value, ∂_K, ∂²_K), with
 *   ∂_K t^p = κ t^p (κ = −2p for K ≥ 0, +2p for K < 0) and ∂_K ln D = b − b_ref, so ln Z,
 *   ⟨B⟩ = ∂_K ln Z and Var B = ∂²_K ln Z are exact (⟨H⟩ = −J⟨B⟩, C = K² Var B / N); pulling
 *   the ground state's bonds out keeps ∂_K of the rest small, so Var B suffers no cancellation;
 * - magnetisation: the vector is indexed by (number of up spins so far, σ), so the end gives
 *   the exact distribution of M = 2N₊ − N.
 * Cost O(#orbits · L0 · L1 · 2^{L1} · L0·L1/2) for the magnetisation pass (#orbits ≈ 2^{L1}/(4L1)).
 */
import * as math from "../math/index.js";
import { type IsingFull, validateIsingCouplings, validateIsingShape } from "./ising-exact.js";

/** Longest row `isingTransferMatrix` accepts (2¹² row states). */
export const ISING_TRANSFER_MAX_ROW = 12;

/** Apply X = ⊗[[A, B], [B, A]] in place to `count` consecutive vectors of length n in `v`. */
function applyX(v: Float64Array, count: number, n: number, ca: number, cb: number): void {
  for (let off = 0; off < count * n; off += n)
    for (let bit = 1; bit < n; bit <<= 1)
      for (let base = off; base < off + n; base += 2 * bit)
        for (let i = base; i < base + bit; i++) {
          const a = v[i]!;
          const b = v[i + bit]!;
          v[i] = ca * a + cb * b;
          v[i + bit] = cb * a + ca * b;
        }
}

/**
 * Apply X to a vector of jets (v, d, dd), where ∂_K A = κ_A A, ∂_K B = κ_B B:
 *   (A·u)′ = A(u′ + κ_A u),   (A·u)″ = A(u″ + 2κ_A u′ + κ_A² u).
 */
function applyXJet(
  v: Float64Array,
  d: Float64Array,
  dd: Float64Array,
  n: number,
  ca: number,
  ka: number,
  cb: number,
  kb: number,
): void {
  for (let bit = 1; bit < n; bit <<= 1)
    for (let base = 0; base < n; base += 2 * bit)
      for (let i = base; i < base + bit; i++) {
        const j = i + bit;
        const xv = v[i]!;
        const xd = d[i]!;
        const xdd = dd[i]!;
        const yv = v[j]!;
        const yd = d[j]!;
        const ydd = dd[j]!;
        v[i] = ca * xv + cb * yv;
        d[i] = ca * (xd + ka * xv) + cb * (yd + kb * yv);
        dd[i] = ca * (xdd + 2 * ka * xd + ka * ka * xv) + cb * (ydd + 2 * kb * yd + kb * kb * yv);
        v[j] = cb * xv + ca * yv;
        d[j] = cb * (xd + kb * xv) + ca * (yd + ka * yv);
        dd[j] = cb * (xdd + 2 * kb * xd + kb * kb * xv) + ca * (ydd + 2 * ka * yd + ka * ka * yv);
      }
}

/** Multiply jets by D = e^{Kβ}: (w v, w(d + βv), w(dd + 2βd + β²v)). */
function applyDJet(v: Float64Array, d: Float64Array, dd: Float64Array, w: Float64Array, beta: Float64Array) {
  for (let s = 0; s < v.length; s++) {
    const b = beta[s]!;
    const x = v[s]!;
    const y = d[s]!;
    dd[s] = w[s]! * (dd[s]! + 2 * b * y + b * b * x);
    d[s] = w[s]! * (y + b * x);
    v[s] = w[s]! * x;
  }
}

/**
 * Divide by the largest |entry| of v[0, len) (and the same for the other arrays); return ln of
 * it, or −∞ if every entry underflowed to 0. That happens only at very low T, to a starting
 * row whose paths all weigh e^{−700} or less relative to the ground state's (which keeps weight
 * 1 at every step), so the row is dropped.
 */
function rescale(len: number, v: Float64Array, ...others: Float64Array[]): number {
  let m = 0;
  for (let i = 0; i < len; i++) m = Math.max(m, Math.abs(v[i]!));
  if (m === 0) return Number.NEGATIVE_INFINITY;
  if (!Number.isFinite(m)) throw new RangeError("isingTransferMatrix: weights overflowed");
  const inv = 1 / m;
  for (let i = 0; i < len; i++) v[i]! *= inv;
  for (const o of others) for (let i = 0; i < len; i++) o[i]! *= inv;
  return math.log(m);
}

function popcount(x: number): number {
  let c = 0;
  for (let y = x; y !== 0; y &= y - 1) c++;
  return c;
}

/** One row per orbit of the shifts, the reflection and the global flip, with the orbit's size. */
function rowOrbits(l1: number): { reps: number[]; sizes: number[] } {
  const n = 1 << l1;
  const mask = n - 1;
  const size = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    let rev = 0;
    for (let x = 0; x < l1; x++) rev |= ((s >>> x) & 1) << (l1 - 1 - x);
    let best = s;
    for (const start of [s, s ^ mask, rev, rev ^ mask]) {
      let r = start;
      for (let k = 0; k < l1; k++) {
        best = Math.min(best, r);
        r = ((r << 1) | (r >>> (l1 - 1))) & mask;
      }
    }
    size[best]!++;
  }
  const reps: number[] = [];
  const sizes: number[] = [];
  for (let s = 0; s < n; s++)
    if (size[s]! > 0) {
      reps.push(s);
      sizes.push(size[s]!);
    }
  return { reps, sizes };
}

/**
 * Exact Ising thermodynamics and magnetisation moments on an L0 × L1 lattice (`shape = [L0, L1]`,
 * L1 ≤ 12), periodic (default) or open, by the row transfer matrix: ln Z, energy per site,
 * specific heat per site, ⟨m²⟩, ⟨|m|⟩, ⟨m⁴⟩. Any finite J, T > 0.
 */
export function isingTransferMatrix(
  shape: readonly [number, number],
  T: number,
  opts: { J?: number; boundary?: "periodic" | "open" } = {},
): IsingFull {
  const fn = "isingTransferMatrix";
  const J = opts.J ?? 1;
  const boundary = opts.boundary ?? "periodic";
  validateIsingShape(fn, shape, 2);
  validateIsingCouplings(fn, T, J);
  if (boundary !== "periodic" && boundary !== "open")
    throw new RangeError(`${fn}: boundary must be "periodic" or "open", got ${String(boundary)}`);
  const [l0, l1] = shape as readonly [number, number];
  if (l1 > ISING_TRANSFER_MAX_ROW)
    throw new RangeError(
      `${fn}: rows of ${l1} spins are too long (at most ${ISING_TRANSFER_MAX_ROW}); transpose the shape or use isingExactTorus`,
    );
  const periodic = boundary === "periodic";
  const K = J / T;
  const n = 1 << l1;
  const sites = l0 * l1;
  const nBonds = periodic ? l1 : l1 - 1; // bonds within a row

  // Row tables: b(σ); D = e^{Kβ}, β = b(σ) − b_ref; number of up spins; popcount.
  const bond = new Int32Array(n);
  const ups = new Int32Array(n);
  const pop = new Int32Array(n);
  let bMin = Number.POSITIVE_INFINITY;
  let bMax = Number.NEGATIVE_INFINITY;
  for (let s = 0; s < n; s++) {
    let b = 0;
    for (let x = 0; x < nBonds; x++) {
      const y = (x + 1) % l1;
      b += ((s >>> x) & 1) === ((s >>> y) & 1) ? 1 : -1;
    }
    bond[s] = b;
    bMin = Math.min(bMin, b);
    bMax = Math.max(bMax, b);
    pop[s] = popcount(s);
    ups[s] = l1 - pop[s]!;
  }
  const ferro = K >= 0;
  const bRef = ferro ? bMax : bMin;
  const beta = new Float64Array(n);
  const w = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    beta[s] = bond[s]! - bRef;
    w[s] = math.exp(K * beta[s]!);
  }
  // Vertical bonds: e^{K s s′} = e^{|K|}·(A if s = s′ else B), ∂_K A = κ_A A, ∂_K B = κ_B B.
  const t = math.exp(-2 * Math.abs(K));
  const [ca, ka, cb, kb] = ferro ? [1, 0, t, -2] : [t, 2, 1, 0];
  // X(σ, ρ) = A^{L1−p} B^p with p = popcount(σ ⊕ ρ): value xpow[p], log-derivative xkappa[p].
  const xpow = new Float64Array(l1 + 1);
  const xkappa = new Float64Array(l1 + 1);
  for (let p = 0; p <= l1; p++) {
    let c = 1;
    for (let k = 0; k < p; k++) c *= cb;
    for (let k = p; k < l1; k++) c *= ca;
    xpow[p] = c;
    xkappa[p] = (l1 - p) * ka + p * kb;
  }

  const { reps, sizes } = periodic ? rowOrbits(l1) : { reps: [-1], sizes: [1] };

  // ---- thermodynamics: jets in K ----
  const v = new Float64Array(n);
  const d = new Float64Array(n);
  const dd = new Float64Array(n);
  const logs: number[] = [];
  const jets: [number, number, number][] = [];
  for (let r = 0; r < reps.length; r++) {
    const rho = reps[r]!;
    let ls = math.log(sizes[r]!);
    if (periodic) {
      v.fill(0);
      d.fill(0);
      dd.fill(0);
      v[rho] = 1;
      for (let row = 1; row < l0 && ls > Number.NEGATIVE_INFINITY; row++) {
        applyXJet(v, d, dd, n, ca, ka, cb, kb);
        applyDJet(v, d, dd, w, beta);
        ls += rescale(n, v, d, dd);
      }
      // Last step: only ⟨ρ|X D|·⟩ is needed.
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      for (let s = 0; s < n; s++) {
        const p = pop[s ^ rho]!;
        const c = xpow[p]!;
        const k = xkappa[p]!;
        a0 += c * v[s]!;
        a1 += c * (d[s]! + k * v[s]!);
        a2 += c * (dd[s]! + 2 * k * d[s]! + k * k * v[s]!);
      }
      const b = beta[rho]!;
      const wr = w[rho]!;
      jets.push([wr * a0, wr * (a1 + b * a0), wr * (a2 + 2 * b * a1 + b * b * a0)]);
    } else {
      for (let s = 0; s < n; s++) {
        v[s] = w[s]!;
        d[s] = beta[s]! * w[s]!;
        dd[s] = beta[s]! * beta[s]! * w[s]!;
      }
      ls += rescale(n, v, d, dd);
      for (let row = 1; row < l0 && ls > Number.NEGATIVE_INFINITY; row++) {
        applyXJet(v, d, dd, n, ca, ka, cb, kb);
        applyDJet(v, d, dd, w, beta);
        ls += rescale(n, v, d, dd);
      }
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      for (let s = 0; s < n; s++) {
        a0 += v[s]!;
        a1 += d[s]!;
        a2 += dd[s]!;
      }
      jets.push([a0, a1, a2]);
    }
    logs.push(ls);
  }
  let c = Number.NEGATIVE_INFINITY;
  for (const l of logs) c = Math.max(c, l);
  let u0 = 0;
  let u1 = 0;
  let u2 = 0;
  for (let r = 0; r < jets.length; r++) {
    const e = math.exp(logs[r]! - c);
    u0 += e * jets[r]![0];
    u1 += e * jets[r]![1];
    u2 += e * jets[r]![2];
  }
  // Bonds pulled out of X and D: K·bPre = (#vertical bonds)·|K| + L0·K·b_ref.
  const bPre = (periodic ? l0 * l1 : (l0 - 1) * l1) * (ferro ? 1 : -1) + l0 * bRef;
  const slope = u1 / u0;
  const lnZ = K * bPre + c + math.log(u0);
  const meanB = bPre + slope;
  const varB = u2 / u0 - slope * slope;

  // ---- magnetisation: vectors indexed by (up spins so far, σ) ----
  const p = new Float64Array((sites + 1) * n);
  const dist = new Float64Array(sites + 1);
  const total = new Float64Array(sites + 1);
  let cTotal = Number.NEGATIVE_INFINITY;
  for (let r = 0; r < reps.length; r++) {
    const rho = reps[r]!;
    let ls = math.log(sizes[r]!);
    let hi: number; // slices 0..hi are in use
    p.fill(0);
    dist.fill(0);
    if (periodic) {
      p[rho] = 1;
      hi = 0;
    } else {
      for (let s = 0; s < n; s++) p[ups[s]! * n + s] = w[s]!;
      hi = l1;
    }
    for (let row = 1; row < l0 && ls > Number.NEGATIVE_INFINITY; row++) {
      applyX(p, hi + 1, n, ca, cb);
      for (let s = 0; s < n; s++) {
        const up = ups[s]!;
        const ws = w[s]!;
        for (let u = hi; u >= 0; u--) {
          const val = p[u * n + s]!;
          p[u * n + s] = 0;
          p[(u + up) * n + s] = ws * val;
        }
      }
      hi += l1;
      ls += rescale((hi + 1) * n, p);
    }
    if (ls === Number.NEGATIVE_INFINITY) continue; // underflowed: contributes nothing
    if (periodic) {
      const up = ups[rho]!;
      for (let u = 0; u <= hi; u++) {
        let acc = 0;
        for (let s = 0; s < n; s++) acc += xpow[pop[s ^ rho]!]! * p[u * n + s]!;
        dist[u + up] = w[rho]! * acc;
      }
    } else {
      for (let u = 0; u <= hi; u++) {
        let acc = 0;
        for (let s = 0; s < n; s++) acc += p[u * n + s]!;
        dist[u] = acc;
      }
    }
    if (ls > cTotal) {
      const f = cTotal === Number.NEGATIVE_INFINITY ? 0 : math.exp(cTotal - ls);
      for (let u = 0; u <= sites; u++) total[u]! *= f;
      cTotal = ls;
    }
    const e = math.exp(ls - cTotal);
    if (periodic)
      // the flipped rows of the orbit: M → −M, i.e. N₊ → N − N₊
      for (let u = 0; u <= sites; u++) total[u]! += 0.5 * e * (dist[u]! + dist[sites - u]!);
    else for (let u = 0; u <= sites; u++) total[u]! += e * dist[u]!;
  }
  let z = 0;
  let sm2 = 0;
  let sam = 0;
  let sm4 = 0;
  for (let u = 0; u <= sites; u++) {
    const m = (2 * u - sites) / sites;
    const g = total[u]!;
    z += g;
    sm2 += g * m * m;
    sam += g * Math.abs(m);
    sm4 += g * m * m * m * m;
  }
  return {
    lnZ,
    energy: (-J * meanB) / sites,
    specificHeat: (K * K * varB) / sites,
    m2: sm2 / z,
    absM: sam / z,
    m4: sm4 / z,
  };
}
