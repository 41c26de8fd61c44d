/**
 * The state and the semantics of one simulated machine: the namespace, the inodes, the call counter,
 * the crash points and the armed faults (sim-file-system.ts is its public face and states the fault
 * model). Every operation is synchronous and either completes or throws, so a call's effect never
 * interleaves with another's; the async facade only turns throws into rejections.
 */
import { assert, verify } from '../util/assert.js';
import { SeededRandom } from '../util/random.js';
import { type IoCallKind, IoError, type OpenOptions } from './file-system.js';
import { FaultPlan } from './sim-faults.js';
import { normalizePath, parentOf, SimNamespace } from './sim-namespace.js';
import { applyAll, resolvePending, SIM_SECTOR_BYTES, SimInode, splitAligned } from './sim-storage.js';

/** A simulated SIGKILL or power cut: the process is gone. Deliberately not an `IoError`. */
export class SimulatedCrashError extends Error {
  override name = 'SimulatedCrashError';
}

export interface IoCallRecord {
  callNumber: number;
  kind: IoCallKind;
  path: string;
  offsetBytes?: number;
  lengthBytes?: number;
  /** The destination of a rename. */
  to?: string;
}

export interface WriteEvent {
  path: string;
  /** Where the caller asked the bytes to go (a misdirected write lands elsewhere; see the fault model). */
  offsetBytes: number;
  bytes: Uint8Array;
}

export type WriteObserver = (event: WriteEvent) => void;

export interface OpenFile {
  /** The path as the caller spelled it. */
  readonly path: string;
  readonly inode: SimInode;
  readonly readOnly: boolean;
  closed: boolean;
}

/** The state a crash hands to the next instance: file bytes by normalized path, and directories. */
export interface MachineImage {
  seed: number;
  files: Map<string, Uint8Array>;
  directories: Set<string>;
}

interface CallContext {
  callNumber: number;
  /** This is the `crashDuringCall` call. */
  crashing: boolean;
  errno: 'EIO' | 'ENOSPC' | undefined;
  misdirectDeltaBytes: number;
}

/** Above this size a synced file's bytes are not compared with its durable image (cost, not safety). */
const VERIFY_SYNC_BYTES_MAX = 1 << 20;

export class SimKernel {
  readonly seed: number;
  readonly rng: SeededRandom;
  readonly faults = new FaultPlan();
  readonly observers = new Set<WriteObserver>();
  readonly notes: string[] = [];
  readonly trace: IoCallRecord[] = [];
  freeSpaceBytes: number | undefined;
  crashAfter: number | undefined;
  crashDuring: number | undefined;
  private readonly traceEnabled: boolean;
  private readonly names = new SimNamespace();
  private readonly openFiles = new Set<OpenFile>();
  private readonly countsByKind = new Map<IoCallKind, number>();
  private callTotal = 0;
  private deadReason: string | undefined;

  constructor(seed: number, traceEnabled: boolean) {
    this.rng = new SeededRandom(seed);
    this.seed = this.rng.seed;
    this.traceEnabled = traceEnabled;
  }

  get dead(): boolean {
    return this.deadReason !== undefined || this.crashAfterReached();
  }

  callCount(kind?: IoCallKind): number {
    return kind === undefined ? this.callTotal : (this.countsByKind.get(kind) ?? 0);
  }

  // --- namespace calls -------------------------------------------------------------------------

  open(path: string, options: OpenOptions): OpenFile {
    this.guard(this.enter({ kind: 'open', path }), 'open', path);
    const key = normalizePath(path);
    if (this.names.directories.has(key)) throw new IoError('EISDIR', 'open', path);
    let inode = this.names.current.get(key);
    if (inode === undefined) {
      if (options.create !== true || !this.names.directories.has(parentOf(key))) {
        throw new IoError('ENOENT', 'open', path);
      }
      inode = new SimInode();
      this.names.create(key, inode);
    } else if (options.create === true && options.exclusive === true) {
      throw new IoError('EEXIST', 'open', path);
    }
    const file: OpenFile = { path, inode, readOnly: options.readOnly === true, closed: false };
    this.openFiles.add(file);
    return file;
  }

