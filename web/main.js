/**
 * The page: the model's controls (form.js), the run in the address (url-state.js), the lab in a
 * worker (worker.js, which trains, samples and measures), and the figures (charts.js, built in
 * figure-worker.js). The main thread only streams new data into the figures, so it never waits
 * on a training step.
 */
import { append, clearAll, show } from "./charts.js";
import { droppedFiles, offer, readRun } from "./files.js";
import { createForm, SOURCE } from "./form.js";
import * as lf from "./lib.js";
import { showHmc, showMh, weightFigures } from "./results.js";
import { decodeState, encodeState } from "./url-state.js";

const $ = (id) => document.getElementById(id);
const isolated = self.crossOriginIsolated === true;
/** Threads by default: the cores, at most 8 (more rarely pays at these batch sizes). */
const DEFAULT_THREADS = isolated ? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8)) : 1;
/** Proposals per flow pass of MH, `latticeflow sample`'s default --batch. */
const MH_BATCH = 1024;

let preset = "phi4-notebook";
/** The lab worker of the current run, or null. */
let worker = null;
/** idle | starting | running | paused | done | busy */
let phase = "idle";
/** After "ready": the worker's config, loss floor, configuration shape. */
let info = null;
let loaded = false;
let afterReady = null;
let points = [];
/** Steps/s from the worker's clock: the first record of this stretch of running, then the last. */
let speed = null;
let hasChain = false;
/** An opened run's metrics.jsonl records, shown once the lab is ready. */
let openedHistory = [];
/** Has the visitor changed a setting (then the address follows the form)? */
let edited = false;
/** The step the lab has reached and its target. */
let progress = { step: 0, steps: 0 };

if (!isolated) {
  const why = !window.isSecureContext
    ? "it is not served from https:// or localhost, so its service worker (coi-serviceworker.js) cannot add them"
    : !navigator.serviceWorker
      ? "this browser mode (e.g. private browsing) allows no service worker to add them"
      : "the server sends no COOP/COEP headers and the service worker that adds them has not taken over (reload once)";
  const note = $("isolation");
  note.textContent =
    `One thread only: this page is not cross-origin isolated, so the browser withholds SharedArrayBuffer, which threads need; ${why}. ` +
    "To fix it, serve the page with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (latticeflow web does), or over https.";
  note.hidden = false;
}

const form = createForm($("form"), {
  onChange(config, key) {
    if (key === "threads" && config.train.threads > 1 && !isolated) {
      form.blame(`'threads': this page is not cross-origin isolated (see the note above): 1 thread only`);
      return sync();
    }
    if (key === "steps" && worker && info && config.train.steps < progress.step) {
      form.blame(
        `'steps' = ${config.train.steps} is below the step this run has reached, ${progress.step}: a run cannot go back`,
      );
      return sync();
    }
    if ((key === "lr" || key === "steps") && worker) {
      worker.postMessage({ type: key, [key]: config.train[key] });
      if (info) info.config = { ...info.config, train: { ...info.config.train, [key]: config.train[key] } };
    }
    if (key === "steps" && worker) {
      progress.steps = config.train.steps;
      if (phase === "done" || phase === "paused") phase = settled();
    }
    edited = true;
    showConfig(config);
  },
  onError: () => sync(),
});

const describe = (c) =>
  `${lf.describeTheory(c.theory)} · flow ${lf.describeFlow(c.flow)} · batch ${c.train.batch}, lr ${c.train.lr}, ${c.train.dtype}`;

function showConfig(config) {
  $("model").textContent = describe(config);
  // The address changes only with the visitor's edits: a link stays as given (and coi-serviceworker's
  // reload, before the page is isolated, must not see threads forced to 1).
  if (edited && !loaded) history.replaceState(null, "", `?${encodeState(preset, config)}`);
  sync();
}

/** The training's last status line, shown again when sampling ends. */
let trainingStatus = "";

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

/** The preset with the page's default thread count (at most the batch). */
function presetWithThreads(name, settings = {}) {
  const base = lf.presetConfig(name);
  const batch = settings.batch ?? base.train.batch;
  return lf.applySettings(base, { threads: Math.min(DEFAULT_THREADS, batch), ...settings }, SOURCE);
}

