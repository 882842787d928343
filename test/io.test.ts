/**
 * safetensors and .npy codecs: round trips, rejection of malformed files, atomic writes, and a
 * cross-check against NumPy (skipped when python3 with numpy is not available).
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  readNpyFile,
  readSafetensorsFile,
  writeFileAtomic,
  writeNpyFile,
  writeSafetensorsFile,
} from "../src/io/files.js";
import { decodeNpy, encodeNpy } from "../src/io/npy.js";
import {
  type DecodedTensor,
  decodeSafetensors,
  encodeSafetensors,
  FormatError,
  type SafetensorsTensor,
} from "../src/io/safetensors.js";

// Lets the atomic-write tests make node:fs fail at a chosen step; everything else passes through.
const fsFaults = vi.hoisted(() => ({ failRename: false, failWriteAfterBytes: -1 }));
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const fail = (code: string) => Object.assign(new Error(`simulated ${code}`), { code });
  return {
    ...fs,
    renameSync: (from: string, to: string) => {
      if (fsFaults.failRename) throw fail("EIO");
      fs.renameSync(from, to);
    },
    writeFileSync: (...args: Parameters<typeof fs.writeFileSync>) => {
      const [file, data] = args;
      if (typeof file === "number" && fsFaults.failWriteAfterBytes >= 0) {
        // A disk filling up mid-write: part of the data lands, then the write fails.
        fs.writeSync(file, String(data).slice(0, fsFaults.failWriteAfterBytes));
        throw fail("ENOSPC");
      }
      fs.writeFileSync(...args);
    },
  };
});

const enc = new TextEncoder();

function sampleTensors(): Record<string, SafetensorsTensor> {
  return {
    weight: { dtype: "F64", shape: [2, 3], data: Float64Array.from([1.5, -2.25, 0, -0, 1e-300, 1e300]) },
    bias: { dtype: "F32", shape: [4], data: Float32Array.from([0.1, -1, 3.5, 65504]) },
    scalar: { dtype: "I32", shape: [], data: Int32Array.from([-7]) },
    step: { dtype: "I64", shape: [2, 2], data: BigInt64Array.from([0n, -1n, 2n ** 62n + 3n, -(2n ** 63n)]) },
    mask: { dtype: "U8", shape: [3, 1, 2], data: Uint8Array.from([0, 1, 255, 7, 128, 9]) },
    empty: { dtype: "F64", shape: [2, 0], data: new Float64Array(0) },
  };
}

/** Bitwise comparison, so NaN and -0 count as preserved only if their bits are. */
function bytesOf(data: ArrayBufferView): number[] {
  return Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function expectSameTensors(
  got: Record<string, DecodedTensor>,
  want: Record<string, SafetensorsTensor>,
): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const g = got[name]!;
    expect(g.dtype).toBe(w.dtype);
    expect(g.shape).toEqual(w.shape);
    expect(g.data.constructor).toBe(w.data.constructor);
    expect(bytesOf(g.data)).toEqual(bytesOf(w.data));
  }
}

/** A safetensors file from a raw header (object or text) and data bytes; the header is not padded. */
function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = enc.encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectFormatError(f: () => unknown, message?: RegExp): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(FormatError);
  const text = (thrown as Error).message;
  expect(text).not.toContain("\n");
  if (message) expect(text).toMatch(message);
}

