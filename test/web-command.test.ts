/**
 * `latticeflow web` (the built CLI): it serves the built page (web-dist/, which `npm run
 * build:web` writes; built here first if absent) with the cross-origin isolation headers, and
 * nothing else; bad flags give one line and exit 2. test/web-e2e.test.ts runs the page itself.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli, runProcess } from "./run-cli.js";

const root = join(__dirname, "..");
const SITE = join(root, "web-dist");

describe.skipIf(!existsSync(CLI))("latticeflow web", () => {
  beforeAll(async () => {
    if (existsSync(join(SITE, "index.html"))) return;
    const vite = join(root, "node_modules", "vite", "bin", "vite.js");
    const r = await runProcess(process.execPath, [
      vite,
      "build",
      "--config",
      join(root, "web", "vite.config.js"),
      "--logLevel",
      "warn",
    ]);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  it("serves web-dist/ only, cross-origin isolated, until stopped", async () => {
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
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(page.headers.get("cross-origin-embedder-policy")).toBe("require-corp");
      const html = await page.text();
      expect(html).toContain('<script src="coi-serviceworker.js"></script>');
      const script = /src="\.\/(assets\/index-[\w-]+\.js)"/.exec(html)?.[1];
      expect(script).toBeDefined();
      const js = await fetch(`${url}${script}`);
      expect(js.status).toBe(200);
      expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
      expect((await fetch(`${url}coi-serviceworker.js`)).status).toBe(200);
      for (const path of [
        "package.json",
        "src/index.ts",
        "assets/../../package.json",
        "nothing.js",
        "%2e%2e/package.json",
      ])
        expect((await fetch(`${url}${path}`)).status, path).toBe(404);
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
