/**
 * The whole notebook model against PyTorch (when /usr/bin/python3 imports torch): the same
 * weights, loaded from our safetensors checkpoint with load_state_dict into the notebook's
 * nn.Sequential, and the same prior draws give the same log q, loss and gradients (float64;
 * agreement to ~1e-13 is observed, 1e-9 is asserted).
 */
import { spawnSync } from "node:child_process";
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
import { reverseKl } from "../src/train/reverse-kl.js";

const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch, numpy"]).status === 0;

describe("PyTorch cross-check", () => {
  it.skipIf(!hasTorch)("loss, log q and gradients match the notebook's PyTorch model", () => {
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
      const py = spawnSync("/usr/bin/python3", [join(__dirname, "python", "torch_crosscheck.py"), dir], {
        encoding: "utf8",
      });
      expect(py.status, py.stderr).toBe(0);
      const num = (label: string) => Number(new RegExp(`${label} ([-0-9.e]+)`).exec(py.stdout)![1]);
      expect(Math.abs(num("torch loss") - value) / Math.abs(value)).toBeLessThan(1e-9);
      expect(num("max \\|logq diff\\|")).toBeLessThan(1e-9);
      expect(num("max relative grad diff")).toBeLessThan(1e-9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
