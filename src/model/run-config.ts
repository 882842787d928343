/**
 * A run's whole description, `{theory, flow, train}`, and the one parser that every source goes
 * through: config files (this nested form, or the flat φ⁴ form that runs before it wrote),
 * command-line flags, checkpoint metadata, sidecars, threads and the browser page.
 *
 * Sources are merged as flat settings (`m2`, `layers`, `lr`, …, with `theory` and `flow` naming
 * the kinds and `L`/`dim` a hypercubic `latticeShape`): each key belongs to exactly one section,
 * so a flag is a spec field, and a key that the chosen kinds do not have is an error.
 */
import { z } from "zod";
import {
  checkFlowFits,
  DEFAULT_FLOW_KIND,
  FLOW_DEFAULTS,
  FLOW_DOMAIN,
  FLOW_KINDS,
  type FlowKind,
  type FlowSpec,
  FlowSpecSchema,
} from "./flow-spec.js";
import { SpecError } from "./spec-error.js";
import {
  checkTheory,
  configShapeOf,
  domainOf,
  THEORY_DEFAULTS,
  THEORY_KINDS,
  type TheoryKind,
  type TheorySpec,
  TheorySpecSchema,
} from "./theory-spec.js";
import { TRAIN_DEFAULTS, type TrainSpec, TrainSpecSchema } from "./train-spec.js";

export const RunConfigSchema = z
  .object({ theory: TheorySpecSchema, flow: FlowSpecSchema, train: TrainSpecSchema })
  .strict();

export type RunConfig = z.infer<typeof RunConfigSchema>;

/** What threads, workers and the page need to rebuild a model: plain data. */
export interface ModelSpec {
  theory: TheorySpec;
  flow: FlowSpec;
  dtype: TrainSpec["dtype"];
}

export function modelSpecOf(c: RunConfig): ModelSpec {
  return { theory: c.theory, flow: c.flow, dtype: c.train.dtype };
}

/** Flat settings: every field of every section, by its own name. */
export type FlatSettings = Record<string, unknown>;

const TRAIN_KEYS = Object.keys(TrainSpecSchema.shape);

function theoryKeys(kind: TheoryKind): string[] {
  return [...Object.keys(THEORY_DEFAULTS[kind]).filter((k) => k !== "kind"), "L", "dim"];
}

/**
 * A flow kind's fields: its defaults' keys, the optional `z2` every real-field flow has, and the
 * optional `z2Equivariant` of the affine couplings.
 */
function flowKeys(kind: FlowKind): string[] {
  const keys = Object.keys(FLOW_DEFAULTS[kind]).filter((k) => k !== "kind");
  const affine = kind === "affine-cnn" || kind === "realnvp-mlp" ? ["z2Equivariant"] : [];
  return FLOW_DOMAIN[kind] === "real" ? [...keys, "z2", ...affine] : keys;
}

function owners(key: string): string[] {
  return [
    ...THEORY_KINDS.filter((k) => theoryKeys(k).includes(key)).map((k) => `theory '${k}'`),
    ...FLOW_KINDS.filter((k) => flowKeys(k).includes(key)).map((k) => `flow '${k}'`),
  ];
}

function oneOf<T extends string>(value: unknown, kinds: readonly T[], what: string, source: string): T {
  if (typeof value === "string" && (kinds as readonly string[]).includes(value)) return value as T;
  throw new SpecError(`${source}: unknown ${what} '${String(value)}': use one of ${kinds.join(", ")}`);
}

/** The nested form as flat settings (inverse of the sectioning in `applySettings`). */
export function flatten(c: {
  theory?: Record<string, unknown>;
  flow?: Record<string, unknown>;
  train?: Record<string, unknown>;
}): FlatSettings {
  const out: FlatSettings = {};
  const { kind: theoryKind, ...theory } = c.theory ?? {};
  const { kind: flowKind, ...flow } = c.flow ?? {};
  if (theoryKind !== undefined) out.theory = theoryKind;
  if (flowKind !== undefined) out.flow = flowKind;
  return { ...out, ...theory, ...flow, ...(c.train ?? {}) };
}

/** Flat settings without undefined values. */
function defined(settings: FlatSettings): FlatSettings {
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
}

