/**
 * The U(1) gauge-equivariant flow (src/flows/u1-flow.ts and its parts): the uniform prior, the
 * tutorial's masks (arXiv 2101.08176) written out as pictures, the bijector checks of
 * bijectors.test.ts on links (inverse(forward) = identity mod 2π; log-det against the brute-force
 * Jacobian by central differences, differences wrapped to (−π, π]), gauge invariance of log q
 * and equivariance of the map, the training gradient, a short reverse-KL training, and the spec.
 */
import { describe, expect, it } from "vitest";
import { FLOW_FLAGS, inFlagTerms } from "../src/cli/spec-flags.js";
import {
  add,
  atan2,
  cos,
  exp,
  log,
  mod,
  mul,
  neg,
  type Params,
  reshape,
  scale,
  sin,
  slice,
  square,
  sub,
  Tensor as T,
  type Tensor,
} from "../src/engine/index.js";
import type { Bijector } from "../src/flows/bijector.js";
import { CircularSplineTransformer } from "../src/flows/circular-spline-transformer.js";
import type { ElementwiseTransformer } from "../src/flows/elementwise.js";
import type { Flow } from "../src/flows/flow.js";
import { plaquettes2d } from "../src/flows/gauge-coupling.js";
import { NcpTransformer } from "../src/flows/ncp-transformer.js";
import {
  activeLinkMask,
  gaugeLayerPlacement,
  plaquetteMasks,
  plaquettePartition,
} from "../src/flows/plaquette-masks.js";
import { gaugeCouplingLayer, u1GaugeFlow } from "../src/flows/u1-flow.js";
import { UniformPrior } from "../src/flows/uniform-prior.js";
import {
  applySettings,
  buildModel,
  describeFlow,
  FLOW_DEFAULTS,
  presetConfig,
  SpecError,
  validateRunConfig,
} from "../src/model/index.js";
import { Rng } from "../src/rng/philox.js";
import { U1Theory } from "../src/theories/u1.js";
import { adam } from "../src/train/adam.js";
import { reverseKl } from "../src/train/reverse-kl.js";
import { createTrainer } from "../src/train/trainer.js";
import { gradcheck } from "./gradcheck.js";
import { logAbsDet } from "./linalg.js";

const TWO_PI = 2 * Math.PI;
/** a − b as angles, in (−π, π]. */
const wrap = (a: number) => a - TWO_PI * Math.round(a / TWO_PI);

/**
 * A one-component NCP circle map written with engine ops, exact both ways (test-only; the
 * library's are ncp-transformer.ts and circular-spline-transformer.ts):
 *   y = h(x; s) + t mod 2π,  h(x; s) = 2 atan(e^s tan(x/2)),  h⁻¹(·; s) = h(·; −s),
 *   log h' = −log(e^{−s} cos²(x/2) + e^{s} sin²(x/2)).
 */
class TestNcp implements ElementwiseTransformer {
  readonly paramsPerElement = 2;
  private split(theta: Tensor) {
    const [b, , n] = theta.shape as [number, number, number];
    return { s: reshape(slice(theta, 1, 0, 1), [b, n]), t: reshape(slice(theta, 1, 1, 1), [b, n]) };
  }
  private h(x: Tensor, s: Tensor) {
    const half = scale(x, 0.5);
    return scale(atan2(mul(exp(s), sin(half)), cos(half)), 2);
  }
  private logDh(x: Tensor, s: Tensor) {
    const half = scale(x, 0.5);
    return neg(log(add(mul(exp(neg(s)), square(cos(half))), mul(exp(s), square(sin(half))))));
  }
  forwardAndLogDet(x: Tensor, theta: Tensor) {
    const { s, t } = this.split(theta);
    return { y: mod(add(this.h(x, s), t), TWO_PI), logDet: this.logDh(x, s) };
  }
  inverseAndLogDet(y: Tensor, theta: Tensor) {
    const { s, t } = this.split(theta);
    const x = mod(this.h(mod(sub(y, t), TWO_PI), neg(s)), TWO_PI);
    return { x, logDet: neg(this.logDh(x, s)) };
  }
}

