/**
 * `latticeflow measure ENSEMBLE.npy`: observables of an ensemble with Γ-method errors and
 * integrated autocorrelation times, the acceptance-run τ_int of a flow-MH chain, and the cost
 * per independent sample, seconds/N · 2τ_int, of each observable. What is measured follows the
 * theory (src/model's TheorySpec): φ⁴ (and an ensemble of unknown theory) the scalar-field
 * observables of src/observables/measure.ts; U(1) the plaquette, the topological charge and
 * Wilson loops, with their exact values (and deviations in σ) in 2-d (src/observables/u1-measure.ts).
 *
 * The theory comes from the sidecar `<ENSEMBLE>.json` written by `sample`/`hmc` (its `theory`,
 * a TheorySpec, or the `{name: "phi4", …}` of earlier versions), else from the `config.json` of
 * the run directory holding the ensemble; the theory flags (--theory, --L, --dim, --m2, --lam,
 * --beta: the spec's fields) change its couplings or lattice, not its kind. Without a stored
 * theory the flags must give every coupling, and the lattice is the .npy's; without either,
 * everything but the action density is measured as a scalar field. The .npy shape
 * [N, ...configShape] must be the theory's (configShapeOf).
 *
 * A flow-MH chain sampled with `--local-hmc` (sidecar `localHmc`) moves its state by HMC after
 * every flow proposal: its accept flags, acceptance and acceptance-run τ_int describe the flow
 * proposals only, and are reported as such. Nothing here uses that τ_int for an error (each
 * observable's comes from its own Γ-method τ_int, which sees the HMC moves); it is a figure of
 * the flow's proposals, not of the chain: HMC moves the state inside a run of rejections, and
 * rejections cluster on states of high weight p/q (where HMC has taken the chain beyond q), so
 * it is no bound on an observable's τ_int either way (it was not one for pure flow MH either).
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { readEnsemble } from "../io/files.js";
import {
  applyTheorySettings,
  configShapeOf,
  describeTheory,
  type EnsembleMeasurement,
  type FlatSettings,
  measureEnsemble,
  parseTheorySpec,
  SpecError,
  THEORY_DEFAULTS,
  THEORY_KINDS,
  type TheoryKind,
  type TheorySpec,
} from "../model/index.js";
import {
  type GammaEstimate,
  type RejectionRunResult,
  rejectionRunTauInt,
  type TimePoint,
} from "../observables/measure.js";
import { fmt, printJson } from "./args.js";
import { UsageError } from "./errors.js";
import { RUN_FILES, readConfig } from "./run-dir.js";
import { lowAcceptanceWarning } from "./sample-warnings.js";
import { addSpecFlags, flagOfKey, inFlagTerms, settingsFromFlags, THEORY_FLAGS } from "./spec-flags.js";

export interface LoadedEnsemble {
  path: string;
  data: Float64Array;
  n: number;
  /** The shape of one configuration: the .npy shape [N, ...configShape] without N. */
  configShape: number[];
  /** The lattice: the theory's, or configShape when the theory is unknown. */
  latticeShape: number[];
  /** "hmc", "flow-mh", "flow" (direct samples) or null when there is no sidecar. */
  sampler: string | null;
  seconds: number | null;
  /** What the ensemble samples, or null when nothing says. */
  theory: TheorySpec | null;
  /** Where `theory` came from: "flags", the sidecar path or the config.json path. */
  theorySource: string | null;
  /**
   * MH accept flags of the flow proposals: from `<ENSEMBLE>.accepted.npy`, else inferred for
   * flow-mh chains without local HMC (with it a rejection need not repeat the configuration).
   */
  accepted: Uint8Array | null;
  acceptedSource: "file" | "inferred" | null;
  /** The sidecar `<ENSEMBLE>.json`, or null. */
  sidecar: Record<string, unknown> | null;
  /** The local HMC of a flow-MH chain (`sample --mh --local-hmc`), or null. */
  localHmc: LocalHmc | null;
  /** The files checked against the sha256 the sidecar records (none for sidecars before v0.2). */
  verified: string[];
}

