/**
 * A run's configuration from the command line: preset → JSON config file → flags, later
 * overriding earlier, each merged through the model description's one parser (src/model).
 */
import { readFileSync } from "node:fs";
import {
  applySettings,
  type FlatSettings,
  flatten,
  presetConfig,
  type RunConfig,
  SpecError,
} from "../model/index.js";
import { UsageError } from "./errors.js";
import { inFlagTerms } from "./spec-flags.js";
import { resolveThreads } from "./threads.js";

export type { RunConfig };
export { presetConfig };

/** A config file's settings: the nested `{theory, flow, train}` form (possibly partial) or flat keys. */
export function readConfigFile(path: string): FlatSettings {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`cannot read config file ${path}: check the path`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`config file ${path} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new UsageError(`config file ${path} must hold a JSON object`);
  }
  const o = raw as Record<string, unknown>;
  const nested = ["theory", "flow", "train"].some((k) => typeof o[k] === "object" && o[k] !== null);
  return nested ? flatten(o as Parameters<typeof flatten>[0]) : o;
}

/**
 * A run's configuration with its continuous flow integrated in `odeSteps` RK4 steps instead
 * (`sample` and `lnz --ode-steps`): the same weights, a more accurate log q for more steps.
 */
export function withOdeSteps(config: RunConfig, odeSteps: number | undefined, run: string): RunConfig {
  if (odeSteps === undefined) return config;
  if (config.flow.kind !== "cnf") {
    throw new UsageError(
      `--ode-steps sets the RK4 steps of a continuous flow (cnf); the run in ${run} has flow '${config.flow.kind}': drop --ode-steps`,
    );
  }
  return applyFlags(config, { odeSteps });
}

/** `applySettings` on flags: messages name the flag (`--lr`), not the spec path (`'train.lr'`). */
export function applyFlags(base: RunConfig | undefined, flags: FlatSettings): RunConfig {
  try {
    return applySettings(base, flags, "flags");
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    throw new SpecError(inFlagTerms(e.message));
  }
}

/**
 * The configuration of a new run from `--preset`, `--config` and flags (`flags` holds only
 * the flags given); undefined when none of them was given.
 */
export function mergedConfig(
  preset: string | undefined,
  configFile: string | undefined,
  flags: FlatSettings,
): RunConfig | undefined {
  if (preset === undefined && configFile === undefined && Object.keys(flags).length === 0) return undefined;
  let config = presetConfig(preset ?? "phi4-notebook");
  if (configFile !== undefined) config = applySettings(config, readConfigFile(configFile), configFile);
  const f = { ...flags };
  // "auto" is recorded as the count it meant on this machine.
  if (f.threads === "auto")
    f.threads = resolveThreads("auto", (f.batch as number | undefined) ?? config.train.batch);
  return applyFlags(config, f);
}
