/** Types of figure-patch.js (for the tests, which are TypeScript). */
export function changed(values: Record<string, unknown>, json: Map<string, string>): Record<string, unknown>;
export function hoist(
  vg: Record<string, unknown>,
  cap?: number,
): {
  skeleton: string;
  data: Record<string, unknown[]>;
  signals: Record<string, unknown>;
  restore(): void;
};
export function thin<T extends object>(values: T[], cap: number): T[];
