/**
 * Property-based tests (fast-check, fixed seeds: every run tries the same cases) of the
 * safetensors and .npy decoders and of the hash checks of src/io/files.ts. Whatever the bytes
 * (truncated at every length, random, one bit flipped, headers claiming absurd sizes or shapes),
 * a decoder returns the right data or throws a one-line FormatError: never another exception,
 * a hang or an allocation the input does not justify. The number of cases each property ran is
 * printed at the end (docs/reliability.md quotes it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { readEnsemble, readSafetensorsFile, writeEnsemble, writeSafetensorsFile } from "../src/io/files.js";
import { decodeNpy, encodeNpy } from "../src/io/npy.js";
import {
  type DecodedSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  FormatError,
  type SafetensorsDtype,
  type SafetensorsTensor,
} from "../src/io/safetensors.js";

const enc = new TextEncoder();

/** Cases run per property (a case of "every truncation" counts each length), printed at the end. */
const counts = new Map<string, number>();
const count = (name: string, k = 1) => counts.set(name, (counts.get(name) ?? 0) + k);
/** The slowest single decode seen, in ms: a bound on "never a hang". */
let slowest = 0;

afterAll(() => {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const lines = [...counts.entries()].map(([k, v]) => `  ${k}: ${v}`);
  console.log(
    `io-fuzz: ${total} cases in ${counts.size} properties (slowest decode ${slowest.toFixed(1)} ms)\n${lines.join("\n")}`,
  );
});

type Outcome<T> = { ok: true; value: T } | { ok: false; error: FormatError };

/**
 * Runs a decoder: its value, or its FormatError (one line). Any other exception fails the
 * property, and so does a decode slower than `limitMs` (a hang in the making).
 */
function attempt<T>(f: () => T, limitMs = 1000): Outcome<T> {
  const t0 = performance.now();
  let outcome: Outcome<T>;
  try {
    outcome = { ok: true, value: f() };
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`not a FormatError: ${String(e)}`, { cause: e });
    if (e.message.includes("\n")) throw new Error(`a FormatError of more than one line: ${e.message}`);
    outcome = { ok: false, error: e };
  }
  const ms = performance.now() - t0;
  slowest = Math.max(slowest, ms);
  if (ms > limitMs) throw new Error(`decode took ${ms.toFixed(0)} ms`);
  return outcome;
}

const bytesOf = (data: ArrayBufferView) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

// ---------------------------------------------------------------------------------------------
// Generators

const ITEMSIZE: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, I32: 4, I64: 8, U8: 1 };

function typedArray(dtype: SafetensorsDtype, bytes: Uint8Array): SafetensorsTensor["data"] {
  const b = bytes.slice().buffer;
  switch (dtype) {
    case "F64":
      return new Float64Array(b);
    case "F32":
      return new Float32Array(b);
    case "I32":
      return new Int32Array(b);
    case "I64":
      return new BigInt64Array(b);
    case "U8":
      return new Uint8Array(b);
  }
}

/** A tensor of any dtype, 0–3 dimensions of 0–4, with random bits (NaNs and -0 included). */
const tensorArb: fc.Arbitrary<SafetensorsTensor> = fc
  .tuple(
    fc.constantFrom<SafetensorsDtype>("F64", "F32", "I32", "I64", "U8"),
    fc.array(fc.nat(4), { maxLength: 3 }),
  )
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1) * ITEMSIZE[dtype];
    return fc
      .uint8Array({ minLength: n, maxLength: n })
      .map((bytes) => ({ dtype, shape, data: typedArray(dtype, bytes) }));
  });

/** Names of printable ASCII, or of any code points (newlines, control characters, lone surrogates). */
const anyString = (maxLength: number, minLength = 0) =>
  fc.oneof(fc.string({ minLength, maxLength }), fc.string({ unit: "binary", minLength, maxLength }));
const nameArb = anyString(8, 1).filter((s) => s !== "__metadata__");

const tensorsArb = fc.dictionary(nameArb, tensorArb, { maxKeys: 4 });
const metadataArb = fc.dictionary(anyString(6), anyString(12), { maxKeys: 3 });

/** A valid safetensors file and what it holds. */
const safetensorsArb = fc
  .tuple(tensorsArb, metadataArb)
  .map(([tensors, metadata]) => ({ tensors, metadata, bytes: encodeSafetensors(tensors, metadata) }));

