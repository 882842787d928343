/**
 * The measurement of an ensemble of the theory a spec describes, shared by `latticeflow measure`
 * and the page: φ⁴ (or no known theory) → scalar-field observables; U(1) → gauge observables;
 * Ising → spin observables (of the spins themselves for spin samplers, NeuralRG's improved
 * estimators of the relaxation otherwise) with the exact values of the periodic lattice.
 */
import {
  type IsingMeasurement,
  measureIsingRelaxed,
  measureIsingSpins,
} from "../observables/ising-measure.js";
import { measureScalarEnsemble, type ScalarMeasurement } from "../observables/measure.js";
import { measureU1Ensemble, type U1Measurement } from "../observables/u1-measure.js";
import { Rng } from "../rng/philox.js";
import { U1Theory } from "../theories/u1.js";
import { type IsingExactObservables, isingExactObservables } from "./references.js";
import { SpecError } from "./spec-error.js";
import { buildTheory, describeTheory, type TheorySpec } from "./theory-spec.js";

export type EnsembleMeasurement =
  | { kind: "scalar"; m: ScalarMeasurement }
  | { kind: "u1"; m: U1Measurement }
  | { kind: "ising"; m: IsingMeasurement; exact: IsingExactObservables };

/** Seed of the spin draws behind the relaxed ensembles' ⟨|m|⟩ (fixed: a measurement is deterministic). */
const SPIN_DRAW_SEED = 7;

/**
 * `data` holds N configurations of `configShape`; `spins`: they are Ising spins ±1, not the
 * relaxation's x. SpecError for Ising off the periodic lattice, whose estimators assume it.
 */
export function measureEnsemble(
  spec: TheorySpec | null,
  data: Float64Array,
  configShape: readonly number[],
  spins = false,
): EnsembleMeasurement {
  if (spec === null) return { kind: "scalar", m: measureScalarEnsemble(data, configShape) };
  switch (spec.kind) {
    case "phi4":
      return { kind: "scalar", m: measureScalarEnsemble(data, configShape, { theory: buildTheory(spec) }) };
    case "u1":
      return { kind: "u1", m: measureU1Ensemble(data, new U1Theory(spec)) };
    case "ising": {
      if (spec.boundary !== "periodic")
        throw new SpecError(
          `Ising observables are measured on periodic lattices only (this ensemble is ${describeTheory(spec)})`,
        );
      const m = spins
        ? measureIsingSpins(Int8Array.from(data), spec.latticeShape, spec.T)
        : measureIsingRelaxed(data, spec.latticeShape, spec.T, new Rng(SPIN_DRAW_SEED));
      return { kind: "ising", m, exact: isingExactObservables(spec) };
    }
  }
}
