/**
 * The two matrix products of Winograd F(2×2, 3×3) (simd-winograd.ts has the maths and the
 * layouts): for each entry ξ of the 4×4 transform, the sum over input channels (forward)
 * and the sum over tiles (weight gradient), as WebAssembly SIMD generated at run time.
 */
import { Code, I32, uleb, V128 } from "./assembler.js";
import { type WinogradPlan, XI_PAD } from "./simd-winograd.js";

const ADD = 0xe4;
const MUL = 0xe6;
const LOAD = 0x00;
const STORE = 0x0b;
const SPLAT_LOAD = 0x09; // v128.load32_splat
const mem = (off: number) => [2, ...uleb(off)];

/**
 * Steps per loop iteration in the two products: one. TurboFan schedules a loop body's loads
 * first, so a longer body runs out of the 16 vector registers and spills accumulators
 * (L = 32, 32 → 32, per 64 samples: 10.9 ms at 1, 15.7 at 2, 17.3 at 4 input channels per
 * iteration; weight product 11.2 ms at 1, 16.4 at 2 vectors).
 */
const GEMM_UNROLL = 1;
const WEIGHT_UNROLL = 1;

/**
 * gemm(U, V, M, cin, cout, _): M[ξ][o][vec] = Σ_i U[ξ][o][i] V[ξ][i][vec] for one block;
 * 4 output channels × 2 vectors per pass (8 accumulators), GEMM_UNROLL input channels per
 * loop iteration. Needs cin and cout multiples of 4.
 */
export function winogradGemmFn(plan: WinogradPlan): number[] {
  const c = new Code(6);
  const [U, V, M, CIN, COUT] = [0, 1, 2, 3, 4];
  const xi = c.local(I32);
  const og = c.local(I32);
  const v = c.local(I32);
  const i = c.local(I32);
  const ub = c.local(I32);
  const vb = c.local(I32);
  const mb = c.local(I32);
  const up = c.local(I32);
  const vp = c.local(I32);
  const mo = c.local(I32);
  const acc = Array.from({ length: 8 }, () => c.local(V128)); // acc[2k + j]
  const x0 = c.local(V128);
  const x1 = c.local(V128);
  const u = c.local(V128);
  const bv = plan.blockVectors;
  const S = bv * 16; // bytes between input channels in V
  c.loop(
    xi,
    () => c.i32(16),
    1,
    () => {
      // ub = U + ξ·cout·cin·4; vb = V + ξ·(cin·S + pad); mb = M + ξ·(cout·S + pad)
      c.get(U).get(xi).get(COUT).op(0x6c).get(CIN).op(0x6c).i32(4).op(0x6c, 0x6a).set(ub);
      c.get(V).get(xi).get(CIN).i32(S).op(0x6c).i32(XI_PAD).op(0x6a).op(0x6c, 0x6a).set(vb);
      c.get(M).get(xi).get(COUT).i32(S).op(0x6c).i32(XI_PAD).op(0x6a).op(0x6c, 0x6a).set(mb);
      c.loop(
        og,
        () => c.get(COUT).i32(2).op(0x76), // cout >> 2
        1,
        () => {
          c.loop(
            v,
            () => c.i32(bv),
            2,
            () => {
              for (const a of acc) c.simd(0x0c, ...new Array(16).fill(0)).set(a);
              // up = ub + og·cin·16; vp = vb + v·16
              c.get(ub).get(og).get(CIN).op(0x6c).i32(16).op(0x6c, 0x6a).set(up);
              c.get(vb).get(v).i32(16).op(0x6c, 0x6a).set(vp);
              c.loop(
                i,
                () => c.get(CIN),
                GEMM_UNROLL,
                () => {
                  for (let s = 0; s < GEMM_UNROLL; s++) {
                    c.get(vp)
                      .simd(LOAD, ...mem(s * S))
                      .set(x0);
                    c.get(vp)
                      .simd(LOAD, ...mem(s * S + 16))
                      .set(x1);
                    for (let k = 0; k < 4; k++) {
                      c.get(up)
                        .simd(SPLAT_LOAD, ...mem(s * 16 + k * 4))
                        .set(u);
                      c.get(acc[2 * k]!)
                        .get(u)
                        .get(x0)
                        .simd(MUL)
                        .simd(ADD)
                        .set(acc[2 * k]!);
                      c.get(acc[2 * k + 1]!)
                        .get(u)
                        .get(x1)
                        .simd(MUL)
                        .simd(ADD)
                        .set(acc[2 * k + 1]!);
                    }
                  }
                  c.get(up)
                    .i32(16 * GEMM_UNROLL)
                    .op(0x6a)
                    .set(up);
                  c.get(vp)
                    .i32(GEMM_UNROLL * S)
                    .op(0x6a)
                    .set(vp);
                },
              );
              // M[ξ][4og + k][v + j] at mb + ((4og + k)·bv + v + j)·16
              c.get(mb)
                .get(og)
                .i32(4 * S)
                .op(0x6c, 0x6a)
                .get(v)
                .i32(16)
                .op(0x6c, 0x6a)
                .set(mo);
              for (let k = 0; k < 4; k++)
                for (let j = 0; j < 2; j++)
                  c.get(mo)
                    .get(acc[2 * k + j]!)
                    .simd(STORE, ...mem(k * S + j * 16));
            },
          );
        },
      );
    },
  );
  return c.body();
}

