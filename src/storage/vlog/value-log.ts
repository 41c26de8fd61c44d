/**
 * The value log (WiscKey): values above the inline threshold live in append-only segment files
 * (vlog-segment-format.ts) and leaves hold `{segment, offsetBytes, lengthBytes}` pointers to them.
 *
 * Writing. `append` runs inside the group commit's submit step, so records are appended in LSN order
 * and carry their commit's LSN. It reserves the record's place synchronously and queues the write;
 * `flush` (the group commit calls it before writing a WAL batch) waits for the queued writes and
 * fdatasyncs the segments they touched, so value-log bytes are durable before any WAL record that
 * points at them. A new segment is written with its header and the directory fsynced before any record
 * goes into it. ENOSPC from a record write is retried (the record's place is reserved and the WAL waits
 * for it); any other failure, or any failed fdatasync, fails the log for good (never retried), which
 * turns the database read-only.
 *
 * Reading. `read` checks the frame's CRC, that the record holds the key being read and the revision
 * (LSN) that wrote it: any mismatch is a typed corruption error naming the file and offset, never
 * wrong data. Values go through the unified cache; records not yet written are served from memory.
 *
 * Accounting. Per segment: `totalBytes` of record frames and `liveBytes` referenced by the tree. The
 * engine reports every pointer that becomes referenced or unreferenced; at open the counts are rebuilt
 * by walking the tree (`rebuild`).
 *
 * Repair on open (`rebuild`): the last segment is cut after its last record written by a commit the
 * WAL holds (records are appended in LSN order, so what follows belongs to commits that never became
 * durable, or is a torn write); records a checkpoint image or WAL record may still name are kept. A
 * record the tree references that is missing or does not verify is reported as corruption, never
 * dropped.
 */
import { join } from 'node:path';
import type { FileHandle, FileSystem } from '../../io/file-system.js';
import { isIoError } from '../../io/file-system.js';
import { assert } from '../../util/assert.js';
import { bytesEqual, toHex } from '../../util/bytes.js';
import { FRAME_LENGTH_BYTES, FRAME_OVERHEAD_BYTES } from '../../util/checksummed-frame.js';
import { CorruptionError, JubilantError } from '../../util/errors.js';
import { type Lsn, lsn } from '../../util/ids.js';

const LSN_ZERO = lsn(0);

import type { ValueLogPointer } from '../btree/node.js';
import type { UnifiedCache } from '../cache/unified-cache.js';
import type { ValueType } from '../value-type.js';
import {
  encodeVlogRecordFrame,
  encodeVlogSegmentHeaderBlock,
  parseVlogSegmentFileName,
  readVlogRecordFrame,
  readVlogSegmentHeader,
  VLOG_SEGMENT_HEADER_BYTES,
  type VlogRecordRead,
  vlogSegmentFileName,
} from './vlog-segment-format.js';

/** Decoded values are charged their bytes plus this, for the cache budget. */
const CACHED_VALUE_OVERHEAD_BYTES = 96;

export interface ValueLogOptions {
  readonly databaseUuid: Uint8Array;
  /** A segment is sealed once the next record would take it past this size. */
  readonly segmentBytes: number;
  readonly cache: UnifiedCache;
  /** Pause before retrying a record write that failed with ENOSPC. */
  readonly retryDelayMs: number;
}

export interface StoredValue {
  readonly valueType: ValueType;
  readonly value: Uint8Array;
}

export interface ValueLogSegmentStats {
  readonly segment: number;
  readonly totalBytes: number;
  readonly liveBytes: number;
  /** No more appends go to it (every segment but the newest). */
  readonly sealed: boolean;
  /** GC moved its live values out; the file goes once both checkpoints are past `retiredAtLsn`. */
  readonly retired: boolean;
}

/** One record of a segment, as GC reads it. */
export interface SegmentRecord {
  readonly pointer: ValueLogPointer;
  readonly key: Uint8Array;
  readonly valueType: ValueType;
  readonly value: Uint8Array;
}

/**
 * A read met a segment that GC deleted: the tree entry that pointed there was rewritten meanwhile, so
 * the reader reads the entry again (it is not corruption).
 */
export class SegmentGoneError extends Error {
  override name = 'SegmentGoneError';
}

