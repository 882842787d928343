/** Row-major periodic lattice geometry shared by theories, observables and the engine. */

/** Number of sites of a lattice of the given extents. */
export function latticeVolume(shape: readonly number[]): number {
  let v = 1;
  for (const n of shape) v *= n;
  return v;
}

/** Row-major strides of a lattice of the given extents. */
export function latticeStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

/**
 * Index table of the site reached from every site by a periodic shift `offset`
 * (one integer per dimension): table[x] = index of x + offset (mod shape).
 */
export function shiftTable(shape: readonly number[], offset: readonly number[]): Int32Array {
  const v = latticeVolume(shape);
  const strides = latticeStrides(shape);
  const table = new Int32Array(v);
  const d = shape.length;
  const coord = new Array<number>(d).fill(0);
  for (let x = 0; x < v; x++) {
    let y = 0;
    for (let k = 0; k < d; k++) {
      const n = shape[k]!;
      const c = (((coord[k]! + offset[k]!) % n) + n) % n;
      y += c * strides[k]!;
    }
    table[x] = y;
    for (let k = d - 1; k >= 0; k--) {
      if (++coord[k]! < shape[k]!) break;
      coord[k] = 0;
    }
  }
  return table;
}

/** Tables of the forward (x+μ̂) and backward (x−μ̂) neighbours for each dimension μ. */
export function neighbourTables(shape: readonly number[]): { up: Int32Array[]; down: Int32Array[] } {
  const up: Int32Array[] = [];
  const down: Int32Array[] = [];
  for (let mu = 0; mu < shape.length; mu++) {
    const e = shape.map((_, k) => (k === mu ? 1 : 0));
    up.push(shiftTable(shape, e));
    down.push(
      shiftTable(
        shape,
        e.map((c) => -c),
      ),
    );
  }
  return { up, down };
}

/**
 * Checks an Ising lattice: 1 or more dimensions, every extent an integer ≥ 2. Returns N.
 * `who` prefixes the RangeError message.
 */
export function checkIsingLattice(who: string, latticeShape: readonly number[]): number {
  if (!Array.isArray(latticeShape) || latticeShape.length < 1)
    throw new RangeError(
      `${who}: latticeShape must be a non-empty array, got ${JSON.stringify(latticeShape)}`,
    );
  for (const L of latticeShape)
    if (!Number.isInteger(L) || L < 2)
      throw new RangeError(
        `${who}: lattice extents must be integers ≥ 2 (extent 1 would make the periodic bond ` +
          `(x, x+μ̂) a self-loop), got ${JSON.stringify(latticeShape)}`,
      );
  return latticeVolume(latticeShape);
}
