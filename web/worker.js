/**
 * The page's lab, in a module Web Worker so the page never waits on it. It knows a model only
 * through the library's model description (a validated RunConfig, built by `buildModel`) and
 * trains it as `latticeflow train` does: one thread the plain trainer, more the library's
 * parallel trainer with the batch split over nested Web Workers (shard-worker.js), so the
 * numbers are the CLI's for the same config, seed and thread count. The page resets by
 * terminating this worker (its shard workers go with it).
 *
 * In:  {type: "init", config, threads} | "run" | "pause" | "step" | {type: "lr", lr}
 *      | {type: "steps", steps} | {type: "mh", n, seed} | {type: "hmc", n, seed} | "export"
 *      | "ensemble" | {type: "load", config, checkpoint: Uint8Array, trainState?: Uint8Array}
 * Out: "ready" | "step" (a batch of step records) | "state" | "grids" | "weights" (log p̃ and
 *      log q of the last training batches) | "mh" | "hmc" | "export" | "ensemble" | "error" (one line).
 */
import { analyseChain, hmcRun, mhChain, picture, renormalised } from "./analysis.js";
import * as lf from "./lib.js";

/** Work between two looks at the message queue (pause, lr): the page reacts within this. */
const SLICE_MS = 40;
/** How often the sample grids follow the training (ms). */
const GRID_MS = 3000;
/** How often the log-weights of the last batches go to the page (ms), and about how many draws. */
const WEIGHTS_MS = 1000;
const WEIGHT_DRAWS = 1024;

let lab = null;

self.onmessage = (e) => {
  try {
    handle(e.data);
  } catch (err) {
    fail(err);
  }
};

function fail(err) {
  const message =
    err instanceof Error ? `${err.name === "Error" ? "" : `${err.name}: `}${err.message}` : String(err);
  postMessage({ type: "error", message });
}

function handle(m) {
  if (m.type === "init") return void init(m).catch(fail);
  if (m.type === "load") return void load(m).catch(fail);
  if (lab === null) throw new Error("the lab is not initialised");
  switch (m.type) {
    case "run":
      if (!lab.running) void loop().catch(fail);
      return;
    case "pause":
      lab.running = false;
      return;
    case "step":
      if (!lab.running && lab.state.step < lab.config.train.steps) {
        trainSteps(1);
        sendGrids();
        sendState();
      }
      return;
    case "lr":
    case "steps": {
      const train = { ...lab.config.train, [m.type]: m[m.type] };
      lab.optimizer.set(train);
      lab.config = { ...lab.config, train };
      return;
    }
    case "mh":
      return void mh(m);
    case "hmc":
      return void postMessage({ type: "hmc", ...hmcRun(lab.theory, lab.config.theory, m) });
    case "export":
      return void postMessage({ type: "export", ...exportRun() });
    case "ensemble":
      return void postMessage({ type: "ensemble", npy: ensembleNpy() });
  }
}

/**
 * Adam whose learning rate (and, for the cosine schedule, whose steps) the page may change
 * between steps: the new settings from the next step on, the moments and the step count kept
 * (docs/web.md).
 */
function adjustableAdam(t) {
  let current = lf.adamOf(t);
  return {
    init: (p) => current.init(p),
    update: (g, s, p) => current.update(g, s, p),
    set(train) {
      current = lf.adamOf(train);
    },
  };
}

const spawnShard = () => new Worker(new URL("./shard-worker.js", import.meta.url), { type: "module" });

/**
 * Build the model and the trainer of `config` on `threads` threads; weights from the seed, or
 * `params` (a checkpoint) at `step`, with `saved` Adam moments, step count and random stream
 * (a train_state) if given.
 */
async function init({ config, threads, params, step, saved }) {
  const c = lf.applySettings(config, { threads }, "the page");
  const t = c.train;
  const { theory, flow } = lf.buildModel(c);
  const optimizer = adjustableAdam(t);
  // As the CLI: the plain trainer on one thread (also the mixed objective), else the parallel one.
  const trainer =
    t.threads > 1
      ? lf.createParallelTrainer({
          spec: lf.modelSpecOf(c),
          optimizer,
          batch: t.batch,
          batchAt: lf.batchScheduleOf(t),
          threads: t.threads,
          spawn: spawnShard,
          ...(t.gradientEstimator ? { gradientEstimator: t.gradientEstimator } : {}),
        })
      : {
          ...lf.createTrainer({
            flow,
            theory,
            optimizer,
            batch: t.batch,
            batchAt: lf.batchScheduleOf(t),
            dtype: t.dtype,
            objective: lf.objectiveOf(t),
            gradientEstimator: lf.gradientEstimatorOf(t),
          }),
          sample: (p, rng, n) => flow.sample(p, rng, n, t.dtype),
          ready: async () => {},
        };
  const state = trainer.init(new lf.Rng(t.seed), params);
  if (step !== undefined) state.step = step;
  if (saved) {
    state.opt = saved.opt;
    state.rng = lf.Rng.fromState(saved.rng);
    state.rejected = saved.rejected;
  }
  await trainer.ready(state.params);
  lab = {
    config: c,
    theory,
    flow,
    trainer,
    optimizer,
    state,
    running: false,
    chain: null,
    lastGrid: 0,
    batches: [],
    lastWeights: 0,
    last: saved?.metrics,
  };
  postMessage({
    type: "ready",
    config: c,
    step: state.step,
    lossFloor: lf.exactReferences(c.theory).lossFloor,
    configShape: lf.configShapeOf(c.theory),
    size: theory.size,
    adam: saved ? "restored" : params ? "fresh" : "new",
  });
  sendGrids();
}

