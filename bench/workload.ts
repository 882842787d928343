/**
 * One latticeflow benchmark workload in its own process (so that peak memory and JIT state
 * belong to that workload alone), with the same command line and JSON output as
 * bench/torch_reference.py: progress on stderr, exactly one JSON line on stdout.
 *
 *   node dist/bench/workload.js --workload train|sample|hmc|ess [--L 8] [--hidden 8,8]
 *     [--layers 16] [--kernel 3] [--batch 64] [--dtype float64] [--repeats 20] [--warmup 3] [--warmup-seconds 3]
 *     [--n 1024] [--leapfrog 10] [--eps 0.05] [--target-ess 0.25] [--max-seconds 600]
 *     [--threads 1] [--seed 0] [--flow affine-cnn|realnvp-mlp] [--partition stripes]
 *
 * GEMM=js (environment): matrix products in the TypeScript twin instead of WebAssembly SIMD
 * (one thread only: workers keep the default).
 *
 * --flow realnvp-mlp: RealNVP with MLP conditioners (src/flows/realnvp-mlp.ts; --layers,
 * --hidden, --partition), the model of bench/torch_reference.py --flow realnvp-mlp.
 */
import { loadavg } from "node:os";
import { nodeSpawn } from "../src/cli/threads.js";
import { type DType, setGemmBackend } from "../src/engine/index.js";
import { hmcChain } from "../src/mcmc/hmc.js";
import { buildModel, type ModelSpec } from "../src/model/index.js";
import { createParallelTrainer } from "../src/parallel/shard.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { adam } from "../src/train/adam.js";
import { createTrainer } from "../src/train/trainer.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

const workload = arg("workload", "train");
const L = Number(arg("L", "8"));
const hidden = arg("hidden", "8,8")
  .split(",")
  .filter((s) => s.trim())
  .map(Number);
const layers = Number(arg("layers", "16"));
const kernel = Number(arg("kernel", "3"));
const batch = Number(arg("batch", "64"));
const dtype = arg("dtype", "float64") as DType;
const repeats = Number(arg("repeats", "20"));
const warmup = Number(arg("warmup", "3"));
const warmupSeconds = Number(arg("warmup-seconds", "3"));
const n = Number(arg("n", "1024"));
const leapfrog = Number(arg("leapfrog", "10"));
const eps = Number(arg("eps", "0.05"));
const targetEss = Number(arg("target-ess", "0.25"));
const maxSeconds = Number(arg("max-seconds", "600"));
const threads = Number(arg("threads", "1"));
const seed = Number(arg("seed", "0"));
const m2 = Number(arg("m2", "-4"));
const lam = Number(arg("lam", "8"));
const flowKind = arg("flow", "affine-cnn");
const partition = arg("partition", "stripes") as "stripes" | "checkerboard";

if (process.env.GEMM === "js") setGemmBackend("js");
const shape = [L, L];
const theory = new Phi4Theory({ latticeShape: shape, m2, lam });
const rssMb = () => process.memoryUsage().rss / 2 ** 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * At least `warmup` calls and at least `warmupSeconds` before timing (the same rule as
 * bench/torch_reference.py): V8 tiers a worker's code up separately, and the first dozen
 * threaded steps run at 2–6× the steady-state time.
 */
function timed(fn: () => void): { times: number[]; cpuTimes: number[]; rssAfterWarmup: number } {
  const w0 = performance.now();
  for (let i = 0; i < warmup || performance.now() - w0 < warmupSeconds * 1e3; i++) fn();
  const rssAfterWarmup = rssMb();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1e3);
  }
  return { times, cpuTimes, rssAfterWarmup };
}

const out: Record<string, unknown> = {
  workload,
  flow: flowKind,
  dtype,
  threads,
  L,
  hidden,
  layers,
  kernel,
  batch,
  repeats,
  warmup,
  warmup_seconds: warmupSeconds,
  node: process.version,
  loadavg_start: loadavg(),
};

