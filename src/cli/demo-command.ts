/**
 * `latticeflow demo` (what `npm start` runs): the notebook's φ⁴ study end to end: train the
 * phi4-notebook preset, draw 8192 configurations with flow Metropolis–Hastings, and print
 * the training figures and a few observables with Γ-method errors (`--json`: one JSON object,
 * {@link DemoSummary}, as the only stdout line). A chain with fewer than {@link MIN_ACCEPTED}
 * accepted proposals (a barely trained flow) gets a warning: its error bars mean little.
 */
import { join } from "node:path";
import type { Command } from "commander";
import { readNpyFile } from "../io/files.js";
import { applySettings, buildTheory, presetConfig } from "../model/index.js";
import { measureScalarEnsemble } from "../observables/measure.js";
import type { Phi4Theory } from "../theories/phi4.js";
import { fmt, num, printJson, threadsArg } from "./args.js";
import { jnum } from "./measure-command.js";
import { readMetrics } from "./run-dir.js";
import { runSampling } from "./sample-command.js";
import { resolveThreads } from "./threads.js";
import { interruptedLine, runTraining, shellWord } from "./train-command.js";

/** Accepted proposals below which the demo warns that the chain's error bars mean little. */
export const MIN_ACCEPTED = 100;

/** A Γ-method figure in the demo's JSON (NaN → null). */
interface DemoEstimate {
  value: number | null;
  error: number | null;
  tau_int: number | null;
}

/** What `demo --json` prints as its last line. */
export interface DemoSummary {
  out: string;
  /** Ctrl-C during training: the checkpoint is saved, nothing is sampled or measured. */
  interrupted: boolean;
  /**
   * loss: the last step's; ess: the mean batch ESS of the last 100 steps (as `train --json`),
   * ess_error: its standard error (sd/√k over those k ≤ 100 steps).
   */
  training: {
    steps: number;
    loss: number | null;
    ess: number | null;
    ess_error: number | null;
    ms_per_step: number | null;
    rejected: number;
    threads: number;
  };
  /** The flow-MH chain: N, acceptance, the ESS of its proposals, seconds, the .npy written. */
  sampling: {
    n: number;
    acceptance: number | null;
    ess: number | null;
    seconds: number;
    ensemble: string;
  } | null;
  /** Γ-method value, error and τ_int of each observable; null if not measurable (see warning). */
  observables: {
    abs_m: DemoEstimate;
    chi2: DemoEstimate;
    phi2: DemoEstimate;
    "m_eff(1)": DemoEstimate;
  } | null;
  warning: string | null;
}

const estimateJson = (g: { value: number; error: number; tauInt: number }): DemoEstimate => ({
  value: jnum(g.value),
  error: jnum(g.error),
  tau_int: jnum(g.tauInt),
});

/** The standard error of the mean batch ESS of the run's last (at most) 100 steps. */
function recentEssError(out: string): number {
  const ess = readMetrics(out)
    .slice(-100)
    .map((r) => r.ess);
  const k = ess.length;
  if (k < 2) return Number.NaN;
  const mean = ess.reduce((a, b) => a + b, 0) / k;
  const v = ess.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (k - 1);
  return Math.sqrt(v / k);
}

/**
 * Ctrl-C (SIGINT/SIGTERM) during training: the checkpoint is written, one line says how to go
 * on, nothing is sampled, and the process exits 130. During sampling Ctrl-C ends the process at
 * once (the ensemble is written atomically at the end, so nothing half-written is left).
 * With `json`, stdout holds only the summary (one line); progress still goes to stderr.
 */