const dtypeTag = (dtype) => (dtype === "float32" ? "F32" : "F64");

/** The parts of a run its weights and random stream depend on (src/cli/run-dir.ts checks the same). */
const fixedPart = (c) => JSON.stringify([c.theory, c.flow, c.train.dtype, c.train.seed, c.train.batch]);

/**
 * A run trained by the CLI (or downloaded from this page): config.json and the checkpoint,
 * checked as `latticeflow sample` checks them, and train_state.safetensors if given (Adam's
 * moments and step count, the random stream: `latticeflow train --resume` reads the same).
 */
async function load({ config, checkpoint, trainState, threads }) {
  const c = lf.parseRunConfig(config, "config.json");
  const file = lf.decodeSafetensors(checkpoint);
  if (file.metadata.config !== undefined) {
    const trained = lf.parseRunConfig(
      JSON.parse(file.metadata.config),
      "checkpoint.safetensors (metadata 'config')",
    );
    if (fixedPart(trained) !== fixedPart(c))
      throw new Error(
        "config.json does not match checkpoint.safetensors (theory, flow, dtype, seed or batch differ): they are not of one run",
      );
  }
  const { flow } = lf.buildModel(c);
  const like = flow.initParams(new lf.Rng(c.train.seed), c.train.dtype);
  const tag = dtypeTag(c.train.dtype);
  const params = {};
  for (const [k, p] of Object.entries(like)) {
    const s = file.tensors[k];
    if (!s)
      throw new Error(`checkpoint.safetensors: tensor '${k}' is missing; it does not match config.json`);
    if (s.shape.join(",") !== p.shape.join(","))
      throw new Error(
        `checkpoint.safetensors: tensor '${k}' has shape [${s.shape}], config.json implies [${p.shape}]`,
      );
    if (s.dtype !== tag)
      throw new Error(
        `checkpoint.safetensors: tensor '${k}' is ${s.dtype}, config.json says ${c.train.dtype}`,
      );
    if (!s.data.every(Number.isFinite))
      throw new Error(`checkpoint.safetensors: tensor '${k}' holds non-finite values`);
    params[k] = new lf.Tensor(s.data, p.shape);
  }
  const step = Number(file.metadata.step ?? 0);
  const saved = trainState ? readTrainState(trainState, like, step, tag) : undefined;
  await init({ config: c, threads: Math.min(threads, c.train.batch), params, step, saved });
}

/** train_state.safetensors as src/cli/run-dir.ts writes it: `mu.<name>`, `nu.<name>`; step, count, rng, rejected, metrics. */
function readTrainState(bytes, like, step, tag) {
  const file = lf.decodeSafetensors(bytes);
  const m = file.metadata;
  if (Number(m.step) !== step)
    throw new Error(
      `checkpoint.safetensors is from step ${step} but train_state.safetensors from step ${m.step}: they are not of one save`,
    );
  const mu = {};
  const nu = {};
  for (const [k, p] of Object.entries(like)) {
    const a = file.tensors[`mu.${k}`];
    const b = file.tensors[`nu.${k}`];
    if (!a || !b || a.shape.join(",") !== p.shape.join(",") || a.dtype !== tag || b.dtype !== tag)
      throw new Error(`train_state.safetensors: optimiser moments for '${k}' are missing or mis-shaped`);
    mu[k] = a.data;
    nu[k] = b.data;
  }
  let rng;
  try {
    rng = JSON.parse(m.rng ?? "");
  } catch {
    throw new Error("train_state.safetensors: metadata 'rng' is not valid JSON");
  }
  let metrics;
  try {
    metrics = m.metrics === undefined ? undefined : JSON.parse(m.metrics);
  } catch {
    metrics = undefined;
  }
  return {
    opt: { count: Number(m.count), mu, nu },
    rng: { seed: rng.seed, counter: rng.counter },
    rejected: Number(m.rejected ?? 0),
    metrics: metrics?.step === step ? metrics : undefined,
  };
}

/** A step's line of metrics.jsonl, as `latticeflow train` writes it (its seconds aside). */
function record(m) {
  const r = { step: m.step, loss: m.loss, logp: m.logp, logq: m.logq, ess: m.ess, accepted: m.accepted };
  if (m.nll !== undefined) r.nll = m.nll;
  if (m.mhAcceptance !== undefined) r.mhAcceptance = m.mhAcceptance;
  if (m.hmcAcceptance !== undefined) r.hmcAcceptance = m.hmcAcceptance;
  return r;
}