/** `theory` with `L`/`dim` applied: a hypercubic latticeShape (either one keeps the other). */
function applyExtent(theory: Record<string, unknown>, s: FlatSettings, source: string): void {
  if (s.L === undefined && s.dim === undefined) return;
  const old = (theory.latticeShape as number[] | undefined) ?? [8, 8];
  const dim = s.dim ?? old.length;
  const L = s.L ?? old[0];
  for (const [k, v, max] of [
    ["L", L, 1 << 24],
    ["dim", dim, 4],
  ] as const) {
    if (!(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max))
      throw new SpecError(`${source}: '${k}' must be an integer from 1 to ${max}, got ${String(v)}`);
  }
  theory.latticeShape = new Array<number>(dim as number).fill(L as number);
}

/**
 * A theory alone from flat settings (`theory` the kind, `L`/`dim`, the kind's fields), for
 * commands that need no flow (hmc, measure): `base` with `settings` applied, validated. A key of
 * another section is an error naming who owns it.
 */
export function applyTheorySettings(
  base: TheorySpec | undefined,
  settings: FlatSettings,
  source: string,
): TheorySpec {
  const s = defined(settings);
  const kind = oneOf(s.theory ?? base?.kind ?? "phi4", THEORY_KINDS, "theory", source);
  const theory: Record<string, unknown> = { ...(base?.kind === kind ? base : THEORY_DEFAULTS[kind]) };
  const tk = theoryKeys(kind);
  for (const [key, value] of Object.entries(s)) {
    if (key === "theory" || key === "L" || key === "dim") continue;
    if (!tk.includes(key)) {
      const o = owners(key);
      throw new SpecError(
        o.length > 0
          ? `${source}: '${key}' is a setting of ${o.join(" and ")}, not of theory '${kind}'`
          : `${source}: unknown setting '${key}'; theory '${kind}' has ${tk.join(", ")}`,
      );
    }
    theory[key] = value;
  }
  applyExtent(theory, s, source);
  return parseTheorySpec({ ...theory, kind }, source);
}

/**
 * `base` with `settings` applied (keys with value undefined are ignored), validated. A new
 * theory or flow kind starts from that kind's defaults. Throws SpecError naming the first
 * bad setting and `source`.
 */
export function applySettings(
  base: RunConfig | undefined,
  settings: FlatSettings,
  source: string,
): RunConfig {
  const s = defined(settings);
  const theoryKind = oneOf(s.theory ?? base?.theory.kind ?? "phi4", THEORY_KINDS, "theory", source);
  // Unnamed, the flow stays the base's if it fits the theory's domain, else the domain's default.
  const domain = domainOf(THEORY_DEFAULTS[theoryKind]);
  const baseFlow = base && FLOW_DOMAIN[base.flow.kind] === domain ? base.flow.kind : undefined;
  const flowKind = oneOf(s.flow ?? baseFlow ?? DEFAULT_FLOW_KIND[domain], FLOW_KINDS, "flow", source);
  const theory: Record<string, unknown> = {
    ...(base?.theory.kind === theoryKind ? base.theory : THEORY_DEFAULTS[theoryKind]),
  };
  const flow: Record<string, unknown> = {
    ...(base?.flow.kind === flowKind ? base.flow : FLOW_DEFAULTS[flowKind]),
  };
  const train: Record<string, unknown> = { ...(base?.train ?? TRAIN_DEFAULTS) };
  const tk = theoryKeys(theoryKind);
  const fk = flowKeys(flowKind);
  for (const [key, value] of Object.entries(s)) {
    if (key === "theory" || key === "flow" || key === "L" || key === "dim") continue;
    if (tk.includes(key)) theory[key] = value;
    else if (fk.includes(key)) flow[key] = value;
    else if (TRAIN_KEYS.includes(key)) train[key] = value;
    else {
      const o = owners(key);
      throw new SpecError(
        o.length > 0
          ? `${source}: '${key}' is a setting of ${o.join(" and ")}, not of theory '${theoryKind}' with flow '${flowKind}'`
          : `${source}: unknown setting '${key}'; theory '${theoryKind}' has ${tk.join(", ")}; flow '${flowKind}' has ${fk.join(", ")}; training has ${TRAIN_KEYS.join(", ")}`,
      );
    }
  }
  applyExtent(theory, s, source);
  return validateRunConfig(
    { theory: { ...theory, kind: theoryKind }, flow: { ...flow, kind: flowKind }, train },
    source,
  );
}

