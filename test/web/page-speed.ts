/**
 * The page's training speed against the CLI's (BENCHMARKS.md, "The page"): the same preset, seed
 * and thread count, one after the other on this machine. Needs `npm run build` and
 * `npm run build:web`; run with `npx vite-node test/web/page-speed.ts [steps] [rounds]`
 * (LATTICEFLOW_SITE=dir: another build of the page).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { lastJson, runCli } from "../run-cli.js";
import { serveStatic } from "./static-server.js";

const steps = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 2);
/** The built site: web-dist/, or LATTICEFLOW_SITE (e.g. an older build to compare with). */
const site = await serveStatic(process.env.LATTICEFLOW_SITE ?? join(__dirname, "..", "..", "web-dist"));
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
const tmp = mkdtempSync(join(tmpdir(), "latticeflow-speed-"));

/** Steps per second of the page: from its first step message to its last (as its status shows). */
async function page(threads: number): Promise<number> {
  const p = await browser.newPage();
  await p.goto(`${site.url}?preset=phi4-notebook&steps=${steps}&seed=1&threads=${threads}`);
  await p.waitForFunction(
    () => self.crossOriginIsolated && document.getElementById("status")!.textContent!.startsWith("Ready"),
  );
  await p.click("#train");
  await p.waitForFunction(() => document.getElementById("status")!.textContent!.endsWith("done"), null, {
    timeout: 600_000,
  });
  const rate = Number(/([\d.]+) steps\/s/.exec(await p.innerText("#status"))![1]);
  await p.close();
  return rate;
}

async function cli(threads: number, k: number): Promise<number> {
  const out = join(tmp, `run-${threads}-${k}`);
  const r = await runCli(
    "train",
    "--preset",
    "phi4-notebook",
    "--steps",
    String(steps),
    "--seed",
    "1",
    "--threads",
    String(threads),
    "--out",
    out,
    "--quiet",
    "--json",
  );
  return 1000 / (lastJson(r.stdout).ms_per_step as number);
}

for (let k = 0; k < rounds; k++)
  for (const threads of [1, 2]) {
    const c = await cli(threads, k);
    const w = await page(threads);
    console.log(
      `round ${k + 1}, ${threads} thread(s): CLI ${c.toFixed(1)} steps/s, page ${w.toFixed(1)} steps/s, CLI/page ${(c / w).toFixed(2)}`,
    );
  }
await browser.close();
await site.close();
rmSync(tmp, { recursive: true, force: true });
