/**
 * WalWriter: makes group-commit batches durable in preallocated WAL segments (layout in
 * wal-segment-format.ts). A batch is framed into one buffer, written with one positional write at the
 * current 512-aligned offset and fdatasynced; only then do the offset, the next LSN and the durable LSN
 * advance. The group commit above serializes batches; this class also serializes its own calls.
 *
 * Failure rules (BRIEF.md, "WAL and group commit"): ENOSPC from a write, open or rename before any sync
 * of that step fails only that call (retryable, DISK_FULL), and a retry rewrites the same offset. Any
 * other error, and any failure of fsync, fdatasync or a directory fsync, fails the writer for good: every
 * later call rejects with that first error and no further I/O is issued (an fsync is never retried).
 *
 * A new segment is prepared under a spare name (`wal-NNNNNN.spare`: a recycled segment, or a new file
 * preallocated with zeros), gets its header and an fsync, and only then is renamed to `wal-NNNNNN.log`
 * and the directory fsynced, so a segment name never appears before its header is durable.
 */
import { join } from 'node:path';
import type { FileHandle, FileSystem } from '../../io/file-system.js';
import { isIoError } from '../../io/file-system.js';
import { assert, verify } from '../../util/assert.js';
import { frameSizeBytes } from '../../util/checksummed-frame.js';
import { CorruptionError, JubilantError } from '../../util/errors.js';
import { type Lsn, lsn } from '../../util/ids.js';
import { decodeWalRecord } from './wal-record.js';
import {
  encodeWalBatch,
  encodeWalSegmentHeaderBlock,
  isValidWalSegmentBytes,
  parseWalSegmentFileName,
  parseWalSpareFileName,
  readWalSegmentHeader,
  WAL_BLOCK_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
  WAL_SPARE_SEGMENTS_MAX_DEFAULT,
  type WalEnd,
  WalBatchScratch,
  walBatchBytesMax,
  walSegmentFileName,
  walSpareFileName,
  writeWalZeros,
} from './wal-segment-format.js';

export interface WalWriterOptions {
  readonly databaseUuid: Uint8Array;
  /** Preallocated size of each segment; a multiple of 512 (see isValidWalSegmentBytes). */
  readonly segmentBytes: number;
  readonly formatMajor: number;
  /**
   * Where recovery (run with repair) found the end of the log. Undefined for a new database: the
   * writer then creates segment 1 with first LSN 1 in a directory that holds no segment.
   */
  readonly end: WalEnd | undefined;
  /** Released segments kept for recycling (default 2); the rest are unlinked. */
  readonly spareSegmentsMax?: number;
}

export interface WalSegmentStats {
  readonly sequence: number;
  readonly firstLsn: Lsn;
  readonly bytes: number;
}

interface SegmentState {
  readonly sequence: number;
  readonly firstLsn: Lsn;
  sizeBytes: number;
}

type StepKind = 'retryable' | 'fatal';

/**
 * A batch up to this size is written on the main thread (`writeBlocking`): a copy into the page cache
 * that costs less than handing it to the thread pool. Larger ones go to the pool, so a huge batch
 * never stalls the event loop. The fdatasync always runs in the pool.
 */
const BLOCKING_WRITE_BYTES_MAX = 256 * 1024;

/** The bytes of the records' frames in a batch body. */
function frameBytesOf(records: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const record of records) bytes += frameSizeBytes(record.length);
  return bytes;
}

