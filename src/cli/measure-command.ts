/**
 * `latticeflow measure ENSEMBLE.npy`: observables of an ensemble with Γ-method errors and
 * integrated autocorrelation times (src/observables/measure.ts), the acceptance-run τ_int of a
 * flow-MH chain, and the cost per independent sample, seconds/N · 2τ_int, of each observable.
 *
 * The theory (for the action density and the header) comes from, in this order: --m2/--lam
 * flags, the sidecar `<ENSEMBLE>.json` written by `sample`/`hmc`, or the `config.json` of the
 * run directory holding the ensemble. Without any of them everything but the action density is
 * still measured. The lattice shape is always the .npy shape [N, ...sites].
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { readNpyFile } from "../io/files.js";
import {
  type GammaEstimate,
  measureScalarEnsemble,
  type RejectionRunResult,
  rejectionRunTauInt,
  type ScalarMeasurement,
  type TimePoint,
} from "../observables/measure.js";
import { Phi4Theory } from "../theories/phi4.js";
import { fmt, num, printJson } from "./args.js";
import { UsageError } from "./errors.js";

export interface TheoryFlags {
  theory?: string;
  L?: number;
  dim?: number;
  m2?: number;
  lam?: number;
}

export interface TheoryInfo {
  name: string;
  latticeShape: number[];
  m2: number;
  lam: number;
  /** Where the parameters came from: "flags", the sidecar path or the config.json path. */
  source: string;
}

export interface LoadedEnsemble {
  path: string;
  data: Float64Array;
  n: number;
  latticeShape: number[];
  /** "hmc", "flow-mh", "flow" (direct samples) or null when there is no sidecar. */
  sampler: string | null;
  seconds: number | null;
  theory: TheoryInfo | null;
  /** MH accept flags: from `<ENSEMBLE>.accepted.npy`, else inferred for flow-mh chains. */
  accepted: Uint8Array | null;
  acceptedSource: "file" | "inferred" | null;
}

