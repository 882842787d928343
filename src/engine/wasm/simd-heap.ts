/**
 * The one WebAssembly.Memory that all SIMD kernel modules share, and a heap on it: regions
 * are handed out by byte size (16-byte aligned) and returned to a free list of that size,
 * as the scratch pool (../pool.ts) does for ordinary arrays. A training loop asks for the
 * same sizes every step, so after the first step nothing grows.
 *
 * Growing the memory detaches every view of it: keep byte offsets, make views when needed
 * (`view`), and do not hold a view across an `alloc`.
 */
import type { FloatArray } from "../tensor.js";

let memory: WebAssembly.Memory | null = null;
let top = 0;
const freeBySize = new Map<number, number[]>();
const liveSize = new Map<number, number>();

/** Room the heap may take: wasm32 addresses 4 GiB; leave headroom for the engine. */
export const HEAP_LIMIT = 3 * 1024 * 1024 * 1024;
let limit = HEAP_LIMIT;

/**
 * Cap the heap below HEAP_LIMIT (tests: what happens when it cannot grow; callers then fall
 * back to copying or to TypeScript kernels). Returns the previous cap.
 */
export function setHeapLimit(bytes: number): number {
  const old = limit;
  limit = Math.min(bytes, HEAP_LIMIT);
  return old;
}

export function wasmMemory(): WebAssembly.Memory {
  if (!memory) memory = new WebAssembly.Memory({ initial: 16 });
  return memory;
}

const rounded = (bytes: number) => Math.max(16, Math.ceil(bytes / 16) * 16);

/** Whether `bytes` more (in regions of these sizes) fit under HEAP_LIMIT without reuse. */
export function heapFits(bytes: number): boolean {
  return top + bytes <= limit;
}

/** A region of at least `bytes` bytes; its byte offset. Throws RangeError past the cap. */
export function alloc(bytes: number): number {
  const b = rounded(bytes);
  let off = freeBySize.get(b)?.pop();
  if (off === undefined) {
    if (top + b > limit) throw new RangeError(`WebAssembly heap: ${top + b} bytes exceed ${limit}`);
    off = top;
    top += b;
    const mem = wasmMemory();
    const have = mem.buffer.byteLength;
    if (top > have) mem.grow(Math.ceil((top - have) / 65536));
  }
  liveSize.set(off, b);
  return off;
}

export function free(...offsets: number[]): void {
  for (const off of offsets) {
    const b = liveSize.get(off);
    if (b === undefined) throw new Error(`WebAssembly heap: ${off} is not allocated`);
    liveSize.delete(off);
    let list = freeBySize.get(b);
    if (!list) freeBySize.set(b, (list = []));
    list.push(off);
  }
}

/** A fresh view of `length` elements at byte offset `off` (valid until the next alloc). */
export function view(dtype: "float64" | "float32", off: number, length: number): FloatArray {
  const buf = wasmMemory().buffer;
  return dtype === "float32" ? new Float32Array(buf, off, length) : new Float64Array(buf, off, length);
}

/** Bytes handed out and not returned (tests: nothing leaks). */
export function heapLiveBytes(): number {
  let s = 0;
  for (const b of liveSize.values()) s += b;
  return s;
}
