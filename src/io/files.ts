/**
 * Node-only file helpers on top of the browser-safe codecs in safetensors.ts and npy.ts:
 *
 * - crash-safe atomic writes (temp file, fsync, rename), also of several files together (an
 *   ensemble and its companions: all temp files first, then the renames);
 * - content hashes: every safetensors file written here carries `sha256` (of its data region, the
 *   bytes after the header) in its metadata, checked on read; an ensemble's sidecar `<out>.json`
 *   records the sha256 of the .npy and of its companions, checked by {@link readEnsemble};
 * - output checks made before any work starts ({@link checkOutputFiles}): the directory exists and
 *   is writable, the path is a regular file or nothing, not under /proc, /sys or /dev, and an
 *   existing output is replaced only with --force;
 * - every filesystem error becomes a {@link FileError}: one line naming the path and the fix.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { type DecodedNpy, decodeNpy, encodeNpy } from "./npy.js";
import {
  type DecodedSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  FormatError,
  type SafetensorsTensor,
  safetensorsDataStart,
} from "./safetensors.js";

/**
 * A file or directory that cannot be read or written as asked (missing, read-only, a file
 * where a directory should be, …): one line naming the path and the fix; the CLI exits 2.
 */
export class FileError extends Error {
  override name = "FileError";
}

/** The safetensors metadata key of the data region's sha256 (lower-case hex). */
export const SHA256_KEY = "sha256";

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

type Errno = NodeJS.ErrnoException;

function errnoOf(e: unknown): string | undefined {
  return e instanceof Error ? (e as Errno).code : undefined;
}

/** Does the path exist (without following a final symlink)? Errors other than ENOENT count as existing. */
function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    return errnoOf(e) !== "ENOENT" && errnoOf(e) !== "ENOTDIR";
  }
}

