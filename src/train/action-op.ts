/**
 * The bridge from a physics `Theory` into the autodiff engine: S(x) per configuration as an
 * op whose gradient is −force (∂S/∂φ = −force). The flow sees the theory only through this.
 */
import { allocate, record, Tensor } from "../engine/index.js";
import type { Theory } from "../theories/theory.js";

/** S(x_b) for x of shape [B, ...sites]; output shape [B]. */
export function actionOp(theory: Theory, x: Tensor): Tensor {
  const b = x.shape[0]!;
  if (x.size !== b * theory.size) {
    throw new RangeError(
      `action: configuration shape [${x.shape.slice(1)}] does not match the theory's lattice`,
    );
  }
  const s = theory.action(x.data, b);
  const out = allocate(x.dtype, b);
  out.set(s);
  return record(new Tensor(out, [b]), [x], (g) => {
    const f = theory.force(x.data, b);
    const gx = allocate(x.dtype, x.size);
    const v = theory.size;
    for (let i = 0; i < b; i++) {
      const gi = g[i]!;
      for (let j = 0; j < v; j++) gx[i * v + j] = -gi * f[i * v + j]!;
    }
    return [gx];
  });
}
