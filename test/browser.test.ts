/**
 * The core in a real browser: headless Chromium (Debian package `chromium`; skipped when it
 * is absent) imports the compiled package over HTTP, with no bundler, and runs
 * test/browser/workload.js; Node runs the same file. The brief's promise is the same numbers
 * for the same seed in Node and in the browser, so the results must be equal bit for bit
 * (JSON round-trips doubles exactly). Needs dist/ (`npm test` builds it first), with its copy
 * of zod (scripts/vendor-zod.mjs: workers have no import maps to resolve "zod" with).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize, sep } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(__dirname, "..");
const dist = join(root, "dist", "src", "index.js");
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

const pages: Record<string, string> = {};
pages["/single.html"] = `<!doctype html>
<script type="module">
  let body;
  try {
    const lf = await import("/dist/src/index.js");
    const { workload } = await import("/test/browser/workload.js");
    body = { ok: true, result: workload(lf), backend: lf.convBackend(), simd: lf.simdSupported() };
  } catch (e) {
    body = { ok: false, error: String((e && e.stack) || e) };
  }
  await fetch("/result", { method: "POST", body: JSON.stringify(body) });
</script>`;
// Served cross-origin isolated (SharedArrayBuffer); the trainer runs in a worker (Atomics.wait).
pages["/threads.html"] = `<!doctype html>
<script type="module">
  const post = (body) => fetch("/result", { method: "POST", body: JSON.stringify(body) });
  const w = new Worker("/test/browser/driver.js", { type: "module" });
  w.onmessage = (e) => post(e.data);
  w.onerror = (e) => post({ ok: false, error: "driver: " + e.message });
</script>`;

// The same on the page itself, where Atomics.wait is not allowed: a clear error, not a hang.
pages["/main-thread.html"] = `<!doctype html>
<script type="module">
  const lf = await import("/dist/src/index.js");
  const { parallelWorkload } = await import("/test/browser/workload.js");
  let body;
  try {
    body = { ok: true, result: await parallelWorkload(lf, lf.webWorkerSpawn()) };
  } catch (e) {
    body = { ok: false, error: e.name + ": " + e.message };
  }
  await fetch("/result", { method: "POST", body: JSON.stringify(body) });
</script>`;

/** Browser profile directories, removed again after all tests (helpers may outlive the kill). */
const profiles: string[] = [];

/** SIGKILL the browser's whole process group (it was spawned detached, as a group leader). */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL"); // the group is already gone, or this platform has none
  }
}

const types: Record<string, string> = { ".js": "text/javascript", ".html": "text/html" };
/**
 * What the browser may load: the package as `latticeflow web` or any static host serves it (dist/,
 * web/; so the page cannot lean on node_modules) and the workloads of these tests.
 */
const SERVED = ["dist", "web", join("test", "browser")];

/** Serve the repository to the browser; resolve with what the page posts to /result. */
function runInBrowser(
  browser: string,
  path: string,
): Promise<{ ok: boolean; error?: string; [k: string]: unknown }> {
  return new Promise((resolve, reject) => {
    const profile = mkdtempSync(join(tmpdir(), "latticeflow-chromium-"));
    profiles.push(profile);
    let child: ChildProcess | null = null;
    let log = "";
    // Best effort: Chromium's helper processes may still be writing there for a moment.
    const removeProfile = () => {
      try {
        rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      } catch {
        // a leftover directory in tmp is harmless
      }
    };
    const finish = (f: () => void) => {
      clearTimeout(timer);
      server.close();
      if (child) killGroup(child);
      else removeProfile();
      f();
    };
    const server = createServer((req, res) => {
      res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
      res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
      if (req.method === "POST" && req.url === "/result") {
        let data = "";
        req.on("data", (d) => (data += d));
        req.on("end", () => {
          res.end();
          finish(() => resolve(JSON.parse(data)));
        });
        return;
      }
      const url = (req.url ?? "/").split("?")[0]!;
      if (pages[url]) {
        res.setHeader("content-type", "text/html");
        res.end(pages[url]);
        return;
      }
      const file = normalize(join(root, decodeURIComponent(url)));
      if (!SERVED.some((d) => file.startsWith(join(root, d) + sep)) || !existsSync(file)) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader("content-type", types[extname(file)] ?? "application/octet-stream");
      res.end(readFileSync(file));
    });
    const timer = setTimeout(
      () => finish(() => reject(new Error(`no result from the browser within 120 s; its output:\n${log}`))),
      120_000,
    );
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      // Its own process group, so that killing it ends the renderer and GPU processes too.
      child = spawn(
        browser,
        [
          "--headless=new",
          "--no-sandbox", // CI runs as root
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--no-first-run",
          `--user-data-dir=${profile}`,
          `http://127.0.0.1:${port}${path}`,
        ],
        { detached: true },
      );
      child.stdout?.on("data", (d) => (log += d));
      child.stderr?.on("data", (d) => (log += d));
      // The profile directory is Chromium's until its processes are gone.
      child.on("exit", removeProfile);
    });
  });
}

describe.skipIf(!chromium || !existsSync(dist))("in a browser", () => {
  afterAll(async () => {
    await new Promise((r) => setTimeout(r, 500));
    for (const p of profiles) rmSync(p, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it("headless Chromium computes the same numbers as Node, bit for bit", async () => {
    const lf = await import(dist);
    const { workload } = await import(join(root, "test", "browser", "workload.js"));
    const node = JSON.parse(JSON.stringify(workload(lf)));
    const browser = await runInBrowser(chromium!, "/single.html");
    expect(browser.ok, browser.error).toBe(true);
    expect(browser.simd).toBe(true); // the float32 numbers came from the WebAssembly kernels
    expect(browser.backend).toBe("wasm");
    expect(browser.result).toEqual(node);
  }, 150_000);

  it("two Web Workers train and sample as two worker_threads do, bit for bit", async () => {
    const lf = await import(dist);
    const { nodeSpawn } = await import(join(root, "dist", "src", "cli", "threads.js"));
    const { parallelWorkload } = await import(join(root, "test", "browser", "workload.js"));
    const node = JSON.parse(JSON.stringify(await parallelWorkload(lf, nodeSpawn)));
    const browser = await runInBrowser(chromium!, "/threads.html");
    expect(browser.ok, browser.error).toBe(true);
    expect(browser.isolated).toBe(true);
    expect(browser.result).toEqual(node);
  }, 150_000);

  it("on the page itself, two threads fail with a message that says to use a worker", async () => {
    const browser = await runInBrowser(chromium!, "/main-thread.html");
    expect(browser.ok).toBe(false);
    expect(browser.error).toMatch(/^WorkerError: .*run the trainer inside a Web Worker, or use threads: 1$/);
  }, 150_000);
});
