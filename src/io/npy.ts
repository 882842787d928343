/**
 * Reader and writer for NumPy .npy arrays of little-endian float64/float32 in C order
 * (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html). Browser-safe.
 */
import { alignedHostBytes, FormatError, littleEndianBytes, quoted } from "./safetensors.js";

export { FormatError };

export type NpyDtype = "<f8" | "<f4";

export type DecodedNpy =
  | { dtype: "<f8"; shape: number[]; data: Float64Array }
  | { dtype: "<f4"; shape: number[]; data: Float32Array };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
// numpy aligns the data to 64 bytes so it can be memory-mapped for any dtype.
const ALIGN = 64;

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Python's repr of a tuple of ints: (), (3,), (2, 3). */
function shapeRepr(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/** A shape for a one-line message: at most 8 sizes shown. */
function shapeText(shape: readonly number[]): string {
  return shape.length <= 8
    ? shapeRepr(shape)
    : `(${shape.slice(0, 4).join(", ")}, …, ${shape.slice(-2).join(", ")}) (${shape.length} dimensions)`;
}

/** Magic, version, header length and header (space padded, ending in '\n') before the data. */
function encodePreamble(dtype: NpyDtype, shape: readonly number[]): Uint8Array {
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  const padded = (prefix: number) => Math.ceil((prefix + dict.length + 1) / ALIGN) * ALIGN;
  // Version 1.0 stores the header length in 2 bytes; only absurdly many dimensions need 2.0's 4 bytes.
  const prefix = padded(10) - 10 <= 0xffff ? 10 : 12;
  const total = padded(prefix);
  const out = new Uint8Array(total).fill(0x20);
  out.set(MAGIC);
  const view = new DataView(out.buffer);
  view.setUint8(6, prefix === 10 ? 1 : 2);
  view.setUint8(7, 0);
  if (prefix === 10) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  out[total - 1] = 0x0a;
  return out;
}

/** Serializes a C-order float64 or float32 array as NPY version 1.0. */
export function encodeNpy(data: Float64Array | Float32Array, shape: readonly number[]): Uint8Array {
  if (!(data instanceof Float64Array || data instanceof Float32Array)) {
    throw new RangeError("encodeNpy needs a Float64Array or Float32Array");
  }
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(`invalid shape [${shape.join(",")}]`);
  }
  if (elementCount(shape) !== data.length) {
    throw new RangeError(
      `shape [${shape.join(",")}] has ${elementCount(shape)} elements, data has ${data.length}`,
    );
  }
  const dtype: NpyDtype = data instanceof Float64Array ? "<f8" : "<f4";
  const preamble = encodePreamble(dtype, shape);
  const out = new Uint8Array(preamble.length + data.byteLength);
  out.set(preamble);
  out.set(littleEndianBytes(data, data.BYTES_PER_ELEMENT), preamble.length);
  return out;
}

type PyValue = string | boolean | number | number[];

/**
 * Parser for the header, a Python dict literal. Only what numpy writes for plain (non-structured)
 * dtypes is accepted: string keys; string, bool, int and int-tuple values. Never eval'd.
 */
class PyLiteralParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parseDict(): Map<string, PyValue> {
    const dict = new Map<string, PyValue>();
    this.expect("{");
    while (!this.eat("}")) {
      const key = this.parseString();
      if (dict.has(key)) this.fail(`duplicate key ${quoted(key)}`);
      this.expect(":");
      dict.set(key, this.parseValue());
      if (!this.eat(",")) {
        this.expect("}");
        break;
      }
    }
    this.skipSpace();
    if (this.pos !== this.text.length) this.fail("unexpected text after the dict");
    return dict;
  }

  private parseValue(): PyValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === "'" || c === '"') return this.parseString();
    if (c === "(") return this.parseTuple();
    if (this.eatWord("True")) return true;
    if (this.eatWord("False")) return false;
    return this.parseInt();
  }

  private parseTuple(): number[] {
    this.expect("(");
    const items: number[] = [];
    let trailingComma = false;
    while (!this.eat(")")) {
      items.push(this.parseInt());
      trailingComma = this.eat(",");
      if (!trailingComma) {
        this.expect(")");
        break;
      }
    }
    // In Python "(3)" is the int 3, not a tuple.
    if (items.length === 1 && !trailingComma) this.fail("one-element tuple without trailing comma");
    return items;
  }

  private parseInt(): number {
    this.skipSpace();
    // Python 2 numpy wrote longs as 3L. Sticky: matched in place, not on a copy of the rest.
    const re = /\d+L?/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (m === null) this.fail("expected a string, bool, int or tuple");
    this.pos += m[0].length;
    const n = Number.parseInt(m[0], 10);
    if (!Number.isSafeInteger(n))
      this.fail(
        `integer ${m[0].length > 24 ? `${m[0].slice(0, 24)}… (${m[0].length} digits)` : m[0]} is too large`,
      );
    return n;
  }

  private parseString(): string {
    this.skipSpace();
    const quote = this.text[this.pos];
    if (quote !== "'" && quote !== '"') this.fail("expected a quoted string");
    const end = this.text.indexOf(quote, this.pos + 1);
    if (end < 0) this.fail("unterminated string");
    const s = this.text.slice(this.pos + 1, end);
    if (s.includes("\\")) this.fail("escape sequences are not supported");
    this.pos = end + 1;
    return s;
  }

  private skipSpace(): void {
    const re = /\s*/y;
    re.lastIndex = this.pos;
    re.exec(this.text);
    this.pos = re.lastIndex;
  }

  private eat(token: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  private eatWord(word: string): boolean {
    if (!this.text.startsWith(word, this.pos) || /\w/.test(this.text[this.pos + word.length] ?? ""))
      return false;
    this.pos += word.length;
    return true;
  }

  private expect(token: string): void {
    if (!this.eat(token)) this.fail(`expected '${token}'`);
  }

  private fail(problem: string): never {
    throw new FormatError(`npy header is not a valid dict literal: ${problem} at character ${this.pos}`);
  }
}

