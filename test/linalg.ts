/** log|det A| of a dense n×n matrix by LU with partial pivoting (for brute-force Jacobian tests). */
export function logAbsDet(a: Float64Array, n: number): number {
  const m = Float64Array.from(a);
  let acc = 0;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i * n + k]!) > Math.abs(m[p * n + k]!)) p = i;
    if (m[p * n + k] === 0) return -Infinity;
    if (p !== k) for (let j = 0; j < n; j++) [m[k * n + j], m[p * n + j]] = [m[p * n + j]!, m[k * n + j]!];
    const piv = m[k * n + k]!;
    acc += Math.log(Math.abs(piv));
    for (let i = k + 1; i < n; i++) {
      const f = m[i * n + k]! / piv;
      for (let j = k; j < n; j++) m[i * n + j]! -= f * m[k * n + j]!;
    }
  }
  return acc;
}
