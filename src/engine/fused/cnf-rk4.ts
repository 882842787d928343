/**
 * One classical RK4 step of the continuous flow (src/flows/continuous-flow.ts; arXiv
 * 2207.00283) as one tape op: from φ [B, ...sites] at time t, with the kernels at t, t + h/2
 * and t + h,
 *
 *   k_i = v(φ_i),  φ₁ = φ, φ₂ = φ + (h/2)k₁, φ₃ = φ + (h/2)k₂, φ₄ = φ + h k₃,
 *   y = φ + ((h/6)k₁ + (h/3)k₂) + ((h/3)k₃ + (h/6)k₄),   Δlog det = the same sum of div v(φ_i),
 *
 * in the op path's order of operations. Its backward runs the four field backwards (cnf-field.ts)
 * in reverse, so the tape holds φ₂, φ₃, φ₄ per step (3·B·V numbers) instead of every stage's
 * features and intermediate tensors, plus, within cnf-resident.ts's budget, each stage's
 * transformed features ĥ (B·V·F, in WebAssembly memory), which spares the backward one feature
 * product and F transforms per stage, and each kernel's transform k̂ (the two midpoint stages share
 * one). Output: one flat tensor, y [B·V] then Δlog det [B], sliced
 * in two (the tape records one output per op). Cotangents: φ, ω, A and the three kernels.
 */
import { record, willRecord } from "../autodiff.js";
import { reshape, slice } from "../ops/shape.js";
import { acquire, release } from "../pool.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import type { CnfConvPlan } from "./cnf-conv.js";
import { fieldBackward, fieldForward } from "./cnf-field.js";
import {
  type Hat,
  type KernelHat,
  keepKernelHat,
  kernelHat,
  releaseHat,
  releaseKeptKernelHat,
  releaseKernelHat,
} from "./cnf-resident.js";
import type { CnfGrads } from "./cnf-shared.js";

/** Frees the kept features and kernel transforms of a tape dropped without a backward pass. */
const orphans = new FinalizationRegistry<{ kept: { hat: Hat }[]; khats: KernelHat[] }>(({ kept, khats }) => {
  for (const k of kept) releaseHat(k.hat);
  for (const kh of khats) releaseKeptKernelHat(kh);
});

/** The kernel (t, t + h/2, t + h) each RK4 stage evaluates. */
const STAGE_KERNEL = [0, 1, 1, 2] as const;

function check(plan: CnfConvPlan, phi: Tensor, omega: Tensor, mix: Tensor, kerns: readonly Tensor[]): void {
  const { V, O, F } = plan;
  const K = omega.size;
  if (phi.rank < 2 || phi.size !== phi.shape[0]! * V)
    throw new RangeError(`cnfRk4Step: field [${phi.shape}] is not [B, ${plan.shape}]`);
  if (omega.rank !== 1 || mix.rank !== 2 || mix.shape[0] !== F || mix.shape[1] !== K + 1)
    throw new RangeError(
      `cnfRk4Step: frequencies [${omega.shape}] and mixing [${mix.shape}] do not fit F = ${F}`,
    );
  for (const k of kerns)
    if (k.size !== O * F) throw new RangeError(`cnfRk4Step: kernel [${k.shape}] is not [${O}, ${F}]`);
  for (const t of [omega, mix, ...kerns])
    if (t.dtype !== phi.dtype) throw new TypeError(`cnfRk4Step: dtype mismatch ${phi.dtype} vs ${t.dtype}`);
}

