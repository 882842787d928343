/**
 * The theory half of the model description: a validated, plain-data `TheorySpec` (a
 * discriminated union on `kind`), its builder, and the shape of one configuration.
 *
 * Adding a theory: its file in src/theories, one schema case here (added to `TheorySpecSchema`,
 * `buildTheory`, `configShapeOf`, `domainOf`, `THEORY_DEFAULTS`), and its observables.
 */
import { z } from "zod";
import { IsingRelaxedTheory } from "../theories/ising.js";
import { Phi4Theory } from "../theories/phi4.js";
import type { Theory } from "../theories/theory.js";
import { U1Theory } from "../theories/u1.js";
import { SpecError } from "./spec-error.js";

/** The most degrees of freedom one configuration may have (a batch multiplies it). */
export const MAX_CONFIG_SIZE = 1 << 22;

const LatticeShape = z.array(z.number().int().positive()).min(1).max(4);

export const Phi4SpecSchema = z
  .object({
    kind: z.literal("phi4"),
    latticeShape: LatticeShape,
    m2: z.number().finite(),
    lam: z.number().finite().nonnegative(),
  })
  .strict();

export const U1SpecSchema = z
  .object({
    kind: z.literal("u1"),
    latticeShape: LatticeShape.min(2),
    beta: z.number().finite(),
  })
  .strict();

/** The Ising model in NeuralRG's continuous relaxation (src/theories/ising.ts), J = 1. */
export const IsingSpecSchema = z
  .object({
    kind: z.literal("ising"),
    latticeShape: LatticeShape,
    T: z.number().finite().positive(),
    boundary: z.enum(["periodic", "open"]),
  })
  .strict();

export const TheorySpecSchema = z.discriminatedUnion("kind", [Phi4SpecSchema, U1SpecSchema, IsingSpecSchema]);

export type Phi4Spec = z.infer<typeof Phi4SpecSchema>;
export type U1Spec = z.infer<typeof U1SpecSchema>;
export type IsingSpec = z.infer<typeof IsingSpecSchema>;
export type TheorySpec = z.infer<typeof TheorySpecSchema>;
export type TheoryKind = TheorySpec["kind"];

/** What a configuration's numbers are: real fields, or angles (compact variables). */
export type Domain = "real" | "circle";

/** The defaults a kind starts from when only some of its fields are given (flags, presets). */
export const THEORY_DEFAULTS: { readonly [K in TheoryKind]: Extract<TheorySpec, { kind: K }> } = {
  phi4: { kind: "phi4", latticeShape: [8, 8], m2: -4, lam: 8 },
  u1: { kind: "u1", latticeShape: [8, 8], beta: 2 },
  /** T_c = 2/ln(1 + √2) of the 2-d model. */
  ising: { kind: "ising", latticeShape: [8, 8], T: 2.269185314213022, boundary: "periodic" },
};

export const THEORY_KINDS = Object.keys(THEORY_DEFAULTS) as TheoryKind[];

/** The shape of one configuration: φ⁴ [...L]; U(1) links [d, ...L]. */
export function configShapeOf(spec: TheorySpec): number[] {
  switch (spec.kind) {
    case "phi4":
    case "ising":
      return [...spec.latticeShape];
    case "u1":
      return [spec.latticeShape.length, ...spec.latticeShape];
  }
}

export function domainOf(spec: TheorySpec): Domain {
  switch (spec.kind) {
    case "phi4":
    case "ising":
      return "real";
    case "u1":
      return "circle";
  }
}

/** Rules across fields that a schema cannot state; throws SpecError naming the field. */
export function checkTheory(spec: TheorySpec, source = "spec"): void {
  const where = `${source}: theory`;
  const size = configShapeOf(spec).reduce((a, b) => a * b, 1);
  if (size > MAX_CONFIG_SIZE) {
    throw new SpecError(
      `${where}.latticeShape [${spec.latticeShape}] gives ${size} degrees of freedom per configuration, more than ${MAX_CONFIG_SIZE} (${(size * 8) / 1048576} MiB per float64 configuration); use a smaller L`,
    );
  }
  if (spec.kind === "phi4" && spec.lam === 0 && spec.m2 <= 0) {
    throw new SpecError(`${where}: lam = 0 needs m2 > 0 (the free field is not normalisable otherwise)`);
  }
  if (spec.kind === "ising" && spec.latticeShape.some((n) => n < 2)) {
    throw new SpecError(`${where}.latticeShape [${spec.latticeShape}]: Ising bonds need extents ≥ 2`);
  }
}

export function buildTheory(spec: TheorySpec): Theory {
  switch (spec.kind) {
    case "phi4":
      return new Phi4Theory(spec);
    case "u1":
      return new U1Theory(spec);
    case "ising":
      return new IsingRelaxedTheory(spec);
  }
}

/** A one-line summary, e.g. `phi4 8x8 m2=-4 lam=8`. */
export function describeTheory(spec: TheorySpec): string {
  const shape = spec.latticeShape.join("x");
  switch (spec.kind) {
    case "phi4":
      return `phi4 ${shape} m2=${spec.m2} lam=${spec.lam}`;
    case "u1":
      return `u1 ${shape} beta=${spec.beta}`;
    case "ising":
      return `ising ${shape} T=${spec.T} ${spec.boundary}`;
  }
}