function finite(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/** What measure reads of a sidecar's `localHmc` (sample-command.ts LocalHmcRecord). */
export interface LocalHmc {
  trajectories: number;
  acceptance: number | null;
}

function localHmcOf(sidecar: Record<string, unknown> | null): LocalHmc | null {
  const h = sidecar?.localHmc;
  if (typeof h !== "object" || h === null) return null;
  const r = h as Record<string, unknown>;
  return {
    trajectories: finite(r.trajectories) ? r.trajectories : Number.NaN,
    acceptance: finite(r.acceptance) ? r.acceptance : null,
  };
}

/** The fields of a theory kind that flags may set (besides --theory, --L and --dim). */
function theoryFields(kind: TheoryKind): string[] {
  return Object.keys(THEORY_DEFAULTS[kind]).filter((k) => k !== "kind" && k !== "latticeShape");
}

function flagsOf(kind: TheoryKind): string {
  return ["L", "dim", ...theoryFields(kind)].map(flagOfKey).join(", ");
}

function kindOf(x: unknown): TheoryKind {
  if (typeof x === "string" && (THEORY_KINDS as readonly string[]).includes(x)) return x as TheoryKind;
  throw new SpecError(`flags: unknown theory '${String(x)}': use one of ${THEORY_KINDS.join(", ")}`);
}

/**
 * `base` with the theory flags applied (flat settings of THEORY_FLAGS) by src/model's
 * applyTheorySettings, with messages that name the flags (`--m2`, not `'theory.m2'`). `context`
 * says where `base` came from, for the message about a flag of another kind.
 */
export function theoryFromFlags(base: TheorySpec | undefined, flags: FlatSettings, context = ""): TheorySpec {
  try {
    return applyTheorySettings(base, flags, "flags");
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    throw new SpecError(
      inFlagTerms(e.message).replace(
        /not of theory '(\w+)'$/,
        (m, kind: string) =>
          `${m}${context}${(THEORY_KINDS as readonly string[]).includes(kind) ? `; '${kind}' takes ${flagsOf(kind as TheoryKind)}` : ""}`,
      ),
    );
  }
}

const shapeStr = (s: readonly number[]) => `[${s.join(", ")}]`;

/** The theory the sidecar or the run's config.json records, if any. */
function storedTheory(
  path: string,
  sidecar: Record<string, unknown> | null,
): { spec: TheorySpec; source: string } | null {
  if (sidecar && typeof sidecar.theory === "object" && sidecar.theory !== null) {
    return { spec: parseTheorySpec(sidecar.theory, `${path}.json`), source: `${path}.json` };
  }
  const dir = dirname(path);
  const cfg = join(dir, RUN_FILES.config);
  return existsSync(cfg) ? { spec: readConfig(dir).theory, source: cfg } : null;
}

function resolveTheory(
  path: string,
  configShape: number[],
  flags: FlatSettings,
  sidecar: Record<string, unknown> | null,
): { spec: TheorySpec; source: string } | null {
  const stored = storedTheory(path, sidecar);
  const given = Object.values(flags).some((v) => v !== undefined);
  let info = stored;
  if (given) {
    const kind = kindOf(flags.theory ?? stored?.spec.kind ?? "phi4");
    let base: TheorySpec;
    if (stored !== null && stored.spec.kind !== kind) {
      throw new UsageError(
        `--theory ${kind} contradicts ${stored.source}, which says ${basename(path)} is ${describeTheory(stored.spec)}; ` +
          "measure it as that theory (flags may change its couplings), or move the wrong record away",
      );
    }
    if (stored !== null) base = stored.spec;
    else {
      // Nothing records this kind's couplings: the flags give them all; the lattice is the .npy's.
      const missing = theoryFields(kind).filter((k) => flags[k] === undefined);
      if (missing.length > 0) {
        throw new UsageError(
          `give ${theoryFields(kind).map(flagOfKey).join(" and ")} for theory '${kind}' (no sidecar ${basename(path)}.json or ${RUN_FILES.config} records the theory of ${basename(path)})`,
        );
      }
      const d = THEORY_DEFAULTS[kind];
      // configShapeOf puts the components first: [...components, ...latticeShape].
      const extra = configShapeOf(d).length - d.latticeShape.length;
      base = { ...d, latticeShape: configShape.slice(extra) };
    }
    const context = stored
      ? ` (${basename(path)} is ${describeTheory(stored.spec)}, from ${stored.source})`
      : "";
    info = { spec: theoryFromFlags(base, flags, context), source: "flags" };
  }
  if (info === null) return null;
  const expected = configShapeOf(info.spec);
  if (shapeStr(expected) !== shapeStr(configShape)) {
    throw new UsageError(
      `${path} holds configurations of shape ${shapeStr(configShape)}, but ${info.source === "flags" ? "the flags give" : `${info.source} says`} ${describeTheory(info.spec)}, whose configurations are ${shapeStr(expected)}`,
    );
  }
  return info;
}

/**
 * Read an ensemble .npy, its sidecar and accept flags (through src/io's readEnsemble, which checks
 * each file against the sha256 its sidecar records), and resolve the theory.
 */
export function loadEnsemble(path: string, flags: FlatSettings = {}): LoadedEnsemble {
  if (!path.endsWith(".npy")) throw new UsageError(`expected an ensemble .npy file, got '${path}'`);
  const files = readEnsemble(path);
  const { npy, sidecar } = files;
  if (npy.shape.length < 2) {
    throw new UsageError(
      `${path} has shape [${npy.shape}]; an ensemble is [N, ...configShape] (N configurations)`,
    );
  }
  const n = npy.shape[0]!;
  if (n < 2) throw new UsageError(`${path} holds ${n} configuration(s); measuring needs at least 2`);
  const configShape = npy.shape.slice(1);
  const data = npy.data instanceof Float64Array ? npy.data : Float64Array.from(npy.data);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new UsageError(`${path} holds a non-finite value at index ${i}`);
  }
  const theory = resolveTheory(path, configShape, flags, sidecar);
  const sampler = typeof sidecar?.sampler === "string" ? sidecar.sampler : null;
  const seconds = finite(sidecar?.seconds) ? (sidecar.seconds as number) : null;
  const localHmc = localHmcOf(sidecar);

  let accepted: Uint8Array | null = null;
  let acceptedSource: LoadedEnsemble["acceptedSource"] = null;
  const flagFile = files.companions.accepted;
  if (flagFile !== undefined && sampler !== "hmc") {
    const f = flagFile.read();
    if (f.data.length !== n) {
      throw new UsageError(`${flagFile.path} has ${f.data.length} accept flags for ${n} configurations`);
    }
    accepted = Uint8Array.from(f.data, (x) => (x === 1 ? 1 : 0));
    acceptedSource = "file";
  } else if (sampler === "flow-mh" && localHmc === null) {
    // An MH rejection repeats the configuration exactly; an accepted continuous proposal never does.
    const v = data.length / n;
    accepted = new Uint8Array(n);
    accepted[0] = 1;
    for (let i = 1; i < n; i++) {
      for (let x = 0; x < v; x++) {
        if (data[i * v + x] !== data[(i - 1) * v + x]) {
          accepted[i] = 1;
          break;
        }
      }
    }
    acceptedSource = "inferred";
  }
  return {
    path,
    data,
    n,
    sidecar,
    verified: files.verified,
    configShape,
    latticeShape: theory ? [...theory.spec.latticeShape] : configShape,
    sampler,
    seconds,
    theory: theory?.spec ?? null,
    theorySource: theory?.source ?? null,
    accepted,
    acceptedSource,
    localHmc,
  };
}

