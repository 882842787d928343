/**
 * How figure-worker.js turns successive Vega specs of one chart into updates of one vega View:
 * hoist what changes (inline data, literal scale domains, titles) into datasets and signals, so
 * that two specs with the same skeleton differ only in those values; thin long inline data.
 * Plain functions of JSON (tested in test/web/figure-patch.test.ts).
 */

/** The entries of `values` whose JSON differs from that in `json` (which is updated). */
export function changed(values, json) {
  const out = {};
  for (const [name, v] of Object.entries(values)) {
    const text = JSON.stringify(v);
    if (json.get(name) !== text) {
      json.set(name, text);
      out[name] = v;
    }
  }
  return out;
}

const literal = (v) => v === null || typeof v !== "object";
const isText = (v) => typeof v === "string" || (Array.isArray(v) && v.every((s) => typeof s === "string"));

/**
 * Move what an update changes out of the Vega spec `vg` (in place): every inline dataset's values
 * (thinned to about `cap` points when given), and as signals every literal scale domain, title,
 * subtitle and axis or legend title. Returns the skeleton (the JSON of the rest), the values, and
 * `restore()`, which puts the values back for parsing a new view with them.
 */
export function hoist(vg, cap) {
  const data = {};
  const signals = {};
  const entries = [];
  let k = 0;
  const signal = (value) => {
    const name = `lf_${k++}`;
    signals[name] = value;
    return { signal: name };
  };
  const titleOf = (t) => {
    if (isText(t)) return { text: signal(t) };
    if (t && typeof t === "object") {
      if (isText(t.text)) t.text = signal(t.text);
      if (isText(t.subtitle)) t.subtitle = signal(t.subtitle);
    }
    return t;
  };
  const walk = (node) => {
    for (const d of node.data ?? []) {
      if (!Array.isArray(d.values)) continue;
      data[d.name] = cap ? thin(d.values, cap) : d.values;
      entries.push(d);
      d.values = [];
    }
    for (const s of node.scales ?? [])
      if (Array.isArray(s.domain) && s.domain.every(literal)) s.domain = signal(s.domain);
    if (node.title !== undefined) node.title = titleOf(node.title);
    for (const a of [...(node.axes ?? []), ...(node.legends ?? [])])
      if (isText(a.title)) a.title = signal(a.title);
    for (const m of node.marks ?? []) if (m.type === "group") walk(m);
  };
  walk(vg);
  const skeleton = JSON.stringify(vg);
  vg.signals = [...(vg.signals ?? []), ...Object.entries(signals).map(([name, value]) => ({ name, value }))];
  const restore = () => {
    for (const d of entries) d.values = data[d.name];
  };
  return { skeleton, data, signals, restore };
}

/**
 * At most about `cap` of `values` (rows in order, e.g. a training history), keeping in each of
 * equal buckets its first and last row and the rows of the least and greatest value of every
 * numeric field: a long history drawn at a few hundred pixels looks the same, spikes included.
 */
export function thin(values, cap) {
  const n = values.length;
  if (n <= cap || n === 0) return values;
  const keys = Object.keys(values[0]).filter((key) => typeof values[0][key] === "number");
  const perBucket = 2 + 2 * keys.length;
  const buckets = Math.max(1, Math.floor(cap / perBucket));
  const out = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets);
    if (hi <= lo) continue;
    const keep = new Set([lo, hi - 1]);
    for (const key of keys) {
      let min = lo;
      let max = lo;
      for (let i = lo; i < hi; i++) {
        const v = values[i][key];
        if (!(typeof v === "number" && Number.isFinite(v))) continue;
        if (!(values[min][key] <= v)) min = i;
        if (!(values[max][key] >= v)) max = i;
      }
      keep.add(min).add(max);
    }
    for (const i of [...keep].sort((a, c) => a - c)) out.push(values[i]);
  }
  return out;
}