  rename(from: string, to: string): void {
    this.guard(this.enter({ kind: 'rename', path: from, to }), 'rename', from);
    const fromKey = normalizePath(from);
    const toKey = normalizePath(to);
    const inode = this.names.current.get(fromKey);
    if (inode === undefined) throw new IoError('ENOENT', 'rename', from);
    if (this.names.directories.has(toKey)) throw new IoError('EISDIR', 'rename', to);
    if (!this.names.directories.has(parentOf(toKey))) throw new IoError('ENOENT', 'rename', to);
    if (fromKey === toKey) return; // POSIX: renaming a name onto itself does nothing
    this.names.rename(fromKey, toKey, inode);
  }

  unlink(path: string): void {
    this.guard(this.enter({ kind: 'unlink', path }), 'unlink', path);
    const key = normalizePath(path);
    if (this.names.directories.has(key)) throw new IoError('EISDIR', 'unlink', path);
    if (!this.names.current.has(key)) throw new IoError('ENOENT', 'unlink', path);
    this.names.unlink(key);
  }

  syncDirectory(directory: string): void {
    this.guard(this.enter({ kind: 'syncDirectory', path: directory }), 'syncDirectory', directory);
    const key = normalizePath(directory);
    if (!this.names.directories.has(key)) throw new IoError('ENOENT', 'syncDirectory', directory);
    this.names.syncDirectory(key);
  }

  mkdir(directory: string): void {
    this.guard(this.enter({ kind: 'mkdir', path: directory }), 'mkdir', directory);
    const key = normalizePath(directory);
    if (this.names.current.has(key)) throw new IoError('EEXIST', 'mkdir', directory);
    for (let parent = parentOf(key); parent !== '/'; parent = parentOf(parent)) {
      if (this.names.current.has(parent)) throw new IoError('ENOTDIR', 'mkdir', directory);
    }
    this.names.addDirectory(key);
  }

  list(directory: string): string[] {
    this.guard(this.enter({ kind: 'list', path: directory }), 'list', directory);
    const key = normalizePath(directory);
    if (this.names.current.has(key)) throw new IoError('ENOTDIR', 'list', directory);
    if (!this.names.directories.has(key)) throw new IoError('ENOENT', 'list', directory);
    return this.names.list(key);
  }

  exists(path: string): boolean {
    this.guard(this.enter({ kind: 'exists', path }), 'exists', path);
    const key = normalizePath(path);
    return this.names.current.has(key) || this.names.directories.has(key);
  }

  // --- handle calls ----------------------------------------------------------------------------

  read(file: OpenFile, offsetBytes: number, lengthBytes: number): Uint8Array {
    const context = this.enter({ kind: 'read', path: file.path, offsetBytes, lengthBytes });
    this.guard(context, 'read', file.path);
    this.checkOpen(file, 'read');
    const atBytes = offsetBytes + context.misdirectDeltaBytes;
    assert(atBytes >= 0, `a misdirected read would start before the file: ${atBytes}`);
    if (context.misdirectDeltaBytes !== 0) {
      this.note(context, `read ${file.path} at ${offsetBytes} misdirected to ${atBytes}`);
    }
    const bytes = file.inode.current.read(atBytes, lengthBytes);
    const flip = this.faults.maybeFlip(file.path, bytes, this.rng);
    if (flip !== undefined) {
      const where = `${atBytes + flip.offsetBytes} bit ${flip.bitIndex}`;
      this.note(context, `read ${file.path}: flipped the returned copy at ${where}`);
    }
    return bytes;
  }

  write(file: OpenFile, offsetBytes: number, bytes: Uint8Array): void {
    const context = this.enter({
      kind: 'write',
      path: file.path,
      offsetBytes,
      lengthBytes: bytes.length,
    });
    this.landWrite({ file, context, kind: 'write', offsetBytes, bytes });
  }