/** The run the address describes; a bad value is shown at its field, over the preset's value. */
function fromAddress() {
  const { preset: p, settings } = decodeState(location.search);
  try {
    lf.presetConfig(p); // SpecError naming the presets if unknown
    const before = lf.presetBefore(p);
    if (before !== undefined) {
      throw new lf.SpecError(
        `preset ${p} goes on from a trained ${before} run, which the page cannot load: train the chain with the CLI (npm run seeds -- --preset ${p} --seeds 1 --keep DIR)`,
      );
    }
  } catch (e) {
    form.set(presetWithThreads(preset));
    return status(`Error: ${e.message}`, true);
  }
  preset = p;
  if (!isolated) settings.threads = 1;
  const base = lf.presetConfig(p);
  const threads = Math.min(DEFAULT_THREADS, settings.batch ?? base.train.batch);
  try {
    form.set(lf.applySettings(base, { threads, ...settings }, "the address"));
  } catch (e) {
    if (!(e instanceof lf.SpecError)) throw e;
    form.set(presetWithThreads(p));
    if (!form.blame(e.message)) status(`Error: ${e.message}`, true);
  }
}

// Presets that go on from another's trained flow need --init-from, which the page has not.
for (const name of Object.keys(lf.PRESETS)) {
  if (lf.presetBefore(name) === undefined) $("preset").append(new Option(name, name));
}
fromAddress();
$("preset").value = preset;
$("preset").onchange = () => {
  preset = $("preset").value;
  edited = true;
  form.set(presetWithThreads(preset));
  showConfig(form.config);
};
showConfig(form.config);
if (!$("status").classList.contains("error")) status("Ready: press Train.");

// ---- the run --------------------------------------------------------------------------------

/** The lab worker; each message handled is a User Timing entry `lab: <type>` (DevTools, test/web/long-tasks.ts). */
function labWorker() {
  const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  w.onmessage = (e) => {
    const t0 = performance.now();
    onMessage(e.data);
    performance.measure(`lab: ${e.data.type}`, { start: t0, end: performance.now() });
  };
  w.onerror = (e) => onMessage({ type: "error", message: e.message || "the lab worker failed" });
  return w;
}

function newLab(message, then) {
  reset();
  worker = labWorker();
  phase = "starting";
  afterReady = then;
  form.lock(true);
  status(message);
  worker.postMessage({ type: "init", config: form.config, threads: form.config.train.threads });
  sync();
}

function reset() {
  worker?.terminate();
  worker = null;
  info = null;
  loaded = false;
  hasChain = false;
  phase = "idle";
  points = [];
  openedHistory = [];
  trainingStatus = "";
  speed = null;
  clearAll();
  for (const id of ["mh-summary", "hmc-summary", "table-mh", "table-hmc"]) $(id).replaceChildren();
  for (const id of ["dl-config", "dl-checkpoint", "dl-state", "dl-metrics", "dl-ensemble"])
    $(id).hidden = true;
  form.lock(false);
  sync();
}

$("train").onclick = () => {
  if (phase === "idle") newLab("Starting the workers…", "run");
  else worker.postMessage({ type: "run" });
};
$("pause").onclick = () => worker?.postMessage({ type: "pause" });
$("step").onclick = () => {
  if (phase === "idle") newLab("Starting the workers…", "step");
  else worker.postMessage({ type: "step" });
};
$("reset").onclick = () => {
  reset();
  status("Ready: press Train.");
};

const trainingTitle = (c, floor) =>
  `${floor === null ? "Loss: the variational free energy F_q" : "Variational free energy F_q"} and ESS per batch of ${c.train.batch}${c.train.batchMax === undefined ? "" : ` growing to ${c.train.batchMax}`}`;

/** Training histories longer than this are thinned for drawing (charts.js keeps their extremes). */
const CURVE_POINTS = 1500;

