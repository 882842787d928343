/**
 * Compact U(1) lattice gauge theory with the Wilson action (Kanwar et al., arXiv:2003.06413;
 * Albergo et al., arXiv:2101.08176), on a periodic lattice of any dimension d ≥ 2.
 *
 * Links U_μ(x) = e^{iθ_μ(x)} are stored as angles, θ[μ·V + x] (shape [d, ...lattice] per
 * configuration; any real θ, the action is 2π-periodic in each). Plaquettes, μ < ν:
 *   P_μν(x) = θ_μ(x) + θ_ν(x+μ̂) − θ_μ(x+ν̂) − θ_ν(x),
 *   S(θ) = −β Σ_x Σ_{μ<ν} cos P_μν(x),   p(θ) ∝ e^{−S(θ)}.
 * The force F = −∂S/∂θ: each plaquette's −β·sin P_μν(x) goes to the links θ_μ(x) and θ_ν(x+μ̂)
 * with sign +, and to θ_μ(x+ν̂) and θ_ν(x) with sign −.
 * Gauge transformations θ_μ(x) → θ_μ(x) + α(x) − α(x+μ̂) leave every P_μν unchanged.
 */

import * as math from "../math/index.js";
import { latticeVolume, neighbourTables } from "./lattice.js";
import type { FloatArray, Theory } from "./theory.js";

export interface U1Params {
  latticeShape: readonly number[];
  beta: number;
}

export class U1Theory implements Theory {
  readonly latticeShape: readonly number[];
  /** Links θ_μ(x): [d, ...latticeShape]. */
  readonly configShape: readonly number[];
  /** d·V angles per configuration. */
  readonly size: number;
  readonly volume: number;
  readonly dim: number;
  readonly beta: number;
  /** For plaquette k: links[4k..4k+3] = θ_μ(x), θ_ν(x+μ̂), θ_μ(x+ν̂), θ_ν(x), as offsets into a configuration. */
  private readonly links: Int32Array;

  constructor({ latticeShape, beta }: U1Params) {
    if (latticeShape.length < 2 || latticeShape.some((n) => !Number.isInteger(n) || n < 1))
      throw new RangeError(
        `U1Theory: latticeShape needs ≥ 2 integer extents ≥ 1, got ${JSON.stringify(latticeShape)}`,
      );
    if (!Number.isFinite(beta)) throw new RangeError(`U1Theory: beta must be a finite number, got ${beta}`);
    this.latticeShape = Object.freeze([...latticeShape]);
    this.dim = latticeShape.length;
    this.configShape = Object.freeze([this.dim, ...latticeShape]);
    this.volume = latticeVolume(latticeShape);
    this.size = this.dim * this.volume;
    this.beta = beta;
    const { up } = neighbourTables(latticeShape);
    const v = this.volume;
    this.links = new Int32Array(4 * this.plaquetteCount);
    let k = 0;
    for (let mu = 0; mu < this.dim; mu++)
      for (let nu = mu + 1; nu < this.dim; nu++)
        for (let x = 0; x < v; x++) {
          this.links.set([mu * v + x, nu * v + up[mu]![x]!, mu * v + up[nu]![x]!, nu * v + x], 4 * k++);
        }
  }

  /** Number of plaquettes: V·d(d−1)/2. */
  get plaquetteCount(): number {
    return (this.volume * this.dim * (this.dim - 1)) / 2;
  }

  /** P_μν(x) of configuration b, for μ < ν in the order (0,1), (0,2), …, (1,2), …; plaquette-major. */
  plaquettes(theta: FloatArray, b: number, out?: Float64Array): Float64Array {
    const res = out ?? new Float64Array(this.plaquetteCount);
    const o = b * this.size;
    const l = this.links;
    for (let k = 0; k < res.length; k++) {
      const j = 4 * k;
      res[k] = theta[o + l[j]!]! + theta[o + l[j + 1]!]! - theta[o + l[j + 2]!]! - theta[o + l[j + 3]!]!;
    }
    return res;
  }

  action(theta: FloatArray, batch: number, out?: Float64Array): Float64Array {
    const res = check(this, theta, batch, 1, out);
    const p = new Float64Array(this.plaquetteCount);
    for (let b = 0; b < batch; b++) {
      this.plaquettes(theta, b, p);
      let s = 0;
      for (let i = 0; i < p.length; i++) s += math.cos(p[i]!);
      res[b] = -this.beta * s;
    }
    return res;
  }

  force(theta: FloatArray, batch: number, out?: Float64Array): Float64Array {
    const res = check(this, theta, batch, this.size, out);
    const p = new Float64Array(this.plaquetteCount);
    const l = this.links;
    for (let b = 0; b < batch; b++) {
      const o = b * this.size;
      res.fill(0, o, o + this.size);
      this.plaquettes(theta, b, p);
      for (let k = 0; k < p.length; k++) {
        const f = -this.beta * math.sin(p[k]!); // −∂S/∂P
        const j = 4 * k;
        res[o + l[j]!]! += f;
        res[o + l[j + 1]!]! += f;
        res[o + l[j + 2]!]! -= f;
        res[o + l[j + 3]!]! -= f;
      }
    }
    return res;
  }
}

function check(t: U1Theory, theta: FloatArray, batch: number, per: number, out?: Float64Array): Float64Array {
  if (!Number.isInteger(batch) || batch < 0)
    throw new RangeError(`batch must be an integer ≥ 0, got ${batch}`);
  if (theta.length < batch * t.size)
    throw new RangeError(`theta has ${theta.length} values, need batch·d·V = ${batch}·${t.size}`);
  const n = batch * per;
  if (out === undefined) return new Float64Array(n);
  if (out.length < n) throw new RangeError(`out has ${out.length} values, need ${n}`);
  return out;
}
