/**
 * Ising spin samplers and observables (src/mcmc/wolff.ts, src/mcmc/spin-metropolis.ts,
 * src/observables/ising.ts, src/observables/ising-measure.ts) against exact enumeration:
 *
 * - Wolff and Metropolis/heat-bath chains (checkerboard for even extents, sequential otherwise)
 *   reproduce ⟨m²⟩, ⟨|m|⟩, ⟨e⟩, C, ⟨m⁴⟩, U of the brute-force sum over all 2^N states (4×4, 3×3,
 *   2×3, 2×2×4, rings of 7 and 8) within 3σ (Γ-method σ), and the Wolff cluster size obeys
 *   ⟨|C|⟩ = N⟨m²⟩; the Metropolis chain visits every state with frequency π(s) (the textbook
 *   rule, a = 1 at ΔH = 0, never reaches some states from all +1 on these lattices);
 * - the relaxation's improved estimators: x | s ~ N(Ks, K) from exact (Wolff) spins, measured
 *   with measureIsingRelaxed, agree with the exact values within 3σ; per configuration, the
 *   closed forms equal the exact conditional expectations (2^N-term sums) to 1e-12, and the
 *   average over 20000 spin configurations drawn from x (law of large numbers) within 4σ;
 * - determinism per seed and RangeErrors on bad input.
 *
 * Neighbours are computed here from coordinates, independently of src/theories/lattice.ts.
 */
import { describe, expect, it } from "vitest";
import { spinMetropolisChain } from "../src/mcmc/spin-metropolis.js";
import { wolffChain } from "../src/mcmc/wolff.js";
import {
  drawSpins,
  improvedEnergy,
  improvedEnergy2,
  improvedIsingEstimators,
  improvedM2,
  improvedM4,
  improvedMagnetization,
  spinEnergy,
  spinMagnetization,
} from "../src/observables/ising.js";
import { measureIsingRelaxed, measureIsingSpins } from "../src/observables/ising-measure.js";
import { type GammaEstimate, gammaEstimate } from "../src/observables/measure.js";
import { Rng } from "../src/rng/philox.js";

const TC = 2.269185314213022;

/** Bonds (x, x+μ̂) for every site x and axis μ, periodic, row-major (last axis fastest). */
function bondList(shape: number[]): [number, number][] {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = shape.length;
  const bonds: [number, number][] = [];
  for (let x = 0; x < n; x++) {
    const c: number[] = [];
    let r = x;
    for (let k = d - 1; k >= 0; k--) {
      c[k] = r % shape[k]!;
      r = Math.floor(r / shape[k]!);
    }
    for (let mu = 0; mu < d; mu++) {
      const cc = [...c];
      cc[mu] = (cc[mu]! + 1) % shape[mu]!;
      let y = 0;
      for (let k = 0; k < d; k++) y = y * shape[k]! + cc[k]!;
      bonds.push([x, y]);
    }
  }
  return bonds;
}

interface Exact {
  m2: number;
  absM: number;
  m4: number;
  e: number;
  e2: number;
  C: number;
  binder: number;
}

/** Exact Ising averages at temperature T (J = 1) by summing all 2^N states. */
function exactIsing(shape: number[], T: number): Exact {
  const n = shape.reduce((a, b) => a * b, 1);
  const bonds = bondList(shape);
  const s = new Int8Array(n);
  const acc = { z: 0, m2: 0, absM: 0, m4: 0, e: 0, e2: 0 };
  for (let state = 0; state < 2 ** n; state++) {
    let m = 0;
    for (let i = 0; i < n; i++) {
      s[i] = (state >> i) & 1 ? 1 : -1;
      m += s[i]!;
    }
    let h = 0;
    for (const [i, j] of bonds) h -= s[i]! * s[j]!;
    const w = Math.exp(-h / T);
    m /= n;
    const e = h / n;
    acc.z += w;
    acc.m2 += w * m * m;
    acc.absM += w * Math.abs(m);
    acc.m4 += w * m ** 4;
    acc.e += w * e;
    acc.e2 += w * e * e;
  }
  const r = {
    m2: acc.m2 / acc.z,
    absM: acc.absM / acc.z,
    m4: acc.m4 / acc.z,
    e: acc.e / acc.z,
    e2: acc.e2 / acc.z,
  };
  return { ...r, C: (n * (r.e2 - r.e * r.e)) / (T * T), binder: 1 - r.m4 / (3 * r.m2 * r.m2) };
}