/** One training step: its record, its batch's log p̃ and log q kept for the log-weight figures. */
function trainStep() {
  const m = lab.trainer.step(lab.state);
  const r = record(m);
  lab.last = r;
  const keep = Math.max(1, Math.ceil(WEIGHT_DRAWS / lab.config.train.batch));
  lab.batches.push({ step: m.step, logp: m.batchLogp, logq: m.batchLogq });
  if (lab.batches.length > keep) lab.batches.shift();
  return r;
}

function trainSteps(n) {
  const out = [];
  for (let k = 0; k < n && lab.state.step < lab.config.train.steps; k++) out.push(trainStep());
  postMessage({ type: "step", records: out, at: performance.now() });
}

/** A macrotask without setTimeout's 4 ms clamp: lets pause, step and lr messages in. */
const yieldToQueue = () =>
  new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => r();
    ch.port2.postMessage(null);
  });

async function loop() {
  lab.running = true;
  sendState();
  while (lab.running && lab.state.step < lab.config.train.steps) {
    const t0 = performance.now();
    const records = [];
    while (performance.now() - t0 < SLICE_MS && lab.state.step < lab.config.train.steps) {
      records.push(trainStep());
    }
    postMessage({ type: "step", records, at: performance.now() });
    if (performance.now() - lab.lastGrid > GRID_MS) sendGrids();
    else if (performance.now() - lab.lastWeights > WEIGHTS_MS) sendWeights();
    await yieldToQueue();
  }
  lab.running = false;
  sendGrids();
  sendState();
}

function sendState() {
  postMessage({ type: "state", running: lab.running, step: lab.state.step, steps: lab.config.train.steps });
}

/** log p̃ = −S and log q of the last training batches (about WEIGHT_DRAWS draws x ~ q). */
function sendWeights() {
  lab.lastWeights = performance.now();
  const b = lab.batches;
  if (b.length === 0) return;
  const n = b.reduce((a, x) => a + x.logp.length, 0);
  const logp = new Float64Array(n);
  const logq = new Float64Array(n);
  let o = 0;
  for (const x of b) {
    logp.set(x.logp, o);
    logq.set(x.logq, o);
    o += x.logp.length;
  }
  postMessage({ type: "weights", from: b[0].step, to: b.at(-1).step, logp, logq }, [
    logp.buffer,
    logq.buffer,
  ]);
}

/** 16 independent flow draws and their prior draws z, from a fixed z: the same z at every step. */
function sendGrids() {
  sendWeights();
  const t = lab.config.train;
  const n = 16;
  const z = lab.flow.prior.sample(new lf.Rng(t.seed + 7919), n, t.dtype);
  const { x } = lab.flow.forwardWithLogProb(lab.state.params, z);
  lab.lastGrid = performance.now();
  postMessage({
    type: "grids",
    step: lab.state.step,
    prior: picture(lab.theory, lab.config.theory, Float64Array.from(z.data), n),
    flow: picture(lab.theory, lab.config.theory, Float64Array.from(x.data), n),
    rg: lab.config.flow.kind === "mera" ? renormalised(lab.flow, lab.state.params, x) : null,
  });
}

/** Flow MH as `latticeflow sample --mh --seed S --n N` draws it, then its analysis. */
function mh({ n, seed, batch }) {
  const t0 = performance.now();
  const chain = mhChain(lab, { n, seed, batch });
  const seconds = (performance.now() - t0) / 1000;
  lab.chain = { ...chain, seed, n, seconds };
  postMessage({ type: "mh", seconds, ...analyseChain(lab, chain, seconds) });
}

/**
 * config.json, checkpoint.safetensors and train_state.safetensors as `latticeflow train` writes
 * them (src/cli/run-dir.ts), so `latticeflow train --resume` continues the page's run.
 */
function exportRun() {
  const c = lab.config;
  const s = lab.state;
  const tag = dtypeTag(c.train.dtype);
  const tensors = {};
  const moments = {};
  for (const [name, p] of Object.entries(s.params)) {
    tensors[name] = { dtype: tag, shape: [...p.shape], data: p.data };
    moments[`mu.${name}`] = { dtype: tag, shape: [...p.shape], data: s.opt.mu[name] };
    moments[`nu.${name}`] = { dtype: tag, shape: [...p.shape], data: s.opt.nu[name] };
  }
  const step = String(s.step);
  const checkpoint = lf.encodeSafetensors(tensors, {
    format: "latticeflow",
    step,
    config: JSON.stringify(c),
  });
  const meta = {
    step,
    count: String(s.opt.count),
    rng: JSON.stringify(s.rng.state()),
    rejected: String(s.rejected),
  };
  if (lab.last?.step === s.step) meta.metrics = JSON.stringify(lab.last);
  const trainState = lf.encodeSafetensors(moments, meta);
  return { config: `${JSON.stringify(c, null, 2)}\n`, checkpoint, trainState, step: s.step };
}

/** The last MH chain as float64 .npy [N, ...configShape] (numpy.load reads it). */
function ensembleNpy() {
  if (!lab.chain) throw new Error("no ensemble yet: run Metropolis–Hastings first");
  return lf.encodeNpy(lab.chain.configs, [lab.chain.n, ...lab.theory.configShape]);
}
