/** φ mod 2π in [−π, π): the principal value of an angle (U(1) plaquettes, the charge Q). */
export function wrapAngle(phi: number): number {
  return phi - 2 * Math.PI * Math.floor((phi + Math.PI) / (2 * Math.PI));
}
