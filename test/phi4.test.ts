import { describe, expect, it } from "vitest";
import { latticeVolume, neighbourTables, shiftTable } from "../src/theories/lattice.js";
import { hoppingToNotebook, notebookToHopping, Phi4Theory } from "../src/theories/phi4.js";

/** Deterministic uniform in [0, 1) (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomField(n: number, seed: number, scale = 1): Float64Array {
  const u = mulberry32(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * (2 * u() - 1);
  return out;
}

/** The notebook's action written literally with both rolls, as an independent reference. */
function notebookAction(phi: Float64Array, shape: number[], m2: number, lam: number): number {
  const { up, down } = neighbourTables(shape);
  let s = 0;
  for (let x = 0; x < phi.length; x++) {
    const p = phi[x]!;
    let dens = m2 * p * p + lam * p ** 4;
    for (let mu = 0; mu < shape.length; mu++) {
      dens += 2 * p * p - p * phi[up[mu]![x]!]! - p * phi[down[mu]![x]!]!;
    }
    s += dens;
  }
  return s;
}

/** Lüscher–Weisz hopping action S̃ = Σ_x[−2κ Σ_μ φ̃φ̃(x+μ̂) + φ̃² + λ̃(φ̃² − 1)²]. */
function hoppingAction(phi: Float64Array, shape: number[], kappa: number, lt: number): number {
  const { up } = neighbourTables(shape);
  let s = 0;
  for (let x = 0; x < phi.length; x++) {
    const p = phi[x]!;
    let hop = 0;
    for (let mu = 0; mu < shape.length; mu++) hop += phi[up[mu]![x]!]!;
    s += -2 * kappa * p * hop + p * p + lt * (p * p - 1) ** 2;
  }
  return s;
}

const shapes: number[][] = [[7], [5, 3], [4, 3, 2], [3, 2, 4, 1], [1], [2, 2], [6, 1]];

