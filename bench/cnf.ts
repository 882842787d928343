/**
 * The equivariant continuous flow's training step (arXiv 2207.00283; `--flow cnf`:
 * src/flows/continuous-flow.ts on φ⁴, src/theories/phi4.ts) in its own process, with the
 * command line and the one-line JSON output of its PyTorch reference bench/torch_cnf.py
 * (progress on stderr):
 *
 *   node dist/bench/cnf.js [--L 8] [--ode-steps 20] [--batch 64] [--frequencies 49]
 *     [--time-frequencies 10] [--hidden 20,20] [--dtype float64] [--threads 1] [--repeats 5]
 *     [--warmup 2] [--warmup-seconds 3] [--seed 0] [--ops-repeats 3] [--convolution fft]
 *   node dist/bench/cnf.js --dump /tmp/cnf-check.safetensors [--L 6] [--batch 8] [--ode-steps 4]
 *
 * One step = z ~ N(0, 1) [B, L, L] → x, log q → loss = mean(log q + S) → gradient → Adam(lr
 * 10⁻³); φ⁴ at m² = −4, λ = 8; the reference code's Phi4CNF defaults (49 frequencies, 10 time
 * frequencies, bonds 20,20). createTrainer at 1 thread, createParallelTrainer at more.
 *
 * At one thread the same process also times the op path (`fused: false`, every RK4 stage as
 * ordinary ops on the tape: what the flow did before the fused step), alternating with the
 * fused path step by step, so their ratio is measured under the same load: `ops_median_ms`,
 * `fused_over_ops` (`--ops-repeats 0` skips it).
 *
 * Flops (`stepFlops`): the feature contraction's matrix products, which any implementation
 * does: per vector-field evaluation h = T Aᵀ forward and ḡh·A, ḡhᵀ·T backward, 3 × 2·B·V·(K+1)·F,
 * times 4 evaluations per RK4 step. Not counted: the convolution (FFT or dense), the sines,
 * the divergence, the action, Adam (and our backward's recomputation of h). GFLOP/s are set
 * against the WebAssembly SIMD ceiling (bench/mera.ts's measurement) times the thread count.
 *
 * --dump FILE (the equivalence check with bench/torch_cnf.py --check FILE): parameters moved
 * off the identity (w ≠ 0), one batch of prior draws z, and the loss, log q, log p̃ = −S, x and
 * every parameter's gradient, as a safetensors file.
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { nodeSpawn } from "../src/cli/threads.js";
import { type DType, type Params, valueAndGradWithAux } from "../src/engine/index.js";
import { gemmKernels, PEAK_CHAINS } from "../src/engine/wasm/simd-gemm.js";
import { alloc, free } from "../src/engine/wasm/simd-heap.js";
import { continuousFlow } from "../src/flows/continuous-flow.js";
import { encodeSafetensors, type SafetensorsTensor } from "../src/io/safetensors.js";
import type { ModelSpec } from "../src/model/index.js";
import { createParallelTrainer } from "../src/parallel/shard.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { adam } from "../src/train/adam.js";
import { reverseKl } from "../src/train/reverse-kl.js";
import { createTrainer } from "../src/train/trainer.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

const dump = arg("dump", "");
const L = Number(arg("L", dump ? "6" : "8"));
const odeSteps = Number(arg("ode-steps", dump ? "4" : "20"));
const batch = Number(arg("batch", dump ? "8" : "64"));
const K = Number(arg("frequencies", "49"));
const J = Number(arg("time-frequencies", "10"));
const [F, Tb] = arg("hidden", "20,20").split(",").map(Number) as [number, number];
const dtype = arg("dtype", "float64") as DType;
const threads = Number(arg("threads", "1"));
const repeats = Number(arg("repeats", "5"));
const opsRepeats = threads === 1 ? Number(arg("ops-repeats", "3")) : 0;
const warmup = Number(arg("warmup", "2"));
const warmupSeconds = Number(arg("warmup-seconds", "3"));
const seed = Number(arg("seed", "0"));
const convolution = arg("convolution", "fft") as "dense" | "fft";
const [m2, lam] = [-4, 8];

const shape = [L, L];
const theory = new Phi4Theory({ latticeShape: shape, m2, lam });
const config = (fused: boolean) => ({
  latticeShape: shape,
  steps: odeSteps,
  frequencies: K,
  timeFrequencies: J,
  featureBond: F,
  timeBond: Tb,
  fused,
  convolution,
});
const spec: ModelSpec = {
  theory: { kind: "phi4", latticeShape: shape, m2, lam },
  flow: { kind: "cnf", odeSteps, frequencies: K, timeFrequencies: J, hidden: [F, Tb] },
  dtype,
};

/** Matrix-product flops of one training step (the file comment). */
export function stepFlops(b: number, v: number, steps: number, k: number, f: number): number {
  return steps * 4 * 3 * 2 * b * v * (k + 1) * f;
}

