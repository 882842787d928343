/**
 * The flow half of the model description: a validated, plain-data `FlowSpec` (a discriminated
 * union on `kind`) and `buildFlow`, which builds it for a theory.
 *
 * Adding a flow family: its bijector/conditioner files in src/flows and one schema case here
 * (added to `FlowSpecSchema`, `FLOW_DEFAULTS`, `FLOW_DOMAIN`, `checkFlowFits`, `buildFlow`).
 * Real-field flows act on φ⁴ and Ising fields; circle flows (ncp, spline) on U(1) link angles.
 */
import { z } from "zod";
import { affineCouplingFlow } from "../flows/affine-flow.js";
import { CircularSplineTransformer } from "../flows/circular-spline-transformer.js";
import { continuousFlow } from "../flows/continuous-flow.js";
import type { Flow } from "../flows/flow.js";
import { meraFlow, tebdFlow } from "../flows/mera.js";
import { NcpTransformer } from "../flows/ncp-transformer.js";
import { realNvpMlpFlow } from "../flows/realnvp-mlp.js";
import { u1GaugeFlow } from "../flows/u1-flow.js";
import { Z2SymmetrisedFlow } from "../flows/z2-symmetrised.js";
import { SpecError } from "./spec-error.js";
import { configShapeOf, type Domain, domainOf, type TheorySpec } from "./theory-spec.js";

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
    /**
     * Z₂-equivariant couplings, s even and t odd in the frozen field (absent: false): every layer
     * is an odd map, so q(−x) = q(x) by construction (src/flows/z2-equivariant-conditioner.ts).
     */
    z2Equivariant: z.boolean().optional(),
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
    /**
     * Z₂-equivariant couplings, s even and t odd in the frozen field (absent: false): every layer
     * is an odd map, so q(−x) = q(x) by construction (src/flows/z2-equivariant-conditioner.ts).
     */
    z2Equivariant: z.boolean().optional(),
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

/**
 * The equivariant continuous flow of Gerdes et al. (arXiv 2207.00283): one neural ODE whose
 * vector field convolves site-wise features sin(ω_k φ), φ (`frequencies` ω_k) with a
 * full-lattice, hypercubic-symmetric kernel that is Fourier in time (`timeFrequencies`); the
 * features and time features are contracted to `hidden` = [feature bond, time bond] channels.
 * RK4 in `odeSteps` steps. Starts as the identity.
 */
export const CnfSpecSchema = z
  .object({
    kind: z.literal("cnf"),
    odeSteps: z.number().int().positive().max(4096),
    frequencies: z.number().int().positive().max(1024),
    timeFrequencies: z.number().int().nonnegative().max(256),
    hidden: Hidden,
    /** The Z₂-symmetrised density (absent: false); redundant here, the flow is odd so q is even. */
    z2: z.boolean().optional(),
  })
  .strict();

/** The U(1) gauge-equivariant conditioner (arXiv 2003.06413, 2101.08176): a periodic CNN on (cos P, sin P). */
const GaugeCnn = {
  layers: Layers,
  hidden: Hidden,
  kernel: z.number().int().positive(),
};

/**
 * The tutorial's U(1) flow (arXiv 2101.08176): gauge-equivariant couplings whose active
 * plaquettes go through a mixture of `components` non-compact projections plus a rotation.
 */
export const NcpSpecSchema = z
  .object({ kind: z.literal("ncp"), ...GaugeCnn, components: z.number().int().positive().max(64) })
  .strict();

/** The same couplings with circular rational-quadratic splines of `bins` bins (arXiv 2002.02428). */
export const SplineSpecSchema = z
  .object({ kind: z.literal("spline"), ...GaugeCnn, bins: z.number().int().positive().max(256) })
  .strict();

export const FlowSpecSchema = z.discriminatedUnion("kind", [
  AffineCnnSpecSchema,
  RealNvpMlpSpecSchema,
  MeraSpecSchema,
  TebdSpecSchema,
  CnfSpecSchema,
  NcpSpecSchema,
  SplineSpecSchema,
]);

export type AffineCnnSpec = z.infer<typeof AffineCnnSpecSchema>;
export type RealNvpMlpSpec = z.infer<typeof RealNvpMlpSpecSchema>;
export type MeraSpec = z.infer<typeof MeraSpecSchema>;
export type TebdSpec = z.infer<typeof TebdSpecSchema>;
export type CnfSpec = z.infer<typeof CnfSpecSchema>;
export type NcpSpec = z.infer<typeof NcpSpecSchema>;
export type SplineSpec = z.infer<typeof SplineSpecSchema>;
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
  /** The reference code's Phi4CNF defaults: 50 RK4 steps, 49 frequencies + φ, 21 time features, bonds 20. */
  cnf: { kind: "cnf", odeSteps: 50, frequencies: 49, timeFrequencies: 10, hidden: [20, 20] },
  /** The tutorial's U(1) model: 16 layers, 2 mixture components, hidden [8, 8], kernel 3. */
  ncp: { kind: "ncp", layers: 16, hidden: [8, 8], kernel: 3, components: 2 },
  spline: { kind: "spline", layers: 16, hidden: [8, 8], kernel: 3, bins: 8 },
};

export const FLOW_KINDS = Object.keys(FLOW_DEFAULTS) as FlowKind[];

/** What each flow transforms: real fields (φ⁴, relaxed Ising) or angles (U(1) links). */
export const FLOW_DOMAIN: { readonly [K in FlowKind]: Domain } = {
  "affine-cnn": "real",
  "realnvp-mlp": "real",
  mera: "real",
  tebd: "real",
  cnf: "real",
  ncp: "circle",
  spline: "circle",
};