describe("Phi4Theory", () => {
  it("matches the notebook's literal action on random batches", () => {
    for (const shape of shapes) {
      const th = new Phi4Theory({ latticeShape: shape, m2: -1.3, lam: 0.7 });
      const v = latticeVolume(shape);
      const batch = 3;
      const phi = randomField(batch * v, 11 + v, 1.5);
      const s = th.action(phi, batch);
      for (let b = 0; b < batch; b++) {
        const ref = notebookAction(phi.subarray(b * v, (b + 1) * v), shape, -1.3, 0.7);
        expect(s[b]).toBeCloseTo(ref, 10);
      }
      // Density sums to the action.
      const dens = th.actionDensity(phi, batch);
      for (let b = 0; b < batch; b++) {
        let sum = 0;
        for (let x = 0; x < v; x++) sum += dens[b * v + x]!;
        expect(sum).toBeCloseTo(s[b]!, 10);
      }
    }
  });

  it("force equals central finite differences of the action (d = 1..4, uneven extents)", () => {
    for (const shape of shapes) {
      const th = new Phi4Theory({ latticeShape: shape, m2: 0.6, lam: 1.1 });
      const v = latticeVolume(shape);
      const batch = 2;
      const phi = randomField(batch * v, 5 * v + shape.length, 1.2);
      const f = th.force(phi, batch);
      const h = 1e-5;
      const s = new Float64Array(batch);
      for (let i = 0; i < batch * v; i++) {
        const b = Math.floor(i / v);
        const p0 = phi[i]!;
        phi[i] = p0 + h;
        const sp = th.action(phi, batch, s)[b]!;
        phi[i] = p0 - h;
        const sm = th.action(phi, batch, s)[b]!;
        phi[i] = p0;
        const fd = -(sp - sm) / (2 * h);
        expect(Math.abs(f[i]! - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
      }
    }
  });

  it("action of a constant field is V·(m²c² + λc⁴) (the hopping terms cancel)", () => {
    for (const shape of shapes) {
      const th = new Phi4Theory({ latticeShape: shape, m2: -4, lam: 8 });
      const v = latticeVolume(shape);
      const c = 0.37;
      const s = th.action(new Float64Array(v).fill(c), 1)[0]!;
      expect(s).toBeCloseTo(v * (-4 * c * c + 8 * c ** 4), 12);
      const f = th.force(new Float64Array(v).fill(c), 1);
      for (const fx of f) expect(fx).toBeCloseTo(-(2 * -4 * c + 4 * 8 * c ** 3), 12);
    }
  });

  it("is translation invariant", () => {
    const shape = [5, 4, 3];
    const v = latticeVolume(shape);
    const th = new Phi4Theory({ latticeShape: shape, m2: -2, lam: 3 });
    const phi = randomField(v, 42, 1);
    const tab = shiftTable(shape, [2, -1, 1]);
    const shifted = new Float64Array(v);
    for (let x = 0; x < v; x++) shifted[x] = phi[tab[x]!]!;
    expect(th.action(shifted, 1)[0]).toBeCloseTo(th.action(phi, 1)[0]!, 11);
    // The force is covariant: F(shifted)(x) = F(phi)(x + a).
    const f = th.force(phi, 1);
    const fs = th.force(shifted, 1);
    for (let x = 0; x < v; x++) expect(fs[x]).toBeCloseTo(f[tab[x]!]!, 12);
  });

  it("writes into out without allocating and accepts Float32 input", () => {
    const th = new Phi4Theory({ latticeShape: [4, 4], m2: 1, lam: 0.5 });
    const phi64 = randomField(32, 3);
    const out = new Float64Array(2);
    expect(th.action(phi64, 2, out)).toBe(out);
    const fout = new Float64Array(32);
    expect(th.force(phi64, 2, fout)).toBe(fout);
    const phi32 = Float32Array.from(phi64);
    const s32 = th.action(phi32, 2);
    expect(s32[0]).toBeCloseTo(th.action(Float64Array.from(phi32), 2)[0]!, 12);
  });

  it("validates its inputs with RangeErrors", () => {
    expect(() => new Phi4Theory({ latticeShape: [], m2: 1, lam: 1 })).toThrow(RangeError);
    expect(() => new Phi4Theory({ latticeShape: [2, 2, 2, 2, 2], m2: 1, lam: 1 })).toThrow(/1 to 4/);
    expect(() => new Phi4Theory({ latticeShape: [4, 0], m2: 1, lam: 1 })).toThrow(/extents/);
    expect(() => new Phi4Theory({ latticeShape: [4, 2.5], m2: 1, lam: 1 })).toThrow(RangeError);
    expect(() => new Phi4Theory({ latticeShape: [4], m2: Number.NaN, lam: 1 })).toThrow(/m2/);
    expect(() => new Phi4Theory({ latticeShape: [4], m2: 1, lam: -1 })).toThrow(/lam/);
    expect(() => new Phi4Theory({ latticeShape: [4], m2: 0, lam: 0 })).toThrow(/m2 > 0/);
    const th = new Phi4Theory({ latticeShape: [4], m2: 1, lam: 1 });
    expect(() => th.action(new Float64Array(3), 1)).toThrow(RangeError);
    expect(() => th.force(new Float64Array(8), 2, new Float64Array(4))).toThrow(RangeError);
  });
});

describe("hopping parametrisation", () => {
  it("maps the notebook couplings m² = −4, λ = 8 (d = 2) to κ = 1/4, λ̃ = 1/2 and back", () => {
    const h = notebookToHopping({ m2: -4, lam: 8, dim: 2 });
    expect(h.kappa).toBeCloseTo(0.25, 14);
    expect(h.lambdaTilde).toBeCloseTo(0.5, 14);
    expect(h.fieldScale).toBeCloseTo(0.5, 14);
    const nb = hoppingToNotebook({ kappa: h.kappa, lambdaTilde: h.lambdaTilde, dim: 2 });
    expect(nb.m2).toBeCloseTo(-4, 12);
    expect(nb.lam).toBeCloseTo(8, 12);
  });

  it("round-trips in d = 1..4, including λ = 0", () => {
    for (let dim = 1; dim <= 4; dim++) {
      for (const [kappa, lt] of [
        [0.13, 0.02],
        [0.3, 1.5],
        [0.05, 0],
      ] as const) {
        const nb = hoppingToNotebook({ kappa, lambdaTilde: lt, dim });
        const back = notebookToHopping({ m2: nb.m2, lam: nb.lam, dim });
        expect(back.kappa).toBeCloseTo(kappa, 12);
        expect(back.lambdaTilde).toBeCloseTo(lt, 12);
      }
    }
    expect(() => notebookToHopping({ m2: -5, lam: 0, dim: 2 })).toThrow(RangeError);
    expect(() => hoppingToNotebook({ kappa: 0, lambdaTilde: 1, dim: 2 })).toThrow(RangeError);
  });

  it("S(√κ·φ̃) − S̃(φ̃) = −λ̃V on random configurations (d = 1..4)", () => {
    for (const shape of [[9], [4, 3], [3, 2, 4], [2, 3, 2, 3]]) {
      const dim = shape.length;
      const v = latticeVolume(shape);
      const kappa = 0.21;
      const lt = 0.8;
      const { m2, lam, fieldScale } = hoppingToNotebook({ kappa, lambdaTilde: lt, dim });
      const th = new Phi4Theory({ latticeShape: shape, m2, lam });
      for (let seed = 1; seed <= 5; seed++) {
        const phiT = randomField(v, 100 * seed + dim, 2);
        const phi = phiT.map((p) => fieldScale * p);
        const diff = th.action(phi, 1)[0]! - hoppingAction(phiT, shape, kappa, lt);
        expect(diff).toBeCloseTo(-lt * v, 9);
      }
    }
  });
});