interface ReportBase {
  ensemble: LoadedEnsemble;
  rejection: RejectionRunResult | null;
}

/**
 * A measured ensemble: φ⁴ or unknown theory → scalar-field observables; U(1) → gauge observables;
 * Ising → spin observables (of spins for the spin samplers, improved estimators of the relaxation
 * otherwise), with the exact values where the library has them.
 */
export type EnsembleReport = ReportBase & EnsembleMeasurement;

/** Samplers whose ensembles hold spins ±1 rather than the relaxation's x. */
export const SPIN_SAMPLERS = ["wolff", "spin-metropolis"] as const;

export function measureLoaded(e: LoadedEnsemble): EnsembleReport {
  const rejection = e.accepted && e.n >= 3 ? rejectionRunTauInt(e.accepted) : null;
  const t = e.theory;
  if (t?.kind === "ising" && t.boundary !== "periodic")
    throw new UsageError(
      `${e.path}: Ising observables are measured on periodic lattices only (this ensemble is ${describeTheory(t)})`,
    );
  const spins = (SPIN_SAMPLERS as readonly (string | null)[]).includes(e.sampler);
  return { ensemble: e, rejection, ...measureEnsemble(t, e.data, e.configShape, spins) };
}

/** JSON-safe number: NaN and ±∞ become null. */
export function jnum(x: number | null | undefined): number | null {
  return x === null || x === undefined || !Number.isFinite(x) ? null : x;
}

