/**
 * `npm run build:web`: the page as a self-contained static site in web-dist/. Relative URLs
 * (base "./"), so it works from any folder of any static server; the library is bundled from
 * src/ (no dist/ needed); coi-serviceworker is copied next to index.html for hosts that send
 * no COOP/COEP headers.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const require = createRequire(import.meta.url);

/** Emit node_modules/coi-serviceworker's script as web-dist/coi-serviceworker.js (no CDN). */
function coiServiceWorker() {
  return {
    name: "latticeflow-coi-serviceworker",
    apply: "build",
    generateBundle() {
      const source = readFileSync(require.resolve("coi-serviceworker/coi-serviceworker.min.js"), "utf8");
      this.emitFile({ type: "asset", fileName: "coi-serviceworker.js", source });
    },
  };
}

export default defineConfig({
  root: here("."),
  base: "./",
  publicDir: false,
  resolve: { alias: { latticeflow: here("../src/index.ts") } },
  worker: { format: "es" },
  build: {
    outDir: here("../web-dist"),
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 4096,
  },
  plugins: [coiServiceWorker()],
});
