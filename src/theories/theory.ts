/**
 * What a sampler or a flow needs from a lattice theory: the action and its force.
 *
 * Conventions (docs/physics.md): p(φ) = e^{-S(φ)}/Z; configurations are stored row-major,
 * a batch of B configurations as one flat array of B·V numbers (V = number of sites).
 * force(φ) = −∂S/∂φ, the HMC convention (dπ/dt = force).
 */
export type FloatArray = Float64Array | Float32Array;

export interface Theory {
  /** Lattice extent per dimension, e.g. [8, 8]. */
  readonly latticeShape: readonly number[];
  /** Shape of one configuration: [...latticeShape] for a field, [d, ...latticeShape] for links. */
  readonly configShape: readonly number[];
  /** Degrees of freedom per configuration (sites × components). */
  readonly size: number;
  /** S(φ_b) for each of the `batch` configurations packed in `phi`; writes into `out` if given. */
  action(phi: FloatArray, batch: number, out?: Float64Array): Float64Array;
  /** −∂S/∂φ for each configuration, same layout as `phi`; writes into `out` if given. */
  force(phi: FloatArray, batch: number, out?: Float64Array): Float64Array;
  /**
   * ln Z of the theory's own partition function minus ln ∫ dφ e^{−S(φ)}, when they differ (the
   * relaxed Ising model: the spins' Z from the continuous one); absent means 0.
   */
  readonly logZShift?: number;
  /**
   * True when S(−φ) = S(φ) for every configuration (φ⁴ without a source, the relaxed Ising
   * model), so p(−φ) = p(φ): a sample's sign flip is as good a sample (the mixed training
   * objective's buffer takes both). Absent: no such symmetry (U(1) angles are not flipped).
   */
  readonly z2Symmetric?: boolean;
}