  append(file: OpenFile, bytes: Uint8Array): number {
    const offsetBytes = file.inode.current.sizeBytes;
    const context = this.enter({
      kind: 'append',
      path: file.path,
      offsetBytes,
      lengthBytes: bytes.length,
    });
    this.landWrite({ file, context, kind: 'append', offsetBytes, bytes });
    return offsetBytes;
  }

  /** fsync and fdatasync: both make the file's pending data and size durable, never its name. */
  sync(file: OpenFile, kind: 'sync' | 'datasync'): void {
    const context = this.enter({ kind, path: file.path });
    if (context.crashing) throw this.crashError(context.callNumber);
    this.checkOpen(file, kind);
    if (context.errno !== undefined) {
      this.failSync(file, kind, context);
      throw new IoError(context.errno, kind, file.path);
    }
    const { inode } = file;
    applyAll(inode.durable, inode.pending);
    inode.pending = [];
    if (!inode.diverged) {
      assert(inode.durable.sizeBytes === inode.current.sizeBytes, 'a synced file has its current size');
      verify(() => checkSynced(inode));
    }
  }

  truncate(file: OpenFile, sizeBytes: number): void {
    this.guard(
      this.enter({ kind: 'truncate', path: file.path, lengthBytes: sizeBytes }),
      'truncate',
      file.path,
    );
    this.checkWritable(file, 'truncate');
    this.checkSpace({ file, kind: 'truncate', endBytes: sizeBytes });
    file.inode.applyTruncate(sizeBytes);
  }

  size(file: OpenFile): number {
    this.guard(this.enter({ kind: 'size', path: file.path }), 'size', file.path);
    this.checkOpen(file, 'size');
    return file.inode.current.sizeBytes;
  }

  /** Like Linux, a close that reports an error has still released the handle. */
  close(file: OpenFile): void {
    const context = this.enter({ kind: 'close', path: file.path });
    if (context.crashing) throw this.crashError(context.callNumber);
    this.checkOpen(file, 'close');
    file.closed = true;
    this.openFiles.delete(file);
    if (context.errno !== undefined) throw new IoError(context.errno, 'close', file.path);
  }

  // --- crashes ---------------------------------------------------------------------------------

  /** SIGKILL: the page cache survives, so the next instance starts from the current bytes. */
  processCrash(): MachineImage {
    const files = new Map<string, Uint8Array>();
    for (const [path, inode] of this.names.current) files.set(path, inode.current.bytes());
    this.die('processCrash()');
    return { seed: this.rng.nextU32(), files, directories: new Set(this.names.directories) };
  }

  /** Power cut: durable bytes and names, plus seeded fates for everything pending. */
  powerLoss(report: string[]): MachineImage {
    report.push(`powerLoss: seed ${this.seed}, after call #${this.callTotal}`);
    const names = this.names.afterPowerLoss(this.rng, report);
    const images = new Map<SimInode, Uint8Array>();
    const files = new Map<string, Uint8Array>();
    for (const path of [...names.keys()].sort()) {
      const inode = names.get(path);
      assert(inode !== undefined, 'a listed name has an inode');
      let bytes = images.get(inode);
      if (bytes === undefined) {
        const image = inode.durable.copy();
        resolvePending({ image, pending: inode.pending, rng: this.rng, label: path, report });
        bytes = image.bytes();
        images.set(inode, bytes);
      }
      files.set(path, bytes);
    }
    this.die('powerLoss()');
    return { seed: this.rng.nextU32(), files, directories: new Set(this.names.directories) };
  }

  /** Loads a crash image into this fresh kernel: every byte and name is both current and durable. */
  restore(image: MachineImage): void {
    assert(this.callTotal === 0 && this.names.current.size === 0, 'restore only into a fresh kernel');
    for (const directory of image.directories) this.names.addDirectory(directory);
    for (const [path, bytes] of image.files) {
      const inode = new SimInode(bytes);
      this.names.current.set(path, inode);
      this.names.durable.set(path, inode);
    }
  }

