/**
 * Time single training steps (wall and CPU time) for profiling and back-to-back comparisons:
 *   node dist/bench/step-profile.js              # notebook step, float64
 *   DTYPE=float32 L=16 HIDDEN=32,32 N=20 SAMPLE=1 CONV=js node dist/bench/step-profile.js
 * (CONV=js: the TypeScript convolution kernels instead of WebAssembly SIMD.)
 * Add `node --cpu-prof` for a profile. CPU time (process.cpuUsage) is much less sensitive to
 * other tenants of a shared machine than wall time. Prints one line per workload.
 */
import { type DType, setConvBackend } from "../src/engine/index.js";
import { affineCouplingFlow } from "../src/flows/affine-flow.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { adam } from "../src/train/adam.js";
import { createTrainer } from "../src/train/trainer.js";

if (process.env.CONV === "js") setConvBackend("js");
const dtype = (process.env.DTYPE ?? "float64") as DType;
const N = Number(process.env.N ?? 60);
const L = Number(process.env.L ?? 8);
const hidden = (process.env.HIDDEN ?? "8,8").split(",").map(Number);
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const min = (a: number[]) => Math.min(...a);

const theory = new Phi4Theory({ latticeShape: [L, L], m2: -4, lam: 8 });
const flow = affineCouplingFlow({ latticeShape: [L, L], layers: 16, hidden, kernel: 3 });
const tr = createTrainer({ flow, theory, optimizer: adam({ lr: 1e-3 }), batch: 64, dtype });
const st = tr.init(new Rng(0));
const wall: number[] = [];
const cpu: number[] = [];
let loss = 0;
for (let i = 0; i < N; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  loss = tr.step(st).loss;
  const dt = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (i >= Math.min(5, N - 1)) {
    wall.push(dt);
    cpu.push((c.user + c.system) / 1000);
  }
}
console.log(
  `train ${dtype} L=${L} hidden=${hidden}: wall median ${med(wall).toFixed(1)} min ${min(wall).toFixed(1)} ms; ` +
    `cpu median ${med(cpu).toFixed(1)} min ${min(cpu).toFixed(1)} ms; loss after ${N} steps ${loss}`,
);
if (process.env.SAMPLE) {
  const rng = new Rng(1);
  const w: number[] = [];
  const c: number[] = [];
  for (let i = 0; i < 6; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const { x } = flow.sample(st.params, rng, 1024, dtype);
    theory.action(x.data, 1024);
    const dt = performance.now() - t0;
    const cc = process.cpuUsage(c0);
    if (i > 0) {
      w.push(dt);
      c.push((cc.user + cc.system) / 1000);
    }
  }
  console.log(
    `sample ${dtype} 1024: wall median ${med(w).toFixed(1)} ms; cpu median ${med(c).toFixed(1)} ms`,
  );
}
