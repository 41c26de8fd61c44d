/**
 * WAL recovery: reads the segments in sequence order, follows the LSN chain from the checkpoint, hands
 * every committed record above the checkpoint to `onRecord` in LSN order, and finds where the log ends.
 * A damaged batch with nothing after it that continues the chain is a torn tail (the last write was cut
 * by a crash): with `repair` it is zeroed, so a second recovery finds the same end and nothing torn. A
 * damaged spot followed by anything that continues the chain is corruption in the middle of the log:
 * refused with a WalCorruptionError, never skipped. A whole batch is validated before any of its
 * records is replayed, so nothing of a torn batch is ever applied.
 *
 * The decisions are the literal table WAL_RECOVERY_TABLE below (TigerBeetle's recovery_cases);
 * test/storage/wal/wal-recovery-table.test.ts enumerates every row. "expected" is the LSN after the
 * last valid record so far.
 *
 * Segments wholly at or below the checkpoint (the next segment starts at or below checkpoint + 1) are
 * not read past their header. Refusals happen before any repair, so a refused log is left untouched.
 * `onRecord` may have been called for records before a refusal: the caller then discards its state.
 */
import { basename, join } from 'node:path';
import type { FileSystem } from '../../io/file-system.js';
import { FORMAT_MAJOR } from '../../meta/manifest.js';
import { assert } from '../../util/assert.js';
import { CorruptionError } from '../../util/errors.js';
import { type Lsn, lsn } from '../../util/ids.js';
import type { WalRecord } from './wal-record.js';
import {
  decodeWalBatchRecords,
  findWalBatchFrom,
  parseWalSegmentFileName,
  readWalBatch,
  readWalSegmentHeader,
  WAL_BLOCK_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
  type WalEnd,
  type WalSegmentHeaderRead,
  walSegmentFileName,
  writeWalZeros,
} from './wal-segment-format.js';

// biome-ignore format: one line reads as the list of outcomes
const DECISIONS = ['replay', 'next segment', 'end of log', 'torn tail', 'read segment', 'torn creation', 'new log', 'open', 'refuse'] as const;
type Decision = (typeof DECISIONS)[number];

export interface WalRecoveryRow {
  readonly at: 'batch' | 'header' | 'log';
  readonly found: string;
  readonly after: string;
  readonly decision: Decision;
  /** For a refusal: what is wrong, in words an operator can act on. */
  readonly why?: string;
}

/**
 * Legend.
 *   at     batch    a 512-aligned batch position in a segment whose header is valid
 *          header   offset 0 of a segment file (valid: frame, CRC, UUID, sequence = file name, format)
 *          log      the segment files as a whole
 *   found  valid =  a batch whose header, body CRC and records check out, first LSN = expected
 *          valid >  header and body CRC check out, first LSN above expected
 *          valid <  header and body CRC check out, first LSN below expected (a recycled segment's past)
 *          zeros    length 0 where a batch would start, or the file ends there
 *          invalid  truncated, bad length, bad header or body CRC, a record that fails to decode or
 *                   whose LSN breaks the sequence
 *   after  later    a valid batch with first LSN >= expected at a later aligned offset of this segment
 *          next =   nothing later here; the next segment's header is valid and it starts at expected
 *          next !=  nothing later here; the next segment's header is valid and it starts elsewhere
 *          none     nothing later here, and no next segment (or only a torn creation)
 * "invalid, next =" is junk of a write that was retried in the next segment, or of a recycled segment's
 * past: the next segment starting at expected proves it held no committed record.
 */
const TABLE = `
  at     | found                   | after          | decision
  batch  | valid =                 | -              | replay
  batch  | valid >                 | -              | refuse: a gap in the WAL LSN chain
  batch  | valid <                 | later          | refuse: corruption in the middle of the WAL
  batch  | valid <                 | next =         | next segment
  batch  | valid <                 | next !=        | refuse: the next segment does not continue the LSN chain
  batch  | valid <                 | none           | end of log
  batch  | zeros                   | later          | refuse: corruption in the middle of the WAL
  batch  | zeros                   | next =         | next segment
  batch  | zeros                   | next !=        | refuse: the next segment does not continue the LSN chain
  batch  | zeros                   | none           | end of log
  batch  | invalid                 | later          | refuse: corruption in the middle of the WAL
  batch  | invalid                 | next =         | next segment
  batch  | invalid                 | next !=        | refuse: corruption in the middle of the WAL
  batch  | invalid                 | none           | torn tail
  header | valid                   | -              | read segment
  header | invalid                 | last, empty    | torn creation
  header | invalid                 | last, batch    | refuse: corruption in the middle of the WAL
  header | invalid                 | not last       | refuse: a WAL segment header is invalid
  log    | no segments             | checkpoint 0   | new log
  log    | no segments             | checkpoint > 0 | refuse: records after the checkpoint are missing from the WAL
  log    | sequence gap            | -              | refuse: a WAL segment is missing
  log    | first LSNs unordered    | -              | refuse: WAL segments overlap
  log    | starts after checkpoint | -              | refuse: records after the checkpoint are missing from the WAL
  log    | ends before checkpoint  | -              | refuse: the WAL ends before the checkpoint LSN
  log    | complete                | -              | open
`;

