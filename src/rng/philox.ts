/**
 * Philox4x32-10, the counter-based generator of Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3" (SC'11). Output block n is a pure function of (key, n): a stream is
 * reproducible bit for bit, can be saved as two numbers (seed, counter) and split by
 * counter ranges without coordination.
 *
 * Derived draws (documented so other implementations can match them):
 * - uniform(): one block per draw; u = ((w0 >>> 5)·2^26 + (w1 >>> 6)) / 2^53 ∈ [0, 1).
 * - normal(out): one block per pair; Box–Muller with u1 = 1 − u(w0, w1) ∈ (0, 1],
 *   u2 = u(w2, w3): z0 = √(−2 ln u1)·cos(2π u2), z1 = √(−2 ln u1)·sin(2π u2).
 *   ln, cos and sin are src/math's (fdlibm), not the engine's Math, so every engine gives
 *   the same bits (in Node they equal Math.log/cos/sin exactly).
 */
import * as math from "../math/index.js";
import type { RandomSource } from "../mcmc/random.js";

/** sin and cos of the Box–Muller angle. */
const sc = new Float64Array(2);

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32s, exactly, with 16-bit limbs. */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = al * bl;
  const hl = ah * bl;
  const lh = al * bh;
  const cross = (ll >>> 16) + (hl & 0xffff) + lh;
  return (ah * bh + (hl >>> 16) + Math.floor(cross / 65536)) >>> 0;
}

/** One Philox4x32-10 block: counter (4 words) and key (2 words) → 4 words, written into out. */
export function philox4x32(ctr: ArrayLike<number>, key: ArrayLike<number>, out: Uint32Array): void {
  let c0 = ctr[0]! >>> 0;
  let c1 = ctr[1]! >>> 0;
  let c2 = ctr[2]! >>> 0;
  let c3 = ctr[3]! >>> 0;
  let k0 = key[0]! >>> 0;
  let k1 = key[1]! >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

const TWO_POW_32 = 4294967296;

function u53(a: number, b: number): number {
  return ((a >>> 5) * 67108864 + (b >>> 6)) / 9007199254740992;
}

/** Serializable generator state: a seed (the key) and the index of the next block. */
export interface RngState {
  seed: number;
  counter: number;
}

export class Rng implements RandomSource {
  private readonly key: Uint32Array;
  private readonly ctr = new Uint32Array(4);
  private readonly block = new Uint32Array(4);
  /** Index of the next block to draw. */
  counter: number;

  /** `seed` is a non-negative integer below 2^53; `counter` resumes a saved stream. */
  constructor(
    readonly seed: number,
    counter = 0,
  ) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`seed must be an integer ≥ 0, got ${seed}`);
    this.key = new Uint32Array([seed % TWO_POW_32, Math.floor(seed / TWO_POW_32)]);
    this.counter = counter;
  }

  static fromState(s: RngState): Rng {
    return new Rng(s.seed, s.counter);
  }

  state(): RngState {
    return { seed: this.seed, counter: this.counter };
  }

  /** An independent generator for a sub-stream (e.g. a worker, a chain): key hashed with `id`. */
  split(id: number): Rng {
    this.ctr[0] = id % TWO_POW_32;
    this.ctr[1] = Math.floor(id / TWO_POW_32);
    this.ctr[2] = 0x5eed;
    this.ctr[3] = 0x5eed;
    philox4x32(this.ctr, this.key, this.block);
    return new Rng(this.block[0]! + (this.block[1]! & 0x1fffff) * TWO_POW_32);
  }

  private next(): Uint32Array {
    const n = this.counter++;
    this.ctr[0] = n % TWO_POW_32;
    this.ctr[1] = Math.floor(n / TWO_POW_32);
    this.ctr[2] = 0;
    this.ctr[3] = 0;
    philox4x32(this.ctr, this.key, this.block);
    return this.block;
  }

  uniform(): number {
    const b = this.next();
    return u53(b[0]!, b[1]!);
  }

  /** Fill `out` with standard normal draws. */
  normal(out: Float64Array | Float32Array): void {
    for (let i = 0; i < out.length; i += 2) {
      const b = this.next();
      const r = Math.sqrt(-2 * math.log(1 - u53(b[0]!, b[1]!)));
      math.sincos(2 * Math.PI * u53(b[2]!, b[3]!), sc);
      out[i] = r * sc[1]!;
      if (i + 1 < out.length) out[i + 1] = r * sc[0]!;
    }
  }
}
