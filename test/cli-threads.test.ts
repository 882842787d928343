/**
 * `--threads` on the command line (the built dist/ CLI in a child process): training on two
 * threads gives the same first loss as on one and a curve within rounding of it; the count
 * is recorded in config.json and kept by --resume; sampling on two threads gives the same
 * ensemble bit for bit; bad values → one line, exit 2, nothing written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lastJson, runCli as run } from "./run-cli.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-threads-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ["--L", "4", "--layers", "2", "--hidden", "4", "--batch", "8", "--quiet"];

const losses = (dir: string): number[] =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).loss);
const configOf = (dir: string) => JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));

describe("--flow realnvp-mlp from the CLI: two threads, exact resume, flow MH", () => {
  const MLP = ["--flow", "realnvp-mlp", "--L", "4", "--layers", "4", "--hidden", "16,16", "--batch", "16"];
  it("trains on 2 threads, resumes to the same bytes, and samples with MH on 2 threads", async () => {
    const straight = join(tmp, "mlp-straight");
    const split = join(tmp, "mlp-split");
    const common = [...MLP, "--threads", "2", "--seed", "7", "--checkpoint-every", "3", "--quiet"];
    const [a, b] = await Promise.all([
      run("train", ...common, "--steps", "6", "--out", straight, "--json"),
      run("train", ...common, "--steps", "3", "--out", split, "--json"),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(configOf(straight).flow).toEqual({
      kind: "realnvp-mlp",
      layers: 4,
      hidden: [16, 16],
      partition: "stripes",
      identityInit: true,
    });
    const c = await run("train", "--resume", "--steps", "6", "--out", split, "--quiet", "--json");
    expect(c.code, c.stderr).toBe(0);
    expect(losses(split)).toEqual(losses(straight));
    for (const f of ["checkpoint.safetensors", "train_state.safetensors"])
      expect(readFileSync(join(split, f))).toEqual(readFileSync(join(straight, f)));
    const out = join(tmp, "mlp-mh.npy");
    const s = await run(
      "sample",
      "--run",
      split,
      "--n",
      "64",
      "--mh",
      "--batch",
      "16",
      "--threads",
      "2",
      "--out",
      out,
      "--json",
    );
    expect(s.code, s.stderr).toBe(0);
    const r = lastJson(s.stdout);
    expect(r.n).toBe(64);
    expect(r.acceptance).toBeGreaterThan(0);
    expect(existsSync(out)).toBe(true);
  });
});

describe("train --threads", () => {
  it("two threads: the same first loss as one thread, later ones within rounding; recorded", async () => {
    const one = join(tmp, "t1");
    const two = join(tmp, "t2");
    const [r1, r2] = await Promise.all([
      run("train", ...TINY, "--steps", "3", "--seed", "5", "--out", one, "--json"),
      run("train", ...TINY, "--steps", "3", "--seed", "5", "--threads", "2", "--out", two, "--json"),
    ]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    expect(lastJson(r1.stdout).threads).toBe(1);
    expect(lastJson(r2.stdout).threads).toBe(2);
    expect(configOf(one).train.threads).toBe(1);
    expect(configOf(two).train.threads).toBe(2);
    const a = losses(one);
    const b = losses(two);
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(3);
    expect(b[0]).toBe(a[0]);
    for (let i = 1; i < 3; i++) expect(Math.abs(b[i]! - a[i]!)).toBeLessThanOrEqual(1e-10 * Math.abs(a[i]!));
  });

  it("--resume keeps the recorded thread count; --threads changes it", async () => {
    const straight = join(tmp, "r-straight");
    const split = join(tmp, "r-split");
    const common = [...TINY, "--seed", "2", "--threads", "2", "--checkpoint-every", "2"];
    const [s, p] = await Promise.all([
      run("train", ...common, "--steps", "4", "--out", straight),
      run("train", ...common, "--steps", "2", "--out", split),
    ]);
    expect(s.code, s.stderr).toBe(0);
    expect(p.code, p.stderr).toBe(0);
    const r = await run("train", "--resume", "--steps", "4", "--out", split, "--quiet", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).threads).toBe(2);
    expect(configOf(split).train.threads).toBe(2);
    // The same thread count gives the same numbers run to run, so the resumed run is exact.
    expect(losses(split)).toEqual(losses(straight));
    const w = (d: string) => readFileSync(join(d, "checkpoint.safetensors"));
    expect(w(split).equals(w(straight))).toBe(true);

    const r1 = await run("train", "--resume", "--steps", "5", "--threads", "1", "--out", split, "--json");
    expect(r1.code, r1.stderr).toBe(0);
    expect(lastJson(r1.stdout).threads).toBe(1);
    expect(configOf(split).train.threads).toBe(1);
    expect(losses(split)).toHaveLength(5);
  });

  it("a config file may set threads; a run without the key (older runs) resumes on one thread", async () => {
    const f = join(tmp, "threads.json");
    writeFileSync(f, JSON.stringify({ L: 4, layers: 2, hidden: [4], batch: 8, steps: 1, threads: 2 }));
    const d = join(tmp, "cfg");
    const r = await run("train", "--config", f, "--quiet", "--json", "--out", d);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).threads).toBe(2);
    const c = configOf(d);
    delete c.train.threads;
    writeFileSync(join(d, "config.json"), JSON.stringify(c));
    const r2 = await run("train", "--resume", "--steps", "2", "--out", d, "--quiet", "--json");
    expect(r2.code, r2.stderr).toBe(0);
    expect(lastJson(r2.stdout).threads).toBe(1);
  });
});

describe("sample and lnz --threads", () => {
  const run1 = join(tmp, "s-run");
  beforeAll(async () => {
    const r = await run("train", ...TINY, "--steps", "3", "--seed", "1", "--out", run1);
    expect(r.code, r.stderr).toBe(0);
  });
  const bytes = (f: string) => readFileSync(f);

  // n = 17 in chunks of 8: 8, 8, 1 (the last chunk leaves the second thread nothing to do).
  for (const [name, extra, sidecars] of [
    ["MH chain", ["--mh"], [".accepted.npy"]],
    ["MH chain with --z2", ["--mh", "--z2"], [".accepted.npy"]],
    ["direct samples and log weights", [], [".logw.npy"]],
  ] as const) {
    it(`${name}: --threads 2 gives the ensemble of --threads 1 bit for bit`, async () => {
      const tag = name.replace(/\W/g, "");
      const a = join(tmp, `${tag}-1.npy`);
      const b = join(tmp, `${tag}-2.npy`);
      const args = ["sample", "--run", run1, "--n", "17", "--batch", "8", "--seed", "4", ...extra];
      const [ra, rb] = await Promise.all([
        run(...args, "--threads", "1", "--out", a),
        run(...args, "--threads", "2", "--out", b),
      ]);
      expect(ra.code, ra.stderr).toBe(0);
      expect(rb.code, rb.stderr).toBe(0);
      expect(bytes(b).equals(bytes(a))).toBe(true);
      for (const ext of sidecars) {
        const sa = a.replace(/\.npy$/, ext);
        const sb = b.replace(/\.npy$/, ext);
        expect(bytes(sb).equals(bytes(sa))).toBe(true);
      }
      expect(JSON.parse(readFileSync(`${b}.json`, "utf8")).threads).toBe(2);
    });
  }

  it("lnz: --threads 2 gives the log weights of --threads 1 bit for bit: the same ln Z, F and ESS", async () => {
    const args = ["lnz", "--run", run1, "--n", "17", "--batch", "8", "--seed", "4", "--json"];
    const [ra, rb] = await Promise.all([run(...args, "--threads", "1"), run(...args, "--threads", "2")]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const [ja, jb] = [lastJson(ra.stdout), lastJson(rb.stdout)];
    for (const k of ["lnZ", "lnZ_error", "F_variational", "ess"]) expect(jb[k]).toBe(ja[k]);
    const bad = await run("lnz", "--run", run1, "--threads", "0");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^latticeflow: error: --threads expects a positive integer .* or 'auto', got '0'/,
    );
  });

  it("--threads auto runs (the cores of this machine) and changes nothing", async () => {
    const a = join(tmp, "auto-1.npy");
    const b = join(tmp, "auto-auto.npy");
    const args = ["sample", "--run", run1, "--n", "9", "--batch", "4", "--seed", "3", "--mh"];
    const [ra, rb] = await Promise.all([
      run(...args, "--out", a),
      run(...args, "--threads", "auto", "--out", b, "--json"),
    ]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    expect(bytes(b).equals(bytes(a))).toBe(true);
  });
});

describe("demo --threads", () => {
  it("passes the thread count to training and sampling", async () => {
    const out = join(tmp, "demo");
    const r = await run("demo", "--steps", "1", "--n", "16", "--threads", "2", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/on 2 threads/);
    expect(configOf(out).train.threads).toBe(2);
    expect(JSON.parse(readFileSync(join(out, "ensemble.npy.json"), "utf8")).threads).toBe(2);
  });
});

describe("bad --threads: one line naming the problem and the fix, exit 2, nothing written", () => {
  const cases: [string, string[], RegExp][] = [];
  for (const v of ["0", "-1", "1.5", "abc"]) {
    const msg = new RegExp(
      `--threads expects a positive integer .* or 'auto', got '${v.replace(".", "\\.")}'`,
    );
    cases.push([`train --threads ${v}`, ["train", ...TINY, "--steps", "1", "--threads", v], msg]);
    cases.push([`sample --threads ${v}`, ["sample", "--run", join(tmp, "s-run"), "--threads", v], msg]);
    cases.push([`demo --threads ${v}`, ["demo", "--steps", "1", "--threads", v], msg]);
  }
  cases.push([
    "train --threads above the batch",
    ["train", ...TINY, "--steps", "1", "--threads", "9"],
    /threads = 9 exceeds batch = 8.*at most 8 threads or a larger batch/,
  ]);
  cases.push([
    "demo --threads above the batch",
    ["demo", "--steps", "1", "--threads", "65"],
    /threads = 65 exceeds batch = 64/,
  ]);
  for (const [name, args, msg] of cases) {
    it(name, async () => {
      const out = join(tmp, `bad-${name.replace(/\W/g, "")}`);
      const r = await run(...args, "--out", args[0] === "sample" ? `${out}.npy` : out);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stdout).toBe("");
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.npy`)).toBe(false);
    });
  }

  it("threads 0 in a config file, and a --resume --threads above the batch (config.json unchanged)", async () => {
    const f = join(tmp, "bad-threads.json");
    writeFileSync(f, JSON.stringify({ threads: 0 }));
    const r = await run("train", "--config", f, "--out", join(tmp, "bad-cfg"));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/'train\.threads'/);
    expect(existsSync(join(tmp, "bad-cfg"))).toBe(false);

    const d = join(tmp, "bad-resume");
    expect((await run("train", ...TINY, "--steps", "1", "--out", d)).code).toBe(0);
    const before = readFileSync(join(d, "config.json"), "utf8");
    const r2 = await run("train", "--resume", "--steps", "2", "--threads", "9", "--out", d);
    expect(r2.code).toBe(2);
    expect(r2.stderr.trim().split("\n")).toHaveLength(1);
    expect(r2.stderr).toMatch(/threads = 9 exceeds batch = 8/);
    expect(readFileSync(join(d, "config.json"), "utf8")).toBe(before);
    expect(losses(d)).toHaveLength(1);
  });
});
