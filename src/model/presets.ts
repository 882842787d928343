/**
 * Named runs, shared by the CLI (`--preset`) and the browser page: the notebook's two φ⁴ studies
 * (../shared/seeds, arXiv 1904.12072), the same theory with a better-trained flow and with an
 * MLP-conditioned RealNVP flow; the continuous flow of arXiv 2207.00283 at L = 32 (three stages, {@link PRESET_CONTINUES});
 * NeuralRG's Ising MERA runs; the U(1) tutorial's study (arXiv 2101.08176) and a stronger flow
 * for the same physics.
 */
import { FLOW_DEFAULTS } from "./flow-spec.js";
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

/**
 * The tutorial's U(1) run (arXiv 2101.08176): L = 8, β = 2, 16 gauge-equivariant NCP layers with
 * 2 components, hidden [8, 8], kernel 3; Adam at 1e-3, batch 64, 10 eras × 100 epochs = 1000
 * steps; float64, the tutorial's dtype on CPU.
 */
const u1Tutorial: RunConfig = {
  theory: { kind: "u1", latticeShape: [8, 8], beta: 2 },
  flow: { kind: "ncp", layers: 16, hidden: [8, 8], kernel: 3, components: 2 },
  train: { ...TRAIN_DEFAULTS, batch: 64, steps: 1000, lr: 1e-3, dtype: "float64" },
};

