/**
 * Data-parallel training and sampling on all cores: the batch is split into contiguous
 * shards, one per thread; the calling thread computes shard 0 and worker threads the rest,
 * sharing parameters, prior draws and results through SharedArrayBuffers. Workers are told
 * to start by a message and report completion through Atomics (the caller blocks in
 * Atomics.wait, so `step` stays synchronous).
 *
 * Determinism: every sample's forward pass is computed by the same code whatever thread
 * runs it, so per-sample log q and log p, and hence the loss, are bit-identical to the
 * single-threaded trainer's; the gradient is the sum of the shards' gradients, added in
 * shard order, so it differs from the single-threaded one only by rounding and is
 * identical run to run for the same thread count.
 *
 * Liveness: a worker marks its slot of a shared status array ready when it has its model,
 * and dead when it exits (the backend calls the handler's `exiting`, e.g. from Node's
 * process 'exit', which also fires on an uncaught error). The blocked caller sees either
 * at its next wake-up and throws `WorkerError` instead of waiting forever; a worker that
 * never starts (its script fails to load) is reported after `startTimeoutMs`.
 *
 * This module is environment-neutral: it talks to workers through `WorkerPort` and a
 * `Spawn` function. Node's worker_threads backend is src/cli/threads.ts (with the worker
 * entry src/cli/thread-worker.ts); a browser backend wraps Web Workers the same way (they
 * need cross-origin isolation for SharedArrayBuffer). Workers rebuild the model from its
 * description (src/model), so any theory and flow the description covers runs here; this
 * module names none of them.
 */
import {
  type DType,
  type FloatArray,
  type Grads,
  mean,
  type Params,
  sub,
  Tensor,
  valueAndGradWithAux,
} from "../engine/index.js";
import { buildModel, type Model, type ModelSpec } from "../model/index.js";
import type { Rng } from "../rng/philox.js";
import type { Optimizer } from "../train/adam.js";
import { GRADIENT_ESTIMATORS, type GradientEstimatorName } from "../train/gradient-estimator.js";
import { finishStep, type StepMetrics, stepBatch, type TrainState } from "../train/trainer.js";

export type { ModelSpec };

export interface WorkerPort {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

/** Start one worker running the message handler of `createWorkerHandler`. */
export type Spawn = () => WorkerPort;

interface InitMessage {
  type: "init";
  spec: ModelSpec;
  gradientEstimator: GradientEstimatorName;
  names: string[];
  shapes: number[][];
  /** Int32 worker states, one per slot (see `WorkerState`). */
  status: SharedArrayBuffer;
  /** The completion flags of `JobMessage`, notified when this worker dies. */
  ctrl: SharedArrayBuffer;
  slot: number;
}

/** The values of a slot of the shared status array. */
const WorkerState = { Starting: 0, Ready: 1, Dead: 2 } as const;

/** A worker thread failed or died; the computation cannot go on (rerun with one thread). */
export class WorkerError extends Error {
  override name = "WorkerError";
}

interface JobMessage {
  type: "grad" | "forward";
  gen: number;
  /** Flat parameters in `names` order. */
  params: SharedArrayBuffer;
  /** Prior draws of the whole batch [batch, V]. */
  z: SharedArrayBuffer;
  start: number;
  count: number;
  batch: number;
  /** This worker's results: grad: grads, logq, logp; forward: x, logq. */
  out: SharedArrayBuffer;
  /** Int32 completion flags, one per worker: set to gen when done, −gen on failure. */
  ctrl: SharedArrayBuffer;
  slot: number;
}

function view(dtype: DType, sab: SharedArrayBuffer, offset: number, length: number): FloatArray {
  const bytes = dtype === "float32" ? 4 : 8;
  return dtype === "float32"
    ? new Float32Array(sab, offset * bytes, length)
    : new Float64Array(sab, offset * bytes, length);
}

function sharedArray(dtype: DType, length: number): { sab: SharedArrayBuffer; data: FloatArray } {
  const sab = new SharedArrayBuffer(Math.max(1, length) * (dtype === "float32" ? 4 : 8));
  return { sab, data: view(dtype, sab, 0, length) };
}

/** The per-shard computations, identical on the calling thread and in workers. */
export class ShardRunner {
  readonly flow: Model["flow"];
  readonly theory: Model["theory"];
  private readonly lossAndGrad;