  // --- inspection and at-rest faults -----------------------------------------------------------

  snapshot(path: string): Uint8Array | undefined {
    return this.names.current.get(normalizePath(path))?.current.bytes();
  }

  durableSnapshot(path: string): Uint8Array | undefined {
    return this.names.durable.get(normalizePath(path))?.durable.bytes();
  }

  /** Bit rot: the bit changes in the page cache, on disk, and in any pending write that covers it. */
  corruptAtRest(path: string, offsetBytes: number, bitIndex: number): void {
    assert(Number.isInteger(bitIndex) && bitIndex >= 0 && bitIndex < 8, `bitIndex must be 0..7: ${bitIndex}`);
    const inode = this.names.current.get(normalizePath(path));
    assert(inode !== undefined, `corruptAtRest: no file ${path}`);
    inode.current.flipBit(offsetBytes, bitIndex);
    if (offsetBytes < inode.durable.sizeBytes) inode.durable.flipBit(offsetBytes, bitIndex);
    for (const op of inode.pending) {
      const at = offsetBytes - (op.kind === 'write' ? op.offsetBytes : 0);
      if (op.kind === 'write' && at >= 0 && at < op.bytes.length) {
        op.bytes[at] = (op.bytes[at] ?? 0) ^ (1 << bitIndex);
      }
    }
    inode.diverged = true; // a truncate-then-extend in pending can no longer reproduce the flip
  }

  /** Total current size of every file that is named or still open (unlinked files keep their space). */
  usedBytes(): number {
    const inodes = new Set<SimInode>(this.names.current.values());
    for (const file of this.openFiles) inodes.add(file.inode);
    let totalBytes = 0;
    for (const inode of inodes) totalBytes += inode.current.sizeBytes;
    return totalBytes;
  }

  // --- internals -------------------------------------------------------------------------------

  /** Numbers the call, records it, and decides its faults. Throws if the machine already crashed. */
  private enter(record: Omit<IoCallRecord, 'callNumber'>): CallContext {
    if (this.dead) {
      this.deadReason ??= `crashAfterCall(${this.crashAfter})`;
      throw new SimulatedCrashError(
        `simulated crash (seed ${this.seed}, ${this.deadReason}): ${record.kind} ${record.path} rejected`,
      );
    }
    this.callTotal += 1;
    const callNumber = this.callTotal;
    this.countsByKind.set(record.kind, (this.countsByKind.get(record.kind) ?? 0) + 1);
    if (this.traceEnabled) this.trace.push({ callNumber, ...record });
    if (callNumber === this.crashDuring) {
      this.die(`crashDuringCall(${callNumber})`);
      return { callNumber, crashing: true, errno: undefined, misdirectDeltaBytes: 0 };
    }
    const paths = record.to === undefined ? [record.path] : [record.path, record.to];
    const errno = this.faults.failureFor(record.kind, paths);
    const misdirectKind = record.kind === 'read' || record.kind === 'write' ? record.kind : undefined;
    const misdirectDeltaBytes =
      misdirectKind === undefined ? 0 : (this.faults.misdirectFor(misdirectKind) ?? 0);
    if (errno !== undefined) this.note({ callNumber }, `${record.kind} ${record.path} failed with ${errno}`);
    return { callNumber, crashing: false, errno, misdirectDeltaBytes };
  }

  /** The common outcome of a call that is crashing or failed by injection. */
  private guard(context: CallContext, kind: IoCallKind, path: string): void {
    if (context.crashing) throw this.crashError(context.callNumber);
    if (context.errno !== undefined) throw new IoError(context.errno, kind, path);
  }

