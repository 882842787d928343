/**
 * After `tsc`: make dist/ loadable by browsers as it is, with no bundler (web/index.html and its
 * workers import dist/src/index.js directly). The model description (src/model) validates with
 * zod, and a browser cannot resolve the bare specifier "zod": a page could map it with an import
 * map, but Web Workers (the page's trainer, the parallel trainer's threads) have none. So this
 * copies zod's ES modules (those reachable from its entry, with its licence) to dist/vendor/zod/
 * and points every `from "zod"` in dist's JavaScript at that copy by a relative path. Node then
 * runs the same copy. Type declarations keep "zod" (the package stays a dependency for them).
 *
 * Idempotent; `npm run build` and `npm test` run it after tsc.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const vendor = join(dist, "vendor", "zod");
const entry = fileURLToPath(import.meta.resolve("zod"));
const pkg = dirname(entry);

/** Relative specifiers of a module's static imports and re-exports (zod has no other kind). */
function relativeImports(code) {
  const out = [];
  for (const m of code.matchAll(/\b(?:import|export)\b[^;"']*?["'](\.\.?\/[^"']+)["']/g)) out.push(m[1]);
  return out;
}

const seen = new Set();
const todo = [entry];
while (todo.length > 0) {
  const file = todo.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  for (const spec of relativeImports(readFileSync(file, "utf8"))) todo.push(join(dirname(file), spec));
}
for (const file of seen) {
  const to = join(vendor, relative(pkg, file));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(file, to);
}
if (existsSync(join(pkg, "LICENSE"))) copyFileSync(join(pkg, "LICENSE"), join(vendor, "LICENSE"));
const version = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).version;
writeFileSync(
  join(vendor, "README.md"),
  `zod ${version} (MIT, see LICENSE): its ES modules reachable from index.js, copied by scripts/vendor-zod.mjs.\n`,
);

function jsFiles(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (p === join(dist, "vendor")) return [];
    return statSync(p).isDirectory() ? jsFiles(p) : p.endsWith(".js") ? [p] : [];
  });
}

let rewritten = 0;
for (const file of jsFiles(dist)) {
  const code = readFileSync(file, "utf8");
  let target = relative(dirname(file), join(vendor, "index.js")).split(sep).join("/");
  if (!target.startsWith(".")) target = `./${target}`;
  const next = code.replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])zod\2/g, `$1$2${target}$2`);
  if (next !== code) {
    writeFileSync(file, next);
    rewritten++;
  }
}
console.log(
  `vendor-zod: zod ${version}, ${seen.size} modules in dist/vendor/zod; ${rewritten} files newly pointed at it`,
);
