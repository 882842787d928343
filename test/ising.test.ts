/**
 * The relaxed Ising theory (src/theories/ising.ts): K from the per-axis eigenbases equals
 * Adj/T + c·I built by hand, the action equals ½xᵀK⁻¹x − Σ ln cosh x computed densely, the
 * force is −∂S/∂x (central differences), and ln Z_Ising = ln Z_x + logZShift by quadrature of
 * Z_x on tiny lattices against enumeration of the spins.
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../src/rng/philox.js";
import { type IsingBoundary, IsingRelaxedTheory, logCosh } from "../src/theories/ising.js";
import { latticeVolume, neighbourTables } from "../src/theories/lattice.js";
import { logAbsDet } from "./linalg.js";

/** Adjacency with the theory's bond multiplicities: bond (x, x+μ̂) per site and axis. */
function adjacency(shape: number[], boundary: IsingBoundary): Float64Array {
  const n = latticeVolume(shape);
  const a = new Float64Array(n * n);
  const { up } = neighbourTables(shape);
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((p, q) => p * q, 1));
  for (let x = 0; x < n; x++)
    for (let mu = 0; mu < shape.length; mu++) {
      const coord = Math.floor(x / strides[mu]!) % shape[mu]!;
      if (boundary === "open" && coord === shape[mu]! - 1) continue;
      const y = up[mu]![x]!;
      a[x * n + y]! += 1;
      a[y * n + x]! += 1;
    }
  return a;
}

/** Solve K y = x densely (Gaussian elimination with partial pivoting). */
function solve(k: Float64Array, x: Float64Array, n: number): Float64Array {
  const m = k.slice();
  const y = x.slice();
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[p * n + c]!)) p = r;
    for (let j = 0; j < n; j++) [m[c * n + j], m[p * n + j]] = [m[p * n + j]!, m[c * n + j]!];
    [y[c], y[p]] = [y[p]!, y[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r * n + c]! / m[c * n + c]!;
      for (let j = c; j < n; j++) m[r * n + j]! -= f * m[c * n + j]!;
      y[r]! -= f * y[c]!;
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    let s = y[c]!;
    for (let j = c + 1; j < n; j++) s -= m[c * n + j]! * y[j]!;
    y[c] = s / m[c * n + c]!;
  }
  return y;
}

const CASES: [number[], IsingBoundary][] = [
  [[2], "periodic"],
  [[3], "periodic"],
  [[4, 4], "periodic"],
  [[2, 4], "periodic"],
  [[3, 5], "periodic"],
  [[3, 4], "open"],
  [[2, 2, 3], "periodic"],
];

