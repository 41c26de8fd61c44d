/**
 * SimFileSystem: an in-memory, deterministic, fault-injecting `FileSystem`, modelled on SQLite's crash
 * VFS and FoundationDB's non-durable file. Every call completes at once (no timers), every random
 * choice comes from one `SeededRandom(seed)`, so the same seed and the same calls give the same bytes.
 *
 * Model. Each file (inode) has current bytes (the page cache, what reads see), durable bytes (what a
 * power loss keeps) and the writes and truncates issued since its last sync/datasync. Names live in a
 * current map and a durable map; create, rename and unlink change the current map at once and stay
 * pending, per directory, until `syncDirectory`. fsync of a file never makes its name durable.
 *
 * Fault model (TESTING.md, "The fault model"):
 *
 * | fault            | how to get it                    | what happens                                         |
 * |------------------|----------------------------------|------------------------------------------------------|
 * | process death    | `processCrash()`                 | SIGKILL: the next instance starts from the page      |
 * |                  |                                  | cache (current bytes and names, all made durable)    |
 * | power loss       | `powerLoss()`                    | durable state, plus each pending 4 KiB block of each |
 * |                  |                                  | file written, dropped or torn at 512 B, in random    |
 * |                  |                                  | order; each pending truncate applied or not; a       |
 * |                  |                                  | random in-order prefix of each directory's pending   |
 * |                  |                                  | name operations                                      |
 * | crash at call N  | `crashAfterCall(n)`              | call n completes; every later call rejects with      |
 * |                  | `crashDuringCall(n)`             | SimulatedCrashError. "During" a write/append: a      |
 * |                  |                                  | seeded subset of its 512 B sectors lands in the page |
 * |                  |                                  | cache; any other call does not happen                |
 * | torn write       | power loss, crashDuringCall      | sectors are wholly old or wholly new, never mixed    |
 * | bit rot          | `flipBitsOnRead`                 | one bit of a read's returned copy (stored intact)    |
 * |                  | `corruptAtRest`                  | one bit of the stored file, current and durable      |
 * | misdirected I/O  | `misdirectWrite`, `misdirectRead`| the nth write lands, or nth read reads, at offset +  |
 * |                  |                                  | delta (the write observer sees the intended offset)  |
 * | fsync failure    | `failCall({ kind: 'datasync' })` | EIO/ENOSPC; the file's pending writes meet random    |
 * |                  |                                  | fates at once and are forgotten (Linux): a retried   |
 * |                  |                                  | sync then "succeeds" without them. Never retry.      |
 * | any call fails   | `failCall({ kind, nth, ... })`   | IoError, nothing changes (a failed close still       |
 * |                  |                                  | releases the handle, as on Linux); `persistent`      |
 * |                  |                                  | keeps failing until `clearFaults()`                  |
 * | full disk        | `setFreeSpace(bytes)`            | a write/append/truncate that grows the total size    |
 * |                  |                                  | of all files past the limit: ENOSPC, nothing written |
 * | clock faults     | not here                         | clocks are injected separately, not through files    |
 *
 * Simplifications a database author must know: directories made by `mkdir` are durable at once; a
 * rename across directories is pending in the destination directory only; `processCrash` treats the
 * whole page cache as durable, so a later power loss cannot take back unsynced bytes that survived
 * the process death; fsync and fdatasync behave alike. Faults, observers and counters do not carry
 * over to the instance a crash returns. A "nth" always counts matching calls made after the fault is
 * armed (1 = the next). Call numbers start at 1 and count every call, failed ones included. Write
 * observers see every write and append before it lands (a torn one in full, at its intended offset).
 */

import { assert } from '../util/assert.js';
import type { FileHandle, FileSystem, IoCallKind, OpenOptions } from './file-system.js';
import type { FailCallOptions, FlipBitsOnReadOptions, MisdirectOptions } from './sim-faults.js';
import {
  type IoCallRecord,
  type MachineImage,
  type OpenFile,
  SimKernel,
  SimulatedCrashError,
  type WriteEvent,
  type WriteObserver,
} from './sim-kernel.js';

export { SIM_BLOCK_BYTES, SIM_SECTOR_BYTES } from './sim-storage.js';
export type {
  FailCallOptions,
  FlipBitsOnReadOptions,
  IoCallRecord,
  MisdirectOptions,
  WriteEvent,
  WriteObserver,
};
export { SimulatedCrashError };

