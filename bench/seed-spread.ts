/**
 * How much a preset's outcome depends on the seed (issue 14). For each seed,
 * `latticeflow train --preset NAME --seed s --json` with the extra train flags, then the flow's
 * ESS over many fresh draws, `latticeflow lnz --n <ess-draws> --seed 5 --json` — the headline,
 * because the batch ESS `train` reports (mean over the last 100 batches of 64) overstates it —
 * with ln Z's deviation from the exact value where the theory has one, and optionally the flow-MH
 * acceptance of `sample --mh --n N --seed 6`. For `phi4-notebook` the same for the PyTorch
 * reference (bench/torch_reference.py --workload ess: the notebook's model, loss and Adam after
 * torch.manual_seed(s), the same steps, then the ESS over as many draws); no other preset has a
 * PyTorch training reference. Prints one line per seed and, per side, the median, quartiles
 * (src/analysis/quantiles.ts: type 7), min and max; writes bench/results/seeds-<preset>-<date>.json.
 *
 * A preset that goes on from another's trained flow (src/model/presets.ts: `phi4-l32`) is trained
 * as its whole chain, each stage `--init-from` the one before, in <keep>/<seed>/<stage>; the train
 * flags go to every stage. A run directory that already exists under `--keep` is resumed with its
 * own settings (`train --resume`; a finished one returns at once), so an interrupted study goes on
 * where it stopped when the same command is given again.
 *
 *   node dist/bench/seed-spread.js [--preset phi4-notebook] [--seeds 1-5] [--jobs 1]
 *     [--ess-draws 16384] [--mh N] [--ode-steps N] [--torch-seeds 1-8] [--keep DIR] [--out FILE]
 *     [-- <train flags, e.g. --steps 4000 --hidden 16,16 --threads 2>]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type FiveNumberSummary, fiveNumberSummary } from "../src/analysis/quantiles.js";
import { PRESETS, presetChain } from "../src/model/presets.js";
import { type Child, num, runChild, running } from "./child.js";
import { type Stage, trainPresetChain } from "./preset-chain.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const CLI = join(repo, "dist", "src", "cli", "main.js");
const PYTHON = "/usr/bin/python3";
const TORCH_SCRIPT = join(repo, "bench", "torch_reference.py");
const QUARTILES =
  "Hyndman–Fan type 7: linear interpolation between order statistics, the default of R and numpy";

const USAGE =
  "usage: node dist/bench/seed-spread.js [--preset NAME] [--seeds 1-5] [--jobs N] [--ess-draws N] [--mh N] [--ode-steps N]\n" +
  "         [--torch-seeds LIST] [--keep DIR] [--out FILE] [-- <latticeflow train flags>]\n" +
  '  seeds: a list such as 1-5 or 1,3,7-9 ("" for none)';

/** Usage errors: one line, exit 2, nothing written. */
function refuse(message: string): never {
  process.stderr.write(`seed-spread: error: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- arguments

const argv = process.argv.slice(2);
const dashes = argv.indexOf("--");
const own = dashes < 0 ? argv : argv.slice(0, dashes);
const trainFlags = dashes < 0 ? [] : argv.slice(dashes + 1);

const OPTIONS = ["preset", "seeds", "jobs", "ess-draws", "mh", "ode-steps", "torch-seeds", "keep", "out"];
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
      a === "--steps"
        ? "train flags go after --, e.g. -- --steps 2500"
        : `unknown option '${a}' (train flags go after --)\n${USAGE}`,
    );
  }
  if (i + 1 >= own.length) refuse(`${a} needs a value`);
  opts.set(name, own[++i]!);
}

function count(name: string, def: number, min: number): number {
  const s = opts.get(name);
  if (s === undefined) return def;
  const v = Number(s);
  if (!Number.isInteger(v) || v < min) refuse(`--${name} must be an integer ≥ ${min}, got '${s}'`);
  return v;
}

/** "1-5", "1,3,7-9" or "" (none) → the seeds, in order. */
function seedList(name: string, def: string): number[] {
  const spec = opts.get(name) ?? def;
  const seeds: number[] = [];
  for (const part of spec.split(",")) {
    if (part.trim() === "") continue;
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const a = m ? Number(m[1]) : Number.NaN;
    const b = m && m[2] !== undefined ? Number(m[2]) : a;
    if (!(b >= a)) refuse(`--${name}: '${part}' is not a seed or a range a-b of seeds`);
    for (let s = a; s <= b; s++) {
      if (seeds.includes(s)) refuse(`--${name}: seed ${s} is listed twice`);
      seeds.push(s);
    }
  }
  return seeds;
}

const preset = opts.get("preset") ?? "phi4-notebook";
if (!Object.hasOwn(PRESETS, preset)) {
  refuse(`unknown preset '${preset}': use one of ${Object.keys(PRESETS).join(", ")}`);
}
const seeds = seedList("seeds", "1-5");
const torchSeedsAsked = seedList("torch-seeds", "1-8");
const jobs = count("jobs", 1, 1);
const essDraws = count("ess-draws", 16384, 2);
const mhDraws = count("mh", 0, 0);
/** lnz and sample with other RK4 steps than the run's (continuous flows; lnz refuses others). */
const odeSteps = opts.has("ode-steps") ? ["--ode-steps", String(count("ode-steps", 0, 1))] : [];
const keep = opts.has("keep") ? resolve(opts.get("keep")!) : null;
const date = new Date().toISOString();
const outFile =
  opts.get("out") ?? join(repo, "bench", "results", `seeds-${preset}-${date.replace(/[:.]/g, "-")}.json`);

/** A train flag's name without dashes, for `--x v` and `--x=v`. */
function flagName(token: string): string | null {
  return token.startsWith("--") ? token.slice(2).split("=")[0]! : null;
}

/** The value of a train flag, or undefined. */
function flagValue(name: string): string | undefined {
  for (let i = 0; i < trainFlags.length; i++) {
    const t = trainFlags[i]!;
    if (t === `--${name}`) return trainFlags[i + 1];
    if (t.startsWith(`--${name}=`)) return t.slice(name.length + 3);
  }
  return undefined;
}

/** The presets trained in turn for each seed: the preset alone, or the chain it ends. */
const chain = presetChain(preset);
const trainNames = trainFlags.map(flagName).filter((n): n is string => n !== null);
for (const n of ["preset", "seed", "out", "resume", ...(chain.length > 1 ? ["init-from"] : [])]) {
  if (trainNames.includes(n)) refuse(`--${n} is set by the script; leave it out of the train flags`);
}

// ---------------------------------------------------------------- child processes

/**
 * Why no further run starts: a child's usage error (bad train flags fail every seed alike) or
 * Ctrl-C. An object, so that TypeScript sees the callbacks' writes.
 */
const halt: { stop: { code: number; message: string } | null } = { stop: null };

function failed(step: string, c: Child): string {
  if (c.code === 2 && halt.stop === null) halt.stop = { code: 2, message: c.reason };
  return `${step} exit ${c.code}: ${c.reason}`;
}

// ---------------------------------------------------------------- latticeflow

interface LatticeflowRun {
  seed: number;
  error: string | null;
  /** The chain's trainings in order; one for a preset that starts from scratch. */
  stages: Stage[];
  /** ESS over `ess_draws` fresh draws (lnz): the headline. */
  ess: number | null;
  /** `train --json`'s ESS: mean of the last 100 steps' batch ESS. */
  batch_ess: number | null;
  /** The last stage's last loss and ms per step. */
  loss: number | null;
  ms_per_step: number | null;
  /** Wall time of the train processes, summed over the stages. */
  wall_s: number | null;
  /** The runs' training time over all their invocations, summed over the stages. */
  train_s: number | null;
  lnZ: number | null;
  lnZ_error: number | null;
  lnZ_exact: number | null;
  lnZ_n_sigma: number | null;
  lnz_warning: string | null;
  mh_acceptance: number | null;
  run_dir: string | null;
  train: Record<string, unknown> | null;
  lnz: Record<string, unknown> | null;
  sample: Record<string, unknown> | null;
}

/**
 * The thread count for lnz and sample: the train flags', else the last stage's (their numbers
 * are the same for any count).
 */
const sampleThreads = flagValue("threads") ?? String(PRESETS[chain.at(-1)!]!.train.threads);

async function latticeflow(seed: number): Promise<LatticeflowRun> {
  const seedDir = join(workDir, String(seed));
  const dir = chain.length === 1 ? seedDir : join(seedDir, chain.at(-1)!);
  const r: LatticeflowRun = {
    seed,
    error: null,
    stages: [],
    ess: null,
    batch_ess: null,
    loss: null,
    ms_per_step: null,
    wall_s: null,
    train_s: null,
    lnZ: null,
    lnZ_error: null,
    lnZ_exact: null,
    lnZ_n_sigma: null,
    lnz_warning: null,
    mh_acceptance: null,
    run_dir: keep === null ? null : dir,
    train: null,
    lnz: null,
    sample: null,
  };
  const trained = await trainPresetChain({
    cli: CLI,
    chain,
    seed,
    dirOf: (stage) => (chain.length === 1 ? seedDir : join(seedDir, stage)),
    trainFlags,
    resumeFlags: threadFlags(),
    stop: () => halt.stop?.message ?? null,
  });
  r.stages = trained.stages;
  const f = trained.failure;
  if (f !== null) {
    if ("refused" in f) halt.stop ??= { code: 2, message: f.refused };
    r.error = "child" in f ? failed(`train (${f.stage})`, f.child) : "refused" in f ? f.refused : f.stopped;
    return r;
  }
  const last = r.stages.at(-1)!.train!;
  r.train = last;
  r.batch_ess = num(last.ess);
  r.loss = num(last.loss);
  r.ms_per_step = num(last.ms_per_step);
  r.wall_s = r.stages.reduce((a, x) => a + x.wall_s!, 0);
  r.train_s = r.stages.reduce((a, x) => a + (x.train_s ?? Number.NaN), 0);
  const z = await runChild(process.execPath, [
    CLI,
    "lnz",
    "--run",
    dir,
    "--n",
    String(essDraws),
    "--seed",
    "5",
    "--threads",
    sampleThreads,
    ...odeSteps,
    "--json",
  ]);
  r.lnz = z.json;
  if (z.code !== 0 || z.json === null) {
    r.error = failed("lnz", z);
    return r;
  }
  r.ess = num(z.json.ess);
  r.lnZ = num(z.json.lnZ);
  r.lnZ_error = num(z.json.lnZ_error);
  r.lnZ_exact = num(z.json.lnZ_exact);
  r.lnZ_n_sigma = num(z.json.lnZ_n_sigma);
  r.lnz_warning = typeof z.json.warning === "string" ? z.json.warning : null;
  if (mhDraws > 0) {
    const s = await runChild(process.execPath, [
      CLI,
      "sample",
      "--run",
      dir,
      "--mh",
      "--n",
      String(mhDraws),
      "--seed",
      "6",
      "--threads",
      sampleThreads,
      ...odeSteps,
      "--json",
      // A study given again redraws the same chain (same seed) over the kept one.
      "--force",
    ]);
    r.sample = s.json;
    if (s.code !== 0 || s.json === null) {
      r.error = failed("sample", s);
      return r;
    }
    r.mh_acceptance = num(s.json.acceptance);
  }
  return r;
}

/** `--threads` of the train flags, for a resume (which refuses most other flags). */
function threadFlags(): string[] {
  const t = flagValue("threads");
  return t === undefined ? [] : ["--threads", t];
}

function latticeflowLine(r: LatticeflowRun): string {
  if (r.error !== null) return `latticeflow seed ${r.seed}: failed (${r.error})`;
  const exact =
    r.lnZ_exact === null ? "" : ` (exact ${r.lnZ_exact.toFixed(4)}: ${signed(r.lnZ_n_sigma!, 1)}σ)`;
  return (
    `latticeflow seed ${r.seed}: ESS ${f3(r.ess)} (${essDraws} draws; batch ${f3(r.batch_ess)}), ` +
    `loss ${f3(r.loss)}, ln Z ${r.lnZ?.toFixed(4)} ± ${r.lnZ_error?.toFixed(4)}${exact}` +
    `${r.lnz_warning === null ? "" : " [lnz: too few effective draws]"}` +
    `${mhDraws > 0 ? `, MH acceptance ${f3(r.mh_acceptance)}` : ""}` +
    `, train ${r.wall_s!.toFixed(1)} s${stageWalls(r)}` +
    `${r.ms_per_step === null ? "" : ` (${r.ms_per_step.toFixed(1)} ms/step)`}`
  );
}

/**
 * For a chain, or a resumed run: the training time each stage's run records over all its
 * invocations ("a + b + c s of training"), and which stages this study resumed.
 */
function stageWalls(r: LatticeflowRun): string {
  const resumed = r.stages.filter((x) => x.resumed).map((x) => x.preset);
  if (r.stages.length === 1 && resumed.length === 0) return "";
  const times = r.stages.map((x) => (x.train_s === null ? "–" : x.train_s.toFixed(1))).join(" + ");
  return ` (${times} s of training${resumed.length === 0 ? "" : `; resumed ${resumed.join(", ")}`})`;
}

// ---------------------------------------------------------------- PyTorch

/**
 * The arguments of bench/torch_reference.py that make the preset's computation, or the reason
 * there are none: the reference is the notebook's code, so it mirrors phi4-notebook and the
 * train flags it has an equivalent for (its Adam has the notebook's fixed lr 1e-3).
 */
function torchArgs(): string[] | string {
  if (preset !== "phi4-notebook") return `no PyTorch training reference for ${preset} (only phi4-notebook)`;
  const cfg = PRESETS[preset]!;
  if (cfg.theory.kind !== "phi4" || cfg.flow.kind !== "affine-cnn") throw new Error("phi4-notebook changed");
  const mirrored: Record<string, string> = {
    steps: "--max-steps",
    L: "--L",
    layers: "--layers",
    hidden: "--hidden",
    kernel: "--kernel",
    batch: "--batch",
    dtype: "--dtype",
    m2: "--m2",
    lam: "--lam",
    threads: "--threads",
  };
  const harmless = ["checkpoint-every", "quiet", "json"];
  const other = trainNames.filter((n) => !(n in mirrored) && !harmless.includes(n));
  if (other.length > 0) {
    return `the PyTorch reference has no equivalent of --${other.join(", --")}: PyTorch side skipped`;
  }
  const values: Record<string, string> = {
    steps: String(cfg.train.steps),
    L: String(cfg.theory.latticeShape[0]),
    layers: String(cfg.flow.layers),
    hidden: cfg.flow.hidden.join(","),
    kernel: String(cfg.flow.kernel),
    batch: String(cfg.train.batch),
    dtype: cfg.train.dtype,
    m2: String(cfg.theory.m2),
    lam: String(cfg.theory.lam),
    threads: "1",
  };
  for (const n of Object.keys(mirrored)) {
    const v = flagValue(n);
    if (v !== undefined) values[n] = v === "auto" ? String(availableParallelism()) : v;
  }
  const args = ["--workload", "ess", "--target-ess", "2", "--max-seconds", "1e9"];
  for (const [n, flag] of Object.entries(mirrored)) args.push(flag, values[n]!);
  return [...args, "--ess-draws", String(essDraws)];
}

interface TorchRun {
  seed: number;
  error: string | null;
  /** ESS over `ess_draws` fresh draws after training: the headline, as for latticeflow. */
  ess: number | null;
  /** Mean of the last 100 steps' batch ESS. */
  batch_ess: number | null;
  loss: number | null;
  ms_per_step: number | null;
  /** Wall time of the training loop. */
  wall_s: number | null;
  /** The script's summary without its per-step times. */
  torch: Record<string, unknown> | null;
}

async function pytorch(seed: number, args: string[]): Promise<TorchRun> {
  const c = await runChild(PYTHON, [TORCH_SCRIPT, ...args, "--seed", String(seed)]);
  const j = c.json;
  if (j !== null) delete j.times_ms;
  const r: TorchRun = {
    seed,
    error: c.code === 0 && j !== null ? null : failed("torch_reference.py", c),
    ess: num(j?.draws_ess),
    batch_ess: num(j?.final_ess_ma),
    loss: num(j?.final_loss),
    ms_per_step: num(j?.median_step_ms),
    wall_s: num(j?.elapsed_s),
    torch: j,
  };
  return r;
}

function torchLine(r: TorchRun): string {
  if (r.error !== null) return `pytorch seed ${r.seed}: failed (${r.error})`;
  return (
    `pytorch seed ${r.seed}: ESS ${f3(r.ess)} (${essDraws} draws; batch ${f3(r.batch_ess)}), ` +
    `loss ${f3(r.loss)}, train ${r.wall_s!.toFixed(1)} s (${r.ms_per_step!.toFixed(1)} ms/step median)`
  );
}

// ---------------------------------------------------------------- summaries

function f3(x: number | null | undefined): string {
  return x === null || x === undefined ? "–" : x.toFixed(3);
}

function signed(x: number, digits: number): string {
  return `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(digits)}`;
}

/** Five numbers of the successful runs' values, or null when there are none. */
function stats<T>(runs: T[], pick: (r: T) => number | null): FiveNumberSummary | null {
  const v = runs.map(pick).filter((x): x is number => x !== null);
  return v.length === 0 ? null : fiveNumberSummary(v);
}

function table(rows: [string, FiveNumberSummary | null, number][]): string {
  const cells = (xs: string[]) => xs.map((x) => x.padStart(9)).join("");
  const lines = [`  ${"".padEnd(24)}${cells(["n", "median", "q1", "q3", "min", "max"])}`];
  for (const [label, s, digits] of rows) {
    if (s === null) continue;
    const v = [s.median, s.q1, s.q3, s.min, s.max].map((x) => x.toFixed(digits));
    lines.push(`  ${label.padEnd(24)}${cells([String(s.n), ...v])}`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------- the study

const torch = torchSeedsAsked.length > 0 ? torchArgs() : "no --torch-seeds";
let torchSkipped: string | null = typeof torch === "string" ? torch : null;
if (torchSkipped === null && spawnSync(PYTHON, ["-c", "import torch"]).status !== 0) {
  torchSkipped = `${PYTHON} cannot import torch: PyTorch side skipped`;
}
if (torchSkipped !== null && torchSeedsAsked.length > 0) console.log(torchSkipped);
const torchSeeds = torchSkipped === null ? torchSeedsAsked : [];
if (seeds.length === 0 && torchSeeds.length === 0) refuse("no seeds to run");
/** The run directories: --keep's, or a temporary one removed at the end. */
const workDir = keep ?? mkdtempSync(join(tmpdir(), "lf-seeds-"));
if (keep !== null) mkdirSync(keep, { recursive: true });

console.log(
  `seed-spread: ${chain.join(" → ")}; latticeflow seeds ${seeds.join(",") || "none"}` +
    `${torchSeeds.length > 0 ? `, PyTorch seeds ${torchSeeds.join(",")}` : ""}; ${jobs} job${jobs > 1 ? "s" : ""}; ` +
    `ESS over ${essDraws} draws; train flags: ${trainFlags.join(" ") || "(the preset's)"}`,
);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // Passed on to the runs (a signal sent to this process alone would leave them going); no new
    // run starts, and the finished ones are still summarised and written.
    halt.stop ??= { code: 130, message: "interrupted" };
    for (const p of running) p.kill(signal);
  });
}

const lfRuns: LatticeflowRun[] = [];
const torchRuns: TorchRun[] = [];
const tasks: (() => Promise<void>)[] = [
  ...seeds.map((s) => async () => {
    const r = await latticeflow(s);
    lfRuns.push(r);
    console.log(latticeflowLine(r));
  }),
  ...torchSeeds.map((s) => async () => {
    const r = await pytorch(s, torch as string[]);
    torchRuns.push(r);
    console.log(torchLine(r));
  }),
];
const loadStart = loadavg();
let next = 0;
async function worker(): Promise<void> {
  while (halt.stop === null && next < tasks.length) await tasks[next++]!();
}
try {
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
} finally {
  if (keep === null) rmSync(workDir, { recursive: true, force: true });
}
if (halt.stop?.code === 2) {
  process.stderr.write(`seed-spread: error: ${halt.stop.message.replace(/^latticeflow: error: /, "")}\n`);
  process.exit(2);
}
lfRuns.sort((a, b) => a.seed - b.seed);
torchRuns.sort((a, b) => a.seed - b.seed);

const ok = <T extends { error: string | null }>(runs: T[]) => runs.filter((r) => r.error === null);
const lfOk = ok(lfRuns);
const torchOk = ok(torchRuns);
const lfSummary = {
  ess: stats(lfOk, (r) => r.ess),
  batch_ess: stats(lfOk, (r) => r.batch_ess),
  mh_acceptance: stats(lfOk, (r) => r.mh_acceptance),
  lnZ_n_sigma: stats(lfOk, (r) => r.lnZ_n_sigma),
  wall_s: stats(lfOk, (r) => r.wall_s),
  train_s: stats(lfOk, (r) => (Number.isFinite(r.train_s) ? r.train_s : null)),
};
const torchSummary = {
  ess: stats(torchOk, (r) => r.ess),
  batch_ess: stats(torchOk, (r) => r.batch_ess),
  wall_s: stats(torchOk, (r) => r.wall_s),
};

if (seeds.length > 0) {
  console.log(
    `latticeflow, ${preset}: ${lfOk.length} of ${lfRuns.length} seeds ran (quartiles: ${QUARTILES})`,
  );
  console.log(
    table([
      [`ESS (lnz, ${essDraws} draws)`, lfSummary.ess, 3],
      ["ESS (batch, last 100)", lfSummary.batch_ess, 3],
      ["MH acceptance", lfSummary.mh_acceptance, 3],
      ["ln Z − exact (σ)", lfSummary.lnZ_n_sigma, 2],
      ["train wall (s)", lfSummary.wall_s, 1],
      ["training, all runs (s)", lfSummary.train_s, 1],
    ]),
  );
}
if (torchSeeds.length > 0) {
  console.log(`pytorch (notebook code): ${torchOk.length} of ${torchRuns.length} seeds ran`);
  console.log(
    table([
      [`ESS (${essDraws} draws)`, torchSummary.ess, 3],
      ["ESS (batch, last 100)", torchSummary.batch_ess, 3],
      ["train wall (s)", torchSummary.wall_s, 1],
    ]),
  );
}

const result = {
  date,
  preset,
  chain,
  train_flags: trainFlags,
  ess_draws: essDraws,
  mh: mhDraws,
  ode_steps: odeSteps.length === 0 ? null : Number(odeSteps[1]),
  jobs,
  quartiles: QUARTILES,
  interrupted: halt.stop !== null,
  machine: {
    cpus: availableParallelism(),
    node: process.version,
    loadavg_start: loadStart,
    loadavg_end: loadavg(),
  },
  latticeflow: { seeds, summary: lfSummary, runs: lfRuns },
  pytorch: {
    reference: "bench/torch_reference.py --workload ess",
    skipped: torchSkipped,
    args: typeof torch === "string" ? null : torch,
    seeds: torchSeeds,
    summary: torchSummary,
    runs: torchRuns,
  },
};
mkdirSync(dirname(resolve(outFile)), { recursive: true });
// Written whole or not at all.
writeFileSync(`${outFile}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
renameSync(`${outFile}.tmp`, outFile);
console.log(`written ${outFile}`);
if (halt.stop !== null) process.exitCode = halt.stop.code;
