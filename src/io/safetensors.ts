/**
 * Reader and writer for the safetensors checkpoint format
 * (https://github.com/huggingface/safetensors#format): an 8-byte little-endian header length N,
 * N bytes of UTF-8 JSON header, then the little-endian tensor bytes. Browser-safe.
 */

/** A file that does not follow the format it claims to; the message names the problem in one line. */
export class FormatError extends Error {
  override name = "FormatError";
}

export type SafetensorsDtype = "F64" | "F32" | "I32" | "I64" | "U8";
export type SafetensorsData = Float64Array | Float32Array | Int32Array | BigInt64Array | Uint8Array;

/** What encodeSafetensors accepts; the dtype must match the array type and the shape its length. */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: SafetensorsData;
}

/** What decodeSafetensors returns: the dtype tells the array type. */
export type DecodedTensor =
  | { dtype: "F64"; shape: number[]; data: Float64Array }
  | { dtype: "F32"; shape: number[]; data: Float32Array }
  | { dtype: "I32"; shape: number[]; data: Int32Array }
  | { dtype: "I64"; shape: number[]; data: BigInt64Array }
  | { dtype: "U8"; shape: number[]; data: Uint8Array };

export interface DecodedSafetensors {
  tensors: Record<string, DecodedTensor>;
  metadata: Record<string, string>;
}

interface DtypeInfo {
  itemsize: number;
  arrayType: { readonly name: string; new (buffer: ArrayBuffer): SafetensorsData };
}

const DTYPES: Record<SafetensorsDtype, DtypeInfo> = {
  F64: { itemsize: 8, arrayType: Float64Array },
  F32: { itemsize: 4, arrayType: Float32Array },
  I32: { itemsize: 4, arrayType: Int32Array },
  I64: { itemsize: 8, arrayType: BigInt64Array },
  U8: { itemsize: 1, arrayType: Uint8Array },
};

const METADATA_KEY = "__metadata__";
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === "string" && Object.hasOwn(DTYPES, s);
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Reverses the bytes of every item in place; only needed on big-endian hosts. */
function swapBytes(bytes: Uint8Array, itemsize: number): void {
  if (itemsize === 1) return;
  for (let i = 0; i < bytes.length; i += itemsize) bytes.subarray(i, i + itemsize).reverse();
}

/** A copy into a new buffer; not slice(), which on a Node Buffer returns a view. */
function copyBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/** A fresh little-endian copy of the array's bytes. */
export function littleEndianBytes(data: ArrayBufferView, itemsize: number): Uint8Array {
  const copy = copyBytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(copy, itemsize);
  return copy;
}

/** A fresh, aligned, host-endian copy of little-endian bytes (which may sit at any offset). */
export function alignedHostBytes(bytes: Uint8Array, itemsize: number): ArrayBuffer {
  const copy = copyBytes(bytes);
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(copy, itemsize);
  return copy.buffer;
}

function checkInputTensor(name: string, t: SafetensorsTensor): void {
  if (name === METADATA_KEY) throw new RangeError(`tensor name ${METADATA_KEY} is reserved for metadata`);
  const info = DTYPES[t.dtype];
  if (info === undefined) throw new RangeError(`tensor ${quoted(name)}: unknown dtype ${String(t.dtype)}`);
  if (!(t.data instanceof info.arrayType)) {
    throw new RangeError(
      `tensor ${quoted(name)}: dtype ${t.dtype} needs a ${info.arrayType.name}, got ${t.data.constructor.name}`,
    );
  }
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`tensor ${quoted(name)}: invalid shape [${t.shape.join(",")}]`);
    }
  }
  if (elementCount(t.shape) !== t.data.length) {
    throw new RangeError(
      `tensor ${quoted(name)}: shape [${t.shape.join(",")}] has ${elementCount(t.shape)} elements, data has ${t.data.length}`,
    );
  }
}

function checkMetadata(metadata: Record<string, string>): void {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw new RangeError(`metadata '${k}' must be a string, got ${typeof v}`);
  }
}

/** UTF-8 JSON header padded with spaces so the data region starts 8-byte aligned in the file. */
function encodeHeader(header: Record<string, unknown>): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

/**
 * Serializes tensors (laid out contiguously in sorted-name order) and optional string metadata.
 * `dataMetadata`, if given, sees the finished data region (the bytes after the header) and returns
 * more metadata entries, e.g. a content hash of the tensor data (src/io/files.ts adds `sha256`).
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensor>,
  metadata: Record<string, string> = {},
  dataMetadata?: (data: Uint8Array) => Record<string, string>,
): Uint8Array {
  checkMetadata(metadata);
  const names = Object.keys(tensors).sort();
  const layout: [string, unknown][] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    checkInputTensor(name, t);
    const end = offset + t.data.byteLength;
    layout.push([name, { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, end] }]);
    offset = end;
  }
  const data = new Uint8Array(offset);
  let pos = 0;
  for (const name of names) {
    const t = tensors[name]!;
    data.set(littleEndianBytes(t.data, DTYPES[t.dtype].itemsize), pos);
    pos += t.data.byteLength;
  }
  const meta = dataMetadata ? { ...metadata, ...dataMetadata(data) } : metadata;
  checkMetadata(meta);
  const entries: [string, unknown][] = Object.keys(meta).length > 0 ? [[METADATA_KEY, meta]] : [];
  // fromEntries rather than assignment, so that a tensor named "__proto__" stays an ordinary key.
  const header = encodeHeader(Object.fromEntries([...entries, ...layout]));
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

/**
 * Where the data region of a safetensors file starts (8 + the header length), for files that
 * decodeSafetensors accepted: the bytes a content hash in the metadata covers.
 */