/** Seconds per independent sample, seconds/N · 2τ_int. */
export function costPerIndependent(r: EnsembleReport, tauInt: number): number | null {
  const s = r.ensemble.seconds;
  return s === null || !Number.isFinite(tauInt) ? null : (s / r.ensemble.n) * 2 * tauInt;
}

export const SCALARS = [
  "m",
  "chi2",
  "chi2_connected",
  "abs_m",
  "phi2",
  "phi4",
  "binder",
  "action_density",
] as const;
export type ScalarName = (typeof SCALARS)[number];

export const LABELS: Record<ScalarName, string> = {
  m: "<M>/V",
  chi2: "chi2 = <M^2>/V",
  chi2_connected: "chi2 connected",
  abs_m: "<|M|>/V",
  phi2: "<phi^2>",
  phi4: "<phi^4>",
  binder: "Binder U",
  action_density: "<S>/V",
};

/** The single-valued observables of a U(1) ensemble, by their JSON names. */
export const U1_OBSERVABLES = ["plaquette", "q", "q2", "chi_top"] as const;
export type U1ObservableName = (typeof U1_OBSERVABLES)[number];

export const U1_LABELS: Record<U1ObservableName, string> = {
  plaquette: "plaquette <cos P>",
  q: "<Q>",
  q2: "<Q^2>",
  chi_top: "chi_top = <Q^2>/V",
};

/** The single-valued observables of an Ising ensemble, by their JSON names. */
export const ISING_OBSERVABLES = ["m", "abs_m", "m2", "binder", "energy", "specific_heat"] as const;
export type IsingObservableName = (typeof ISING_OBSERVABLES)[number];

export const ISING_LABELS: Record<IsingObservableName, string> = {
  m: "<m>",
  abs_m: "<|m|>",
  m2: "<m^2>",
  binder: "Binder U",
  energy: "energy/site",
  specific_heat: "specific heat/site",
};

/** One single-valued observable of a report: its JSON name, its label and its estimate. */
export interface ObservableEntry {
  name: string;
  label: string;
  estimate: GammaEstimate | null;
}

/** Every single-valued observable of the report's kind, in order (estimate null: not measured). */
export function observableEntries(r: EnsembleReport): ObservableEntry[] {
  switch (r.kind) {
    case "scalar": {
      const m = r.m;
      return SCALARS.map((k) => ({ name: k, label: LABELS[k], estimate: m[k] }));
    }
    case "u1": {
      const m = r.m;
      return U1_OBSERVABLES.map((k) => ({ name: k, label: U1_LABELS[k], estimate: m[k] }));
    }
    case "ising": {
      const m = r.m;
      return ISING_OBSERVABLES.map((k) => ({ name: k, label: ISING_LABELS[k], estimate: m[k] }));
    }
  }
}

/** Each Ising observable with an exact value: the value and (measured − exact)/σ. */
export function isingDeviations(r: EnsembleReport): { name: string; exact: number; nSigma: number }[] {
  if (r.kind !== "ising") return [];
  const out: { name: string; exact: number; nSigma: number }[] = [];
  for (const name of ISING_OBSERVABLES) {
    const exact = r.exact[name];
    if (exact === null || exact === undefined) continue;
    const g = r.m[name];
    out.push({ name, exact, nSigma: (g.value - exact) / g.error });
  }
  return out;
}

