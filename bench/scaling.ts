/**
 * One row of the φ⁴ scaling table (issue 14, docs/scaling.md): flow MH against HMC on one
 * ensemble of 2-d φ⁴ at m² = −4 (the notebook's action, that of arXiv 1904.12072 and 2207.00283),
 * each row one command. In a temporary directory (or --keep DIR) it runs the built CLI:
 *
 *   1. train --theory phi4 --L L --m2 -4 --lam λ --seed S --json <family flags> <extra flags>
 *      (the extra flags, after `--`, come last and win: commander keeps an option's last value);
 *   2. lnz --run DIR --n <ess-draws> --seed 5 --json          → ESS over fresh draws;
 *   3. sample --run DIR --mh --n N --seed 6 --out mh.npy --json  → MH acceptance;
 *   4. hmc --theory phi4 --L L --m2 -4 --lam λ --n HMC_N --leapfrog K --seed 7 --out hmc.npy --json
 *      (1000 thermalisation trajectories, step size tuned to acceptance 0.8; K the row's leapfrog
 *      steps, 10 for E1–E5, 25 and 40 for X20 and X32, or --hmc-leapfrog);
 *   5. measure mh.npy --json and measure hmc.npy --json        → χ₂ = ⟨M²⟩/V and ⟨|M|⟩/V with
 *      Γ-method errors and τ_int, and `cost_s` = seconds/N · 2τ_int, where `seconds` is the
 *      sampling time the ensemble's sidecar records (sample: the MH chain; hmc: thermalisation
 *      and production).
 *
 * Then prints one markdown row of docs/scaling.md's table and one JSON line (the last line) on
 * stdout, progress on stderr, and writes bench/results/scaling-<row>-<date>.json (a temporary
 * file renamed into place). The flow's total cost per independent χ₂ sample at N samples is
 * (train wall + MH sampling seconds)/N · 2τ_int(χ₂). Usage errors: one line, exit 2.
 *
 * With `--preset NAME` in place of a flow family, step 1 trains that preset (its theory must be
 * the row's) as the chain of presets it ends (bench/preset-chain.ts: `phi4-l32` is three), one run
 * directory per stage; an existing --keep directory is then resumed, not refused, so a
 * three-hour row cut off goes on when the same command is given again. Its training time is
 * what the runs record over all their invocations.
 *
 *   node dist/bench/scaling.js --row E2 [--n 50000] [--hmc-n N] [--hmc-leapfrog K] [--ess-draws 16384] [--seed 1]
 *     [--flow-family affine-cnn|cnf | --preset NAME] [--ode-steps N] [--keep DIR] [--out FILE] [-- <extra train flags>]
 *
 * `--ode-steps N` (continuous flows) gives lnz and sample N RK4 steps instead of the run's.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PRESETS, presetChain } from "../src/model/presets.js";
import { type Child, num, runChild, running } from "./child.js";
import { keptSeedProblem, type Stage, trainPresetChain } from "./preset-chain.js";

// ---------------------------------------------------------------- rows and flow families

/** Train flags of each flow family; the owner tunes them here. Extra flags after `--` override. */
const FAMILIES: Readonly<Record<string, readonly string[]>> = {
  "affine-cnn": [
    ...["--flow", "affine-cnn", "--hidden", "16,16", "--dtype", "float32"],
    ...["--lr", "2e-3", "--lr-schedule", "cosine", "--threads", "2", "--steps", "20000"],
  ],
  cnf: [
    // At 20 RK4 steps and lr 2e-3 the solver guard stopped E1 at step 400 (1.4 nats).
    ...["--flow", "cnf", "--ode-steps", "40", "--dtype", "float32"],
    ...["--lr", "1e-3", "--lr-schedule", "cosine", "--steps", "2000"],
  ],
};

const M2 = -4;

interface Row {
  L: number;
  lam: number;
  source: string;
  /**
   * HMC leapfrog steps per trajectory. The step size is tuned to acceptance 0.8 and shrinks as L
   * grows, so at ξ ≈ 8 the CLI's 10 steps make a trajectory too short: at X32, 40 steps cut
   * τ_int(χ₂) from 122 to 17 and the cost per independent sample from 28.6 to 11.2 ms.
   */
  leapfrog: number;
}