/** The training curves, from the history in the figure worker; data-step says which step they show. */
function drawTraining(urgent = false) {
  show(
    $("chart-training"),
    () => ({
      fn: "trainingFigure",
      series: "training",
      args: [
        {
          lossFloor: info.lossFloor,
          title: trainingTitle(info.config, info.lossFloor),
          width: figureWidth(),
        },
      ],
      cap: CURVE_POINTS,
      step: points.at(-1).step,
    }),
    { urgent },
  );
}

const figureWidth = () => Math.max(220, Math.min(560, $("chart-training").clientWidth - 130));

function drawGrids(m) {
  const c = info.config;
  const label = `step ${m.step}`;
  const job =
    c.theory.kind === "u1" && c.theory.latticeShape.length === 2
      ? {
          fn: "plaquetteSampleFigure",
          args: [
            {
              latticeShape: c.theory.latticeShape,
              theory: c.theory,
              label: `16 independent draws, ${label}`,
              panels: [
                { title: "Prior z", angles: m.prior },
                { title: `Flow x = f(z), ${label}`, angles: m.flow },
              ],
            },
          ],
        }
      : {
          fn: "sampleGridFigure",
          args: [
            {
              latticeShape: info.configShape,
              theory: c.theory,
              panels: [
                { title: "Prior z: 16 independent draws", configs: m.prior },
                { title: `Flow x = f(z), same z, ${label}`, configs: m.flow },
              ],
            },
          ],
        };
  show($("chart-samples"), () => ({ ...job, step: m.step }));
  if (m.rg)
    show($("chart-rg"), () => ({
      fn: "rgFigure",
      args: [{ levels: m.rg, spinExpectation: c.theory.kind === "ising", theory: c.theory, label }],
    }));
}

/** S_eff against S and the log-weights of the last training batches. */
function drawWeights(m) {
  const steps = m.from === m.to ? `step ${m.to}` : `steps ${m.from}–${m.to}`;
  weightFigures($("chart-action"), $("chart-logw"), {
    logw: Float64Array.from(m.logp, (p, i) => p - m.logq[i]),
    logq: m.logq,
    label: `${m.logp.length} training draws x ~ q, ${steps}`,
    lnZ: info.lossFloor === null ? null : -info.lossFloor,
    step: m.to,
  });
}

/** The history of an opened run (its metrics.jsonl), up to its checkpoint's step. */
function showHistory(step) {
  const records = openedHistory.filter((r) => Number.isInteger(r?.step) && r.step > 0 && r.step <= step);
  openedHistory = [];
  if (records.length === 0) return;
  // metrics.jsonl's lines as the page writes them: without the CLI's seconds.
  points = records.map(({ seconds: _, ...r }) => r);
  append("training", points);
  drawTraining(true);
}

function onStep(records, at) {
  points.push(...records);
  append("training", records);
  const last = points.at(-1);
  progress.step = last.step;
  let rate = "";
  if (phase === "running") {
    if (speed === null) speed = { at, step: last.step };
    else rate = ` · ${((1000 * (last.step - speed.step)) / (at - speed.at)).toFixed(1)} steps/s`;
  }
  const t = info.config.train;
  trainingStatus =
    `step ${last.step}/${t.steps} · F_q ${last.loss.toFixed(3)}${info.lossFloor === null ? "" : ` (−ln Z ${info.lossFloor.toFixed(3)})`}` +
    ` · ESS ${last.ess.toFixed(3)} of batch ${lf.batchAt(t, last.step - 1)}${rate} · ${t.threads} thread${t.threads > 1 ? "s" : ""}`;
  status(trainingStatus);
  drawTraining();
}

