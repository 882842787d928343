/**
 * The MERA training step (NeuralRG, arXiv 1802.02840: src/flows/mera.ts on the relaxed Ising
 * model, src/theories/ising.ts) in its own process, with the command line and the one-line JSON
 * output of its PyTorch reference bench/torch_mera.py (progress on stderr):
 *
 *   node dist/bench/mera.js [--L 8] [--ndis 2] [--layers 8] [--hidden 64] [--batch 1024]
 *     [--dtype float32] [--threads 1] [--repeats 10] [--warmup 3] [--warmup-seconds 3] [--seed 0]
 *     [--fused 1]
 *   node dist/bench/mera.js --dump /tmp/mera-check.safetensors [--L 8] [--batch 16] [--dtype float64]
 *
 * One step = z ~ N(0, 1) [B, L, L] → x, log q → loss = mean(log q + S) → gradient → Adam(lr 10⁻³):
 * createTrainer at 1 thread, createParallelTrainer (src/parallel) at more. Defaults are NeuralRG's
 * (and the presets ising-mera-l8 / -l16): ndis 2, 8 couplings per block, hidden 64, batch 1024,
 * T = T_c, periodic.
 *
 * Flops (matrix products only; `stepFlops`): every coupling runs two nets Linear(2→H)–ELU–
 * Linear(H→2) on the gathered frozen pair (neuralrg-block.ts), so with n_b blocks per
 * configuration summed over the layers (Σ_k (ndis+1)(L/2^{k+1})²: 63 at L = 8, 255 at L = 16)
 *
 *   forward = n_b · B · nlayers · 2 nets · 2 flop · (2·H + H·2),   step = 3 · forward
 *
 * (forward, input gradient and weight gradient products are the same size). Biases, ELU, tanh,
 * exp, gathers and the action are not counted. The GFLOP/s are set against the WebAssembly SIMD
 * ceiling measured in this process the way bench/gemm.ts does (12 independent f32x4 / f64x2
 * multiply + add chains, CPU time, best of 7), times the thread count.
 *
 * --fused 0 (one thread): every NeuralRgBlock takes its op path instead of the fused block op
 * (src/engine/fused/neuralrg-block.ts, the default), to compare the two in one build.
 *
 * --dump FILE (the equivalence check with bench/torch_mera.py --check FILE): the model's initial
 * parameters (with every s-net `scale`, zero at initialisation, set to U(−0.5, 0.5) so that the
 * s-nets take part), one batch of prior draws z, and the loss, log q, log p̃ = −S, x and the
 * gradient of every parameter, as a safetensors file.
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { nodeSpawn } from "../src/cli/threads.js";
import { type DType, type Params, valueAndGradWithAux } from "../src/engine/index.js";
import { gemmKernels, PEAK_CHAINS } from "../src/engine/wasm/simd-gemm.js";
import { alloc, free } from "../src/engine/wasm/simd-heap.js";
import type { HierarchicalFlow } from "../src/flows/mera.js";
import { NeuralRgBlock } from "../src/flows/neuralrg-block.js";
import { encodeSafetensors, type SafetensorsTensor } from "../src/io/safetensors.js";
import { buildModel, type ModelSpec } from "../src/model/index.js";
import { createParallelTrainer } from "../src/parallel/shard.js";
import { Rng } from "../src/rng/philox.js";
import { adam } from "../src/train/adam.js";
import { reverseKl } from "../src/train/reverse-kl.js";
import { createTrainer } from "../src/train/trainer.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

const ISING_TC = 2.269185314213022;
const dump = arg("dump", "");
const L = Number(arg("L", "8"));
const ndis = Number(arg("ndis", "2"));
const nlayers = Number(arg("layers", "8"));
const hidden = Number(arg("hidden", "64"));
const batch = Number(arg("batch", dump ? "16" : "1024"));
const dtype = arg("dtype", dump ? "float64" : "float32") as DType;
const threads = Number(arg("threads", "1"));
const repeats = Number(arg("repeats", "10"));
const warmup = Number(arg("warmup", "3"));
const warmupSeconds = Number(arg("warmup-seconds", "3"));
const seed = Number(arg("seed", "0"));
const T = Number(arg("T", String(ISING_TC)));
const fused = arg("fused", "1") !== "0";

const spec: ModelSpec = {
  theory: { kind: "ising", latticeShape: [L, L], T, boundary: "periodic" },
  flow: { kind: "mera", layers: nlayers, hidden: [hidden], ndis, identityInit: false },
  dtype,
};

/** Matrix-product flops of one training step (see the file comment). */
export function stepFlops(flow: HierarchicalFlow, b: number, layers: number, h: number): number {
  let blocks = 0;
  for (const l of flow.blockLayers) blocks += l.nBlocks;
  return 3 * blocks * b * layers * 2 * 2 * (2 * h + h * 2);
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
  const { flow, theory } = buildModel(spec);
  const rng = new Rng(seed);
  const params: Params = flow.initParams(rng, dtype);
  for (const [name, p] of Object.entries(params))
    if (name.endsWith(".s.scale")) for (let i = 0; i < p.size; i++) p.data[i] = rng.uniform() - 0.5;
  const z = flow.prior.sample(new Rng(seed + 1), batch, dtype);
  const f = valueAndGradWithAux((p: Params, zz: typeof z) => {
    const r = reverseKl(flow, theory)(p, zz);
    return { loss: r.loss, aux: r.aux };
  });
  const { value, aux, grads } = f(params, z);
  const x = flow.forwardWithLogProb(params, z).x;
  const st = dtype === "float32" ? "F32" : "F64";
  const t = (data: Float32Array | Float64Array, shape: readonly number[]): SafetensorsTensor => ({
    dtype: st,
    shape: [...shape],
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
  const metadata = { L: String(L), ndis: String(ndis), nlayers: String(nlayers), hidden: String(hidden) };
  writeFileSync(path, encodeSafetensors(tensors, { ...metadata, T: String(T), dtype }));
  process.stdout.write(
    `${JSON.stringify({ dump: path, loss: value, batch, dtype, params: Object.keys(params).length })}\n`,
  );
}

function bench(): void {
  const out: Record<string, unknown> = {
    workload: "mera-train",
    dtype,
    threads,
    L,
    ndis,
    layers: nlayers,
    hidden,
    batch,
    T,
    seed,
    fused,
    repeats,
    warmup,
    warmup_seconds: warmupSeconds,
    node: process.version,
    loadavg_start: loadavg(),
  };
  const optimizer = adam({ lr: 1e-3 });
  let step: () => number;
  let close = () => {};
  const { flow, theory } = buildModel(spec);
  if (!fused) {
    if (threads > 1) throw new Error("--fused 0 needs --threads 1");
    for (const l of (flow as HierarchicalFlow).blockLayers)
      if (l.inner instanceof NeuralRgBlock) l.inner.fused = false;
  }
  if (threads > 1) {
    const tr = createParallelTrainer({ spec, optimizer, batch, threads, spawn: nodeSpawn });
    const st = tr.init(new Rng(seed));
    step = () => tr.step(st).loss;
    close = () => tr.close();
  } else {
    const tr = createTrainer({ flow, theory, optimizer, batch, dtype });
    const st = tr.init(new Rng(seed));
    step = () => tr.step(st).loss;
  }
  // At least `warmup` steps and `warmupSeconds` (bench/workload.ts's rule).
  const w0 = performance.now();
  let loss = Number.NaN;
  for (let i = 0; i < warmup || performance.now() - w0 < warmupSeconds * 1e3; i++) loss = step();
  const rssAfterWarmup = rssMb();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    loss = step();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1e3);
  }
  close();
  const med = median(times);
  const flops = stepFlops(flow as HierarchicalFlow, batch, nlayers, hidden);
  const ceiling = simdCeiling(dtype);
  const gflops = flops / (med * 1e6);
  Object.assign(out, {
    median_ms: med,
    times_ms: times,
    cpu_median_ms: median(cpuTimes),
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