const E_SOURCE = "arXiv 1904.12072 Table I (E1–E5, m_p L ≈ 4); see docs/scaling.md for how it was checked";
const X_SOURCE = "arXiv 2207.00283 (ξ ≈ L/4), its code's lam_dict (mathisgerdes/continuous-flow-lft)";

/** The ensembles: 2-d, m² = −4 (docs/scaling.md gives the sources). */
const ROWS: Readonly<Record<string, Row>> = {
  E1: { L: 6, lam: 6.975, source: E_SOURCE, leapfrog: 10 },
  E2: { L: 8, lam: 6.008, source: E_SOURCE, leapfrog: 10 },
  E3: { L: 10, lam: 5.55, source: E_SOURCE, leapfrog: 10 },
  E4: { L: 12, lam: 5.276, source: E_SOURCE, leapfrog: 10 },
  E5: { L: 14, lam: 5.113, source: E_SOURCE, leapfrog: 10 },
  X20: { L: 20, lam: 4.807, source: X_SOURCE, leapfrog: 25 },
  X32: { L: 32, lam: 4.572, source: X_SOURCE, leapfrog: 40 },
};

/** Train flags the script sets itself (or that would make the run another row). */
const RESERVED: Readonly<Record<string, string>> = {
  theory: "the row sets the theory",
  L: "the row sets L: pick another row",
  dim: "the rows are 2-d",
  m2: "the rows have m² = −4",
  lam: "the row sets λ: pick another row",
  seed: "use the script's --seed",
  out: "use --keep DIR to keep the run directory",
  resume: "each row trains afresh",
  preset: "give the script's --preset NAME, before --",
  "init-from": "the row trains afresh, or --preset trains the chain a preset needs",
  config: "the row and --flow-family set the run",
};

// ---------------------------------------------------------------- arguments

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const CLI = join(repo, "dist", "src", "cli", "main.js");

const USAGE =
  "usage: node dist/bench/scaling.js --row NAME [--n 50000] [--hmc-n N] [--hmc-leapfrog K] [--ess-draws 16384] [--seed 1]\n" +
  "         [--flow-family affine-cnn|cnf | --preset NAME] [--ode-steps N] [--keep DIR] [--out FILE] [-- <extra train flags>]\n" +
  `  rows: ${Object.keys(ROWS).join(", ")}`;

