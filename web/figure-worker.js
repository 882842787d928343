/**
 * The figures' heavy half, off the page's main thread: the library's figure function (the Vega-Lite
 * spec `latticeflow plot` draws), vega-lite's compile and vega's parse. What changes from one
 * update of a chart to the next (inline data, literal scale domains, titles) is hoisted out of the
 * Vega spec into datasets and signals; when the rest (the skeleton) is the chart's last one, only
 * the new data and signal values go to the page, which streams them into its existing view
 * (charts.js). A new skeleton is parsed here and sent as a runtime for a new view.
 *
 * In:  {type: "append", key, records} (a series grows: the training records)
 *      | {type: "reset"} | {type: "forget", chart}
 *      | {type: "figure", id, chart, fresh, fn, args, series?, cap?}
 * Out: {type: "patch", id, data, signals, ms} | {type: "view", id, runtime, ms} | {type: "error", id, message}
 *      (ms: the time the figure took here)
 */
import { parse } from "vega";
import { compile } from "vega-lite";
import { changed, hoist } from "./figure-patch.js";
import * as lf from "./lib.js";

/** The figure functions the page draws (src/plots/specs). */
const FIGURES = {
  trainingFigure: lf.trainingFigure,
  sampleGridFigure: lf.sampleGridFigure,
  plaquetteSampleFigure: lf.plaquetteSampleFigure,
  rgFigure: lf.rgFigure,
  actionFigure: lf.actionFigure,
  logWeightFigure: lf.logWeightFigure,
  historyFigure: lf.historyFigure,
  topologyFigure: lf.topologyFigure,
};

/** Growing series by key (the training records), so the page never re-sends a history. */
const series = new Map();
/** Of each chart's view on the page: its skeleton and the JSON of its data and signal values. */
const views = new Map();

self.onmessage = (e) => {
  const m = e.data;
  switch (m.type) {
    case "append": {
      const s = series.get(m.key);
      if (s) for (const r of m.records) s.push(r);
      else series.set(m.key, [...m.records]);
      return;
    }
    case "reset":
      series.clear();
      views.clear();
      return;
    case "forget":
      views.delete(m.chart);
      return;
    case "figure":
      try {
        figure(m);
      } catch (err) {
        views.delete(m.chart);
        postMessage({ type: "error", id: m.id, message: err instanceof Error ? err.message : String(err) });
      }
  }
};

function figure({ id, chart, fresh, fn, args, series: key, cap }) {
  const t0 = performance.now();
  const input = key === undefined ? args : [series.get(key) ?? [], ...args];
  const vg = compile(FIGURES[fn](...input).spec).spec;
  const { skeleton, data, signals, restore } = hoist(vg, cap);
  const known = views.get(chart);
  if (!fresh && known?.skeleton === skeleton) {
    // Only what changed: e.g. the prior's panel of the sample grid (the same z) stays as it is.
    const patch = {
      type: "patch",
      id,
      data: changed(data, known.json),
      signals: changed(signals, known.json),
    };
    return void postMessage({ ...patch, ms: performance.now() - t0 });
  }
  const json = new Map();
  changed(data, json);
  changed(signals, json);
  views.set(chart, { skeleton, json });
  restore();
  const runtime = parse(vg);
  postMessage({ type: "view", id, runtime, ms: performance.now() - t0 });
}
