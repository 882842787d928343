/**
 * The flow half of the model description: a validated, plain-data `FlowSpec` (a discriminated
 * union on `kind`) and `buildFlow`, which builds it for a theory.
 *
 * Adding a flow family: its bijector/conditioner files in src/flows and one schema case here
 * (added to `FlowSpecSchema`, `FLOW_DEFAULTS`, `checkFlowFits`, `buildFlow`).
 */
import { z } from "zod";
import { affineCouplingFlow } from "../flows/affine-flow.js";
import type { Flow } from "../flows/flow.js";
import { realNvpMlpFlow } from "../flows/realnvp-mlp.js";
import { SpecError } from "./spec-error.js";
import { configShapeOf, domainOf, type TheorySpec } from "./theory-spec.js";

const Hidden = z.array(z.number().int().positive().max(65536)).max(16);
const Layers = z.number().int().positive().max(1024);

/** The notebook's flow (arXiv 1904.12072): checkerboard affine couplings, periodic-CNN conditioners. */
export const AffineCnnSpecSchema = z
  .object({
    kind: z.literal("affine-cnn"),
    layers: Layers,
    hidden: Hidden,
    kernel: z.number().int().positive(),
    identityInit: z.boolean(),
  })
  .strict();

/** RealNVP (arXiv 1605.08803) with MLP conditioners over the whole frozen half. */
export const RealNvpMlpSpecSchema = z
  .object({
    kind: z.literal("realnvp-mlp"),
    layers: Layers,
    hidden: Hidden,
    /** Which sites layer l freezes: stripes alternate along the axes, or a checkerboard. */
    partition: z.enum(["stripes", "checkerboard"]),
    identityInit: z.boolean(),
  })
  .strict();

export const FlowSpecSchema = z.discriminatedUnion("kind", [AffineCnnSpecSchema, RealNvpMlpSpecSchema]);

export type AffineCnnSpec = z.infer<typeof AffineCnnSpecSchema>;
export type RealNvpMlpSpec = z.infer<typeof RealNvpMlpSpecSchema>;
export type FlowSpec = z.infer<typeof FlowSpecSchema>;
export type FlowKind = FlowSpec["kind"];

export const FLOW_DEFAULTS: { readonly [K in FlowKind]: Extract<FlowSpec, { kind: K }> } = {
  "affine-cnn": { kind: "affine-cnn", layers: 16, hidden: [8, 8], kernel: 3, identityInit: false },
  "realnvp-mlp": {
    kind: "realnvp-mlp",
    layers: 8,
    hidden: [128, 128],
    partition: "stripes",
    identityInit: true,
  },
};

export const FLOW_KINDS = Object.keys(FLOW_DEFAULTS) as FlowKind[];

/** Whether this flow can act on this theory's configurations; throws SpecError naming the fix. */
export function checkFlowFits(flow: FlowSpec, theory: TheorySpec): void {
  if (domainOf(theory) !== "real") {
    throw new SpecError(
      `flow '${flow.kind}' transforms real fields, but theory '${theory.kind}' has angles: no flow for it yet (use 'latticeflow hmc' for ${theory.kind})`,
    );
  }
  const shape = theory.latticeShape;
  switch (flow.kind) {
    case "affine-cnn": {
      const odd = shape.find((n) => n % 2 !== 0);
      if (odd !== undefined)
        throw new SpecError(
          `L = ${odd} is odd (lattice [${shape}]); the checkerboard coupling layers need even extents, e.g. L = ${odd + 1}`,
        );
      if (flow.kernel % 2 !== 1) throw new SpecError(`flow.kernel = ${flow.kernel} must be odd (e.g. 3)`);
      const lmin = Math.min(...shape);
      if (flow.kernel > lmin)
        throw new SpecError(
          `flow.kernel = ${flow.kernel} is wider than the lattice (L = ${lmin}); a periodic kernel wraps onto itself: use kernel ≤ ${lmin % 2 === 1 ? lmin : lmin - 1}`,
        );
      return;
    }
    case "realnvp-mlp": {
      const odd = shape.find((n) => n % 2 !== 0);
      if (odd !== undefined)
        throw new SpecError(
          `L = ${odd} is odd (lattice [${shape}]); the ${flow.partition} partitions split each axis in two: use even extents, e.g. L = ${odd + 1}`,
        );
      return;
    }
  }
}

export function buildFlow(flow: FlowSpec, theory: TheorySpec): Flow {
  checkFlowFits(flow, theory);
  const latticeShape = configShapeOf(theory);
  switch (flow.kind) {
    case "affine-cnn":
      return affineCouplingFlow({
        latticeShape,
        layers: flow.layers,
        hidden: flow.hidden,
        kernel: flow.kernel,
        identityInit: flow.identityInit,
      });
    case "realnvp-mlp":
      return realNvpMlpFlow({
        latticeShape,
        layers: flow.layers,
        hidden: flow.hidden,
        partition: flow.partition,
        identityInit: flow.identityInit,
      });
  }
}

export function describeFlow(flow: FlowSpec): string {
  switch (flow.kind) {
    case "affine-cnn":
      return `affine-cnn ${flow.layers} layers, hidden [${flow.hidden}], kernel ${flow.kernel}`;
    case "realnvp-mlp":
      return `realnvp-mlp ${flow.layers} layers, hidden [${flow.hidden}], ${flow.partition}`;
  }
}