export interface ValueLogStats {
  readonly segments: number;
  readonly totalBytes: number;
  readonly liveBytes: number;
  /** liveBytes / totalBytes (1 when empty). */
  readonly liveRatio: number;
  readonly recordsAppended: number;
  readonly diskFullRetries: number;
  /** Segments GC emptied, and deleted once no checkpoint needed them. */
  readonly segmentsCollected: number;
  readonly segmentsDeleted: number;
}

interface Segment {
  readonly sequence: number;
  readonly path: string;
  handle: FileHandle | undefined;
  /** Bytes of record frames (reserved, written or not). */
  totalBytes: number;
  liveBytes: number;
  /** End of the last reserved record (the file's logical size). */
  endBytes: number;
  /** The LSN of the newest record appended in this process (0 for segments found at open). */
  lastLsn: Lsn;
}

export class ValueLog {
  readonly directory: string;
  private readonly fs: FileSystem;
  private readonly options: ValueLogOptions;
  private readonly segments = new Map<number, Segment>();
  /** The segment appends go to; 0 until the first append creates one. */
  private active = 0;
  /** Queued writes run one after another in append order. */
  private tail: Promise<void> = Promise.resolve();
  /** Records reserved but not yet written, by pointer key: reads are served from here. */
  private readonly unwritten = new Map<string, { record: StoredValue; key: Uint8Array }>();
  private readonly unflushed = new Set<number>();
  private failure: Error | undefined;
  private closing = false;
  /** The last segment, when its header did not verify at open (see `open`). */
  private tornLast: { sequence: number; path: string; reason: string } | undefined;
  private recordsAppended = 0;
  private diskFullRetries = 0;
  /** Emptied segments and the LSN after which nothing references them. */
  private readonly retired = new Map<number, Lsn>();
  private readonly deleted = new Set<number>();
  private segmentsCollected = 0;
  /** Called when a sealed segment's dead share passes `gcThreshold` (GC schedules a cycle). */
  onGarbage: (() => void) | undefined;
  gcThreshold = 1;
  /** The LSN up to which every commit is durable and applied (the engine supplies it). */
  settledLsn: () => Lsn = () => LSN_ZERO;

  private constructor(fs: FileSystem, directory: string, options: ValueLogOptions) {
    this.fs = fs;
    this.directory = directory;
    this.options = options;
  }

  /** Opens the segments of `directory` (checking each header); accounting starts empty (`rebuild`). */
  static async open(fs: FileSystem, directory: string, options: ValueLogOptions): Promise<ValueLog> {
    const log = new ValueLog(fs, directory, options);
    try {
      await log.openSegments();
    } catch (error) {
      await log.close();
      throw error;
    }
    return log;
  }