const TRANSFORMERS: [string, ElementwiseTransformer][] = [
  ["test NCP", new TestNcp()],
  ["NcpTransformer(2)", new NcpTransformer(2)],
  ["CircularSplineTransformer(4)", new CircularSplineTransformer(4)],
];

/** Parameters large enough that every layer does something. */
function randomParams(b: { initParams: Bijector["initParams"] }, seed: number, amp = 0.5): Params {
  const rng = new Rng(seed);
  const p = b.initParams(rng, "float64");
  for (const t of Object.values(p))
    for (let i = 0; i < t.size; i++) t.data[i] = amp * (2 * rng.uniform() - 1);
  return p;
}

function randomLinks(seed: number, n: number, L: number): T {
  const z = new UniformPrior([2, L, L]).sample(new Rng(seed), n);
  return z;
}

/** A random gauge transformation θ_μ(x) → θ_μ(x) + α(x) − α(x+μ̂), not reduced mod 2π. */
function gaugeTransform(x: T, L: number, seed: number): T {
  const rng = new Rng(seed);
  const b = x.shape[0]!;
  const v = L * L;
  const out = Float64Array.from(x.data);
  for (let n = 0; n < b; n++) {
    const alpha = Array.from({ length: v }, () => TWO_PI * rng.uniform());
    for (let i = 0; i < L; i++)
      for (let j = 0; j < L; j++) {
        const s = i * L + j;
        out[n * 2 * v + s]! += alpha[s]! - alpha[((i + 1) % L) * L + j]!;
        out[n * 2 * v + v + s]! += alpha[s]! - alpha[i * L + ((j + 1) % L)]!;
      }
  }
  return new T(out, x.shape);
}

/**
 * The brute-force log|det ∂y/∂x| of a link map for configuration s of x: central differences
 * (wrapped to (−π, π]) at h and h/2, Richardson-combined to O(h⁴): eight spline layers with
 * random weights are curved enough that plain O(h²) differences miss by 1e-4 in log|det|.
 */
function bruteLogDet(f: (x: T) => T, x: T, s: number): number {
  const n = x.size / x.shape[0]!;
  const shape = x.shape.slice(1);
  const x0 = x.data.subarray(s * n, (s + 1) * n);
  const differences = (h: number): Float64Array => {
    const batch = new Float64Array(2 * n * n);
    for (let j = 0; j < n; j++) {
      batch.set(x0, 2 * j * n);
      batch.set(x0, (2 * j + 1) * n);
      batch[2 * j * n + j]! += h;
      batch[(2 * j + 1) * n + j]! -= h;
    }
    const y = f(new T(batch, [2 * n, ...shape])).data;
    const jac = new Float64Array(n * n);
    for (let j = 0; j < n; j++)
      for (let i = 0; i < n; i++)
        jac[i * n + j] = wrap(y[2 * j * n + i]! - y[(2 * j + 1) * n + i]!) / (2 * h);
    return jac;
  };
  const coarse = differences(2e-5);
  const fine = differences(1e-5);
  return logAbsDet(
    fine.map((v, i) => (4 * v - coarse[i]!) / 3),
    n,
  );
}

describe("UniformPrior", () => {
  it("draws angles in [0, 2π) of shape [n, 2, L, L] with log r = −N ln 2π, for any real input", () => {
    const prior = new UniformPrior([2, 4, 4]);
    const z = prior.sample(new Rng(1), 500);
    expect(z.shape).toEqual([500, 2, 4, 4]);
    let mean = 0;
    for (const v of z.data) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(TWO_PI);
      mean += v / z.size;
    }
    expect(mean).toBeCloseTo(Math.PI, 1);
    const lp = prior.logProb(
      new T(
        Float64Array.from(z.data.slice(0, 64), (v) => v - 10),
        [2, 2, 4, 4],
      ),
    );
    expect(Array.from(lp.data)).toEqual([-32 * Math.log(TWO_PI), -32 * Math.log(TWO_PI)]);
    const z32 = prior.sample(new Rng(2), 100, "float32");
    expect(z32.dtype).toBe("float32");
    for (const v of z32.data) expect(v).toBeLessThan(TWO_PI);
  });
});

