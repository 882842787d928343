/**
 * The multi-threaded trainer (src/parallel/shard.ts with worker_threads, src/cli/threads.ts):
 * one thread is bit-identical to createTrainer; two threads give the same per-sample values
 * (so the first loss is identical), a loss curve identical run to run, and within float
 * rounding of the single-threaded curve; parallel sampling equals single-threaded sampling.
 * Workers need the compiled worker script, so this test runs the built package (`npm test`
 * builds dist/ first; LATTICEFLOW_DIST points elsewhere).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const dist = process.env.LATTICEFLOW_DIST ?? join(__dirname, "..", "dist");
const built = existsSync(join(dist, "src", "cli", "thread-worker.js"));

describe.skipIf(!built)("multi-threaded training", () => {
  const load = async () => {
    const m = (p: string) => import(join(dist, "src", p));
    return {
      ...(await m("parallel/shard.js")),
      ...(await m("cli/threads.js")),
      ...(await m("model/index.js")),
      ...(await m("rng/philox.js")),
      ...(await m("train/adam.js")),
      ...(await m("train/trainer.js")),
    };
  };
  const spec = {
    flow: { kind: "affine-cnn", layers: 4, hidden: [4, 4], kernel: 3, identityInit: false },
    theory: { kind: "phi4", latticeShape: [6, 6], m2: -4, lam: 8 },
    dtype: "float64" as const,
  };
  const mlpSpec = {
    ...spec,
    flow: { kind: "realnvp-mlp", layers: 4, hidden: [16, 16], partition: "stripes", identityInit: false },
  };
  const steps = 12;
  const curve = (
    tr: { init: (r: unknown) => unknown; step: (s: unknown) => { loss: number } },
    Rng: new (s: number) => unknown,
  ) => {
    const st = tr.init(new Rng(3));
    return Array.from({ length: steps }, () => tr.step(st).loss);
  };

  it("threads 1 = createTrainer exactly; threads 2: same first loss, reproducible, within rounding", async () => {
    const L = await load();
    const opt = () => L.adam({ lr: 1e-2 });
    const single = curve(
      L.createTrainer({ ...L.buildModel(spec), optimizer: opt(), batch: 13, dtype: "float64" }),
      L.Rng,
    );
    const one = L.createParallelTrainer({ spec, optimizer: opt(), batch: 13, threads: 1 });
    expect(curve(one, L.Rng)).toEqual(single);
    const runs = [0, 1].map(() => {
      const tr = L.createParallelTrainer({
        spec,
        optimizer: opt(),
        batch: 13,
        threads: 2,
        spawn: L.nodeSpawn,
      });
      try {
        return curve(tr, L.Rng);
      } finally {
        tr.close();
      }
    });
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]![0]).toBe(single[0]);
    for (let i = 0; i < steps; i++)
      expect(Math.abs(runs[0]![i]! - single[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(single[i]!)));
  });

  it("any model spec: an MLP-conditioned RealNVP trains on 2 threads within rounding of 1; sampling needs no optimiser", async () => {
    const L = await load();
    const single = curve(
      L.createTrainer({
        ...L.buildModel(mlpSpec),
        optimizer: L.adam({ lr: 1e-2 }),
        batch: 13,
        dtype: "float64",
      }),
      L.Rng,
    );
    const two = L.createParallelTrainer({
      spec: mlpSpec,
      optimizer: L.adam({ lr: 1e-2 }),
      batch: 13,
      threads: 2,
      spawn: L.nodeSpawn,
    });
    const sampler = L.createParallelSampler({ spec: mlpSpec, threads: 2, spawn: L.nodeSpawn });
    try {
      const c = curve(two, L.Rng);
      expect(c[0]).toBe(single[0]);
      for (let i = 0; i < steps; i++)
        expect(Math.abs(c[i]! - single[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(single[i]!)));
      const params = L.buildModel(mlpSpec).flow.initParams(new L.Rng(4), "float64");
      const a = sampler.sample(params, new L.Rng(2), 21);
      const ref = L.buildModel(mlpSpec).flow.sample(params, new L.Rng(2), 21, "float64");
      expect(Array.from(a.x.data)).toEqual(Array.from(ref.x.data));
      expect(Array.from(a.logq.data)).toEqual(Array.from(ref.logq.data));
      expect("step" in sampler).toBe(false);
    } finally {
      two.close();
      sampler.close();
    }
  });

  it("gradient estimators on threads: path within rounding of 1 thread; REINFORCE (shard baselines) reproducible", async () => {
    const L = {
      ...(await load()),
      ...(await import(join(dist, "src", "train", "gradient-estimator.js"))),
    };
    const opt = () => L.adam({ lr: 1e-2 });
    const on = (gradientEstimator: string, threads: number) => {
      const tr = L.createParallelTrainer({
        spec,
        optimizer: opt(),
        batch: 13,
        threads,
        gradientEstimator,
        ...(threads > 1 ? { spawn: L.nodeSpawn } : {}),
      });
      try {
        return curve(tr, L.Rng);
      } finally {
        tr.close();
      }
    };
    const single = (gradientEstimator: string) =>
      curve(
        L.createTrainer({
          ...L.buildModel(spec),
          optimizer: opt(),
          batch: 13,
          dtype: "float64",
          gradientEstimator: L.gradientEstimatorOf({ gradientEstimator }),
        }),
        L.Rng,
      );
    const path = single("path");
    expect(on("path", 1)).toEqual(path);
    const path2 = on("path", 2);
    expect(path2[0]).toBe(path[0]);
    for (let i = 0; i < steps; i++)
      expect(Math.abs(path2[i]! - path[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(path[i]!)));
    const rf = single("reinforce");
    expect(on("reinforce", 1)).toEqual(rf);
    const [a, b] = [on("reinforce", 2), on("reinforce", 2)];
    expect(a).toEqual(b);
    expect(a[0]).toBe(rf[0]);
    expect(a[steps - 1]).not.toBe(rf[steps - 1]);
  });

  it("more threads than samples: the empty shards are skipped", async () => {
    const L = await load();
    const single = L.createParallelTrainer({ spec, optimizer: L.adam({ lr: 1e-2 }), batch: 2, threads: 1 });
    const three = L.createParallelTrainer({
      spec,
      optimizer: L.adam({ lr: 1e-2 }),
      batch: 2,
      threads: 3,
      spawn: L.nodeSpawn,
    });
    try {
      const a = curve(single, L.Rng);
      const b = curve(three, L.Rng);
      expect(b[0]).toBe(a[0]);
      for (let i = 0; i < steps; i++)
        expect(Math.abs(b[i]! - a[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(a[i]!)));
    } finally {
      three.close();
    }
  });

  it("parallel sampling equals single-threaded sampling (float32 too)", async () => {
    const L = await load();
    for (const dtype of ["float64", "float32"] as const) {
      const s = { ...spec, dtype };
      const one = L.createParallelTrainer({ spec: s, optimizer: L.adam({ lr: 1e-3 }), batch: 8, threads: 1 });
      const two = L.createParallelTrainer({
        spec: s,
        optimizer: L.adam({ lr: 1e-3 }),
        batch: 8,
        threads: 2,
        spawn: L.nodeSpawn,
      });
      try {
        const params = one.init(new L.Rng(1)).params;
        const a = one.sample(params, new L.Rng(2), 37);
        const b = two.sample(params, new L.Rng(2), 37);
        expect(b.x.data).toBeInstanceOf(dtype === "float32" ? Float32Array : Float64Array);
        expect(Array.from(b.x.data)).toEqual(Array.from(a.x.data));
        expect(Array.from(b.logq.data)).toEqual(Array.from(a.logq.data));
        const ref = L.buildModel(spec).flow.sample(params, new L.Rng(2), 37, dtype);
        expect(Array.from(a.logq.data)).toEqual(Array.from(ref.logq.data));
      } finally {
        two.close();
      }
    }
  });

  it("a worker that dies during a job, or never starts, is reported instead of waited for", async () => {
    // In a child process: without the liveness check the caller blocks in Atomics.wait for
    // ever, and this test must fail, not hang the suite.
    const url = (p: string) => pathToFileURL(join(dist, "src", p)).href;
    const script = `
      import { Worker } from "node:worker_threads";
      const { createParallelTrainer } = await import(${JSON.stringify(url("parallel/shard.js"))});
      const { adam } = await import(${JSON.stringify(url("train/adam.js"))});
      const { Rng } = await import(${JSON.stringify(url("rng/philox.js"))});
      const shard = ${JSON.stringify(url("parallel/shard.js"))};
      const spec = ${JSON.stringify(spec)};
      // A worker running the real handler, except that \`job\` decides what a job does.
      const faulty = (job) => () => {
        const w = new Worker(\`
          const { parentPort } = require("node:worker_threads");
          import(\${JSON.stringify(shard)}).then(({ createWorkerHandler }) => {
            const h = createWorkerHandler();
            process.on("exit", h.exiting);
            parentPort.on("message", (m) => { if (m.type === "init") h.onMessage(m); else { \${job} } });
          });\`, { eval: true });
        w.on("error", () => {});
        return w;
      };
      const cannotLoad = () => {
        const w = new Worker("throw new Error('cannot load');", { eval: true });
        w.on("error", () => {});
        return w;
      };
      const cases = [
        { spawn: faulty("process.exit(1);") },
        { spawn: faulty("setTimeout(() => { throw new Error('boom'); });") },
        { spawn: faulty("throw new Error('boom');") },
        // An error inside the real job (a shard outside the batch) is caught and reported.
        { spawn: faulty("h.onMessage({ ...m, start: 1e9 });") },
        { spawn: cannotLoad, startTimeoutMs: 300 },
      ];
      const out = [];
      for (const c of cases) {
        const tr = createParallelTrainer({ spec, optimizer: adam({ lr: 1e-2 }), batch: 8, threads: 2, ...c });
        const st = tr.init(new Rng(3));
        const before = Array.from(st.params["0.net.0.weight"].data);
        const errors = [];
        for (let k = 0; k < 2; k++) {
          try { tr.step(st); errors.push("no error"); } catch (e) { errors.push(e.name + ": " + e.message); }
        }
        const untouched = Array.from(st.params["0.net.0.weight"].data).every((v, i) => v === before[i]);
        out.push({ errors, untouched });
        tr.close();
      }
      console.log(JSON.stringify(out));
    `;
    // A file, not `-e`: workers inherit --input-type, which would make their eval code ESM.
    const dir = mkdtempSync(join(tmpdir(), "latticeflow-workers-"));
    const file = join(dir, "dying-workers.mjs");
    writeFileSync(file, script);
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [file]);
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d) => (stdout += d));
      p.stderr.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
      p.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    }).finally(() => rmSync(dir, { recursive: true, force: true }));
    expect(r.code, `child hung or failed: ${r.stderr}`).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { errors: string[]; untouched: boolean }[];
    const fix = "rerun with --threads 1 (or threads: 1) to see the error on the main thread";
    const expected = [
      `WorkerError: worker thread 1 exited during a job; ${fix}`,
      `WorkerError: worker thread 1 exited during a job; ${fix}`,
      `WorkerError: worker thread 1 exited during a job; ${fix}`,
      `WorkerError: worker thread 1 failed (its error is printed above); ${fix}`,
      `WorkerError: worker thread 1 did not start within 0.3 s (its script failed to load?); ${fix}`,
    ];
    for (const [k, o] of out.entries()) {
      expect(o.errors).toEqual([expected[k], expected[k]]); // and the trainer stays broken
      expect(o.untouched).toBe(true); // the failed step left the weights alone
    }
    expect(out).toHaveLength(expected.length);
  }, 40_000);
});