  constructor(
    readonly spec: ModelSpec,
    estimator: GradientEstimatorName = "reparameterization",
  ) {
    const model = buildModel(spec);
    this.flow = model.flow;
    this.theory = model.theory;
    this.lossAndGrad = valueAndGradWithAux(GRADIENT_ESTIMATORS[estimator](this.flow, this.theory));
  }

  grad(
    params: Params,
    z: Tensor,
    batch: number,
  ): { grads: Grads<Params>; logq: FloatArray; logp: FloatArray } {
    const { aux, grads } = this.lossAndGrad(params, z, batch);
    return { grads, logq: aux.logq.data, logp: aux.logp.data };
  }

  forward(params: Params, z: Tensor): { x: FloatArray; logq: FloatArray } {
    const { x, logq } = this.flow.forwardWithLogProb(params, z);
    return { x: x.data, logq: logq.data };
  }
}

export interface WorkerHandler {
  /** Handle one message from the caller. */
  onMessage(message: unknown): void;
  /** The worker is exiting (call it from the environment's exit hook): wakes the caller. */
  exiting(): void;
}

/** The message handler a worker runs (src/cli/thread-worker.ts installs it). */
export function createWorkerHandler(): WorkerHandler {
  let runner: ShardRunner | null = null;
  let names: string[] = [];
  let shapes: number[][] = [];
  let home: { status: Int32Array; ctrl: Int32Array; slot: number } | null = null;
  const exiting = () => {
    if (!home) return;
    Atomics.store(home.status, home.slot, WorkerState.Dead);
    Atomics.notify(home.status, home.slot);
    Atomics.notify(home.ctrl, home.slot);
  };
  const onMessage = (message: unknown) => {
    const m = message as InitMessage | JobMessage;
    if (m.type === "init") {
      runner = new ShardRunner(m.spec, m.gradientEstimator);
      names = m.names;
      shapes = m.shapes;
      home = { status: new Int32Array(m.status), ctrl: new Int32Array(m.ctrl), slot: m.slot };
      Atomics.store(home.status, m.slot, WorkerState.Ready);
      Atomics.notify(home.status, m.slot);
      return;
    }
    const ctrl = new Int32Array(m.ctrl);
    try {
      if (!runner) throw new Error("worker used before init");
      const dtype = runner.spec.dtype;
      const v = runner.theory.size;
      const params: Params = {};
      let off = 0;
      for (let k = 0; k < names.length; k++) {
        const shape = shapes[k]!;
        const size = shape.reduce((a, b) => a * b, 1);
        params[names[k]!] = new Tensor(view(dtype, m.params, off, size), shape);
        off += size;
      }
      const zData = view(dtype, m.z, m.start * v, m.count * v).slice();
      const z = new Tensor(zData, [m.count, ...runner.theory.configShape]);
      if (m.type === "grad") {
        const r = runner.grad(params, z, m.batch);
        let o = 0;
        for (const name of names) {
          const g = r.grads[name]!.data;
          view(dtype, m.out, o, g.length).set(g);
          o += g.length;
        }
        view(dtype, m.out, o, m.count).set(r.logq);
        view(dtype, m.out, o + m.count, m.count).set(r.logp);
      } else {
        const r = runner.forward(params, z);
        view(dtype, m.out, 0, m.count * v).set(r.x);
        view(dtype, m.out, m.count * v, m.count).set(r.logq);
      }
      Atomics.store(ctrl, m.slot, m.gen);
    } catch (e) {
      console.error("latticeflow worker:", e);
      Atomics.store(ctrl, m.slot, -m.gen);
    }
    Atomics.notify(ctrl, m.slot);
  };
  return { onMessage, exiting };
}

/** Atomics.wait, with a message that says what to do where it is not allowed (a browser page). */
function block(a: Int32Array, i: number, v: number, ms: number): void {
  try {
    Atomics.wait(a, i, v, ms);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    throw new WorkerError(
      "threads > 1 block in Atomics.wait, which this thread may not do (a browser page): run the trainer inside a Web Worker, or use threads: 1",
    );
  }
}

/** Contiguous shards of n over t threads (the first ones one larger). */
export function shards(n: number, t: number): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  let start = 0;
  for (let i = 0; i < t; i++) {
    const count = Math.floor(n / t) + (i < n % t ? 1 : 0);
    out.push({ start, count });
    start += count;
  }
  return out;
}