function parseTable(text: string): WalRecoveryRow[] {
  const [, ...lines] = text.trim().split('\n'); // the first line names the columns
  return lines.map((line) => {
    const [at, found, after, outcome, ...rest] = line.split('|').map((cell) => cell.trim());
    const [decision, why] = (outcome ?? '').split(': ');
    assert(at === 'batch' || at === 'header' || at === 'log', `bad table row: ${line}`);
    assert(found !== undefined && after !== undefined && rest.length === 0, `bad table row: ${line}`);
    assert(DECISIONS.includes(decision as Decision), `bad decision in: ${line}`);
    assert(
      (decision === 'refuse') === (why !== undefined),
      `a refusal, and only a refusal, says why: ${line}`,
    );
    return { at, found, after, decision: decision as Decision, ...(why === undefined ? {} : { why }) };
  });
}

export const WAL_RECOVERY_TABLE: readonly WalRecoveryRow[] = parseTable(TABLE);
const ADVICE =
  'jubilant-db will not silently skip committed transactions. Restore the data directory from a backup, ' +
  'or inspect it offline with `jubectl validate` and `jubectl dump-wal`';

/** The WAL refused to open: which row decided, the file and offset, and the LSN expected there. */
export class WalCorruptionError extends CorruptionError {
  override name = 'WalCorruptionError';
  readonly row: WalRecoveryRow;
  readonly lsn: Lsn | undefined;

  constructor(row: WalRecoveryRow, where: Where) {
    const lsnText = where.lsn === undefined ? '' : ` at LSN ${where.lsn}`;
    const detail = where.detail === undefined ? '' : ` (${where.detail})`;
    const file = where.file === undefined ? '' : ` in ${basename(where.file)}`;
    const at = where.offsetBytes === undefined ? '' : ` at offset ${where.offsetBytes}`;
    super(`${row.why ?? 'refused'}${lsnText}${file}${at}${detail}. ${ADVICE}`, {
      file: where.file ?? '(WAL)',
      offsetBytes: where.offsetBytes,
      what: 'WAL',
    });
    this.row = row;
    this.lsn = where.lsn;
  }
}

export interface WalRecoveryOptions {
  readonly databaseUuid: Uint8Array;
  /** The active superblock's checkpoint LSN (0 when nothing was checkpointed). */
  readonly checkpointLsn: Lsn;
  readonly onRecord: (record: WalRecord) => void | Promise<void>;
  /** Zero a torn tail and remove a torn segment creation; without it nothing is written. */
  readonly repair: boolean;
  readonly formatMajor?: number;
}

export interface WalSegmentInfo {
  readonly sequence: number;
  readonly firstLsn: Lsn;
  readonly file: string;
  readonly bytes: number;
}

export interface WalTornTail {
  readonly file: string;
  readonly offsetBytes: number;
  readonly reason: string;
}

export interface WalRecoveryResult {
  /** Undefined for a new log (no segment): WalWriter creates segment 1. */
  readonly end: WalEnd | undefined;
  readonly recordsReplayed: number;
  /** The segments with valid headers, in sequence order (a removed torn creation is not among them). */
  readonly segments: readonly WalSegmentInfo[];
  readonly tornTail?: WalTornTail;
  /** Every row that decided, in order, except the per-batch "replay" rows. */
  readonly decisions: readonly WalRecoveryRow[];
  /** One line per decision and repair, for the log. */
  readonly notes: readonly string[];
}

interface Where {
  readonly file?: string;
  readonly offsetBytes?: number;
  readonly lsn?: Lsn;
  readonly detail?: string;
}

