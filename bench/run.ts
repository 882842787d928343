/**
 * `npm run bench`: the notebook workload (L = 8, batch 64, 16 affine coupling layers, CNN
 * 1→8→8→2, kernel 3) timed in latticeflow and, when /usr/bin/python3 imports torch, in the
 * PyTorch reference (bench/torch_reference.py) in the same run, one after the other so
 * they never share the cores. Prints a table of medians and ratios; writes bench/results/*.json.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DType } from "../src/engine/index.js";
import { affineCouplingFlow } from "../src/flows/affine-flow.js";
import { Rng } from "../src/rng/philox.js";
import { Phi4Theory } from "../src/theories/phi4.js";
import { adam } from "../src/train/adam.js";
import { createTrainer } from "../src/train/trainer.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const repeats = Number(process.env.BENCH_REPEATS ?? 20);
const warmup = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function timeIt(fn: () => void, n: number): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const shape = [8, 8];
const theory = new Phi4Theory({ latticeShape: shape, m2: -4, lam: 8 });
const flow = affineCouplingFlow({ latticeShape: shape, layers: 16, hidden: [8, 8], kernel: 3 });

function trainStep(dtype: DType): number[] {
  const tr = createTrainer({ flow, theory, optimizer: adam({ lr: 1e-3 }), batch: 64, dtype });
  const st = tr.init(new Rng(0));
  return timeIt(() => tr.step(st), repeats);
}

function samplePass(dtype: DType): number[] {
  const rng = new Rng(0);
  const params = flow.initParams(rng, dtype);
  return timeIt(
    () => {
      const { x } = flow.sample(params, rng, 1024, dtype);
      theory.action(x.data, 1024);
    },
    Math.max(3, Math.round(repeats / 4)),
  );
}

interface Row {
  workload: string;
  dtype: DType;
  latticeflow_ms: number;
  torch_ms: number | null;
  ratio: number | null;
}

function torchAvailable(): boolean {
  return spawnSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore" }).status === 0;
}

function torchMs(workload: "train" | "sample", dtype: DType): number | null {
  const r = spawnSync(
    "/usr/bin/python3",
    [
      join(repo, "bench", "torch_reference.py"),
      "--workload",
      workload,
      "--dtype",
      dtype,
      "--repeats",
      String(workload === "train" ? repeats : Math.max(3, Math.round(repeats / 4))),
      "--threads",
      String(cpus().length),
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) {
    process.stderr.write(`torch reference failed: ${r.stderr.trim().split("\n").pop()}\n`);
    return null;
  }
  const last = r.stdout.trim().split("\n").pop()!;
  return JSON.parse(last).median_ms as number;
}

const withTorch = torchAvailable();
if (!withTorch)
  process.stderr.write("PyTorch not found (/usr/bin/python3 -c 'import torch'): latticeflow only\n");
const rows: Row[] = [];
for (const dtype of ["float64", "float32"] as const) {
  for (const workload of ["train", "sample"] as const) {
    process.stderr.write(`bench ${workload} ${dtype}...\n`);
    const ours = median(workload === "train" ? trainStep(dtype) : samplePass(dtype));
    const theirs = withTorch ? torchMs(workload, dtype) : null;
    rows.push({
      workload: workload === "train" ? "training step (batch 64)" : "sampling pass (1024 configs)",
      dtype,
      latticeflow_ms: ours,
      torch_ms: theirs,
      ratio: theirs ? ours / theirs : null,
    });
  }
}

console.log(
  `\nnotebook workload, ${cpus().length} cores, node ${process.version}; medians in ms; ratio = latticeflow / PyTorch`,
);
console.log("workload                       dtype     latticeflow   PyTorch   ratio");
for (const r of rows) {
  console.log(
    `${r.workload.padEnd(30)} ${r.dtype.padEnd(8)} ${r.latticeflow_ms.toFixed(1).padStart(12)} ` +
      `${r.torch_ms === null ? "      n/a" : r.torch_ms.toFixed(1).padStart(9)} ${r.ratio === null ? "    n/a" : r.ratio.toFixed(2).padStart(7)}`,
  );
}
const dir = join(repo, "bench", "results");
mkdirSync(dir, { recursive: true });
const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, node: process.version, rows }, null, 2)}\n`,
);
console.log(`written ${file}`);