describe("safetensors encode/decode", () => {
  it("round-trips every dtype and 0-d, 1-d, multi-d and empty shapes, with metadata", () => {
    const tensors = sampleTensors();
    const metadata = { format: "pt", note: "ünïcode ✓", empty: "" };
    const decoded = decodeSafetensors(encodeSafetensors(tensors, metadata));
    expectSameTensors(decoded.tensors, tensors);
    expect(decoded.metadata).toEqual(metadata);
  });

  it("round-trips with no metadata and with empty metadata, omitting __metadata__", () => {
    const tensors = sampleTensors();
    for (const bytes of [encodeSafetensors(tensors), encodeSafetensors(tensors, {})]) {
      const decoded = decodeSafetensors(bytes);
      expectSameTensors(decoded.tensors, tensors);
      expect(decoded.metadata).toEqual({});
      expect(new TextDecoder().decode(bytes)).not.toContain("__metadata__");
    }
  });

  it("round-trips no tensors at all", () => {
    const decoded = decodeSafetensors(encodeSafetensors({}, { only: "metadata" }));
    expect(decoded).toEqual({ tensors: {}, metadata: { only: "metadata" } });
    expect(decodeSafetensors(encodeSafetensors({}))).toEqual({ tensors: {}, metadata: {} });
  });

  it("preserves NaN payloads, infinities and -0 bit for bit", () => {
    const f64 = new Float64Array([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0]);
    new DataView(f64.buffer).setBigUint64(0, 0x7ff8_dead_beef_0001n, true);
    const f32 = new Float32Array([Number.NaN, -0, Number.NEGATIVE_INFINITY]);
    const tensors: Record<string, SafetensorsTensor> = {
      a: { dtype: "F64", shape: [4], data: f64 },
      b: { dtype: "F32", shape: [3], data: f32 },
    };
    expectSameTensors(decodeSafetensors(encodeSafetensors(tensors)).tensors, tensors);
  });

  it("writes the exact byte layout of the format", () => {
    const bytes = encodeSafetensors({
      b: { dtype: "F32", shape: [1], data: Float32Array.from([1]) },
      a: { dtype: "I32", shape: [], data: Int32Array.from([0x01020304]) },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    const json =
      '{"a":{"dtype":"I32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expect(headerText).toBe(json.padEnd(n, " "));
    // Sorted-name order, little-endian: a = 0x01020304, then b = 1.0f.
    expect(Array.from(bytes.subarray(8 + n))).toEqual([4, 3, 2, 1, 0, 0, 0x80, 0x3f]);
    expect(bytes.length).toBe(8 + n + 8);
  });

  it("lays tensors out contiguously in sorted-name order", () => {
    const bytes = encodeSafetensors(sampleTensors());
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
      string,
      { data_offsets: [number, number] }
    >;
    const names = Object.keys(sampleTensors()).sort();
    let pos = 0;
    for (const name of names) {
      expect(header[name]!.data_offsets[0]).toBe(pos);
      pos = header[name]!.data_offsets[1];
    }
    expect(pos).toBe(bytes.length - 8 - n);
  });

  it("decodes from an unaligned view and from a Node Buffer into aligned, independent arrays", () => {
    const tensors = sampleTensors();
    const bytes = encodeSafetensors(tensors);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const fromView = decodeSafetensors(view);
    expectSameTensors(fromView.tensors, tensors);
    expectSameTensors(decodeSafetensors(Buffer.from(bytes)).tensors, tensors);
    view.fill(0);
    expectSameTensors(fromView.tensors, tensors);
    for (const t of Object.values(fromView.tensors)) expect(t.data.byteOffset).toBe(0);
  });

  it("keeps a tensor named __proto__ as an ordinary entry", () => {
    const tensors: Record<string, SafetensorsTensor> = Object.fromEntries([
      ["__proto__", { dtype: "U8", shape: [1], data: Uint8Array.from([42]) }],
    ]);
    const decoded = decodeSafetensors(encodeSafetensors(tensors));
    expect(Object.keys(decoded.tensors)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(decoded.tensors)).toBe(Object.prototype);
  });

  it("refuses to encode inconsistent tensors", () => {
    const f =
      (t: SafetensorsTensor, name = "t") =>
      () =>
        encodeSafetensors({ [name]: t });
    expect(f({ dtype: "F64", shape: [2], data: new Float32Array(2) })).toThrow(/needs a Float64Array/);
    expect(f({ dtype: "I64", shape: [2], data: new Float64Array(2) })).toThrow(/needs a BigInt64Array/);
    expect(f({ dtype: "F64", shape: [2, 2], data: new Float64Array(3) })).toThrow(/4 elements, data has 3/);
    expect(f({ dtype: "F64", shape: [-1], data: new Float64Array(0) })).toThrow(/invalid shape/);
    expect(f({ dtype: "U8", shape: [0], data: new Uint8Array(0) }, "__metadata__")).toThrow(/reserved/);
  });
});

describe("safetensors rejects malformed files with FormatError", () => {
  const good = encodeSafetensors(sampleTensors(), { k: "v" });
  const headerLength = Number(new DataView(good.buffer).getBigUint64(0, true));
  const dataLength = good.length - 8 - headerLength;
  const f64 = (name: string, begin: number, end: number, shape = [1]) => ({
    [name]: { dtype: "F64", shape, data_offsets: [begin, end] },
  });

  it("the untouched file decodes", () => {
    expect(() => decodeSafetensors(good)).not.toThrow();
  });

  for (const cut of [0, 1, 7]) {
    it(`truncated inside the length prefix (${cut} bytes)`, () => {
      expectFormatError(() => decodeSafetensors(good.subarray(0, cut)), /truncated/);
    });
  }

  for (const cut of [8, 9, 8 + Math.floor(headerLength / 2), 8 + headerLength - 1]) {
    it(`truncated inside the header (${cut} bytes)`, () => {
      expectFormatError(() => decodeSafetensors(good.subarray(0, cut)), /header length \d+ exceeds/);
    });
  }

  for (const missing of [dataLength, dataLength - 1, Math.floor(dataLength / 2), 1]) {
    it(`truncated inside the data (${missing} bytes missing)`, () => {
      const cut = good.subarray(0, good.length - missing);
      expectFormatError(
        () => decodeSafetensors(cut),
        new RegExp(
          `^checkpoint is truncated: header says ${dataLength} bytes of data, file has ${dataLength - missing}$`,
        ),
      );
    });
  }

  it("header length beyond the file", () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n + 5n, true);
    expectFormatError(() => decodeSafetensors(bytes), /header length 9223372036854775813 exceeds/);
  });

  it("header that is not valid JSON", () => {
    expectFormatError(() => decodeSafetensors(rawSafetensors('{"a": {"dtype": "F64",')), /not valid JSON/);
    expectFormatError(() => decodeSafetensors(rawSafetensors("")), /not valid JSON/);
  });

  it("header that is not UTF-8", () => {
    const bytes = rawSafetensors("{}  ");
    bytes[9] = 0xff;
    expectFormatError(() => decodeSafetensors(bytes), /not valid UTF-8/);
  });

  it("header that is JSON but not an object", () => {
    expectFormatError(() => decodeSafetensors(rawSafetensors("[1, 2]")), /not a JSON object/);
    expectFormatError(() => decodeSafetensors(rawSafetensors("null")), /not a JSON object/);
    expectFormatError(
      () => decodeSafetensors(rawSafetensors({ a: 3 })),
      /'a': header entry is not a JSON object/,
    );
  });

  it("unknown dtype", () => {
    const header = { a: { dtype: "BF16", shape: [1], data_offsets: [0, 2] } };
    expectFormatError(
      () => decodeSafetensors(rawSafetensors(header, new Uint8Array(2))),
      /unsupported dtype "BF16"/,
    );
  });

  it("bad shape or data_offsets", () => {
    const cases: unknown[] = [
      { a: { dtype: "U8", shape: [-1], data_offsets: [0, 0] } },
      { a: { dtype: "U8", shape: [1.5], data_offsets: [0, 0] } },
      { a: { dtype: "U8", shape: "3", data_offsets: [0, 3] } },
      { a: { dtype: "U8", data_offsets: [0, 3] } },
      { a: { dtype: "U8", shape: [3] } },
      { a: { dtype: "U8", shape: [3], data_offsets: [0, 3, 6] } },
      { a: { dtype: "U8", shape: [3], data_offsets: [3, 0] } },
      { a: { dtype: "U8", shape: [3], data_offsets: [-3, 0] } },
      { a: { dtype: "U8", shape: [3], data_offsets: ["0", "3"] } },
    ];
    for (const header of cases) {
      expectFormatError(() => decodeSafetensors(rawSafetensors(header, new Uint8Array(3))), /tensor 'a'/);
    }
  });

  it("byte length that does not match the shape and dtype", () => {
    const header = f64("a", 0, 12, [2]);
    expectFormatError(
      () => decodeSafetensors(rawSafetensors(header, new Uint8Array(12))),
      /tensor 'a': shape \[2\] of F64 needs 16 bytes, data_offsets give 12/,
    );
  });

  it("overlapping data_offsets", () => {
    const header = { ...f64("a", 0, 16, [2]), ...f64("b", 8, 24, [2]) };
    expectFormatError(
      () => decodeSafetensors(rawSafetensors(header, new Uint8Array(24))),
      /'a' and 'b' overlap/,
    );
    const same = { ...f64("a", 0, 8), ...f64("b", 0, 8) };
    expectFormatError(() => decodeSafetensors(rawSafetensors(same, new Uint8Array(8))), /overlap/);
  });

  it("gaps, data past the end, and trailing bytes", () => {
    const gap = { ...f64("a", 0, 8), ...f64("b", 16, 24) };
    expectFormatError(
      () => decodeSafetensors(rawSafetensors(gap, new Uint8Array(24))),
      /gap of 8 bytes before 'b'/,
    );
    const late = f64("a", 8, 16);
    expectFormatError(() => decodeSafetensors(rawSafetensors(late, new Uint8Array(16))), /gap/);
    const past = f64("a", 0, 8);
    expectFormatError(
      () => decodeSafetensors(rawSafetensors(past, new Uint8Array(4))),
      /truncated: header says 8 bytes of data, file has 4/,
    );
    expectFormatError(() => decodeSafetensors(rawSafetensors(past, new Uint8Array(9))), /1 unexpected bytes/);
  });

  it("metadata that is not an object of strings", () => {
    expectFormatError(() => decodeSafetensors(rawSafetensors({ __metadata__: { a: 1 } })), /metadata 'a'/);
    expectFormatError(() => decodeSafetensors(rawSafetensors({ __metadata__: "x" })), /__metadata__/);
  });
});

