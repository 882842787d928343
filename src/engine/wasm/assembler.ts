/**
 * A minimal WebAssembly assembler: just enough to emit the run-time generated SIMD kernels
 * (simd-conv.ts, simd-couple.ts) as binary modules, with no toolchain and no build step.
 * Opcodes are written as numbers at the call sites, with the instruction's name beside them.
 */
export const I32 = 0x7f;
export const V128 = 0x7b;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

export function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

export function str(s: string): number[] {
  const b = Array.from(new TextEncoder().encode(s));
  return [...uleb(b.length), ...b];
}

/**
 * A whole module: functions of one type `type` importing memory `env.mem`, each exported under
 * its name. `named` pairs each name with its encoded body.
 */
export function wasmModule(type: number[], named: [string, number[]][]): Uint8Array {
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([type])),
    ...section(2, vec([[...str("env"), ...str("mem"), 0x02, 0x00, 0x01]])), // memory, min 1 page
    ...section(3, vec(named.map(() => [0]))),
    ...section(7, vec(named.map(([name], k) => [...str(name), 0x00, k]))),
    ...section(10, [...uleb(named.length), ...named.flatMap(([, body]) => body)]),
  ];
  return new Uint8Array(bytes);
}

/** Function body builder: locals are numbered after the parameters. */
export class Code {
  readonly ops: number[] = [];
  private readonly locals: number[] = [];
  constructor(private readonly nParams: number) {}
  local(type: number): number {
    this.locals.push(type);
    return this.nParams + this.locals.length - 1;
  }
  get(i: number) {
    this.ops.push(0x20, ...uleb(i));
    return this;
  }
  set(i: number) {
    this.ops.push(0x21, ...uleb(i));
    return this;
  }
  i32(c: number) {
    this.ops.push(0x41, ...sleb(c));
    return this;
  }
  op(...bytes: number[]) {
    this.ops.push(...bytes);
    return this;
  }
  simd(opcode: number, ...imm: number[]) {
    this.ops.push(0xfd, ...uleb(opcode), ...imm);
    return this;
  }
  /** for (v = 0; v < limit(); v += step) body() — limit pushes an i32. */
  loop(v: number, limit: () => void, step: number, body: () => void) {
    this.i32(0).set(v);
    this.op(0x02, 0x40, 0x03, 0x40); // block, loop
    this.get(v);
    limit();
    this.op(0x4e, 0x0d, 1); // i32.ge_s, br_if 1
    body();
    this.get(v).i32(step).op(0x6a).set(v); // v += step
    this.op(0x0c, 0, 0x0b, 0x0b); // br 0, end, end
  }
  body(): number[] {
    const groups = this.locals.map((t) => [1, t]);
    const b = [...vec(groups), ...this.ops, 0x0b];
    return [...uleb(b.length), ...b];
  }
}
