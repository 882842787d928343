/**
 * WebAssembly SIMD kernels around the convolutions of a coupling layer: PReLU-and-pad (the
 * activation written straight into the next convolution's periodically padded input) and the
 * bias fill of a convolution's output. Same geometry specialisation as simd-conv.ts.
 */
import { Code, I32, uleb, V128 } from "./assembler.js";
import type { Flavour, Geometry } from "./simd-conv.js";

/**
 * preluPad(z, P, alpha, planes, c, aStride): P[q] = periodically padded prelu(z[q]) with
 * slope alpha[(q mod c)·aStride] (aStride 0: one shared slope). prelu(v) = v (v ≥ 0 or NaN),
 * a·v (v < 0), exactly the TypeScript arithmetic (a select, no blending).
 */
export function preluPadFn(g: Geometry, f: Flavour): number[] {
  const c = new Code(6);
  const [Z, P, A, PLANES, C, AS] = [0, 1, 2, 3, 4, 5];
  const q = c.local(I32);
  const r = c.local(I32);
  const j = c.local(I32);
  const zr = c.local(I32);
  const pr = c.local(I32);
  const po = c.local(I32);
  const av = c.local(V128);
  const v = c.local(V128);
  const mem = (off: number) => [f.align, ...uleb(off)];
  const lt = f.eb === 8 ? 0x49 : 0x43; // f64x2.lt / f32x4.lt
  const rowBytes = g.pw * f.eb;
  const unrolled = (g.rows * g.n) / f.vl <= 64;
  c.loop(
    q,
    () => c.get(PLANES),
    1,
    () => {
      // a = splat(alpha[(q mod c)·aStride])
      c.get(A).get(q).get(C).op(0x6f).get(AS).op(0x6c).i32(f.eb).op(0x6c, 0x6a);
      c.op(f.scalarLoad, ...mem(0))
        .simd(f.splat)
        .set(av);
      c.get(P)
        .get(q)
        .i32(g.pv * f.eb)
        .op(0x6c, 0x6a)
        .set(po);
      if (unrolled) {
        // Small planes: straight-line code with immediate offsets, halo rows copied by
        // 16/8/4-byte moves (memory.copy's call overhead dominated at L = 8).
        c.get(Z)
          .get(q)
          .i32(g.v * f.eb)
          .op(0x6c, 0x6a)
          .set(zr);
        for (let rr = 0; rr < g.rows; rr++) {
          const prow = ((rr + 1) * g.pw + 1) * f.eb;
          for (let jj = 0; jj < g.n * f.eb; jj += f.vl * f.eb) {
            c.get(zr)
              .simd(0x00, ...mem(rr * g.n * f.eb + jj))
              .set(v);
            c.get(po);
            c.get(av).get(v).simd(f.mul).get(v);
            c.get(v)
              .simd(0x0c, ...new Array(16).fill(0))
              .simd(lt);
            c.simd(0x52).simd(0x0b, ...mem(prow + jj));
          }
          c.get(po)
            .get(po)
            .op(f.scalarLoad, ...mem(prow + (g.n - 1) * f.eb))
            .op(f.scalarStore, ...mem(prow - f.eb));
          c.get(po)
            .get(po)
            .op(f.scalarLoad, ...mem(prow))
            .op(f.scalarStore, ...mem(prow + g.n * f.eb));
        }
        const copyRow = (from: number, to: number) => {
          let o = 0;
          for (; o + 16 <= rowBytes; o += 16)
            c.get(po)
              .get(po)
              .simd(0x00, ...mem(from + o))
              .simd(0x0b, ...mem(to + o));
          for (; o + 8 <= rowBytes; o += 8)
            c.get(po)
              .get(po)
              .op(0x29, 3, ...uleb(from + o)) // i64.load
              .op(0x37, 3, ...uleb(to + o)); // i64.store
          for (; o < rowBytes; o += 4)
            c.get(po)
              .get(po)
              .op(0x28, 2, ...uleb(from + o)) // i32.load
              .op(0x36, 2, ...uleb(to + o)); // i32.store
        };
        copyRow(g.rows * rowBytes, 0);
        copyRow(rowBytes, (g.rows + 1) * rowBytes);
        return;
      }
      c.loop(
        r,
        () => c.i32(g.rows),
        1,
        () => {
          c.get(Z)
            .get(q)
            .i32(g.v * f.eb)
            .op(0x6c, 0x6a)
            .get(r)
            .i32(g.n * f.eb)
            .op(0x6c, 0x6a)
            .set(zr);
          c.get(po).get(r).i32(1).op(0x6a).i32(rowBytes).op(0x6c, 0x6a).i32(f.eb).op(0x6a).set(pr);
          c.loop(
            j,
            () => c.i32(g.n * f.eb),
            f.vl * f.eb,
            () => {
              c.get(zr)
                .get(j)
                .op(0x6a)
                .simd(0x00, ...mem(0))
                .set(v);
              // P[pr + j] = bitselect(a·v, v, v < 0)
              c.get(pr).get(j).op(0x6a);
              c.get(av).get(v).simd(f.mul).get(v);
              c.get(v)
                .simd(0x0c, ...new Array(16).fill(0))
                .simd(lt);
              c.simd(0x52).simd(0x0b, ...mem(0));
            },
          );
          // halo columns: P[row][0] = P[row][n], P[row][n+1] = P[row][1]
          c.get(pr)
            .i32(f.eb)
            .op(0x6b)
            .get(pr)
            .op(f.scalarLoad, ...mem((g.n - 1) * f.eb))
            .op(f.scalarStore, ...mem(0));
          c.get(pr)
            .get(pr)
            .op(f.scalarLoad, ...mem(0))
            .op(f.scalarStore, ...mem(g.n * f.eb));
        },
      );
      // halo rows: row 0 = row `rows`, row rows+1 = row 1 (memory.copy)
      c.get(po)
        .get(po)
        .i32(g.rows * rowBytes)
        .op(0x6a)
        .i32(rowBytes)
        .op(0xfc, 10, 0, 0);
      c.get(po)
        .i32((g.rows + 1) * rowBytes)
        .op(0x6a)
        .get(po)
        .i32(rowBytes)
        .op(0x6a)
        .i32(rowBytes)
        .op(0xfc, 10, 0, 0);
    },
  );
  return c.body();
}