describe("plaquette masks: the tutorial's make_plaq_masks and make_2d_link_active_stripes", () => {
  /** A: active, F: frozen, P: passive; rows x0, columns x1 (the tutorial's [L, L] arrays). */
  function picture(L: number, mu: 0 | 1, off: number): string[] {
    const m = plaquetteMasks([L, L], mu, off);
    const cls = new Array<string>(L * L);
    for (const x of m.active) cls[x] = "A";
    for (const x of m.frozen) cls[x] = "F";
    for (const x of m.passive) cls[x] = "P";
    return Array.from({ length: L }, (_, i) => cls.slice(i * L, (i + 1) * L).join(" "));
  }
  it("μ = 0, offset 0: stripes along x1 (active columns 0, 4; frozen 1, 2, 5, 6)", () => {
    expect(picture(8, 0, 0)).toEqual(new Array(8).fill("A F F P A F F P"));
  });
  it("μ = 0, offset 3: the pattern rolled by 3 along x1", () => {
    expect(picture(8, 0, 3)).toEqual(new Array(8).fill("F F P A F F P A"));
  });
  it("μ = 1, offset 1: stripes along x0 (rows)", () => {
    expect(picture(8, 1, 1)).toEqual([
      "P P P P P P P P",
      "A A A A A A A A",
      "F F F F F F F F",
      "F F F F F F F F",
      "P P P P P P P P",
      "A A A A A A A A",
      "F F F F F F F F",
      "F F F F F F F F",
    ]);
  });
  it("active links: channel μ at the active plaquettes' sites, the other channel 0", () => {
    const rows = (L: number, mu: 0 | 1, off: number) => {
      const a = activeLinkMask(plaquetteMasks([L, L], mu, off));
      return [0, 1].map((c) =>
        Array.from({ length: L }, (_, i) =>
          Array.from(a.slice(c * L * L + i * L, c * L * L + (i + 1) * L)).join(""),
        ),
      );
    };
    expect(rows(4, 0, 2)).toEqual([
      ["0010", "0010", "0010", "0010"],
      ["0000", "0000", "0000", "0000"],
    ]);
    expect(rows(4, 1, 0)).toEqual([
      ["0000", "0000", "0000", "0000"],
      ["1111", "0000", "0000", "0000"],
    ]);
  });
  it("layer i sits at μ = i mod 2, offset (i // 2) mod 4; the coupling partition leaves frozen ∪ passive", () => {
    expect(Array.from({ length: 10 }, (_, i) => gaugeLayerPlacement(i))).toEqual([
      { mu: 0, offset: 0 },
      { mu: 1, offset: 0 },
      { mu: 0, offset: 1 },
      { mu: 1, offset: 1 },
      { mu: 0, offset: 2 },
      { mu: 1, offset: 2 },
      { mu: 0, offset: 3 },
      { mu: 1, offset: 3 },
      { mu: 0, offset: 0 },
      { mu: 1, offset: 0 },
    ]);
    const m = plaquetteMasks([8, 8], 1, 2);
    const p = plaquettePartition(m);
    expect(Array.from(p.active)).toEqual(Array.from(m.active));
    expect(p.frozen.length).toBe(m.frozen.length + m.passive.length);
  });
  it("refuses lattices it does not cover", () => {
    expect(() => plaquetteMasks([6, 6], 0, 0)).toThrow(/multiple of 4/);
    expect(() => plaquetteMasks([4, 4, 4], 0, 0)).toThrow(/2-d/);
  });
  it("the updated links touch only their active plaquette and one passive one (triangular Jacobian)", () => {
    const L = 8;
    const theory = new U1Theory({ latticeShape: [L, L], beta: 1 });
    for (let i = 0; i < 8; i++) {
      const { mu, offset } = gaugeLayerPlacement(i);
      const m = plaquetteMasks([L, L], mu, offset);
      const x = new Float64Array(2 * L * L);
      for (const l of m.activeLinks) x[l] = 1;
      const p = theory.plaquettes(x, 0);
      for (const s of m.frozen) expect(p[s]).toBe(0);
      for (const s of m.active) expect(p[s]).toBe(mu === 0 ? 1 : -1);
      for (const s of m.passive) expect(p[s]).toBe(mu === 0 ? -1 : 1);
    }
  });
});

