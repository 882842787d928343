/**
 * When an ensemble's error bars deserve suspicion, in one warning line: `sample` prints it, and
 * `measure` for the acceptance of a flow-MH chain it reads.
 */

/**
 * Below this proposal ESS a flow-MH chain is long runs of rejections and reweighted raw samples
 * rest on a handful of weights: the Γ-method or reweighting error then means little.
 */
export const LOW_PROPOSAL_ESS = 0.01;

/**
 * Below this flow-MH acceptance the chain's Γ-method error can be too small: the configurations
 * the flow proposes too rarely are visited too rarely for the autocorrelation to show it. Measured
 * (docs/scaling.md): at acceptance 0.092 (X20) χ₂ was 5.3σ from HMC's, at 0.081 (E5) 2.3σ; at
 * 0.28–0.69 every row agreed within 1.6σ.
 */
export const LOW_MH_ACCEPTANCE = 0.15;

/**
 * The warning of a sample whose errors deserve suspicion, or null. `acceptance`: of a flow-MH
 * chain without local HMC moves (which mix what the proposals miss), else null.
 */
export function sampleWarning(ess: number, mh: boolean, acceptance: number | null): string | null {
  if (ess < LOW_PROPOSAL_ESS) return lowEssWarning(ess, mh);
  return acceptance === null ? null : lowAcceptanceWarning(acceptance);
}

/** The warning of a flow-MH chain (no local HMC) accepting below LOW_MH_ACCEPTANCE, or null. */
export function lowAcceptanceWarning(acceptance: number): string | null {
  if (!(acceptance < LOW_MH_ACCEPTANCE)) return null;
  return (
    `MH acceptance ${acceptance.toPrecision(2)} is below ${LOW_MH_ACCEPTANCE}: the chain rarely visits what the flow ` +
    "under-proposes, so its Γ-method errors can be too small (docs/scaling.md: 5.3σ off at 0.09); " +
    "train the flow longer (latticeflow train --resume --steps N), or check against latticeflow hmc"
  );
}

function lowEssWarning(ess: number, mh: boolean): string {
  return (
    `proposal ESS ${ess.toPrecision(2)} is below ${LOW_PROPOSAL_ESS}: ` +
    (mh
      ? "the chain is long runs of rejections, so its τ_int and errors mean little unless N is far larger; "
      : "a few samples carry almost all the weight, so reweighted means and their errors mean little; ") +
    "train the flow longer (latticeflow train --resume --steps N)"
  );
}