export interface SimFileSystemOptions {
  seed: number;
  /** Record every call (number, kind, path, offset, length) for `callTrace()`; off by default. */
  trace?: boolean;
}

export interface PowerLossResult {
  fs: SimFileSystem;
  /** One readable line per decision (name operations kept or lost, each block's fate), for failing tests. */
  report: string[];
}

export class SimFileSystem implements FileSystem {
  /** The seed this instance draws from; a test prints it so `JUBILANT_SEED` can replay the run. */
  readonly seed: number;
  private readonly kernel: SimKernel;
  private readonly traceEnabled: boolean;

  constructor(options: SimFileSystemOptions) {
    this.traceEnabled = options.trace === true;
    this.kernel = new SimKernel(options.seed, this.traceEnabled);
    this.seed = this.kernel.seed;
  }

  // --- FileSystem ------------------------------------------------------------------------------

  async open(path: string, options: OpenOptions = {}): Promise<FileHandle> {
    return new SimFileHandle(this.kernel, this.kernel.open(path, options));
  }

  async rename(from: string, to: string): Promise<void> {
    this.kernel.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.kernel.unlink(path);
  }

  async syncDirectory(directory: string): Promise<void> {
    this.kernel.syncDirectory(directory);
  }

  async mkdir(directory: string): Promise<void> {
    this.kernel.mkdir(directory);
  }

  async list(directory: string): Promise<string[]> {
    return this.kernel.list(directory);
  }

  async exists(path: string): Promise<boolean> {
    return this.kernel.exists(path);
  }

  // --- crashes ---------------------------------------------------------------------------------

  /** SIGKILL now. This instance and its handles are dead; the returned one starts from the page cache. */
  processCrash(): SimFileSystem {
    return this.successor(this.kernel.processCrash());
  }

  /** Power cut now. This instance and its handles are dead; the returned one holds what survived. */
  powerLoss(): PowerLossResult {
    const report: string[] = [];
    const fs = this.successor(this.kernel.powerLoss(report));
    return { fs, report };
  }

  /** Call `n` completes normally; every call after it rejects with SimulatedCrashError. */
  crashAfterCall(n: number): void {
    assert(Number.isSafeInteger(n) && n >= 0, `crashAfterCall needs an integer >= 0: ${n}`);
    this.kernel.crashAfter = n;
  }

  /** Call `n` is cut short (a write/append lands torn, anything else does not happen) and rejects. */
  crashDuringCall(n: number): void {
    assert(Number.isSafeInteger(n) && n >= 1, `crashDuringCall needs an integer >= 1: ${n}`);
    this.kernel.crashDuring = n;
  }

  /** True once a crash point was reached, or processCrash/powerLoss was called. */
  get crashed(): boolean {
    return this.kernel.dead;
  }

  /** Calls so far (of one kind, or of all kinds); failed calls count, calls rejected after a crash do not. */
  callCount(kind?: IoCallKind): number {
    return this.kernel.callCount(kind);
  }

  /** The calls recorded with `{ trace: true }`. */
  callTrace(): readonly IoCallRecord[] {
    return this.kernel.trace;
  }

  /** The last `count` traced calls, one per line: `#12 write /db/wal @4096 +512`. */
  formatTrace(count = Number.POSITIVE_INFINITY): string {
    return this.kernel.trace.slice(-count).map(formatCall).join('\n');
  }

  // --- faults ----------------------------------------------------------------------------------

  failCall(options: FailCallOptions): void {
    this.kernel.faults.addFailure(options);
  }

  misdirectWrite(options: MisdirectOptions): void {
    this.kernel.faults.addMisdirect('write', options);
  }

  misdirectRead(options: MisdirectOptions): void {
    this.kernel.faults.addMisdirect('read', options);
  }

  flipBitsOnRead(options: FlipBitsOnReadOptions): void {
    this.kernel.faults.addFlip(options);
  }

  /** Clears failCall, misdirect and flipBitsOnRead faults (not the free-space limit, not observers). */
  clearFaults(): void {
    this.kernel.faults.clear();
  }

  /** Flips bit `bitIndex` (0..7) of the byte at `offsetBytes` in the current and the durable bytes. */
  corruptAtRest(path: string, offsetBytes: number, bitIndex: number): void {
    this.kernel.corruptAtRest(path, offsetBytes, bitIndex);
  }