/** The first ancestor of `path` (or `path` itself) that exists but is not a directory, if any. */
function fileInTheWay(path: string): string | null {
  const abs = resolve(path);
  const parts = abs.split("/").filter((p) => p !== "");
  let prefix = "";
  for (const p of parts) {
    prefix = `${prefix}/${p}`;
    let st: Stats;
    try {
      st = statSync(prefix);
    } catch {
      return null;
    }
    if (!st.isDirectory()) return prefix;
  }
  return null;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

/**
 * One line for a failed write of `path` (a file, or "into DIR" for a directory's contents) in
 * the directory `dir`: what went wrong and the fix.
 */
function writeErrorMessage(path: string, e: unknown, flag: string, dir = dirname(path)): string {
  const code = errnoOf(e);
  switch (code) {
    case "ENOENT":
    case "ENOTDIR": {
      const blocker = fileInTheWay(dir);
      if (blocker !== null) {
        return `cannot write ${path}: ${blocker} is a file, not a directory (ENOTDIR); choose another ${flag}`;
      }
      return `cannot write ${path}: the directory ${dir} does not exist (ENOENT); create it (mkdir -p ${dir}) or choose another ${flag}`;
    }
    case "EISDIR":
      return `cannot write ${path}: it is a directory (EISDIR); ${flag} must name a file`;
    case "EACCES":
    case "EPERM":
      return `cannot write ${path}: permission denied in ${dir} (${code}); choose a writable ${flag}`;
    case "EROFS":
      return `cannot write ${path}: ${dir} is on a read-only filesystem (EROFS); choose a writable ${flag}`;
    case "ENOSPC":
    case "EDQUOT":
      return `cannot write ${path}: no space left on the device (${code}); free some space or choose another ${flag}`;
    case "ENAMETOOLONG":
      return `cannot write ${path}: the name is too long (ENAMETOOLONG); choose a shorter ${flag}`;
    default:
      return `cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

function readErrorMessage(path: string, e: unknown): string {
  const code = errnoOf(e);
  switch (code) {
    case "ENOTDIR":
      return `cannot read ${path}: ${fileInTheWay(dirname(path)) ?? "a part of the path"} is a file, not a directory (ENOTDIR); check the path`;
    case "EISDIR":
      return `cannot read ${path}: it is a directory (EISDIR); name a file`;
    case "EACCES":
    case "EPERM":
      return `cannot read ${path}: permission denied (${code}); make it readable`;
    case "ERR_FS_FILE_TOO_LARGE":
      return `cannot read ${path}: larger than the 2 GiB Node reads at once; split the ensemble`;
    default:
      return `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Removes a file if it is there; a failure here must not hide the error being reported. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // nothing more to do
  }
}

function tempPathFor(path: string): string {
  const random = Math.random().toString(36).slice(2, 10);
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${random}`);
}

/** Makes the rename durable; best effort, since some platforms (Windows) cannot fsync a directory. */
export function syncDirectory(dir: string): void {
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

/** Writes `bytes` to a fresh temp file beside `path`, fsynced; returns its path. Leaves nothing on failure. */
function writeTemp(path: string, bytes: Uint8Array | string, flag: string): string {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx");
    writeFileSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    return tmp;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(tmp);
    throw new FileError(writeErrorMessage(path, e, flag), { cause: e });
  }
}

function renameInto(tmp: string, path: string, flag: string): void {
  try {
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw new FileError(writeErrorMessage(path, e, flag), { cause: e });
  }
}

/**
 * Writes the file so that readers (and a crash) see either the old content or the complete new
 * content, never a partial file: the bytes go to a temp file in the same directory (rename is only
 * atomic within one filesystem), are fsynced, then renamed over the target. Failures are a
 * FileError naming the path and the fix, and leave the target as it was and no temp file.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | string, flag = "--out"): void {
  renameInto(writeTemp(path, bytes, flag), path, flag);
  syncDirectory(dirname(path));
}

/**
 * Writes several files as one: every temp file first (a failure leaves nothing behind and every
 * target as it was), then `remove` (stale files of an earlier version), then the renames in the
 * order given (put the file that vouches for the others, e.g. a sidecar with their hashes, last).
 */
export function writeFilesAtomic(
  files: readonly { path: string; bytes: Uint8Array | string }[],
  remove: readonly string[] = [],
  flag = "--out",
): void {
  const temps: string[] = [];
  try {
    for (const f of files) temps.push(writeTemp(f.path, f.bytes, flag));
    for (const r of remove) {
      try {
        rmSync(r, { force: true });
      } catch (e) {
        throw new FileError(
          `cannot remove ${r}, left by an earlier run (${errnoOf(e) ?? String(e)}); delete it by hand or choose another ${flag}`,
          { cause: e },
        );
      }
    }
    for (let i = 0; i < files.length; i++) renameInto(temps[i]!, files[i]!.path, flag);
  } finally {
    for (const t of temps) removeQuietly(t);
  }
  for (const dir of new Set(files.map((f) => dirname(f.path)))) syncDirectory(dir);
}

/** Reads a whole regular file; a missing file is a FormatError so callers handle all "bad input" alike. */
function readBytes(path: string): Uint8Array {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") throw new FormatError(`no such file: ${path}`);
    throw new FileError(readErrorMessage(path, e), { cause: e });
  }
  // A FIFO or a device would block or never end; /proc files claim size 0.
  if (st.isDirectory()) throw new FileError(`cannot read ${path}: it is a directory; name a file`);
  if (!st.isFile()) throw new FileError(`cannot read ${path}: it is ${kindOf(st)}, not a regular file`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new FileError(readErrorMessage(path, e), { cause: e });
  }
}

/** Reads a text file (e.g. a sidecar) as UTF-8, with the errors of {@link readBytes}. */
export function readTextFile(path: string): string {
  return new TextDecoder().decode(readBytes(path));
}

/** Runs a decoder, prefixing its FormatError with the file path so the message says which file is bad. */
function decodeAt<T>(path: string, bytes: Uint8Array, decode: (bytes: Uint8Array) => T): T {
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Reads and validates a safetensors file. If its metadata has `sha256` (every file written by
 * {@link writeSafetensorsFile}; v0.1's files have none), the data region must hash to it, else a
 * FormatError says the file is corrupted. The key is not returned in `metadata`.
 */
export function readSafetensorsFile(path: string): DecodedSafetensors {
  const bytes = readBytes(path);
  const file = decodeAt(path, bytes, decodeSafetensors);
  const recorded = file.metadata[SHA256_KEY];
  if (recorded === undefined) return file;
  const actual = sha256Hex(bytes.subarray(safetensorsDataStart(bytes)));
  if (actual !== recorded) {
    throw new FormatError(
      `${path} is corrupted: the sha256 of its tensor data is ${actual.slice(0, 12)}…, its header records ${recorded.slice(0, 12)}… ` +
        "(bytes changed after it was written); restore it from a copy or retrain",
    );
  }
  const { [SHA256_KEY]: _, ...metadata } = file.metadata;
  return { tensors: file.tensors, metadata };
}

/** Writes a safetensors file atomically, with the sha256 of its data region in the metadata. */
export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(
    path,
    encodeSafetensors(tensors, metadata, (data) => ({ [SHA256_KEY]: sha256Hex(data) })),
  );
}

export function readNpyFile(path: string): DecodedNpy {
  return decodeAt(path, readBytes(path), decodeNpy);
}

export function writeNpyFile(
  path: string,
  data: Float64Array | Float32Array,
  shape: readonly number[],
): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}

// ---------------------------------------------------------------------------------------------
// Output paths, checked before the work starts.

/** Filesystems that are no place for output files (writing there can hang or do something else). */
const SPECIAL_ROOTS = ["/proc", "/sys", "/dev"];
/** Ordinary tmpfs under /dev. */
const ORDINARY_UNDER_SPECIAL = ["/dev/shm"];

const under = (path: string, root: string) => path === root || path.startsWith(`${root}/`);

/** The real absolute path (symlinks of the existing part resolved), or the absolute one. */
function realPathOf(path: string): string {
  const abs = resolve(path);
  let existing = abs;
  const rest: string[] = [];
  while (!exists(existing) && dirname(existing) !== existing) {
    rest.unshift(basename(existing));
    existing = dirname(existing);
  }
  try {
    return join(realpathSync(existing), ...rest);
  } catch {
    return abs;
  }
}

function checkNotSpecial(path: string, flag: string): void {
  const real = realPathOf(path);
  const root = SPECIAL_ROOTS.find((r) => under(real, r));
  if (root !== undefined && !ORDINARY_UNDER_SPECIAL.some((r) => under(real, r))) {
    throw new FileError(
      `${flag} ${path}: ${root} is a kernel filesystem (like /proc, /sys, /dev), not a place for output files; choose another ${flag}`,
    );
  }
}

/**
 * `dir` is a directory we may write `target` into: it exists, is a directory and is writable (a
 * probe file is created and removed: the only test that sees read-only mounts, and root's
 * powers, as they are).
 */
function checkWritableDirectory(dir: string, target: string, flag: string): void {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new FileError(writeErrorMessage(target, e, flag, dir), { cause: e });
  }
  if (!st.isDirectory()) {
    throw new FileError(
      `cannot write ${target}: ${dir} is a file, not a directory (ENOTDIR); choose another ${flag}`,
    );
  }
  const probe = join(dir, `.latticeflow-probe-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  try {
    closeSync(openSync(probe, "wx"));
  } catch (e) {
    throw new FileError(writeErrorMessage(target, e, flag, dir), { cause: e });
  }
  removeQuietly(probe);
}

/**
 * Checks, before any work, that files can be written into `dir`: not under /proc, /sys or /dev;
 * `dir` exists, is a directory and is writable. With `mayCreate`, a missing `dir` is fine if its
 * nearest existing ancestor is a writable directory ({@link ensureOutputDirectory} then makes it).
 */
export function checkOutputDirectory(dir: string, flag = "--out", mayCreate = false): void {
  const target = `into ${dir}`;
  checkNotSpecial(dir, flag);
  if (!mayCreate || exists(dir)) {
    checkWritableDirectory(dir, target, flag);
    return;
  }
  const blocker = fileInTheWay(dir);
  if (blocker !== null) {
    throw new FileError(
      `cannot write ${target}: ${blocker} is a file, not a directory (ENOTDIR); choose another ${flag}`,
    );
  }
  let ancestor = resolve(dir);
  while (!exists(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  checkWritableDirectory(ancestor, target, flag);
}

/** Creates the output directory and its parents if need be; failures are a FileError. */
export function ensureOutputDirectory(dir: string, flag = "--out"): void {
  checkNotSpecial(dir, flag);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const blocker = fileInTheWay(dir);
    if (blocker !== null) {
      throw new FileError(
        `cannot create ${dir}: ${blocker} is a file, not a directory (ENOTDIR); choose another ${flag}`,
        {
          cause: e,
        },
      );
    }
    throw new FileError(writeErrorMessage(dir, e, flag).replace(/^cannot write/, "cannot create"), {
      cause: e,
    });
  }
}

export interface OutputOptions {
  /** Replace existing outputs; without it an existing one is an error naming --force. */
  force?: boolean;
  /** The flag that names the output, for the messages (default "--out"). */
  flag?: string;
  /** A missing directory is created when the files are written (hmc): check its nearest ancestor. */
  mayCreateDirectory?: boolean;
}

/**
 * Checks output files before any work: each directory exists and is writable; each path is
 * nothing yet, or (with `force`) a regular file; never a directory, FIFO, device or socket, nor
 * under /proc, /sys or /dev. The first file is the one the user named; the others are its
 * companions (sidecars), which count as existing output too.
 */
export function checkOutputFiles(paths: readonly string[], opts: OutputOptions = {}): void {
  const flag = opts.flag ?? "--out";
  for (const p of paths) checkNotSpecial(p, flag);
  const dirs = new Map<string, string>();
  for (const p of paths) if (!dirs.has(dirname(p))) dirs.set(dirname(p), p);
  for (const [dir, p] of dirs) {
    if (opts.mayCreateDirectory === true && !exists(dir)) checkOutputDirectory(dir, flag, true);
    else checkWritableDirectory(dir, p, flag);
  }
  const existing: string[] = [];
  for (const p of paths) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") continue; // nothing there (or a dangling symlink, which rename replaces)
      throw new FileError(writeErrorMessage(p, e, flag), { cause: e });
    }
    if (st.isDirectory()) throw new FileError(`${flag} ${p}: it is a directory; ${flag} must name a file`);
    if (!st.isFile()) {
      throw new FileError(`${flag} ${p}: it is ${kindOf(st)}, not a regular file; choose another ${flag}`);
    }
    existing.push(p);
  }
  if (existing.length > 0 && opts.force !== true) {
    const also =
      existing.length > 1
        ? ` (and ${existing
            .slice(1)
            .map((p) => basename(p))
            .join(", ")})`
        : "";
    throw new FileError(
      `${existing[0]} already exists${also}; pass --force to replace it, or choose another ${flag}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Ensembles: <out>.npy [N, ...configShape], its companions and the sidecar <out>.json.

/** The companion files of an ensemble, by role. */
export const ENSEMBLE_COMPANIONS = {
  /** MH accept flags, float64 0/1 [N] (sample --mh). */
  accepted: ".accepted.npy",
  /** Log weights −S − log q, float64 [N] (direct flow samples). */
  logw: ".logw.npy",
} as const;
export type CompanionRole = keyof typeof ENSEMBLE_COMPANIONS;
const ROLES = Object.keys(ENSEMBLE_COMPANIONS) as CompanionRole[];

export interface EnsemblePaths {
  npy: string;
  json: string;
  accepted: string;
  logw: string;
}

/** Where an ensemble `out` (ending in .npy) keeps its companions and sidecar. */
export function ensemblePaths(out: string): EnsemblePaths {
  const stem = out.replace(/\.npy$/, "");
  return {
    npy: out,
    json: `${out}.json`,
    accepted: `${stem}${ENSEMBLE_COMPANIONS.accepted}`,
    logw: `${stem}${ENSEMBLE_COMPANIONS.logw}`,
  };
}

/** Every file an ensemble at `out` may have: what {@link checkOutputFiles} should check before sampling. */
export function ensembleOutputFiles(out: string): string[] {
  const p = ensemblePaths(out);
  return [p.npy, p.json, p.accepted, p.logw];
}

export interface EnsembleWrite {
  /** The configurations, float64 [N, ...configShape]. */
  data: Float64Array;
  shape: readonly number[];
  companions?: Partial<Record<CompanionRole, Float64Array>>;
  /** The sidecar's fields; `sha256` ({npy, accepted?, logw?}) is added. */
  sidecar: Record<string, unknown>;
}

/**
 * Writes an ensemble, its companions and its sidecar together: all temp files first, then the
 * companions of an earlier ensemble at `out` that this one does not have are removed (a stale
 * .accepted.npy beside raw samples would be read as theirs), then the renames, the sidecar
 * last. The sidecar records the sha256 of every .npy it vouches for.
 */
export function writeEnsemble(out: string, e: EnsembleWrite): void {
  const paths = ensemblePaths(out);
  const files: { path: string; bytes: Uint8Array | string }[] = [];
  const sha256: Record<string, string> = {};
  const npy = encodeNpy(e.data, e.shape);
  sha256.npy = sha256Hex(npy);
  files.push({ path: paths.npy, bytes: npy });
  const stale: string[] = [];
  for (const role of ROLES) {
    const c = e.companions?.[role];
    if (c === undefined) {
      if (exists(paths[role])) stale.push(paths[role]);
      continue;
    }
    const bytes = encodeNpy(c, [c.length]);
    sha256[role] = sha256Hex(bytes);
    files.push({ path: paths[role], bytes });
  }
  const sidecar = { ...e.sidecar, sha256 };
  files.push({ path: paths.json, bytes: `${JSON.stringify(sidecar, null, 2)}\n` });
  writeFilesAtomic(files, stale);
}

export interface ReadEnsemble {
  npy: DecodedNpy;
  /** `<path>.json`, or null when there is none. */
  sidecar: Record<string, unknown> | null;
  /**
   * Companions that are present and belong to the ensemble: with a sidecar that records hashes,
   * those it lists, already verified (a mismatch was thrown); with an older sidecar or none,
   * whatever is present, decoded only when `read` is called (a caller that does not use one
   * does not fail on it).
   */
  companions: Partial<Record<CompanionRole, { path: string; read(): DecodedNpy }>>;
  /** The files whose recorded sha256 was checked. */
  verified: string[];
}

function parseSidecar(path: string): Record<string, unknown> | null {
  if (!exists(path)) return null;
  const text = readTextFile(path);
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${path} is not a valid JSON object (${(e as Error).message}); fix or delete it`);
  }
  if (x === null || typeof x !== "object" || Array.isArray(x)) {
    throw new FormatError(`${path} is not a valid JSON object (not an object); fix or delete it`);
  }
  return x as Record<string, unknown>;
}