export const PRESETS: Readonly<Record<string, RunConfig>> = {
  "phi4-notebook": notebook,
  /**
   * The notebook's physics with a flow trained to ESS ≈ 0.7 in under 10 minutes on 2 threads
   * (issue 14, docs/phi4-beyond.md): the same 16 affine couplings with twice the conditioner
   * width, 12× the steps at a cosine-decayed learning rate from 2e-3, in float32.
   */
  "phi4-best": {
    theory: notebook.theory,
    flow: { kind: "affine-cnn", layers: 16, hidden: [16, 16], kernel: 3, identityInit: false },
    train: {
      ...TRAIN_DEFAULTS,
      batch: 64,
      steps: 30000,
      lr: 2e-3,
      lrSchedule: "cosine",
      dtype: "float32",
      threads: 2,
      checkpointEvery: 2500,
    },
  },
  /**
   * The first of `phi4-l32`'s three stages: the equivariant continuous flow (arXiv 2207.00283,
   * its reference code's model and Adam β = 0.8, 0.9) trained at L = 32's coupling λ = 4.572 on
   * a 16×16 lattice, where a step costs a quarter; 40 RK4 steps, batch 32, 3200 steps at a
   * cosine-decayed rate from 2e-3, float32, 2 threads (docs/phi4-beyond.md; the first
   * measured run had 1 thread and 48 minutes).
   */
  "phi4-l32-start": {
    theory: { kind: "phi4", latticeShape: [16, 16], m2: -4, lam: 4.572 },
    flow: { ...FLOW_DEFAULTS.cnf, odeSteps: 40 },
    train: {
      ...TRAIN_DEFAULTS,
      batch: 32,
      steps: 3200,
      lr: 2e-3,
      lrSchedule: "cosine",
      beta1: 0.8,
      beta2: 0.9,
      dtype: "float32",
      threads: 2,
      checkpointEvery: 200,
    },
  },
  /**
   * The second stage (`--init-from` a `phi4-l32-start` run): still 16×16, now with the path
   * gradient (arXiv 2207.08219), whose variance vanishes as q → p where the reparameterisation
   * gradient's does not, and 80 RK4 steps (the path gradient needs an accurate log q); a rate
   * warmed up over 100 steps to 7e-4, cosine-decayed over 1500, batch 32, 2 threads. The
   * measured chain reached this stage's result by a longer way (docs/phi4-beyond.md).
   */
  "phi4-l32-refine": {
    theory: { kind: "phi4", latticeShape: [16, 16], m2: -4, lam: 4.572 },
    flow: { ...FLOW_DEFAULTS.cnf, odeSteps: 80 },
    train: {
      ...TRAIN_DEFAULTS,
      batch: 32,
      steps: 1500,
      lr: 7e-4,
      lrSchedule: "cosine",
      lrWarmup: 100,
      beta1: 0.8,
      beta2: 0.9,
      dtype: "float32",
      threads: 2,
      checkpointEvery: 250,
      gradientEstimator: "path",
    },
  },
  /**
   * φ⁴ at L = 32, m² = −4, λ = 4.572 (ξ ≈ L/4, arXiv 2207.00283): the refined flow moved to
   * 32×32 (`--init-from`: its kernel embedded, src/flows/cnf-kernel-transfer.ts) and trained on
   * there with the path gradient, which removes what the move loses: 80 RK4 steps, batch 8 (each
   * draw has 1024 sites), 1500 steps at a rate warmed up over 50 steps to 3e-4 and cosine-decayed
   * (1e-3 from a fresh Adam without warm-up undid the transfer), float32, 2 threads. With 900
   * steps the loss still fell at the end on every seed and 2 of 4 ended below ESS 0.5; with
   * 1500, seeds 1, 3 and 4 end at 0.560, 0.651 and 0.481 (docs/phi4-beyond.md).
   */
  "phi4-l32": {
    theory: { kind: "phi4", latticeShape: [32, 32], m2: -4, lam: 4.572 },
    flow: { ...FLOW_DEFAULTS.cnf, odeSteps: 80 },
    train: {
      ...TRAIN_DEFAULTS,
      batch: 8,
      steps: 1500,
      lr: 3e-4,
      lrSchedule: "cosine",
      lrWarmup: 50,
      beta1: 0.8,
      beta2: 0.9,
      dtype: "float32",
      threads: 2,
      checkpointEvery: 50,
      gradientEstimator: "path",
    },
  },
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
  "u1-tutorial": u1Tutorial,
  /**
   * The same physics with circular rational-quadratic splines (8 bins) in place of the NCP
   * mixture, 24 layers, 4× the batch, 3× the steps and a cosine learning-rate decay from 2e-3, in
   * float32 on 1 thread (docs/u1.md: the measured acceptance and wall time; `--threads 2` halves
   * the time).
   */
  "u1-best": {
    theory: u1Tutorial.theory,
    flow: { kind: "spline", layers: 24, hidden: [8, 8], kernel: 3, bins: 8 },
    train: {
      ...TRAIN_DEFAULTS,
      batch: 256,
      steps: 3000,
      lr: 2e-3,
      lrSchedule: "cosine",
      dtype: "float32",
      threads: 1,
    },
  },
};

/**
 * Presets that go on from another's trained flow (`--init-from` a run of the named preset), so
 * that one from scratch would waste its steps: `phi4-l32`'s stages.
 */
export const PRESET_CONTINUES: Readonly<Record<string, string>> = {
  "phi4-l32-refine": "phi4-l32-start",
  "phi4-l32": "phi4-l32-refine",
};

/** The preset whose trained flow `name` goes on from, if any. */
export function presetBefore(name: string): string | undefined {
  return Object.hasOwn(PRESET_CONTINUES, name) ? PRESET_CONTINUES[name] : undefined;
}

/** The presets to train in turn, each `--init-from` the one before, to reach `name`. */
export function presetChain(name: string): string[] {
  presetConfig(name);
  const chain = [name];
  for (let p = presetBefore(name); p !== undefined; p = presetBefore(p)) chain.unshift(p);
  return chain;
}

/** A fresh copy of a preset; SpecError naming the known ones otherwise. */
export function presetConfig(name: string): RunConfig {
  const p = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!p) throw new SpecError(`unknown preset '${name}': use one of ${Object.keys(PRESETS).join(", ")}`);
  return structuredClone(p);
}