  private landWrite(request: {
    file: OpenFile;
    context: CallContext;
    kind: 'write' | 'append';
    offsetBytes: number;
    bytes: Uint8Array;
  }): void {
    const { file, context, kind, offsetBytes, bytes } = request;
    if (context.crashing) {
      if (!file.closed && !file.readOnly) this.tornWrite(request);
      throw this.crashError(context.callNumber);
    }
    this.guard(context, kind, file.path);
    this.checkWritable(file, kind);
    const atBytes = offsetBytes + context.misdirectDeltaBytes;
    assert(atBytes >= 0, `a misdirected write would start before the file: ${atBytes}`);
    this.checkSpace({ file, kind, endBytes: atBytes + bytes.length });
    this.notifyObservers({ path: file.path, offsetBytes, bytes });
    if (atBytes !== offsetBytes)
      this.note(context, `write ${file.path} at ${offsetBytes} misdirected to ${atBytes}`);
    file.inode.applyWrite(atBytes, bytes);
  }

  /** A write cut short by the crash: a seeded subset of its 512 B sectors reaches the page cache. */
  private tornWrite(request: {
    file: OpenFile;
    context: CallContext;
    offsetBytes: number;
    bytes: Uint8Array;
  }): void {
    const { file, context, offsetBytes, bytes } = request;
    this.notifyObservers({ path: file.path, offsetBytes, bytes });
    const landed: string[] = [];
    for (const [start, end] of splitAligned(offsetBytes, bytes.length, SIM_SECTOR_BYTES)) {
      if (!this.rng.chance(0.5)) continue;
      file.inode.applyWrite(start, bytes.subarray(start - offsetBytes, end - offsetBytes));
      landed.push(`[${start}, ${end})`);
    }
    this.note(context, `crash during write ${file.path}: landed sectors ${landed.join(' ') || 'none'}`);
  }

  private notifyObservers(event: WriteEvent): void {
    for (const observer of this.observers) observer(event);
  }

  /** Linux after a failed fsync: pending pages meet random fates now and are never retried. */
  private failSync(file: OpenFile, kind: IoCallKind, context: CallContext): void {
    const { inode } = file;
    const report: string[] = [];
    resolvePending({ image: inode.durable, pending: inode.pending, rng: this.rng, label: file.path, report });
    inode.pending = [];
    inode.diverged = true;
    this.note(context, `${kind} ${file.path} failed: ${report.length} pending units resolved at random`);
    for (const line of report) this.note(context, `  ${line}`);
  }

  private checkSpace(request: { file: OpenFile; kind: IoCallKind; endBytes: number }): void {
    const { file, kind, endBytes } = request;
    if (this.freeSpaceBytes === undefined) return;
    const growthBytes = endBytes - file.inode.current.sizeBytes;
    if (growthBytes > 0 && this.usedBytes() + growthBytes > this.freeSpaceBytes) {
      throw new IoError('ENOSPC', kind, file.path);
    }
  }

  private checkOpen(file: OpenFile, kind: IoCallKind): void {
    if (file.closed) throw new IoError('EBADF', kind, file.path);
  }

  private checkWritable(file: OpenFile, kind: IoCallKind): void {
    this.checkOpen(file, kind);
    if (file.readOnly) throw new IoError('EBADF', kind, file.path);
  }

  private crashAfterReached(): boolean {
    return this.crashAfter !== undefined && this.callTotal >= this.crashAfter;
  }

  private die(reason: string): void {
    this.deadReason ??= reason;
  }

  private crashError(callNumber: number): SimulatedCrashError {
    return new SimulatedCrashError(`simulated crash (seed ${this.seed}) during call #${callNumber}`);
  }

  private note(context: { callNumber: number }, text: string): void {
    this.notes.push(`#${context.callNumber} ${text}`);
  }
}

function checkSynced(inode: SimInode): string | undefined {
  if (inode.current.sizeBytes > VERIFY_SYNC_BYTES_MAX) return undefined;
  return inode.current.equals(inode.durable) ? undefined : 'synced bytes differ from the page cache';
}
