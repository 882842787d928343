/**
 * Training progress: a live bar on a terminal (step, loss, ESS, it/s, ETA), plain periodic
 * lines otherwise (logs, CI), nothing with --quiet.
 */
import cliProgress from "cli-progress";

export interface ProgressSink {
  update(step: number, fields: { loss: number; ess: number }): void;
  stop(): void;
}

export function progressSink(opts: {
  total: number;
  start: number;
  quiet: boolean;
  label: string;
}): ProgressSink {
  if (opts.quiet) return { update() {}, stop() {} };
  const t0 = performance.now();
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${opts.label} [{bar}] {value}/{total} | loss {loss} | ESS {ess} | {rate} it/s | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 100,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(opts.total, opts.start, { loss: "-", ess: "-", rate: "-" });
    return {
      update(step, f) {
        const rate = (step - opts.start) / ((performance.now() - t0) / 1000);
        bar.update(step, { loss: f.loss.toFixed(3), ess: f.ess.toFixed(3), rate: rate.toFixed(1) });
      },
      stop: () => bar.stop(),
    };
  }
  const every = Math.max(1, Math.round(opts.total / 25));
  return {
    update(step, f) {
      if (step % every !== 0 && step !== opts.total) return;
      const secs = (performance.now() - t0) / 1000;
      const rate = (step - opts.start) / secs;
      const eta = (opts.total - step) / rate;
      process.stderr.write(
        `${opts.label} step ${step}/${opts.total} loss ${f.loss.toFixed(4)} ess ${f.ess.toFixed(4)} ` +
          `${rate.toFixed(1)} it/s eta ${eta.toFixed(0)}s\n`,
      );
    },
    stop() {},
  };
}