/** Usage errors: one line naming the problem and the fix, exit 2, nothing written. */
function refuse(message: string): never {
  process.stderr.write(`scaling: error: ${message}\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const dashes = argv.indexOf("--");
const own = dashes < 0 ? argv : argv.slice(0, dashes);
const extraFlags = dashes < 0 ? [] : argv.slice(dashes + 1);

/** Each option with a value to show in the message when it has none. */
const EXAMPLES: Readonly<Record<string, string>> = {
  row: "E2",
  n: "50000",
  "hmc-n": "50000",
  "hmc-leapfrog": "40",
  "ess-draws": "16384",
  seed: "1",
  "flow-family": "cnf",
  preset: "phi4-l32",
  "ode-steps": "120",
  keep: "runs/scaling-E2",
  out: "row.json",
};
const OPTIONS = Object.keys(EXAMPLES);
const opts = new Map<string, string>();
for (let i = 0; i < own.length; i++) {
  const a = own[i]!;
  if (a === "-h" || a === "--help") {
    console.log(USAGE);
    process.exit(0);
  }
  const name = a.startsWith("--") ? a.slice(2) : "";
  if (!OPTIONS.includes(name)) {
    refuse(
      `unknown option '${a}': train flags go after --, e.g. -- --steps 2000 (options: --${OPTIONS.join(", --")})`,
    );
  }
  if (opts.has(name)) refuse(`--${name} is given twice: give it once`);
  if (i + 1 >= own.length) refuse(`--${name} needs a value, e.g. --${name} ${EXAMPLES[name]}`);
  opts.set(name, own[++i]!);
}

function count(name: string, def: number, min: number): number {
  const s = opts.get(name);
  if (s === undefined) return def;
  const v = Number(s);
  if (s.trim() === "" || !Number.isInteger(v) || v < min)
    refuse(`--${name} must be an integer ≥ ${min}, got '${s}'`);
  return v;
}

const rowName = opts.get("row");
if (rowName === undefined) refuse(`--row is required: one of ${Object.keys(ROWS).join(", ")}`);
if (!Object.hasOwn(ROWS, rowName))
  refuse(`unknown row '${rowName}': use one of ${Object.keys(ROWS).join(", ")}`);
const row = ROWS[rowName]!;
const preset = opts.get("preset") ?? null;
if (preset !== null && opts.has("flow-family"))
  refuse("--preset and --flow-family both name the flow: give one of them");
const family = opts.get("flow-family") ?? "affine-cnn";
if (!Object.hasOwn(FAMILIES, family))
  refuse(`unknown --flow-family '${family}': use one of ${Object.keys(FAMILIES).join(", ")}`);
/** The presets to train in turn for --preset (empty without it). */
const chain = preset === null ? [] : presetChainOrRefuse(preset);

function presetChainOrRefuse(name: string): string[] {
  if (!Object.hasOwn(PRESETS, name))
    refuse(`unknown preset '${name}': use one of ${Object.keys(PRESETS).join(", ")}`);
  const t = PRESETS[name]!.theory;
  const same =
    t.kind === "phi4" &&
    t.latticeShape.length === 2 &&
    t.latticeShape.every((l) => l === row.L) &&
    t.m2 === M2 &&
    t.lam === row.lam;
  if (!same) {
    const fits = Object.entries(ROWS).find(
      ([, r]) =>
        t.kind === "phi4" && t.latticeShape.every((l) => l === r.L) && t.m2 === M2 && t.lam === r.lam,
    );
    refuse(
      `preset ${name} is not row ${rowName}'s ensemble (L = ${row.L}, m² = ${M2}, λ = ${row.lam})` +
        `${fits === undefined ? ": it is no row's" : `: use --row ${fits[0]}`}`,
    );
  }
  return presetChain(name);
}
const n = count("n", 50000, 2);
const hmcN = count("hmc-n", n, 2);
const hmcLeapfrog = count("hmc-leapfrog", row.leapfrog, 1);
const essDraws = count("ess-draws", 16384, 2);
const seed = count("seed", 1, 0);
const flowKind = preset === null ? family : PRESETS[preset]!.flow.kind;
if (opts.has("ode-steps") && flowKind !== "cnf")
  refuse(`--ode-steps sets the RK4 steps of a continuous flow; this row's flow is ${flowKind}: drop it`);
/** lnz and sample with other RK4 steps than the run's (continuous flows). */
const odeSteps = opts.has("ode-steps") ? ["--ode-steps", String(count("ode-steps", 0, 1))] : [];

for (const t of extraFlags) {
  const name = t.startsWith("--") ? t.slice(2).split("=")[0]! : null;
  if (name !== null && Object.hasOwn(RESERVED, name))
    refuse(`--${name} is not a train flag here (${RESERVED[name]}); leave it out of the flags after --`);
}

const keep = opts.has("keep") ? resolve(opts.get("keep")!) : null;
if (preset === null && keep !== null && existsSync(keep) && readdirSync(keep).length > 0)
  refuse(`--keep ${keep} is not empty: name a new or empty directory`);
const date = new Date().toISOString();
const outFile = resolve(
  opts.get("out") ?? join(repo, "bench", "results", `scaling-${rowName}-${date.replace(/[:.]/g, "-")}.json`),
);
if (!outFile.endsWith(".json")) refuse(`--out must name a .json file, got '${opts.get("out")}'`);

// ---------------------------------------------------------------- child processes

let interrupted = false;

/** Run the CLI to its end. */
const cli = (args: string[]): Promise<Child> => runChild(process.execPath, [CLI, ...args]);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // Passed on to the running command, which stops (train saves a checkpoint); nothing is written.
    interrupted = true;
    for (const p of running) p.kill(signal);
  });
}

