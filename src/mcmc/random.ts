/** The randomness a sampler needs; `Rng` (src/rng/philox.ts) is the seeded implementation. */
export interface RandomSource {
  /** Fill `out` with independent standard normal draws. */
  normal(out: Float64Array | Float32Array): void;
  /** One uniform draw in [0, 1). */
  uniform(): number;
}
