/**
 * The page's main thread while it trains (docs/web.md, "Threads and numbers"): the long tasks
 * (PerformanceObserver 'longtask', every task over 50 ms of wall time) from the first drawn
 * training figure to the end of the run, with the page's work inside each (the User Timing
 * entries of charts.js and main.js), and from a Chromium trace the main thread's CPU time of its
 * longest tasks: on a loaded machine a task's wall time is mostly waiting for a core, its CPU time
 * is what it would take on a quiet one. Needs `npm run build:web`; run with
 * `npx vite-node test/web/long-tasks.ts [steps] [threads] [rounds] [preset]`
 * (LATTICEFLOW_SITE=dir: another build of the page).
 */
import { join } from "node:path";
import { chromium } from "playwright-core";
import { serveStatic } from "./static-server.js";

const steps = Number(process.argv[2] ?? 200);
const threads = Number(process.argv[3] ?? 2);
const rounds = Number(process.argv[4] ?? 2);
const preset = process.argv[5] ?? "phi4-notebook";
/** The built site: web-dist/, or LATTICEFLOW_SITE (e.g. an older build to compare with). */
const site = await serveStatic(process.env.LATTICEFLOW_SITE ?? join(__dirname, "..", "..", "web-dist"));
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });

interface TraceEvent {
  name: string;
  cat?: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}

for (let k = 0; k < rounds; k++) {
  const p = await browser.newPage();
  p.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.log(`  console ${m.type()}: ${m.text()}`);
  });
  p.on("pageerror", (e) => console.log(`  page error: ${e.message}`));
  await p.addInitScript(() => {
    const w = self as unknown as { longTasks: { start: number; duration: number }[] };
    w.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: "longtask", buffered: true });
  });
  await p.goto(`${site.url}?preset=${preset}&steps=${steps}&seed=1&threads=${threads}`);
  await p.waitForFunction(
    () => self.crossOriginIsolated && document.getElementById("status")!.textContent!.startsWith("Ready"),
    null,
    { timeout: 60_000 },
  );
  await p.click("#train");
  await p.waitForFunction(() => document.getElementById("chart-training")!.dataset.step !== undefined);
  await browser.startTracing(p, {
    categories: ["disabled-by-default-devtools.timeline", "blink.user_timing"],
  });
  const from = await p.evaluate(() => performance.now());
  await p.waitForFunction(() => document.getElementById("status")!.textContent!.endsWith("done"), null, {
    timeout: 600_000,
  });
  await p.waitForTimeout(2000); // the last draws
  const trace = JSON.parse((await browser.stopTracing()).toString()) as { traceEvents: TraceEvent[] };
  const tasks = (await p.evaluate((from) => {
    const entries = performance.getEntriesByType("measure");
    return (self as unknown as { longTasks: { start: number; duration: number }[] }).longTasks
      .filter((t) => t.start >= from)
      .map((t) => ({
        ...t,
        // The page's work inside the task (the User Timing entries of charts.js and main.js).
        inside: entries
          .filter((m) => m.startTime >= t.start - 1 && m.startTime + m.duration <= t.start + t.duration + 1)
          .map((m) => `${m.name} ${Math.round(m.duration)}`),
      }));
  }, from)) as { start: number; duration: number; inside: string[] }[];
  const status = await p.innerText("#status");
  tasks.sort((a, b) => b.duration - a.duration);
  // The page's main thread: the renderer's CrRendererMain of the process that ran the most tasks.
  const ev = trace.traceEvents;
  const mains = ev.filter((e) => e.name === "thread_name" && e.args?.name === "CrRendererMain");
  const runTasks = mains
    .map((m) => ev.filter((e) => e.pid === m.pid && e.tid === m.tid && e.name === "RunTask" && e.ph === "X"))
    .sort((a, b) => b.length - a.length)[0]!;
  // The User Timing entries (begin "b", end "e") that fall inside each task.
  const marks = ev.filter((e) => e.cat === "blink.user_timing" && (e.ph === "b" || e.ph === "e"));
  const begins = marks.filter((e) => e.ph === "b");
  const cpu = runTasks.map((e) => ({
    wall: (e.dur ?? 0) / 1000,
    cpu: (e.tdur ?? 0) / 1000,
    what: begins
      .filter((b) => b.ts >= e.ts && b.ts <= e.ts + (e.dur ?? 0))
      .map((b) => b.name)
      .join(", "),
  }));
  cpu.sort((a, b) => b.cpu - a.cpu);
  const total = cpu.reduce((a, t) => a + t.cpu, 0);
  const span =
    (Math.max(...runTasks.map((e) => e.ts + (e.dur ?? 0))) - Math.min(...runTasks.map((e) => e.ts))) / 1000;
  console.log(
    `round ${k + 1}: ${tasks.length} long tasks, max ${Math.round(tasks[0]?.duration ?? 0)} ms wall; ` +
      `main thread busy ${((100 * total) / span).toFixed(1)} % of ${(span / 1000).toFixed(1)} s (CPU); ` +
      `main thread's longest tasks in CPU time: ${cpu
        .slice(0, 5)
        .map((t) => `${t.cpu.toFixed(0)} ms (wall ${t.wall.toFixed(0)}${t.what ? `; ${t.what}` : ""})`)
        .join(", ")}\n  ${status}`,
  );
  // The page's Web Workers (the lab, its shard threads, the figure worker): CPU share of a core.
  const workers = ev.filter(
    (e) =>
      e.name === "thread_name" && e.args?.name === "DedicatedWorker thread" && e.pid === runTasks[0]?.pid,
  );
  const shares = workers
    .map((w) => {
      const busy = ev
        .filter((e) => e.pid === w.pid && e.tid === w.tid && e.name === "RunTask" && e.ph === "X")
        .reduce((a, e) => a + (e.tdur ?? 0) / 1000, 0);
      return (100 * busy) / span;
    })
    .sort((a, b) => b - a);
  console.log(`  workers' CPU, % of a core: ${shares.map((x) => x.toFixed(1)).join(", ")}`);
  for (const t of tasks) console.log(`  ${Math.round(t.duration)} ms: ${t.inside.join(", ") || "(none)"}`);
  await p.close();
}
await browser.close();
await site.close();
