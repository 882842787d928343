/**
 * `latticeflow compare A.npy B.npy`: the observables that two ensembles both have (φ⁴: the
 * scalar-field ones, C(t) and m_eff(t); U(1): plaquette and topological charge), side by side
 * with Γ-method errors and τ_int as `measure` computes them, the difference in units of the
 * combined error σ = √(σ_A² + σ_B²), and the cost per independent sample of each.
 *
 * A `warning` (a `warning:` line in text, the `warning` field of --json) says when the two
 * disagree: different theories, or any observable more than {@link N_SIGMA_WARN} combined σ
 * apart. Among the ~20 (correlated) observables of a φ⁴ comparison of two exact ensembles of the
 * same theory, one beyond 3σ by chance happens in at most ~5 % of comparisons (20 × 0.27 %),
 * beyond 4σ in ~0.1 %: a warning is worth a look, several or a large one mean a real difference.
 */
import type { Command } from "commander";
import { describeTheory } from "../model/index.js";
import { fmt, printJson } from "./args.js";
import { UsageError } from "./errors.js";
import {
  costPerIndependent,
  type EnsembleReport,
  headerLine,
  jnum,
  loadEnsemble,
  measureLoaded,
  observableEntries,
  theoryFlags,
  theoryJson,
  timePoints,
  valErr,
  withTheoryFlags,
} from "./measure-command.js";

/** |A − B|/σ above which `compare` warns that the ensembles disagree. */
export const N_SIGMA_WARN = 3;

/**
 * The warning for rows more than {@link N_SIGMA_WARN} combined σ apart (largest first, at most
 * five named), or null.
 */
export function disagreementWarning(rows: ComparedRow[]): string | null {
  const bad = rows
    .filter((r) => Math.abs(r.nSigma) > N_SIGMA_WARN)
    .sort((x, y) => Math.abs(y.nSigma) - Math.abs(x.nSigma));
  if (bad.length === 0) return null;
  const shown = bad.slice(0, 5).map((r) => `${r.name} ${r.nSigma.toFixed(1)} sigma`);
  const more = bad.length > 5 ? ` and ${bad.length - 5} more` : "";
  return (
    `${bad.length} of ${rows.length} observables differ by more than ${N_SIGMA_WARN} sigma ` +
    `(${shown.join(", ")}${more}): the ensembles disagree beyond their errors ` +
    "(different theories, a chain not yet equilibrated or too short for its tau_int, or a bug)"
  );
}

interface Entry {
  value: number;
  error: number;
  tauInt: number;
}

export interface ComparedRow {
  name: string;
  label: string;
  a: Entry;
  b: Entry;
  diff: number;
  sigma: number;
  /** (A − B)/σ; NaN if either error is unknown. */
  nSigma: number;
}

function entries(r: EnsembleReport): Map<string, { label: string; e: Entry }> {
  const out = new Map<string, { label: string; e: Entry }>();
  for (const { name, label, estimate: g } of observableEntries(r)) {
    if (g) out.set(name, { label, e: { value: g.value, error: g.error, tauInt: g.tauInt } });
  }
  const { m_eff, correlator } = timePoints(r);
  for (const p of m_eff) {
    out.set(`m_eff(${p.t})`, {
      label: `m_eff(${p.t})`,
      e: { value: p.value, error: p.error, tauInt: p.tauInt },
    });
  }
  for (const p of correlator) {
    out.set(`C(${p.t})`, { label: `C(${p.t})`, e: { value: p.value, error: p.error, tauInt: p.tauInt } });
  }
  return out;
}

export function compareReports(a: EnsembleReport, b: EnsembleReport): ComparedRow[] {
  const ea = entries(a);
  const eb = entries(b);
  const rows: ComparedRow[] = [];
  for (const [name, { label, e }] of ea) {
    const other = eb.get(name);
    if (!other) continue;
    const diff = e.value - other.e.value;
    const sigma = Math.hypot(e.error, other.e.error);
    rows.push({ name, label, a: e, b: other.e, diff, sigma, nSigma: sigma > 0 ? diff / sigma : Number.NaN });
  }
  return rows;
}

function entryJson(r: EnsembleReport, e: Entry) {
  return {
    value: jnum(e.value),
    error: jnum(e.error),
    tau_int: jnum(e.tauInt),
    cost_s: jnum(costPerIndependent(r, e.tauInt)),
  };
}

function summary(r: EnsembleReport) {
  const e = r.ensemble;
  return {
    ensemble: e.path,
    sampler: e.sampler,
    n: e.n,
    theory: theoryJson(e),
    seconds: jnum(e.seconds),
    acceptance: r.rejection ? r.rejection.acceptance : null,
    acceptance_run_tau_int: r.rejection ? r.rejection.tauInt : null,
  };
}

