/**
 * What sampling shows: the flow-MH chain (acceptance, τ_int from its rejection runs, the longest
 * run, 16 distinct states it accepted) and HMC of the same theory, each with the measurement
 * table of `latticeflow measure` (Γ-method errors, τ_int, cost per independent sample).
 */
import { show } from "./charts.js";

const $ = (id) => document.getElementById(id);

/** value(error) as physicists write it, e.g. 0.3021(14). */
function valErr(value, error) {
  if (!Number.isFinite(value)) return "n/a";
  if (!(error > 0) || !Number.isFinite(error)) return value.toPrecision(5);
  const digits = Math.max(0, Math.min(10, 1 - Math.floor(Math.log10(error))));
  return `${value.toFixed(digits)}(${Math.round(error * 10 ** digits)})`;
}

const num = (x, d = 2) => (x === null || !Number.isFinite(x) ? "–" : x.toFixed(d));

/** Seconds per independent sample, in a readable unit. */
function cost(s) {
  if (s === null || !Number.isFinite(s)) return "–";
  return s < 1e-3 ? `${(s * 1e6).toFixed(0)} µs` : s < 1 ? `${(s * 1e3).toFixed(2)} ms` : `${s.toFixed(2)} s`;
}

function table(rows) {
  const t = document.createElement("table");
  const head = ["observable", "value", "τ_int", "exact", "s per indep. sample"];
  t.createTHead()
    .insertRow()
    .append(
      ...head.map((h) => {
        const th = document.createElement("th");
        th.scope = "col";
        th.textContent = h;
        return th;
      }),
    );
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.key = r.key;
    for (const text of [
      r.label,
      valErr(r.value, r.error),
      num(r.tauInt),
      r.exact === null ? "" : r.exact.toPrecision(6),
      cost(r.cost),
    ])
      tr.insertCell().textContent = text;
  }
  const box = document.createElement("div");
  box.className = "table";
  box.append(t);
  return box;
}

/** Draw the library's figure `fn` of `input` into `el` now. */
const figure = (el, fn, input) => show(el, () => ({ fn, args: [input] }), { urgent: true });

function topology(el, data, label) {
  if (data) figure(el, "topologyFigure", { ...data, label });
}

/**
 * S_eff against S and the histogram of log w of `n` draws x ~ q given their log w = −S − log q
 * and log q (`latticeflow plot`'s action figure, and the log-weight figure).
 */
export function weightFigures(elAction, elLogw, { logw, logq, label, lnZ, step }, urgent = false) {
  const sEff = Float64Array.from(logq, (q) => -q);
  const s = Float64Array.from(logw, (w, i) => -w - logq[i]);
  show(elAction, () => ({ fn: "actionFigure", args: [{ sEff, s, label, size: 280 }], step }), { urgent });
  show(
    elLogw,
    () => ({ fn: "logWeightFigure", args: [{ logw, label, lnZ, width: 340, height: 200 }], step }),
    { urgent },
  );
}

export function showMh(m, info) {
  const c = info.config;
  $("mh-summary").textContent =
    `Flow Metropolis–Hastings, ${m.n} proposals: acceptance ${m.acceptance.toFixed(3)}, ` +
    `τ_int from the rejection runs ${valErr(m.tauIntRejection, m.tauIntRejectionError)}, ` +
    `longest rejection run ${m.longestRejectionRun}, ${m.distinct} distinct states, proposal ESS ${m.ess.toFixed(3)}; ` +
    `${m.seconds.toFixed(2)} s on ${c.train.threads} thread${c.train.threads > 1 ? "s" : ""}.`;
  $("table-mh").replaceChildren(table(m.rows));
  const title = `${m.statesShown} distinct states the chain accepted (of ${m.distinct}), in chain order`;
  if (c.theory.kind === "u1" && c.theory.latticeShape.length === 2)
    figure($("chart-states"), "plaquetteSampleFigure", {
      latticeShape: c.theory.latticeShape,
      theory: c.theory,
      label: "flow MH",
      panels: [{ title, angles: m.states }],
    });
  else
    figure($("chart-states"), "sampleGridFigure", {
      latticeShape: info.configShape,
      theory: c.theory,
      panels: [{ title, configs: m.states }],
    });
  weightFigures(
    $("chart-action-mh"),
    $("chart-logw-mh"),
    {
      logw: m.logw,
      logq: m.logq,
      label: `${m.n} MH proposals x ~ q`,
      lnZ: info.lossFloor === null ? null : -info.lossFloor,
    },
    true,
  );
  figure($("chart-history-mh"), "historyFigure", {
    rows: m.history,
    label: `flow MH chain, ${m.n} proposals`,
  });
  topology($("chart-topology-mh"), m.topology, `flow MH, ${m.n} proposals`);
}

export function showHmc(m) {
  $("hmc-summary").textContent =
    `HMC, ${m.n} trajectories after ${m.therm} of thermalisation (10 leapfrog steps, step size ` +
    `${m.stepSize.toFixed(4)} tuned to acceptance 0.8): acceptance ${m.acceptance.toFixed(3)}; ${m.seconds.toFixed(2)} s on 1 thread.`;
  $("table-hmc").replaceChildren(table(m.rows));
  figure($("chart-history-hmc"), "historyFigure", {
    rows: m.history,
    label: `HMC chain, ${m.n} trajectories`,
  });
  topology($("chart-topology-hmc"), m.topology, `HMC, ${m.n} trajectories`);
}
