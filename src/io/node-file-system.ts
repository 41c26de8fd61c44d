/**
 * The real file system: `FileSystem` on node:fs/promises. Reads and writes are positional (pread and
 * pwrite), looped until complete, so a short transfer never reaches the caller except a read at end of
 * file. Every system error becomes an `IoError` carrying its errno, so the storage layers can tell a
 * full disk (ENOSPC) from a failed fsync (EIO) without knowing about node:fs.
 *
 * One process owns a data directory (the LOCK file enforces it), so a handle caches its file's size:
 * `append` writes at that cached end without an fstat per call. Keep one writing handle per file.
 */
import { constants as fsConstants, fstatSync, readSync, writeSync } from 'node:fs';
import { mkdir, type FileHandle as NodeHandle, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { assert } from '../util/assert.js';
import {
  type FileHandle,
  type FileSystem,
  type IoCallKind,
  IoError,
  type OpenOptions,
  sortNamesBytewise,
} from './file-system.js';

const FILE_MODE = 0o644;

/**
 * Wraps a system error (one with an errno code such as ENOENT) in an `IoError`. Errors without an
 * errno code (node's ERR_* argument errors, assertion failures) are bugs, not I/O faults, and pass
 * through unchanged so they are not mistaken for a failing disk.
 */
export function toIoError(error: unknown, kind: IoCallKind, path: string): unknown {
  if (error instanceof IoError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return error;
  return new IoError(code, kind, path, error);
}

async function wrap<T>(kind: IoCallKind, path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toIoError(error, kind, path);
  }
}

function openFlags(options: OpenOptions): number {
  let flags = options.readOnly === true ? fsConstants.O_RDONLY : fsConstants.O_RDWR;
  if (options.create === true) {
    flags |= fsConstants.O_CREAT;
    if (options.exclusive === true) flags |= fsConstants.O_EXCL;
  }
  return flags;
}

function assertOffset(value: number, what: string): void {
  assert(Number.isSafeInteger(value) && value >= 0, `${what} must be a non-negative integer: ${value}`);
}

export class NodeFileSystem implements FileSystem {
  async open(path: string, options: OpenOptions = {}): Promise<FileHandle> {
    const handle = await wrap('open', path, () => open(path, openFlags(options), FILE_MODE));
    try {
      const stats = await handle.stat();
      return new NodeFileHandle({ path, handle, sizeBytes: stats.size });
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw toIoError(error, 'open', path);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    await wrap('rename', from, () => rename(from, to));
  }

  async unlink(path: string): Promise<void> {
    await wrap('unlink', path, () => unlink(path));
  }

  /** Opens the directory read-only and fsyncs it: the only way to make a name change durable. */
  async syncDirectory(directory: string): Promise<void> {
    await wrap('syncDirectory', directory, async () => {
      const handle = await open(directory, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  async mkdir(directory: string): Promise<void> {
    await wrap('mkdir', directory, () => mkdir(directory, { recursive: true }));
  }

  async list(directory: string): Promise<string[]> {
    const names = await wrap('list', directory, () => readdir(directory));
    return sortNamesBytewise(names);
  }

  async exists(path: string): Promise<boolean> {
    try {
      await stat(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw toIoError(error, 'exists', path);
    }
  }
}

interface NodeFileHandleInit {
  path: string;
  handle: NodeHandle;
  sizeBytes: number;
}

class NodeFileHandle implements FileHandle {
  readonly path: string;
  private readonly handle: NodeHandle;
  /** The file's size as this process last changed it (fstat at open, then kept up to date). */
  private cachedSizeBytes: number;
  private closed = false;

  constructor(init: NodeFileHandleInit) {
    this.path = init.path;
    this.handle = init.handle;
    this.cachedSizeBytes = init.sizeBytes;
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    assertOffset(offsetBytes, 'read offset');
    assertOffset(lengthBytes, 'read length');
    this.assertOpen('read');
    const buffer = new Uint8Array(lengthBytes);
    let doneBytes = 0;
    await wrap('read', this.path, async () => {
      while (doneBytes < lengthBytes) {
        const { bytesRead } = await this.handle.read(
          buffer,
          doneBytes,
          lengthBytes - doneBytes,
          offsetBytes + doneBytes,
        );
        if (bytesRead === 0) break; // end of file: the only reason a read comes back short
        doneBytes += bytesRead;
      }
    });
    // A short result is copied so it does not pin the full-length buffer.
    return doneBytes === lengthBytes ? buffer : buffer.slice(0, doneBytes);
  }

  readBlocking(offsetBytes: number, lengthBytes: number): Uint8Array {
    assertOffset(lengthBytes, 'read length');
    const buffer = new Uint8Array(lengthBytes);
    const doneBytes = this.readBlockingInto(offsetBytes, buffer);
    return doneBytes === lengthBytes ? buffer : buffer.slice(0, doneBytes);
  }

  readBlockingInto(offsetBytes: number, buffer: Uint8Array): number {
    assertOffset(offsetBytes, 'read offset');
    this.assertOpen('read');
    const lengthBytes = buffer.length;
    let doneBytes = 0;
    try {
      while (doneBytes < lengthBytes) {
        const bytesRead = readSync(
          this.handle.fd,
          buffer,
          doneBytes,
          lengthBytes - doneBytes,
          offsetBytes + doneBytes,
        );
        if (bytesRead === 0) break; // end of file, as in read
        doneBytes += bytesRead;
      }
    } catch (error) {
      throw toIoError(error, 'read', this.path);
    }
    return doneBytes;
  }

  async write(offsetBytes: number, bytes: Uint8Array): Promise<void> {
    assertOffset(offsetBytes, 'write offset');
    this.assertOpen('write');
    await this.writeAll({ kind: 'write', offsetBytes, bytes });
  }

  writeBlocking(offsetBytes: number, bytes: Uint8Array): void {
    assertOffset(offsetBytes, 'write offset');
    this.assertOpen('write');
    if (bytes.length === 0) return;
    this.cachedSizeBytes = Math.max(this.cachedSizeBytes, offsetBytes + bytes.length);
    try {
      let doneBytes = 0;
      while (doneBytes < bytes.length) {
        const written = writeSync(
          this.handle.fd,
          bytes,
          doneBytes,
          bytes.length - doneBytes,
          offsetBytes + doneBytes,
        );
        assert(written > 0, 'pwrite made no progress without an error');
        doneBytes += written;
      }
    } catch (error) {
      try {
        this.cachedSizeBytes = fstatSync(this.handle.fd).size; // a failed write may have extended it
      } catch {
        // The handle is failing anyway; the caller gets the original error.
      }
      throw toIoError(error, 'write', this.path);
    }
  }

  async append(bytes: Uint8Array): Promise<number> {
    this.assertOpen('append');
    // The offset is taken (and the cached size advanced) before awaiting, so concurrent appends on
    // one handle get disjoint ranges.
    const offsetBytes = this.cachedSizeBytes;
    await this.writeAll({ kind: 'append', offsetBytes, bytes });
    return offsetBytes;
  }

  async sync(): Promise<void> {
    this.assertOpen('sync');
    await wrap('sync', this.path, () => this.handle.sync());
  }

  async datasync(): Promise<void> {
    this.assertOpen('datasync');
    await wrap('datasync', this.path, () => this.handle.datasync());
  }

  async truncate(sizeBytes: number): Promise<void> {
    assertOffset(sizeBytes, 'truncate size');
    this.assertOpen('truncate');
    await wrap('truncate', this.path, () => this.handle.truncate(sizeBytes));
    this.cachedSizeBytes = sizeBytes;
  }

  async sizeBytes(): Promise<number> {
    this.assertOpen('size');
    return this.cachedSizeBytes;
  }

  async close(): Promise<void> {
    this.assertOpen('close');
    // Linux releases the descriptor even when close reports an error, so the handle is closed
    // either way and a retry cannot close somebody else's descriptor.
    this.closed = true;
    await wrap('close', this.path, () => this.handle.close());
  }

  private async writeAll(request: {
    kind: IoCallKind;
    offsetBytes: number;
    bytes: Uint8Array;
  }): Promise<void> {
    const { kind, offsetBytes, bytes } = request;
    if (bytes.length === 0) return; // pwrite of nothing never extends a file
    const endBytes = offsetBytes + bytes.length;
    this.cachedSizeBytes = Math.max(this.cachedSizeBytes, endBytes);
    try {
      let doneBytes = 0;
      while (doneBytes < bytes.length) {
        const { bytesWritten } = await this.handle.write(
          bytes,
          doneBytes,
          bytes.length - doneBytes,
          offsetBytes + doneBytes,
        );
        assert(bytesWritten > 0, 'pwrite made no progress without an error');
        doneBytes += bytesWritten;
      }
    } catch (error) {
      await this.refreshSize();
      throw toIoError(error, kind, this.path);
    }
  }

  /** After a failed write the file may be partly extended; fstat tells the truth again. */
  private async refreshSize(): Promise<void> {
    try {
      this.cachedSizeBytes = (await this.handle.stat()).size;
    } catch {
      // The handle is failing anyway; the caller already gets the original error.
    }
  }

  private assertOpen(kind: IoCallKind): void {
    if (this.closed) throw new IoError('EBADF', kind, this.path);
  }
}