describe("plaquettes2d", () => {
  it("is U1Theory's P₀₁(x)", () => {
    const x = randomLinks(3, 2, 4);
    const theory = new U1Theory({ latticeShape: [4, 4], beta: 1 });
    const p = plaquettes2d(x).data;
    for (let b = 0; b < 2; b++) {
      const ref = theory.plaquettes(x.data, b);
      for (let s = 0; s < 16; s++) expect(p[b * 16 + s]).toBeCloseTo(ref[s]!, 14);
    }
  });
});

const L = 4;
const small = (transformer: ElementwiseTransformer, layers = 8) =>
  u1GaugeFlow({ latticeShape: [L, L], layers, hidden: [4], kernel: 3, transformer });

/** Log-dets to 5e-9: sums over 8 layers of 64 terms, whose inverses (Newton, closed-form splines) lose a few ulps each. */
function checkLinkBijector(b: Bijector, params: Params) {
  const x = randomLinks(11, 3, L);
  const { y, logDet } = b.forwardAndLogDet(params, x);
  for (const v of y.data) {
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v).toBeLessThan(TWO_PI);
  }
  const back = b.inverseAndLogDet(params, y);
  for (let i = 0; i < x.size; i++) expect(Math.abs(wrap(back.x.data[i]! - x.data[i]!))).toBeLessThan(1e-10);
  for (let s = 0; s < 3; s++) expect(back.logDet.data[s]).toBeCloseTo(-logDet.data[s]!, 8);
  for (let s = 0; s < 3; s++) {
    const brute = bruteLogDet((z) => b.forwardAndLogDet(params, z).y, x, s);
    expect(Math.abs(brute - logDet.data[s]!)).toBeLessThan(1e-6);
  }
  // The map does something.
  let moved = 0;
  for (let i = 0; i < x.size; i++) moved = Math.max(moved, Math.abs(wrap(y.data[i]! - x.data[i]!)));
  expect(moved).toBeGreaterThan(0.05);
}

