/**
 * ln Z by bridge sampling between a normalised proposal q (the flow) and p = p̃/Z, p̃ = e^{−S}:
 * X.-L. Meng and W. H. Wong, Statistica Sinica 6 (1996) 831, with their optimal bridge, which is
 * Bennett's acceptance ratio (C. H. Bennett, J. Comput. Phys. 22 (1976) 245). Unlike importance
 * sampling it also uses exact draws of p (an HMC or Wolff ensemble), so mass that q misses is
 * counted: for q covering one of two equal wells of p, importance sampling gives ln Z − ln 2 with a
 * tiny error bar, the bridge gives ln Z.
 *
 * With log w = log p̃ − log q on n_q draws of q (w_j) and n_p draws of p (w_i), r = ln Z solves
 *
 *   Σ_{i∈p} σ(−u_i) = Σ_{j∈q} σ(u_j),   u = log w − r + ln(n_p/n_q),   σ(u) = 1/(1 + e^{−u}),
 *
 * the fixed point of Meng–Wong's iteration. The left side minus the right is strictly increasing
 * in r (its derivative is Σ_all σ(u)σ(−u) > 0) and goes from −n_q to n_p, so the root is unique;
 * it is found by Newton steps kept inside a bracket (bisection when a step leaves it).
 *
 * Error: a blocked jackknife that deletes block b of both samples together (B blocks each, in
 * order), so autocorrelation of a Markov-chain p ensemble is covered once a block is ≫ τ_int.
 * The estimate is reliable only where q and p overlap: the jackknife error grows when they do
 * not, it does not hide it.
 */
import * as math from "../math/index.js";
import { logsumexp } from "./reweighting.js";

export interface BridgeEstimate {
  lnZ: number;
  /** Blocked-jackknife standard error of lnZ. */
  lnZError: number;
  nQ: number;
  nP: number;
  blocks: number;
}

/** σ(u) = 1/(1 + e^{−u}) without overflow; σ(+∞) = 1, σ(−∞) = 0. */
function sigmoid(u: number): number {
  if (u >= 0) return 1 / (1 + math.exp(-u));
  const e = math.exp(u);
  return e / (1 + e);
}

interface Sample {
  logw: Float64Array;
  /** Half-open index range [from, to) left out (the jackknife's deleted block), or none. */
  skipFrom: number;
  skipTo: number;
}

/** f(r) = Σ_p σ(−u) − Σ_q σ(u) and f'(r) = Σ σ(u)σ(−u), over the kept draws. */
function balance(p: Sample, q: Sample, r: number, c: number): { f: number; df: number } {
  let f = 0;
  let df = 0;
  const lp = p.logw;
  for (let i = 0; i < lp.length; i++) {
    if (i >= p.skipFrom && i < p.skipTo) continue;
    const s = sigmoid(-(lp[i]! - r + c));
    f += s;
    df += s * (1 - s);
  }
  const lq = q.logw;
  for (let j = 0; j < lq.length; j++) {
    if (j >= q.skipFrom && j < q.skipTo) continue;
    const s = sigmoid(lq[j]! - r + c);
    f -= s;
    df += s * (1 - s);
  }
  return { f, df };
}

function kept(s: Sample): number {
  return s.logw.length - (s.skipTo - s.skipFrom);
}

/** The root r of f, starting from r0. */
function solve(p: Sample, q: Sample, r0: number): number {
  const c = math.log(kept(p) / kept(q));
  let lo = Number.NEGATIVE_INFINITY;
  let hi = Number.POSITIVE_INFINITY;
  let r = r0;
  for (let it = 0; it < 200; it++) {
    const { f, df } = balance(p, q, r, c);
    if (f === 0) return r;
    if (f < 0) lo = r;
    else hi = r;
    let next = df > 0 ? r - f / df : Number.NaN;
    if (!(next > lo && next < hi)) {
      // Newton left the bracket (or f' underflowed): bisect, or widen an open bracket.
      if (Number.isFinite(lo) && Number.isFinite(hi)) next = 0.5 * (lo + hi);
      else next = f < 0 ? r + Math.max(1, Math.abs(f / (df || 1))) : r - Math.max(1, Math.abs(f / (df || 1)));
    }
    if (Math.abs(next - r) <= 1e-13 * Math.max(1, Math.abs(r))) return next;
    r = next;
  }
  return r;
}

function checkLogWeights(logw: Float64Array, name: string): void {
  for (let i = 0; i < logw.length; i++) {
    if (Number.isNaN(logw[i]!)) throw new RangeError(`bridgeLogZ: ${name}[${i}] is NaN`);
  }
}

/**
 * ln Z from log w = log p̃ − log q of draws of q (`logwQ`) and of p (`logwP`, in chain order
 * if they come from a Markov chain). `blocks` (default 32) jackknife blocks per sample.
 */
export function bridgeLogZ(logwQ: Float64Array, logwP: Float64Array, blocks = 32): BridgeEstimate {
  if (!Number.isInteger(blocks) || blocks < 2)
    throw new RangeError(`bridgeLogZ: blocks must be an integer ≥ 2, got ${blocks}`);
  for (const [name, a] of [
    ["logwQ", logwQ],
    ["logwP", logwP],
  ] as const) {
    if (a.length < blocks)
      throw new RangeError(
        `bridgeLogZ: ${name} has ${a.length} draws, fewer than the ${blocks} jackknife blocks`,
      );
    checkLogWeights(a, name);
  }
  // Start at the importance-sampling estimate from q's draws, clamped to a finite value.
  let r0 = logsumexp(logwQ) - math.log(logwQ.length);
  if (!Number.isFinite(r0)) r0 = 0;
  const full = (logw: Float64Array): Sample => ({ logw, skipFrom: 0, skipTo: 0 });
  const lnZ = solve(full(logwP), full(logwQ), r0);
  const reps = new Float64Array(blocks);
  const edge = (n: number, b: number) => Math.floor((b * n) / blocks);
  for (let b = 0; b < blocks; b++) {
    const p = { logw: logwP, skipFrom: edge(logwP.length, b), skipTo: edge(logwP.length, b + 1) };
    const q = { logw: logwQ, skipFrom: edge(logwQ.length, b), skipTo: edge(logwQ.length, b + 1) };
    reps[b] = solve(p, q, lnZ);
  }
  let mean = 0;
  for (const x of reps) mean += x / blocks;
  let ss = 0;
  for (const x of reps) ss += (x - mean) * (x - mean);
  return {
    lnZ,
    lnZError: Math.sqrt(((blocks - 1) / blocks) * ss),
    nQ: logwQ.length,
    nP: logwP.length,
    blocks,
  };
}
