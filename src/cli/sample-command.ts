/**
 * `latticeflow sample`: draw from a trained flow, optionally made exact by independence
 * Metropolis–Hastings, and write the ensemble as .npy [N, ...configShape] float64 (φ⁴: the
 * lattice; U(1): [d, ...lattice]), with a
 * sidecar `<out>.json` describing it (and, for direct samples, `<out>.logw.npy`; for MH chains,
 * `<out>.accepted.npy`: float64 [N] of 0/1 accept flags, step 0 = 1 starts the chain, which
 * `latticeflow measure` turns into the acceptance-run τ_int).
 */

import { basename } from "node:path";
import type { Command } from "commander";
import { essFromLogWeights } from "../analysis/reweighting.js";
import { type Params, Tensor } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import { writeFileAtomic, writeNpyFile } from "../io/files.js";
import { independenceMetropolis, type Proposals } from "../mcmc/independence-metropolis.js";
import { buildModel, modelSpecOf } from "../model/index.js";
import { createParallelSampler } from "../parallel/shard.js";
import { Rng } from "../rng/philox.js";
import { fmt, num, printJson, threadsArg } from "./args.js";
import { UsageError } from "./errors.js";
import { loadWeights, readConfig } from "./run-dir.js";
import { nodeSpawn, resolveThreads } from "./threads.js";

export interface SampleOptions {
  run: string;
  n: number;
  mh: boolean;
  seed: number;
  out: string;
  batch: number;
  /**
   * Symmetrise the proposal under φ → −φ: y = ±x (x ~ q, sign uniform), with density
   * q_sym(y) = ½[q(y) + q(−y)] (one extra inverse flow pass per proposal). Exact for any q;
   * lets MH tunnel between the wells of the broken phase even when the flow covers only one.
   */
  z2?: boolean;
  /**
   * Threads of the flow passes that draw the proposals (default 1). The ensemble does not
   * depend on it: each chunk of `batch` proposals takes its prior draws from the proposal
   * stream exactly as on one thread, and each sample's forward pass is the same computation
   * whatever thread runs it.
   */
  threads?: number;
}

export interface SampleSummary {
  n: number;
  acceptance: number | null;
  ess: number;
  out: string;
  seconds: number;
}

/**
 * The φ → −φ symmetrised proposal from flow draws x ~ q: y = ±x with a uniform sign, and
 * log q_sym(y) = log ½[q(x) + q(−x)] (the same for both signs; one inverse flow pass for q(−x)).
 */
export function z2Symmetrise(flow: Flow, params: Params, x: Tensor, logq: Tensor, signRng: Rng): Proposals {
  const m = logq.data.length;
  const v = x.data.length / m;
  const xs = Float64Array.from(x.data);
  const lq = Float64Array.from(logq.data);
  const neg = new Tensor(
    x.data.map((a) => -a),
    x.shape,
  );
  const lqNeg = flow.logProb(params, neg).data;
  for (let j = 0; j < m; j++) {
    const a = lq[j]!;
    const b = lqNeg[j]!;
    const hi = Math.max(a, b);
    lq[j] = hi === Number.NEGATIVE_INFINITY ? hi : hi + Math.log1p(Math.exp(Math.min(a, b) - hi)) - Math.LN2;
    if (signRng.uniform() < 0.5) for (let i = j * v; i < (j + 1) * v; i++) xs[i] = -xs[i]!;
  }
  return { x: xs, logq: lq };
}