interface Head {
  readonly sequence: number;
  readonly path: string;
  readonly sizeBytes: number;
  readonly read: WalSegmentHeaderRead;
}

interface Stop {
  readonly head: Head;
  readonly bytes: Uint8Array;
  readonly offsetBytes: number;
  readonly found: 'valid >' | 'valid <' | 'zeros' | 'invalid';
  readonly reason: string;
  readonly extentBytes: number | undefined;
}

export function findWalRecoveryRow(at: string, found: string, after: string): WalRecoveryRow {
  const row = WAL_RECOVERY_TABLE.find((r) => r.at === at && r.found === found && r.after === after);
  assert(row !== undefined, `the WAL recovery table has no row for ${at} / ${found} / ${after}`);
  return row;
}

export async function recoverWal(
  fs: FileSystem,
  directory: string,
  options: WalRecoveryOptions,
): Promise<WalRecoveryResult> {
  return new Recovery(fs, directory, options).run();
}

class Recovery {
  private readonly decisions: WalRecoveryRow[] = [];
  private readonly notes: string[] = [];
  private readonly checkpointLsn: Lsn;
  private recordsReplayed = 0;
  private tornTail: WalTornTail | undefined;
  private zeroRange: { path: string; fromBytes: number; toBytes: number } | undefined;
  private tornCreation: Head | undefined;

  constructor(
    private readonly fs: FileSystem,
    private readonly directory: string,
    private readonly options: WalRecoveryOptions,
  ) {
    this.checkpointLsn = options.checkpointLsn;
  }

  async run(): Promise<WalRecoveryResult> {
    const heads = await this.readHeads();
    const first = this.firstNeeded(heads);
    const head = heads[first];
    if (head === undefined) return this.finish(undefined, heads);
    if (!head.read.ok) {
      await this.judgeLastHeader(head, lsn(this.checkpointLsn + 1n));
      return this.finish(undefined, heads);
    }
    let expected = head.read.header.firstLsn;
    if (expected > this.checkpointLsn + 1n) {
      const detail = `${basename(head.path)} starts at LSN ${expected}, the checkpoint is at ${this.checkpointLsn}`;
      this.decide('log', 'starts after checkpoint', '-', {
        ...at(head, 0),
        lsn: lsn(this.checkpointLsn + 1n),
        detail,
      });
    }
    for (let index = first; ; index++) {
      const current = heads[index];
      assert(current?.read.ok === true, 'a segment being read has a valid header');
      this.decide('header', 'valid', '-', at(current, 0));
      assert(current.read.header.firstLsn === expected, 'the chain was checked before entering a segment');
      const { stop, nextLsn } = await this.scanSegment(current, expected);
      expected = nextLsn;
      const after =
        stop.found === 'valid >' ? { after: '-' } : await this.lookAhead(stop, heads[index + 1], expected);
      const where = {
        ...at(current, stop.offsetBytes),
        lsn: expected,
        detail: joinDetail(stop.reason, after.detail),
      };
      const row = this.decide('batch', stop.found, after.after, where);
      if (row.decision === 'next segment') continue;
      if (row.decision === 'torn tail') this.planTornTail(stop);
      return this.finish(
        { segmentSequence: current.sequence, offsetBytes: stop.offsetBytes, nextLsn: expected },
        heads,
      );
    }
  }

  /** Lists and orders the segment files and checks their headers (every one but the last must be valid). */
  private async readHeads(): Promise<Head[]> {
    const sequences = (await this.fs.list(this.directory))
      .map(parseWalSegmentFileName)
      .filter((sequence): sequence is number => sequence !== undefined)
      .sort((left, right) => left - right);
    const heads: Head[] = [];
    for (const [index, sequence] of sequences.entries()) {
      const previous = sequences[index - 1];
      if (previous !== undefined && sequence !== previous + 1) {
        const detail = `segments ${previous} and ${sequence} are present, ${previous + 1} is not`;
        this.decide('log', 'sequence gap', '-', {
          file: this.pathOf(walSegmentFileName(previous + 1)),
          detail,
        });
      }
      heads.push(await this.readHead(sequence));
    }
    for (const head of heads.slice(0, -1)) {
      if (!head.read.ok)
        this.decide('header', 'invalid', 'not last', { ...at(head, 0), detail: head.read.reason });
    }
    return heads;
  }