  /** Caps the total size of all files; `undefined` lifts the cap. */
  setFreeSpace(bytes: number | undefined): void {
    assert(bytes === undefined || (Number.isSafeInteger(bytes) && bytes >= 0), `bad free space: ${bytes}`);
    this.kernel.freeSpaceBytes = bytes;
  }

  /** Every injected fault that fired, one line each, for a failing test to print. */
  faultLog(): readonly string[] {
    return this.kernel.notes;
  }

  /**
   * Runs `observer` synchronously before each write or append lands; if it throws, that call rejects
   * with the thrown error and writes nothing. Returns a function that removes the observer.
   */
  addWriteObserver(observer: WriteObserver): () => void {
    this.kernel.observers.add(observer);
    return () => {
      this.kernel.observers.delete(observer);
    };
  }

  // --- inspection (never counted, works after a crash) -----------------------------------------

  /** The file's current (page cache) bytes, or undefined when no such name exists now. */
  snapshot(path: string): Uint8Array | undefined {
    return this.kernel.snapshot(path);
  }

  /** The bytes a power loss with every pending write dropped would leave under this durable name. */
  durableSnapshot(path: string): Uint8Array | undefined {
    return this.kernel.durableSnapshot(path);
  }

  /** Total current size of all files, as `setFreeSpace` counts it. */
  usedBytes(): number {
    return this.kernel.usedBytes();
  }

  private successor(image: MachineImage): SimFileSystem {
    const next = new SimFileSystem({ seed: image.seed, trace: this.traceEnabled });
    next.kernel.restore(image);
    return next;
  }
}

function formatCall(call: IoCallRecord): string {
  const at = call.offsetBytes === undefined ? '' : ` @${call.offsetBytes}`;
  const length = call.lengthBytes === undefined ? '' : ` +${call.lengthBytes}`;
  const to = call.to === undefined ? '' : ` -> ${call.to}`;
  return `#${call.callNumber} ${call.kind} ${call.path}${to}${at}${length}`;
}

/** A handle on a simulated file; it dies with its SimFileSystem instance. */
class SimFileHandle implements FileHandle {
  readonly path: string;

  constructor(
    private readonly kernel: SimKernel,
    private readonly file: OpenFile,
  ) {
    this.path = file.path;
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    assertNonNegative(offsetBytes, 'read offset');
    assertNonNegative(lengthBytes, 'read length');
    return this.kernel.read(this.file, offsetBytes, lengthBytes);
  }

  readBlocking(offsetBytes: number, lengthBytes: number): Uint8Array {
    assertNonNegative(offsetBytes, 'read offset');
    assertNonNegative(lengthBytes, 'read length');
    return this.kernel.read(this.file, offsetBytes, lengthBytes);
  }

  readBlockingInto(offsetBytes: number, buffer: Uint8Array): number {
    const bytes = this.readBlocking(offsetBytes, buffer.length);
    buffer.set(bytes);
    return bytes.length;
  }

  async write(offsetBytes: number, bytes: Uint8Array): Promise<void> {
    assertNonNegative(offsetBytes, 'write offset');
    this.kernel.write(this.file, offsetBytes, bytes);
  }

  writeBlocking(offsetBytes: number, bytes: Uint8Array): void {
    assertNonNegative(offsetBytes, 'write offset');
    this.kernel.write(this.file, offsetBytes, bytes);
  }

  async append(bytes: Uint8Array): Promise<number> {
    return this.kernel.append(this.file, bytes);
  }

  async sync(): Promise<void> {
    this.kernel.sync(this.file, 'sync');
  }

  async datasync(): Promise<void> {
    this.kernel.sync(this.file, 'datasync');
  }

  async truncate(sizeBytes: number): Promise<void> {
    assertNonNegative(sizeBytes, 'truncate size');
    this.kernel.truncate(this.file, sizeBytes);
  }

  async sizeBytes(): Promise<number> {
    return this.kernel.size(this.file);
  }

  async close(): Promise<void> {
    this.kernel.close(this.file);
  }
}

function assertNonNegative(value: number, what: string): void {
  assert(Number.isSafeInteger(value) && value >= 0, `${what} must be a non-negative integer: ${value}`);
}