/** An .npy file with the given version and raw header text (padded to 64 bytes, newline added). */
function rawNpy(major: number, dict: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const header = enc.encode(dict);
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  const out = new Uint8Array(total + data.length).fill(0x20);
  out.set([0x93, ...enc.encode("NUMPY"), major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  out.set(header, prefix);
  out[total - 1] = 0x0a;
  out.set(data, total);
  return out;
}

describe("npy encode/decode", () => {
  const shapes = [[], [1], [5], [2, 3, 4], [0], [3, 0]];
  for (const shape of shapes) {
    it(`round-trips float64 and float32 with shape [${shape}]`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const f64 = Float64Array.from({ length: n }, (_, i) => (i - 3.5) * 1.25e-3);
      const f32 = Float32Array.from({ length: n }, (_, i) => i / 3);
      const a = decodeNpy(encodeNpy(f64, shape));
      expect(a.dtype).toBe("<f8");
      expect(a.shape).toEqual(shape);
      expect(a.data).toEqual(f64);
      const b = decodeNpy(encodeNpy(f32, shape));
      expect(b.dtype).toBe("<f4");
      expect(b.shape).toEqual(shape);
      expect(b.data).toEqual(f32);
    });
  }

  it("writes a version 1.0 header like numpy's, data starting at a multiple of 64", () => {
    const bytes = encodeNpy(Float64Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLength = new DataView(bytes.buffer).getUint16(8, true);
    expect((10 + headerLength) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
    expect(header.endsWith("\n")).toBe(true);
    expect(header.trimEnd()).toBe("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }");
    expect(bytes.length).toBe(10 + headerLength + 48);
    expect(new DataView(bytes.buffer).getFloat64(10 + headerLength, true)).toBe(1);
    const headerOf = (b: Uint8Array) =>
      new TextDecoder().decode(b.subarray(10, 10 + new DataView(b.buffer).getUint16(8, true))).trimEnd();
    expect(headerOf(encodeNpy(new Float32Array(3), [3]))).toBe(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
    );
    expect(headerOf(encodeNpy(new Float64Array(1), []))).toBe(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
    );
  });

  it("reads versions 2.0 and 3.0, Python 2 longs, other key orders and quoting", () => {
    const data = new Uint8Array(Float64Array.from([1, 2, 3]).buffer);
    for (const dict of [
      "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
      '{"shape": (3L,), "fortran_order": False, "descr": "<f8"}',
      "{ 'descr' : '<f8' , 'fortran_order' : False , 'shape' : ( 3 , ) }",
    ]) {
      for (const major of [1, 2, 3]) {
        const got = decodeNpy(rawNpy(major, dict, data));
        expect(got.shape).toEqual([3]);
        expect(Array.from(got.data)).toEqual([1, 2, 3]);
      }
    }
  });

  it("decodes from an unaligned Node Buffer", () => {
    const bytes = encodeNpy(Float64Array.from([1, 2, 3]), [3]);
    const shifted = Buffer.alloc(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(Array.from(decodeNpy(shifted.subarray(1)).data)).toEqual([1, 2, 3]);
  });

  it("refuses to encode inconsistent arrays", () => {
    expect(() => encodeNpy(new Float64Array(5), [2, 3])).toThrow(RangeError);
    expect(() => encodeNpy(new Float64Array(0), [-1])).toThrow(RangeError);
  });
});

describe("npy rejects malformed files with FormatError", () => {
  const good = encodeNpy(Float64Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const f8 = (shape: string) => `{'descr': '<f8', 'fortran_order': False, 'shape': ${shape}, }`;

  for (const cut of [0, 5, 9, 10, 40, 63, 64, 70, good.length - 1]) {
    it(`truncated at ${cut} bytes`, () => {
      expectFormatError(() => decodeNpy(good.subarray(0, cut)), /truncated/);
    });
  }

  it("names the shortfall when the data is truncated", () => {
    expectFormatError(
      () => decodeNpy(good.subarray(0, good.length - 8)),
      /^npy file is truncated: shape \(2, 3\) needs 48 bytes, file has 40$/,
    );
  });

  it("bad magic, unsupported versions, trailing bytes", () => {
    const bad = good.slice();
    bad[1] = 0x6e;
    expectFormatError(() => decodeNpy(bad), /bad magic/);
    for (const [major, minor] of [
      [4, 0],
      [1, 1],
      [0, 0],
    ]) {
      const v = good.slice();
      v[6] = major!;
      v[7] = minor!;
      expectFormatError(() => decodeNpy(v), new RegExp(`version ${major}\\.${minor}`));
    }
    const long = new Uint8Array(good.length + 8);
    long.set(good);
    expectFormatError(() => decodeNpy(long), /8 unexpected bytes/);
  });

  it("unsupported dtypes and Fortran order", () => {
    const data = new Uint8Array(8);
    for (const descr of [">f8", "<i8", "|u1", "<c16", "f8"]) {
      const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }`;
      expectFormatError(() => decodeNpy(rawNpy(1, dict, data)), /unsupported npy dtype/);
    }
    const structured = "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }";
    expectFormatError(() => decodeNpy(rawNpy(1, structured, data)), /not a valid dict literal/);
    const fortran = "{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }";
    expectFormatError(() => decodeNpy(rawNpy(1, fortran, data)), /fortran_order is True/);
  });

  it("malformed header dicts", () => {
    const data = new Uint8Array(8);
    const cases: [string, RegExp][] = [
      ["", /dict literal/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (1,), ", /dict literal/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} extra", /dict literal/],
      [f8("(1)"), /one-element tuple/],
      [f8("[1]"), /dict literal/],
      [f8("1"), /shape is not a tuple/],
      [f8("(-1,)"), /dict literal/],
      [f8("(1.5,)"), /dict literal/],
      [f8("(99999999999999999999,)"), /too large/],
      ["{'descr': '<f8', 'shape': (1,), }", /must have keys/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}", /must have keys/],
      ["{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", /duplicate key/],
      ["{'descr': '<f8', 'fortran_order': 0, 'shape': (1,), }", /fortran_order is not a bool/],
      ["{'descr': '<f8', 'fortran_order': Falsey, 'shape': (1,), }", /dict literal/],
      ["{'descr': '<\\x66', 'fortran_order': False, 'shape': (1,), }", /escape/],
      ["{'descr: '<f8', 'fortran_order': False, 'shape': (1,), }", /dict literal/],
    ];
    for (const [dict, message] of cases) expectFormatError(() => decodeNpy(rawNpy(1, dict, data)), message);
  });

  it("header length beyond the file", () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setUint16(8, 0xfff0, true);
    expectFormatError(() => decodeNpy(bytes), /truncated: header says 65520 bytes/);
  });

  it("version 3.0 header that is not UTF-8", () => {
    const bytes = rawNpy(3, f8("(1,)"), new Uint8Array(8));
    bytes[13] = 0xff;
    expectFormatError(() => decodeNpy(bytes), /not valid UTF-8/);
  });
});

describe("files", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "latticeflow-io-"));
  });
  afterEach(() => {
    fsFaults.failRename = false;
    fsFaults.failWriteAfterBytes = -1;
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes and reads safetensors and npy files, leaving no temp files", () => {
    const tensors = sampleTensors();
    writeSafetensorsFile(join(dir, "ckpt.safetensors"), tensors, { step: "10" });
    const got = readSafetensorsFile(join(dir, "ckpt.safetensors"));
    expectSameTensors(got.tensors, tensors);
    expect(got.metadata).toEqual({ step: "10" });
    writeNpyFile(join(dir, "x.npy"), Float32Array.from([1, 2, 3, 4]), [2, 2]);
    const x = readNpyFile(join(dir, "x.npy"));
    expect(x.shape).toEqual([2, 2]);
    expect(Array.from(x.data)).toEqual([1, 2, 3, 4]);
    expect(readdirSync(dir).sort()).toEqual(["ckpt.safetensors", "x.npy"]);
  });

  it("writeFileAtomic replaces an existing file and accepts strings", () => {
    const path = join(dir, "a.txt");
    writeFileAtomic(path, "first");
    writeFileAtomic(path, "second, longer ✓");
    expect(readFileSync(path, "utf8")).toBe("second, longer ✓");
    writeFileAtomic(path, Uint8Array.from([1, 2]));
    expect(Array.from(readFileSync(path))).toEqual([1, 2]);
    expect(readdirSync(dir)).toEqual(["a.txt"]);
  });

  it("reading a missing file throws FormatError naming the path", () => {
    const path = join(dir, "missing.safetensors");
    expectFormatError(() => readSafetensorsFile(path), new RegExp(`^no such file: ${path}$`));
    expectFormatError(() => readNpyFile(join(dir, "missing.npy")), /^no such file: .*missing\.npy$/);
  });

  it("a malformed file's error names the file", () => {
    const path = join(dir, "bad.safetensors");
    writeFileSync(path, encodeSafetensors(sampleTensors()).subarray(0, 100));
    expectFormatError(() => readSafetensorsFile(path), new RegExp(`^${path}: checkpoint is truncated`));
  });

  it("a failed rename leaves the target untouched and removes the temp file", () => {
    const path = join(dir, "ckpt.safetensors");
    writeFileAtomic(path, "old");
    fsFaults.failRename = true;
    expect(() => writeSafetensorsFile(path, sampleTensors())).toThrow(/simulated EIO/);
    expect(readFileSync(path, "utf8")).toBe("old");
    expect(readdirSync(dir)).toEqual(["ckpt.safetensors"]);
  });

  it("a write that fails halfway (disk full) leaves the target untouched and removes the temp file", () => {
    const path = join(dir, "a.txt");
    writeFileAtomic(path, "old");
    fsFaults.failWriteAfterBytes = 3;
    expect(() => writeFileAtomic(path, "new content")).toThrow(/no space left on the device \(ENOSPC\)/);
    expect(readFileSync(path, "utf8")).toBe("old");
    expect(readdirSync(dir)).toEqual(["a.txt"]);
  });

  it("a target that is a directory is not clobbered and no temp file is left", () => {
    const path = join(dir, "taken");
    mkdirSync(path);
    writeFileSync(join(path, "keep"), "x");
    expect(() => writeFileAtomic(path, "data")).toThrow();
    expect(readFileSync(join(path, "keep"), "utf8")).toBe("x");
    expect(readdirSync(dir)).toEqual(["taken"]);
  });

  it("a missing parent directory fails without creating anything", () => {
    expect(() => writeFileAtomic(join(dir, "no", "such", "file"), "data")).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(process.getuid?.() === 0 || process.platform === "win32")(
    "an unwritable directory fails without touching the target",
    () => {
      const path = join(dir, "a.txt");
      writeFileAtomic(path, "old");
      chmodSync(dir, 0o555);
      expect(() => writeFileAtomic(path, "new")).toThrow(/EACCES/);
      expect(readFileSync(path, "utf8")).toBe("old");
      expect(readdirSync(dir)).toEqual(["a.txt"]);
    },
  );
});

const PYTHON = "/usr/bin/python3";
const hasNumpy = existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import numpy"]).status === 0;

function python(script: string, ...args: string[]): string {
  const r = spawnSync(PYTHON, ["-c", script, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

// Parses safetensors with only json, struct and numpy.frombuffer, straight from the format description.
const PY_READ = `
import hashlib, json, struct, sys
import numpy as np
st_path, npy64_path, npy32_path = sys.argv[1:4]
raw = open(st_path, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
assert (8 + n) % 8 == 0, "data not 8-byte aligned"
header = json.loads(raw[8:8 + n].decode("utf-8"))
metadata = header.pop("__metadata__", {})
data = raw[8 + n:]
np_dtype = {"F64": "<f8", "F32": "<f4", "I32": "<i4", "I64": "<i8", "U8": "u1"}
tensors = {}
for name, info in header.items():
    begin, end = info["data_offsets"]
    arr = np.frombuffer(data[begin:end], dtype=np_dtype[info["dtype"]]).reshape(info["shape"])
    values = arr.ravel().tolist()
    if info["dtype"] == "I64":
        values = [str(v) for v in values]
    tensors[name] = {"dtype": info["dtype"], "shape": list(arr.shape), "offsets": [begin, end], "values": values}
npys = {}
for key, path in (("f8", npy64_path), ("f4", npy32_path)):
    arr = np.load(path)
    npys[key] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "values": arr.ravel().tolist()}
print(json.dumps({"metadata": metadata, "tensors": tensors, "npy": npys, "length": len(raw), "sha256": hashlib.sha256(data).hexdigest()}))
`;

// numpy.save in every supported version, plus a safetensors file written by hand with Python's json
// (which puts spaces after separators, unlike JSON.stringify).
const PY_WRITE = `
import json, struct, sys, os
import numpy as np
out = sys.argv[1]
a = (np.arange(24, dtype="<f8").reshape(2, 3, 4) - 11.5) / 7
np.save(os.path.join(out, "a.npy"), a)
np.save(os.path.join(out, "b.npy"), np.linspace(0, 1, 5, dtype="<f4"))
np.save(os.path.join(out, "scalar.npy"), np.float64(-2.5))
np.save(os.path.join(out, "empty.npy"), np.zeros((3, 0)))
for version in ((2, 0), (3, 0)):
    with open(os.path.join(out, "a_v%d.npy" % version[0]), "wb") as f:
        np.lib.format.write_array(f, a, version=version)
np.save(os.path.join(out, "fortran.npy"), np.asfortranarray(a))
np.save(os.path.join(out, "big_endian.npy"), a.astype(">f8"))
np.save(os.path.join(out, "int.npy"), np.arange(3))
tensors = {"w": a, "n": np.array([1, -2, 3], dtype="<i8"), "m": np.array(7, dtype="<i4")}
names = {"w": "F64", "n": "I64", "m": "I32"}
header, blobs, offset = {"__metadata__": {"by": "python"}}, [], 0
for name in sorted(tensors):
    blob = tensors[name].tobytes()
    header[name] = {"dtype": names[name], "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
text = json.dumps(header).encode("utf-8")
text += b" " * (-len(text) % 8)
with open(os.path.join(out, "py.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
print(json.dumps(a.ravel().tolist()))
`;

interface PyRead {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; offsets: [number, number]; values: unknown[] }>;
  npy: Record<string, { dtype: string; shape: number[]; values: number[] }>;
  length: number;
  sha256: string;
}

describe("cross-check with NumPy", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "latticeflow-py-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!hasNumpy)("python reads what TypeScript writes", () => {
    const tensors = sampleTensors();
    const paths = ["t.safetensors", "f8.npy", "f4.npy"].map((f) => join(dir, f));
    writeSafetensorsFile(paths[0]!, tensors, { step: "12", note: "ünïcode" });
    const f8 = Float64Array.from({ length: 24 }, (_, i) => Math.sin(i) * 1e10);
    const f4 = Float32Array.from([0.1, 0.2, -0.3]);
    writeNpyFile(paths[1]!, f8, [2, 3, 4]);
    writeNpyFile(paths[2]!, f4, [3]);
    const got = JSON.parse(python(PY_READ, ...paths)) as PyRead;

    // The content hash that writeSafetensorsFile adds is hashlib's sha256 of the data region.
    expect(got.metadata).toEqual({ step: "12", note: "ünïcode", sha256: got.sha256 });
    expect(Object.keys(got.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const py = got.tensors[name]!;
      expect(py.dtype).toBe(t.dtype);
      expect(py.shape).toEqual(t.shape);
      const want = Array.from(t.data as ArrayLike<number | bigint>, (v) =>
        typeof v === "bigint" ? String(v) : v,
      );
      expect(py.values).toEqual(want);
    }
    const byOffset = Object.keys(got.tensors).sort(
      (a, b) => got.tensors[a]!.offsets[0] - got.tensors[b]!.offsets[0],
    );
    expect(byOffset.filter((n) => got.tensors[n]!.offsets[1] > got.tensors[n]!.offsets[0])).toEqual(
      Object.keys(tensors)
        .sort()
        .filter((n) => tensors[n]!.data.byteLength > 0),
    );
    expect(got.npy["f8"]).toEqual({ dtype: "<f8", shape: [2, 3, 4], values: Array.from(f8) });
    expect(got.npy["f4"]).toEqual({ dtype: "<f4", shape: [3], values: Array.from(f4) });
  });

  it.skipIf(!hasNumpy)("TypeScript reads what numpy.save and a Python safetensors writer produce", () => {
    const expected = JSON.parse(python(PY_WRITE, dir)) as number[];
    for (const name of ["a.npy", "a_v2.npy", "a_v3.npy"]) {
      const a = readNpyFile(join(dir, name));
      expect(a.dtype).toBe("<f8");
      expect(a.shape).toEqual([2, 3, 4]);
      expect(Array.from(a.data)).toEqual(expected);
    }
    const b = readNpyFile(join(dir, "b.npy"));
    expect(b.dtype).toBe("<f4");
    expect(b.shape).toEqual([5]);
    expect(Array.from(b.data)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(readNpyFile(join(dir, "scalar.npy"))).toEqual({
      dtype: "<f8",
      shape: [],
      data: Float64Array.from([-2.5]),
    });
    expect(readNpyFile(join(dir, "empty.npy")).shape).toEqual([3, 0]);
    expectFormatError(() => readNpyFile(join(dir, "fortran.npy")), /fortran_order is True/);
    expectFormatError(() => readNpyFile(join(dir, "big_endian.npy")), /unsupported npy dtype ">f8"/);
    expectFormatError(() => readNpyFile(join(dir, "int.npy")), /unsupported npy dtype "<i8"/);

    const st = readSafetensorsFile(join(dir, "py.safetensors"));
    expect(st.metadata).toEqual({ by: "python" });
    expect(st.tensors["w"]!.shape).toEqual([2, 3, 4]);
    expect(Array.from(st.tensors["w"]!.data as Float64Array)).toEqual(expected);
    expect(st.tensors["n"]).toEqual({ dtype: "I64", shape: [3], data: BigInt64Array.from([1n, -2n, 3n]) });
    expect(st.tensors["m"]).toEqual({ dtype: "I32", shape: [], data: Int32Array.from([7]) });
  });
});