function zodLine(error: z.ZodError, source: string, prefix?: string): string {
  const issue = error.issues[0]!;
  const path = prefix ? [prefix, ...issue.path] : issue.path;
  if (issue.code === "unrecognized_keys") {
    return `${source}: unknown setting ${issue.keys.map((k) => `'${k}'`).join(", ")}${path.length ? ` in '${path.join(".")}'` : ""}`;
  }
  const where = path.length ? `'${path.join(".")}'` : "the configuration";
  return `${source}: ${where}: ${issue.message}`;
}

/** Validate the nested form, schema and cross-field rules; one SpecError line on failure. */
export function validateRunConfig(raw: unknown, source: string): RunConfig {
  const r = RunConfigSchema.safeParse(raw);
  if (!r.success) throw new SpecError(zodLine(r.error, source));
  const c = r.data;
  checkTheory(c.theory, source);
  checkFlowFits(c.flow, c.theory);
  const t = c.train;
  if (t.threads > t.batch) {
    throw new SpecError(
      `${source}: threads = ${t.threads} exceeds batch = ${t.batch}: the extra threads would have no samples to work on; use at most ${t.batch} threads or a larger batch`,
    );
  }
  if ((t.nllWeight ?? 0) === 0 && t.klWeight === 0) {
    throw new SpecError(
      `${source}: 'train.klWeight' = 0 and 'train.nllWeight' = 0 (absent means 0): the objective δ·NLL + ω·KL is zero, nothing to train; give 'train.klWeight' > 0 (reverse KL; absent means 1) or 'train.nllWeight' > 0 (NeuralRG's NLL of flow-MH samples)`,
    );
  }
  if ((t.chainHmc ?? 0) > 0 && (t.nllWeight ?? 0) === 0) {
    throw new SpecError(
      `${source}: 'train.chainHmc' = ${t.chainHmc} without 'train.nllWeight': the HMC moves act on the MH chains of the mixed objective, which only an NLL weight > 0 creates; give 'train.nllWeight' > 0 (--nll-weight) or drop 'train.chainHmc'`,
    );
  }
  // Any objective but the plain reverse KL (src/train/mixed-objective.ts) has no sharded form.
  const mixed = (t.nllWeight ?? 0) > 0 ? "nllWeight" : (t.klWeight ?? 1) !== 1 ? "klWeight" : null;
  if (mixed !== null && t.threads > 1) {
    throw new SpecError(
      `${source}: 'train.${mixed}' = ${t[mixed]} with 'train.threads' = ${t.threads}: the mixed objective (NeuralRG's δ·NLL + ω·KL) runs on one thread; use 'train.threads' 1, or drop 'train.${mixed}'`,
    );
  }
  const estimator = t.gradientEstimator ?? "reparameterization";
  if (estimator !== "reparameterization" && mixed !== null) {
    throw new SpecError(
      `${source}: 'train.gradientEstimator' = ${estimator} with 'train.${mixed}': the estimators are of the plain reverse KL, not of the mixed objective; drop one of them`,
    );
  }
  if (estimator === "reinforce" && t.batch < 2 * t.threads) {
    throw new SpecError(
      `${source}: 'train.gradientEstimator' = reinforce with batch ${t.batch} on ${t.threads} thread(s): its baseline needs at least 2 samples per thread; use a batch of at least ${2 * t.threads}`,
    );
  }
  checkSchedules(t, mixed, source);
  // The largest batch the run draws: the batch growth's cap if it grows.
  const largest = t.batchMax ?? t.batch;
  const bytes =
    largest * configShapeOf(c.theory).reduce((a, b) => a * b, 1) * (t.dtype === "float32" ? 4 : 8);
  if (bytes > 2147483648) {
    throw new SpecError(
      `${source}: batch ${largest} of this lattice needs ${(bytes / 1073741824).toFixed(1)} GiB per field array alone; use a smaller ${t.batchMax === undefined ? "batch" : "'train.batchMax'"} or L`,
    );
  }
  return c;
}

/**
 * The schedules' fields go together: the step decay's lrDecayEvery (required) and
 * lrDecayFactor with lrSchedule step and only with it; batchGrowthEvery with batchMax ≥ batch,
 * or neither, and not with the mixed objective (whose chains and buffer the batch sizes).
 */