/** |est − exact| < k·σ, with a finite positive Γ-method σ; returns the z-score. */
function within(est: GammaEstimate, exact: number, label: string, k = 3): number {
  expect(Number.isFinite(est.error) && est.error > 0, `${label}: σ = ${est.error}`).toBe(true);
  const z = (est.value - exact) / est.error;
  expect(
    Math.abs(z),
    `${label}: ${est.value} ± ${est.error} (τ_int ${est.tauInt}) vs exact ${exact}`,
  ).toBeLessThan(k);
  return z;
}

const report: string[] = [];
function log(line: string): void {
  report.push(line);
}

function checkAgainstExact(
  tag: string,
  meas: ReturnType<typeof measureIsingSpins>,
  ex: Exact,
  relaxed = false,
) {
  const z = [
    within(meas.m2, ex.m2, `${tag} m2`),
    within(meas.abs_m, ex.absM, `${tag} |m|`),
    within(meas.energy, ex.e, `${tag} e`),
    within(meas.specific_heat, ex.C, `${tag} C`),
    within(meas.m4, ex.m4, `${tag} m4`),
    within(meas.binder, ex.binder, `${tag} U`),
  ];
  log(
    `${tag}${relaxed ? " (relaxed)" : ""}: m2 ${meas.m2.value.toFixed(5)}±${meas.m2.error.toFixed(5)} ` +
      `(exact ${ex.m2.toFixed(5)}, τ ${meas.m2.tauInt.toFixed(2)}), |m| ${meas.abs_m.value.toFixed(5)}±${meas.abs_m.error.toFixed(5)} ` +
      `(${ex.absM.toFixed(5)}), e ${meas.energy.value.toFixed(5)}±${meas.energy.error.toFixed(5)} (${ex.e.toFixed(5)}), ` +
      `C ${meas.specific_heat.value.toFixed(4)}±${meas.specific_heat.error.toFixed(4)} (${ex.C.toFixed(4)}), ` +
      `U ${meas.binder.value.toFixed(4)}±${meas.binder.error.toFixed(4)} (${ex.binder.toFixed(4)}); ` +
      `z = ${z.map((v) => v.toFixed(2)).join(", ")}`,
  );
}