describe("IsingRelaxedTheory", () => {
  for (const [shape, boundary] of CASES) {
    const T = 2.1;
    const th = new IsingRelaxedTheory({ latticeShape: shape, T, boundary });
    const n = th.size;
    it(`${shape.join("x")} ${boundary}: K = Adj/T + cI, c = 0.1 − λ_min/T, ln det K`, () => {
      const adj = adjacency(shape, boundary);
      const k = th.denseK();
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++)
          expect(k[i * n + j]).toBeCloseTo(adj[i * n + j]! / T + (i === j ? th.offset : 0), 12);
      expect(logAbsDet(k, n)).toBeCloseTo(th.logDetK, 9);
      // c makes K's smallest eigenvalue 0.1: K − 0.1·I is singular.
      const shifted = k.slice();
      for (let i = 0; i < n; i++) shifted[i * n + i]! -= 0.1;
      expect(logAbsDet(shifted, n)).toBeLessThan(-20);
    });

    it(`${shape.join("x")} ${boundary}: fieldGivenSpins is x = Ks + Az with AAᵀ = K (x | s ~ N(Ks, K))`, () => {
      const k = th.denseK();
      const spins = Float64Array.from({ length: n }, (_, i) => ((i * 7) % 3 === 0 ? -1 : 1));
      const zero = new Float64Array(n);
      const x = new Float64Array(n);
      th.fieldGivenSpins(spins, zero, x);
      for (let i = 0; i < n; i++) {
        let ks = 0;
        for (let j = 0; j < n; j++) ks += k[i * n + j]! * spins[j]!;
        expect(x[i]).toBeCloseTo(ks, 12);
      }
      // Column j of A is x(e_j) − Ks: the noise map is linear, and its AAᵀ must be K.
      const a = new Float64Array(n * n);
      const e = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        e.fill(0);
        e[j] = 1;
        th.fieldGivenSpins(spins, e, x);
        th.fieldGivenSpins(spins, zero, e);
        for (let i = 0; i < n; i++) a[i * n + j] = x[i]! - e[i]!;
        e.fill(0);
      }
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let aat = 0;
          for (let m = 0; m < n; m++) aat += a[i * n + m]! * a[j * n + m]!;
          expect(aat).toBeCloseTo(k[i * n + j]!, 11);
        }
      expect(() => th.fieldGivenSpins(spins.subarray(1), zero, x)).toThrow(/N = /);
    });

    it(`${shape.join("x")} ${boundary}: action = ½xᵀK⁻¹x − Σ ln cosh x; force = −∂S/∂x`, () => {
      const x = new Float64Array(3 * n);
      new Rng(5).normal(x);
      for (let i = 0; i < x.length; i++) x[i]! *= 2;
      const s = th.action(x, 3);
      const k = th.denseK();
      for (let b = 0; b < 3; b++) {
        const xb = x.slice(b * n, (b + 1) * n);
        const y = solve(k, xb, n);
        let quad = 0;
        let lc = 0;
        for (let i = 0; i < n; i++) {
          quad += xb[i]! * y[i]!;
          lc += Math.log(Math.cosh(xb[i]!));
        }
        expect(s[b]).toBeCloseTo(0.5 * quad - lc, 10);
      }
      const f = th.force(x, 3);
      const h = 1e-6;
      for (let j = 0; j < x.length; j += Math.max(1, Math.floor(x.length / 17))) {
        const xp = x.slice();
        const xm = x.slice();
        xp[j]! += h;
        xm[j]! -= h;
        const b = Math.floor(j / n);
        const fd = -(th.action(xp, 3)[b]! - th.action(xm, 3)[b]!) / (2 * h);
        expect(Math.abs(f[j]! - fd)).toBeLessThan(1e-7);
      }
    });
  }

  it("ln cosh does not overflow and is exact near 0", () => {
    expect(logCosh(1000)).toBeCloseTo(1000 - Math.LN2, 10);
    expect(logCosh(-1000)).toBeCloseTo(1000 - Math.LN2, 10);
    expect(Math.abs(logCosh(1e-8) - 5e-17)).toBeLessThan(3e-16);
    expect(logCosh(0.7)).toBeCloseTo(Math.log(Math.cosh(0.7)), 15);
  });

  /** ln Σ_s exp(½ sᵀ(Adj/T)s) by enumeration. */
  function isingLogZ(shape: number[], boundary: IsingBoundary, T: number): number {
    const n = latticeVolume(shape);
    const adj = adjacency(shape, boundary);
    const terms: number[] = [];
    for (let c = 0; c < 1 << n; c++) {
      let e = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) e += adj[i * n + j]! * (c & (1 << i) ? 1 : -1) * (c & (1 << j) ? 1 : -1);
      terms.push((0.5 * e) / T);
    }
    const m = Math.max(...terms);
    return m + Math.log(terms.reduce((a, t) => a + Math.exp(t - m), 0));
  }

  /** ln ∫ dx e^{−S(x)} by the trapezoid rule on [−R, R]^N (spectrally accurate here). */
  function relaxedLogZ(th: IsingRelaxedTheory, r: number, h: number): number {
    const n = th.size;
    const pts = Math.round((2 * r) / h) + 1;
    const total = pts ** n;
    const batch = 4096;
    const x = new Float64Array(batch * n);
    let acc = 0;
    for (let start = 0; start < total; start += batch) {
      const m = Math.min(batch, total - start);
      for (let b = 0; b < m; b++) {
        let c = start + b;
        for (let i = 0; i < n; i++) {
          x[b * n + i] = -r + (c % pts) * h;
          c = Math.floor(c / pts);
        }
      }
      const s = th.action(x, m);
      for (let b = 0; b < m; b++) acc += Math.exp(-s[b]!);
    }
    return Math.log(acc * h ** n);
  }

  for (const [shape, boundary, T] of [
    [[2], "periodic", 1.5],
    [[3], "periodic", 2.269185314213022],
    [[3], "open", 0.8],
  ] as [number[], IsingBoundary, number][]) {
    it(`ln Z_Ising = ln Z_x + logZShift by quadrature: ${shape} ${boundary} T=${T}`, () => {
      const th = new IsingRelaxedTheory({ latticeShape: shape, T, boundary });
      const lnZx = relaxedLogZ(th, 20, 0.25);
      expect(lnZx + th.logZShift).toBeCloseTo(isingLogZ(shape, boundary, T), 8);
    });
  }

  it("rejects bad input with a clear message", () => {
    expect(() => new IsingRelaxedTheory({ latticeShape: [1, 4], T: 2, boundary: "periodic" })).toThrow(/≥ 2/);
    expect(() => new IsingRelaxedTheory({ latticeShape: [4, 4], T: 0, boundary: "periodic" })).toThrow(
      /T must/,
    );
    expect(
      () => new IsingRelaxedTheory({ latticeShape: [4, 4], T: 2, boundary: "twisted" as IsingBoundary }),
    ).toThrow(/boundary/);
  });
});
