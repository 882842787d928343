/**
 * The model's controls, generated from the library's model description: every field of the
 * chosen theory, flow and training (their kinds' defaults say which fields exist), each applied
 * with `applySettings` as the CLI applies a flag, so a bad value gets the CLI's one-line
 * SpecError next to its field and the last valid config stays in force.
 */
import * as lf from "./lib.js";

export const SOURCE = "the page";

const ENUMS = {
  boundary: ["periodic", "open"],
  partition: ["stripes", "checkerboard"],
  lrSchedule: ["constant", "cosine", "step"],
  dtype: ["float64", "float32"],
  gradientEstimator: ["reparameterization", "path", "reinforce"],
};

/** Optional fields and what their absence means (train-spec.ts, flow-spec.ts). */
const ABSENT = {
  lrSchedule: "constant",
  lrDecayEvery: null,
  lrDecayFactor: 0.5,
  lrWarmup: null,
  batchGrowthEvery: null,
  batchMax: null,
  weightDecay: 0,
  nllWeight: 0,
  klWeight: 1,
  chainHmc: 0,
  gradientEstimator: "reparameterization",
  z2: false,
  z2Equivariant: false,
};

const LABELS = {
  theory: "theory",
  L: "L (extent)",
  dim: "dimensions",
  m2: "m²",
  lam: "λ",
  beta: "β",
  T: "T (J = 1)",
  flow: "flow",
  hidden: "hidden widths",
  identityInit: "identity init",
  ndis: "disentanglers",
  odeSteps: "ODE steps",
  timeFrequencies: "time frequencies",
  z2: "Z₂-symmetrised q",
  z2Equivariant: "Z₂-equivariant",
  lr: "learning rate",
  lrSchedule: "lr schedule",
  lrDecayEvery: "lr drops every (steps; empty: off)",
  lrDecayFactor: "lr drop factor γ",
  lrWarmup: "lr warm-up (steps; empty: off)",
  batchGrowthEvery: "batch doubles every (steps; empty: off)",
  batchMax: "largest batch (empty: off)",
  beta1: "Adam β₁",
  beta2: "Adam β₂",
  clipNorm: "clip norm (empty: off)",
  weightDecay: "weight decay",
  nllWeight: "NLL weight δ",
  klWeight: "KL weight ω",
  chainHmc: "chain HMC",
  gradientEstimator: "gradient estimator",
  dtype: "precision",
};

/** The fields of each section for the config's kinds, in the spec's order. */
export function sections(config) {
  const tk = config.theory.kind;
  const fk = config.flow.kind;
  const theory = [
    "theory",
    "L",
    "dim",
    ...keysOf(lf.THEORY_DEFAULTS[tk]).filter((k) => k !== "latticeShape"),
  ];
  const flow = ["flow", ...keysOf(lf.FLOW_DEFAULTS[fk])];
  if (lf.FLOW_DOMAIN[fk] === "real") flow.push("z2");
  if (fk === "affine-cnn" || fk === "realnvp-mlp") flow.push("z2Equivariant");
  const train = Object.keys(lf.TrainSpecSchema.shape).filter((k) => k !== "checkpointEvery");
  return { theory, flow, train };
}

const keysOf = (o) => Object.keys(o).filter((k) => k !== "kind");

/** A field's value in `config` (absent optional fields as what absence means). */
export function fieldValue(config, key) {
  if (key === "L") return config.theory.latticeShape[0];
  if (key === "dim") return config.theory.latticeShape.length;
  const v = lf.flatten(config)[key];
  return v === undefined ? ABSENT[key] : v;
}

function optionsOf(config, key) {
  if (key === "theory") return lf.THEORY_KINDS;
  if (key === "flow") {
    const domain = lf.domainOf(config.theory);
    return lf.FLOW_KINDS.filter((k) => lf.FLOW_DOMAIN[k] === domain);
  }
  return ENUMS[key];
}

/** Optional fields that an empty text removes (their absence: off, or the default). */
const CLEARABLE = ["lrDecayEvery", "lrDecayFactor", "lrWarmup", "batchGrowthEvery", "batchMax"];

/**
 * A field's text as typed → the setting's value ("" for a nullable number: null; for a
 * CLEARABLE field: undefined, the field removed).
 */
export function parseField(key, raw, like) {
  if (typeof like === "boolean") return raw === true || raw === "true";
  if (Array.isArray(like) || key === "hidden") return String(raw).split(",").filter(Boolean).map(Number);
  if (typeof like === "string") return String(raw);
  if (String(raw).trim() === "")
    return key === "clipNorm" ? null : CLEARABLE.includes(key) ? undefined : Number.NaN;
  return Number(raw);
}