describe("Ising spin samplers against exact enumeration", () => {
  const cases: { shape: number[]; T: number; seed: number }[] = [
    { shape: [4, 4], T: TC, seed: 11 },
    { shape: [4, 4], T: 3, seed: 12 },
    { shape: [3, 3], T: TC, seed: 13 },
    { shape: [3, 3], T: 3, seed: 14 },
    { shape: [2, 3], T: 2, seed: 15 },
    { shape: [2, 2, 4], T: 5, seed: 16 },
  ];
  const exact = new Map<string, Exact>();
  const ex = (shape: number[], T: number): Exact => {
    const key = `${shape}@${T}`;
    if (!exact.has(key)) exact.set(key, exactIsing(shape, T));
    return exact.get(key)!;
  };

  for (const { shape, T, seed } of cases) {
    it(`Wolff on ${shape.join("×")} at T = ${T}: m2, |m|, e, C, m4, U within 3σ; ⟨|C|⟩ = N⟨m²⟩`, () => {
      const n = 20000;
      const res = wolffChain({ latticeShape: shape, T, n, rng: new Rng(seed) });
      const meas = measureIsingSpins(res.spins, shape, T);
      const e = ex(shape, T);
      checkAgainstExact(
        `Wolff ${shape.join("×")} T=${T.toFixed(3)} (${res.clustersPerSample} clusters/sample)`,
        meas,
        e,
      );
      const v = meas.volume;
      const sizes = gammaEstimate([res.clusterSizes]);
      const z = within(sizes, v * e.m2, `Wolff ${shape} ⟨|C|⟩`);
      log(
        `  ⟨|C|⟩ = ${sizes.value.toFixed(4)}±${sizes.error.toFixed(4)} vs N⟨m²⟩ = ${(v * e.m2).toFixed(4)} (z ${z.toFixed(2)})`,
      );
    });
  }

  for (const { shape, T, seed, rule } of [
    { shape: [4, 4], T: TC, seed: 21, rule: "metropolis" },
    { shape: [4, 4], T: 3, seed: 22, rule: "metropolis" },
    { shape: [3, 3], T: TC, seed: 23, rule: "metropolis" },
    { shape: [2, 2, 4], T: 5, seed: 24, rule: "metropolis" },
    { shape: [8], T: 1, seed: 25, rule: "metropolis" },
    { shape: [7], T: 1.5, seed: 26, rule: "metropolis" },
    { shape: [4, 4], T: TC, seed: 27, rule: "heatbath" },
    { shape: [3, 3], T: 3, seed: 28, rule: "heatbath" },
  ] as const) {
    it(`${rule} on ${shape.join("×")} at T = ${T}: within 3σ of exact`, () => {
      const res = spinMetropolisChain({ latticeShape: shape, T, n: 40000, rng: new Rng(seed), rule });
      expect(res.checkerboard).toBe(shape.every((L) => L % 2 === 0));
      expect(res.rule).toBe(rule);
      const meas = measureIsingSpins(res.spins, shape, T);
      checkAgainstExact(
        `${rule}${res.checkerboard ? " (checkerboard)" : " (sequential)"} ${shape.join("×")} T=${T.toFixed(3)} acc ${res.acceptance.toFixed(3)}`,
        meas,
        ex([...shape], T),
      );
    });
  }

  // The textbook rule (accept ΔH = 0 always) never leaves the class of all +1 on these lattices
  // (3×3: 8 states unreachable, 2×2: 4, ring of 7: 114), a bias of 10⁻³ in ⟨m²⟩ on 3×3; with
  // a = ½ at ΔH = 0 every state must be visited with frequency π(s).
  for (const { shape, T, seed } of [
    { shape: [3, 3], T: 4, seed: 61 },
    { shape: [2, 2], T: 2, seed: 62 },
    { shape: [7], T: 2, seed: 63 },
  ]) {
    it(`Metropolis visits every state of ${shape.join("×")} with frequency π(s) (T = ${T})`, () => {
      const n = 200000;
      const nSites = shape.reduce((p, q) => p * q, 1);
      const res = spinMetropolisChain({ latticeShape: shape, T, n, rng: new Rng(seed) });
      const count = new Float64Array(2 ** nSites);
      for (let b = 0; b < n; b++) {
        let st = 0;
        for (let i = 0; i < nSites; i++) if (res.spins[b * nSites + i] === 1) st |= 1 << i;
        count[st]! += 1;
      }
      const bonds = bondList(shape);
      const w = Array.from(count, (_, st) => {
        let h = 0;
        for (const [i, j] of bonds) h -= (((st >> i) & 1) * 2 - 1) * (((st >> j) & 1) * 2 - 1);
        return Math.exp(-h / T);
      });
      const z = w.reduce((p, q) => p + q, 0);
      let worst = 0;
      let minExpected = Infinity;
      for (let st = 0; st < count.length; st++) {
        const expected = (n * w[st]!) / z;
        minExpected = Math.min(minExpected, expected);
        // Poisson σ inflated by 2τ_int ≤ 4 for the autocorrelation of the indicator.
        worst = Math.max(worst, Math.abs(count[st]! - expected) / Math.sqrt(4 * expected));
      }
      expect(minExpected).toBeGreaterThan(20);
      expect(Math.min(...count)).toBeGreaterThan(0);
      expect(worst).toBeLessThan(4.5);
      log(
        `state histogram ${shape.join("×")} T=${T}: ${count.length} states, fewest visits ${Math.min(...count)} ` +
          `(expected ≥ ${minExpected.toFixed(1)}), largest |c − nπ|/√(4nπ) = ${worst.toFixed(2)}`,
      );
    });
  }
});

/** K = Adj/T + c·I, c = 0.1 − λ_min(Adj)/T, dense (Adj with the bond multiplicities). */
function relaxationK(shape: number[], T: number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const k = new Float64Array(n * n);
  for (const [i, j] of bondList(shape)) {
    k[i * n + j]! += 1 / T;
    k[j * n + i]! += 1 / T;
  }
  // Adj = Σ_μ ring adjacencies: eigenvalues Σ_μ 2cos(2πq_μ/L_μ).
  let lmin = 0;
  for (const L of shape) {
    let m = Infinity;
    for (let q = 0; q < L; q++) m = Math.min(m, 2 * Math.cos((2 * Math.PI * q) / L));
    lmin += m;
  }
  const c = 0.1 - lmin / T;
  for (let i = 0; i < n; i++) k[i * n + i]! += c;
  return k;
}