export function safetensorsDataStart(bytes: Uint8Array): number {
  return 8 + readHeaderLength(bytes);
}

/** Header entry of one tensor after validation; offsets are relative to the data region. */
interface TensorSpec {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isNonNegativeIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/**
 * A name or value from a file, quoted for a one-line message: control characters escaped, at
 * most 40 characters, and never a walk through a nested value (JSON.stringify of a list nested
 * 100 000 deep overflows the stack).
 */
export function quoted(v: unknown, quote: "'" | '"' = "'"): string {
  if (typeof v === "string") {
    const s = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    return quote === '"' ? s : `'${s.slice(1, -1).replace(/\\"/g, '"')}'`;
  }
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  return typeof v === "object" ? "an object" : typeof v;
}

/** The header size limit of the reference implementation (huggingface/safetensors): 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A shape for a one-line message: at most 8 sizes shown. */
function shapeText(shape: readonly number[]): string {
  return shape.length <= 8
    ? `[${shape.join(",")}]`
    : `[${shape.slice(0, 4).join(",")},…,${shape.slice(-2).join(",")}] (${shape.length} dimensions)`;
}

function readHeaderLength(bytes: Uint8Array): number {
  if (bytes.length < 8) {
    throw new FormatError(
      `checkpoint is truncated: file has ${bytes.length} bytes, the header length alone needs 8`,
    );
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    throw new FormatError(
      `checkpoint is truncated or not safetensors: header length ${n} exceeds the ${bytes.length - 8} bytes after it`,
    );
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(`header of ${n} bytes exceeds the safetensors limit of ${MAX_HEADER_BYTES} bytes`);
  }
  return Number(n);
}

function parseHeaderJson(headerBytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw new FormatError("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(header)) throw new FormatError("header is not a JSON object");
  return header;
}

function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new FormatError(`${METADATA_KEY} is not a JSON object`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new FormatError(`metadata ${quoted(k)} is not a string`);
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

function parseTensorSpec(name: string, value: unknown): TensorSpec {
  if (!isRecord(value)) throw new FormatError(`tensor ${quoted(name)}: header entry is not a JSON object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isDtype(dtype)) {
    throw new FormatError(
      `tensor ${quoted(name)}: unsupported dtype ${quoted(dtype, '"')} (supported: ${Object.keys(DTYPES).join(", ")})`,
    );
  }
  if (!isNonNegativeIntArray(shape))
    throw new FormatError(`tensor ${quoted(name)}: shape is not a list of sizes`);
  if (!isNonNegativeIntArray(offsets) || offsets.length !== 2 || offsets[0]! > offsets[1]!) {
    throw new FormatError(`tensor ${quoted(name)}: data_offsets must be [begin, end] with begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const needed = elementCount(shape) * DTYPES[dtype].itemsize;
  if (end - begin !== needed) {
    throw new FormatError(
      `tensor ${quoted(name)}: shape ${shapeText(shape)} of ${dtype} needs ${needed} bytes, data_offsets give ${end - begin}`,
    );
  }
  return { name, dtype, shape, begin, end };
}

/** The data region must be exactly tiled by the tensors: no overlaps, no gaps, nothing missing or extra. */
function checkLayout(specs: TensorSpec[], dataLength: number): void {
  const sorted = [...specs].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let prev: TensorSpec | undefined;
  let pos = 0;
  for (const s of sorted) {
    if (s.begin < pos) {
      throw new FormatError(
        `tensors ${quoted(prev!.name)} and ${quoted(s.name)} overlap: [${prev!.begin},${prev!.end}) and [${s.begin},${s.end})`,
      );
    }
    if (s.begin > pos)
      throw new FormatError(`data region has a gap of ${s.begin - pos} bytes before ${quoted(s.name)}`);
    pos = s.end;
    prev = s;
  }
  if (pos > dataLength) {
    throw new FormatError(
      `checkpoint is truncated: header says ${pos} bytes of data, file has ${dataLength}`,
    );
  }
  if (pos < dataLength) {
    throw new FormatError(
      `file has ${dataLength - pos} unexpected bytes after the ${pos} bytes of tensor data`,
    );
  }
}

/** Parses and fully validates a safetensors file; tensor data is copied out into aligned arrays. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  const headerLength = readHeaderLength(bytes);
  const header = parseHeaderJson(bytes.subarray(8, 8 + headerLength));
  const metadata = parseMetadata(header[METADATA_KEY]);
  const specs = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, value]) => parseTensorSpec(name, value));
  const data = bytes.subarray(8 + headerLength);
  checkLayout(specs, data.length);
  const tensors = specs.map((s): [string, DecodedTensor] => {
    const { itemsize, arrayType } = DTYPES[s.dtype];
    const array = new arrayType(alignedHostBytes(data.subarray(s.begin, s.end), itemsize));
    return [s.name, { dtype: s.dtype, shape: s.shape, data: array } as DecodedTensor];
  });
  return { tensors: Object.fromEntries(tensors), metadata };
}