// A kept chain of another seed is refused before any work.
for (const stage of chain) {
  const why = keep === null ? null : keptSeedProblem(join(keep, stage), seed);
  if (why !== null) refuse(why);
}
const workDir = keep ?? mkdtempSync(join(tmpdir(), "lf-scaling-"));
if (keep !== null) mkdirSync(keep, { recursive: true });
const runDir = join(workDir, preset === null ? "run" : chain.at(-1)!);
const mhFile = join(workDir, "mh.npy");
const hmcFile = join(workDir, "hmc.npy");

/** Stop on a failed command: one line, the command's exit code (2 for its usage errors). */
function fail(step: string, c: Child): never {
  if (keep === null) rmSync(workDir, { recursive: true, force: true });
  if (interrupted) {
    process.stderr.write(`scaling: error: interrupted during ${step}; nothing written\n`);
    process.exit(130);
  }
  const why = c.reason.replace(/^latticeflow: error: /, "") || "no message";
  if (c.code === 2) refuse(`${step}: ${why}`);
  process.stderr.write(
    `scaling: error: ${step} failed (exit ${c.code}): ${why}` +
      `${keep === null ? "; rerun with --keep DIR to keep the run directory" : ""}\n`,
  );
  process.exit(c.code === 0 || c.code === null ? 1 : c.code);
}

async function step(name: string, args: string[]): Promise<Child & { json: Record<string, unknown> }> {
  process.stderr.write(`scaling: ${rowName}: ${name} …\n`);
  const c = await cli(args);
  if (c.code !== 0 || c.json === null || interrupted) fail(name, c);
  process.stderr.write(`scaling: ${rowName}: ${name} done in ${c.seconds.toFixed(1)} s\n`);
  return c as Child & { json: Record<string, unknown> };
}

// ---------------------------------------------------------------- the row

const theoryFlags = ["--theory", "phi4", "--L", String(row.L), "--m2", String(M2), "--lam", String(row.lam)];
// float32 affine couplings need rows of a multiple of 4 sites for SIMD (src/model/speed-warnings.ts);
// at L = 6, 10, 14 float64 is the faster dtype, so those rows train in it.
const dtypeFlags = family === "affine-cnn" && row.L % 4 !== 0 ? ["--dtype", "float64"] : [];
const trainFlags = preset === null ? [...FAMILIES[family]!, ...dtypeFlags, ...extraFlags] : extraFlags;
/** With --preset: lnz and sample on the last stage's threads (their numbers are the same for any count). */
const presetThreads = preset === null ? [] : ["--threads", String(PRESETS[preset]!.train.threads)];
/** With --preset the kept directory may hold a sample and HMC chain of an earlier try. */
const force = preset === null ? [] : ["--force"];
const commands = {
  train: [
    "train",
    ...theoryFlags,
    "--seed",
    String(seed),
    "--out",
    runDir,
    "--json",
    "--quiet",
    ...trainFlags,
  ],
  lnz: [
    ...["lnz", "--run", runDir, "--n", String(essDraws), "--seed", "5", "--json"],
    ...presetThreads,
    ...odeSteps,
  ],
  sample: [
    ...["sample", "--run", runDir, "--mh", "--n", String(n), "--seed", "6", "--out", mhFile, "--json"],
    ...presetThreads,
    ...odeSteps,
    ...force,
  ],
  hmc: [
    ...["hmc", ...theoryFlags, "--n", String(hmcN), "--leapfrog", String(hmcLeapfrog)],
    ...["--seed", "7", "--out", hmcFile, "--json", "--quiet", ...force],
  ],
  measureMh: ["measure", mhFile, "--json"],
  measureHmc: ["measure", hmcFile, "--json"],
};