/** y and Δlog det of one RK4 step of size h (negative: backwards in time). */
export function cnfRk4Step(
  plan: CnfConvPlan,
  phi: Tensor,
  omega: Tensor,
  mix: Tensor,
  kerns: readonly [Tensor, Tensor, Tensor],
  h: number,
): { y: Tensor; logDet: Tensor } {
  check(plan, phi, omega, mix, kerns);
  const dtype = phi.dtype;
  const B = phi.shape[0]!;
  const N = phi.size;
  const kd = STAGE_KERNEL.map((i) => kerns[i]!.data);
  const x = phi.data;
  const w = omega.data;
  const A = mix.data;
  const inputs = [phi, omega, mix, kerns[0], kerns[1], kerns[2]];
  const taped = willRecord(inputs);
  // The forward's transformed features, kept for the backward where the budget allows.
  const kept: { hat: Hat }[] = [0, 1, 2, 3].map(() => ({ hat: null }));
  // k̂ of the three kernels, computed once; kept for the backward within the same budget.
  let khats: KernelHat[] = kerns.map((t) => kernelHat(plan, dtype, t.data));
  const stages = [x, acquire(dtype, N), acquire(dtype, N), acquire(dtype, N)];
  const vs = [acquire(dtype, N), acquire(dtype, N), acquire(dtype, N), acquire(dtype, N)];
  const ds = [allocate(dtype, B), allocate(dtype, B), allocate(dtype, B), allocate(dtype, B)];
  const hs = [h / 2, h / 2, h];
  for (let s = 0; s < 4; s++) {
    fieldForward(
      plan,
      dtype,
      B,
      stages[s]!,
      w,
      A,
      kd[s]!,
      vs[s]!,
      ds[s]!,
      taped ? kept[s] : undefined,
      khats[STAGE_KERNEL[s]!]!,
    );
    if (s < 3) {
      const next = stages[s + 1]!;
      const v = vs[s]!;
      const c = hs[s]!;
      for (let i = 0; i < N; i++) next[i] = x[i]! + v[i]! * c;
    }
  }
  const out = allocate(dtype, N + B);
  const [h6, h3] = [h / 6, h / 3];
  const comb = (a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray, i: number) =>
    a[i]! * h6 + b[i]! * h3 + (c[i]! * h3 + d[i]! * h6);
  const [v1, v2, v3, v4] = vs as [FloatArray, FloatArray, FloatArray, FloatArray];
  for (let i = 0; i < N; i++) out[i] = x[i]! + comb(v1, v2, v3, v4, i);
  const [d1, d2, d3, d4] = ds as [FloatArray, FloatArray, FloatArray, FloatArray];
  for (let b = 0; b < B; b++) out[N + b] = comb(d1, d2, d3, d4, b);
  release(...vs);

  if (!taped) release(stages[1], stages[2], stages[3]);
  khats = khats.map((kh) => {
    if (taped && keepKernelHat(kh)) return kh;
    releaseKernelHat(kh);
    return null;
  });
  const flat = record(new Tensor(out, [N + B]), inputs, (g, needs) => {
    orphans.unregister(kept);
    const held = khats;
    khats = [null, null, null];
    const K = w.length;
    const acc: CnfGrads[] = [0, 1, 2, 3].map(() => ({
      omega: new Float64Array(K),
      mix: new Float64Array(A.length),
      kern: new Float64Array(plan.O * plan.F),
    }));
    // Stage cotangents: ḡk_s = (h/6, h/3, h/3, h/6)·ḡy + (h/2, h/2, h)·ḡφ_{s+1} (from the next stage).
    const wy = [h6, h3, h3, h6];
    const gphi = allocate(dtype, N);
    const gv = acquire(dtype, N);
    const gs = acquire(dtype, N);
    const gd = allocate(dtype, B);
    for (let i = 0; i < N; i++) gphi[i] = g[i]!;
    for (let s = 3; s >= 0; s--) {
      for (let i = 0; i < N; i++) gv[i] = g[i]! * wy[s]! + (s < 3 ? gs[i]! * hs[s]! : 0);
      for (let b = 0; b < B; b++) gd[b] = g[N + b]! * wy[s]!;
      const kh = held[STAGE_KERNEL[s]!]!;
      fieldBackward(plan, dtype, B, stages[s]!, w, A, kd[s]!, gv, gd, gs, acc[s]!, kept[s]!.hat, kh);
      releaseHat(kept[s]!.hat);
      kept[s]!.hat = null;
      for (let i = 0; i < N; i++) gphi[i]! += gs[i];
    }
    for (const kh of held) releaseKeptKernelHat(kh);
    release(stages[1], stages[2], stages[3], gv, gs);
    const sum = (f: (a: CnfGrads) => Float64Array, idx: number[]) => {
      const o = allocate(dtype, f(acc[0]!).length);
      for (let i = 0; i < o.length; i++) {
        let v = 0;
        for (const s of idx) v += f(acc[s]!)[i]!;
        o[i] = v;
      }
      return o;
    };
    return [
      needs[0] ? gphi : null,
      needs[1] ? sum((a) => a.omega, [0, 1, 2, 3]) : null,
      needs[2] ? sum((a) => a.mix, [0, 1, 2, 3]) : null,
      needs[3] ? sum((a) => a.kern, [0]) : null,
      needs[4] ? sum((a) => a.kern, [1, 2]) : null,
      needs[5] ? sum((a) => a.kern, [3]) : null,
    ];
  });
  if (kept.some((k) => k.hat) || khats.some((kh) => kh)) orphans.register(flat, { kept, khats }, kept);
  return { y: reshape(slice(flat, 0, 0, N), phi.shape), logDet: slice(flat, 0, N, B) };
}
