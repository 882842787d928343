/** Central finite-difference gradient check in float64 for functions of named tensors. */
import { expect } from "vitest";
import { type Params, type Tensor, valueAndGrad } from "../src/engine/index.js";

export function gradcheck<P extends Params>(f: (p: P) => Tensor, params: P, h = 1e-6, tol = 1e-6): void {
  const { grads } = valueAndGrad(f)(params);
  for (const [name, p] of Object.entries(params)) {
    const g = grads[name as keyof P]!.data;
    for (let i = 0; i < p.size; i++) {
      const x0 = p.data[i]!;
      p.data[i] = x0 + h;
      const fp = f(params).item();
      p.data[i] = x0 - h;
      const fm = f(params).item();
      p.data[i] = x0;
      const fd = (fp - fm) / (2 * h);
      const err = Math.abs(fd - g[i]!) / Math.max(1, Math.abs(fd));
      if (err > tol) {
        expect.fail(
          `${name}[${i}]: analytic ${g[i]} vs finite difference ${fd} (rel err ${err.toExponential(2)})`,
        );
      }
    }
  }
}