function checkSchedules(t: TrainSpec, mixed: "nllWeight" | "klWeight" | null, source: string): void {
  const schedule = t.lrSchedule ?? "constant";
  if (schedule === "step" && t.lrDecayEvery === undefined) {
    throw new SpecError(
      `${source}: 'train.lrSchedule' = step without 'train.lrDecayEvery': the step decay multiplies the learning rate by 'train.lrDecayFactor' (absent: 0.5) once every 'train.lrDecayEvery' steps; give 'train.lrDecayEvery' (a positive integer)`,
    );
  }
  for (const k of ["lrDecayEvery", "lrDecayFactor"] as const) {
    if (schedule !== "step" && t[k] !== undefined) {
      throw new SpecError(
        `${source}: 'train.${k}' = ${t[k]} with 'train.lrSchedule' = ${schedule}: it sets the step decay, which only 'train.lrSchedule' = step has; give 'train.lrSchedule' step, or drop 'train.${k}'`,
      );
    }
  }
  const pair = [
    ["batchGrowthEvery", "batchMax"],
    ["batchMax", "batchGrowthEvery"],
  ] as const;
  for (const [given, missing] of pair) {
    if (t[given] !== undefined && t[missing] === undefined) {
      throw new SpecError(
        `${source}: 'train.${given}' = ${t[given]} without 'train.${missing}': batch growth doubles the batch every 'train.batchGrowthEvery' steps up to 'train.batchMax', and needs both; give 'train.${missing}', or drop 'train.${given}'`,
      );
    }
  }
  if (t.batchMax !== undefined && t.batchMax < t.batch) {
    throw new SpecError(
      `${source}: 'train.batchMax' = ${t.batchMax} is below 'train.batch' = ${t.batch}: batch growth only enlarges the batch; give 'train.batchMax' ≥ ${t.batch}, or a smaller 'train.batch'`,
    );
  }
  if (t.batchGrowthEvery !== undefined && mixed !== null) {
    throw new SpecError(
      `${source}: 'train.batchGrowthEvery' with 'train.${mixed}' = ${t[mixed]}: the mixed objective's MH chains and replay buffer are sized by a fixed batch; drop one of them`,
    );
  }
}

/** Training fields a flat (legacy) description may lack: added later, or defaulted. */
const LEGACY_OPTIONAL = [
  "threads",
  "lrSchedule",
  "lrDecayEvery",
  "lrDecayFactor",
  "lrWarmup",
  "batchGrowthEvery",
  "batchMax",
  "weightDecay",
  "nllWeight",
  "klWeight",
  "chainHmc",
  "gradientEstimator",
];

/** The flat φ⁴ form that config.json and checkpoint metadata had before `{theory, flow, train}`. */
function isLegacy(raw: unknown): raw is Record<string, unknown> {
  return (
    typeof raw === "object" &&
    raw !== null &&
    !Array.isArray(raw) &&
    typeof (raw as Record<string, unknown>).theory !== "object"
  );
}

/**
 * Parse a stored run description: the nested form, or the flat form of earlier versions
 * (`{theory: "phi4", L, dim, m2, lam, layers, hidden, kernel, identityInit, batch, …}`), which
 * means the notebook's flow. Every field must be present (no defaults fill a stored run).
 */
export function parseRunConfig(raw: unknown, source: string): RunConfig {
  if (!isLegacy(raw)) return validateRunConfig(raw, source);
  const required = ["L", "dim", "m2", "lam", "layers", "hidden", "kernel", "identityInit", ...TRAIN_KEYS];
  const missing = required.filter((k) => !LEGACY_OPTIONAL.includes(k) && raw[k] === undefined);
  if (missing.length > 0)
    throw new SpecError(`${source}: missing setting ${missing.map((k) => `'${k}'`).join(", ")}`);
  if (raw.theory !== undefined && raw.theory !== "phi4") oneOf(raw.theory, ["phi4"], "theory", source);
  return applySettings(
    undefined,
    { ...raw, theory: "phi4", flow: "affine-cnn", threads: raw.threads ?? 1 },
    source,
  );
}

/** A theory spec from a sidecar or flags: the nested form, or the old `{name: "phi4", …}`. */
export function parseTheorySpec(raw: unknown, source: string): TheorySpec {
  let obj = raw;
  if (typeof raw === "object" && raw !== null && !("kind" in raw) && "name" in raw) {
    const { name, ...rest } = raw as Record<string, unknown>;
    obj = { kind: name, ...rest };
  }
  const r = TheorySpecSchema.safeParse(obj);
  if (!r.success) throw new SpecError(zodLine(r.error, source, "theory"));
  checkTheory(r.data, source);
  return r.data;
}
