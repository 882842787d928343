/**
 * The page's trainer, in a module Web Worker so the page stays responsive. It knows models only
 * through the library's model description: a preset's RunConfig `{theory, flow, train}` with the
 * page's controls applied as settings, built by `buildModel`; then, as
 * `latticeflow train --preset … --seed …` does, the same numbers bit for bit. Afterwards an exact
 * ensemble by flow Metropolis–Hastings. Messages to the page:
 *   {type: "config", config} once the settings are validated;
 *   {type: "step", step, loss, ess} per step;
 *   {type: "mh", acceptance, ess, configShape, samples} (the chain's last 16 configurations);
 *   {type: "done", losses, checkpoint (safetensors bytes)}; {type: "error", message}.
 */
import * as lf from "../dist/src/index.js";

let stop = false;

self.onmessage = (e) => {
  if (e.data.type === "stop") stop = true;
  if (e.data.type === "start")
    run(e.data).catch((err) => postMessage({ type: "error", message: String(err) }));
};

async function run({ preset, seed, steps, dtype }) {
  // One parser for every source: the page's controls are flat settings, validated like flags.
  const config = lf.applySettings(lf.presetConfig(preset), { seed, steps, dtype }, "the page");
  postMessage({ type: "config", config });
  const { theory, flow } = lf.buildModel(config);
  const t = config.train;
  // The optimiser, objective and estimator from the spec as the CLI builds them.
  const optimizer = lf.adamOf(t);
  const trainer = lf.createTrainer({
    flow,
    theory,
    optimizer,
    batch: t.batch,
    dtype: t.dtype,
    objective: lf.objectiveOf(t),
    gradientEstimator: lf.gradientEstimatorOf(t),
  });
  const state = trainer.init(new lf.Rng(t.seed)); // as the CLI: weights, then the prior draws
  const losses = [];
  for (let k = 0; k < t.steps && !stop; k++) {
    const m = trainer.step(state);
    losses.push(m.loss);
    postMessage({ type: "step", step: m.step, loss: m.loss, ess: m.ess });
    if (k % 4 === 3) await new Promise((r) => setTimeout(r, 0)); // let "stop" in
  }
  // Flow Metropolis–Hastings: 1024 proposals in chunks of 64, accepted against e^{−S}.
  const rng = new lf.Rng(t.seed + 1);
  const propose = (n) => {
    const { x, logq } = flow.sample(state.params, rng, n, t.dtype);
    return { x: Float64Array.from(x.data), logq: Float64Array.from(logq.data) };
  };
  const mh = lf.independenceMetropolis(theory, propose, { n: 1024, batch: 64 }, rng);
  const ess = lf.essFromLogWeights(mh.proposalLogWeights);
  postMessage({
    type: "mh",
    acceptance: mh.acceptance,
    ess,
    configShape: lf.configShapeOf(config.theory),
    samples: mh.configs.slice(-16 * theory.size),
  });
  // The weights as safetensors with the CLI's tensor names and metadata (the run's description
  // under `config`): PyTorch's load_state_dict reads the tensors.
  const tensors = {};
  for (const [name, p] of Object.entries(state.params))
    tensors[name] = { dtype: t.dtype === "float32" ? "F32" : "F64", shape: [...p.shape], data: p.data };
  const checkpoint = lf.encodeSafetensors(tensors, {
    format: "latticeflow",
    step: String(state.step),
    config: JSON.stringify(config),
    preset,
  });
  postMessage({ type: "done", losses, checkpoint });
}