export function runSampling(opts: SampleOptions): SampleSummary {
  if (!Number.isInteger(opts.n) || opts.n < 1)
    throw new UsageError(`--n must be a positive integer, got ${opts.n}`);
  if (!Number.isInteger(opts.batch) || opts.batch < 1)
    throw new UsageError(`--batch must be a positive integer (proposals per flow pass), got ${opts.batch}`);
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1)
    throw new UsageError(`--threads must be a positive integer or 'auto', got ${threads}`);
  if (!opts.out.endsWith(".npy")) throw new UsageError(`--out must name a .npy file, got '${opts.out}'`);
  const config = readConfig(opts.run);
  const { theory, flow } = buildModel(config);
  const dtype = config.train.dtype;
  const { params, step } = loadWeights(opts.run, flow.initParams(new Rng(config.train.seed), dtype));
  const rng = new Rng(opts.seed);
  const proposalRng = rng.split(1);
  const acceptRng = rng.split(2);
  const signRng = rng.split(3);
  // threads > 1: the same prior draws per chunk as flow.sample makes, pushed through the flow on
  // all threads (src/parallel/shard.ts).
  const parallel =
    threads > 1 ? createParallelSampler({ spec: modelSpecOf(config), threads, spawn: nodeSpawn }) : null;
  try {
    const propose = (m: number): Proposals => {
      const { x, logq } = parallel
        ? parallel.sample(params, proposalRng, m)
        : flow.sample(params, proposalRng, m, dtype);
      return opts.z2
        ? z2Symmetrise(flow, params, x, logq, signRng)
        : { x: Float64Array.from(x.data), logq: Float64Array.from(logq.data) };
    };
    const t0 = performance.now();
    const shape = [opts.n, ...theory.configShape];
    let acceptance: number | null = null;
    let logw: Float64Array;
    let acceptedFile: string | null = null;
    if (opts.mh) {
      const r = independenceMetropolis(theory, propose, { n: opts.n, batch: opts.batch }, acceptRng);
      acceptance = r.acceptance;
      logw = r.proposalLogWeights;
      writeNpyFile(opts.out, r.configs, shape);
      acceptedFile = opts.out.replace(/\.npy$/, ".accepted.npy");
      writeNpyFile(acceptedFile, Float64Array.from(r.accepted), [opts.n]);
    } else {
      const x = new Float64Array(opts.n * theory.size);
      logw = new Float64Array(opts.n);
      for (let start = 0; start < opts.n; start += opts.batch) {
        const m = Math.min(opts.batch, opts.n - start);
        const p = propose(m);
        const s = theory.action(p.x, m);
        x.set(p.x, start * theory.size);
        for (let j = 0; j < m; j++) logw[start + j] = -s[j]! - p.logq[j]!;
      }
      writeNpyFile(opts.out, x, shape);
      writeNpyFile(opts.out.replace(/\.npy$/, ".logw.npy"), logw, [opts.n]);
    }
    const ess = essFromLogWeights(logw);
    const seconds = (performance.now() - t0) / 1000;
    const meta = {
      sampler: opts.mh ? "flow-mh" : "flow",
      run: opts.run,
      checkpointStep: step,
      theory: config.theory,
      flow: config.flow,
      n: opts.n,
      seed: opts.seed,
      z2: opts.z2 === true,
      acceptance,
      /** MH accept flags (float64 0/1 [N]), next to the ensemble; null for direct samples. */
      acceptedFile: acceptedFile === null ? null : basename(acceptedFile),
      ess,
      seconds,
      threads,
    };
    writeFileAtomic(`${opts.out}.json`, `${JSON.stringify(meta, null, 2)}\n`);
    return { n: opts.n, acceptance, ess, out: opts.out, seconds };
  } finally {
    parallel?.close();
  }
}

export function registerSampleCommand(program: Command): void {
  program
    .command("sample")
    .description("sample a trained flow (with --mh: exact, by independence Metropolis-Hastings)")
    .requiredOption("--run <dir>", "run directory with a checkpoint")
    .option("--n <n>", "number of configurations", num("--n"), 8192)
    .option("--mh", "accept/reject with Metropolis-Hastings (exact); otherwise raw flow samples", false)
    .option("--seed <n>", "random seed", num("--seed"), 1)
    .option("--out <file>", "output .npy (default <run>/ensemble.npy)")
    .option("--batch <n>", "proposals per flow pass", num("--batch"), 1024)
    .option(
      "--z2",
      "symmetrise proposals under phi -> -phi (tunnels in the broken phase; one extra flow pass)",
      false,
    )
    .option(
      "--threads <n>",
      "threads of the flow passes, or 'auto' (the cores); the ensemble is the same for any count",
      threadsArg("--threads"),
      1,
    )
    .option("--json", "print one JSON summary as the last line", false)
    .action((o: Record<string, unknown>) => {
      const s = runSampling({
        run: o.run as string,
        n: o.n as number,
        mh: o.mh === true,
        seed: o.seed as number,
        out: (o.out as string | undefined) ?? `${o.run}/ensemble.npy`,
        batch: o.batch as number,
        z2: o.z2 === true,
        threads: resolveThreads(o.threads as number | "auto"),
      });
      if (o.json) printJson({ n: s.n, acceptance: s.acceptance, ess: s.ess, out: s.out });
      else {
        console.log(
          `${s.n} configurations → ${s.out} in ${s.seconds.toFixed(1)} s: ` +
            `${s.acceptance === null ? "" : `MH acceptance ${fmt(s.acceptance)}, `}proposal ESS ${fmt(s.ess)}`,
        );
      }
    });
}