function recordedHashes(
  sidecar: Record<string, unknown> | null,
  path: string,
): Record<string, string> | null {
  const h = sidecar?.sha256;
  if (h === undefined) return null;
  if (h === null || typeof h !== "object" || Array.isArray(h)) {
    throw new FormatError(
      `${path}: 'sha256' is not an object of hashes; re-create the ensemble or delete the sidecar`,
    );
  }
  for (const [k, v] of Object.entries(h)) {
    if (typeof v !== "string") throw new FormatError(`${path}: 'sha256.${k}' is not a string`);
  }
  return h as Record<string, string>;
}

function readVerified(path: string, recorded: string | undefined, sidecarPath: string): DecodedNpy {
  const bytes = readBytes(path);
  if (recorded !== undefined) {
    const actual = sha256Hex(bytes);
    if (actual !== recorded) {
      throw new FormatError(
        `${path} is corrupted: its sha256 is ${actual.slice(0, 12)}…, ${basename(sidecarPath)} recorded ${recorded.slice(0, 12)}… ` +
          "when it was written (the file changed since); re-create it (rerun sample or hmc) or restore it",
      );
    }
  }
  return decodeAt(path, bytes, decodeNpy);
}

/**
 * Reads an ensemble `.npy`, its sidecar `<path>.json` and its companions, checking each file
 * against the sha256 its sidecar records (sidecars before v0.2 record none: nothing to check). A
 * sidecar with hashes lists the companions of its ensemble: one it does not list is stale (left by
 * an earlier run) and ignored. A mismatch is a FormatError saying the file is corrupted.
 */
export function readEnsemble(path: string): ReadEnsemble {
  const sidecarPath = `${path}.json`;
  const sidecar = parseSidecar(sidecarPath);
  const hashes = recordedHashes(sidecar, sidecarPath);
  const npy = readVerified(path, hashes?.npy, sidecarPath);
  const verified = hashes?.npy !== undefined ? [path] : [];
  const paths = ensemblePaths(path);
  const companions: ReadEnsemble["companions"] = {};
  for (const role of ROLES) {
    const named = sidecar?.[`${role}File`];
    const p = typeof named === "string" && named !== "" ? join(dirname(path), basename(named)) : paths[role];
    if (!exists(p)) continue;
    if (hashes === null) {
      companions[role] = { path: p, read: () => readNpyFile(p) };
      continue;
    }
    if (hashes[role] === undefined) continue; // stale: not this ensemble's
    const npy = readVerified(p, hashes[role], sidecarPath);
    companions[role] = { path: p, read: () => npy };
    verified.push(p);
  }
  return { npy, sidecar, companions, verified };
}
