/**
 * Reverse-mode autodiff with one mechanism: `valueAndGrad(f)(params, ...args)`.
 *
 * While f runs, a tape is active; every op whose inputs include a tracked tensor records
 * a node {inputs, output, backward}. Afterwards the nodes are visited in reverse order and
 * each backward maps the output's cotangent to its inputs' cotangents (vector–Jacobian
 * products). Ops without tracked inputs record nothing, so constants cost nothing.
 */
import { allocate, type FloatArray, Tensor } from "./tensor.js";

/** Cotangents of the inputs given the output's; `needs[i]` is false where none is wanted. */
export type Backward = (gOut: FloatArray, needs: readonly boolean[]) => (FloatArray | null)[];

interface TapeNode {
  inputs: readonly Tensor[];
  output: Tensor;
  backward: Backward;
}

let active: { id: number; nodes: TapeNode[] } | null = null;
let nextTapeId = 1;

function isTracked(t: Tensor): boolean {
  return active !== null && t.tapeId === active.id;
}

/** Whether an op of these inputs would be recorded on the active tape. */
export function willRecord(inputs: readonly Tensor[]): boolean {
  if (active === null) return false;
  for (const t of inputs) if (isTracked(t)) return true;
  return false;
}

/** Record `output = op(inputs)` on the active tape if any input is tracked. Returns output. */
export function record(output: Tensor, inputs: readonly Tensor[], backward: Backward): Tensor {
  if (active === null) return output;
  for (const t of inputs) {
    if (isTracked(t)) {
      output.tapeId = active.id;
      active.nodes.push({ inputs, output, backward });
      return output;
    }
  }
  return output;
}

/** t as a constant: the same data on no tape, so no cotangent flows back through it. */
export function stopGradient(t: Tensor): Tensor {
  return new Tensor(t.data, t.shape);
}

export type Params = Record<string, Tensor>;
export type Grads<P extends Params> = { [K in keyof P]: Tensor };

function run<P extends Params, R>(
  f: () => { loss: Tensor; rest: R },
  params: P,
): { loss: Tensor; rest: R; grads: Grads<P> } {
  if (active !== null) throw new Error("valueAndGrad cannot be nested");
  const tape = { id: nextTapeId++, nodes: [] as TapeNode[] };
  const leaves = new Map<Tensor, string>();
  for (const [name, p] of Object.entries(params)) {
    p.tapeId = tape.id;
    leaves.set(p, name);
  }
  active = tape;
  let out: { loss: Tensor; rest: R };
  try {
    out = f();
  } finally {
    active = null;
  }
  const loss = out.loss;
  if (loss.size !== 1) throw new RangeError(`valueAndGrad needs a scalar loss, got shape [${loss.shape}]`);
  const cot = new Map<Tensor, FloatArray>();
  // Backwards may hand one array to several inputs (add: the output's cotangent to both
  // operands; reshape: passed through), so a stored cotangent is never added into in place
  // until it is a private copy: the first accumulation copies it and remembers the copy.
  const owned = new Set<FloatArray>();
  const seed = allocate(loss.dtype, 1);
  seed[0] = 1;
  cot.set(loss, seed);
  for (let i = tape.nodes.length - 1; i >= 0; i--) {
    const node = tape.nodes[i]!;
    const g = cot.get(node.output);
    if (g === undefined) continue;
    cot.delete(node.output);
    owned.delete(g); // handed to a backward, which may pass it on to several inputs
    const needs = node.inputs.map((t) => t.tapeId === tape.id);
    const gIn = node.backward(g, needs);
    for (let k = 0; k < node.inputs.length; k++) {
      const gi = gIn[k];
      if (!needs[k] || gi === null || gi === undefined) continue;
      const t = node.inputs[k]!;
      const prev = cot.get(t);
      if (prev === undefined) {
        cot.set(t, gi);
        continue;
      }
      let acc = prev;
      if (!owned.has(acc)) {
        acc = prev.slice();
        owned.add(acc);
        cot.set(t, acc);
      }
      for (let j = 0; j < acc.length; j++) acc[j]! += gi[j];
    }
  }
  const grads = {} as Record<string, Tensor>;
  for (const [p, name] of leaves) {
    p.tapeId = 0;
    grads[name] = new Tensor(cot.get(p) ?? allocate(p.dtype, p.size), p.shape);
  }
  // Tensors made during f keep a stale tapeId that can never match a future tape.
  return { loss, rest: out.rest, grads: grads as Grads<P> };
}

/** Value and gradient of a scalar function of named parameters (extra args are constants). */
export function valueAndGrad<P extends Params, A extends unknown[]>(
  f: (params: P, ...args: A) => Tensor,
): (params: P, ...args: A) => { value: number; grads: Grads<P> } {
  return (params, ...args) => {
    const r = run(() => ({ loss: f(params, ...args), rest: null }), params);
    return { value: r.loss.item(), grads: r.grads };
  };
}

/** As valueAndGrad, for an f that also returns auxiliary outputs (not differentiated). */
export function valueAndGradWithAux<P extends Params, A extends unknown[], X>(
  f: (params: P, ...args: A) => { loss: Tensor; aux: X },
): (params: P, ...args: A) => { value: number; aux: X; grads: Grads<P> } {
  return (params, ...args) => {
    const r = run(() => {
      const o = f(params, ...args);
      return { loss: o.loss, rest: o.aux };
    }, params);
    return { value: r.loss.item(), aux: r.rest, grads: r.grads };
  };
}