for (const [name, transformer] of TRANSFORMERS) {
  describe(`gauge-equivariant coupling, ${name} (4×4, float64)`, () => {
    for (const i of [0, 1, 2, 7]) {
      it(`layer ${i} (μ ${i % 2}, offset ${(i >> 1) % 4}): inverse, log-det vs brute-force Jacobian`, () => {
        const layer = gaugeCouplingLayer(
          { latticeShape: [L, L], layers: 8, hidden: [4], kernel: 3, transformer },
          i,
        );
        checkLinkBijector(layer, randomParams(layer, 20 + i));
      });
    }
    it("a layer changes only its active links", () => {
      const layer = gaugeCouplingLayer(
        { latticeShape: [L, L], layers: 2, hidden: [4], kernel: 3, transformer },
        1,
      );
      const x = randomLinks(5, 2, L);
      const y = layer.forwardAndLogDet(randomParams(layer, 2), x).y;
      const active = activeLinkMask(layer.masks);
      for (let n = 0; n < 2; n++)
        for (let l = 0; l < 2 * L * L; l++)
          if (!active[l]) expect(y.data[n * 2 * L * L + l]).toBe(x.data[n * 2 * L * L + l]);
    });
  });

  describe(`u1GaugeFlow, ${name} (4×4, 8 layers, float64)`, () => {
    const flow = small(transformer);
    const params = randomParams(flow, 7);
    const asBijector = (f: Flow): Bijector => ({
      initParams: (r, d) => f.initParams(r, d),
      forwardAndLogDet: (p, z) => {
        const { x, logq } = f.forwardWithLogProb(p, z);
        return { y: x, logDet: sub(f.prior.logProb(z), logq) };
      },
      inverseAndLogDet: (p, x) => {
        const z = f.inverse(p, x);
        return { x: z, logDet: sub(f.logProb(p, x), f.prior.logProb(z)) };
      },
    });

    it("the whole flow: inverse, log-det vs brute-force Jacobian", () => {
      checkLinkBijector(asBijector(flow), params);
    });

    it("log q is gauge invariant (Flow.logProb), and the forward map is gauge equivariant", () => {
      const z = randomLinks(8, 4, L);
      const { x, logq } = flow.forwardWithLogProb(params, z);
      const gx = gaugeTransform(x, L, 9);
      const lq = flow.logProb(params, x).data;
      const lqg = flow.logProb(params, gx).data;
      for (let b = 0; b < 4; b++) {
        expect(lq[b]).toBeCloseTo(logq.data[b]!, 8);
        expect(lqg[b]).toBeCloseTo(lq[b]!, 8);
      }
      // The density is not flat: the invariance is not trivial.
      expect(Math.max(...lq) - Math.min(...lq)).toBeGreaterThan(0.1);
      const gz = gaugeTransform(z, L, 10);
      const fgz = flow.forwardWithLogProb(params, gz);
      const gfz = gaugeTransform(x, L, 10);
      for (let i = 0; i < x.size; i++)
        expect(Math.abs(wrap(fgz.x.data[i]! - gfz.data[i]!))).toBeLessThan(1e-10);
      for (let b = 0; b < 4; b++) expect(fgz.logq.data[b]).toBeCloseTo(logq.data[b]!, 8);
    });

    it("parameter names are the tutorial's state_dict: {i}.plaq_coupling.net.{2j}.weight|bias", () => {
      const names = Object.keys(flow.initParams(new Rng(1), "float64"));
      expect(names.slice(0, 4)).toEqual([
        "0.plaq_coupling.net.0.weight",
        "0.plaq_coupling.net.0.bias",
        "0.plaq_coupling.net.2.weight",
        "0.plaq_coupling.net.2.bias",
      ]);
      expect(names.length).toBe(8 * 4);
      const p = flow.initParams(new Rng(1), "float64");
      expect(p["3.plaq_coupling.net.0.weight"]!.shape).toEqual([4, 2, 3, 3]);
      expect(p["3.plaq_coupling.net.2.weight"]!.shape).toEqual([transformer.paramsPerElement, 4, 3, 3]);
    });

    it("the gradient of the reverse-KL loss matches central differences", () => {
      const theory = new U1Theory({ latticeShape: [L, L], beta: 2 });
      const two = small(transformer, 2);
      const p2 = randomParams(two, 3, 0.3);
      const z = randomLinks(4, 3, L);
      const kl = reverseKl(two, theory);
      const some: Params = {};
      for (const [k, t] of Object.entries(p2))
        if (k === "1.plaq_coupling.net.2.weight" || k === "0.plaq_coupling.net.0.bias") some[k] = t;
      gradcheck((p: Params) => kl({ ...p2, ...p }, z).loss, some, 1e-6, 1e-6);
    });
  });
}

describe("reverse-KL training of a U(1) flow", () => {
  it("a few dozen steps lower the loss (L = 4, β = 2)", () => {
    const theory = new U1Theory({ latticeShape: [L, L], beta: 2 });
    const flow = u1GaugeFlow({
      latticeShape: [L, L],
      layers: 4,
      hidden: [8],
      kernel: 3,
      transformer: TRANSFORMERS[0]![1],
    });
    const trainer = createTrainer({
      flow,
      theory,
      optimizer: adam({ lr: 3e-3 }),
      batch: 64,
      dtype: "float64",
    });
    const state = trainer.init(new Rng(1));
    const losses: number[] = [];
    for (let i = 0; i < 40; i++) losses.push(trainer.step(state).loss);
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    // From the prior's ≈ −32 ln 2π toward −ln Z ≈ −32 ln 2π − 16 ln I₀(2) (a gain of ≈ 13 at best).
    expect(last).toBeLessThan(first - 2);
    expect(state.rejected).toBe(0);
  });
});