function expectTensors(got: DecodedSafetensors, tensors: Record<string, SafetensorsTensor>): void {
  expect(Object.keys(got.tensors).sort()).toEqual(Object.keys(tensors).sort());
  for (const [k, t] of Object.entries(tensors)) {
    const g = got.tensors[k]!;
    expect(g.dtype).toBe(t.dtype);
    expect(g.shape).toEqual([...t.shape]);
    expect(sameBytes(bytesOf(g.data), bytesOf(t.data))).toBe(true);
  }
}

/** (dtype, shape, bytes) of every tensor, names aside, in a canonical order. */
function contentOf(
  tensors: Record<string, { dtype: string; shape: readonly number[]; data: ArrayBufferView }>,
) {
  return Object.values(tensors)
    .map((t) => `${t.dtype}[${t.shape.join(",")}]:${Array.from(bytesOf(t.data)).join(",")}`)
    .sort();
}

/** A float64 or float32 .npy of 0–4 dimensions of 0–5, with random bits. */
const npyArb = fc.tuple(fc.boolean(), fc.array(fc.nat(5), { maxLength: 4 })).chain(([f64, shape]) => {
  const item = f64 ? 8 : 4;
  const n = shape.reduce((a, b) => a * b, 1) * item;
  return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => {
    const data = f64 ? new Float64Array(bytes.slice().buffer) : new Float32Array(bytes.slice().buffer);
    return { data, shape, bytes: encodeNpy(data, shape) };
  });
});

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** A safetensors file with a hand-made header (not padded) and data. */
function rawSafetensors(
  header: string,
  data: Uint8Array = new Uint8Array(0),
  claimedLength?: bigint,
): Uint8Array {
  const json = enc.encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, claimedLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** An .npy file with a hand-made header text (padded like numpy's), version 1.0, 2.0 or 3.0. */
function rawNpy(
  major: number,
  dict: string,
  data: Uint8Array = new Uint8Array(0),
  claimedLength?: number,
): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const header = major === 3 ? enc.encode(dict) : Uint8Array.from(dict, (c) => c.charCodeAt(0) & 0xff);
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  const out = new Uint8Array(total + data.length).fill(0x20);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  const length = claimedLength ?? total - prefix;
  if (major === 1) view.setUint16(8, length & 0xffff, true);
  else view.setUint32(8, length >>> 0, true);
  out.set(header, prefix);
  out[total - 1] = 0x0a;
  out.set(data, total);
  return out;
}

const SEED = 20240516;

// ---------------------------------------------------------------------------------------------
// safetensors

describe("safetensors decoder (fast-check)", () => {
  test.prop([safetensorsArb], { seed: SEED, numRuns: 300 })(
    "round trip: any tensors and metadata decode to themselves, bit for bit",
    ({ tensors, metadata, bytes }) => {
      count("safetensors round trip");
      const r = attempt(() => decodeSafetensors(bytes));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expectTensors(r.value, tensors);
      expect(r.value.metadata).toEqual(metadata);
    },
  );

  test.prop([safetensorsArb], { seed: SEED + 1, numRuns: 60 })(
    "truncation at every length is a FormatError",
    ({ bytes }) => {
      for (let len = 0; len < bytes.length; len++) {
        count("safetensors truncation (every length)");
        const r = attempt(() => decodeSafetensors(bytes.subarray(0, len)));
        expect(r.ok, `prefix of ${len}/${bytes.length} bytes`).toBe(false);
      }
    },
  );

  test.prop([safetensorsArb, fc.nat()], { seed: SEED + 2, numRuns: 1500 })(
    "one flipped bit: a FormatError or a file of the same layout",
    ({ tensors, bytes }, at) => {
      count("safetensors one flipped bit");
      const bit = at % (bytes.length * 8);
      const r = attempt(() => decodeSafetensors(flipBit(bytes, bit)));
      if (!r.ok) return;
      // The file can survive a flip (of a name or metadata character, of any bit of the data
      // region, or of a size of an empty tensor: [0, 0] → [0, 1]): then every tensor still has
      // the original's dtype and number of elements. (The hash of files.ts catches the rest.)
      const sizes = (t: Record<string, { dtype: string; data: { length: number } }>) =>
        Object.values(t)
          .map((x) => `${x.dtype}×${x.data.length}`)
          .sort();
      expect(sizes(r.value.tensors)).toEqual(sizes(tensors));
    },
  );

  test.prop([fc.uint8Array({ maxLength: 300 })], { seed: SEED + 3, numRuns: 2000 })(
    "random bytes: a FormatError (or, rarely, a valid file)",
    (bytes) => {
      count("safetensors random bytes");
      attempt(() => decodeSafetensors(bytes));
    },
  );

  /** Headers built from plausible pieces, so that the checks after JSON parsing are reached. */
  const headerPieceArb = fc.oneof(
    fc.constantFrom("F64", "F32", "I32", "I64", "U8", "F16", "BOOL", ""),
    fc.integer({ min: -2, max: 40 }),
    fc.constantFrom(2 ** 53, 2 ** 53 - 1, 2 ** 60, 1e12, 1e300, -0, 0.5, Number.MAX_SAFE_INTEGER),
    fc.constant(null),
  );
  const entryArb = fc.record(
    {
      dtype: headerPieceArb,
      shape: fc.oneof(fc.array(headerPieceArb, { maxLength: 4 }), headerPieceArb),
      data_offsets: fc.oneof(fc.array(headerPieceArb, { maxLength: 3 }), headerPieceArb),
    },
    { requiredKeys: [] },
  );
  test.prop(
    [
      fc.dictionary(fc.oneof(nameArb, fc.constant("__metadata__")), fc.oneof(entryArb, headerPieceArb), {
        maxKeys: 4,
      }),
      fc.uint8Array({ maxLength: 64 }),
    ],
    { seed: SEED + 4, numRuns: 3000 },
  )("random headers over random data: a FormatError or consistent tensors", (header, data) => {
    count("safetensors random headers");
    const bytes = rawSafetensors(JSON.stringify(header), data);
    const r = attempt(() => decodeSafetensors(bytes));
    if (!r.ok) return;
    let total = 0;
    for (const t of Object.values(r.value.tensors)) {
      expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      total += t.data.byteLength;
    }
    expect(total).toBe(data.length);
  });

  const ABSURD: [string, Uint8Array][] = [
    ["header length 2^60", rawSafetensors("{}", new Uint8Array(0), 2n ** 60n)],
    ["header length 2^64 - 1", rawSafetensors("{}", new Uint8Array(0), 2n ** 64n - 1n)],
    [
      "shape of 1e12 F64 elements",
      rawSafetensors(JSON.stringify({ w: { dtype: "F64", shape: [1e12], data_offsets: [0, 8e12] } })),
    ],
    [
      "shape [2^53 - 1, 2^53 - 1]",
      rawSafetensors(
        JSON.stringify({
          w: { dtype: "U8", shape: [2 ** 53 - 1, 2 ** 53 - 1], data_offsets: [0, 2 ** 53 - 1] },
        }),
      ),
    ],
    [
      "offsets [0, 2^53 - 1] for a matching shape",
      rawSafetensors(
        JSON.stringify({ w: { dtype: "U8", shape: [2 ** 53 - 1], data_offsets: [0, 2 ** 53 - 1] } }),
      ),
    ],
    [
      "50 000 zero-size tensors and a stray byte",
      rawSafetensors(
        `{${Array.from({ length: 50_000 }, (_, i) => `"t${i}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`).join(",")}}`,
        new Uint8Array(1),
      ),
    ],
    ["nesting 100 000 deep", rawSafetensors(`{"w":${"[".repeat(100_000)}${"]".repeat(100_000)}}`)],
    // Found by this file: quoting the bad dtype in the message overflowed the stack (a RangeError).
    [
      "a dtype nested 100 000 deep",
      rawSafetensors(
        `{"w":{"dtype":${"[".repeat(100_000)}${"]".repeat(100_000)},"shape":[],"data_offsets":[0,0]}}`,
      ),
    ],
    [
      "a tensor name of 1 MB with newlines",
      rawSafetensors(
        JSON.stringify({ [`a\n${"x".repeat(1 << 20)}`]: { dtype: "F64", shape: [1], data_offsets: [0, 4] } }),
      ),
    ],
  ];
  for (const [name, bytes] of ABSURD) {
    test(`absurd: ${name} → a FormatError at once, nothing allocated`, () => {
      count("safetensors absurd sizes and shapes");
      const before = process.memoryUsage().arrayBuffers;
      const r = attempt(() => decodeSafetensors(bytes), 2000);
      expect(r.ok).toBe(false);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// .npy

describe(".npy decoder (fast-check)", () => {
  test.prop([npyArb], { seed: SEED + 10, numRuns: 300 })(
    "round trip, bit for bit",
    ({ data, shape, bytes }) => {
      count("npy round trip");
      const r = attempt(() => decodeNpy(bytes));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.value.shape).toEqual(shape);
      expect(r.value.data.constructor).toBe(data.constructor);
      expect(sameBytes(bytesOf(r.value.data), bytesOf(data))).toBe(true);
    },
  );

  test.prop([npyArb], { seed: SEED + 11, numRuns: 80 })(
    "truncation at every length is a FormatError",
    ({ bytes }) => {
      for (let len = 0; len < bytes.length; len++) {
        count("npy truncation (every length)");
        const r = attempt(() => decodeNpy(bytes.subarray(0, len)));
        expect(r.ok, `prefix of ${len}/${bytes.length} bytes`).toBe(false);
      }
    },
  );

  test.prop([npyArb, fc.nat()], { seed: SEED + 12, numRuns: 1500 })(
    "one flipped bit: a FormatError, or the same shape (a flip in the data or the padding)",
    ({ shape, bytes }, at) => {
      count("npy one flipped bit");
      const bit = at % (bytes.length * 8);
      const r = attempt(() => decodeNpy(flipBit(bytes, bit)));
      if (r.ok) expect(r.value.shape.reduce((a, b) => a * b, 1)).toBe(shape.reduce((a, b) => a * b, 1));
    },
  );

  test.prop([fc.uint8Array({ maxLength: 300 })], { seed: SEED + 13, numRuns: 2000 })(
    "random bytes: a FormatError",
    (bytes) => {
      count("npy random bytes");
      expect(attempt(() => decodeNpy(bytes)).ok).toBe(false);
    },
  );

  test.prop([fc.constantFrom(1, 2, 3), fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 64 })], {
    seed: SEED + 14,
    numRuns: 2000,
  })("a valid preamble with random header bytes: a FormatError or consistent data", (major, header, data) => {
    count("npy random header bytes");
    const text = Array.from(header, (b) => String.fromCharCode(b)).join("");
    const r = attempt(() => decodeNpy(rawNpy(major, text, data)));
    if (r.ok) expect(r.value.data.byteLength).toBe(data.length);
  });

  /** Header dicts from the grammar numpy writes, with wrong pieces mixed in. */
  const valueArb = fc.oneof(
    fc.constantFrom("'<f8'", "'<f4'", "'>f8'", "'|u1'", "'<f8", '"<f4"', "True", "False", "true", "None"),
    fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
    fc
      .array(fc.oneof(fc.nat(6).map(String), fc.constantFrom("1e12", "9007199254740993", "-1", "3L", "")), {
        maxLength: 5,
      })
      .chain((items) =>
        fc.constantFrom(
          `(${items.join(", ")})`,
          `(${items.join(",")},)`,
          `[${items.join(", ")}]`,
          items.join(","),
        ),
      ),
  );
  const keyArb = fc.constantFrom(
    "'descr'",
    "'fortran_order'",
    "'shape'",
    "'other'",
    "descr",
    "'shape",
    "''",
    "'a\nb'",
  );
  const dictArb = fc
    .array(fc.tuple(keyArb, fc.constantFrom(": ", ":", " : "), valueArb), { maxLength: 4 })
    .chain((entries) =>
      fc
        .constantFrom(", ", ",", "")
        .map((sep) => `{${entries.map(([k, c, v]) => `${k}${c}${v}`).join(sep)}${sep === "" ? "" : ", "}}`),
    );
  test.prop([fc.constantFrom(1, 2, 3), dictArb, fc.uint8Array({ maxLength: 96 })], {
    seed: SEED + 15,
    numRuns: 4000,
  })(
    "header dicts of the right grammar with wrong pieces: a FormatError or consistent data",
    (major, dict, data) => {
      count("npy grammar-built headers");
      const r = attempt(() => decodeNpy(rawNpy(major, dict, data)));
      if (r.ok) {
        expect(r.value.data.byteLength).toBe(data.length);
        expect(r.value.data.length).toBe(r.value.shape.reduce((a, b) => a * b, 1));
      }
    },
  );

  const f8 = (shape: string) => `{'descr': '<f8', 'fortran_order': False, 'shape': ${shape}, }`;
  const ABSURD: [string, Uint8Array][] = [
    ["shape (1e12,)", rawNpy(1, f8("(1000000000000,)"))],
    ["shape (2^53 - 1, 2^53 - 1)", rawNpy(1, f8("(9007199254740991, 9007199254740991)"))],
    ["shape (10^20,)", rawNpy(1, f8("(100000000000000000000,)"))],
    ["shape of 20 000 dimensions of 2", rawNpy(2, f8(`(${Array(20_000).fill("2").join(", ")})`))],
    [
      "shape of 30 000 ones over 8 bytes",
      rawNpy(2, f8(`(${Array(30_000).fill("1").join(",")},)`), new Uint8Array(8)),
    ],
    ["v2 header length 2^32 - 1", rawNpy(2, f8("(1,)"), new Uint8Array(8), 2 ** 32 - 1)],
    ["v1 header length 65535 of a short file", rawNpy(1, f8("(1,)"), new Uint8Array(8), 65535)],
    ["a 1 MB header of spaces", rawNpy(2, `${f8("(1,)")}${" ".repeat(1 << 20)}`, new Uint8Array(8))],
    ["a 1 MB string key", rawNpy(2, `{'${"k".repeat(1 << 20)}': 1}`)],
  ];
  for (const [name, bytes] of ABSURD) {
    test(`absurd: ${name} → a FormatError or the data, at once, nothing allocated`, () => {
      count("npy absurd sizes and shapes");
      const before = process.memoryUsage().arrayBuffers;
      const r = attempt(() => decodeNpy(bytes), 2000);
      if (r.ok) expect(r.value.data.length).toBe(1);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Hashes: files written by src/io/files.ts

describe("content hashes (fast-check)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "latticeflow-fuzz-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.prop([tensorsArb.filter((t) => Object.values(t).some((x) => x.data.byteLength > 0)), fc.nat()], {
    seed: SEED + 20,
    numRuns: 200,
  })("a flipped bit anywhere in a checkpoint: corrupted, or the same tensor data", (tensors, at) => {
    count("safetensors file: one flipped bit (hash)");
    const path = join(dir, "c.safetensors");
    writeSafetensorsFile(path, tensors, { step: "7" });
    const bytes = new Uint8Array(readFileSync(path));
    const dataStart = bytes.length - Object.values(tensors).reduce((a, t) => a + t.data.byteLength, 0);
    // Half the flips in the data region, which only the hash can see.
    const bit =
      at % 2 === 0
        ? dataStart * 8 + ((at >> 1) % ((bytes.length - dataStart) * 8))
        : (at >> 1) % (bytes.length * 8);
    writeFileSync(path, flipBit(bytes, bit));
    const r = attempt(() => readSafetensorsFile(path));
    if (bit >= dataStart * 8) {
      expect(r.ok).toBe(false);
      if (!r.ok)
        expect(r.error.message).toMatch(new RegExp(`^${path} is corrupted: the sha256 of its tensor data`));
    } else if (r.ok) {
      // A flip in a name or a metadata character: the tensor data is still the original's.
      expect(contentOf(r.value.tensors)).toEqual(contentOf(tensors));
    }
  });

  test.prop(
    [
      fc.integer({ min: 2, max: 40 }),
      fc.boolean(),
      fc.constantFrom<"npy" | "accepted" | "logw">("npy", "accepted", "logw"),
      fc.nat(),
      fc.boolean(),
    ],
    { seed: SEED + 21, numRuns: 120 },
  )("a flipped bit or a cut in an ensemble or its companion: always caught", (n, mh, which, at, cut) => {
    count("ensemble files: one flipped bit or a cut (hash)");
    const out = join(dir, "e.npy");
    const data = Float64Array.from({ length: n * 4 }, (_, i) => Math.sin(i * (at + 1)));
    const companion = Float64Array.from({ length: n }, (_, i) => (i * at) % 2);
    writeEnsemble(out, {
      data,
      shape: [n, 2, 2],
      companions: mh ? { accepted: companion } : { logw: companion },
      sidecar: { sampler: mh ? "flow-mh" : "flow", n },
    });
    const good = readEnsemble(out);
    expect(good.verified).toHaveLength(2);
    const target = which === "npy" ? out : join(dir, `e.${mh ? "accepted" : "logw"}.npy`);
    const bytes = new Uint8Array(readFileSync(target));
    writeFileSync(
      target,
      cut ? bytes.subarray(0, at % bytes.length) : flipBit(bytes, at % (bytes.length * 8)),
    );
    const r = attempt(() => readEnsemble(out));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(new RegExp(`^${target} is corrupted: its sha256`));
  });
});
