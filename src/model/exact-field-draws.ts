/**
 * Exact draws of a theory's field from the ensemble of an exact sampler, for bridge sampling
 * (src/analysis/bridge.ts): a field ensemble (HMC, flow MH) is used as it is; an Ising spin
 * ensemble (Wolff, spin Metropolis) becomes draws of the relaxation by x | s ~ N(Ks, K), which
 * are exact draws of p(x) when the spins are exact draws of the Ising model (src/theories/ising.ts).
 */
import type { Rng } from "../rng/philox.js";
import { IsingRelaxedTheory } from "../theories/ising.js";
import { SpecError } from "./spec-error.js";
import { describeTheory, type TheorySpec } from "./theory-spec.js";

/**
 * `data` holds n configurations; `spins`: they are Ising spins ±1 (then `spec` must be Ising),
 * turned into fields with normal draws from `rng`. Returns n fields of the theory.
 */
export function exactFieldDraws(
  spec: TheorySpec,
  data: Float64Array,
  n: number,
  spins: boolean,
  rng: Rng,
): Float64Array {
  if (!spins) return data;
  if (spec.kind !== "ising")
    throw new SpecError(
      `a spin ensemble gives draws of the Ising relaxation only, not of ${describeTheory(spec)}`,
    );
  const theory = new IsingRelaxedTheory(spec);
  const v = theory.size;
  if (data.length !== n * v)
    throw new SpecError(`a spin ensemble of ${n} configurations needs ${n * v} spins`);
  const out = new Float64Array(n * v);
  const z = new Float64Array(v);
  const x = new Float64Array(v);
  for (let b = 0; b < n; b++) {
    rng.normal(z);
    theory.fieldGivenSpins(data.subarray(b * v, (b + 1) * v), z, x);
    out.set(x, b * v);
  }
  return out;
}