export interface PoolConfig {
  spec: ModelSpec;
  /** Threads including the calling one; 1 runs everything on the calling thread. */
  threads: number;
  spawn?: Spawn;
  /** How long workers may take to load and build the model (default 60 s). */
  startTimeoutMs?: number;
  /** The reverse KL's gradient estimator (src/train/gradient-estimator.ts); default reparameterization. */
  gradientEstimator?: GradientEstimatorName;
}

export interface ParallelConfig extends PoolConfig {
  optimizer: Optimizer;
  batch: number;
  /** The batch of each step from `state.step`, as createTrainer's (batch growth); absent: `batch`. */
  batchAt?: (step: number) => number;
}

/**
 * The model's forward pass and reverse-KL gradient with the batch split over `threads`
 * threads. Call close() to end the workers.
 */
function createShardPool(cfg: PoolConfig) {
  const { spec } = cfg;
  const dtype = spec.dtype;
  const estimator = cfg.gradientEstimator ?? "reparameterization";
  const local = new ShardRunner(spec, estimator);
  const threads = Math.max(1, Math.floor(cfg.threads));
  if (threads > 1 && !cfg.spawn)
    throw new Error("parallel sampler/trainer: threads > 1 needs a spawn function");
  const workers: WorkerPort[] = [];
  const v = local.theory.size;
  let names: string[] = [];
  let sizes: number[] = [];
  let total = 0;
  const ctrlSab = new SharedArrayBuffer(4 * Math.max(1, threads));
  const ctrl = new Int32Array(ctrlSab);
  const statusSab = new SharedArrayBuffer(4 * Math.max(1, threads));
  const status = new Int32Array(statusSab);
  const startTimeoutMs = cfg.startTimeoutMs ?? 60_000;
  const rerun = "rerun with --threads 1 (or threads: 1) to see the error on the main thread";
  let broken: WorkerError | null = null;

  /** End the workers and remember why: a trainer with a dead worker stays unusable. */
  function fail(message: string): never {
    for (const w of workers.splice(0)) w.terminate();
    names = [];
    broken = new WorkerError(message);
    throw broken;
  }
  let gen = 0;
  let paramBuf: { sab: SharedArrayBuffer; data: FloatArray } | null = null;
  const zBufs = new Map<number, { sab: SharedArrayBuffer; data: FloatArray }>();
  const outBufs = new Map<string, { sab: SharedArrayBuffer; data: FloatArray }>();

  /** Spawn the workers and send them the model if `params` is new to them; true if it was. */
  function postInit(params: Params): boolean {
    const ks = Object.keys(params);
    if (ks.length === names.length && ks.every((k, i) => k === names[i])) return false;
    names = ks;
    sizes = ks.map((k) => params[k]!.size);
    total = sizes.reduce((a, b) => a + b, 0);
    paramBuf = sharedArray(dtype, total);
    const shapes = ks.map((k) => [...params[k]!.shape]);
    while (workers.length < threads - 1) workers.push(cfg.spawn!());
    workers.forEach((w, i) => {
      const slot = i + 1;
      Atomics.store(status, slot, WorkerState.Starting);
      w.postMessage({
        type: "init",
        spec,
        gradientEstimator: estimator,
        names,
        shapes,
        status: statusSab,
        ctrl: ctrlSab,
        slot,
      } satisfies InitMessage);
    });
    return true;
  }

  /** Whether every worker is ready; throws if one died or the start timed out. */
  function started(w: number, deadline: number): boolean {
    const s = Atomics.load(status, w);
    if (s === WorkerState.Ready) return true;
    if (s === WorkerState.Dead) fail(`worker thread ${w} exited while starting; ${rerun}`);
    if (performance.now() >= deadline)
      fail(
        `worker thread ${w} did not start within ${startTimeoutMs / 1000} s (its script failed to load?); ${rerun}`,
      );
    return false;
  }

  function setup(params: Params) {
    if (!postInit(params)) return;
    const deadline = performance.now() + startTimeoutMs;
    for (let w = 1; w < threads; w++) {
      while (!started(w, deadline)) block(status, w, WorkerState.Starting, 100);
    }
  }

  function zBuffer(n: number) {
    let b = zBufs.get(n);
    if (!b) zBufs.set(n, (b = sharedArray(dtype, n * v)));
    return b;
  }

  function outBuffer(kind: string, w: number, length: number) {
    const key = `${kind}|${w}|${length}`;
    let b = outBufs.get(key);
    if (!b) outBufs.set(key, (b = sharedArray(dtype, length)));
    return b;
  }

  /** Post shards 1.. to workers, run shard 0 here, wait for all; returns per-worker outputs. */
  function dispatch<R>(
    type: "grad" | "forward",
    params: Params,
    z: Tensor,
    batch: number,
    outLength: (count: number) => number,
    runLocal: (z0: Tensor) => R,
  ): { local: R; parts: { start: number; count: number; out: FloatArray }[] } {
    const n = z.shape[0]!;
    const sh = shards(n, threads);
    if (threads === 1) return { local: runLocal(z), parts: [] };
    if (broken) throw broken;
    setup(params);
    let o = 0;
    for (let k = 0; k < names.length; k++) {
      paramBuf!.data.set(params[names[k]!]!.data, o);
      o += sizes[k]!;
    }
    const zb = zBuffer(n);
    zb.data.set(z.data);
    gen = (gen % 0x3fffffff) + 1;
    const parts: { start: number; count: number; out: FloatArray }[] = [];
    const posted: number[] = [];
    for (let w = 1; w < threads; w++) {
      const { start, count } = sh[w]!;
      if (count === 0) continue; // more threads than samples: nothing to do
      posted.push(w);
      const out = outBuffer(type, w, outLength(count));
      parts.push({ start, count, out: out.data });
      Atomics.store(ctrl, w, 0);
      workers[w - 1]!.postMessage({
        type,
        gen,
        params: paramBuf!.sab,
        z: zb.sab,
        start,
        count,
        batch,
        out: out.sab,
        ctrl: ctrlSab,
        slot: w,
      } satisfies JobMessage);
    }
    const z0 = new Tensor(z.data.slice(0, sh[0]!.count * v), [sh[0]!.count, ...z.shape.slice(1)]);
    const localResult = runLocal(z0);
    for (const w of posted) {
      for (;;) {
        const s = Atomics.load(ctrl, w);
        if (s === gen) break;
        if (s === -gen) fail(`worker thread ${w} failed (its error is printed above); ${rerun}`);
        if (Atomics.load(status, w) === WorkerState.Dead)
          fail(`worker thread ${w} exited during a job; ${rerun}`);
        block(ctrl, w, s, 1000);
      }
    }
    return { local: localResult, parts };
  }

  return {
    flow: local.flow,
    theory: local.theory,
    threads,
    /**
     * Start the workers for these parameters without blocking. Browsers need this before the
     * first step: a Web Worker's script loads through its parent's event loop, which a step
     * blocks in Atomics.wait. Optional in Node.
     */
    async ready(params: Params): Promise<void> {
      if (threads === 1 || !postInit(params)) return;
      const deadline = performance.now() + startTimeoutMs;
      for (let w = 1; w < threads; w++) {
        while (!started(w, deadline)) await new Promise((r) => setTimeout(r, 5));
      }
    },
    /** The batch-mean reverse-KL gradient of prior draws z, with per-sample log q and log p̃. */
    gradient(params: Params, z: Tensor): { grads: Params; logq: Tensor; logp: Tensor } {
      const batch = z.shape[0]!;
      const { local: r0, parts } = dispatch(
        "grad",
        params,
        z,
        batch,
        (count) => total + 2 * count,
        (z0) => local.grad(params, z0, batch),
      );
      const logq = new Tensor(dtype === "float32" ? new Float32Array(batch) : new Float64Array(batch), [
        batch,
      ]);
      const logp = new Tensor(dtype === "float32" ? new Float32Array(batch) : new Float64Array(batch), [
        batch,
      ]);
      logq.data.set(r0.logq, 0);
      logp.data.set(r0.logp, 0);
      const grads: Params = {};
      for (const k of Object.keys(r0.grads)) grads[k] = r0.grads[k]!;
      for (const part of parts) {
        let o = 0;
        for (let k = 0; k < names.length; k++) {
          const g = grads[names[k]!]!.data;
          const src = part.out;
          for (let i = 0; i < g.length; i++) g[i]! += src[o + i];
          o += sizes[k]!;
        }
        logq.data.set(part.out.subarray(total, total + part.count), part.start);
        logp.data.set(part.out.subarray(total + part.count, total + 2 * part.count), part.start);
      }
      return { grads, logq, logp };
    },
    /** Draw n configurations with log q, the prior batch split over the threads. */
    sample(params: Params, rng: Rng, n: number): { x: Tensor; logq: Tensor } {
      const z = local.flow.prior.sample(rng, n, dtype);
      const { local: r0, parts } = dispatch(
        "forward",
        params,
        z,
        n,
        (count) => count * (v + 1),
        (z0) => local.forward(params, z0),
      );
      const x = new Tensor(dtype === "float32" ? new Float32Array(n * v) : new Float64Array(n * v), z.shape);
      const logq = new Tensor(dtype === "float32" ? new Float32Array(n) : new Float64Array(n), [n]);
      x.data.set(r0.x, 0);
      logq.data.set(r0.logq, 0);
      for (const part of parts) {
        x.data.set(part.out.subarray(0, part.count * v), part.start * v);
        logq.data.set(part.out.subarray(part.count * v, part.count * (v + 1)), part.start);
      }
      return { x, logq };
    },
    close(): void {
      for (const w of workers.splice(0)) w.terminate();
    },
  };
}