/** The flow a theory gets when none is named: the notebook's for fields, the tutorial's for links. */
export const DEFAULT_FLOW_KIND: { readonly [D in Domain]: FlowKind } = { real: "affine-cnn", circle: "ncp" };

/** Whether the spec asks for the Z₂-symmetrised density (real-field flows only). */
export function isZ2Symmetrised(flow: FlowSpec): boolean {
  return "z2" in flow && flow.z2 === true;
}

/** Whether this flow can act on this theory's configurations; throws SpecError naming the fix. */
export function checkFlowFits(flow: FlowSpec, theory: TheorySpec): void {
  const domain = domainOf(theory);
  if (domain !== FLOW_DOMAIN[flow.kind]) {
    const fits = FLOW_KINDS.filter((k) => FLOW_DOMAIN[k] === domain).map((k) => `--flow ${k}`);
    throw new SpecError(
      domain === "circle"
        ? `flow '${flow.kind}' transforms real fields, but theory '${theory.kind}' has link angles: use ${fits.join(" or ")}`
        : `flow '${flow.kind}' transforms U(1) link angles, but theory '${theory.kind}' has real fields: use ${fits.join(", ")}`,
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
      checkKernel(flow.kernel, shape);
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
    case "cnf": {
      if (flow.hidden.length !== 2)
        throw new SpecError(
          `flow 'cnf' takes two hidden widths, the feature and time bond dimensions (the reference code's 20,20), got --hidden ${flow.hidden.join(",")}: use e.g. --hidden 20,20`,
        );
      const V = shape.reduce((a, b) => a * b, 1);
      if (V > CNF_MAX_SITES)
        throw new SpecError(
          `flow 'cnf' on lattice [${shape}] has ${V} sites; its training step stores ~B·V·F features per RK4 stage (about 2 GB at V = 4096, batch 64): use at most ${CNF_MAX_SITES} sites, e.g. --dim 2 --L 64`,
        );
      return;
    }
    case "ncp":
    case "spline": {
      if (shape.length !== 2)
        throw new SpecError(
          `flow '${flow.kind}' covers 2-d lattices only (its couplings transform the one plaquette orientation of d = 2), got d = ${shape.length}: use --dim 2`,
        );
      const off = shape.find((n) => n % 4 !== 0);
      if (off !== undefined)
        throw new SpecError(
          `L = ${off} is not a multiple of 4 (lattice [${shape}]); the gauge-equivariant layers' plaquette stripes repeat every 4 sites: use L = ${Math.max(4, 4 * Math.round(off / 4))}`,
        );
      checkKernel(flow.kernel, shape);
      return;
    }
  }
}

/** The largest lattice of the cnf flow: L = 64 in 2-d takes ~21 s and ~1.9 GB per step at 10 RK4 steps. */
const CNF_MAX_SITES = 4096;

/** An odd kernel that does not wrap onto itself. */
function checkKernel(kernel: number, shape: readonly number[]): void {
  if (kernel % 2 !== 1) throw new SpecError(`flow.kernel = ${kernel} must be odd (e.g. 3)`);
  const lmin = Math.min(...shape);
  if (kernel > lmin)
    throw new SpecError(
      `flow.kernel = ${kernel} is wider than the lattice (L = ${lmin}); a periodic kernel wraps onto itself: use kernel ≤ ${lmin % 2 === 1 ? lmin : lmin - 1}`,
    );
}

function nextPowerOfTwo(n: number): number {
  let p = 2;
  while (p < n) p *= 2;
  return p;
}

export function buildFlow(flow: FlowSpec, theory: TheorySpec): Flow {
  const base = buildBaseFlow(flow, theory);
  return isZ2Symmetrised(flow) ? new Z2SymmetrisedFlow(base) : base;
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
        z2Equivariant: flow.z2Equivariant ?? false,
      });
    case "realnvp-mlp":
      return realNvpMlpFlow({
        latticeShape,
        layers: flow.layers,
        hidden: flow.hidden,
        partition: flow.partition,
        identityInit: flow.identityInit,
        z2Equivariant: flow.z2Equivariant ?? false,
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
    case "cnf":
      return continuousFlow({
        latticeShape,
        steps: flow.odeSteps,
        frequencies: flow.frequencies,
        timeFrequencies: flow.timeFrequencies,
        featureBond: flow.hidden[0]!,
        timeBond: flow.hidden[1]!,
      });
    case "ncp":
    case "spline":
      return u1GaugeFlow({
        latticeShape: theory.latticeShape,
        layers: flow.layers,
        hidden: flow.hidden,
        kernel: flow.kernel,
        transformer:
          flow.kind === "ncp"
            ? new NcpTransformer(flow.components)
            : new CircularSplineTransformer(flow.bins),
      });
  }
}

export function describeFlow(flow: FlowSpec): string {
  const equivariant =
    "z2Equivariant" in flow && flow.z2Equivariant === true ? ", Z2-equivariant couplings" : "";
  const base = `${describeBaseFlow(flow)}${equivariant}`;
  return isZ2Symmetrised(flow) ? `${base}, Z2-symmetrised` : base;
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
    case "cnf":
      return `cnf (equivariant continuous flow) ${flow.odeSteps} RK4 steps, ${flow.frequencies} frequencies, ${flow.timeFrequencies} time frequencies, bonds [${flow.hidden}]`;
    case "ncp":
      return `ncp ${flow.layers} gauge-equivariant layers, ${flow.components} components, hidden [${flow.hidden}], kernel ${flow.kernel}`;
    case "spline":
      return `spline ${flow.layers} gauge-equivariant layers, ${flow.bins} bins, hidden [${flow.hidden}], kernel ${flow.kernel}`;
  }
}