  private async readHead(sequence: number): Promise<Head> {
    const path = this.pathOf(walSegmentFileName(sequence));
    const { bytes, sizeBytes } = await readFile(this.fs, path, WAL_SEGMENT_HEADER_BYTES);
    const expected = {
      databaseUuid: this.options.databaseUuid,
      segmentSequence: sequence,
      formatMajor: this.options.formatMajor ?? FORMAT_MAJOR,
    };
    return { sequence, path, sizeBytes, read: readWalSegmentHeader(bytes, expected, { file: path }) };
  }

  /** The first segment that may hold a record above the checkpoint; the ones before it are skipped. */
  private firstNeeded(heads: readonly Head[]): number {
    let index = 0;
    for (; index + 1 < heads.length; index++) {
      const here = heads[index]?.read;
      const next = heads[index + 1];
      if (next === undefined || !next.read.ok || next.read.header.firstLsn > this.checkpointLsn + 1n) break;
      assert(here?.ok === true, 'headers before the last were checked');
      if (next.read.header.firstLsn <= here.header.firstLsn) {
        this.decide('log', 'first LSNs unordered', '-', { ...at(next, 0), lsn: next.read.header.firstLsn });
      }
    }
    return index;
  }

  /** Replays valid batches from the first batch position until the chain stops. */
  private async scanSegment(head: Head, firstLsn: Lsn): Promise<{ stop: Stop; nextLsn: Lsn }> {
    const { bytes } = await readFile(this.fs, head.path);
    const context = { file: head.path };
    let expected = firstLsn;
    for (let offsetBytes = WAL_SEGMENT_HEADER_BYTES; ; ) {
      const read = readWalBatch(bytes, offsetBytes, { ...context, offsetBytes });
      const stop = (found: Stop['found'], reason: string, extentBytes?: number) => ({
        stop: { head, bytes, offsetBytes, found, reason, extentBytes },
        nextLsn: expected,
      });
      if (read.kind === 'zeros') return stop('zeros', 'zeros');
      if (read.kind === 'invalid') return stop('invalid', read.reason, read.extentBytes);
      const { firstLsn: batchLsn } = read.header;
      if (batchLsn > expected) return stop('valid >', `a valid batch starts at LSN ${batchLsn}`);
      if (batchLsn < expected) return stop('valid <', `a stale batch starts at LSN ${batchLsn}`);
      const decoded = decodeWalBatchRecords(bytes, read, context);
      if (!decoded.ok) return stop('invalid', decoded.reason, read.extentBytes);
      this.decide('batch', 'valid =', '-', {});
      await this.replay(decoded.records);
      expected = lsn(expected + BigInt(decoded.records.length));
      offsetBytes += read.extentBytes;
    }
  }

  private async replay(records: readonly WalRecord[]): Promise<void> {
    for (const record of records) {
      if (record.lsn <= this.checkpointLsn) continue;
      await this.options.onRecord(record);
      this.recordsReplayed += 1;
    }
  }

  /** What lies past a stop: a later batch here, the next segment's start, or nothing. */
  private async lookAhead(
    stop: Stop,
    next: Head | undefined,
    expected: Lsn,
  ): Promise<{ after: string; detail?: string }> {
    const context = { file: stop.head.path };
    const later = findWalBatchFrom(stop.bytes, {
      fromOffsetBytes: stop.offsetBytes + WAL_BLOCK_BYTES,
      lsnMin: expected,
      context,
    });
    if (later !== undefined) {
      const detail = `a valid batch with LSN ${later.header.firstLsn} follows at offset ${later.offsetBytes}`;
      return { after: 'later', detail };
    }
    if (next === undefined) return { after: 'none' };
    if (!next.read.ok) {
      await this.judgeLastHeader(next, expected);
      return { after: 'none' };
    }
    const nextLsn = next.read.header.firstLsn;
    if (nextLsn === expected) return { after: 'next =' };
    return { after: 'next !=', detail: `${basename(next.path)} starts at LSN ${nextLsn}` };
  }

  /** The last segment's header is invalid: a torn creation if it holds nothing at or above `expected`. */
  private async judgeLastHeader(head: Head, expected: Lsn): Promise<void> {
    assert(!head.read.ok, 'only an invalid header is judged');
    const { bytes } = await readFile(this.fs, head.path);
    const batch = findWalBatchFrom(bytes, {
      fromOffsetBytes: 0,
      lsnMin: expected,
      context: { file: head.path },
    });
    const where = { ...at(head, batch?.offsetBytes ?? 0), lsn: expected, detail: head.read.reason };
    this.decide('header', 'invalid', batch === undefined ? 'last, empty' : 'last, batch', where);
    this.tornCreation = head;
    this.tornTail = { file: head.path, offsetBytes: 0, reason: `torn segment creation: ${head.read.reason}` };
  }