/** The WebAssembly SIMD ceiling of one thread, GFLOP/s (bench/gemm.ts's measurement). */
function simdCeiling(dt: DType): number {
  const k = gemmKernels(dt);
  if (!k) return Number.NaN;
  const o = alloc(16 * PEAK_CHAINS);
  const iters = 1_000_000;
  const cpuMs = () => process.cpuUsage().user / 1e3;
  const run = (reps: number) => {
    const t0 = cpuMs();
    for (let i = 0; i < reps; i++) k.peak(iters, o, 0, 0, 0, 0, 0, 0, 0, 0);
    return cpuMs() - t0;
  };
  run(1);
  let reps = 1;
  while (run(reps) < 20) reps *= 2;
  let best = Infinity;
  for (let r = 0; r < 7; r++) best = Math.min(best, run(reps) / reps);
  free(o);
  const lanes = dt === "float32" ? 4 : 2;
  return (2 * lanes * PEAK_CHAINS * iters) / (best * 1e6);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const rssMb = () => process.memoryUsage().rss / 2 ** 20;

function dumpCheck(path: string): void {
  const flow = continuousFlow(config(true));
  const rng = new Rng(seed);
  const params: Params = flow.initParams(rng, dtype);
  // Off the identity: w ~ U(−0.5, 0.5) (it starts at 0).
  const w = params["0.w"]!;
  for (let i = 0; i < w.size; i++) w.data[i] = rng.uniform() - 0.5;
  const z = flow.prior.sample(new Rng(seed + 1), batch, dtype);
  const f = valueAndGradWithAux((p: Params, zz: typeof z) => {
    const r = reverseKl(flow, theory)(p, zz);
    return { loss: r.loss, aux: r.aux };
  });
  const { value, aux, grads } = f(params, z);
  const x = flow.forwardWithLogProb(params, z).x;
  const st = dtype === "float32" ? "F32" : "F64";
  const t = (data: Float32Array | Float64Array, s: readonly number[]): SafetensorsTensor => ({
    dtype: st,
    shape: [...s],
    data,
  });
  const tensors: Record<string, SafetensorsTensor> = {
    z: t(z.data, z.shape),
    x: t(x.data, x.shape),
    logq: t(aux.logq.data, aux.logq.shape),
    logp: t(aux.logp.data, aux.logp.shape),
    loss: { dtype: "F64", shape: [1], data: Float64Array.of(value) },
  };
  for (const [name, p] of Object.entries(params)) tensors[`param/${name}`] = t(p.data, p.shape);
  for (const [name, g] of Object.entries(grads)) tensors[`grad/${name}`] = t(g.data, g.shape);
  const meta = { L: String(L), steps: String(odeSteps), m2: String(m2), lam: String(lam), dtype };
  writeFileSync(path, encodeSafetensors(tensors, meta));
  process.stdout.write(`${JSON.stringify({ dump: path, loss: value, batch, dtype })}\n`);
}

/** One training step of a fresh trainer, as a function; and how to close it. */
function trainer(fused: boolean): { step: () => number; close: () => void } {
  const optimizer = adam({ lr: 1e-3 });
  if (threads > 1) {
    const tr = createParallelTrainer({ spec, optimizer, batch, threads, spawn: nodeSpawn });
    const st = tr.init(new Rng(seed));
    return { step: () => tr.step(st).loss, close: () => tr.close() };
  }
  const tr = createTrainer({ flow: continuousFlow(config(fused)), theory, optimizer, batch, dtype });
  const st = tr.init(new Rng(seed));
  return { step: () => tr.step(st).loss, close: () => {} };
}

function timeStep(step: () => number): { ms: number; cpu: number; loss: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const loss = step();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpu: (c.user + c.system) / 1e3, loss };
}

function bench(): void {
  const out: Record<string, unknown> = {
    workload: "cnf-train",
    dtype,
    threads,
    L,
    ode_steps: odeSteps,
    batch,
    frequencies: K,
    time_frequencies: J,
    hidden: [F, Tb],
    convolution,
    seed,
    repeats,
    warmup,
    node: process.version,
    loadavg_start: loadavg(),
  };
  const fused = trainer(true);
  const ops = opsRepeats > 0 ? trainer(false) : null;
  // At least `warmup` steps and `warmupSeconds` (bench/workload.ts's rule), fused path only.
  const w0 = performance.now();
  let loss = Number.NaN;
  for (let i = 0; i < warmup || performance.now() - w0 < warmupSeconds * 1e3; i++) loss = fused.step();
  if (ops) ops.step();
  const rssAfterWarmup = rssMb();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const opsTimes: number[] = [];
  const opsCpu: number[] = [];
  for (let i = 0; i < Math.max(repeats, opsRepeats); i++) {
    if (i < repeats) {
      const r = timeStep(fused.step);
      times.push(r.ms);
      cpuTimes.push(r.cpu);
      loss = r.loss;
    }
    if (ops && i < opsRepeats) {
      const r = timeStep(ops.step);
      opsTimes.push(r.ms);
      opsCpu.push(r.cpu);
    }
    process.stderr.write(".");
  }
  process.stderr.write("\n");
  fused.close();
  const med = median(times);
  const flops = stepFlops(batch, L * L, odeSteps, K, F);
  const ceiling = simdCeiling(dtype);
  const gflops = flops / (med * 1e6);
  Object.assign(out, {
    median_ms: med,
    times_ms: times,
    cpu_median_ms: median(cpuTimes),
    ops_median_ms: opsTimes.length ? median(opsTimes) : null,
    ops_cpu_median_ms: opsCpu.length ? median(opsCpu) : null,
    fused_over_ops: opsCpu.length ? median(cpuTimes) / median(opsCpu) : null,
    last_loss: loss,
    flops_per_step: flops,
    gflops,
    ceiling_gflops_per_thread: ceiling,
    fraction_of_ceiling: gflops / (ceiling * threads),
    rss_after_warmup_mb: rssAfterWarmup,
    loadavg_end: loadavg(),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    rss_end_mb: rssMb(),
  });
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (dump) dumpCheck(dump);
else bench();
