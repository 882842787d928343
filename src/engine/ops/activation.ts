/**
 * Piecewise-linear activations.
 *   prelu(x, α):   y = x (x ≥ 0), α_c·x (x < 0), α per channel (axis 1) or one shared α
 *                  (PyTorch's nn.PReLU); ∂y/∂x = 1 or α_c, ∂y/∂α_c = Σ_{x<0, channel c} x.
 *   leakyRelu(x, s): the same with a constant slope s.
 *   relu(x):         max(x, 0) (NaN stays NaN); ∂y/∂x = 1 (x > 0), 0 (x ≤ 0), PyTorch's choice at 0.
 */
import { record } from "../autodiff.js";
import { allocate, Tensor } from "../tensor.js";

/** Elements per channel slice, and channel count, of x viewed as [B, C, rest...]. */
function channelLayout(x: Tensor): { c: number; inner: number } {
  if (x.rank < 2) return { c: 1, inner: x.size };
  let inner = 1;
  for (let i = 2; i < x.rank; i++) inner *= x.shape[i]!;
  return { c: x.shape[1]!, inner };
}

export function prelu(x: Tensor, alpha: Tensor): Tensor {
  const { c, inner } = channelLayout(x);
  const shared = alpha.size === 1;
  if (!shared && alpha.size !== c) {
    throw new RangeError(`prelu: alpha has ${alpha.size} values for ${c} channels (use 1 or ${c})`);
  }
  const xd = x.data;
  const ad = alpha.data;
  const n = x.size;
  const y = allocate(x.dtype, n);
  // Loop per channel slice so the slope is a loop constant.
  for (let q = 0; q < n / inner; q++) {
    const a = ad[shared ? 0 : q % c]!;
    for (let i = q * inner; i < (q + 1) * inner; i++) {
      const v = xd[i]!;
      y[i] = v >= 0 ? v : a * v;
    }
  }
  return record(new Tensor(y, x.shape), [x, alpha], (g, needs) => {
    const gx = needs[0] ? allocate(x.dtype, n) : null;
    const ga = needs[1] ? allocate(x.dtype, alpha.size) : null;
    for (let q = 0; q < n / inner; q++) {
      const ch = shared ? 0 : q % c;
      const a = ad[ch]!;
      let acc = 0;
      for (let i = q * inner; i < (q + 1) * inner; i++) {
        const v = xd[i]!;
        if (v >= 0) {
          if (gx) gx[i] = g[i]!;
        } else {
          if (gx) gx[i] = a * g[i]!;
          acc += g[i]! * v;
        }
      }
      if (ga) ga[ch]! += acc;
    }
    return [gx, ga];
  });
}

export function leakyRelu(x: Tensor, slope: number): Tensor {
  const xd = x.data;
  const n = x.size;
  const y = allocate(x.dtype, n);
  for (let i = 0; i < n; i++) y[i] = xd[i]! >= 0 ? xd[i]! : slope * xd[i]!;
  return record(new Tensor(y, x.shape), [x], (g) => {
    const gx = allocate(x.dtype, n);
    for (let i = 0; i < n; i++) gx[i] = xd[i]! >= 0 ? g[i]! : slope * g[i]!;
    return [gx];
  });
}

export function relu(x: Tensor): Tensor {
  const xd = x.data;
  const n = x.size;
  const y = allocate(x.dtype, n);
  // Branch-free (a data-dependent branch per element mispredicts half the time); NaN stays NaN.
  for (let i = 0; i < n; i++) y[i] = Math.max(xd[i]!, 0);
  return record(new Tensor(y, x.shape), [x], (g) => {
    const gx = allocate(x.dtype, n);
    for (let i = 0; i < n; i++) gx[i] = g[i]! * +(xd[i]! > 0);
    return [gx];
  });
}