function makeTrainer() {
  const spec: ModelSpec = {
    theory: { kind: "phi4", latticeShape: shape, m2, lam },
    flow:
      flowKind === "realnvp-mlp"
        ? { kind: "realnvp-mlp", layers, hidden, partition, identityInit: false }
        : { kind: "affine-cnn", layers, hidden, kernel, identityInit: false },
    dtype,
  };
  if (threads > 1) {
    const tr = createParallelTrainer({
      spec,
      optimizer: adam({ lr: 1e-3 }),
      batch,
      threads,
      spawn: nodeSpawn,
    });
    const st = tr.init(new Rng(seed));
    return { tr, st, sample: (r: Rng, k: number) => tr.sample(st.params, r, k) };
  }
  const { flow } = buildModel(spec);
  const tr = createTrainer({ flow, theory, optimizer: adam({ lr: 1e-3 }), batch, dtype });
  const st = tr.init(new Rng(seed));
  return { tr, st, sample: (r: Rng, k: number) => flow.sample(st.params, r, k, dtype) };
}

if (workload === "train") {
  const { tr, st } = makeTrainer();
  const { times, cpuTimes, rssAfterWarmup } = timed(() => tr.step(st));
  Object.assign(out, {
    median_ms: median(times),
    times_ms: times,
    // CPU time of the whole process (all its threads): a check on wall times taken under load.
    cpu_median_ms: median(cpuTimes),
    rss_after_warmup_mb: rssAfterWarmup,
  });
} else if (workload === "sample") {
  const { sample } = makeTrainer();
  const rng = new Rng(seed + 1);
  const { times, rssAfterWarmup } = timed(() => {
    const { x, logq } = sample(rng, n);
    const s = theory.action(x.data, n);
    if (!Number.isFinite(s[0]! + logq.data[0]!)) throw new Error("non-finite sample");
  });
  Object.assign(out, { n, median_ms: median(times), times_ms: times, rss_after_warmup_mb: rssAfterWarmup });
} else if (workload === "hmc") {
  const block = 20;
  const rng = new Rng(seed);
  let phi = new Float64Array(theory.size);
  rng.normal(phi);
  let acc = 0;
  let tot = 0;
  const run = () => {
    const r = hmcChain(
      theory,
      { nTherm: 0, n: block, nLeapfrog: leapfrog, trajectoryLength: leapfrog * eps, initial: phi },
      rng,
    );
    phi = r.configs.slice((block - 1) * theory.size);
    acc += r.acceptance * block;
    tot += block;
  };
  const { times, rssAfterWarmup } = timed(run);
  Object.assign(out, {
    trajectories_per_s: median(times.map((t) => (block * 1e3) / t)),
    acceptance: acc / tot,
    block,
    leapfrog,
    eps,
    times_ms: times,
    rss_after_warmup_mb: rssAfterWarmup,
  });
} else if (workload === "ess") {
  const { tr, st } = makeTrainer();
  const history: number[] = [];
  const times: number[] = [];
  const t0 = performance.now();
  let seconds: number | null = null;
  let steps: number | null = null;
  const window = 100;
  while ((performance.now() - t0) / 1e3 < maxSeconds) {
    const s0 = performance.now();
    const m = tr.step(st);
    times.push(performance.now() - s0);
    history.push(m.ess);
    const recent = history.slice(-window);
    const ma = recent.reduce((a, b) => a + b, 0) / recent.length;
    if (history.length % 100 === 0)
      process.stderr.write(
        `step ${history.length}  ess_ma ${ma.toFixed(4)}  ${((performance.now() - t0) / 1e3).toFixed(1)}s\n`,
      );
    if (history.length >= window && ma >= targetEss) {
      seconds = (performance.now() - t0) / 1e3;
      steps = history.length;
      break;
    }
  }
  const recent = history.slice(-window);
  Object.assign(out, {
    seconds_to_target: seconds,
    steps_to_target: steps,
    target_ess: targetEss,
    steps: history.length,
    elapsed_s: (performance.now() - t0) / 1e3,
    final_ess_ma: recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length),
    median_step_ms: median(times),
  });
} else {
  throw new Error(`unknown workload ${workload}`);
}
out.loadavg_end = loadavg();
out.peak_rss_mb = process.resourceUsage().maxRSS / 1024;
out.rss_end_mb = rssMb();
process.stdout.write(`${JSON.stringify(out)}\n`);