process.stderr.write(
  `scaling: ${rowName}: L = ${row.L}, m² = ${M2}, λ = ${row.lam} (${row.source}); ` +
    `${preset === null ? family : `preset ${chain.join(" → ")}`}; ` +
    `N = ${n} flow MH, ${hmcN} HMC; train flags: ${trainFlags.join(" ")}\n`,
);
const loadStart = loadavg();
const trained = preset === null ? null : await trainChain();
const train = trained === null ? await step("train", commands.train) : null;
const lnz = await step("lnz", commands.lnz);
const sample = await step("sample --mh", commands.sample);
const hmc = await step("hmc", commands.hmc);
const measureMh = await step("measure mh.npy", commands.measureMh);
const measureHmc = await step("measure hmc.npy", commands.measureHmc);
if (keep === null) rmSync(workDir, { recursive: true, force: true });

/** --preset: its chain, each stage in <workDir>/<stage>, stopping the script on a failure. */
async function trainChain(): Promise<Stage[]> {
  process.stderr.write(`scaling: ${rowName}: train ${chain.join(" → ")} …\n`);
  const r = await trainPresetChain({
    cli: CLI,
    chain,
    seed,
    dirOf: (stage) => join(workDir, stage),
    trainFlags: extraFlags,
    resumeFlags: [],
    stop: () => (interrupted ? "interrupted" : null),
  });
  for (const s of r.stages)
    process.stderr.write(
      `scaling: ${rowName}: ${s.preset}${s.resumed ? " (resumed)" : ""}: ${s.train_s?.toFixed(1)} s of training\n`,
    );
  const f = r.failure;
  if (f !== null) {
    if ("child" in f) fail(`train ${f.stage}`, f.child);
    if ("refused" in f) refuse(f.refused);
    interrupted = true;
    fail(`train ${f.stage}`, { code: 130, json: null, reason: f.stopped, seconds: 0 });
  }
  return r.stages;
}

// ---------------------------------------------------------------- the numbers

interface Estimate {
  value: number | null;
  error: number | null;
  tau_int: number | null;
  cost_s: number | null;
}

/** An observable of a `measure --json` object: {value, error, tau_int, cost_s, …}. */
function observable(m: Record<string, unknown>, key: string): Estimate {
  const o = (m[key] ?? {}) as Record<string, unknown>;
  return { value: num(o.value), error: num(o.error), tau_int: num(o.tau_int), cost_s: num(o.cost_s) };
}

/** (a − b) / √(σ_a² + σ_b²), or null. */
function nSigma(a: Estimate, b: Estimate): number | null {
  if (a.value === null || b.value === null || a.error === null || b.error === null) return null;
  const s = Math.hypot(a.error, b.error);
  return s > 0 ? (a.value - b.value) / s : null;
}

const ms = (s: number | null) => (s === null ? null : s * 1000);

const flowChi2 = observable(measureMh.json, "chi2");
const flowAbsM = observable(measureMh.json, "abs_m");
const hmcChi2 = observable(measureHmc.json, "chi2");
const hmcAbsM = observable(measureHmc.json, "abs_m");
const sampleSeconds = num(measureMh.json.seconds);
/** The training's time: the train process, or the chain's runs over all their invocations. */
const trainSeconds =
  trained === null ? train!.seconds : trained.reduce((t, s) => t + (s.train_s ?? Number.NaN), 0);
const totalCost =
  sampleSeconds === null || flowChi2.tau_int === null
    ? null
    : ((trainSeconds + sampleSeconds) / n) * 2 * flowChi2.tau_int;