/** The C(t) and m_eff(t) points (scalar fields; none for U(1)). */
export function timePoints(r: EnsembleReport): { correlator: TimePoint[]; m_eff: TimePoint[] } {
  return r.kind === "scalar"
    ? { correlator: r.m.correlator, m_eff: r.m.m_eff }
    : { correlator: [], m_eff: [] };
}

/** The label of an R×T Wilson loop in tables and text output. */
export function wilsonLabel(w: { r: number; t: number }): string {
  return `W(${w.r}x${w.t})`;
}

/**
 * Each U(1) observable with an exact value (2-d periodic): the plaquette, ⟨Q²⟩, χ_top and the Wilson
 * loops, with the measured value and (measured − exact)/σ (NaN where σ = 0, e.g. a frozen Q).
 */
export function u1Deviations(
  r: EnsembleReport,
): { name: string; label: string; value: number; exact: number; nSigma: number }[] {
  if (r.kind !== "u1") return [];
  const m = r.m;
  const out: { name: string; label: string; value: number; exact: number; nSigma: number }[] = [];
  const add = (name: string, label: string, g: GammaEstimate | null, exact: number | null) => {
    if (g !== null && exact !== null)
      out.push({ name, label, value: g.value, exact, nSigma: (g.value - exact) / g.error });
  };
  add("plaquette", "plaquette", m.plaquette, m.plaquette_exact);
  add("q2", U1_LABELS.q2, m.q2, m.q2_exact);
  add("chi_top", "chi_top", m.chi_top, m.chi_top_exact);
  for (const w of m.wilson_loops) add(`wilson_${w.r}x${w.t}`, wilsonLabel(w), w.estimate, w.exact);
  return out;
}

/** (measured − exact)/σ of the U(1) plaquette where the exact value is known, else null. */
export function plaquetteDeviation(r: EnsembleReport): { exact: number; nSigma: number } | null {
  if (r.kind !== "u1" || r.m.plaquette_exact === null) return null;
  const p = r.m.plaquette;
  return { exact: r.m.plaquette_exact, nSigma: (p.value - r.m.plaquette_exact) / p.error };
}

function scalarJson(r: EnsembleReport, g: GammaEstimate) {
  return {
    value: jnum(g.value),
    error: jnum(g.error),
    tau_int: jnum(g.tauInt),
    tau_int_error: jnum(g.tauIntError),
    window: g.window,
    cost_s: jnum(costPerIndependent(r, g.tauInt)),
  };
}

function pointJson(p: TimePoint) {
  return { t: p.t, value: jnum(p.value), error: jnum(p.error), tau_int: jnum(p.tauInt) };
}

/** The theory as `--json` shows it: the TheorySpec and where it came from. */
export function theoryJson(e: LoadedEnsemble): Record<string, unknown> | null {
  return e.theory === null ? null : { ...e.theory, source: e.theorySource };
}

