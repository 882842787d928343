/**
 * Node-only file helpers: crash-safe atomic writes (temp file, fsync, rename) and reading/writing
 * safetensors and .npy files on top of the browser-safe codecs in safetensors.ts and npy.ts.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type DecodedNpy, decodeNpy, encodeNpy } from "./npy.js";
import {
  type DecodedSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  FormatError,
  type SafetensorsTensor,
} from "./safetensors.js";

/**
 * A file or directory that cannot be read or written as asked (missing, read-only, a file
 * where a directory should be, …): one line naming the path and the fix; the CLI exits 2.
 */
export class FileError extends Error {
  override name = "FileError";
}

function tempPathFor(path: string): string {
  const random = Math.random().toString(36).slice(2, 10);
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${random}`);
}

/** Makes the rename durable; best effort, since some platforms (Windows) cannot fsync a directory. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // The file itself is already complete and in place; only crash durability of the rename is at stake.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes the file so that readers (and a crash) see either the old content or the complete new
 * content, never a partial file: the bytes go to a temp file in the same directory (rename is only
 * atomic within one filesystem), are fsynced, then renamed over the target.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx");
    writeFileSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDirectory(dirname(path));
}

/** Reads a whole file; a missing file is a FormatError so callers handle all "bad input" alike. */
function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new FormatError(`no such file: ${path}`);
    throw e;
  }
}

/** Runs a decoder, prefixing its FormatError with the file path so the message says which file is bad. */
function decodeFile<T>(path: string, decode: (bytes: Uint8Array) => T): T {
  const bytes = readBytes(path);
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

export function readSafetensorsFile(path: string): DecodedSafetensors {
  return decodeFile(path, decodeSafetensors);
}

export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function readNpyFile(path: string): DecodedNpy {
  return decodeFile(path, decodeNpy);
}

export function writeNpyFile(
  path: string,
  data: Float64Array | Float32Array,
  shape: readonly number[],
): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}
