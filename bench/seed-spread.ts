/**
 * How much the notebook study's outcome depends on the seed: `latticeflow train --preset
 * phi4-notebook --seed s --json` for a list of seeds, and the PyTorch reference of the same
 * computation (bench/torch_reference.py --workload ess, the notebook's model, loss and Adam
 * after torch.manual_seed(s)) for another list, both for the preset's 2500 steps. Prints each
 * run's final ESS and loss (means of the last 100 steps, as `--json` reports them) and, per
 * side, the median and the fraction of seeds that end with ESS ≥ 0.2; writes
 * bench/results/seeds-<date>.json. The two sides run concurrently, one thread each.
 *
 *   node dist/bench/seed-spread.js [--seeds 1-20] [--torch-seeds 1-8] [--steps 2500]
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

function range(spec: string): number[] {
  if (spec === "") return [];
  const [a, b] = spec.split("-").map(Number);
  return Array.from({ length: (b ?? a!) - a! + 1 }, (_, k) => a! + k);
}

const steps = arg("steps", "2500");
const ours = range(arg("seeds", "1-20"));
const theirs = range(arg("torch-seeds", "1-8"));

function run(cmd: string, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.on("close", (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split("\n").pop()!))
        : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}`)),
    );
  });
}

interface Outcome {
  seed: number;
  ess: number;
  loss: number;
  seconds: number;
}

async function latticeflow(seed: number): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), "lf-seed-"));
  try {
    const t0 = performance.now();
    const r = await run(process.execPath, [
      join(repo, "dist", "src", "cli", "main.js"),
      "train",
      "--preset",
      "phi4-notebook",
      "--seed",
      String(seed),
      "--steps",
      steps,
      "--out",
      join(dir, "run"),
      "--json",
    ]);
    return { seed, ess: r.ess as number, loss: r.loss as number, seconds: (performance.now() - t0) / 1e3 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function pytorch(seed: number): Promise<Outcome> {
  const t0 = performance.now();
  const r = await run("/usr/bin/python3", [
    join(repo, "bench", "torch_reference.py"),
    "--workload",
    "ess",
    "--dtype",
    "float64",
    "--seed",
    String(seed),
    "--threads",
    "1",
    "--max-steps",
    steps,
    "--target-ess",
    "2",
    "--max-seconds",
    "1e9",
  ]);
  return {
    seed,
    ess: r.final_ess_ma as number,
    loss: r.final_loss_ma as number,
    seconds: (performance.now() - t0) / 1e3,
  };
}

async function series(seeds: number[], one: (s: number) => Promise<Outcome>, label: string) {
  const out: Outcome[] = [];
  for (const s of seeds) {
    const o = await one(s);
    process.stderr.write(`${label} seed ${s}: ESS ${o.ess.toFixed(3)}, loss ${o.loss.toFixed(2)}\n`);
    out.push(o);
  }
  return out;
}

function summary(label: string, xs: Outcome[]) {
  if (xs.length === 0) return null;
  const e = xs.map((x) => x.ess).sort((a, b) => a - b);
  const m = e.length >> 1;
  const median = e.length % 2 ? e[m]! : (e[m - 1]! + e[m]!) / 2;
  const pass = xs.filter((x) => x.ess >= 0.2).length;
  console.log(
    `${label}: ${xs.length} seeds, median ESS ${median.toFixed(3)}, ESS ≥ 0.2 in ${pass}/${xs.length}; ` +
      xs.map((x) => `${x.seed}:${x.ess.toFixed(3)}`).join(" "),
  );
  return { median, pass, n: xs.length };
}

const [a, b] = await Promise.all([
  series(ours, latticeflow, "latticeflow"),
  series(theirs, pytorch, "pytorch"),
]);
const result = {
  date: new Date().toISOString(),
  steps: Number(steps),
  latticeflow: { runs: a, ...summary("latticeflow", a) },
  pytorch: { runs: b, ...summary("pytorch (notebook code)", b) },
};
mkdirSync(join(repo, "bench", "results"), { recursive: true });
const file = join(repo, "bench", "results", `seeds-${result.date.replace(/[:.]/g, "-")}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`written ${file}`);
