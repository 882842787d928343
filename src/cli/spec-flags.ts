/**
 * Command-line flags of the model description: each flag is one field of a theory, flow or
 * training spec (src/model), named as the field in kebab case (commander hands it back in
 * camel case, the field's own name). Commands add the groups they take.
 */
import type { Command } from "commander";
import { FLOW_KINDS, type FlatSettings, THEORY_KINDS } from "../model/index.js";
import { intList, num, threadsArg } from "./args.js";

export interface SpecFlag {
  flag: string;
  /** The spec field (flat settings key). */
  key: string;
  help: string;
  parse?: (v: string) => unknown;
}

export const THEORY_FLAGS: readonly SpecFlag[] = [
  { flag: "--theory <kind>", key: "theory", help: `theory: ${THEORY_KINDS.join(", ")}` },
  { flag: "--L <n>", key: "L", help: "lattice extent per dimension", parse: num("--L") },
  { flag: "--dim <d>", key: "dim", help: "lattice dimension (1-4; u1: 2-4)", parse: num("--dim") },
  { flag: "--m2 <x>", key: "m2", help: "phi4: mass parameter m² (notebook action)", parse: num("--m2") },
  { flag: "--lam <x>", key: "lam", help: "phi4: quartic coupling λ", parse: num("--lam") },
  { flag: "--beta <x>", key: "beta", help: "u1: gauge coupling β", parse: num("--beta") },
  {
    flag: "--T <x>",
    key: "T",
    help: "ising: temperature (J = 1; T_c = 2.269185314213022)",
    parse: num("--T"),
  },
  { flag: "--boundary <b>", key: "boundary", help: "ising: periodic or open" },
];

export const FLOW_FLAGS: readonly SpecFlag[] = [
  { flag: "--flow <kind>", key: "flow", help: `flow: ${FLOW_KINDS.join(", ")}` },
  {
    flag: "--layers <n>",
    key: "layers",
    help: "number of coupling layers (mera/tebd: per 2x2 RealNVP block; ncp/spline: gauge-equivariant layers)",
    parse: num("--layers"),
  },
  {
    flag: "--hidden <list>",
    key: "hidden",
    help: "hidden widths of each conditioner, e.g. 8,8 (cnf: the feature and time bond dimensions)",
    parse: intList("--hidden"),
  },
  {
    flag: "--kernel <k>",
    key: "kernel",
    help: "affine-cnn, ncp, spline: odd convolution kernel size",
    parse: num("--kernel"),
  },
  {
    flag: "--components <n>",
    key: "components",
    help: "ncp: mixture components of each plaquette map (the tutorial's n_mixture_comps)",
    parse: num("--components"),
  },
  { flag: "--bins <n>", key: "bins", help: "spline: bins of each circular spline", parse: num("--bins") },
  { flag: "--partition <p>", key: "partition", help: "realnvp-mlp: stripes or checkerboard" },
  {
    flag: "--ndis <n>",
    key: "ndis",
    help: "mera: disentanglers per RG level (NeuralRG's -Ndis)",
    parse: num("--ndis"),
  },
  { flag: "--depth <n>", key: "depth", help: "tebd: (aligned, shifted) layer pairs", parse: num("--depth") },
  {
    flag: "--ode-steps <n>",
    key: "odeSteps",
    help: "cnf: RK4 steps over t in [0, 1]",
    parse: num("--ode-steps"),
  },
  {
    flag: "--frequencies <n>",
    key: "frequencies",
    help: "cnf: frequencies w_k of the site features sin(w_k phi) (phi itself is added)",
    parse: num("--frequencies"),
  },
  {
    flag: "--time-frequencies <n>",
    key: "timeFrequencies",
    help: "cnf: Fourier time features 1, sin 2pi j t, cos 2pi j t for j = 1..n",
    parse: num("--time-frequencies"),
  },
  { flag: "--identity-init", key: "identityInit", help: "start every coupling layer as the identity" },
  {
    flag: "--z2",
    key: "z2",
    help: "real-field flows: train and sample the Z2-symmetrised density (q(x)+q(-x))/2 (one extra inverse pass per step)",
  },
  {
    flag: "--z2-equivariant",
    key: "z2Equivariant",
    help: "affine-cnn, realnvp-mlp: Z2-equivariant couplings (s even, t odd in the frozen field): an odd flow, q(-x) = q(x) (two conditioner passes per layer)",
  },
];

