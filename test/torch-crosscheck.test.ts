/**
 * The whole notebook model against PyTorch (when /usr/bin/python3 imports torch): the same
 * weights, loaded from our safetensors checkpoint with load_state_dict into the notebook's
 * nn.Sequential, and the same prior draws give the same log q, loss and gradients, and the
 * same loss curve under Adam (float64; agreement to ~1e-15 is observed over 300 steps,
 * 1e-9 is asserted).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { valueAndGradWithAux } from "../src/engine/index.js";
import { affineCouplingFlow } from "../src/flows/affine-flow.js";
import { encodeNpy } from "../src/io/npy.js";
import { encodeSafetensors, type SafetensorsTensor } from "../src/io/safetensors.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { adam } from "../src/train/adam.js";
import { reverseKl } from "../src/train/reverse-kl.js";
import { createTrainer } from "../src/train/trainer.js";

/** Run the Python side without blocking the test worker's event loop. */
function python(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn("/usr/bin/python3", [join(__dirname, "python", "torch_crosscheck.py"), ...args]);
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch, numpy"]).status === 0;

describe("PyTorch cross-check", () => {
  it.skipIf(!hasTorch)("loss, log q and gradients match the notebook's PyTorch model", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latticeflow-torch-"));
    try {
      const theory = new Phi4Theory({ latticeShape: [8, 8], m2: -4, lam: 8 });
      const flow = affineCouplingFlow({ latticeShape: [8, 8], layers: 16, hidden: [8, 8], kernel: 3 });
      const params = flow.initParams(new Rng(5), "float64");
      const z = flow.prior.sample(new Rng(6), 64);
      const { value, aux, grads } = valueAndGradWithAux(reverseKl(flow, theory))(params, z);
      const st = (o: Record<string, { shape: readonly number[]; data: Float64Array | Float32Array }>) => {
        const r: Record<string, SafetensorsTensor> = {};
        for (const [k, t] of Object.entries(o))
          r[k] = { dtype: "F64", shape: [...t.shape], data: t.data as Float64Array };
        return r;
      };
      writeFileSync(join(dir, "params.safetensors"), encodeSafetensors(st(params)));
      writeFileSync(join(dir, "grads.safetensors"), encodeSafetensors(st(grads)));
      writeFileSync(join(dir, "z.npy"), encodeNpy(z.data, [64, 8, 8]));
      writeFileSync(join(dir, "logq.npy"), encodeNpy(aux.logq.data, [64]));
      const py = await python(["grad", dir]);
      expect(py.status, py.stderr).toBe(0);
      const num = (label: string) => Number(new RegExp(`${label} ([-0-9.e]+)`).exec(py.stdout)![1]);
      expect(Math.abs(num("torch loss") - value) / Math.abs(value)).toBeLessThan(1e-9);
      expect(num("max \\|logq diff\\|")).toBeLessThan(1e-9);
      expect(num("max relative grad diff")).toBeLessThan(1e-9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasTorch)("20 Adam steps on the same draws give the same loss curve", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latticeflow-torch-"));
    try {
      const steps = 20;
      const theory = new Phi4Theory({ latticeShape: [8, 8], m2: -4, lam: 8 });
      const flow = affineCouplingFlow({ latticeShape: [8, 8], layers: 16, hidden: [8, 8], kernel: 3 });
      const tr = createTrainer({ flow, theory, optimizer: adam({ lr: 1e-3 }), batch: 64, dtype: "float64" });
      const st = tr.init(new Rng(1));
      const init: Record<string, SafetensorsTensor> = {};
      for (const [k, t] of Object.entries(st.params))
        init[k] = { dtype: "F64", shape: [...t.shape], data: t.data as Float64Array };
      writeFileSync(join(dir, "init.safetensors"), encodeSafetensors(init));
      const replay = Rng.fromState(st.rng.state());
      const zs = new Float64Array(steps * 64 * 64);
      for (let i = 0; i < steps; i++) zs.set(flow.prior.sample(replay, 64).data, i * 64 * 64);
      writeFileSync(join(dir, "zs.npy"), encodeNpy(zs, [steps, 64, 8, 8]));
      const ours = Array.from({ length: steps }, () => tr.step(st).loss);
      const py = await python(["train", dir]);
      expect(py.status, py.stderr).toBe(0);
      const theirs = [...py.stdout.matchAll(/step loss (\S+)/g)].map((m) => Number(m[1]));
      expect(theirs).toHaveLength(steps);
      for (let i = 0; i < steps; i++)
        expect(Math.abs(theirs[i]! - ours[i]!) / Math.abs(ours[i]!)).toBeLessThan(1e-9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
