/**
 * The page's figures: the library's Vega-Lite specs (src/plots/specs, as `latticeflow plot` draws
 * them), built, compiled and parsed in figure-worker.js, drawn here with vega on a canvas. The main
 * thread keeps one vega View per chart and streams each update into it (new data and signal
 * values, then one dataflow run); a chart is built anew only when its spec's structure changes.
 * Updates are throttled: one chart per animation frame, each chart at most every MIN_MS (more when
 * its updates cost more), the last request winning; a container keeps its figure until the new
 * one is drawn.
 */
import { View } from "vega";

/** The shortest time between two draws of one chart (ms). */
const MIN_MS = 250;
/** A chart's figure work (worker and page) takes at most about 1/COST_SHARE of the time between its draws. */
const COST_SHARE = 8;

const worker = new Worker(new URL("./figure-worker.js", import.meta.url), { type: "module" });
worker.onmessage = (e) => {
  const t0 = performance.now();
  const r = e.data; // deserialised here
  arrived(r);
  measure(`message ${r.type}`, t0);
};
worker.onerror = (e) => console.error(`the figure worker failed: ${e.message}`);

/** Per container: its view, the request waiting, the one being computed. */
const charts = new Map();
/** Jobs in the worker, by id. */
const jobs = new Map();
/** Results to draw, oldest first: one per animation frame. */
const ready = [];
let nextId = 1;
let frame = 0;
/** The timeout that wakes the pump for the next chart due: {id, at}. */
let timer = null;

function chartOf(el) {
  let c = charts.get(el);
  if (!c) {
    c = { el, key: el.id, view: null, gen: 0, pending: null, busy: false, last: 0, interval: MIN_MS };
    charts.set(el, c);
  }
  return c;
}

/**
 * Draw into `el` the figure `job()` describes: {fn, args, series?, cap?, step?}, the name of a
 * figure function of the library and its arguments (with `series`, a series appended by
 * `append` goes first; `cap` thins long inline data). `job` is called when the worker is asked,
 * so it describes the latest state; `step`, if given, goes into el.dataset.step once drawn.
 * `urgent` skips the wait between draws (a paused run, a finished chain).
 */
export function show(el, job, { urgent = false } = {}) {
  const c = chartOf(el);
  c.pending = job;
  if (urgent) c.last = -Infinity;
  schedule();
}

/** Append records to the series `key` in the worker (the training history). */
export function append(key, records) {
  worker.postMessage({ type: "append", key, records });
}

/** Clear `el`, release its view, and drop its requests. */
export function clear(el) {
  const c = chartOf(el);
  c.gen++;
  c.pending = null;
  c.view?.finalize();
  c.view = null;
  c.last = 0;
  c.interval = MIN_MS;
  worker.postMessage({ type: "forget", chart: c.key });
  el.replaceChildren();
  delete el.dataset.step;
}

/** Clear every chart and the worker's series. */
export function clearAll() {
  for (const el of document.querySelectorAll(".figure")) clear(el);
  worker.postMessage({ type: "reset" });
}

function schedule() {
  if (frame === 0) frame = requestAnimationFrame(pump);
}

/** Ask the worker for every chart that is due; draw one result. */
function pump() {
  frame = 0;
  const now = performance.now();
  let wait = Infinity;
  for (const c of charts.values()) {
    if (c.pending === null || c.busy) continue;
    const due = c.last + c.interval;
    if (due > now) {
      wait = Math.min(wait, due - now);
      continue;
    }
    const { fn, args, series, cap, step } = c.pending();
    c.pending = null;
    c.busy = true;
    const id = nextId++;
    jobs.set(id, { c, gen: c.gen, step, fn, args, series, cap });
    worker.postMessage({ type: "figure", id, chart: c.key, fresh: c.view === null, fn, args, series, cap });
  }
  if (ready.length > 0) void draw(ready.shift());
  if (ready.length > 0) schedule();
  else if (wait < Infinity && (timer === null || now + wait < timer.at)) {
    if (timer !== null) clearTimeout(timer.id);
    const id = setTimeout(() => {
      timer = null;
      schedule();
    }, wait);
    timer = { id, at: now + wait };
  }
}

function arrived(r) {
  const job = jobs.get(r.id);
  jobs.delete(r.id);
  if (!job) return;
  if (r.type === "error") {
    job.c.busy = false;
    console.error(`figure ${job.c.key} (${job.fn}): ${r.message}`);
    return;
  }
  ready.push({ ...r, job });
  schedule();
}

/** A macrotask boundary: input and paint may run between building a view and its first run. */
const nextTask = () =>
  new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => r();
    ch.port2.postMessage(null);
  });

/** A User Timing entry per drawing task (DevTools' Timings track; test/web/long-tasks.ts reads them). */
const measure = (what, start) => performance.measure(`figure: ${what}`, { start, end: performance.now() });

async function draw(r) {
  const { c, gen, step } = r.job;
  let busy = 0;
  const t0 = performance.now();
  try {
    if (gen !== c.gen) return; // cleared meanwhile
    if (r.type === "patch") {
      if (c.view === null) {
        // The view went away after the job was sent: ask again for a whole one.
        c.pending ??= () => ({ ...r.job });
        return;
      }
      for (const [name, value] of Object.entries(r.signals)) c.view.signal(name, value);
      for (const [name, values] of Object.entries(r.data)) c.view.data(name, values);
      // Lay the view out again: vega's autosize does not follow a title that gains a line.
      c.view.resize();
      await c.view.runAsync();
      measure(`patch ${c.key}`, t0);
    } else {
      const holder = document.createElement("div");
      const view = new View(r.runtime, { renderer: "canvas", container: holder, hover: false });
      const t1 = performance.now();
      measure(`view ${c.key}`, t0);
      await nextTask();
      const t2 = performance.now();
      busy -= t2 - t1;
      await view.runAsync();
      measure(`first run ${c.key}`, t2);
      if (gen !== c.gen) return void view.finalize();
      c.view?.finalize();
      c.view = view;
      c.el.replaceChildren(holder);
      c.el.hidden = false;
    }
    if (step !== undefined) c.el.dataset.step = String(step);
  } catch (e) {
    console.error(`figure ${c.key}: ${e instanceof Error ? e.message : e}`);
  } finally {
    const now = performance.now();
    busy += now - t0;
    if (gen === c.gen) {
      c.last = now;
      // The figure's cost, in the worker and here, sets the pace: a costly chart draws less often.
      c.interval = Math.max(MIN_MS, COST_SHARE * ((r.ms ?? 0) + busy));
    }
    c.busy = false;
    schedule();
  }
}
