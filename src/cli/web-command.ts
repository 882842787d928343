/**
 * `latticeflow web`: serve the browser page (web/index.html) and the compiled package it
 * imports (dist/), nothing else, on a local port. Responses carry the cross-origin isolation
 * headers (COOP same-origin, COEP require-corp) that SharedArrayBuffer needs, so the page
 * could use threads. The page itself needs no install: any static server of the package works.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { num, printJson } from "./args.js";
import { UsageError } from "./errors.js";

/** The package root: dist/src/cli/ → three levels up. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const SERVED = ["web", "dist"];
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
  ".css": "text/css",
};

/** Start serving; resolves once listening, with the page's URL. */
export function serveWeb(port: number, host: string): Promise<{ server: Server; url: string }> {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port expects an integer in 0..65535 (0: any free port), got ${port}`);
  if (!existsSync(join(ROOT, "web", "index.html")) || !existsSync(join(ROOT, "dist", "src", "index.js")))
    throw new UsageError(
      `no web/index.html or dist/ under ${ROOT}: run 'npm run build' in the package first`,
    );
  const server = createServer((req, res) => {
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    if (path === "/") {
      res.writeHead(302, { location: "/web/index.html" }).end();
      return;
    }
    const file = normalize(join(ROOT, path));
    const allowed = SERVED.some((d) => file.startsWith(join(ROOT, d) + sep));
    if (!allowed || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.setHeader("content-type", TYPES[extname(file)] ?? "application/octet-stream");
    res.end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new UsageError(`port ${port} is in use: choose another with --port (0 picks a free one)`)
          : e,
      ),
    );
    server.listen(port, host, () => {
      const { port: p } = server.address() as AddressInfo;
      resolve({ server, url: `http://${host}:${p}/web/index.html` });
    });
  });
}

export function registerWebCommand(program: Command): void {
  program
    .command("web")
    .description("serve the page that trains the notebook's flow in the browser (web/index.html)")
    .option("--port <n>", "port (0: any free port)", num("--port"), 8080)
    .option("--host <h>", "address to listen on", "127.0.0.1")
    .option("--json", "print one JSON line with the URL once listening", false)
    .action(async (o: { port: number; host: string; json: boolean }) => {
      const { url } = await serveWeb(o.port, o.host);
      if (o.json) printJson({ url });
      else console.log(`latticeflow: the page is at ${url} (Ctrl-C stops the server)`);
      await new Promise(() => {}); // serve until interrupted
    });
}
