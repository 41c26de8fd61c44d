/**
 * The one file interface that every storage module uses (BRIEF.md, "Layers"). There are two
 * implementations: `NodeFileSystem` on node:fs, and `SimFileSystem`, which keeps unsynced writes
 * pending and injects faults for tests (sim-file-system.ts states its fault model).
 *
 * Durability contract, the same for both: bytes written by `write`/`append` survive a crash only after
 * a later `sync`/`datasync` of that file has resolved; a created, renamed or unlinked name survives
 * only after `syncDirectory` of its directory has resolved. Errors are `IoError`s carrying the errno
 * code (EIO, ENOSPC, ENOENT, ...) so callers can tell a full disk from a failed fsync.
 */
import { compareBytes } from '../util/bytes.js';
import { JubilantError } from '../util/errors.js';

export interface OpenOptions {
  /** Create the file when it does not exist (default false). */
  create?: boolean;
  /** With `create`: fail with EEXIST when the file exists (O_EXCL). */
  exclusive?: boolean;
  /** Open without write access. */
  readOnly?: boolean;
}

export interface FileHandle {
  readonly path: string;
  /**
   * Reads up to `lengthBytes` at `offsetBytes`. The result is shorter only at end of file
   * (a short read never means "try again").
   */
  read(offsetBytes: number, lengthBytes: number): Promise<Uint8Array>;
  /**
   * `read`, done before returning, on the calling thread. For a page read on a cache miss: from the
   * OS page cache a blocking pread takes a few microseconds, while a read through Node's thread pool
   * costs the main thread ~25 µs and the reader a thread hop. The price: a read that must reach the
   * device blocks the event loop for the device's latency. Throws the IoError instead of rejecting.
   */
  readBlocking(offsetBytes: number, lengthBytes: number): Uint8Array;
  /** `readBlocking` into `buffer` (all of it, up to end of file); returns the bytes read. */
  readBlockingInto(offsetBytes: number, buffer: Uint8Array): number;
  /** Writes all of `bytes` at `offsetBytes`, extending the file (with zeros for any gap) if needed. */
  write(offsetBytes: number, bytes: Uint8Array): Promise<void>;
  /**
   * `write`, done before returning, on the calling thread. For small writes on the hot path (a WAL
   * batch): handing a write to Node's thread pool costs the main thread about 25 µs, more than copying
   * a few KiB into the page cache, and adds a thread hop to every commit's latency. Same durability
   * contract as `write`; throws the IoError instead of rejecting.
   */
  writeBlocking(offsetBytes: number, bytes: Uint8Array): void;
  /** Writes all of `bytes` at the current end of file and returns the offset where they start. */
  append(bytes: Uint8Array): Promise<number>;
  /** fsync: file data and metadata are durable when this resolves. */
  sync(): Promise<void>;
  /** fdatasync: file data (and the size, when it changed) are durable when this resolves. */
  datasync(): Promise<void>;
  /** Sets the file's length; bytes past it are discarded, and extension reads as zeros. */
  truncate(sizeBytes: number): Promise<void>;
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}

export interface FileSystem {
  open(path: string, options?: OpenOptions): Promise<FileHandle>;
  /** Atomically replaces `to` with `from` (POSIX rename). */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Makes creations, renames and unlinks of names in `directory` durable. */
  syncDirectory(directory: string): Promise<void>;
  /** Creates the directory and its parents when missing. */
  mkdir(directory: string): Promise<void>;
  /** Names (not paths) in the directory, sorted bytewise. */
  list(directory: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
}

/** Kinds of calls, for counting and for fault injection ("fail the 3rd datasync"). */
export type IoCallKind =
  | 'open'
  | 'read'
  | 'write'
  | 'append'
  | 'sync'
  | 'datasync'
  | 'truncate'
  | 'size'
  | 'close'
  | 'rename'
  | 'unlink'
  | 'syncDirectory'
  | 'mkdir'
  | 'list'
  | 'exists';

/** A failed file operation. `errno` is the POSIX code name. */
export class IoError extends JubilantError {
  override name = 'IoError';
  readonly errno: string;
  readonly path: string;
  readonly operation: IoCallKind;

  constructor(errno: string, operation: IoCallKind, path: string, cause?: unknown) {
    super(
      errno === 'ENOSPC' ? 'DISK_FULL' : 'IO_ERROR',
      `${operation} ${path} failed: ${errno}`,
      cause === undefined ? {} : { cause },
    );
    this.errno = errno;
    this.path = path;
    this.operation = operation;
  }
}

export function isIoError(error: unknown, errno?: string): error is IoError {
  return error instanceof IoError && (errno === undefined || error.errno === errno);
}

/** Sorts names bytewise on their UTF-8 bytes (BRIEF.md, "Keys, values, names"), as `list` returns them. */
export function sortNamesBytewise(names: string[]): string[] {
  const encoder = new TextEncoder();
  return names
    .map((name) => ({ name, bytes: encoder.encode(name) }))
    .sort((left, right) => compareBytes(left.bytes, right.bytes))
    .map((entry) => entry.name);
}
