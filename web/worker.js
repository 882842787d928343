/**
 * The page's trainer, in a module Web Worker so the page stays responsive: the notebook's
 * φ⁴ study (`latticeflow train --preset … --seed …`, the same numbers bit for bit), then an
 * exact ensemble by flow Metropolis–Hastings. Messages to the page:
 *   {type: "step", step, loss, ess} per step; {type: "mh", acceptance, ess, samples, L};
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
  const p = { ...lf.PHI4_PRESETS[preset], dtype };
  const latticeShape = new Array(p.dim).fill(p.L);
  const flow = lf.affineCouplingFlow({
    latticeShape,
    layers: p.layers,
    hidden: p.hidden,
    kernel: p.kernel,
    identityInit: p.identityInit,
  });
  const theory = new lf.Phi4Theory({ latticeShape, m2: p.m2, lam: p.lam });
  const optimizer = lf.adam({ lr: p.lr, beta1: p.beta1, beta2: p.beta2, clipNorm: p.clipNorm });
  const trainer = lf.createTrainer({ flow, theory, optimizer, batch: p.batch, dtype });
  const state = trainer.init(new lf.Rng(seed)); // as the CLI: weights, then the prior draws
  const losses = [];
  for (let k = 0; k < steps && !stop; k++) {
    const m = trainer.step(state);
    losses.push(m.loss);
    postMessage({ type: "step", step: m.step, loss: m.loss, ess: m.ess });
    if (k % 4 === 3) await new Promise((r) => setTimeout(r, 0)); // let "stop" in
  }
  // Flow Metropolis–Hastings: 1024 proposals in chunks of 64, accepted against e^{−S}.
  const rng = new lf.Rng(seed + 1);
  const propose = (n) => {
    const { x, logq } = flow.sample(state.params, rng, n, dtype);
    return { x: Float64Array.from(x.data), logq: Float64Array.from(logq.data) };
  };
  const mh = lf.independenceMetropolis(theory, propose, { n: 1024, batch: 64 }, rng);
  const ess = lf.essFromLogWeights(mh.proposalLogWeights);
  const v = theory.size;
  postMessage({ type: "mh", acceptance: mh.acceptance, ess, L: p.L, samples: mh.configs.slice(-16 * v) });
  // The weights as safetensors, with the CLI's tensor names: PyTorch's load_state_dict reads them.
  const tensors = {};
  for (const [name, t] of Object.entries(state.params))
    tensors[name] = { dtype: dtype === "float32" ? "F32" : "F64", shape: [...t.shape], data: t.data };
  const checkpoint = lf.encodeSafetensors(tensors, { step: String(state.step), preset, seed: String(seed) });
  postMessage({ type: "done", losses, checkpoint });
}