/**
 * weightGemm(Mh, V, dU4, cin, cout, _): dU4[ξ][o][i] += Σ_vec Mh[ξ][o][vec] ⊙ V[ξ][i][vec] for
 * one block, kept as 4 lanes (winogradFilterAdjoint adds them up once at the end). 4 output
 * × 2 input channels per pass, WEIGHT_UNROLL vectors per loop iteration. Needs cout a
 * multiple of 4 and cin of 2.
 */
export function winogradWeightGemmFn(plan: WinogradPlan): number[] {
  const c = new Code(6);
  const [MH, V, DU, CIN, COUT] = [0, 1, 2, 3, 4];
  const xi = c.local(I32);
  const og = c.local(I32);
  const ip = c.local(I32);
  const mp = c.local(I32);
  const vp = c.local(I32);
  const dp = c.local(I32);
  const vv = c.local(I32);
  const acc = Array.from({ length: 8 }, () => c.local(V128)); // acc[2k + j]
  const m = c.local(V128);
  const x0 = c.local(V128);
  const x1 = c.local(V128);
  const bv = plan.blockVectors;
  const S = bv * 16;
  c.loop(
    xi,
    () => c.i32(16),
    1,
    () => {
      c.loop(
        og,
        () => c.get(COUT).i32(2).op(0x76),
        1,
        () => {
          c.loop(
            ip,
            () => c.get(CIN),
            2,
            () => {
              for (const a of acc) c.simd(0x0c, ...new Array(16).fill(0)).set(a);
              // mp = Mh + ξ·(cout·S + pad) + 4og·S ; vp = V + ξ·(cin·S + pad) + ip·S
              c.get(MH).get(xi).get(COUT).i32(S).op(0x6c).i32(XI_PAD).op(0x6a).op(0x6c, 0x6a);
              c.get(og)
                .i32(4 * S)
                .op(0x6c, 0x6a)
                .set(mp);
              c.get(V).get(xi).get(CIN).i32(S).op(0x6c).i32(XI_PAD).op(0x6a).op(0x6c, 0x6a);
              c.get(ip).i32(S).op(0x6c, 0x6a).set(vp);
              // Two vectors per iteration: a longer straight line lets TurboFan hoist the
              // loads ahead and spill accumulators.
              c.loop(
                vv,
                () => c.i32(bv / WEIGHT_UNROLL),
                1,
                () => {
                  for (let u = 0; u < WEIGHT_UNROLL; u++) {
                    c.get(vp)
                      .simd(LOAD, ...mem(u * 16))
                      .set(x0);
                    c.get(vp)
                      .simd(LOAD, ...mem(S + u * 16))
                      .set(x1);
                    for (let k = 0; k < 4; k++) {
                      c.get(mp)
                        .simd(LOAD, ...mem(u * 64 + k * 16))
                        .set(m);
                      c.get(acc[2 * k]!)
                        .get(m)
                        .get(x0)
                        .simd(MUL)
                        .simd(ADD)
                        .set(acc[2 * k]!);
                      c.get(acc[2 * k + 1]!)
                        .get(m)
                        .get(x1)
                        .simd(MUL)
                        .simd(ADD)
                        .set(acc[2 * k + 1]!);
                    }
                  }
                  c.get(vp)
                    .i32(16 * WEIGHT_UNROLL)
                    .op(0x6a)
                    .set(vp);
                  c.get(mp)
                    .i32(64 * WEIGHT_UNROLL)
                    .op(0x6a)
                    .set(mp);
                },
              );
              // dU4[ξ][4og + k][ip + j] += acc, at dp + (k·cin + j)·16
              c.get(DU)
                .get(xi)
                .get(COUT)
                .op(0x6c)
                .get(og)
                .i32(4)
                .op(0x6c, 0x6a)
                .get(CIN)
                .op(0x6c)
                .get(ip)
                .op(0x6a)
                .i32(16)
                .op(0x6c, 0x6a)
                .set(dp);
              for (let k = 0; k < 4; k++) {
                for (let j = 0; j < 2; j++) {
                  c.get(dp);
                  c.get(dp).simd(LOAD, ...mem(j * 16));
                  c.get(acc[2 * k + j]!)
                    .simd(ADD)
                    .simd(STORE, ...mem(j * 16));
                }
                if (k < 3) c.get(dp).get(CIN).i32(16).op(0x6c, 0x6a).set(dp);
              }
            },
          );
        },
      );
    },
  );
  return c.body();
}
