/**
 * Figures drawn from the library's Vega-Lite specs (src/plots/specs, as `latticeflow plot`
 * draws them), compiled and rendered here with vega. Draws run one at a time, each phase
 * (compile, parse, render) its own task, so no single task holds the page for long; a container
 * keeps its old figure until the new one is drawn.
 */
import * as vega from "vega";
import { compile } from "vega-lite";

const views = new WeakMap();
let queue = Promise.resolve();

/** A macrotask boundary: input and paint may run between the phases of a draw. */
const nextTask = () => new Promise((r) => setTimeout(r, 0));

/**
 * Draw `figure` ({spec}) into `el`, replacing what was there, on a canvas (faster than SVG for
 * heat maps of many cells and long training curves).
 */
export function draw(el, figure, renderer = "canvas") {
  const job = queue.then(async () => {
    const spec = compile(figure.spec).spec;
    await nextTask();
    const runtime = vega.parse(spec);
    await nextTask();
    const holder = document.createElement("div");
    const view = new vega.View(runtime, { renderer, container: holder, hover: false });
    await view.runAsync();
    views.get(el)?.finalize();
    views.set(el, view);
    el.replaceChildren(holder);
    el.hidden = false;
  });
  queue = job.catch(() => {});
  return job;
}

/** Clear `el` and release its view. */
export function clear(el) {
  views.get(el)?.finalize();
  views.delete(el);
  el.replaceChildren();
  delete el.dataset.step;
}

/**
 * Run `task` at most once per `ms`, the last call winning: live figures follow the training
 * without redrawing on every step. `call.now()` runs it at once.
 */
export function throttled(task, ms) {
  let timer = null;
  let last = 0;
  const fire = () => {
    timer = null;
    last = performance.now();
    return task();
  };
  const call = () => {
    if (timer === null) timer = setTimeout(fire, Math.max(0, ms - (performance.now() - last)));
  };
  call.now = () => {
    if (timer !== null) clearTimeout(timer);
    return fire();
  };
  return call;
}
