/**
 * The run in the address: the preset, then every setting whose value differs from it, and
 * always seed, steps, threads, dtype and lr, so a link reproduces the run (same library version).
 * Values as the CLI's flags write them: lists `8,8`, `none` for an absent clip norm.
 */
import { fieldValue, sections } from "./form.js";
import * as lf from "./lib.js";

const ALWAYS = ["seed", "steps", "threads", "dtype", "lr"];
/** Parameters of the address that are not settings. */
const OTHER = ["preset"];

const text = (v) => (v === null ? "none" : Array.isArray(v) ? v.join(",") : String(v));

/** The query string of (preset, config). */
export function encodeState(preset, config) {
  const base = lf.presetConfig(preset);
  const q = new URLSearchParams({ preset });
  for (const key of Object.values(sections(config)).flat()) {
    const v = fieldValue(config, key);
    if (ALWAYS.includes(key) || JSON.stringify(v) !== JSON.stringify(fieldValue(base, key)))
      q.set(key, text(v));
  }
  return q.toString();
}

/** A setting's value from its text in the address (the inverse of `text`). */
function parse(key, s) {
  if (s === "true" || s === "false") return s === "true";
  if (s === "none") return null;
  if (key === "hidden" || s.includes(",")) return s.split(",").map(Number);
  return s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : s;
}

/**
 * {preset, settings} from a query string; `applySettings(presetConfig(preset), settings)` is then
 * the run (it throws the CLI's SpecError for a bad value or an unknown preset).
 */
export function decodeState(search) {
  const q = new URLSearchParams(search);
  const settings = {};
  for (const [k, v] of q) if (!OTHER.includes(k)) settings[k] = parse(k, v);
  return { preset: q.get("preset") ?? "phi4-notebook", settings };
}
