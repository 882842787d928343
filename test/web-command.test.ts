/**
 * `latticeflow web` (the built CLI): it serves the page and the compiled package, with the
 * cross-origin isolation headers, and nothing else; bad flags give one line and exit 2.
 * test/browser.test.ts runs the page itself in headless Chromium.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLI, runCli } from "./run-cli.js";

describe.skipIf(!existsSync(CLI))("latticeflow web", () => {
  it("serves web/ and dist/ only, cross-origin isolated, until stopped", async () => {
    const p = spawn(process.execPath, [CLI, "web", "--port", "0", "--json"]);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        p.stdout.on("data", (d) => {
          out += d;
          if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]!).url);
        });
        p.on("close", (code) => reject(new Error(`web exited with ${code}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/web\/index\.html$/);
      const origin = new URL(url).origin;
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(page.headers.get("cross-origin-embedder-policy")).toBe("require-corp");
      expect(await page.text()).toContain('new URL("./worker.js", import.meta.url)');
      const lib = await fetch(`${origin}/dist/src/index.js`);
      expect(lib.status).toBe(200);
      expect(lib.headers.get("content-type")).toMatch(/^text\/javascript/);
      expect((await fetch(`${origin}/`, { redirect: "manual" })).headers.get("location")).toBe(
        "/web/index.html",
      );
      for (const path of ["/package.json", "/src/index.ts", "/dist/../package.json", "/web/nothing.js"])
        expect((await fetch(`${origin}${path}`)).status, path).toBe(404);
    } finally {
      p.kill();
    }
  });

  it("bad --port: one line naming the flag, exit 2", async () => {
    for (const port of ["70000", "-1", "1.5", "x"]) {
      const r = await runCli("web", "--port", port);
      expect(r.code, port).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/--port expects/);
    }
  });
});
