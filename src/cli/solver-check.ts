/**
 * The solver-error check of flows integrated by an ODE solver (`--flow cnf`): `train` at every
 * checkpoint, every {@link SOLVER_CHECK_EVERY} steps and at its last step; `sample` and `lnz` once.
 * It draws a few configurations from a random stream of its own (the run's training stream and
 * the command's draws are untouched) and reports max |Δ|, Δ = log q_N − log q_2N
 * (src/flows/solver-error.ts): RK4's error of the N-step log q, to about 6 %, against the ODE's
 * density. Flow MH and reweighting do not remove it.
 *
 * Thresholds, in nats of log q (max |Δ|):
 * - {@link SOLVER_ERROR_WARN} = 0.1: one warning line. A log-weight error of 0.1 changes weights by
 *   10 %; the error against the N-step map's own density, which MH sees, was 1.7–5 times max |Δ|
 *   in the tests. On φ⁴ at L = 8 the default 50 RK4 steps gave 2·10⁻⁸–8.4·10⁻⁴ over 450
 *   steps, far below it; the 10-step run of docs/phi4-beyond.md crossed it at step 20 and reached
 *   2.9 nats at step 60. `lnz` also warns when max |Δ| exceeds its ln Z error bar, which
 *   does not include it.
 * - {@link SOLVER_ERROR_STOP} = 1 (or a non-finite Δ): `train` stops like a divergence (exit 1,
 *   the last checkpoint kept). log q is then wrong by e-folds, and training does not repair it:
 *   the loss rewards an underestimated log q, so gradient steps drive the field stiffer (that
 *   10-step run reached a loss tens of nats below −ln Z).
 */
import { join } from "node:path";
import type { Params } from "../engine/index.js";
import type { Flow } from "../flows/flow.js";
import { odeStepsOf, type SolverErrorEstimate, sampleSolverError } from "../flows/solver-error.js";
import { buildModel } from "../model/index.js";
import { Rng } from "../rng/philox.js";
import type { RunConfig } from "./config.js";
import { RUN_FILES } from "./run-dir.js";

export const SOLVER_ERROR_WARN = 0.1;
export const SOLVER_ERROR_STOP = 1;
/** Draws per check: `train` (about a quarter of a training step's work) and `sample`/`lnz`. */
export const SOLVER_ERROR_DRAWS = { train: 16, sample: 64 } as const;
/** `train` also checks at every multiple of this step, between checkpoints. */
export const SOLVER_CHECK_EVERY = 100;

/** The check's sub-stream (Rng.split id; `train` adds the step). */
const SOLVER_STREAM = 0x536f6c76_0000;

/** max |Δ| as JSON records it: null for a solve that was not finite. */
export const solverErrorValue = (e: SolverErrorEstimate): number | null =>
  Number.isFinite(e.maxAbs) ? e.maxAbs : null;

/** 0.031 nats, 3.2 nats, 104 nats, 2.5e+7 nats. */
const nats = (x: number): string =>
  !Number.isFinite(x)
    ? "not finite"
    : `${x < 10 ? x.toPrecision(2) : x < 1e6 ? Math.round(x).toString() : x.toExponential(1)} nats`;

/** "the ODE solver's log q error is 3.2 nats at step 400 (max over 16 draws, log q with 50 vs 100 RK4 steps)" */
function measured(e: SolverErrorEstimate, where: string): string {
  return (
    `the ODE solver's log q error is ${nats(e.maxAbs)}${where} ` +
    `(max over ${e.delta.length} draws, log q with ${e.steps} vs ${e.refinedSteps} RK4 steps)`
  );
}

/**
 * `sample` and `lnz`: the check on SOLVER_ERROR_DRAWS.sample draws from the sub-stream of `seed`,
 * or null for a flow without an ODE solver.
 */
export function commandSolverError(flow: Flow, params: Params, seed: number): SolverErrorEstimate | null {
  if (odeStepsOf(flow) === null) return null;
  return sampleSolverError(flow, params, new Rng(seed).split(SOLVER_STREAM), SOLVER_ERROR_DRAWS.sample);
}

