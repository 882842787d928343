/**
 * Exact references a run is judged against, by theory: what the library can compute exactly for
 * this spec, or null. The free energy: `lnZ` is the theory's own partition function (for the
 * relaxed Ising model, the spins' Z), `logZShift` = ln Z − ln ∫ dφ e^{−S(φ)}, so the reverse-KL
 * loss (an upper bound of −ln ∫ e^{−S}) has the exact floor `lossFloor` = logZShift − lnZ.
 * U(1) on a 2-d periodic lattice: lnZ = ln ∫ Π_links dθ e^{−S}, dθ on [0, 2π) — the measure whose
 * normalised form is the uniform prior, so a flow's reverse-KL loss E_q[log q + S] = KL(q‖p) − ln Z
 * has the floor −ln Z (u1ExactTorus, src/theories/u1-exact.ts); logZShift = 0, energy null.
 */
import { IsingRelaxedTheory } from "../theories/ising.js";
import { isingExactTorus } from "../theories/ising-exact.js";
import { ISING_TRANSFER_MAX_ROW, isingTransferMatrix } from "../theories/ising-transfer.js";
import { u1ExactTorus } from "../theories/u1-exact.js";
import type { IsingSpec, TheorySpec } from "./theory-spec.js";

export interface ExactReferences {
  /** ln Z of the theory (exact), or null when unknown for this spec. */
  lnZ: number | null;
  /** ln Z − ln ∫ e^{−S}: 0 unless the theory's Z differs from that of e^{−S}. */
  logZShift: number;
  /** −ln ∫ e^{−S}: the value the reverse-KL loss is bounded by (null when lnZ is). */
  lossFloor: number | null;
  /** Per-site energy, when known (Ising only; null for U(1), whose ⟨cos P⟩ is in u1ExactTorus). */
  energy: number | null;
}

export function exactReferences(spec: TheorySpec): ExactReferences {
  switch (spec.kind) {
    case "ising": {
      const shift = new IsingRelaxedTheory(spec).logZShift;
      const torus = spec.boundary === "periodic" && spec.latticeShape.length === 2;
      if (!torus) return { lnZ: null, logZShift: shift, lossFloor: null, energy: null };
      const [l0, l1] = spec.latticeShape as [number, number];
      const e = isingExactTorus([l0, l1], spec.T);
      return { lnZ: e.lnZ, logZShift: shift, lossFloor: shift - e.lnZ, energy: e.energy };
    }
    case "u1": {
      const solvable = spec.latticeShape.length === 2 && spec.beta >= 0 && spec.beta <= 500;
      if (!solvable) return { lnZ: null, logZShift: 0, lossFloor: null, energy: null };
      const { lnZ } = u1ExactTorus(spec.latticeShape, spec.beta);
      return { lnZ, logZShift: 0, lossFloor: -lnZ, energy: null };
    }
    case "phi4":
      return { lnZ: null, logZShift: 0, lossFloor: null, energy: null };
  }
}

/**
 * Exact Ising observables (per site; m = Σs/N), null where the library has no exact value (⟨m⟩ = 0
 * by symmetry is left out: its Γ-method error is often undefined on cluster chains).
 */
export interface IsingExactObservables {
  m: number | null;
  abs_m: number | null;
  m2: number | null;
  binder: number | null;
  energy: number | null;
  specific_heat: number | null;
}

/** Rows longer than this make the transfer matrix too slow for a measurement's side value. */
const TRANSFER_ROW_LIMIT = Math.min(10, ISING_TRANSFER_MAX_ROW);

/**
 * The exact values of a 2-d Ising ensemble's observables: energy and specific heat on any periodic
 * torus (Kaufman), the magnetisation moments by transfer matrix for rows of ≤ 10 spins.
 */
export function isingExactObservables(spec: IsingSpec): IsingExactObservables {
  const none: IsingExactObservables = {
    m: null,
    abs_m: null,
    m2: null,
    binder: null,
    energy: null,
    specific_heat: null,
  };
  if (spec.latticeShape.length !== 2 || spec.boundary !== "periodic") return none;
  const [l0, l1] = spec.latticeShape as [number, number];
  const rows: [number, number] = l1 <= l0 ? [l0, l1] : [l1, l0];
  if (rows[1] <= TRANSFER_ROW_LIMIT) {
    const t = isingTransferMatrix(rows, spec.T);
    return {
      m: null,
      abs_m: t.absM,
      m2: t.m2,
      binder: 1 - t.m4 / (3 * t.m2 * t.m2),
      energy: t.energy,
      specific_heat: t.specificHeat,
    };
  }
  const e = isingExactTorus([l0, l1], spec.T);
  return { ...none, energy: e.energy, specific_heat: e.specificHeat };
}
