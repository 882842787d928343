/**
 * The multi-threaded trainer (src/parallel/shard.ts with worker_threads, src/cli/threads.ts):
 * one thread is bit-identical to createTrainer; two threads give the same per-sample values
 * (so the first loss is identical), a loss curve identical run to run, and within float
 * rounding of the single-threaded curve; parallel sampling equals single-threaded sampling.
 * Workers need the compiled worker script, so this test runs the built package (`npm test`
 * builds dist/ first; LATTICEFLOW_DIST points elsewhere).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const dist = process.env.LATTICEFLOW_DIST ?? join(__dirname, "..", "dist");
const built = existsSync(join(dist, "src", "cli", "thread-worker.js"));

describe.skipIf(!built)("multi-threaded training", () => {
  const load = async () => {
    const m = (p: string) => import(join(dist, "src", p));
    return {
      ...(await m("parallel/shard.js")),
      ...(await m("cli/threads.js")),
      ...(await m("flows/affine-flow.js")),
      ...(await m("rng/philox.js")),
      ...(await m("theories/phi4.js")),
      ...(await m("train/adam.js")),
      ...(await m("train/trainer.js")),
    };
  };
  const spec = {
    flow: { latticeShape: [6, 6], layers: 4, hidden: [4, 4], kernel: 3 },
    theory: { latticeShape: [6, 6], m2: -4, lam: 8 },
    dtype: "float64" as const,
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
      L.createTrainer({
        flow: L.affineCouplingFlow(spec.flow),
        theory: new L.Phi4Theory(spec.theory),
        optimizer: opt(),
        batch: 13,
        dtype: "float64",
      }),
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
        const flow = L.affineCouplingFlow(spec.flow);
        const ref = flow.sample(params, new L.Rng(2), 37, dtype);
        expect(Array.from(a.logq.data)).toEqual(Array.from(ref.logq.data));
      } finally {
        two.close();
      }
    }
  });
});
