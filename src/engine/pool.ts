/**
 * A pool of scratch arrays for ops that keep big intermediates between their forward and
 * backward passes (the fused coupling layer, the periodic convolution). An op acquires its
 * scratch, and releases it when its backward has run, or at once when nothing was recorded
 * on a tape. Scratch never escapes into a Tensor that a caller can see: outputs and
 * cotangents are always fresh arrays, so tensors stay immutable values.
 *
 * The free lists are keyed by dtype and length, so a training loop reuses the same arrays
 * every step (flat memory, no garbage from the big arrays). An array whose op never ran its
 * backward (an abandoned tape) is simply not returned and left to the garbage collector.
 * Acquired arrays hold stale values: callers overwrite or fill them.
 */
import type { DType, FloatArray } from "./tensor.js";

const free = new Map<string, FloatArray[]>();
let pooledBytes = 0;
/** Past this many bytes of free arrays, released arrays are dropped instead of kept. */
let capBytes = 2 * 1024 * 1024 * 1024;

function key(dtype: DType, n: number): string {
  return dtype === "float32" ? `f${n}` : `d${n}`;
}

export function acquire(dtype: DType, n: number): FloatArray {
  const list = free.get(key(dtype, n));
  const a = list?.pop();
  if (a !== undefined) {
    pooledBytes -= a.byteLength;
    return a;
  }
  return dtype === "float32" ? new Float32Array(n) : new Float64Array(n);
}

/** As acquire, zero-filled. */
export function acquireZeroed(dtype: DType, n: number): FloatArray {
  const a = acquire(dtype, n);
  a.fill(0);
  return a;
}

export function release(...arrays: (FloatArray | null | undefined)[]): void {
  for (const a of arrays) {
    if (!a) continue;
    if (pooledBytes + a.byteLength > capBytes) continue;
    const k = key(a instanceof Float32Array ? "float32" : "float64", a.length);
    let list = free.get(k);
    if (!list) free.set(k, (list = []));
    list.push(a);
    pooledBytes += a.byteLength;
  }
}

/** Drop every pooled array (e.g. after a large sampling pass) and optionally set the cap. */
export function clearPool(newCapBytes?: number): void {
  free.clear();
  pooledBytes = 0;
  if (newCapBytes !== undefined) capBytes = newCapBytes;
}

/** Bytes currently held in free lists. */
export function poolBytes(): number {
  return pooledBytes;
}
