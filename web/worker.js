/**
 * The page's lab, in a module Web Worker so the page never waits on it. It knows a model only
 * through the library's model description (a validated RunConfig, built by `buildModel`) and
 * trains it as `latticeflow train` does: one thread the plain trainer, more the library's
 * parallel trainer with the batch split over nested Web Workers (shard-worker.js), so the
 * numbers are the CLI's for the same config, seed and thread count. The page resets by
 * terminating this worker (its shard workers go with it).
 *
 * In:  {type: "init", config, threads} | "run" | "pause" | "step" | {type: "lr", lr}
 *      | {type: "mh", n, seed} | {type: "hmc", n, seed} | "export" | "ensemble"
 *      | {type: "load", config, checkpoint: Uint8Array}
 * Out: "ready" | "step" (a batch of step records) | "state" | "grids" | "mh" | "hmc" | "export"
 *      | "ensemble" | "error" (one line).
 */
import { analyseChain, hmcRun, mhChain, picture, renormalised } from "./analysis.js";
import * as lf from "./lib.js";

/** Work between two looks at the message queue (pause, lr): the page reacts within this. */
const SLICE_MS = 40;
/** How often the sample grids follow the training (ms). */
const GRID_MS = 3000;

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
      lab.optimizer.setLr(m.lr);
      lab.config = { ...lab.config, train: { ...lab.config.train, lr: m.lr } };
      return;
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
 * Adam whose learning rate the page may change between steps: a new rate from the next step on,
 * the moments and the step count kept (docs/web.md).
 */
function adjustableAdam(t) {
  let current = lf.adamOf(t);
  return {
    init: (p) => current.init(p),
    update: (g, s, p) => current.update(g, s, p),
    setLr(lr) {
      current = lf.adamOf({ ...t, lr });
    },
  };
}

const spawnShard = () => new Worker(new URL("./shard-worker.js", import.meta.url), { type: "module" });

/** Build the model and the trainer of `config` on `threads` threads; weights from the seed. */
async function init({ config, threads, params, step }) {
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
            dtype: t.dtype,
            objective: lf.objectiveOf(t),
            gradientEstimator: lf.gradientEstimatorOf(t),
          }),
          sample: (p, rng, n) => flow.sample(p, rng, n, t.dtype),
          ready: async () => {},
        };
  const state = trainer.init(new lf.Rng(t.seed), params);
  if (step !== undefined) state.step = step;
  await trainer.ready(state.params);
  lab = { config: c, theory, flow, trainer, optimizer, state, running: false, chain: null, lastGrid: 0 };
  postMessage({
    type: "ready",
    config: c,
    step: state.step,
    lossFloor: lf.exactReferences(c.theory).lossFloor,
    configShape: lf.configShapeOf(c.theory),
    size: theory.size,
  });
  sendGrids();
}

/** A run trained by the CLI: its config.json and checkpoint, checked as `latticeflow sample` does. */
async function load({ config, checkpoint, threads }) {
  const c = lf.parseRunConfig(config, "config.json");
  const file = lf.decodeSafetensors(checkpoint);
  const { flow } = lf.buildModel(c);
  const like = flow.initParams(new lf.Rng(c.train.seed), c.train.dtype);
  const params = {};
  for (const [k, p] of Object.entries(like)) {
    const s = file.tensors[k];
    if (!s)
      throw new Error(`checkpoint.safetensors: tensor '${k}' is missing; it does not match config.json`);
    if (s.shape.join(",") !== p.shape.join(","))
      throw new Error(
        `checkpoint.safetensors: tensor '${k}' has shape [${s.shape}], config.json implies [${p.shape}]`,
      );
    if (s.dtype !== (c.train.dtype === "float32" ? "F32" : "F64"))
      throw new Error(
        `checkpoint.safetensors: tensor '${k}' is ${s.dtype}, config.json says ${c.train.dtype}`,
      );
    params[k] = new lf.Tensor(s.data, p.shape);
  }
  await init({
    config: c,
    threads: Math.min(threads, c.train.batch),
    params,
    step: Number(file.metadata.step ?? 0),
  });
}

/** A step's line of metrics.jsonl, as `latticeflow train` writes it (its seconds aside). */
function record(m) {
  const r = { step: m.step, loss: m.loss, logp: m.logp, logq: m.logq, ess: m.ess, accepted: m.accepted };
  if (m.nll !== undefined) r.nll = m.nll;
  if (m.mhAcceptance !== undefined) r.mhAcceptance = m.mhAcceptance;
  if (m.hmcAcceptance !== undefined) r.hmcAcceptance = m.hmcAcceptance;
  return r;
}

function trainSteps(n) {
  const out = [];
  for (let k = 0; k < n && lab.state.step < lab.config.train.steps; k++) {
    out.push(record(lab.trainer.step(lab.state)));
  }
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
      records.push(record(lab.trainer.step(lab.state)));
    }
    postMessage({ type: "step", records, at: performance.now() });
    if (performance.now() - lab.lastGrid > GRID_MS) sendGrids();
    await yieldToQueue();
  }
  lab.running = false;
  sendGrids();
  sendState();
}

function sendState() {
  postMessage({ type: "state", running: lab.running, step: lab.state.step, steps: lab.config.train.steps });
}

/** 16 independent flow draws and their prior draws z, from a fixed z: the same z at every step. */
function sendGrids() {
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

/** config.json and checkpoint.safetensors as `latticeflow train` writes them. */
function exportRun() {
  const c = lab.config;
  const tensors = {};
  for (const [name, p] of Object.entries(lab.state.params))
    tensors[name] = { dtype: c.train.dtype === "float32" ? "F32" : "F64", shape: [...p.shape], data: p.data };
  const checkpoint = lf.encodeSafetensors(tensors, {
    format: "latticeflow",
    step: String(lab.state.step),
    config: JSON.stringify(c),
  });
  return { config: `${JSON.stringify(c, null, 2)}\n`, checkpoint, step: lab.state.step };
}

/** The last MH chain as float64 .npy [N, ...configShape] (numpy.load reads it). */
function ensembleNpy() {
  if (!lab.chain) throw new Error("no ensemble yet: run Metropolis–Hastings first");
  return lf.encodeNpy(lab.chain.configs, [lab.chain.n, ...lab.theory.configShape]);
}
