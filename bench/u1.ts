/**
 * The U(1) tutorial's training step and sampling pass (arXiv 2101.08176; the preset u1-tutorial:
 * src/flows/u1-flow.ts on src/theories/u1.ts) in their own process, with the command line and the
 * one-line JSON output of their PyTorch reference bench/torch_u1.py (progress on stderr):
 *
 *   node dist/bench/u1.js --workload train|sample [--L 8] [--beta 2] [--layers 16] [--hidden 8,8]
 *     [--kernel 3] [--components 2] [--batch 64] [--n 4096] [--dtype float64] [--threads 1]
 *     [--repeats 10] [--warmup 3] [--warmup-seconds 3] [--seed 0]
 *   node dist/bench/u1.js --dump /tmp/u1-check.safetensors [--batch 64] [--dtype float64]
 *
 * train: one step = z ~ U[0, 2π) [B, 2, L, L] → x, log q → loss = mean(log q + S) → gradient →
 * Adam(lr 10⁻³); createTrainer at 1 thread, createParallelTrainer (src/parallel) at more.
 * sample: one pass = n prior draws → x, log q (no tape) → Wilson action; flow.sample at 1 thread,
 * the parallel sampler at more. Defaults are the tutorial's: 16 gauge-equivariant layers, NCP
 * with 2 components, conditioner CNN 2 → 8 → 8 → 3 (3×3, circular, LeakyReLU), batch 64, β = 2.
 *
 * Flops (convolutions only; `convFlops`): per configuration and forward pass
 *   layers · V · Σ_j 2 · C_j · C_{j+1} · k²   (C = 2, hidden…, components + 1),
 * so 1.92 MFLOP at the defaults; a training step is 3 × forward × B (forward, input gradient,
 * weight gradient; the first layer's input gradient is not needed and still counted), a
 * sampling pass forward × n. cos/sin, LeakyReLU, the NCP maps, gathers, the action and Adam are
 * not counted. The GFLOP/s are set against the WebAssembly SIMD ceiling measured in this
 * process the way bench/gemm.ts does (bench/mera.ts's simdCeiling), times the thread count.
 *
 * --dump FILE (the equivalence check with bench/torch_u1.py --check FILE): the model's initial
 * parameters, one batch of prior draws z, and the loss, log q, log p̃ = −S, x and the gradient
 * of every parameter, as a safetensors file.
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { nodeSpawn } from "../src/cli/threads.js";
import { type DType, type Params, valueAndGradWithAux } from "../src/engine/index.js";
import { gemmKernels, PEAK_CHAINS } from "../src/engine/wasm/simd-gemm.js";
import { alloc, free } from "../src/engine/wasm/simd-heap.js";
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

const dump = arg("dump", "");
const workload = arg("workload", "train");
const L = Number(arg("L", "8"));
const beta = Number(arg("beta", "2"));
const layers = Number(arg("layers", "16"));
const hidden = arg("hidden", "8,8")
  .split(",")
  .filter((s) => s.trim())
  .map(Number);
const kernel = Number(arg("kernel", "3"));
const components = Number(arg("components", "2"));
const batch = Number(arg("batch", "64"));
const n = Number(arg("n", "4096"));
const dtype = arg("dtype", "float64") as DType;
const threads = Number(arg("threads", "1"));
const repeats = Number(arg("repeats", "10"));
const warmup = Number(arg("warmup", "3"));
const warmupSeconds = Number(arg("warmup-seconds", "3"));
const seed = Number(arg("seed", "0"));

const spec: ModelSpec = {
  theory: { kind: "u1", latticeShape: [L, L], beta },
  flow: { kind: "ncp", layers, hidden: [...hidden], kernel, components },
  dtype,
};

/** Convolution flops of one forward pass of one configuration (see the file comment). */
export function convFlops(): number {
  const sizes = [2, ...hidden, components + 1];
  let per = 0;
  for (let j = 0; j + 1 < sizes.length; j++) per += 2 * sizes[j]! * sizes[j + 1]! * kernel * kernel;
  return layers * L * L * per;
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
  const params: Params = flow.initParams(new Rng(seed), dtype);
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
  const metadata = {
    L0: String(L),
    L1: String(L),
    beta: String(beta),
    layers: String(layers),
    hidden: hidden.join(","),
    kernel: String(kernel),
    components: String(components),
    dtype,
  };
  writeFileSync(path, encodeSafetensors(tensors, metadata));
  process.stdout.write(
    `${JSON.stringify({ dump: path, loss: value, batch, dtype, params: Object.keys(params).length })}\n`,
  );
}

function bench(): void {
  const out: Record<string, unknown> = {
    workload: `u1-${workload}`,
    dtype,
    threads,
    L,
    beta,
    layers,
    hidden,
    kernel,
    components,
    batch,
    n: workload === "sample" ? n : null,
    seed,
    repeats,
    warmup,
    warmup_seconds: warmupSeconds,
    node: process.version,
    loadavg_start: loadavg(),
  };
  const { flow, theory } = buildModel(spec);
  let work: () => number;
  let close = () => {};
  if (workload === "train") {
    const optimizer = adam({ lr: 1e-3 });
    if (threads > 1) {
      const tr = createParallelTrainer({ spec, optimizer, batch, threads, spawn: nodeSpawn });
      const st = tr.init(new Rng(seed));
      work = () => tr.step(st).loss;
      close = () => tr.close();
    } else {
      const tr = createTrainer({ flow, theory, optimizer, batch, dtype });
      const st = tr.init(new Rng(seed));
      work = () => tr.step(st).loss;
    }
  } else if (workload === "sample") {
    const rng = new Rng(seed + 1);
    let draw: () => ReturnType<typeof flow.sample>;
    if (threads > 1) {
      const tr = createParallelTrainer({
        spec,
        optimizer: adam({ lr: 1e-3 }),
        batch,
        threads,
        spawn: nodeSpawn,
      });
      const st = tr.init(new Rng(seed));
      draw = () => tr.sample(st.params, rng, n);
      close = () => tr.close();
    } else {
      const params = flow.initParams(new Rng(seed), dtype);
      draw = () => flow.sample(params, rng, n, dtype);
    }
    work = () => {
      const { x, logq } = draw();
      const s = theory.action(x.data, n);
      const v = s[0]! + logq.data[0]!;
      if (!Number.isFinite(v)) throw new Error("non-finite sample");
      return v;
    };
  } else {
    throw new Error(`unknown workload ${workload}`);
  }
  // At least `warmup` calls and `warmupSeconds` (bench/workload.ts's rule).
  const w0 = performance.now();
  let last = Number.NaN;
  for (let i = 0; i < warmup || performance.now() - w0 < warmupSeconds * 1e3; i++) last = work();
  const rssAfterWarmup = rssMb();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    last = work();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1e3);
  }
  close();
  const med = median(times);
  const flops = workload === "train" ? 3 * batch * convFlops() : n * convFlops();
  const ceiling = simdCeiling(dtype);
  const gflops = flops / (med * 1e6);
  Object.assign(out, {
    median_ms: med,
    times_ms: times,
    cpu_median_ms: median(cpuTimes),
    last_value: last,
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