  private planTornTail(stop: Stop): void {
    const fromBytes = stop.offsetBytes;
    const toBytes =
      stop.extentBytes === undefined
        ? stop.head.sizeBytes
        : Math.min(stop.head.sizeBytes, fromBytes + stop.extentBytes);
    assert(fromBytes < toBytes, 'a torn tail has bytes');
    this.zeroRange = { path: stop.head.path, fromBytes, toBytes };
    this.tornTail = { file: stop.head.path, offsetBytes: fromBytes, reason: stop.reason };
  }

  private async finish(end: WalEnd | undefined, heads: readonly Head[]): Promise<WalRecoveryResult> {
    if (end === undefined) {
      const after = this.checkpointLsn === 0n ? 'checkpoint 0' : 'checkpoint > 0';
      this.decide('log', 'no segments', after, { file: this.directory, lsn: lsn(this.checkpointLsn + 1n) });
    } else {
      if (end.nextLsn <= this.checkpointLsn) {
        const detail = `the log ends at LSN ${end.nextLsn - 1n}, the checkpoint is at ${this.checkpointLsn}`;
        this.decide('log', 'ends before checkpoint', '-', { file: this.directory, lsn: end.nextLsn, detail });
      }
      this.decide('log', 'complete', '-', {});
    }
    if (this.options.repair) await this.repair();
    const segments = heads.filter((head) => head.read.ok && head !== this.tornCreation).map(segmentInfo);
    const result = {
      end,
      recordsReplayed: this.recordsReplayed,
      segments,
      decisions: this.decisions,
      notes: this.notes,
    };
    return this.tornTail === undefined ? result : { ...result, tornTail: this.tornTail };
  }

  private async repair(): Promise<void> {
    if (this.zeroRange !== undefined) {
      const { path, fromBytes, toBytes } = this.zeroRange;
      const handle = await this.fs.open(path);
      try {
        await writeWalZeros(handle, { fromBytes, toBytes });
        await handle.datasync();
      } finally {
        await handle.close();
      }
      this.notes.push(`repair: zeroed the torn tail of ${basename(path)}, bytes [${fromBytes}, ${toBytes})`);
    }
    if (this.tornCreation !== undefined) {
      await this.fs.unlink(this.tornCreation.path);
      await this.fs.syncDirectory(this.directory);
      this.notes.push(`repair: removed ${basename(this.tornCreation.path)}, a torn segment creation`);
    }
  }

  private decide(atKind: WalRecoveryRow['at'], found: string, after: string, where: Where): WalRecoveryRow {
    const row = findWalRecoveryRow(atKind, found, after);
    if (row.decision === 'replay') return row;
    this.decisions.push(row);
    if (row.decision === 'refuse') throw new WalCorruptionError(row, where);
    const place = where.file === undefined ? 'WAL' : `${basename(where.file)} @ ${where.offsetBytes ?? 0}`;
    const detail = where.detail === undefined ? '' : ` (${where.detail})`;
    this.notes.push(`${place}: ${atKind} ${found}, ${after} -> ${row.decision}${detail}`);
    return row;
  }

  private pathOf(name: string): string {
    return join(this.directory, name);
  }
}

/** The first `lengthBytes` of a file (all of it by default) and its size. */
async function readFile(
  fs: FileSystem,
  path: string,
  lengthBytes?: number,
): Promise<{ bytes: Uint8Array; sizeBytes: number }> {
  const handle = await fs.open(path, { readOnly: true });
  try {
    const sizeBytes = await handle.sizeBytes();
    return { bytes: await handle.read(0, lengthBytes ?? sizeBytes), sizeBytes };
  } finally {
    await handle.close();
  }
}

function segmentInfo(head: Head): WalSegmentInfo {
  assert(head.read.ok, 'only segments with a valid header are listed');
  return {
    sequence: head.sequence,
    firstLsn: head.read.header.firstLsn,
    file: head.path,
    bytes: head.sizeBytes,
  };
}

function at(head: Head, offsetBytes: number): { file: string; offsetBytes: number } {
  return { file: head.path, offsetBytes };
}

function joinDetail(reason: string, detail: string | undefined): string {
  return detail === undefined ? reason : `${reason}; ${detail}`;
}