/** Lower Cholesky factor of a dense symmetric positive-definite matrix. */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= l[j * n + k]! * l[j * n + k]!;
    if (!(d > 0)) throw new Error(`cholesky: not positive definite at ${j} (${d})`);
    l[j * n + j] = Math.sqrt(d);
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = s / l[j * n + j]!;
    }
  }
  return l;
}

/** x_b = K s_b + L z_b, z ~ N(0, 1): draws from p(x | s) = N(Ks, K). */
function relaxFromSpins(spins: Int8Array, shape: number[], T: number, rng: Rng): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const k = relaxationK(shape, T);
  const l = cholesky(k, n);
  const b = spins.length / n;
  const x = new Float64Array(spins.length);
  const z = new Float64Array(n);
  for (let c = 0; c < b; c++) {
    rng.normal(z);
    const o = c * n;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += k[i * n + j]! * spins[o + j]!;
      for (let j = 0; j <= i; j++) acc += l[i * n + j]! * z[j]!;
      x[o + i] = acc;
    }
  }
  return x;
}

/** Exact ⟨O | x⟩ for O = m, m², m⁴, e, e² by summing the 2^N spin states with weights Π σ(2 s_i x_i). */
function exactConditional(x: Float64Array, shape: number[]): number[] {
  const n = x.length;
  const bonds = bondList(shape);
  const p = Array.from(x, (v) => 1 / (1 + Math.exp(-2 * v)));
  const s = new Int8Array(n);
  const acc = [0, 0, 0, 0, 0];
  let z = 0;
  for (let state = 0; state < 2 ** n; state++) {
    let w = 1;
    let m = 0;
    for (let i = 0; i < n; i++) {
      s[i] = (state >> i) & 1 ? 1 : -1;
      w *= s[i] === 1 ? p[i]! : 1 - p[i]!;
      m += s[i]!;
    }
    let h = 0;
    for (const [i, j] of bonds) h -= s[i]! * s[j]!;
    m /= n;
    const e = h / n;
    z += w;
    acc[0]! += w * m;
    acc[1]! += w * m * m;
    acc[2]! += w * m ** 4;
    acc[3]! += w * e;
    acc[4]! += w * e * e;
  }
  return acc.map((a) => a / z);
}

