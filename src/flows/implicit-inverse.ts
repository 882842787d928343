/**
 * The inverse of an elementwise circle map, differentiable by the implicit function theorem.
 * With x* = h⁻¹(y; θ) found numerically (Newton's method, a closed form: no tape) and
 * h' = ∂h/∂x at x*,
 *
 *   x = x* − [c − stop(c)],   c = w(h(x*; θ) − y) / stop(h'),
 *
 * has the value x* exactly (c − c = 0) and the derivatives of h⁻¹: ∂x/∂y = 1/h', ∂x/∂θ =
 * −∂_θh/h'. w wraps the residual into (−π, π] (h(x*) may round to the far side of 0 ≡ 2π); it is
 * constant, so it does not touch the derivatives. log|dx/dy| has the plain inverse's value and
 * the derivatives of −log h'(x; θ), taken through the forward op at that x (the same trick:
 * ℓ* + [ℓ − stop(ℓ)]), so in y (through x) and in θ. The NLL, the path gradient and REINFORCE
 * (src/train) need log q(x) differentiable in θ at fixed x. The values are the plain inverse's
 * bit for bit, taped or not.
 */
import { add, div, exp, neg, stopGradient, sub, Tensor, willRecord } from "../engine/index.js";

type ElementwiseMap = (x: Tensor, theta: Tensor) => { y: Tensor; logDet: Tensor };

const TWO_PI = 2 * Math.PI;

export function implicitInverse(
  y: Tensor,
  theta: Tensor,
  forward: ElementwiseMap,
  inverse: (y: Tensor, theta: Tensor) => { x: Tensor; logDet: Tensor },
): { x: Tensor; logDet: Tensor } {
  if (!willRecord([y, theta])) return inverse(y, theta);
  const plain = inverse(stopGradient(y), stopGradient(theta));
  const xStar = stopGradient(plain.x);
  const at = forward(xStar, theta);
  const residual = sub(at.y, y);
  const wrap = residual.data.slice();
  for (let i = 0; i < wrap.length; i++) wrap[i] = TWO_PI * Math.round(residual.data[i]! / TWO_PI);
  const c = div(sub(residual, new Tensor(wrap, residual.shape)), stopGradient(exp(at.logDet)));
  const x = sub(xStar, sub(c, stopGradient(c)));
  const logDet = neg(forward(x, theta).logDet);
  return { x, logDet: add(stopGradient(plain.logDet), sub(logDet, stopGradient(logDet))) };
}