const summary = {
  row: rowName,
  L: row.L,
  lam: row.lam,
  m2: M2,
  flow_family: flowKind,
  preset,
  ode_steps: odeSteps.length === 0 ? null : Number(odeSteps[1]),
  n,
  hmc_n: hmcN,
  hmc_leapfrog: hmcLeapfrog,
  ess_draws: essDraws,
  seed,
  ess: num(lnz.json.ess),
  ess_error: num(lnz.json.ess_error),
  ess_warning: typeof lnz.json.warning === "string" ? lnz.json.warning : null,
  mh_acceptance: num(sample.json.acceptance),
  tau_chi2_flow: flowChi2.tau_int,
  tau_abs_m_flow: flowAbsM.tau_int,
  tau_chi2_hmc: hmcChi2.tau_int,
  tau_abs_m_hmc: hmcAbsM.tau_int,
  chi2_flow: flowChi2.value,
  chi2_flow_error: flowChi2.error,
  chi2_hmc: hmcChi2.value,
  chi2_hmc_error: hmcChi2.error,
  chi2_n_sigma: nSigma(flowChi2, hmcChi2),
  abs_m_flow: flowAbsM.value,
  abs_m_flow_error: flowAbsM.error,
  abs_m_hmc: hmcAbsM.value,
  abs_m_hmc_error: hmcAbsM.error,
  abs_m_n_sigma: nSigma(flowAbsM, hmcAbsM),
  train_s: trainSeconds,
  sample_s: sampleSeconds,
  hmc_s: num(measureHmc.json.seconds),
  cost_ms_flow: ms(flowChi2.cost_s),
  cost_ms_hmc: ms(hmcChi2.cost_s),
  total_cost_ms_flow: ms(totalCost),
  file: outFile,
};

// ---------------------------------------------------------------- output

/** Three significant digits, no exponent. */
function sig(x: number | null): string {
  if (x === null) return "–";
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

/** value ± error, both to the error's second significant digit. */
function valErr(value: number | null, error: number | null): string {
  if (value === null) return "–";
  if (error === null || !(error > 0)) return sig(value);
  const d = Math.min(8, Math.max(0, 1 - Math.floor(Math.log10(error))));
  return `${value.toFixed(d)} ± ${error.toFixed(d)}`;
}

const fixed = (x: number | null, d: number) => (x === null ? "–" : x.toFixed(d));
const signed = (x: number | null) => (x === null ? "–" : `${x < 0 ? "−" : "+"}${Math.abs(x).toFixed(1)}`);

const cells = [
  rowName,
  String(row.L),
  row.lam.toFixed(3),
  valErr(summary.ess, summary.ess_error),
  fixed(summary.mh_acceptance, 3),
  sig(summary.tau_chi2_flow),
  sig(summary.tau_abs_m_flow),
  sig(summary.tau_chi2_hmc),
  sig(summary.tau_abs_m_hmc),
  valErr(summary.chi2_flow, summary.chi2_flow_error),
  valErr(summary.chi2_hmc, summary.chi2_hmc_error),
  signed(summary.chi2_n_sigma),
  fixed(summary.train_s, 0),
  sig(summary.cost_ms_flow),
  sig(summary.cost_ms_hmc),
  sig(summary.total_cost_ms_flow),
];

const result = {
  ...summary,
  date,
  row_source: row.source,
  train_flags: trainFlags,
  extra_flags: extraFlags,
  commands: {
    ...Object.fromEntries(Object.entries(commands).map(([k, v]) => [k, ["latticeflow", ...v].join(" ")])),
    ...(trained === null ? {} : { train: trained.map((s) => s.command).join(" && ") }),
  },
  stages: trained,
  walls_s: {
    train: train?.seconds ?? trained!.reduce((t, s) => t + (s.wall_s ?? Number.NaN), 0),
    lnz: lnz.seconds,
    sample: sample.seconds,
    hmc: hmc.seconds,
    measure_mh: measureMh.seconds,
    measure_hmc: measureHmc.seconds,
  },
  machine: {
    cpus: availableParallelism(),
    node: process.version,
    loadavg_start: loadStart,
    loadavg_end: loadavg(),
  },
  run_dir: keep,
  outputs: {
    train: train?.json ?? trained!.at(-1)!.train,
    lnz: lnz.json,
    sample: sample.json,
    hmc: hmc.json,
    measure_mh: measureMh.json,
    measure_hmc: measureHmc.json,
  },
};
mkdirSync(dirname(outFile), { recursive: true });
const tmp = `${outFile}.${process.pid}.tmp`;
writeFileSync(tmp, `${JSON.stringify(result, null, 2)}\n`);
renameSync(tmp, outFile);
process.stderr.write(`scaling: ${rowName}: written ${outFile}\n`);
console.log(`| ${cells.join(" | ")} |`);
console.log(JSON.stringify(summary));
