/**
 * transpose(x, perm) as numpy.transpose / torch.permute: y.shape[i] = x.shape[perm[i]] and
 * y[i_0, …, i_{r−1}] = x[j] with j_{perm[k]} = i_k. perm defaults to the reversed axes (NumPy);
 * negative entries count from the end. Gradient: the cotangent under the inverse permutation.
 * The kernel first drops extent-1 axes and merges input axes that stay adjacent, so e.g.
 * [B, n, K] → [B, K, n] is a batch of 2-D transposes, done in cache-sized tiles; anything
 * else walks the output in order with a constant input stride in the innermost loop.
 */
import { record } from "../autodiff.js";
import { allocate, type FloatArray, Tensor } from "../tensor.js";
import { axisOf } from "./indices.js";

const TILE = 32;

/** out[c·rows + r] = src[r·cols + c] for one rows × cols matrix at the given offsets. */
function tile2d(src: FloatArray, so: number, out: FloatArray, oo: number, rows: number, cols: number) {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++)
        for (let c = c0; c < c1; c++) out[oo + c * rows + r] = src[so + r * cols + c]!;
    }
  }
}

/** Drop extent-1 axes and merge runs of input axes that stay adjacent in the output. */
function simplify(shape: readonly number[], perm: readonly number[]) {
  const renum: number[] = [];
  let kept = 0;
  for (const s of shape) renum.push(s === 1 ? -1 : kept++);
  const groups: number[][] = [];
  for (const a of perm) {
    if (renum[a] === -1) continue;
    const last = groups[groups.length - 1];
    if (last !== undefined && renum[last[last.length - 1]!] === renum[a]! - 1) last.push(a);
    else groups.push([a]);
  }
  const order = groups.map((_, i) => i).sort((i, j) => groups[i]![0]! - groups[j]![0]!);
  const dims = order.map((i) => groups[i]!.reduce((acc, a) => acc * shape[a]!, 1));
  const rank: number[] = [];
  for (let k = 0; k < order.length; k++) rank[order[k]!] = k;
  return { dims, perm: rank };
}

function permuteKernel(src: FloatArray, shape: readonly number[], perm0: readonly number[]): FloatArray {
  const out = allocate(src instanceof Float32Array ? "float32" : "float64", src.length);
  if (src.length === 0) return out;
  const { dims, perm } = simplify(shape, perm0);
  const r = perm.length;
  if (r <= 1) out.set(src);
  else if (r === 2) tile2d(src, 0, out, 0, dims[0]!, dims[1]!);
  else if (r === 3 && perm[0] === 0 && perm[1] === 2) {
    const m = dims[1]! * dims[2]!;
    for (let b = 0; b < dims[0]!; b++) tile2d(src, b * m, out, b * m, dims[1]!, dims[2]!);
  } else {
    const inStride: number[] = new Array(r);
    for (let d = r - 1, s = 1; d >= 0; d--) {
      inStride[d] = s;
      s *= dims[d]!;
    }
    const ext = perm.map((a) => dims[a]!);
    const st = perm.map((a) => inStride[a]!);
    const last = ext[r - 1]!;
    const sl = st[r - 1]!;
    const coord = new Array<number>(r - 1).fill(0);
    let j = 0;
    for (let k = 0; k < out.length; k += last) {
      for (let t = 0; t < last; t++) out[k + t] = src[j + t * sl]!;
      for (let d = r - 2; d >= 0; d--) {
        j += st[d]!;
        if (++coord[d]! < ext[d]!) break;
        j -= st[d]! * ext[d]!;
        coord[d] = 0;
      }
    }
  }
  return out;
}

export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const r = x.rank;
  const p =
    perm === undefined ? x.shape.map((_, i) => r - 1 - i) : perm.map((a) => axisOf("transpose", a, x.shape));
  if (p.length !== r || new Set(p).size !== r)
    throw new RangeError(`transpose: [${perm}] is not a permutation of the axes of [${x.shape}]`);
  const shape = p.map((a) => x.shape[a]!);
  const inv: number[] = new Array(r);
  for (let i = 0; i < r; i++) inv[p[i]!] = i;
  const y = permuteKernel(x.data, x.shape, p);
  return record(new Tensor(y, shape), [x], (g) => [permuteKernel(g, shape, inv)]);
}
