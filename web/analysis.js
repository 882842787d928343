/**
 * What the lab worker computes after training, with the library's samplers and its measurement
 * (the functions behind `latticeflow sample`, `hmc` and `measure`): a flow-MH chain, an HMC
 * chain of the same theory, and their observables with Γ-method errors.
 */
import * as lf from "./lib.js";

/** Labels of the observables, as `latticeflow measure` prints them. */
const LABELS = {
  m: "⟨M⟩/V",
  chi2: "χ₂ = ⟨M²⟩/V",
  chi2_connected: "χ₂ connected",
  abs_m: "⟨|M|⟩/V",
  phi2: "⟨φ²⟩",
  phi4: "⟨φ⁴⟩",
  binder: "Binder U",
  action_density: "⟨S⟩/V",
  plaquette: "⟨cos P⟩",
  q: "⟨Q⟩",
  q2: "⟨Q²⟩",
  chi_top: "χ_t = ⟨Q²⟩/V",
  m2: "⟨m²⟩",
  m4: "⟨m⁴⟩",
  chi: "χ",
  energy: "E/N",
  energy2: "⟨(E/N)²⟩",
  specific_heat: "C/N",
};

/**
 * A flow-MH chain exactly as `latticeflow sample --mh --seed S --n N --batch B` draws it: the
 * proposals from seed-stream 1, the accept decisions from stream 2.
 */
export function mhChain(lab, { n, seed, batch }) {
  const rng = new lf.Rng(seed);
  const proposalRng = rng.split(1);
  const acceptRng = rng.split(2);
  // The proposals' log q, in proposal order, for the S_eff-against-S figure.
  const logqs = [];
  const propose = (m) => {
    const { x, logq } = lab.trainer.sample(lab.state.params, proposalRng, m);
    const q = Float64Array.from(logq.data);
    logqs.push(q);
    return { x: Float64Array.from(x.data), logq: q };
  };
  const r = lf.independenceMetropolis(lab.theory, propose, { n, batch }, acceptRng);
  const proposalLogq = new Float64Array(r.proposalLogWeights.length);
  let o = 0;
  for (const q of logqs) {
    proposalLogq.set(q.subarray(0, proposalLogq.length - o), o);
    o += q.length;
  }
  return { ...r, proposalLogq };
}

/** The measurement of `latticeflow measure` (the library's measureEnsemble): {m, exact}. */
function measure(spec, configs) {
  const r = lf.measureEnsemble(spec, configs, lf.configShapeOf(spec));
  return { m: r.m, exact: r.kind === "ising" ? r.exact : {} };
}

/** The table rows: every Γ-method estimate of the measurement, its exact value where known. */
function rows(spec, m, exact, seconds) {
  const out = [];
  for (const [key, g] of Object.entries(m)) {
    if (!g || typeof g !== "object" || !("tauInt" in g) || !("value" in g)) continue;
    const ex = exact[key] ?? m[`${key}_exact`] ?? null;
    out.push({
      key,
      label: LABELS[key] ?? key,
      value: g.value,
      error: g.error,
      tauInt: g.tauInt,
      tauIntError: g.tauIntError,
      exact: typeof ex === "number" ? ex : null,
      // Seconds per independent sample, seconds/N · 2τ_int (as `latticeflow measure`).
      cost: Number.isFinite(g.tauInt) ? (seconds / m.n) * 2 * g.tauInt : null,
    });
  }
  if (spec.kind === "u1")
    for (const w of m.wilson_loops ?? [])
      out.push({
        key: `W${w.r}x${w.t}`,
        label: `W(${w.r}×${w.t})`,
        value: w.estimate.value,
        error: w.estimate.error,
        tauInt: w.estimate.tauInt,
        tauIntError: w.estimate.tauIntError,
        exact: w.exact,
        cost: null,
      });
  return out;
}

/** The Monte Carlo histories `latticeflow plot` draws for an ensemble, with their Γ-method estimates. */
function histories(spec, m, configs) {
  const g = (e) => ({
    value: e.value,
    error: e.error,
    tauInt: e.tauInt,
    tauIntError: e.tauIntError,
    gamma: e.gamma,
    window: e.window,
  });
  const ref = (v) => (typeof v === "number" ? { reference: { value: v, label: "exact" } } : {});
  switch (spec.kind) {
    case "phi4": {
      const density = m.magnetization.map((x) => x / m.volume);
      return [
        { label: "M/V", series: density, estimate: g(lf.gammaMethodScalar(density)) },
        { label: "|M|/V", series: lf.absMagnetizationDensity(configs, m.latticeShape), estimate: g(m.abs_m) },
      ];
    }
    case "u1":
      return [
        {
          label: "plaquette ⟨cos P⟩",
          series: m.plaquettes,
          estimate: g(m.plaquette),
          ...ref(m.plaquette_exact),
        },
      ];
    case "ising":
      return [{ label: "m", series: m.magnetization, estimate: g(m.m) }];
  }
}