export const TRAIN_FLAGS: readonly SpecFlag[] = [
  { flag: "--batch <n>", key: "batch", help: "batch size per training step", parse: num("--batch") },
  {
    flag: "--batch-growth-every <n>",
    key: "batchGrowthEvery",
    help:
      "double the batch every n steps up to --batch-max: min(batch-max, batch·2^floor(t/n)) at step t " +
      "(Smith et al., arXiv 1711.00489; plain reverse KL; default off)",
    parse: num("--batch-growth-every"),
  },
  {
    flag: "--batch-max <n>",
    key: "batchMax",
    help: "with --batch-growth-every: the largest batch, at least --batch",
    parse: num("--batch-max"),
  },
  { flag: "--steps <n>", key: "steps", help: "total training steps", parse: num("--steps") },
  { flag: "--lr <x>", key: "lr", help: "Adam learning rate", parse: num("--lr") },
  {
    flag: "--lr-schedule <s>",
    key: "lrSchedule",
    help:
      "constant (default), cosine (decays --lr to 0 at the last step) or step " +
      "(--lr times --lr-decay-factor once every --lr-decay-every steps)",
  },
  {
    flag: "--lr-decay-every <n>",
    key: "lrDecayEvery",
    help: "with --lr-schedule step: steps between two drops of the learning rate (required with it)",
    parse: num("--lr-decay-every"),
  },
  {
    flag: "--lr-decay-factor <x>",
    key: "lrDecayFactor",
    help: "with --lr-schedule step: the factor γ of each drop, 0 < γ < 1: lr·γ^floor(t/n) at step t (default 0.5)",
    parse: num("--lr-decay-factor"),
  },
  {
    flag: "--lr-warmup <n>",
    key: "lrWarmup",
    help:
      "ramp the learning rate up linearly over the first n steps, min(1, (t+1)/n) times the schedule's " +
      "(arXiv 1706.02677; for a fresh Adam on a flow from --init-from; default off)",
    parse: num("--lr-warmup"),
  },
  {
    flag: "--beta1 <x>",
    key: "beta1",
    help: "Adam's β₁, the decay of the gradient's running mean (default 0.9; 2207.00283's code: 0.8)",
    parse: num("--beta1"),
  },
  {
    flag: "--beta2 <x>",
    key: "beta2",
    help: "Adam's β₂, the decay of the squared gradient's running mean (default 0.999; 2207.00283's code: 0.9)",
    parse: num("--beta2"),
  },
  {
    flag: "--clip-norm <x>",
    key: "clipNorm",
    help: "clip the global gradient norm to this",
    parse: num("--clip-norm"),
  },
  {
    flag: "--weight-decay <x>",
    key: "weightDecay",
    help: "Adam's L2 weight decay, torch semantics (added to the clipped gradient); NeuralRG used 0.001 (default 0)",
    parse: num("--weight-decay"),
  },
  {
    flag: "--nll-weight <x>",
    key: "nllWeight",
    help:
      "δ of NeuralRG's mixed objective δ·NLL + ω·KL (its MClearn): the NLL of samples drawn from a replay buffer " +
      "(10 x batch) of flow independence-MH chains and their flips x → -x (phi4, ising); one thread only; the chains " +
      "and buffer are not checkpointed, a --resume restarts them empty (default 0: plain reverse KL)",
    parse: num("--nll-weight"),
  },
  {
    flag: "--kl-weight <x>",
    key: "klWeight",
    help: "ω of NeuralRG's mixed objective δ·NLL + ω·KL: the weight of the reverse KL (default 1)",
    parse: num("--kl-weight"),
  },
  {
    flag: "--chain-hmc <n>",
    key: "chainHmc",
    help:
      "with --nll-weight: HMC trajectories of every MH chain per step, local moves that reach what the flow " +
      "misses (Gabrié et al., arXiv 2105.12603; default 0)",
    parse: num("--chain-hmc"),
  },
  {
    flag: "--gradient-estimator <e>",
    key: "gradientEstimator",
    help:
      "reverse-KL gradient: reparameterization (default), path (drops the score term: lower variance near " +
      "convergence, about 2x the work; arXiv 2207.08219) or reinforce (score function: no derivative of the " +
      "action; arXiv 2308.13294)",
  },
  { flag: "--seed <n>", key: "seed", help: "random seed", parse: num("--seed") },
  { flag: "--dtype <t>", key: "dtype", help: "float64 or float32" },
  {
    flag: "--checkpoint-every <n>",
    key: "checkpointEvery",
    help: "steps between checkpoints",
    parse: num("--checkpoint-every"),
  },
  {
    flag: "--threads <n>",
    key: "threads",
    help: "threads of each training step, or 'auto' (the cores); the numbers depend on it, so the default is 1",
    parse: threadsArg("--threads"),
  },
];

export function addSpecFlags(cmd: Command, flags: readonly SpecFlag[]): Command {
  for (const f of flags) {
    if (f.parse) cmd.option(f.flag, f.help, f.parse);
    else cmd.option(f.flag, f.help);
  }
  return cmd;
}

/** The flat settings the user gave among `flags` (absent flags are left out). */
export function settingsFromFlags(o: Record<string, unknown>, flags: readonly SpecFlag[]): FlatSettings {
  const out: FlatSettings = {};
  for (const f of flags) if (o[f.key] !== undefined) out[f.key] = o[f.key];
  return out;
}

/** A spec field's flag: `clipNorm` → `--clip-norm`, `L` → `--L`. */
export function flagOfKey(key: string): string {
  if (key === "L" || key === "T") return `--${key}`;
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * A SpecError message about flags, in the words of the command line: spec paths and field
 * names (`'train.lr'`, `'beta' is a setting`) become the flags the user typed (`--lr`).
 */
export function inFlagTerms(message: string): string {
  return message
    .replace(/'(?:theory|flow|train)\.(\w+)'/g, (_, k: string) =>
      k === "latticeShape" ? "--L/--dim" : flagOfKey(k),
    )
    .replace(/'(\w+)' (is a setting|must be)/, (_, k: string, rest: string) => `${flagOfKey(k)} ${rest}`);
}