/**
 * The warning of `sample` and `lnz` (`what`: "the ensemble", "ln Z"), or null: above
 * SOLVER_ERROR_WARN, or (`lnz`) above the statistical `errorBar` the result is quoted with.
 */
export function solverErrorWarning(
  e: SolverErrorEstimate | null,
  what: string,
  errorBar?: number,
): string | null {
  if (e === null) return null;
  const fix =
    `draw with more RK4 steps: add --ode-steps ${e.refinedSteps} (the same weights; to train on with them, ` +
    `a new run with --init-from <this run> --ode-steps ${e.refinedSteps})`;
  if (!(e.maxAbs <= SOLVER_ERROR_WARN))
    return (
      `${measured(e, "")}, above ${SOLVER_ERROR_WARN}: the flow's field is too stiff for --ode-steps ${e.steps}, ` +
      `and MH and reweighting do not remove this error, so ${what} is biased; ${fix}`
    );
  if (errorBar !== undefined && e.maxAbs > errorBar)
    return (
      `${measured(e, "")} exceeds the error bar of ${what}, ${errorBar.toPrecision(2)}, which does not ` +
      `include it (reweighting does not remove it); ${fix}`
    );
  return null;
}

export interface TrainSolverGuard {
  /**
   * At a step it checks (checkpoints, multiples of SOLVER_CHECK_EVERY, `last`): max |Δ| (null if
   * not finite), with one warning line on stderr the first time it exceeds SOLVER_ERROR_WARN;
   * at other steps undefined.
   */
  check(step: number, params: Params, last: boolean): number | null | undefined;
  /** The line to stop with if the last check exceeded SOLVER_ERROR_STOP or was not finite, else null. */
  stopLine(savedStep: number, outWord: string): string | null;
}

/** The guard of a training run, or null for a flow without an ODE solver. */
export function trainSolverGuard(config: RunConfig, out: string): TrainSolverGuard | null {
  const { flow } = buildModel(config);
  if (odeStepsOf(flow) === null) return null;
  const t = config.train;
  let warned = false;
  let bad: { step: number; e: SolverErrorEstimate } | null = null;
  return {
    check(step, params, last) {
      if (!(last || step % t.checkpointEvery === 0 || step % SOLVER_CHECK_EVERY === 0)) return undefined;
      const rng = new Rng(t.seed).split(SOLVER_STREAM + step);
      const e = sampleSolverError(flow, params, rng, SOLVER_ERROR_DRAWS.train);
      const finite = Number.isFinite(e.maxAbs);
      bad = !finite || e.maxAbs > SOLVER_ERROR_STOP ? { step, e } : null;
      if (!warned && bad === null && e.maxAbs > SOLVER_ERROR_WARN) {
        warned = true;
        process.stderr.write(
          `latticeflow: warning: ${measured(e, ` at step ${step}`)}: the flow has learned a field too stiff for ` +
            `--ode-steps ${e.steps}; its loss and ESS are not to be trusted; train again with more --ode-steps or a smaller --lr\n`,
        );
      }
      return solverErrorValue(e);
    },
    stopLine(savedStep, outWord) {
      if (bad === null) return null;
      const { step, e } = bad;
      return (
        `${measured(e, ` at step ${step}`)}, above ${SOLVER_ERROR_STOP}: the flow has learned a field too stiff ` +
        `for --ode-steps ${e.steps}, and the loss rewards the solver's error, so training would only make it worse; ` +
        `kept the checkpoint of step ${savedStep} (${join(out, RUN_FILES.checkpoint)}) and the metrics; ` +
        `train a new run from it with more RK4 steps (latticeflow train --init-from ${outWord} --ode-steps ${e.refinedSteps} ` +
        `--out <new> and this run's other settings), or continue with a smaller --lr: latticeflow train --resume --out ${outWord} --lr <smaller>`
      );
    },
  };
}