/** Flow sampling with the batch split over threads: no optimiser, no training state. */
export function createParallelSampler(cfg: PoolConfig) {
  const { gradient: _, ...sampler } = createShardPool(cfg);
  return sampler;
}

/**
 * The trainer of train/trainer.ts (same state, same metrics, same random stream), with the
 * batch split over `threads` threads; also a parallel sampling pass. Call close() to end
 * the workers.
 */
export function createParallelTrainer(cfg: ParallelConfig) {
  const pool = createShardPool(cfg);
  const { optimizer } = cfg;
  const batchOf = stepBatch(cfg.batch, cfg.batchAt);
  const dtype = cfg.spec.dtype;
  return {
    ...pool,
    init(rng: Rng, params?: Params): TrainState {
      const p = params ?? pool.flow.initParams(rng, dtype);
      return { step: 0, params: p, opt: optimizer.init(p), rng, rejected: 0 };
    },
    /** One training step, exactly as createTrainer's step but with the batch on all threads. */
    step(state: TrainState): StepMetrics {
      const z = pool.flow.prior.sample(state.rng, batchOf(state.step), dtype);
      const { grads, logq, logp } = pool.gradient(state.params, z);
      // The loss as the single-threaded trainer computes it, from the same per-sample values.
      const value = mean(sub(logq, logp)).item();
      return finishStep(optimizer, state, value, grads, logp.data, logq.data);
    },
  };
}