describe("the u1 flow specs", () => {
  const u1 = (flow: Record<string, unknown>) =>
    applySettings(undefined, { theory: "u1", L: 8, beta: 2, ...flow }, "flags");

  it("flags land in the spec; ncp is the tutorial's by default, and u1 without --flow gets it", () => {
    expect(u1({ flow: "ncp" }).flow).toEqual({
      kind: "ncp",
      layers: 16,
      hidden: [8, 8],
      kernel: 3,
      components: 2,
    });
    expect(u1({}).flow.kind).toBe("ncp");
    expect(u1({ flow: "spline", bins: 12, hidden: [16], layers: 8 }).flow).toEqual({
      kind: "spline",
      layers: 8,
      hidden: [16],
      kernel: 3,
      bins: 12,
    });
    // A real-field base keeps its flow for φ⁴ and swaps to the domain's default for links.
    const phi4 = presetConfig("phi4-notebook");
    expect(applySettings(phi4, { theory: "u1" }, "flags").flow).toEqual(FLOW_DEFAULTS.ncp);
    expect(applySettings(presetConfig("u1-tutorial"), { theory: "phi4" }, "flags").flow.kind).toBe(
      "affine-cnn",
    );
    expect(describeFlow(FLOW_DEFAULTS.ncp)).toBe(
      "ncp 16 gauge-equivariant layers, 2 components, hidden [8,8], kernel 3",
    );
  });

  it("presets u1-tutorial and u1-best validate and build the U(1) flow", () => {
    for (const name of ["u1-tutorial", "u1-best"]) {
      const c = presetConfig(name);
      expect(validateRunConfig(c, name)).toEqual(c);
      const { flow, theory } = buildModel(c);
      expect(flow.prior).toBeInstanceOf(UniformPrior);
      expect(flow.prior.eventShape).toEqual(theory.configShape);
    }
    const t = presetConfig("u1-tutorial");
    expect(t.train).toMatchObject({ batch: 64, steps: 1000, lr: 1e-3, dtype: "float64" });
    const names = Object.keys(buildModel(t).flow.initParams(new Rng(0), "float64"));
    expect(names).toHaveLength(16 * 6);
    expect(names).toContain("15.plaq_coupling.net.4.bias");
  });

  it("bad combinations: one SpecError line naming the fix", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ flow: "ncp", L: 6 }, /L = 6 is not a multiple of 4.*use L = 8/],
      [{ flow: "ncp", dim: 3, L: 4 }, /2-d lattices only.*use --dim 2/],
      [{ flow: "ncp", kernel: 2 }, /kernel = 2 must be odd/],
      [{ flow: "ncp", kernel: 9 }, /kernel = 9 is wider than the lattice/],
      [
        { flow: "ncp", z2: true },
        /'z2' is a setting of flow 'affine-cnn'.*not of theory 'u1' with flow 'ncp'/,
      ],
      [{ flow: "ncp", bins: 8 }, /'bins' is a setting of flow 'spline'/],
      [{ flow: "spline", components: 2 }, /'components' is a setting of flow 'ncp'/],
      [{ flow: "ncp", components: 0 }, /'flow\.components'/],
      [
        { flow: "affine-cnn" },
        /flow 'affine-cnn' transforms real fields, but theory 'u1' has link angles: use --flow ncp or --flow spline/,
      ],
    ];
    for (const [s, re] of cases) expect(specError(() => u1(s))).toMatch(re);
    expect(specError(() => applySettings(undefined, { theory: "phi4", flow: "ncp" }, "flags"))).toMatch(
      /flow 'ncp' transforms U\(1\) link angles, but theory 'phi4' has real fields: use --flow affine-cnn/,
    );
  });

  it("spec flags: --components and --bins are spec keys", () => {
    const keys = FLOW_FLAGS.map((f) => f.key);
    expect(keys).toContain("components");
    expect(keys).toContain("bins");
    const parse = (flag: string, v: string) => FLOW_FLAGS.find((f) => f.flag.startsWith(flag))!.parse!(v);
    expect(parse("--components", "4")).toBe(4);
    expect(parse("--bins", "16")).toBe(16);
    expect(inFlagTerms("flags: 'flow.components': Too small")).toMatch(/--components/);
  });
});

function specError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SpecError);
    const m = (e as Error).message;
    expect(m.split("\n")).toHaveLength(1);
    return m;
  }
  throw new Error("expected a SpecError");
}
