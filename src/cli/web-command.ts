/**
 * `latticeflow web`: serve the built page (web-dist/, written by `npm run build:web`) on a local
 * port, nothing else. Responses carry the cross-origin isolation headers (COOP same-origin, COEP
 * require-corp) that SharedArrayBuffer, hence the page's threads, needs; any other static server
 * works too, the page then isolates itself with its service worker (docs/web.md).
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
/** The built site (vite, web/vite.config.js). */
export const SITE = join(ROOT, "web-dist");
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".wasm": "application/wasm",
};

/** Start serving `site`; resolves once listening, with the page's URL. */
export function serveWeb(port: number, host: string, site = SITE): Promise<{ server: Server; url: string }> {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port expects an integer in 0..65535 (0: any free port), got ${port}`);
  if (!existsSync(join(site, "index.html")))
    throw new UsageError(`no built page in ${site}: run 'npm run build:web' in the package first`);
  const server = createServer((req, res) => {
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    let file = normalize(join(site, path));
    if (file !== site && !file.startsWith(site + sep)) {
      res.writeHead(404).end("not found");
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file) || !statSync(file).isFile()) {
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
      resolve({ server, url: `http://${host}:${p}/` });
    });
  });
}

export function registerWebCommand(program: Command): void {
  program
    .command("web")
    .description("serve the page that trains flows in the browser (web-dist/, built by npm run build:web)")
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