function onMessage(m) {
  switch (m.type) {
    case "ready":
      info = m;
      progress = { step: m.step, steps: m.config.train.steps };
      phase = settled();
      if (loaded) {
        form.set(m.config);
        form.lock(true);
        showHistory(m.step);
        const adam =
          m.adam === "restored"
            ? "Adam's moments and the random stream from train_state.safetensors, as latticeflow train --resume"
            : "no train_state.safetensors: Adam starts afresh (zero moments, step count 0) and the random stream from the seed, so this is not latticeflow train --resume's run";
        // Shown again when sampling ends, until the run trains.
        trainingStatus = `Opened a run at step ${m.step}: ${describe(m.config)}. Run MH to sample it; raise steps and press Train to train it on (${adam}).`;
        status(trainingStatus);
      } else status("Ready.");
      if (afterReady) worker.postMessage({ type: afterReady });
      afterReady = null;
      break;
    case "state":
      progress = { step: m.step, steps: m.steps };
      phase = m.running ? "running" : m.step >= m.steps ? "done" : "paused";
      speed = null;
      if (!m.running && points.length > 0) drawTraining(true);
      if (phase === "done" && trainingStatus) status((trainingStatus += " · done"));
      break;
    case "step":
      onStep(m.records, m.at);
      break;
    case "grids":
      drawGrids(m);
      break;
    case "weights":
      drawWeights(m);
      break;
    case "mh":
      phase = settled();
      hasChain = true;
      status(trainingStatus || "Ready.");
      showMh(m, info);
      break;
    case "hmc":
      phase = settled();
      status(trainingStatus || "Ready.");
      showHmc(m, info);
      break;
    case "export":
      offer($("dl-config"), "config.json", m.config, "application/json");
      offer($("dl-checkpoint"), "checkpoint.safetensors", m.checkpoint);
      offer($("dl-state"), "train_state.safetensors", m.trainState);
      offer(
        $("dl-metrics"),
        "metrics.jsonl",
        points.map((r) => `${JSON.stringify(r)}\n`).join(""),
        "text/plain",
      );
      $("dl-metrics").hidden = points.length === 0;
      break;
    case "ensemble":
      offer($("dl-ensemble"), "ensemble.npy", m.npy);
      break;
    case "error":
      status(`Error: ${m.message}`, true);
      if (phase === "starting") {
        worker?.terminate();
        worker = null;
        phase = "idle";
        form.lock(false);
      } else if (phase === "busy") phase = settled();
      break;
  }
  sync();
}

// ---- sampling, measurement, files -------------------------------------------------------------

const int = (id) => Number($(id).value);

$("mh").onclick = () => {
  phase = "busy";
  status("Flow Metropolis–Hastings…");
  worker.postMessage({ type: "mh", n: int("mh-n"), seed: int("mh-seed"), batch: MH_BATCH });
  sync();
};
$("hmc").onclick = () => {
  phase = "busy";
  status("HMC…");
  worker.postMessage({ type: "hmc", n: int("hmc-n"), therm: int("hmc-therm"), seed: int("mh-seed") });
  sync();
};
$("export").onclick = () => worker.postMessage({ type: "export" });
$("ensemble").onclick = () => worker.postMessage({ type: "ensemble" });

async function openRun(files) {
  try {
    const run = await readRun(files);
    reset();
    loaded = true;
    openedHistory = run.metrics;
    worker = labWorker();
    phase = "starting";
    form.lock(true);
    status("Opening the run…");
    worker.postMessage({
      type: "load",
      config: run.config,
      checkpoint: run.checkpoint,
      trainState: run.trainState,
      threads: DEFAULT_THREADS,
    });
  } catch (e) {
    status(`Error: ${e.message}`, true);
  }
  sync();
}

$("open").onchange = () => void openRun($("open").files);
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  await openRun(await droppedFiles(e.dataTransfer));
});

/** The phase of a lab that is not computing. */
const settled = () => (progress.step >= progress.steps ? "done" : "paused");

/** Enable what the phase allows. */
function sync() {
  const valid = form.errors.size === 0;
  const ready = phase === "paused" || phase === "done";
  const trainable = valid && (phase === "idle" || phase === "paused");
  $("train").disabled = !trainable;
  $("train").textContent = phase === "paused" && points.length > 0 ? "Resume" : "Train";
  $("pause").disabled = phase !== "running";
  $("step").disabled = !trainable;
  $("reset").disabled = worker === null;
  $("mh").disabled = !ready;
  $("hmc").disabled = !ready;
  $("export").disabled = !ready;
  $("ensemble").disabled = !ready || !hasChain;
  $("preset").disabled = worker !== null;
  $("locked").hidden = worker === null;
}