  private async openSegments(): Promise<void> {
    const { fs, directory, options } = this;
    const sequences = (await fs.list(directory))
      .map(parseVlogSegmentFileName)
      .filter((sequence): sequence is number => sequence !== undefined)
      .sort((left, right) => left - right);
    for (const [index, sequence] of sequences.entries()) {
      const path = join(directory, vlogSegmentFileName(sequence));
      const handle = await fs.open(path);
      let sizeBytes: number;
      let block: Uint8Array;
      try {
        sizeBytes = await handle.sizeBytes();
        block = await handle.read(0, VLOG_SEGMENT_HEADER_BYTES);
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
      const header = readVlogSegmentHeader(
        block,
        { databaseUuid: options.databaseUuid, segmentSequence: sequence },
        { file: path },
      );
      if (!header.ok) {
        await handle.close();
        // A crash while creating the last segment can leave its header torn. No record can be in it
        // (records are written only after the header is durable), which `rebuild` confirms before it
        // removes the file; an unreadable header anywhere else is corruption.
        if (index === sequences.length - 1) {
          this.tornLast = { sequence, path, reason: header.reason };
          continue;
        }
        throw new CorruptionError(header.reason, {
          file: path,
          offsetBytes: 0,
          what: 'value-log segment header',
        });
      }
      const endBytes = Math.max(sizeBytes, VLOG_SEGMENT_HEADER_BYTES);
      this.segments.set(sequence, {
        sequence,
        path,
        handle,
        totalBytes: endBytes - VLOG_SEGMENT_HEADER_BYTES,
        liveBytes: 0,
        endBytes,
        lastLsn: lsn(0),
      });
      this.active = sequence;
    }
  }

  // --- accounting --------------------------------------------------------------------------------

  /** A pointer the tree now references (a commit applied, or the tree walk at open). */
  referenced(pointer: ValueLogPointer): void {
    const segment = this.segments.get(pointer.segment);
    assert(segment !== undefined, `pointer into unknown value-log segment ${pointer.segment}`);
    // Never expected (GC waits for every commit into a segment to settle), but a retired segment that
    // is referenced again must not be deleted later on a count that dropped back to zero.
    this.retired.delete(pointer.segment);
    segment.liveBytes += pointer.lengthBytes;
    assert(
      segment.liveBytes <= segment.totalBytes,
      `segment ${pointer.segment} has more live bytes than bytes`,
    );
  }

  /** A pointer the tree no longer references (overwritten, deleted, expired). */
  released(pointer: ValueLogPointer): void {
    const segment = this.segments.get(pointer.segment);
    assert(segment !== undefined, `pointer into unknown value-log segment ${pointer.segment}`);
    segment.liveBytes -= pointer.lengthBytes;
    assert(segment.liveBytes >= 0, `segment ${pointer.segment} went below zero live bytes`);
    if (this.isGarbage(segment)) this.onGarbage?.();
  }

  /**
   * A sealed segment over the threshold, every commit that wrote into it durable and applied (before
   * that, a record's commit may still come to reference it, and its bytes may not be written yet).
   */
  private isGarbage(segment: Segment): boolean {
    return (
      segment.sequence !== this.active &&
      !this.retired.has(segment.sequence) &&
      segment.lastLsn <= this.settledLsn() &&
      segment.totalBytes > 0 &&
      1 - segment.liveBytes / segment.totalBytes >= this.gcThreshold
    );
  }

  /** Sealed segments whose dead share passed the threshold, most garbage first. */
  garbageSegments(): number[] {
    return [...this.segments.values()]
      .filter((segment) => this.isGarbage(segment))
      .sort((left, right) => left.liveBytes / left.totalBytes - right.liveBytes / right.totalBytes)
      .map((segment) => segment.sequence);
  }

  /** Every record of a sealed segment, in file order (GC reads them to rewrite the live ones). */
  async *records(sequence: number): AsyncGenerator<SegmentRecord> {
    const segment = this.segments.get(sequence);
    assert(segment !== undefined && sequence !== this.active, `segment ${sequence} is not a sealed segment`);
    const handle = await this.handleOf(segment);
    let offset = VLOG_SEGMENT_HEADER_BYTES;
    while (offset < segment.endBytes) {
      const read = await readRecordAt(handle, segment, offset);
      // GC reads only segments whose every commit settled, so all their records were written: an
      // unreadable one is damage. GC stops here, and if a live record lies beyond, `retire` reports it.
      if (!read.ok) break;
      yield {
        pointer: { segment: sequence, offsetBytes: offset, lengthBytes: read.frameBytes },
        key: read.record.key,
        valueType: read.record.valueType,
        value: read.record.value,
      };
      offset += read.frameBytes;
    }
  }

  /** GC moved every live value out of `sequence`; nothing written after `afterLsn` points into it. */
  retire(sequence: number, afterLsn: Lsn): void {
    const segment = this.segments.get(sequence);
    assert(segment !== undefined && sequence !== this.active, `segment ${sequence} is not a sealed segment`);
    if (segment.liveBytes !== 0) {
      // A referenced record GC could not read (it stops at the first unreadable one): never delete it.
      throw new CorruptionError(`GC left ${segment.liveBytes} live bytes it could not read`, {
        file: segment.path,
        what: 'value-log segment',
      });
    }
    if (!this.retired.has(sequence)) this.segmentsCollected += 1;
    this.retired.set(sequence, afterLsn);
  }

  /** The lowest LSN both checkpoints must reach before every retired segment can go (undefined: none). */
  get retiredLsnMax(): Lsn | undefined {
    let max: Lsn | undefined;
    for (const at of this.retired.values()) if (max === undefined || at > max) max = at;
    return max;
  }

  /**
   * Deletes the retired segments both checkpoints are past: neither image, nor the WAL replayed after
   * either, references them any more.
   */
  async deleteRetired(checkpointLsnMin: Lsn): Promise<void> {
    let deletedAny = false;
    for (const [sequence, afterLsn] of this.retired) {
      if (afterLsn > checkpointLsnMin) continue;
      const segment = this.segments.get(sequence);
      this.retired.delete(sequence);
      if (segment === undefined || segment.liveBytes !== 0) continue;
      // Marked deleted first: a reader that meets it from now on reads its key again (SegmentGoneError).
      this.deleted.add(sequence);
      this.segments.delete(sequence);
      await segment.handle?.close().catch(() => undefined);
      segment.handle = undefined;
      await this.fs.unlink(segment.path);
      deletedAny = true;
    }
    if (deletedAny) await this.fs.syncDirectory(this.directory);
  }

  /**
   * Rebuilds the live counts from every pointer the tree holds, then repairs the tail: the last
   * segment is cut after its last record of a commit at or below `committedLsn` (the recovered end of
   * the WAL), and a referenced record that is missing or does not verify is reported as corruption.
   */
  async rebuild(
    pointers: Iterable<{ key: Uint8Array; pointer: ValueLogPointer; revision: Lsn }>,
    committedLsn: Lsn,
  ): Promise<void> {
    for (const segment of this.segments.values()) segment.liveBytes = 0;
    let lastEnd = 0;
    let last: { key: Uint8Array; pointer: ValueLogPointer; revision: Lsn } | undefined;
    for (const reference of pointers) {
      const { pointer } = reference;
      const segment = this.segments.get(pointer.segment);
      if (segment === undefined && pointer.segment === this.tornLast?.sequence) {
        throw new CorruptionError(
          `key ${toHex(reference.key)} points into a segment whose header does not verify: ${this.tornLast.reason}`,
          {
            file: this.tornLast.path,
            offsetBytes: 0,
            what: 'value-log segment header',
          },
        );
      }
      if (segment === undefined) {
        throw new CorruptionError(
          `key ${toHex(reference.key)} points at value-log segment ${pointer.segment}, which does not exist`,
          { file: join(this.directory, vlogSegmentFileName(pointer.segment)), what: 'value-log segment' },
        );
      }
      const end = pointer.offsetBytes + pointer.lengthBytes;
      if (pointer.offsetBytes < VLOG_SEGMENT_HEADER_BYTES || end > segment.endBytes) {
        throw new CorruptionError(
          `key ${toHex(reference.key)} points past the end of the segment (${pointer.offsetBytes}+${pointer.lengthBytes})`,
          { file: segment.path, offsetBytes: pointer.offsetBytes, what: 'value-log record' },
        );
      }
      segment.liveBytes += pointer.lengthBytes;
      if (pointer.segment === this.active && end > lastEnd) {
        lastEnd = end;
        last = reference;
      }
    }
    if (this.tornLast !== undefined) {
      await this.fs.unlink(this.tornLast.path);
      await this.fs.syncDirectory(this.directory);
      this.tornLast = undefined;
    }
    const active = this.segments.get(this.active);
    if (active === undefined) return;
    // The newest referenced record proves the bytes before it were flushed; check that it verifies.
    if (last !== undefined) await this.read(last.pointer, last.key, last.revision);
    const cut = await this.committedEnd(active, Math.max(lastEnd, VLOG_SEGMENT_HEADER_BYTES), committedLsn);
    if (cut < active.endBytes) {
      const handle = await this.handleOf(active);
      await handle.truncate(cut);
      await handle.datasync();
      active.endBytes = cut;
      active.totalBytes = cut - VLOG_SEGMENT_HEADER_BYTES;
    }
  }

  /**
   * Where the committed records of the last segment end. From `from` (the end of the newest record the
   * tree references, so everything before it was flushed) it reads on while records verify and were
   * written by commits the WAL holds (LSN <= `committedLsn`): a checkpoint image or a WAL record may
   * still point at those even when the tree no longer does. The first record that does not verify, or
   * belongs to a commit that never became durable, starts the tail that is cut.
   */
  private async committedEnd(segment: Segment, from: number, committedLsn: Lsn): Promise<number> {
    const handle = await this.handleOf(segment);
    let offset = from;
    while (offset < segment.endBytes) {
      const read = await readRecordAt(handle, segment, offset);
      if (!read.ok || read.record.lsn > committedLsn) break;
      offset += read.frameBytes;
    }
    return offset;
  }

  // --- writing -----------------------------------------------------------------------------------

  /**
   * Reserves the record's place and queues its write; returns the pointer at once. Called in LSN
   * order (from the group commit's submit step). The value is also put in the cache.
   */
  append(key: Uint8Array, valueType: ValueType, value: Uint8Array, recordLsn: Lsn): ValueLogPointer {
    if (this.failure !== undefined) throw this.failedError();
    const frame = encodeVlogRecordFrame({ key, valueType, value, lsn: recordLsn });
    let segment = this.segments.get(this.active);
    if (
      segment === undefined ||
      (segment.endBytes + frame.length > this.options.segmentBytes && segment.totalBytes > 0)
    ) {
      segment = this.startSegment(this.active + 1, recordLsn);
    }
    const pointer: ValueLogPointer = {
      segment: segment.sequence,
      offsetBytes: segment.endBytes,
      lengthBytes: frame.length,
    };
    segment.endBytes += frame.length;
    segment.totalBytes += frame.length;
    segment.lastLsn = recordLsn;
    this.recordsAppended += 1;
    const pointerKey = cacheKeyOf(pointer);
    const stored: StoredValue = { valueType, value };
    this.unwritten.set(pointerKey, { record: stored, key });
    this.unflushed.add(segment.sequence);
    const target = segment;
    this.enqueue(async () => {
      await this.writeRetrying(target, pointer.offsetBytes, frame);
      this.unwritten.delete(pointerKey);
    });
    this.options.cache.set(pointerKey, stored, value.length + CACHED_VALUE_OVERHEAD_BYTES);
    return pointer;
  }

  /** Waits for every record appended so far to be written, then makes them durable (fdatasync). */
  async flush(): Promise<void> {
    if (this.unflushed.size === 0 && this.failure === undefined) return;
    const sequences = [...this.unflushed];
    this.unflushed.clear();
    await this.tail;
    if (this.failure !== undefined) throw this.failedError();
    try {
      for (const sequence of sequences) {
        const segment = this.segments.get(sequence);
        if (segment !== undefined) await (await this.handleOf(segment)).datasync();
      }
    } catch (error) {
      this.fail(error);
      throw this.failedError();
    }
  }

  private startSegment(sequence: number, firstLsn: Lsn): Segment {
    const path = join(this.directory, vlogSegmentFileName(sequence));
    const segment: Segment = {
      sequence,
      path,
      handle: undefined,
      totalBytes: 0,
      liveBytes: 0,
      endBytes: VLOG_SEGMENT_HEADER_BYTES,
      lastLsn: firstLsn,
    };
    this.segments.set(sequence, segment);
    this.active = sequence;
    const header = encodeVlogSegmentHeaderBlock({
      databaseUuid: this.options.databaseUuid,
      segmentSequence: sequence,
      firstLsn,
    });
    this.enqueue(async () => {
      const handle = await this.fs.open(path, { create: true, exclusive: true });
      segment.handle = handle;
      await this.writeRetrying(segment, 0, header);
      await handle.datasync();
      await this.fs.syncDirectory(this.directory);
    });
    return segment;
  }

  private enqueue(step: () => Promise<void>): void {
    this.tail = this.tail.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await step();
      } catch (error) {
        this.fail(error);
      }
    });
  }

  private async writeRetrying(segment: Segment, offsetBytes: number, bytes: Uint8Array): Promise<void> {
    for (;;) {
      try {
        await (await this.handleOf(segment)).write(offsetBytes, bytes);
        return;
      } catch (error) {
        if (!isIoError(error, 'ENOSPC') || this.closing) throw error;
        this.diskFullRetries += 1;
        await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs));
      }
    }
  }

  private fail(error: unknown): void {
    if (this.failure === undefined) this.failure = error instanceof Error ? error : new Error(String(error));
  }

  private failedError(): JubilantError {
    const cause = this.failure;
    return new JubilantError(
      'READ_ONLY',
      `the value log failed (${cause?.message ?? 'unknown'}); the database is read-only until reopened`,
      cause === undefined ? {} : { cause },
    );
  }

  // --- reading -----------------------------------------------------------------------------------

  /** The value at `pointer`, proven to be `key`'s value written at `revision`. */
  async read(pointer: ValueLogPointer, key: Uint8Array, revision: Lsn): Promise<StoredValue> {
    const pointerKey = cacheKeyOf(pointer);
    const cached = this.options.cache.get(pointerKey) as StoredValue | undefined;
    if (cached !== undefined) return cached;
    const pending = this.unwritten.get(pointerKey);
    if (pending !== undefined) return pending.record;
    this.options.cache.recordMiss();
    const segment = this.segments.get(pointer.segment);
    const file = join(this.directory, vlogSegmentFileName(pointer.segment));
    const where = { file, offsetBytes: pointer.offsetBytes, what: 'value-log record' };
    if (segment === undefined && this.deleted.has(pointer.segment)) throw new SegmentGoneError(file);
    if (segment === undefined) throw new CorruptionError('the value-log segment does not exist', where);
    let bytes: Uint8Array;
    try {
      bytes = await (await this.handleOf(segment)).read(pointer.offsetBytes, pointer.lengthBytes);
    } catch (error) {
      // GC deleted the segment while this read waited (its handle closed under it): not corruption.
      if (this.deleted.has(pointer.segment)) throw new SegmentGoneError(file);
      throw error;
    }
    if (bytes.length < pointer.lengthBytes) {
      throw new CorruptionError(
        `the record is missing: the segment ends at ${pointer.offsetBytes + bytes.length}`,
        where,
      );
    }
    const read = readVlogRecordFrame(bytes, 0, { file, offsetBytes: pointer.offsetBytes });
    if (!read.ok) throw new CorruptionError(read.reason, where);
    if (read.frameBytes !== pointer.lengthBytes) {
      throw new CorruptionError(
        `the record is ${read.frameBytes} bytes, the pointer says ${pointer.lengthBytes}`,
        where,
      );
    }
    if (!bytesEqual(read.record.key, key)) {
      throw new CorruptionError(`the record holds key ${toHex(read.record.key)}, not ${toHex(key)}`, where);
    }
    if (read.record.lsn !== revision) {
      throw new CorruptionError(
        `the record was written at LSN ${read.record.lsn}, the leaf says ${revision}`,
        where,
      );
    }
    const stored: StoredValue = { valueType: read.record.valueType, value: read.record.value };
    this.options.cache.set(pointerKey, stored, stored.value.length + CACHED_VALUE_OVERHEAD_BYTES);
    return stored;
  }

  private async handleOf(segment: Segment): Promise<FileHandle> {
    if (this.deleted.has(segment.sequence)) throw new SegmentGoneError(segment.path);
    if (segment.handle === undefined) {
      const handle = await this.fs.open(segment.path);
      if (this.deleted.has(segment.sequence)) {
        await handle.close(); // deleted while this was opening: no descriptor may outlive the file
        throw new SegmentGoneError(segment.path);
      }
      segment.handle = handle;
    }
    return segment.handle;
  }

  // --- status ------------------------------------------------------------------------------------

  segmentStats(): ValueLogSegmentStats[] {
    return [...this.segments.values()].map(({ sequence, totalBytes, liveBytes }) => ({
      segment: sequence,
      totalBytes,
      liveBytes,
      sealed: sequence !== this.active,
      retired: this.retired.has(sequence),
    }));
  }

  stats(): ValueLogStats {
    let totalBytes = 0;
    let liveBytes = 0;
    for (const segment of this.segments.values()) {
      totalBytes += segment.totalBytes;
      liveBytes += segment.liveBytes;
    }
    return {
      segments: this.segments.size,
      totalBytes,
      liveBytes,
      liveRatio: totalBytes === 0 ? 1 : liveBytes / totalBytes,
      recordsAppended: this.recordsAppended,
      diskFullRetries: this.diskFullRetries,
      segmentsCollected: this.segmentsCollected,
      segmentsDeleted: this.deleted.size,
    };
  }

  /** Stops retries, waits for queued writes and closes every segment. */
  async close(): Promise<void> {
    this.closing = true;
    await this.tail;
    for (const segment of this.segments.values()) {
      const handle = segment.handle;
      segment.handle = undefined;
      await handle?.close().catch(() => undefined);
    }
  }
}

/** The record frame at `offset`: its length first, then the frame (never past the segment's end). */
async function readRecordAt(handle: FileHandle, segment: Segment, offset: number): Promise<VlogRecordRead> {
  const lengthBytes = await handle.read(offset, FRAME_LENGTH_BYTES);
  if (lengthBytes.length < FRAME_LENGTH_BYTES) return { ok: false, reason: 'record frame: truncated' };
  const view = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, FRAME_LENGTH_BYTES);
  const frameBytes = Math.min(view.getUint32(0, true) + FRAME_OVERHEAD_BYTES, segment.endBytes - offset);
  return readVlogRecordFrame(await handle.read(offset, frameBytes), 0, {
    file: segment.path,
    offsetBytes: offset,
  });
}

function cacheKeyOf(pointer: ValueLogPointer): string {
  return `vlog:${pointer.segment}:${pointer.offsetBytes}`;
}