function readJson(path: string): Record<string, unknown> {
  try {
    const x = JSON.parse(readFileSync(path, "utf8"));
    if (x === null || typeof x !== "object" || Array.isArray(x)) throw new Error("not a JSON object");
    return x as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${path} is not a valid JSON object (${(e as Error).message}); fix or delete it`);
  }
}

function finite(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

function resolveTheory(
  path: string,
  latticeShape: number[],
  flags: TheoryFlags,
  sidecar: Record<string, unknown> | null,
): TheoryInfo | null {
  const shapeStr = (s: number[]) => `[${s.join(", ")}]`;
  if (flags.theory !== undefined && flags.theory !== "phi4") {
    throw new UsageError(`unknown theory '${flags.theory}': only 'phi4' is implemented`);
  }
  let info: TheoryInfo | null = null;
  if (flags.m2 !== undefined || flags.lam !== undefined) {
    if (flags.m2 === undefined || flags.lam === undefined) {
      throw new UsageError(
        "give both --m2 and --lam (or neither, to read them from the sidecar or config.json)",
      );
    }
    const dim = flags.dim ?? latticeShape.length;
    const L = flags.L ?? latticeShape[0]!;
    info = {
      name: "phi4",
      latticeShape: new Array<number>(dim).fill(L),
      m2: flags.m2,
      lam: flags.lam,
      source: "flags",
    };
  } else if (flags.L !== undefined || flags.dim !== undefined) {
    throw new UsageError(
      "--L/--dim need --m2 and --lam too (the lattice shape is read from the .npy otherwise)",
    );
  } else if (sidecar && typeof sidecar.theory === "object" && sidecar.theory !== null) {
    const t = sidecar.theory as Record<string, unknown>;
    if (!Array.isArray(t.latticeShape) || !finite(t.m2) || !finite(t.lam)) {
      throw new UsageError(`${path}.json: 'theory' needs latticeShape, m2 and lam`);
    }
    info = {
      name: String(t.name ?? "phi4"),
      latticeShape: (t.latticeShape as unknown[]).map(Number),
      m2: t.m2,
      lam: t.lam,
      source: `${path}.json`,
    };
  } else {
    const cfg = join(dirname(path), "config.json");
    if (existsSync(cfg)) {
      const c = readJson(cfg);
      if (!finite(c.L) || !finite(c.dim) || !finite(c.m2) || !finite(c.lam)) {
        throw new UsageError(`${cfg}: needs L, dim, m2 and lam`);
      }
      info = {
        name: String(c.theory ?? "phi4"),
        latticeShape: new Array<number>(c.dim).fill(c.L),
        m2: c.m2,
        lam: c.lam,
        source: cfg,
      };
    }
  }
  if (info === null) return null;
  if (info.name !== "phi4") throw new UsageError(`${info.source}: unknown theory '${info.name}'`);
  if (shapeStr(info.latticeShape) !== shapeStr(latticeShape)) {
    throw new UsageError(
      `${path} holds configurations of shape ${shapeStr(latticeShape)}, but ${info.source === "flags" ? "--L/--dim give" : `${info.source} says`} ${shapeStr(info.latticeShape)}`,
    );
  }
  return info;
}

/** Read an ensemble .npy, its sidecar and accept flags, and resolve the theory. */
export function loadEnsemble(path: string, flags: TheoryFlags = {}): LoadedEnsemble {
  if (!path.endsWith(".npy")) throw new UsageError(`expected an ensemble .npy file, got '${path}'`);
  const npy = readNpyFile(path);
  if (npy.shape.length < 2) {
    throw new UsageError(`${path} has shape [${npy.shape}]; an ensemble is [N, ...sites] (N configurations)`);
  }
  const n = npy.shape[0]!;
  if (n < 2) throw new UsageError(`${path} holds ${n} configuration(s); measuring needs at least 2`);
  const latticeShape = npy.shape.slice(1);
  const data = npy.data instanceof Float64Array ? npy.data : Float64Array.from(npy.data);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new UsageError(`${path} holds a non-finite value at index ${i}`);
  }
  const sidecar = existsSync(`${path}.json`) ? readJson(`${path}.json`) : null;
  const theory = resolveTheory(path, latticeShape, flags, sidecar);
  const sampler = typeof sidecar?.sampler === "string" ? sidecar.sampler : null;
  const seconds = finite(sidecar?.seconds) ? (sidecar.seconds as number) : null;

  let accepted: Uint8Array | null = null;
  let acceptedSource: LoadedEnsemble["acceptedSource"] = null;
  const flagFile =
    typeof sidecar?.acceptedFile === "string"
      ? join(dirname(path), sidecar.acceptedFile)
      : path.replace(/\.npy$/, ".accepted.npy");
  if (existsSync(flagFile) && sampler !== "hmc") {
    const f = readNpyFile(flagFile);
    if (f.data.length !== n) {
      throw new UsageError(`${flagFile} has ${f.data.length} accept flags for ${n} configurations`);
    }
    accepted = Uint8Array.from(f.data, (x) => (x === 1 ? 1 : 0));
    acceptedSource = "file";
  } else if (sampler === "flow-mh") {
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
  return { path, data, n, latticeShape, sampler, seconds, theory, accepted, acceptedSource };
}

export interface EnsembleReport {
  ensemble: LoadedEnsemble;
  m: ScalarMeasurement;
  rejection: RejectionRunResult | null;
}

export function measureLoaded(e: LoadedEnsemble): EnsembleReport {
  const theory = e.theory
    ? new Phi4Theory({ latticeShape: e.theory.latticeShape, m2: e.theory.m2, lam: e.theory.lam })
    : undefined;
  const m = measureScalarEnsemble(e.data, e.latticeShape, { theory });
  const rejection = e.accepted && e.n >= 3 ? rejectionRunTauInt(e.accepted) : null;
  return { ensemble: e, m, rejection };
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

/** The `--json` object of `measure` (also each side of `compare --json`). */
export function reportJson(r: EnsembleReport): Record<string, unknown> {
  const e = r.ensemble;
  const out: Record<string, unknown> = {
    ensemble: e.path,
    sampler: e.sampler,
    n: e.n,
    latticeShape: e.latticeShape,
    theory: e.theory,
    seconds: jnum(e.seconds),
  };
  for (const k of SCALARS) {
    const g = r.m[k];
    out[k] = g === null ? null : scalarJson(r, g);
  }
  out.sign_changes = r.m.sign_changes;
  out.m_eff = r.m.m_eff.map(pointJson);
  out.correlator = r.m.correlator.map(pointJson);
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
  const t = e.theory;
  const theory = t ? `phi4 m2=${t.m2} lam=${t.lam}` : "theory unknown";
  const secs = e.seconds === null ? "" : `, ${e.seconds.toFixed(1)} s`;
  return `${basename(e.path)}: ${e.sampler ?? "ensemble"}, N = ${e.n}, lattice ${e.latticeShape.join("x")}, ${theory}${secs}`;
}

export function printReport(r: EnsembleReport): void {
  console.log(headerLine(r));
  const rows: string[][] = [["observable", "value", "error", "tau_int", "cost/indep"]];
  for (const k of SCALARS) {
    const g = r.m[k];
    if (g === null) continue;
    const [v, e] = valErr(g.value, g.error);
    rows.push([
      LABELS[k],
      v,
      e,
      `${fmt(g.tauInt, 2)}(${fmt(g.tauIntError, 2)})`,
      costStr(costPerIndependent(r, g.tauInt)),
    ]);
  }
  for (const p of r.m.m_eff) {
    const [v, e] = valErr(p.value, p.error);
    rows.push([`m_eff(${p.t})`, v, e, fmt(p.tauInt, 2), costStr(costPerIndependent(r, p.tauInt))]);
  }
  for (const p of r.m.correlator) {
    const [v, e] = valErr(p.value, p.error);
    rows.push([`C(${p.t})`, v, e, fmt(p.tauInt, 2), ""]);
  }
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((row) => row[j]!.length)));
  for (const row of rows) {
    console.log(row.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  "));
  }
  console.log(
    `M changed sign ${r.m.sign_changes} times in ${r.ensemble.n} configurations (tunnelling between ±M)`,
  );
  if (r.rejection) {
    const j = r.rejection;
    console.log(
      `MH acceptance ${fmt(j.acceptance)}; acceptance-run tau_int ${fmt(j.tauInt, 2)} ± ${fmt(j.tauIntError, 2)} ` +
        `(cost/indep ${costStr(costPerIndependent(r, j.tauInt))}; longest rejection run ${j.longestRun}; ` +
        `accept flags ${r.ensemble.acceptedSource === "file" ? "from file" : "inferred from repeated configurations"})`,
    );
  }
  if (r.ensemble.theory === null) {
    console.log("no theory parameters (flags, sidecar or config.json): action density not measured");
  }
  console.log("cost/indep = seconds/N · 2 tau_int (sampling time per statistically independent sample)");
}

export function theoryFlags(o: Record<string, unknown>): TheoryFlags {
  return {
    theory: o.theory as string | undefined,
    L: o.L as number | undefined,
    dim: o.dim as number | undefined,
    m2: o.m2 as number | undefined,
    lam: o.lam as number | undefined,
  };
}

/** Adds the theory flags shared by measure and compare. */
export function withTheoryFlags(cmd: Command): Command {
  return cmd
    .option("--theory <name>", "theory (only phi4)")
    .option("--L <n>", "lattice extent (checked against the .npy shape)", num("--L"))
    .option("--dim <d>", "lattice dimension (checked against the .npy shape)", num("--dim"))
    .option("--m2 <x>", "phi^4 m^2 (default: sidecar or config.json)", num("--m2"))
    .option("--lam <x>", "phi^4 lambda (default: sidecar or config.json)", num("--lam"));
}

export function registerMeasureCommand(program: Command): void {
  withTheoryFlags(
    program
      .command("measure")
      .description(
        "observables of an ensemble with Gamma-method errors, tau_int and cost per independent sample",
      )
      .argument("<ensemble>", "ensemble .npy [N, ...sites] (from sample or hmc)"),
  )
    .option("--json", "print one JSON object as the last line", false)
    .action((ensemble: string, o: Record<string, unknown>) => {
      const r = measureLoaded(loadEnsemble(ensemble, theoryFlags(o)));
      if (o.json) printJson(reportJson(r));
      else printReport(r);
    });
}
