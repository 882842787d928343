/**
 * One computation run twice by test/browser.test.ts, in Node and in headless Chromium, on the
 * compiled package: random numbers, training steps (float64 through the TypeScript kernels,
 * float32 through WebAssembly SIMD with Winograd and the resident tape; the notebook's flow,
 * the MLP-conditioned RealNVP and NeuralRG's MERA with its fused block kernels), flow sampling and HMC with step-size adaptation. The brief
 * promises the same numbers for the same seed in both, so every number must agree bit for bit.
 * Plain JavaScript so the browser can import it as it is. Models are built only through the
 * library's model description (a preset's RunConfig with settings applied).
 */

/** A preset with flat settings applied (as flags or the page's controls would), validated. */
export function runConfig(lf, preset, settings) {
  return lf.applySettings(lf.presetConfig(preset), settings, "workload");
}

export function workload(lf) {
  const out = {};
  const normals = new Float64Array(6);
  new lf.Rng(1).normal(normals);
  out.normals = Array.from(normals);
  const cases = {
    // 30 steps: Adam's bias corrections 1 − βᵗ take `pow`, where engines differ from t = 4 on.
    float64: ["phi4-notebook", { L: 8, layers: 4, hidden: [8, 8], dtype: "float64", steps: 30 }],
    // cin·cout = 256 at L = 16: the float32 step takes the Winograd kernels.
    float32: ["phi4-notebook", { L: 16, layers: 4, hidden: [16, 16], dtype: "float32", steps: 4 }],
    // Matrix products, ReLU and the stripe partition's gathers, in float32.
    mlp: ["phi4-mlp", { layers: 4, hidden: [32, 32], dtype: "float32", steps: 4 }],
    // NeuralRG's MERA on the relaxed Ising model: the fused RealNVP block (WebAssembly SIMD,
    // ELU, tanh and exp from exponent-bit arithmetic), float32 and float64.
    mera32: ["ising-mera-quick", { layers: 3, hidden: [8], dtype: "float32", steps: 3 }],
    mera64: ["ising-mera-quick", { L: 4, layers: 2, hidden: [5], dtype: "float64", steps: 3 }],
  };
  for (const [name, [preset, settings]] of Object.entries(cases)) {
    const config = runConfig(lf, preset, { ...settings, batch: 16, seed: 1 });
    const { flow, theory } = lf.buildModel(config);
    const t = config.train;
    const trainer = lf.createTrainer({
      flow,
      theory,
      optimizer: lf.adamOf(t),
      batch: t.batch,
      dtype: t.dtype,
    });
    const state = trainer.init(new lf.Rng(t.seed));
    const steps = [];
    for (let k = 0; k < t.steps; k++) {
      const m = trainer.step(state);
      steps.push([m.loss, m.ess, Array.from(m.batchLogq), Array.from(m.batchLogp)]);
    }
    const { logq } = flow.sample(state.params, new lf.Rng(2), 8, t.dtype);
    out[name] = { steps, logq: Array.from(logq.data) };
  }
  const { theory } = lf.buildModel(runConfig(lf, "phi4-notebook", {}));
  // Step-size adaptation during thermalisation uses pow as well.
  const hmc = lf.hmcChain(
    theory,
    { nTherm: 20, n: 8, nLeapfrog: 10, trajectoryLength: 1, targetAcceptance: 0.8 },
    new lf.Rng(3),
  );
  out.hmc = {
    acceptance: hmc.acceptance,
    stepSize: hmc.stepSize,
    deltaH: Array.from(hmc.deltaH),
    last: hmc.configs.at(-1),
  };
  return out;
}

/**
 * Two threads: the batch split between the calling thread and one worker (Web Workers in the
 * browser, worker_threads in Node), which rebuilds the model from its description
 * (`modelSpecOf`). `spawn` is the environment's; the numbers must not be. Then a sampler
 * without an optimiser, on the trained weights.
 */
export async function parallelWorkload(lf, spawn) {
  const config = runConfig(lf, "phi4-notebook", { layers: 4, batch: 16, steps: 6, seed: 1, threads: 2 });
  const t = config.train;
  const spec = lf.modelSpecOf(config);
  const trainer = lf.createParallelTrainer({
    spec,
    optimizer: lf.adamOf(t),
    batch: t.batch,
    threads: t.threads,
    spawn,
  });
  let state;
  const out = {};
  try {
    state = trainer.init(new lf.Rng(t.seed));
    await trainer.ready(state.params);
    out.losses = [];
    for (let k = 0; k < t.steps; k++) out.losses.push(trainer.step(state).loss);
    out.logq = Array.from(trainer.sample(state.params, new lf.Rng(2), 9).logq.data);
  } finally {
    trainer.close();
  }
  const sampler = lf.createParallelSampler({ spec, threads: t.threads, spawn });
  try {
    await sampler.ready(state.params);
    const { x, logq } = sampler.sample(state.params, new lf.Rng(2), 9);
    out.sampler = { logq: Array.from(logq.data), x: Array.from(x.data.subarray(0, 16)) };
  } finally {
    sampler.close();
  }
  return out;
}
