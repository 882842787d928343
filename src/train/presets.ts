/**
 * The notebook's two studies (../shared/seeds, arXiv 1904.12072) as plain settings, shared by
 * the CLI (`--preset`, src/cli/config.ts) and the browser page (web/).
 */
export interface Phi4Settings {
  L: number;
  dim: number;
  m2: number;
  lam: number;
  layers: number;
  hidden: number[];
  kernel: number;
  identityInit: boolean;
  batch: number;
  steps: number;
  lr: number;
  beta1: number;
  beta2: number;
  clipNorm: number | null;
  dtype: "float64" | "float32";
}

const notebook: Phi4Settings = {
  L: 8,
  dim: 2,
  m2: -4,
  lam: 8,
  layers: 16,
  hidden: [8, 8],
  kernel: 3,
  identityInit: false,
  batch: 64,
  steps: 2500,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  clipNorm: null,
  dtype: "float64",
};

export const PHI4_PRESETS: Readonly<Record<"phi4-notebook" | "phi4-broken", Readonly<Phi4Settings>>> = {
  "phi4-notebook": notebook,
  "phi4-broken": { ...notebook, lam: 1, steps: 1500 },
};