/** The `--json` object of `measure` (also each side of `compare --json`). */
export function reportJson(r: EnsembleReport): Record<string, unknown> {
  const e = r.ensemble;
  const out: Record<string, unknown> = {
    ensemble: e.path,
    sampler: e.sampler,
    n: e.n,
    latticeShape: e.latticeShape,
    configShape: e.configShape,
    theory: theoryJson(e),
    seconds: jnum(e.seconds),
  };
  for (const { name, estimate } of observableEntries(r)) {
    out[name] = estimate === null ? null : scalarJson(r, estimate);
  }
  switch (r.kind) {
    case "scalar":
      out.sign_changes = r.m.sign_changes;
      out.m_eff = r.m.m_eff.map(pointJson);
      out.correlator = r.m.correlator.map(pointJson);
      break;
    case "u1": {
      const d = plaquetteDeviation(r);
      out.plaquette_exact = d ? d.exact : null;
      out.plaquette_n_sigma = d ? jnum(d.nSigma) : null;
      out.q2_exact = r.m.q2_exact;
      out.q2_n_sigma = jnum(r.m.q2_n_sigma);
      out.chi_top_exact = r.m.chi_top_exact;
      out.chi_top_n_sigma = jnum(r.m.chi_top_n_sigma);
      out.q_changes = r.m.q_changes;
      out.wilson_loops = r.m.wilson_loops.map((w) => ({
        R: w.r,
        T: w.t,
        area: w.area,
        ...scalarJson(r, w.estimate),
        exact: w.exact,
        n_sigma: jnum(w.n_sigma),
      }));
      break;
    }
    case "ising":
      out.estimator = r.m.estimator;
      out.sign_changes = r.m.sign_changes;
      out.exact = Object.fromEntries(isingDeviations(r).map((d) => [d.name, d.exact]));
      out.n_sigma = Object.fromEntries(isingDeviations(r).map((d) => [d.name, jnum(d.nSigma)]));
      break;
  }
  // With local HMC these are of the flow proposals only (see the header).
  out.acceptance = r.rejection ? r.rejection.acceptance : null;
  out.acceptance_run_tau_int = r.rejection
    ? {
        value: r.rejection.tauInt,
        error: r.rejection.tauIntError,
        cost_s: jnum(costPerIndependent(r, r.rejection.tauInt)),
        indicator_tau_int: r.rejection.indicatorTauInt,
        source: e.acceptedSource,
      }
    : null;
  if (e.localHmc)
    out.local_hmc = { trajectories: jnum(e.localHmc.trajectories), acceptance: e.localHmc.acceptance };
  return out;
}

function errDigits(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return 4;
  return Math.min(8, Math.max(1, 1 - Math.floor(Math.log10(x))));
}

/** `value(error)`-free fixed format: value and error to the error's second significant digit. */
export function valErr(value: number, error: number): [string, string] {
  const d = errDigits(error);
  return [
    Number.isFinite(value) ? value.toFixed(d) : "n/a",
    Number.isFinite(error) ? error.toFixed(d) : "n/a",
  ];
}

function costStr(c: number | null): string {
  if (c === null) return "n/a";
  return c >= 1 ? `${c.toFixed(2)} s` : `${(c * 1000).toFixed(3)} ms`;
}

export function headerLine(r: EnsembleReport): string {
  const e = r.ensemble;
  const theory = e.theory ? describeTheory(e.theory) : `lattice ${e.configShape.join("x")}, theory unknown`;
  const secs = e.seconds === null ? "" : `, ${e.seconds.toFixed(1)} s`;
  return `${basename(e.path)}: ${e.sampler ?? "ensemble"}, N = ${e.n}, ${theory}${secs}`;
}

