/**
 * A replay buffer of lattice configurations, NeuralRG's `Buffer` of the oldstable `MClearn`
 * (Li & Wang, arXiv 1802.02840), whose NLL term trains the flow on Metropolis–Hastings samples:
 *
 *   a ring of `capacity` configurations: `push` writes into the slots in turn, overwriting the
 *   oldest once the ring is full; `draw(rng, n)` picks n slots uniformly with replacement among
 *   the `size` filled ones, slot k = ⌊u·size⌋ for u = rng.uniform() ∈ [0, 1), one draw per
 *   configuration, so a draw is a pure function of the buffer and the generator's state.
 *
 * Storage matches the dtype of the first push (Float32Array for float32 training), so drawn
 * configurations are bit for bit those pushed. The event shape is also fixed by the first push.
 */
import { allocate, type DType, type FloatArray, Tensor } from "../engine/index.js";
import type { Rng } from "../rng/philox.js";

export class ReplayBuffer {
  private data: FloatArray | null = null;
  private shape: readonly number[] = [];
  private volume = 0;
  /** The slot the next configuration goes to. */
  private next = 0;
  private filled = 0;

  /** `capacity`: configurations held (NeuralRG: 10 × batch). */
  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1))
      throw new RangeError(`replay buffer: capacity must be a positive integer, got ${capacity}`);
  }

  /** Configurations held (at most `capacity`). */
  get size(): number {
    return this.filled;
  }

  /** The storage dtype (that of the first push); null while empty. */
  get dtype(): DType | null {
    return this.data === null ? null : this.data instanceof Float32Array ? "float32" : "float64";
  }

  /** Append the n configurations of x, shape [n, ...event], in order, overwriting the oldest. */
  push(x: Tensor): void {
    const n = x.shape[0] ?? 0;
    const event = x.shape.slice(1);
    if (this.data === null) {
      this.shape = event;
      this.volume = n > 0 ? x.size / n : event.reduce((a, b) => a * b, 1);
      this.data = allocate(x.dtype, this.capacity * this.volume);
    } else if (event.join(",") !== this.shape.join(",") || x.dtype !== this.dtype) {
      throw new RangeError(
        `replay buffer: holds ${this.dtype} configurations of shape [${this.shape}], got ${x.dtype} [${event}]`,
      );
    }
    const v = this.volume;
    for (let b = 0; b < n; b++) {
      this.data.set(x.data.subarray(b * v, (b + 1) * v), this.next * v);
      this.next = (this.next + 1) % this.capacity;
      if (this.filled < this.capacity) this.filled++;
    }
  }

  /** n configurations drawn uniformly with replacement, shape [n, ...event]. */
  draw(rng: Pick<Rng, "uniform">, n: number): Tensor {
    if (this.data === null || this.filled === 0)
      throw new RangeError("replay buffer: draw from an empty buffer");
    if (!(Number.isInteger(n) && n >= 0))
      throw new RangeError(`replay buffer: cannot draw ${n} configurations`);
    const v = this.volume;
    const out = allocate(this.dtype!, n * v);
    for (let b = 0; b < n; b++) {
      const k = Math.floor(rng.uniform() * this.filled);
      out.set(this.data.subarray(k * v, (k + 1) * v), b * v);
    }
    return new Tensor(out, [n, ...this.shape]);
  }

  /** Every configuration held, oldest first, shape [size, ...event] (for tests and inspection). */
  contents(): Tensor {
    if (this.data === null) throw new RangeError("replay buffer: empty");
    const v = this.volume;
    const out = allocate(this.dtype!, this.filled * v);
    const first = this.filled < this.capacity ? 0 : this.next;
    for (let i = 0; i < this.filled; i++) {
      const k = (first + i) % this.capacity;
      out.set(this.data.subarray(k * v, (k + 1) * v), i * v);
    }
    return new Tensor(out, [this.filled, ...this.shape]);
  }
}