describe("Ising relaxation: improved estimators", () => {
  for (const { shape, T, seed } of [
    { shape: [4, 4], T: TC, seed: 31 },
    { shape: [4, 4], T: 3, seed: 32 },
    { shape: [2, 3], T: 2, seed: 33 },
  ]) {
    it(`x | s ~ N(Ks, K) from exact spins on ${shape.join("×")} at T = ${T}: measureIsingRelaxed within 3σ`, () => {
      const n = 20000;
      const chain = wolffChain({ latticeShape: shape, T, n, rng: new Rng(seed), sweepsPerSample: 2 });
      const x = relaxFromSpins(chain.spins, shape, T, new Rng(seed + 100));
      const meas = measureIsingRelaxed(x, shape, T, new Rng(seed + 200));
      expect(meas.estimator).toBe("relaxed");
      const spinsMeas = measureIsingSpins(chain.spins, shape, T);
      checkAgainstExact(
        `x from Wolff ${shape.join("×")} T=${T.toFixed(3)}`,
        meas,
        exactIsing(shape, T),
        true,
      );
      log(
        `  σ(relaxed)/σ(spins): m2 ${(meas.m2.error / spinsMeas.m2.error).toFixed(3)}, ` +
          `e ${(meas.energy.error / spinsMeas.energy.error).toFixed(3)}, ` +
          `C ${(meas.specific_heat.error / spinsMeas.specific_heat.error).toFixed(3)}, ` +
          `|m| ${(meas.abs_m.error / spinsMeas.abs_m.error).toFixed(3)}`,
      );
    });
  }

  for (const shape of [
    [3, 3],
    [2, 3],
    [2, 2],
    [2, 2, 3],
    [3, 4],
  ]) {
    it(`closed forms = exact conditional expectations (2^N sums) on ${shape.join("×")}`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const rng = new Rng(40 + n);
      const b = 3;
      const x = new Float64Array(b * n);
      rng.normal(x);
      for (let i = 0; i < x.length; i++) x[i]! *= 1.5;
      x[0] = 25; // saturated tanh
      const est = improvedIsingEstimators(x, shape);
      const single = [
        improvedMagnetization(x, shape),
        improvedM2(x, shape),
        improvedM4(x, shape),
        improvedEnergy(x, shape),
        improvedEnergy2(x, shape),
      ];
      const all = [est.m, est.m2, est.m4, est.energy, est.energy2];
      for (let c = 0; c < b; c++) {
        const exact = exactConditional(x.subarray(c * n, (c + 1) * n), shape);
        for (let k = 0; k < 5; k++) {
          expect(Math.abs(all[k]![c]! - exact[k]!), `observable ${k}, configuration ${c}`).toBeLessThan(
            1e-12,
          );
          expect(single[k]![c]).toBe(all[k]![c]);
        }
      }
    });
  }

  it("improved estimators = average over spins drawn from x (law of large numbers, 4σ)", () => {
    const shape = [4, 4];
    const chain = wolffChain({ latticeShape: shape, T: TC, n: 40, rng: new Rng(51) });
    const x = relaxFromSpins(chain.spins, shape, TC, new Rng(52));
    const est = improvedIsingEstimators(x, shape);
    const draws = 20000;
    const rng = new Rng(53);
    let worst = 0;
    for (const c of [0, 13, 27, 39]) {
      const xc = x.subarray(c * 16, (c + 1) * 16);
      const s = drawSpins(xc, draws, rng);
      const m = spinMagnetization(s, shape);
      const e = spinEnergy(s, shape);
      const series = [m, m.map((v) => v * v), m.map((v) => v ** 4), e, e.map((v) => v * v)];
      const target = [est.m, est.m2, est.m4, est.energy, est.energy2];
      for (let k = 0; k < 5; k++) {
        const a = series[k]!;
        const mean = a.reduce((p, q) => p + q, 0) / draws;
        const sd = Math.sqrt(a.reduce((p, q) => p + (q - mean) ** 2, 0) / (draws - 1));
        const sigma = sd / Math.sqrt(draws);
        const diff = Math.abs(mean - target[k]![c]!);
        if (sigma > 0) worst = Math.max(worst, diff / sigma);
        expect(
          diff,
          `configuration ${c}, observable ${k}: ${mean} vs ${target[k]![c]} (σ ${sigma})`,
        ).toBeLessThan(4 * sigma + 1e-15);
      }
    }
    log(`LLN check (4 configurations × 5 observables, 20000 draws each): largest |z| = ${worst.toFixed(2)}`);
  });

  it("drawSpins: saturated x gives fixed spins; layout is draw-major", () => {
    const x = Float64Array.of(40, -40, 1e300, -1e300);
    const s = drawSpins(x, 3, new Rng(1));
    expect(Array.from(s)).toEqual([1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1]);
  });
});