interface Preamble {
  headerText: string;
  dataStart: number;
}

function readPreamble(bytes: Uint8Array): Preamble {
  if (bytes.length < 10)
    throw new FormatError(`npy file is truncated: ${bytes.length} bytes, no room for a header`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw new FormatError("not an npy file: bad magic string");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw new FormatError(`unsupported npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix)
    throw new FormatError(`npy file is truncated: ${bytes.length} bytes, no room for a header`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = prefix + headerLength;
  if (dataStart > bytes.length) {
    throw new FormatError(
      `npy file is truncated: header says ${headerLength} bytes, file has ${bytes.length - prefix}`,
    );
  }
  const headerBytes = bytes.subarray(prefix, dataStart);
  // Versions 1.0 and 2.0 store the header as latin1, 3.0 as UTF-8.
  return { headerText: major === 3 ? decodeUtf8(headerBytes) : decodeLatin1(headerBytes), dataStart };
}

function decodeLatin1(bytes: Uint8Array): string {
  // Exact latin1 (TextDecoder's "latin1" is windows-1252), in chunks that fit an argument list.
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 8192) {
    parts.push(String.fromCharCode(...bytes.subarray(i, i + 8192)));
  }
  return parts.join("");
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError("npy header is not valid UTF-8");
  }
}

interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
}

function interpretHeader(dict: Map<string, PyValue>): NpyHeader {
  const keys = [...dict.keys()].sort();
  if (keys.join(", ") !== "descr, fortran_order, shape") {
    const has =
      keys.length > 6
        ? [...keys.slice(0, 6).map((k) => quoted(k)), `… (${keys.length} keys)`]
        : keys.map((k) => quoted(k));
    throw new FormatError(
      `npy header must have keys descr, fortran_order, shape; has ${has.join(", ") || "none"}`,
    );
  }
  const descr = dict.get("descr");
  if (descr !== "<f8" && descr !== "<f4") {
    throw new FormatError(`unsupported npy dtype ${quoted(descr, '"')} (supported: '<f8', '<f4')`);
  }
  const fortranOrder = dict.get("fortran_order");
  if (typeof fortranOrder !== "boolean") throw new FormatError("npy header: fortran_order is not a bool");
  if (fortranOrder)
    throw new FormatError("unsupported npy layout: fortran_order is True (only C order is read)");
  const shape = dict.get("shape");
  if (!Array.isArray(shape)) throw new FormatError("npy header: shape is not a tuple of ints");
  return { dtype: descr, shape };
}

/** Parses and validates an NPY file (versions 1.0-3.0, '<f8' or '<f4', C order); data is copied out aligned. */
export function decodeNpy(bytes: Uint8Array): DecodedNpy {
  const { headerText, dataStart } = readPreamble(bytes);
  const { dtype, shape } = interpretHeader(new PyLiteralParser(headerText).parseDict());
  const itemsize = dtype === "<f8" ? 8 : 4;
  const needed = elementCount(shape) * itemsize;
  const available = bytes.length - dataStart;
  if (available < needed) {
    throw new FormatError(
      `npy file is truncated: shape ${shapeText(shape)} needs ${needed} bytes, file has ${available}`,
    );
  }
  if (available > needed) {
    throw new FormatError(
      `npy file has ${available - needed} unexpected bytes after the ${needed} bytes of data`,
    );
  }
  const buffer = alignedHostBytes(bytes.subarray(dataStart), itemsize);
  return dtype === "<f8"
    ? { dtype, shape, data: new Float64Array(buffer) }
    : { dtype, shape, data: new Float32Array(buffer) };
}
