/**
 * `latticeflow demo` (what `npm start` runs): the notebook's φ⁴ study end to end: train the
 * phi4-notebook preset, draw 8192 configurations with flow Metropolis–Hastings, and print
 * the training figures and a few observables with Γ-method errors.
 */
import { join } from "node:path";
import type { Command } from "commander";
import { readNpyFile } from "../io/files.js";
import { applySettings, buildTheory, presetConfig } from "../model/index.js";
import { measureScalarEnsemble } from "../observables/measure.js";
import type { Phi4Theory } from "../theories/phi4.js";
import { num, threadsArg } from "./args.js";
import { runSampling } from "./sample-command.js";
import { resolveThreads } from "./threads.js";
import { interruptedLine, runTraining, shellWord } from "./train-command.js";

/**
 * Ctrl-C (SIGINT/SIGTERM) during training: the checkpoint is written, one line says how to go
 * on, nothing is sampled, and the process exits 130. During sampling Ctrl-C ends the process at
 * once (the ensemble is written atomically at the end, so nothing half-written is left).
 */
export async function runDemo(opts: {
  out?: string;
  steps?: number;
  n: number;
  seed: number;
  /** Threads of training and sampling (default 1; "auto": the cores, at most the batch). */
  threads?: number | "auto";
}): Promise<void> {
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
  console.log(
    `latticeflow demo: φ⁴ on ${L.join("×")}, m² = ${th.m2}, λ = ${th.lam}; ` +
      `${fl.layers} affine coupling layers, ${tr.steps} reverse-KL steps (arXiv 1904.12072)` +
      `${tr.threads > 1 ? ` on ${tr.threads} threads` : ""} → ${out}`,
  );
  const t = await runTraining({ out, config, resume: false, quiet: false });
  if (t.interrupted) {
    process.stderr.write(
      `${interruptedLine(t, out)}, then: latticeflow sample --run ${shellWord(out)} --mh --n ${opts.n}\n`,
    );
    process.exitCode = 130;
    return;
  }
  console.log(
    `training: loss ${t.loss.toFixed(3)}, ESS (mean of last 100 steps) ${t.ess.toFixed(3)}, ${t.ms_per_step.toFixed(0)} ms/step`,
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
  console.log(
    `flow MH: ${opts.n} configurations in ${s.seconds.toFixed(1)} s, acceptance ${s.acceptance?.toFixed(3)}, proposal ESS ${s.ess.toFixed(3)}`,
  );
  const { data } = readNpyFile(ensemble);
  let m: ReturnType<typeof measureScalarEnsemble>;
  try {
    m = measureScalarEnsemble(data, L, { theory: buildTheory(th) as Phi4Theory });
  } catch (e) {
    // A short chain from a barely trained flow can defeat the error analysis; say so plainly.
    console.log(
      `observables: not measurable from this chain (${(e as Error).message}); train longer or raise --n`,
    );
    console.log(`run directory: ${out}`);
    return;
  }
  const rows: [string, { value: number; error: number; tauInt: number }][] = [
    ["<|M|>/V", m.abs_m],
    ["chi2 = <M^2>/V", m.chi2],
    ["<phi^2>", m.phi2],
    ["m_eff(1)", m.m_eff[1]!],
  ];
  console.log("observable          value        error     tau_int");
  for (const [name, g] of rows) {
    console.log(
      `${name.padEnd(18)} ${g.value.toFixed(5).padStart(9)} ${g.error.toFixed(5).padStart(11)} ${g.tauInt.toFixed(2).padStart(10)}`,
    );
  }
  console.log(`run directory: ${out} (config.json, metrics.jsonl, checkpoint.safetensors, ensemble.npy)`);
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
    .action(async (o: Record<string, unknown>) => {
      await runDemo({
        out: o.out as string | undefined,
        steps: o.steps as number | undefined,
        n: o.n as number,
        seed: o.seed as number,
        threads: o.threads as number | "auto",
      });
    });
}