export async function runDemo(opts: {
  out?: string;
  steps?: number;
  n: number;
  seed: number;
  /** Threads of training and sampling (default 1; "auto": the cores, at most the batch). */
  threads?: number | "auto";
  json?: boolean;
  quiet?: boolean;
}): Promise<DemoSummary> {
  const say = opts.json ? () => {} : (line: string) => console.log(line);
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  const out = opts.out ?? join("runs", `demo-${stamp}`);
  const preset = presetConfig("phi4-notebook");
  const config = applySettings(
    preset,
    {
      seed: opts.seed,
      steps: opts.steps,
      threads: resolveThreads(opts.threads ?? 1, preset.train.batch),
    },
    "demo",
  );
  const { theory: th, flow: fl, train: tr } = config;
  if (th.kind !== "phi4" || fl.kind !== "affine-cnn") throw new Error("demo: the preset is the notebook's");
  const L = th.latticeShape;
  say(
    `latticeflow demo: φ⁴ on ${L.join("×")}, m² = ${th.m2}, λ = ${th.lam}; ` +
      `${fl.layers} affine coupling layers, ${tr.steps} reverse-KL steps (arXiv 1904.12072)` +
      `${tr.threads > 1 ? ` on ${tr.threads} threads` : ""} → ${out}`,
  );
  const t = await runTraining({ out, config, resume: false, quiet: opts.quiet === true });
  const essError = recentEssError(out);
  const summary: DemoSummary = {
    out,
    interrupted: t.interrupted,
    training: {
      steps: t.steps,
      loss: jnum(t.loss),
      ess: jnum(t.ess),
      ess_error: jnum(essError),
      ms_per_step: jnum(t.ms_per_step),
      rejected: t.rejected,
      threads: t.threads,
    },
    sampling: null,
    observables: null,
    warning: null,
  };
  if (t.interrupted) {
    process.stderr.write(
      `${interruptedLine(t, out)}, then: latticeflow sample --run ${shellWord(out)} --mh --n ${opts.n}\n`,
    );
    process.exitCode = 130;
    return summary;
  }
  say(
    `training: loss (last step) ${fmt(t.loss, 3)}, ESS (mean of last 100 steps) ${fmt(t.ess, 3)} ± ${fmt(essError, 3)}, ` +
      `${fmt(t.ms_per_step, 0)} ms/step`,
  );
  const ensemble = join(out, "ensemble.npy");
  const s = runSampling({
    run: out,
    n: opts.n,
    mh: true,
    seed: opts.seed,
    out: ensemble,
    batch: 1024,
    threads: tr.threads,
  });
  summary.sampling = {
    n: s.n,
    acceptance: jnum(s.acceptance),
    ess: jnum(s.ess),
    seconds: s.seconds,
    ensemble,
  };
  say(
    `flow MH: ${opts.n} configurations in ${s.seconds.toFixed(1)} s, acceptance ${fmt(s.acceptance, 3)}, proposal ESS ${fmt(s.ess, 3)}`,
  );
  const warnings: string[] = [];
  const finish = () => {
    for (const w of warnings) say(`warning: ${w}`);
    say(`run directory: ${out} (config.json, metrics.jsonl, checkpoint.safetensors, ensemble.npy)`);
    summary.warning = warnings.length ? warnings.join("; ") : null;
    return summary;
  };
  // The chain holds only as many distinct configurations as it accepted proposals: with fewer
  // than MIN_ACCEPTED the Γ-method has too little to go on and its errors and τ_int mean little.
  const nAccepted = Math.round((s.acceptance ?? 0) * (s.n - 1));
  if (nAccepted < MIN_ACCEPTED) {
    warnings.push(
      `the MH chain accepted only ${nAccepted} of ${s.n - 1} proposals (fewer than ${MIN_ACCEPTED} distinct ` +
        "configurations): its errors and tau_int are not trustworthy; train longer or raise --n",
    );
  }
  const { data } = readNpyFile(ensemble);
  let m: ReturnType<typeof measureScalarEnsemble>;
  try {
    m = measureScalarEnsemble(data, L, { theory: buildTheory(th) as Phi4Theory });
  } catch (e) {
    // A short chain from a barely trained flow can defeat the error analysis; say so plainly.
    warnings.push(
      `observables not measurable from this chain (${(e as Error).message}); train longer or raise --n`,
    );
    return finish();
  }
  // m.m_eff[k] is the point t = k + 1 (t = 1..T/2): take t = 1 by its t, not by position.
  const mEff1 = m.m_eff.find((p) => p.t === 1);
  const nan = { value: Number.NaN, error: Number.NaN, tauInt: Number.NaN };
  const rows: [string, { value: number; error: number; tauInt: number }][] = [
    ["<|M|>/V", m.abs_m],
    ["chi2 = <M^2>/V", m.chi2],
    ["<phi^2>", m.phi2],
    ["m_eff(1)", mEff1 ?? nan],
  ];
  summary.observables = {
    abs_m: estimateJson(m.abs_m),
    chi2: estimateJson(m.chi2),
    phi2: estimateJson(m.phi2),
    "m_eff(1)": estimateJson(mEff1 ?? nan),
  };
  say("observable          value        error     tau_int");
  for (const [label, g] of rows) {
    say(
      `${label.padEnd(18)} ${fmt(g.value, 5).padStart(9)} ${fmt(g.error, 5).padStart(11)} ${fmt(g.tauInt, 2).padStart(10)}`,
    );
  }
  return finish();
}

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("the main job: train the notebook preset, sample 8192 configurations with MH, summarise")
    .option("--out <dir>", "run directory (default runs/demo-<time>)")
    .option("--steps <n>", "training steps", num("--steps"))
    .option("--n <n>", "MH chain length", num("--n"), 8192)
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .option(
      "--threads <n>",
      "threads of training and sampling, or 'auto' (the cores); training's numbers depend on it",
      threadsArg("--threads"),
      1,
    )
    .option(
      "--json",
      "print one JSON object {out, interrupted, training, sampling, observables, warning} as the only stdout line",
      false,
    )
    .option("--quiet", "no training progress (stderr)", false)
    .action(async (o: Record<string, unknown>) => {
      const s = await runDemo({
        out: o.out as string | undefined,
        steps: o.steps as number | undefined,
        n: o.n as number,
        seed: o.seed as number,
        threads: o.threads as number | "auto",
        json: o.json === true,
        quiet: o.quiet === true,
      });
      if (o.json) printJson(s);
    });
}