/** U(1): the charge history and ⟨Q²⟩ for the topology figure; null for other theories. */
function topology(spec, m) {
  if (spec.kind !== "u1" || !m.charge || !m.q2) return null;
  const { value, error, tauInt, tauIntError, gamma, window } = m.q2;
  return {
    charge: Float64Array.from(m.charge),
    q2: { value, error, tauInt, tauIntError, gamma: Float64Array.from(gamma), window },
    q2Exact: m.q2_exact,
    volume: m.volume,
  };
}

/**
 * What the page draws of n configurations: the fields themselves, or for U(1) the gauge-invariant
 * plaquette angles P₀₁(x) (as `latticeflow plot`), n·V numbers either way.
 */
export function picture(theory, spec, configs, n) {
  if (spec.kind !== "u1" || spec.latticeShape.length !== 2) return configs;
  const v = theory.plaquetteCount;
  const out = new Float64Array(n * v);
  const p = new Float64Array(v);
  for (let b = 0; b < n; b++) out.set(theory.plaquettes(configs, b, p), b * v);
  return out;
}

/** `k` evenly spread entries of `indices` (first and last kept). */
function spread(indices, k) {
  if (indices.length <= k) return indices;
  return Array.from({ length: k }, (_, i) => indices[Math.round((i * (indices.length - 1)) / (k - 1))]);
}

/**
 * The chain's acceptance, its rejection runs and τ_int (the library's acceptance-run estimate),
 * 16 distinct states it accepted (not its last 16, which repeat on every rejection), and the
 * measurement table.
 */
export function analyseChain(lab, r, seconds) {
  const v = lab.theory.size;
  const n = r.accepted.length;
  const rejection = n >= 3 ? lf.rejectionRunTauInt(r.accepted) : null;
  const acceptedAt = [];
  for (let i = 0; i < n; i++) if (r.accepted[i] === 1) acceptedAt.push(i);
  const picked = spread(acceptedAt, 16);
  const states = new Float64Array(picked.length * v);
  picked.forEach((i, k) => {
    states.set(r.configs.subarray(i * v, (i + 1) * v), k * v);
  });
  const { m, exact } = measure(lab.config.theory, r.configs);
  return {
    n,
    acceptance: r.acceptance,
    ess: lf.essFromLogWeights(r.proposalLogWeights),
    // The proposals' log w = −S − log q and log q: the log-weight and S_eff-against-S figures.
    logw: r.proposalLogWeights,
    logq: r.proposalLogq,
    distinct: acceptedAt.length,
    longestRejectionRun: rejection?.longestRun ?? 0,
    tauIntRejection: rejection?.tauInt ?? Number.NaN,
    tauIntRejectionError: rejection?.tauIntError ?? Number.NaN,
    states: picture(lab.theory, lab.config.theory, states, picked.length),
    statesShown: picked.length,
    rows: rows(lab.config.theory, m, exact, seconds),
    history: histories(lab.config.theory, m, r.configs),
    topology: topology(lab.config.theory, m),
  };
}

/** An HMC chain of the same theory with `latticeflow hmc`'s defaults but N and thermalisation. */
export function hmcRun(theory, spec, { n, therm, seed }) {
  const t0 = performance.now();
  const r = lf.hmcChain(
    theory,
    { nTherm: therm, n, nLeapfrog: 10, trajectoryLength: 1, targetAcceptance: 0.8 },
    new lf.Rng(seed),
  );
  const seconds = (performance.now() - t0) / 1000;
  const { m, exact } = measure(spec, r.configs);
  return {
    n,
    therm,
    seconds,
    acceptance: r.acceptance,
    stepSize: r.stepSize,
    rows: rows(spec, m, exact, seconds),
    history: histories(spec, m, r.configs),
    topology: topology(spec, m),
  };
}

/** MERA: the renormalised variables of the first 4 configurations of `x`, scale by scale. */
export function renormalised(flow, params, x) {
  if (flow.kind !== "mera") return null;
  const v = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const four = new lf.Tensor(x.data.slice(0, 4 * v), [4, ...x.shape.slice(1)]);
  return lf.renormalisedVariables(flow, params, four).map((t) => ({
    side: t.shape[1],
    values: Float64Array.from(t.data),
  }));
}