/** fillBias(B, Y, planes, c): Y[q] = bias B[q mod c] over whole planes (q < planes). */
export function fillBiasFn(g: Geometry, f: Flavour): number[] {
  const c = new Code(6);
  const [B, Y, PLANES, C] = [0, 1, 2, 3];
  const q = c.local(I32);
  const j = c.local(I32);
  const yo = c.local(I32);
  const bv = c.local(V128);
  const mem = (off: number) => [f.align, ...uleb(off)];
  const bytes = g.v * f.eb; // a multiple of 16 (rows are a multiple of the vector length)
  c.loop(
    q,
    () => c.get(PLANES),
    1,
    () => {
      c.get(B).get(q).get(C).op(0x6f).i32(f.eb).op(0x6c, 0x6a); // i32.rem_s, i32.mul, i32.add
      c.op(f.scalarLoad, ...mem(0))
        .simd(f.splat)
        .set(bv);
      c.get(Y).get(q).i32(bytes).op(0x6c, 0x6a).set(yo);
      if (bytes <= 1024) {
        for (let o = 0; o < bytes; o += 16)
          c.get(yo)
            .get(bv)
            .simd(0x0b, ...mem(o));
        return;
      }
      c.loop(
        j,
        () => c.i32(bytes),
        16,
        () => {
          c.get(yo)
            .get(j)
            .op(0x6a)
            .get(bv)
            .simd(0x0b, ...mem(0));
        },
      );
    },
  );
  return c.body();
}

/**
 * preluBackF32(Z, G, A, SUMS, planes, c), float32: the PReLU backward through the
 * pre-activations Z in place on the cotangent G, G[q] ← G[q] ⊙ (1 at z ≥ 0, a at z < 0) with
 * a = A[q mod c], and per plane SUMS[2q] = Σ g·z·[z < 0] (the slope's gradient, before the
 * update), SUMS[2q + 1] = Σ of the updated G[q] (the previous conv's bias gradient). The
 * elementwise update is the TypeScript arithmetic; the sums add in four lanes (float32).
 * A NaN in z gives NaN in the slope sum, as in TypeScript (g·z·0).
 */
export function preluBackF32Fn(g: Geometry): number[] {
  const c = new Code(6);
  const [Z, G, A, SUMS, PLANES, C] = [0, 1, 2, 3, 4, 5];
  const q = c.local(I32);
  const j = c.local(I32);
  const zo = c.local(I32);
  const go = c.local(I32);
  const av = c.local(V128);
  const zv = c.local(V128);
  const gv = c.local(V128);
  const neg = c.local(V128);
  const sa = c.local(V128);
  const sb = c.local(V128);
  const out = c.local(V128);
  const mem = (off: number) => [2, ...uleb(off)];
  const zero = () => c.simd(0x0c, ...new Array(16).fill(0));
  const one = [0, 0, 0x80, 0x3f]; // 1.0f little-endian
  const bytes = g.v * 4;
  c.loop(
    q,
    () => c.get(PLANES),
    1,
    () => {
      c.get(A).get(q).get(C).op(0x6f).i32(4).op(0x6c, 0x6a);
      c.op(0x2a, ...mem(0))
        .simd(0x13)
        .set(av); // f32.load, f32x4.splat
      c.get(Z).get(q).i32(bytes).op(0x6c, 0x6a).set(zo);
      c.get(G).get(q).i32(bytes).op(0x6c, 0x6a).set(go);
      zero();
      c.set(sa);
      zero();
      c.set(sb);
      c.loop(
        j,
        () => c.i32(bytes),
        16,
        () => {
          c.get(zo)
            .get(j)
            .op(0x6a)
            .simd(0x00, ...mem(0))
            .set(zv);
          c.get(go)
            .get(j)
            .op(0x6a)
            .simd(0x00, ...mem(0))
            .set(gv);
          // neg = 1.0 where z < 0, else 0 (NaN: 0)
          c.get(zv);
          zero();
          c.simd(0x43); // f32x4.lt
          c.simd(0x0c, ...one, ...one, ...one, ...one)
            .simd(0x4e)
            .set(neg); // v128.and
          // sa += g·z·neg
          c.get(sa).get(gv).get(zv).simd(0xe6).get(neg).simd(0xe6).simd(0xe4).set(sa);
          // out = z < 0 ? a·g : g  (bitselect on the comparison mask)
          c.get(av).get(gv).simd(0xe6).get(gv).get(zv);
          zero();
          c.simd(0x43).simd(0x52).set(out); // v128.bitselect
          c.get(go)
            .get(j)
            .op(0x6a)
            .get(out)
            .simd(0x0b, ...mem(0));
          c.get(sb).get(out).simd(0xe4).set(sb);
        },
      );
      for (const [acc, at] of [
        [sa, 0],
        [sb, 4],
      ] as const) {
        c.get(SUMS).get(q).i32(8).op(0x6c, 0x6a);
        for (let l = 0; l < 4; l++) {
          c.get(acc).simd(0x1f, l);
          if (l > 0) c.op(0x92);
        }
        c.op(0x38, ...mem(at));
      }
    },
  );
  return c.body();
}