export class WalWriter {
  private readonly segmentList: SegmentState[] = [];
  private readonly spareNames: string[] = [];
  private readonly scratch = new WalBatchScratch();
  private readonly spareSegmentsMax: number;
  private handle: FileHandle | undefined;
  private offset = WAL_SEGMENT_HEADER_BYTES;
  private next: Lsn = lsn(1);
  private durable: Lsn = lsn(0);
  private failure: unknown;
  private closed = false;
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly fs: FileSystem,
    private readonly directory: string,
    private readonly options: WalWriterOptions,
  ) {
    this.spareSegmentsMax = options.spareSegmentsMax ?? WAL_SPARE_SEGMENTS_MAX_DEFAULT;
    assert(isValidWalSegmentBytes(options.segmentBytes), `invalid WAL segment size ${options.segmentBytes}`);
    assert(Number.isSafeInteger(this.spareSegmentsMax) && this.spareSegmentsMax >= 0, 'invalid spare count');
  }

  static async open(fs: FileSystem, directory: string, options: WalWriterOptions): Promise<WalWriter> {
    const writer = new WalWriter(fs, directory, options);
    const names = await fs.list(directory);
    writer.spareNames.push(...names.filter((name) => parseWalSpareFileName(name) !== undefined));
    const sequences = names
      .map(parseWalSegmentFileName)
      .filter((sequence): sequence is number => sequence !== undefined)
      .sort((left, right) => left - right);
    if (options.end === undefined) {
      assert(sequences.length === 0, 'a new WAL needs a directory without segments: recover it instead');
      await writer.startSegment(1, lsn(1));
    } else {
      await writer.resume(options.end, sequences);
    }
    return writer;
  }

  // --- stats -----------------------------------------------------------------------------------

  /** The LSN the next batch must start with. */
  get nextLsn(): Lsn {
    return this.next;
  }

  /** The last LSN whose batch was fdatasynced (0 before the first). */
  get durableLsn(): Lsn {
    return this.durable;
  }

  get currentSegment(): number {
    return this.current().sequence;
  }

  /** Where the next batch goes, in the form recovery reports. */
  get end(): WalEnd {
    return { segmentSequence: this.currentSegment, offsetBytes: this.offset, nextLsn: this.next };
  }

  /** The error that failed the writer for good, if one did. */
  get failedWith(): unknown {
    return this.failure;
  }

  segments(): readonly WalSegmentStats[] {
    return this.segmentList.map(({ sequence, firstLsn, sizeBytes }) => ({
      sequence,
      firstLsn,
      bytes: sizeBytes,
    }));
  }

  /** Names of the spare files kept for recycling. */
  spares(): readonly string[] {
    return [...this.spareNames];
  }

  // --- writing ---------------------------------------------------------------------------------

  /**
   * Writes one batch of Record payloads (LSNs firstLsn, firstLsn+1, ...) and makes it durable. Resolves
   * after the fdatasync that covers it; rejects with IoError ENOSPC (retryable: call again with the
   * same or a longer batch from the same LSN) or with the error that failed the writer.
   */
  writeBatch(firstLsn: Lsn, records: readonly Uint8Array[]): Promise<void> {
    return this.exclusive(() => this.writeBatchNow(firstLsn, records));
  }

  /**
   * Removes every segment, other than the current one, all of whose records are below `below` (the
   * next segment starts at or below it): up to spareSegmentsMax become spares, the rest are unlinked,
   * oldest first, with a directory fsync after each so a crash can never leave a gap in the sequence.
   */
  releaseSegmentsBelow(below: Lsn): Promise<void> {
    return this.exclusive(() => this.releaseNow(below));
  }

  /** Closes the current segment. Everything acknowledged is already durable, so nothing is synced. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      const handle = this.handle;
      this.handle = undefined;
      if (handle !== undefined) await handle.close();
    });
  }

  private async writeBatchNow(firstLsn: Lsn, records: readonly Uint8Array[]): Promise<void> {
    this.checkUsable();
    assert(firstLsn === this.next, `batch starts at LSN ${firstLsn}, the log is at ${this.next}`);
    assert(records.length >= 1, 'an empty batch');
    verify(() => recordLsnProblem(firstLsn, records));
    // A batch written on this thread is encoded into reused buffers; one for the pool gets its own.
    const blocking = walBatchBytesMax(frameBytesOf(records)) <= BLOCKING_WRITE_BYTES_MAX;
    const batch = encodeWalBatch(firstLsn, records, blocking ? this.scratch : undefined);
    const emptySegment = this.offset === WAL_SEGMENT_HEADER_BYTES;
    // A batch never crosses a segment's end, except a single batch larger than an empty segment,
    // which extends that segment past its preallocated size.
    if (!emptySegment && this.offset + batch.length > this.options.segmentBytes) {
      await this.startSegment(this.current().sequence + 1, firstLsn);
    }
    const handle = this.currentHandle();
    const offsetBytes = this.offset;
    if (blocking) {
      await this.step('retryable', async () => handle.writeBlocking(offsetBytes, batch));
    } else {
      await this.step('retryable', () => handle.write(offsetBytes, batch));
    }
    await this.step('fatal', () => handle.datasync());
    const segment = this.current();
    this.offset = offsetBytes + batch.length;
    segment.sizeBytes = Math.max(segment.sizeBytes, this.offset);
    this.next = lsn(firstLsn + BigInt(records.length));
    this.durable = lsn(this.next - 1n);
    assert(this.offset % WAL_BLOCK_BYTES === 0, 'batches end on a block boundary');
  }

  private async releaseNow(below: Lsn): Promise<void> {
    this.checkUsable();
    assert(below <= this.next, `cannot release below ${below}: the log is at ${this.next}`);
    for (;;) {
      const [victim, successor] = this.segmentList;
      if (victim === undefined || successor === undefined || successor.firstLsn > below) return;
      const path = this.pathOf(walSegmentFileName(victim.sequence));
      if (this.spareNames.length < this.spareSegmentsMax) {
        const spare = walSpareFileName(victim.sequence);
        await this.step('retryable', () => this.fs.rename(path, this.pathOf(spare)));
        this.spareNames.push(spare);
      } else {
        await this.step('retryable', () => this.fs.unlink(path));
      }
      this.segmentList.shift();
      await this.step('fatal', () => this.fs.syncDirectory(this.directory));
    }
  }

  // --- segments --------------------------------------------------------------------------------

  private async resume(end: WalEnd, sequences: readonly number[]): Promise<void> {
    assert(
      sequences.at(-1) === end.segmentSequence,
      `the log must end in its last segment, not ${end.segmentSequence}`,
    );
    assert(end.offsetBytes % WAL_BLOCK_BYTES === 0 && end.offsetBytes >= WAL_SEGMENT_HEADER_BYTES, 'bad end');
    for (const [index, sequence] of sequences.entries()) {
      if (index > 0)
        assert(sequence === (sequences[index - 1] ?? 0) + 1, `segment ${sequence - 1} is missing`);
      this.segmentList.push(await this.readSegment(sequence));
    }
    const current = this.current();
    assert(end.nextLsn >= current.firstLsn, 'the end lies before its segment starts');
    this.handle = await this.fs.open(this.pathOf(walSegmentFileName(current.sequence)));
    await this.reassertDurable(this.handle, end.offsetBytes);
    this.offset = end.offsetBytes;
    this.next = end.nextLsn;
    this.durable = lsn(end.nextLsn - 1n);
  }

  /**
   * Rewrites the current segment's log bytes and fdatasyncs them before anything is appended. After a
   * failed fdatasync in an earlier run of this boot, the page cache may hold batches that never reached
   * the disk (Linux drops them from writeback); recovery read them from the cache, so they must be made
   * durable now, or a later power loss would leave a hole in the middle of the log.
   */
  private async reassertDurable(handle: FileHandle, endBytes: number): Promise<void> {
    const chunkBytes = 1024 * 1024;
    for (let from = WAL_SEGMENT_HEADER_BYTES; from < endBytes; from += chunkBytes) {
      const bytes = await handle.read(from, Math.min(chunkBytes, endBytes - from));
      await handle.write(from, bytes);
    }
    await handle.datasync();
  }

  private async readSegment(sequence: number): Promise<SegmentState> {
    const path = this.pathOf(walSegmentFileName(sequence));
    const handle = await this.fs.open(path, { readOnly: true });
    try {
      const block = await handle.read(0, WAL_SEGMENT_HEADER_BYTES);
      const expected = { ...this.options, segmentSequence: sequence };
      const read = readWalSegmentHeader(block, expected, { file: path });
      if (!read.ok)
        throw new CorruptionError(read.reason, { file: path, offsetBytes: 0, what: 'WAL segment' });
      return { sequence, firstLsn: read.header.firstLsn, sizeBytes: await handle.sizeBytes() };
    } finally {
      await handle.close();
    }
  }

  /** Prepares a spare (recycled or new) as segment `sequence`, renames it into place, makes it current. */
  private async startSegment(sequence: number, firstLsn: Lsn): Promise<void> {
    const spare = this.spareNames[0] ?? walSpareFileName(sequence);
    const sparePath = this.pathOf(spare);
    const segmentPath = this.pathOf(walSegmentFileName(sequence));
    const prepared = await this.step('retryable', () => this.fs.open(sparePath, { create: true }));
    if (!this.spareNames.includes(spare)) this.spareNames.push(spare);
    let sizeBytes: number;
    try {
      sizeBytes = await this.prepareSegment(prepared, { sequence, firstLsn });
      await this.step('retryable', () => this.fs.rename(sparePath, segmentPath));
    } finally {
      await closeQuietly(prepared);
    }
    this.spareNames.splice(this.spareNames.indexOf(spare), 1);
    await this.step('fatal', () => this.fs.syncDirectory(this.directory));
    // Reopened under its segment name, so every later error names the segment, not the spare it was.
    const handle = await this.step('fatal', () => this.fs.open(segmentPath));
    const previous = this.handle;
    this.handle = handle;
    this.segmentList.push({ sequence, firstLsn, sizeBytes });
    this.offset = WAL_SEGMENT_HEADER_BYTES;
    // The previous segment's batches were all fdatasynced; closing it flushes nothing.
    if (previous !== undefined) await closeQuietly(previous);
  }

  /** Preallocates with zeros, writes the header over whatever the file held, fsyncs. Returns the size. */
  private async prepareSegment(
    handle: FileHandle,
    header: { sequence: number; firstLsn: Lsn },
  ): Promise<number> {
    const { segmentBytes, databaseUuid, formatMajor } = this.options;
    const sizeBytes = await this.step('retryable', () => handle.sizeBytes());
    await this.step('retryable', () =>
      writeWalZeros(handle, { fromBytes: sizeBytes, toBytes: segmentBytes }),
    );
    const block = encodeWalSegmentHeaderBlock({
      databaseUuid,
      segmentSequence: header.sequence,
      firstLsn: header.firstLsn,
      formatMajor,
    });
    await this.step('retryable', () => handle.write(0, block));
    await this.step('fatal', () => handle.sync());
    return Math.max(sizeBytes, segmentBytes);
  }

  // --- plumbing --------------------------------------------------------------------------------

  /**
   * Runs one I/O step. ENOSPC from a retryable step leaves the writer usable; any other error, and any
   * error of a fatal step (a sync), fails the writer for good.
   */
  private async step<T>(kind: StepKind, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(kind === 'retryable' && isIoError(error, 'ENOSPC'))) this.failure ??= error;
      throw error;
    }
  }

  private checkUsable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new JubilantError('CLOSED', 'the WAL writer is closed');
  }

  /** Runs `work` after every earlier call has settled, so batches, rollovers and releases never interleave. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private current(): SegmentState {
    const segment = this.segmentList.at(-1);
    assert(segment !== undefined, 'the writer always has a current segment');
    return segment;
  }

  private currentHandle(): FileHandle {
    assert(this.handle !== undefined, 'the current segment is open');
    return this.handle;
  }

  private pathOf(name: string): string {
    return join(this.directory, name);
  }
}

async function closeQuietly(handle: FileHandle): Promise<void> {
  try {
    await handle.close();
  } catch {
    // A close error on a file with nothing pending changes nothing durable; the caller's outcome stands.
  }
}

/** JUBILANT_VERIFY: every payload decodes and carries the LSN its position gives it. */
function recordLsnProblem(firstLsn: Lsn, records: readonly Uint8Array[]): string | undefined {
  for (const [index, payload] of records.entries()) {
    const record = decodeWalRecord(payload, { file: '(batch being written)' });
    if (record.lsn !== firstLsn + BigInt(index)) return `record ${index} has LSN ${record.lsn}`;
  }
  return undefined;
}