export function registerCompareCommand(program: Command): void {
  withTheoryFlags(
    program
      .command("compare")
      .description(
        "two ensembles side by side: each observable, its error and the difference in combined sigma",
      )
      .argument("<a>", "first ensemble .npy")
      .argument("<b>", "second ensemble .npy"),
  )
    .option("--json", "print one JSON object as the last line", false)
    .action((pa: string, pb: string, o: Record<string, unknown>) => {
      const flags = theoryFlags(o);
      const a = measureLoaded(loadEnsemble(pa, flags));
      const b = measureLoaded(loadEnsemble(pb, flags));
      const ea = a.ensemble;
      const eb = b.ensemble;
      if (ea.configShape.join(",") !== eb.configShape.join(",")) {
        throw new UsageError(
          `the ensembles have different configurations: ${ea.configShape.join("x")} vs ${eb.configShape.join("x")}`,
        );
      }
      const ta = ea.theory ? describeTheory(ea.theory) : null;
      const tb = eb.theory ? describeTheory(eb.theory) : null;
      const theoryWarning =
        ta !== null && tb !== null && ta !== tb ? `different theories: A is ${ta}, B is ${tb}` : null;
      const rows = compareReports(a, b);
      if (rows.length === 0) {
        throw new UsageError(
          `${pa} and ${pb} have no observable in common (A is ${ta ?? "of unknown theory"}, B is ${tb ?? "of unknown theory"})`,
        );
      }
      const sigmaWarning = disagreementWarning(rows);
      const warnings = [theoryWarning, sigmaWarning].filter((w): w is string => w !== null);
      const warning = warnings.length ? warnings.join("; ") : null;
      const finiteSig = rows.map((r) => Math.abs(r.nSigma)).filter(Number.isFinite);
      const maxAbs = finiteSig.length ? Math.max(...finiteSig) : Number.NaN;
      if (o.json) {
        const observables: Record<string, unknown> = {};
        for (const r of rows) {
          observables[r.name] = {
            a: entryJson(a, r.a),
            b: entryJson(b, r.b),
            diff: jnum(r.diff),
            sigma: jnum(r.sigma),
            n_sigma: jnum(r.nSigma),
          };
        }
        printJson({ a: summary(a), b: summary(b), observables, max_abs_n_sigma: jnum(maxAbs), warning });
        return;
      }
      if (theoryWarning) console.log(`warning: ${theoryWarning}`);
      console.log(`A = ${headerLine(a)}`);
      console.log(`B = ${headerLine(b)}`);
      for (const [k, r] of [
        ["A", a],
        ["B", b],
      ] as const) {
        if (r.rejection) {
          console.log(
            `${k}: MH acceptance ${fmt(r.rejection.acceptance)}, acceptance-run tau_int ${fmt(r.rejection.tauInt, 2)}`,
          );
        }
      }
      const table: string[][] = [["observable", "A", "tau_A", "B", "tau_B", "A-B", "(A-B)/sigma"]];
      for (const r of rows) {
        const [va, ea] = valErr(r.a.value, r.a.error);
        const [vb, eb] = valErr(r.b.value, r.b.error);
        table.push([
          r.label,
          `${va} ± ${ea}`,
          fmt(r.a.tauInt, 2),
          `${vb} ± ${eb}`,
          fmt(r.b.tauInt, 2),
          Number.isFinite(r.diff) ? r.diff.toPrecision(3) : "n/a",
          fmt(r.nSigma, 2),
        ]);
      }
      const widths = table[0]!.map((_, j) => Math.max(...table.map((row) => row[j]!.length)));
      for (const row of table) {
        console.log(row.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  "));
      }
      // The cost of the first of these both have: chi2 (phi4), the plaquette (u1), else the first row.
      const head = rows.find((r) => r.name === "chi2" || r.name === "plaquette") ?? rows[0]!;
      const costRow = (name: string, r: EnsembleReport, e: Entry) => {
        const c = costPerIndependent(r, e.tauInt);
        return `${name}: ${c === null ? "n/a" : `${(c * 1000).toFixed(3)} ms`}`;
      };
      console.log(
        `max |A-B|/sigma = ${fmt(maxAbs, 2)}; cost per independent ${head.name} sample (seconds/N · 2 tau_int): ` +
          `${costRow("A", a, head.a)}, ${costRow("B", b, head.b)}`,
      );
      if (sigmaWarning) console.log(`warning: ${sigmaWarning}`);
    });
}