describe("Ising samplers: determinism and bad input", () => {
  it("a chain is a pure function of its seed", () => {
    const run = (seed: number) =>
      wolffChain({ latticeShape: [5, 6], T: TC, n: 50, rng: new Rng(seed) }).spins;
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    const met = (seed: number) =>
      spinMetropolisChain({ latticeShape: [4, 6], T: 2.5, n: 50, thermalise: 10, rng: new Rng(seed) }).spins;
    expect(met(7)).toEqual(met(7));
    expect(met(7)).not.toEqual(met(8));
  });

  it("an init configuration is used and copied; clustersPerSample is honoured", () => {
    const init = new Int8Array(9).fill(-1);
    const r = wolffChain({
      latticeShape: [3, 3],
      T: 0.01,
      n: 3,
      thermalise: 0,
      clustersPerSample: 2,
      rng: new Rng(1),
      init,
    });
    expect(Array.from(init)).toEqual(new Array(9).fill(-1));
    // At T → 0 every cluster is the whole lattice: two flips per sample return to the start.
    expect(Array.from(r.spins)).toEqual(new Array(27).fill(-1));
    expect(Array.from(r.clusterSizes)).toEqual([9, 9, 9]);
    expect(r.clustersPerSample).toBe(2);
  });

  const rng = () => new Rng(1);
  const bad: [string, () => unknown, RegExp][] = [
    [
      "Wolff T = 0",
      () => wolffChain({ latticeShape: [4, 4], T: 0, n: 10, rng: rng() }),
      /T must be a finite number > 0/,
    ],
    ["Wolff T < 0", () => wolffChain({ latticeShape: [4, 4], T: -1, n: 10, rng: rng() }), /T must be/],
    [
      "Wolff T NaN",
      () => wolffChain({ latticeShape: [4, 4], T: Number.NaN, n: 10, rng: rng() }),
      /T must be/,
    ],
    [
      "Wolff extent 1",
      () => wolffChain({ latticeShape: [1, 4], T: 2, n: 10, rng: rng() }),
      /extents must be integers ≥ 2.*self-loop/,
    ],
    [
      "Wolff n = 0",
      () => wolffChain({ latticeShape: [4, 4], T: 2, n: 0, rng: rng() }),
      /n \(the number of samples\) must be an integer ≥ 1/,
    ],
    ["Wolff n = 1.5", () => wolffChain({ latticeShape: [4, 4], T: 2, n: 1.5, rng: rng() }), /integer ≥ 1/],
    [
      "Wolff J < 0",
      () => wolffChain({ latticeShape: [4, 4], T: 2, J: -1, n: 5, rng: rng() }),
      /J must be a finite number ≥ 0/,
    ],
    [
      "Wolff bad init",
      () => wolffChain({ latticeShape: [2, 2], T: 2, n: 5, rng: rng(), init: Int8Array.of(1, 0, 1, 1) }),
      /spins must be ±1/,
    ],
    [
      "Wolff thermalise 0 without clustersPerSample",
      () => wolffChain({ latticeShape: [2, 2], T: 2, n: 5, thermalise: 0, rng: rng() }),
      /clustersPerSample/,
    ],
    [
      "Metropolis T = 0",
      () => spinMetropolisChain({ latticeShape: [4, 4], T: 0, n: 10, rng: rng() }),
      /T must be/,
    ],
    [
      "Metropolis extent 1",
      () => spinMetropolisChain({ latticeShape: [4, 1], T: 2, n: 10, rng: rng() }),
      /extents must be integers ≥ 2/,
    ],
    [
      "Metropolis n = 0",
      () => spinMetropolisChain({ latticeShape: [4, 4], T: 2, n: 0, rng: rng() }),
      /must be an integer ≥ 1/,
    ],
    ["measureIsingSpins T = 0", () => measureIsingSpins(new Int8Array(32).fill(1), [4, 4], 0), /T must be/],
    [
      "measureIsingSpins extent 1",
      () => measureIsingSpins(new Int8Array(8).fill(1), [1, 4], 2),
      /extents must be integers ≥ 2/,
    ],
    [
      "measureIsingSpins n < 2",
      () => measureIsingSpins(new Int8Array(16).fill(1), [4, 4], 2),
      /at least 2 configurations/,
    ],
    [
      "measureIsingSpins partial configuration",
      () => measureIsingSpins(new Int8Array(20).fill(1), [4, 4], 2),
      /not a whole number/,
    ],
    [
      "measureIsingRelaxed T < 0",
      () => measureIsingRelaxed(new Float64Array(32), [4, 4], -2, rng()),
      /T must be/,
    ],
    [
      "measureIsingRelaxed extent 1",
      () => measureIsingRelaxed(new Float64Array(8), [8, 1], 2, rng()),
      /extents must be integers ≥ 2/,
    ],
    [
      "measureIsingRelaxed n < 2",
      () => measureIsingRelaxed(new Float64Array(0), [4, 4], 2, rng()),
      /at least 2 configurations/,
    ],
    ["improvedM2 extent 1", () => improvedM2(new Float64Array(4), [1, 4]), /extents must be integers ≥ 2/],
    ["improvedEnergy extent 1", () => improvedEnergy(new Float64Array(4), [4, 1]), /self-loop/],
    [
      "drawSpins n = 0",
      () => drawSpins(new Float64Array(4), 0, rng()),
      /n \(draws per site\) must be an integer ≥ 1/,
    ],
  ];
  for (const [label, f, message] of bad) {
    it(`RangeError: ${label}`, () => {
      expect(f).toThrow(RangeError);
      expect(f).toThrow(message);
    });
  }
});

describe("report", () => {
  it("prints the comparison table", () => {
    console.log(report.join("\n"));
  });
});
