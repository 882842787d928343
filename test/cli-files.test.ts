/**
 * Files as a user meets them, through the built CLI (dist/, as test/cli.test.ts): output paths
 * checked before the work (missing or read-only directory, a file where a directory should be,
 * a directory or FIFO where the output should be, /proc), --force, companions written and
 * replaced together, corrupted checkpoints and ensembles caught by their hashes, a diverged flow
 * refused. Each failure: one line on stderr, the right exit code, nothing half-written (no temp
 * file, no partial output).
 */
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOW_MH_ACCEPTANCE, LOW_PROPOSAL_ESS, sampleWarning } from "../src/cli/sample-warnings.js";
import { readSafetensorsFile, writeSafetensorsFile } from "../src/io/files.js";
import type { SafetensorsTensor } from "../src/io/safetensors.js";
import { CLI, type CliResult, lastJson, runCli, runProcess } from "./run-cli.js";

const tmp = mkdtempSync(join(tmpdir(), "latticeflow-files-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = runCli;
const TINY = ["--L", "4", "--layers", "2", "--hidden", "4", "--batch", "8", "--quiet"];
const RUN = join(tmp, "run");
const HMC = ["--L", "4", "--m2", "1", "--lam", "0", "--n", "20", "--therm", "5", "--quiet"];

/** Every file below `dir`, relative, sorted: to show that a failure left nothing behind. */
function listing(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** A failure: the exit code, exactly one line on stderr starting `latticeflow: error:`, no stack trace. */
function expectOneLine(r: CliResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^latticeflow: error: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** No temp file (`.<name>.tmp-<pid>-<random>`) or probe file anywhere under `dir`. */
function expectNoTempFiles(dir: string): void {
  expect(listing(dir).filter((f) => /\.tmp-\d+-|\.latticeflow-probe-/.test(f))).toEqual([]);
}

beforeAll(async () => {
  const r = await run("train", ...TINY, "--steps", "4", "--out", RUN);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

describe("output paths are checked before the work", () => {
  const cases: [string, () => string[], RegExp][] = [
    [
      "sample into a missing directory",
      () => ["sample", "--run", RUN, "--n", "20", "--out", join(tmp, "nope", "e.npy")],
      /cannot write .*nope\/e\.npy: the directory .*nope does not exist \(ENOENT\); create it \(mkdir -p .*\) or choose another --out$/,
    ],
    [
      "sample under a file where a directory should be",
      () => ["sample", "--run", RUN, "--n", "20", "--out", join(tmp, "a-file", "e.npy")],
      /cannot write .*a-file\/e\.npy: .*a-file is a file, not a directory \(ENOTDIR\); choose another --out$/,
    ],
    [
      "hmc under a file where a directory should be (hmc creates missing directories)",
      () => ["hmc", ...HMC, "--out", join(tmp, "a-file", "sub", "h.npy")],
      /a-file is a file, not a directory \(ENOTDIR\); choose another --out$/,
    ],
    [
      "sample onto a directory",
      () => ["sample", "--run", RUN, "--n", "20", "--out", join(tmp, "a-dir.npy"), "--force"],
      /--out .*a-dir\.npy: it is a directory; --out must name a file$/,
    ],
    [
      "sample onto a FIFO (would block for ever)",
      () => ["sample", "--run", RUN, "--n", "20", "--out", join(tmp, "fifo.npy"), "--force"],
      /--out .*fifo\.npy: it is a FIFO, not a regular file; choose another --out$/,
    ],
    [
      "sample --out /proc/x.npy (used to hang)",
      () => ["sample", "--run", RUN, "--n", "20", "--out", "/proc/x.npy"],
      /--out \/proc\/x\.npy: \/proc is a kernel filesystem .*choose another --out$/,
    ],
    ["hmc --out /proc/x.npy", () => ["hmc", ...HMC, "--out", "/proc/x.npy"], /\/proc is a kernel filesystem/],
    ["hmc --out /dev/x.npy", () => ["hmc", ...HMC, "--out", "/dev/x.npy"], /\/dev is a kernel filesystem/],
    [
      "report --out /sys/x.html",
      () => ["report", "--run", RUN, "--out", "/sys/x.html"],
      /\/sys is a kernel filesystem/,
    ],
    [
      "report into a missing directory",
      () => ["report", "--run", RUN, "--out", join(tmp, "nope", "r.html")],
      /the directory .*nope does not exist \(ENOENT\); create it/,
    ],
    [
      "plot where plots/ is a file",
      () => ["plot", join(tmp, "plotted", "e.npy")],
      /cannot write into .*plotted\/plots: .*plotted\/plots is a file, not a directory \(ENOTDIR\)/,
    ],
  ];
  beforeAll(async () => {
    writeFileSync(join(tmp, "a-file"), "x");
    mkdirSync(join(tmp, "a-dir.npy"));
    expect(spawnSync("mkfifo", [join(tmp, "fifo.npy")]).status).toBe(0);
    mkdirSync(join(tmp, "plotted"));
    const r = await run("hmc", ...HMC, "--out", join(tmp, "plotted", "e.npy"));
    expect(r.code, r.stderr).toBe(0);
    writeFileSync(join(tmp, "plotted", "plots"), "a file in the way");
  }, 60_000);
  for (const [name, args, message] of cases) {
    it(`${name}: one line, exit 2, nothing written`, async () => {
      const before = listing(tmp);
      const t0 = performance.now();
      const r = await run(...args());
      expectOneLine(r, 2, message);
      expect(performance.now() - t0).toBeLessThan(30_000);
      expect(listing(tmp)).toEqual(before);
      expect(existsSync("/proc/x.npy")).toBe(false);
    }, 60_000);
  }

  it("hmc creates a missing output directory (and only at the end)", async () => {
    const out = join(tmp, "new", "deeper", "h.npy");
    const r = await run("hmc", ...HMC, "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(listing(join(tmp, "new"))).toEqual(["deeper", "deeper/h.npy", "deeper/h.npy.json"]);
  }, 60_000);
});

describe("--force, and companions written and replaced together", () => {
  const out = join(tmp, "ens", "e.npy");
  const side = () => JSON.parse(readFileSync(`${out}.json`, "utf8"));
  beforeAll(() => mkdirSync(join(tmp, "ens")));

  it("an existing ensemble is not overwritten without --force; with it, stale companions go", async () => {
    let r = await run("sample", "--run", RUN, "--n", "40", "--mh", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(listing(join(tmp, "ens"))).toEqual(["e.accepted.npy", "e.npy", "e.npy.json"]);
    expect(Object.keys(side().sha256).sort()).toEqual(["accepted", "npy"]);
    const bytes = readFileSync(out);

    for (const args of [
      ["sample", "--run", RUN, "--n", "40", "--seed", "9", "--out", out],
      ["hmc", ...HMC, "--out", out],
    ]) {
      r = await run(...args);
      expectOneLine(
        r,
        2,
        /e\.npy already exists \(and e\.npy\.json, e\.accepted\.npy\); pass --force to replace it/,
      );
      expect(readFileSync(out).equals(bytes)).toBe(true);
    }

    // Raw samples over the MH chain: the chain's accept flags would be read as theirs.
    r = await run("sample", "--run", RUN, "--n", "40", "--seed", "9", "--out", out, "--force");
    expect(r.code, r.stderr).toBe(0);
    expect(listing(join(tmp, "ens"))).toEqual(["e.logw.npy", "e.npy", "e.npy.json"]);
    expect(Object.keys(side().sha256).sort()).toEqual(["logw", "npy"]);
    const m = await run("measure", out, "--json");
    expect(m.code, m.stderr).toBe(0);
    expect(lastJson(m.stdout).acceptance).toBeNull();

    // HMC over flow samples: no companions at all.
    r = await run("hmc", ...HMC, "--out", out, "--force");
    expect(r.code, r.stderr).toBe(0);
    expect(listing(join(tmp, "ens"))).toEqual(["e.npy", "e.npy.json"]);
    expect(side()).toMatchObject({
      sampler: "hmc",
      sha256: { npy: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
  }, 120_000);

  it("a companion the sidecar does not list (left by hand, or by a crash) is ignored", async () => {
    const r = await run("sample", "--run", RUN, "--n", "40", "--out", out, "--force");
    expect(r.code, r.stderr).toBe(0);
    writeFileSync(`${out.replace(/\.npy$/, "")}.accepted.npy`, readFileSync(out)); // not even accept flags
    const m = await run("measure", out, "--json");
    expect(m.code, m.stderr).toBe(0);
    expect(lastJson(m.stdout).acceptance).toBeNull();
  }, 60_000);

  it("report refuses to replace a report without --force", async () => {
    const html = join(tmp, "ens", "r.html");
    let r = await run("report", out, "--out", html, "--n", "16");
    expect(r.code, r.stderr).toBe(0);
    const first = readFileSync(html, "utf8");
    r = await run("report", out, "--out", html, "--n", "16");
    expectOneLine(r, 2, /r\.html already exists; pass --force to replace it, or choose another --out$/);
    expect(readFileSync(html, "utf8")).toBe(first);
    r = await run("report", out, "--out", html, "--n", "16", "--force");
    expect(r.code, r.stderr).toBe(0);
    expectNoTempFiles(tmp);
  }, 120_000);

  it("sample warns on stderr, in one line, when the proposal ESS is below 0.01", async () => {
    const w = join(tmp, "ens", "low-ess.npy");
    const r = await run("sample", "--run", RUN, "--n", "256", "--out", w, "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.ess as number).toBeLessThan(0.01);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^latticeflow: warning: proposal ESS 0\.00\d+ is below 0\.01: .*train the flow longer/,
    );
    expect(j.warning).toMatch(/below 0\.01/);
  }, 60_000);

  it("a flow-MH chain accepting below 0.15 is warned about too, unless local HMC moves mix it", () => {
    expect([LOW_PROPOSAL_ESS, LOW_MH_ACCEPTANCE]).toEqual([0.01, 0.15]);
    expect(sampleWarning(0.025, true, 0.092)).toMatch(
      /^MH acceptance 0\.092 is below 0\.15: .*Γ-method errors can be too small.*check against latticeflow hmc$/,
    );
    expect(sampleWarning(0.005, true, 0.092)).toMatch(/^proposal ESS 0\.0050 is below 0\.01: the chain/);
    expect(sampleWarning(0.005, false, null)).toMatch(/^proposal ESS 0\.0050 is below 0\.01: a few samples/);
    expect(sampleWarning(0.025, true, 0.15)).toBeNull();
    expect(sampleWarning(0.025, true, null)).toBeNull(); // local HMC, or direct samples
    for (const w of [sampleWarning(0.025, true, 0.092), sampleWarning(0.005, true, 0.1)])
      expect(w!.split("\n")).toHaveLength(1);
  });
});

describe("corruption is caught by the hashes", () => {
  it("a flipped exponent byte in checkpoint.safetensors: sample says so in one line, exit 2", async () => {
    const d = join(tmp, "corrupt-run");
    cpSync(RUN, d, { recursive: true });
    const path = join(d, "checkpoint.safetensors");
    const bytes = readFileSync(path);
    const dataStart = 8 + Number(bytes.readBigUInt64LE(0));
    bytes[dataStart + 7]! ^= 0x40; // the high exponent byte of the first float64 weight
    writeFileSync(path, bytes);
    const out = join(tmp, "from-corrupt.npy");
    for (const extra of [[], ["--mh"]]) {
      const r = await run("sample", "--run", d, "--n", "20", ...extra, "--out", out);
      expectOneLine(
        r,
        2,
        /checkpoint\.safetensors is corrupted: the sha256 of its tensor data is [0-9a-f]{12}…, its header records [0-9a-f]{12}… .*restore it from a copy or retrain$/,
      );
      expect(existsSync(out)).toBe(false);
    }
    // The hash is in the header; v0.1's checkpoints have none and still load (test/model.test.ts
    // resumes and resamples them).
    expect(readFileSync(join(RUN, "checkpoint.safetensors")).toString("latin1")).toMatch(
      /"sha256":"[0-9a-f]{64}"/,
    );
    const v01 = join(__dirname, "fixtures", "v0.1-run", "run", "checkpoint.safetensors");
    expect(readFileSync(v01).toString("latin1")).not.toMatch(/sha256/);
    expect(Object.keys(readSafetensorsFile(v01).tensors).length).toBeGreaterThan(0);
  }, 60_000);

  it("a changed byte in an ensemble: measure, compare, plot and report say it is corrupted", async () => {
    const dir = join(tmp, "corrupt-ens");
    mkdirSync(dir);
    const e = join(dir, "e.npy");
    const h = join(dir, "h.npy");
    let r = await run("sample", "--run", RUN, "--n", "40", "--mh", "--out", e);
    expect(r.code, r.stderr).toBe(0);
    r = await run("hmc", ...HMC, "--out", h);
    expect(r.code, r.stderr).toBe(0);
    const bytes = readFileSync(e);
    bytes[bytes.length - 1]! ^= 0x01; // the last bit of the last value: invisible but to the hash
    writeFileSync(e, bytes);
    const before = listing(dir);
    for (const args of [
      ["measure", e],
      ["compare", h, e],
      ["plot", e],
      ["report", e, "--n", "16"],
    ]) {
      r = await run(...args);
      expectOneLine(
        r,
        2,
        /e\.npy is corrupted: its sha256 is [0-9a-f]{12}…, e\.npy\.json recorded [0-9a-f]{12}… .*rerun sample or hmc/,
      );
      expect(listing(dir)).toEqual(before);
    }
    // The accept flags are checked too.
    r = await run("sample", "--run", RUN, "--n", "40", "--mh", "--out", e, "--force");
    expect(r.code, r.stderr).toBe(0);
    expect((await run("measure", e)).code).toBe(0);
    const acc = join(dir, "e.accepted.npy");
    const flags = readFileSync(acc);
    flags[flags.length - 2]! ^= 0xf0; // the last flag, 0 or 1, becomes a number far from either
    writeFileSync(acc, flags);
    r = await run("measure", e);
    expectOneLine(r, 2, /e\.accepted\.npy is corrupted/);
  }, 120_000);

  it("an ensemble path that is a directory or a FIFO: one line, no hang", async () => {
    const dir = join(tmp, "odd-inputs");
    mkdirSync(join(dir, "d.npy"), { recursive: true });
    expect(spawnSync("mkfifo", [join(dir, "f.npy")]).status).toBe(0);
    expectOneLine(await run("measure", join(dir, "d.npy")), 2, /cannot read .*d\.npy: it is a directory/);
    expectOneLine(
      await run("measure", join(dir, "f.npy")),
      2,
      /cannot read .*f\.npy: it is a FIFO, not a regular file/,
    );
  }, 60_000);
});

describe("a diverged flow is refused before anything is written", () => {
  it("non-finite log q: sample and sample --mh give one line, exit 1, and no .npy", async () => {
    const d = join(tmp, "diverged");
    cpSync(RUN, d, { recursive: true });
    const path = join(d, "checkpoint.safetensors");
    const file = readSafetensorsFile(path);
    const tensors: Record<string, SafetensorsTensor> = {};
    for (const [k, t] of Object.entries(file.tensors)) {
      // Finite weights so large that the flow's scale factors e^s overflow.
      tensors[k] = { ...t, data: (t.data as Float64Array).map((x) => x * 1e200) } as SafetensorsTensor;
    }
    writeSafetensorsFile(path, tensors, file.metadata);
    const out = join(tmp, "diverged.npy");
    for (const extra of [[], ["--mh"]]) {
      const r = await run("sample", "--run", d, "--n", "20", ...extra, "--out", out);
      expectOneLine(
        r,
        1,
        /(sample|proposal) \d+ .*has (log q|log p̃) = .*: the flow has most likely diverged/,
      );
      expect(listing(tmp).filter((f) => f.startsWith("diverged."))).toEqual([]);
    }
  }, 60_000);
});

/**
 * A read-only directory. The tests run as root, whom chmod does not stop, so the directory is
 * bind-mounted read-only in a private mount namespace (`unshare --mount`) that only the CLI
 * process sees; without that (no unshare, no CAP_SYS_ADMIN) a non-root user gets chmod 555.
 */
function readOnlyRunner(): ((dir: string, ...args: string[]) => Promise<CliResult>) | null {
  const probe = mkdtempSync(join(tmp, "ro-probe-"));
  const script = 'd="$1"; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && exec "$@"';
  const ok =
    spawnSync("unshare", [
      "--mount",
      "sh",
      "-c",
      script,
      "sh",
      probe,
      "sh",
      "-c",
      `! touch "${probe}/x" 2>/dev/null`,
    ]).status === 0 && !existsSync(join(probe, "x"));
  if (ok) {
    return (dir, ...args) =>
      runProcess("unshare", ["--mount", "sh", "-c", script, "sh", dir, process.execPath, CLI, ...args]);
  }
  if (process.getuid?.() !== 0) {
    return async (dir, ...args) => {
      spawnSync("chmod", ["-R", "a-w", dir]);
      try {
        return await runCli(...args);
      } finally {
        spawnSync("chmod", ["-R", "u+w", dir]);
      }
    };
  }
  return null;
}

const readOnly = readOnlyRunner();
describe.skipIf(readOnly === null)(
  "a read-only directory (unshare --mount with a read-only bind; skipped as root without it)",
  () => {
    const ro = join(tmp, "ro");
    const roRun = join(ro, "run");
    beforeAll(() => cpSync(RUN, roRun, { recursive: true }));

    // EROFS under the read-only bind; EACCES under chmod.
    const RO =
      "(is on a read-only filesystem \\(EROFS\\)|permission denied in .* \\(EACCES\\)); choose a writable";
    const cases: [string, string[], RegExp][] = [
      [
        "sample",
        ["sample", "--run", RUN, "--n", "20", "--out", join(ro, "e.npy")],
        new RegExp(`cannot write .*ro/e\\.npy: .*ro ${RO} --out$`),
      ],
      [
        "hmc",
        ["hmc", ...HMC, "--out", join(ro, "h.npy")],
        new RegExp(`cannot write .*ro/h\\.npy: .*${RO} --out$`),
      ],
      [
        "report",
        ["report", "--run", roRun, "--n", "16"],
        new RegExp(`cannot write .*run/report\\.html: .*${RO} --out$`),
      ],
      [
        "plot",
        ["plot", "--run", roRun, "--n", "16"],
        new RegExp(`cannot write into .*run/plots: .*${RO} directory$`),
      ],
    ];
    for (const [name, args, message] of cases) {
      it(`${name}: one line, exit 2, before the work, nothing written`, async () => {
        const before = listing(ro);
        const r = await readOnly!(ro, ...args);
        expectOneLine(r, 2, message);
        expect(listing(ro)).toEqual(before);
      }, 60_000);
    }
  },
);
