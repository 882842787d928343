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
import { meraFlow, tebdFlow } from "../flows/mera.js";
import { realNvpMlpFlow } from "../flows/realnvp-mlp.js";
import { Z2SymmetrisedFlow } from "../flows/z2-symmetrised.js";
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
    /** Train and sample the Z₂-symmetrised density ½[q(x) + q(−x)] (absent: false). */
    z2: z.boolean().optional(),
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
    /** Train and sample the Z₂-symmetrised density ½[q(x) + q(−x)] (absent: false). */
    z2: z.boolean().optional(),
  })
  .strict();

/**
 * NeuralRG's MERA (arXiv 1802.02840): per RG level, `ndis` disentanglers and a decimator, each a
 * RealNVP block of `layers` couplings on 2×2 blocks with one-hidden-layer MLPs of width `hidden`.
 */
export const MeraSpecSchema = z
  .object({
    kind: z.literal("mera"),
    layers: Layers,
    hidden: Hidden,
    ndis: z.number().int().nonnegative().max(64),
    identityInit: z.boolean(),
    /** Train and sample the Z₂-symmetrised density ½[q(x) + q(−x)] (absent: false). */
    z2: z.boolean().optional(),
  })
  .strict();

/** NeuralRG's TEBD: `depth` × (aligned, shifted) layers of 2×2 RealNVP blocks, no coarse-graining. */
export const TebdSpecSchema = z
  .object({
    kind: z.literal("tebd"),
    layers: Layers,
    hidden: Hidden,
    depth: z.number().int().positive().max(256),
    identityInit: z.boolean(),
    /** Train and sample the Z₂-symmetrised density ½[q(x) + q(−x)] (absent: false). */
    z2: z.boolean().optional(),
  })
  .strict();

export const FlowSpecSchema = z.discriminatedUnion("kind", [
  AffineCnnSpecSchema,
  RealNvpMlpSpecSchema,
  MeraSpecSchema,
  TebdSpecSchema,
]);

export type AffineCnnSpec = z.infer<typeof AffineCnnSpecSchema>;
export type RealNvpMlpSpec = z.infer<typeof RealNvpMlpSpecSchema>;
export type MeraSpec = z.infer<typeof MeraSpecSchema>;
export type TebdSpec = z.infer<typeof TebdSpecSchema>;
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
  /** NeuralRG's paper runs (etc/paper.md): Nlayers 8, Hs = Ht = 64, Ndis 2. */
  mera: { kind: "mera", layers: 8, hidden: [64], ndis: 2, identityInit: false },
  tebd: { kind: "tebd", layers: 8, hidden: [64], depth: 2, identityInit: false },
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
    case "mera":
    case "tebd": {
      const L = shape[0]!;
      const ok =
        shape.length === 2 &&
        shape[1] === L &&
        (flow.kind === "mera" ? L >= 2 && (L & (L - 1)) === 0 : L >= 2 && L % 2 === 0);
      if (!ok)
        throw new SpecError(
          `flow '${flow.kind}' needs a square 2-d lattice with L ${flow.kind === "mera" ? "a power of 2" : "even"} (got [${shape}]): use --dim 2 --L ${flow.kind === "mera" ? nextPowerOfTwo(L) : L + (L % 2)}`,
        );
      if (flow.hidden.length !== 1)
        throw new SpecError(
          `flow '${flow.kind}' takes one hidden width (NeuralRG's Hs = Ht), got --hidden ${flow.hidden.join(",")}: use e.g. --hidden 64`,
        );
      return;
    }
  }
}

function nextPowerOfTwo(n: number): number {
  let p = 2;
  while (p < n) p *= 2;
  return p;
}

export function buildFlow(flow: FlowSpec, theory: TheorySpec): Flow {
  const base = buildBaseFlow(flow, theory);
  return flow.z2 ? new Z2SymmetrisedFlow(base) : base;
}

function buildBaseFlow(flow: FlowSpec, theory: TheorySpec): Flow {
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
    case "mera":
      return meraFlow({
        latticeShape: latticeShape as [number, number],
        ndis: flow.ndis,
        nlayers: flow.layers,
        hiddenS: flow.hidden[0]!,
        hiddenT: flow.hidden[0]!,
        identityInit: flow.identityInit,
      });
    case "tebd":
      return tebdFlow({
        latticeShape: latticeShape as [number, number],
        depth: flow.depth,
        nlayers: flow.layers,
        hiddenS: flow.hidden[0]!,
        hiddenT: flow.hidden[0]!,
        identityInit: flow.identityInit,
      });
  }
}

export function describeFlow(flow: FlowSpec): string {
  return flow.z2 ? `${describeBaseFlow(flow)}, Z2-symmetrised` : describeBaseFlow(flow);
}

function describeBaseFlow(flow: FlowSpec): string {
  switch (flow.kind) {
    case "affine-cnn":
      return `affine-cnn ${flow.layers} layers, hidden [${flow.hidden}], kernel ${flow.kernel}`;
    case "realnvp-mlp":
      return `realnvp-mlp ${flow.layers} layers, hidden [${flow.hidden}], ${flow.partition}`;
    case "mera":
      return `mera ${flow.ndis} disentangler(s) + decimator per level, ${flow.layers} couplings per block, hidden ${flow.hidden[0]}`;
    case "tebd":
      return `tebd depth ${flow.depth}, ${flow.layers} couplings per block, hidden ${flow.hidden[0]}`;
  }
}
