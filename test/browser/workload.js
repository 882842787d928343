/**
 * One computation run twice by test/browser.test.ts, in Node and in headless Chromium, on the
 * compiled package: random numbers, training steps (float64 through the TypeScript kernels,
 * float32 through WebAssembly SIMD with Winograd and the resident tape), flow sampling and
 * HMC with step-size adaptation. The brief promises the same numbers for the same seed in both, so every number must
 * agree bit for bit. Plain JavaScript so the browser can import it as it is.
 */
export function workload(lf) {
  const out = {};
  const normals = new Float64Array(6);
  new lf.Rng(1).normal(normals);
  out.normals = Array.from(normals);
  const cases = [
    // 30 steps: Adam's bias corrections 1 − βᵗ take `pow`, where engines differ from t = 4 on.
    { dtype: "float64", L: 8, hidden: [8, 8], steps: 30 },
    // cin·cout = 256 at L = 16: the float32 step takes the Winograd kernels.
    { dtype: "float32", L: 16, hidden: [16, 16], steps: 4 },
  ];
  for (const c of cases) {
    const latticeShape = [c.L, c.L];
    const flow = lf.affineCouplingFlow({ latticeShape, layers: 4, hidden: c.hidden, kernel: 3 });
    const theory = new lf.Phi4Theory({ latticeShape, m2: -4, lam: 8 });
    const trainer = lf.createTrainer({
      flow,
      theory,
      optimizer: lf.adam({ lr: 1e-3 }),
      batch: 16,
      dtype: c.dtype,
    });
    const state = trainer.init(new lf.Rng(1));
    const steps = [];
    for (let k = 0; k < c.steps; k++) {
      const m = trainer.step(state);
      steps.push([m.loss, m.ess, Array.from(m.batchLogq), Array.from(m.batchLogp)]);
    }
    const { logq } = flow.sample(state.params, new lf.Rng(2), 8, c.dtype);
    out[c.dtype] = { steps, logq: Array.from(logq.data) };
  }
  const theory = new lf.Phi4Theory({ latticeShape: [8, 8], m2: -4, lam: 8 });
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
 * browser, worker_threads in Node). `spawn` is the environment's; the numbers must not be.
 */
export async function parallelWorkload(lf, spawn) {
  const spec = {
    flow: { latticeShape: [8, 8], layers: 4, hidden: [8, 8], kernel: 3 },
    theory: { latticeShape: [8, 8], m2: -4, lam: 8 },
    dtype: "float64",
  };
  const trainer = lf.createParallelTrainer({
    spec,
    optimizer: lf.adam({ lr: 1e-3 }),
    batch: 16,
    threads: 2,
    spawn,
  });
  try {
    const state = trainer.init(new lf.Rng(1));
    await trainer.ready(state.params);
    const losses = [];
    for (let k = 0; k < 6; k++) losses.push(trainer.step(state).loss);
    const { logq } = trainer.sample(state.params, new lf.Rng(2), 9);
    return { losses, logq: Array.from(logq.data) };
  } finally {
    trainer.close();
  }
}