/** `config` with `settings` applied as `applySettings` does; a value undefined removes the field. */
function withSettings(config, settings) {
  const removed = Object.keys(settings).filter((k) => settings[k] === undefined);
  const train = Object.fromEntries(Object.entries(config.train).filter(([k]) => !removed.includes(k)));
  return lf.applySettings({ ...config, train }, settings, SOURCE);
}

/** Fields that may change while a run exists: they change neither the model nor its random stream. */
const UNLOCKED = ["lr", "steps"];

/** The form: render(config) and per-field errors; `onChange(config)` after each valid edit. */
export function createForm(root, { onChange, onError }) {
  let config = null;
  const errors = new Map();
  let locked = false;

  function input(key, value) {
    const options = optionsOf(config, key);
    let el;
    if (options) {
      el = document.createElement("select");
      for (const o of options) el.append(new Option(o, o, false, o === value));
    } else if (typeof value === "boolean") {
      el = document.createElement("input");
      el.type = "checkbox";
      el.checked = value;
    } else {
      el = document.createElement("input");
      el.type = "text";
      el.inputMode = Array.isArray(value) ? "text" : "decimal";
      el.value = value === null ? "" : Array.isArray(value) ? value.join(",") : String(value);
      el.size = 8;
    }
    el.id = `f-${key}`;
    el.name = key;
    el.addEventListener("change", () => edit(key, el.type === "checkbox" ? el.checked : el.value));
    return el;
  }

  function field(key) {
    const value = fieldValue(config, key);
    const label = document.createElement("label");
    label.className = "field";
    label.htmlFor = `f-${key}`;
    const name = document.createElement("span");
    name.textContent = LABELS[key] ?? key;
    const el = input(key, value);
    const err = document.createElement("span");
    err.className = "field-error";
    err.id = `e-${key}`;
    err.setAttribute("role", "alert");
    el.setAttribute("aria-describedby", err.id);
    if (errors.has(key)) {
      err.textContent = errors.get(key).message;
      el.setAttribute("aria-invalid", "true");
      if (el.tagName === "INPUT" && el.type !== "checkbox") el.value = errors.get(key).raw;
    }
    label.append(name, el, err);
    return label;
  }

  function render() {
    const s = sections(config);
    for (const [section, keys] of Object.entries(s)) {
      const box = root.querySelector(`[data-section="${section}"] .fields`);
      box.replaceChildren(...keys.map(field));
    }
    for (const el of root.querySelectorAll(".fields input, .fields select"))
      el.disabled = locked && !UNLOCKED.includes(el.name);
  }

  /**
   * The config with this edit and the values of the fields in error, if together they are
   * valid, else with this edit alone: fields valid only together (lrSchedule step and
   * lrDecayEvery, batchGrowthEvery and batchMax) are entered one after the other, the first
   * shown in error until the last completes them.
   */
  function apply(key, raw) {
    const edit = { [key]: parseField(key, raw, fieldValue(config, key)) };
    const others = [...errors.keys()].filter((k) => k !== key);
    if (others.length > 0) {
      const all = { ...edit };
      for (const k of others) all[k] = parseField(k, errors.get(k).raw, fieldValue(config, k));
      try {
        return { next: withSettings(config, all), with: others };
      } catch (e) {
        if (!(e instanceof lf.SpecError)) throw e;
      }
    }
    return { next: withSettings(config, edit), with: [] };
  }

  function edit(key, raw) {
    try {
      const { next, with: also } = apply(key, raw);
      errors.delete(key);
      for (const k of also) errors.delete(k);
      config = next;
      // A new kind has other fields: their old errors no longer apply.
      const keys = Object.values(sections(config)).flat();
      for (const k of [...errors.keys()]) if (!keys.includes(k)) errors.delete(k);
      render();
      onChange(config, key);
    } catch (e) {
      if (!(e instanceof lf.SpecError)) throw e;
      errors.set(key, { message: e.message.replace(`${SOURCE}: `, ""), raw: String(raw) });
      render();
      onError(errors);
    }
  }

  return {
    get config() {
      return config;
    },
    get errors() {
      return errors;
    },
    set(c) {
      config = c;
      errors.clear();
      render();
    },
    /** While a run exists only the learning rate and the steps may change (the rest would be another run). */
    lock(on) {
      locked = on;
      render();
    },
    /** Show an error at the field a message names (settings from the address), if any. */
    blame(message) {
      const keys = Object.values(sections(config)).flat();
      const m = /'(?:theory\.|flow\.|train\.)?(\w+)'/.exec(message);
      const key = m && (m[1] === "latticeShape" ? "L" : m[1]);
      if (key && keys.includes(key)) {
        errors.set(key, { message, raw: String(fieldValue(config, key) ?? "") });
        render();
        return true;
      }
      return false;
    },
  };
}
