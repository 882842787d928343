/**
 * Named runs, shared by the CLI (`--preset`) and the browser page: the notebook's two φ⁴ studies
 * (../shared/seeds, arXiv 1904.12072) and the same theory with an MLP-conditioned RealNVP flow.
 */
import type { RunConfig } from "./run-config.js";
import { SpecError } from "./spec-error.js";
import { TRAIN_DEFAULTS } from "./train-spec.js";

const notebook: RunConfig = {
  theory: { kind: "phi4", latticeShape: [8, 8], m2: -4, lam: 8 },
  flow: { kind: "affine-cnn", layers: 16, hidden: [8, 8], kernel: 3, identityInit: false },
  train: { ...TRAIN_DEFAULTS, batch: 64, steps: 2500, lr: 1e-3 },
};

const ISING_TC = 2.269185314213022;

function isingMera(L: number, steps: number): RunConfig {
  return {
    theory: { kind: "ising", latticeShape: [L, L], T: ISING_TC, boundary: "periodic" },
    flow: { kind: "mera", layers: 8, hidden: [64], ndis: 2, identityInit: false },
    train: { ...TRAIN_DEFAULTS, batch: 1024, steps, lr: 1e-3, dtype: "float32", checkpointEvery: 250 },
  };
}

export const PRESETS: Readonly<Record<string, RunConfig>> = {
  "phi4-notebook": notebook,
  "phi4-broken": {
    ...notebook,
    theory: { kind: "phi4", latticeShape: [8, 8], m2: -4, lam: 1 },
    train: { ...notebook.train, steps: 1500 },
  },
  "phi4-mlp": {
    theory: notebook.theory,
    flow: { kind: "realnvp-mlp", layers: 8, hidden: [128, 128], partition: "stripes", identityInit: true },
    train: { ...notebook.train, batch: 256, steps: 1500 },
  },
  "ising-mera-l4": isingMera(4, 5000),
  "ising-mera-l8": isingMera(8, 5000),
  "ising-mera-l16": isingMera(16, 5000),
  "ising-mera-quick": {
    theory: { kind: "ising", latticeShape: [8, 8], T: ISING_TC, boundary: "periodic" },
    flow: { kind: "mera", layers: 4, hidden: [32], ndis: 1, identityInit: false },
    train: { ...TRAIN_DEFAULTS, batch: 256, steps: 1000, lr: 1e-3, dtype: "float32" },
  },
};

/** A fresh copy of a preset; SpecError naming the known ones otherwise. */
export function presetConfig(name: string): RunConfig {
  const p = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!p) throw new SpecError(`unknown preset '${name}': use one of ${Object.keys(PRESETS).join(", ")}`);
  return structuredClone(p);
}