export function printReport(r: EnsembleReport): void {
  console.log(headerLine(r));
  const rows: string[][] = [["observable", "value", "error", "tau_int", "cost/indep"]];
  for (const { label, estimate: g } of observableEntries(r)) {
    if (g === null) continue;
    const [v, e] = valErr(g.value, g.error);
    rows.push([
      label,
      v,
      e,
      `${fmt(g.tauInt, 2)}(${fmt(g.tauIntError, 2)})`,
      costStr(costPerIndependent(r, g.tauInt)),
    ]);
  }
  const { m_eff, correlator } = timePoints(r);
  for (const p of m_eff) {
    const [v, e] = valErr(p.value, p.error);
    rows.push([`m_eff(${p.t})`, v, e, fmt(p.tauInt, 2), costStr(costPerIndependent(r, p.tauInt))]);
  }
  for (const p of correlator) {
    const [v, e] = valErr(p.value, p.error);
    rows.push([`C(${p.t})`, v, e, fmt(p.tauInt, 2), ""]);
  }
  if (r.kind === "u1")
    for (const w of r.m.wilson_loops) {
      const g = w.estimate;
      const [v, e] = valErr(g.value, g.error);
      rows.push([
        `Wilson loop ${wilsonLabel(w)}`,
        v,
        e,
        `${fmt(g.tauInt, 2)}(${fmt(g.tauIntError, 2)})`,
        costStr(costPerIndependent(r, g.tauInt)),
      ]);
    }
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((row) => row[j]!.length)));
  for (const row of rows) {
    console.log(row.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  "));
  }
  switch (r.kind) {
    case "scalar":
      console.log(
        `M changed sign ${r.m.sign_changes} times in ${r.ensemble.n} configurations (tunnelling between ±M)`,
      );
      break;
    case "u1": {
      for (const d of u1Deviations(r)) {
        const diff = d.value - d.exact;
        console.log(
          `exact ${d.label} (2-d, periodic) ${d.name === "plaquette" ? d.exact.toFixed(6) : d.exact.toPrecision(7)}: measured − exact = ${diff >= 0 ? "+" : ""}${diff.toPrecision(3)} = ${fmt(d.nSigma, 2)} sigma`,
        );
      }
      if (r.m.q_changes !== null) {
        console.log(
          `Q changed ${r.m.q_changes} times in ${r.ensemble.n} configurations (tunnelling between topological sectors)`,
        );
      } else {
        console.log("topological charge not measured: it is defined on 2-d lattices only");
      }
      break;
    }
    case "ising": {
      console.log(
        r.m.estimator === "spins"
          ? "spin ensemble: observables of the spins"
          : "relaxed ensemble (x): improved estimators E[.|x] (NeuralRG); <|m|> from one spin draw per x",
      );
      for (const d of isingDeviations(r))
        console.log(
          `exact ${ISING_LABELS[d.name as IsingObservableName]} ${d.exact.toPrecision(8)}: measured is ${fmt(d.nSigma, 2)} sigma from it`,
        );
      break;
    }
  }
  if (r.rejection) {
    const j = r.rejection;
    console.log(
      `MH acceptance ${fmt(j.acceptance)}; acceptance-run tau_int ${fmt(j.tauInt, 2)} ± ${fmt(j.tauIntError, 2)} ` +
        `(cost/indep ${costStr(costPerIndependent(r, j.tauInt))}; longest rejection run ${j.longestRun}; ` +
        `accept flags ${r.ensemble.acceptedSource === "file" ? "from file" : "inferred from repeated configurations"})`,
    );
  }
  const h = r.ensemble.localHmc;
  if (h) {
    console.log(
      `local HMC: ${h.trajectories} trajectories after every flow proposal, acceptance ${fmt(h.acceptance)}; ` +
        "the MH acceptance and acceptance-run tau_int above are of the flow proposals only, " +
        "not of the chain (errors and cost/indep of the observables use their own tau_int)",
    );
  }
  if (r.ensemble.theory === null) {
    console.log(
      "no theory (flags, sidecar or config.json): measured as a scalar field, action density not measured",
    );
  }
  console.log("cost/indep = seconds/N · 2 tau_int (sampling time per statistically independent sample)");
}

/** The theory flags the user gave (flat settings; absent flags left out). */
export function theoryFlags(o: Record<string, unknown>): FlatSettings {
  return settingsFromFlags(o, THEORY_FLAGS);
}

/** Adds the theory flags shared by measure and compare. */
export function withTheoryFlags(cmd: Command): Command {
  return addSpecFlags(cmd, THEORY_FLAGS);
}

export function registerMeasureCommand(program: Command): void {
  withTheoryFlags(
    program
      .command("measure")
      .description(
        "observables of an ensemble with Gamma-method errors, tau_int and cost per independent sample " +
          "(theory from the sidecar or the run's config.json; theory flags change it)",
      )
      .argument("<ensemble>", "ensemble .npy [N, ...configShape] (from sample or hmc)"),
  )
    .option("--json", "print one JSON object as the last line", false)
    .action((ensemble: string, o: Record<string, unknown>) => {
      const r = measureLoaded(loadEnsemble(ensemble, theoryFlags(o)));
      const warning =
        r.rejection && !r.ensemble.localHmc ? lowAcceptanceWarning(r.rejection.acceptance) : null;
      if (warning !== null) process.stderr.write(`latticeflow: warning: ${warning}\n`);
      if (o.json) printJson(reportJson(r));
      else printReport(r);
    });
}
