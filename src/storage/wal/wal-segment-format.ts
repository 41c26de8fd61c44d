/**
 * WAL segment files (docs/format/wal.md, "Segment files"): the one owner of their byte layout. A segment
 * is preallocated with zeros, starts with a segment header block, and holds group-commit batches, each
 * at a 512-byte-aligned offset; zeros (a length of 0) where a batch would start mark the end of the log.
 *
 *   file wal-NNNNNN.log, NNNNNN = segment sequence (zero-padded to 6 digits; more digits past 999999)
 *
 *   offset        size          field          notes
 *   0             8+h           segment header checksummed frame of a SegmentHeader (h <= 256): database
 *                                              UUID, segment sequence, first LSN, format major
 *   8+h           to 512        padding        zero
 *   512           ...           batches        back to back, each starting at a multiple of 512
 *
 *   one batch, at an aligned offset b
 *   b             8+k           batch header   checksummed frame of a BatchHeader (k <= 256): first LSN,
 *                                              record count c >= 1, byteLength, crc32c of the record frames
 *   b+8+k         byteLength    record frames  c checksummed frames of Record payloads, LSNs firstLsn,
 *                                              firstLsn+1, ..., firstLsn+c-1
 *   b+8+k+bl      to next 512   padding        zero
 *
 * After the last batch come zeros (preallocation) or, in a recycled segment, stale bytes of its previous
 * life. Stale batches are valid frames but carry LSNs below the segment's first LSN, so a reader that
 * follows the LSN chain stops at them; zeroing a recycled file is therefore not needed for correctness.
 * `wal-NNNNNN.spare` files are recycled or half-created segments: readers ignore them.
 */
import type { FileHandle } from '../../io/file-system.js';
import { assert } from '../../util/assert.js';
import { FRAME_OVERHEAD_BYTES, frameSizeBytes, readFrame, writeFrame } from '../../util/checksummed-frame.js';
import { crc32c } from '../../util/crc32c.js';
import { isJubilantError } from '../../util/errors.js';
import { LSN_MAX, type Lsn } from '../../util/ids.js';
import { segmentIdentityProblem } from '../segment-identity.js';
import {
  type DecodeContext,
  decodeWalBatchHeader,
  decodeWalRecord,
  decodeWalSegmentHeader,
  encodeWalBatchHeader,
  encodeWalSegmentHeader,
  type WalBatchHeader,
  type WalRecord,
  type WalSegmentHeader,
} from './wal-record.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Batches start at multiples of this (one disk sector), so a torn write never mixes two batches. */
export const WAL_BLOCK_BYTES = 512;
/** The segment header frame sits alone in the first block. */
export const WAL_SEGMENT_HEADER_BYTES = WAL_BLOCK_BYTES;
export const WAL_SEGMENT_HEADER_PAYLOAD_BYTES_MAX = 256;
export const WAL_BATCH_HEADER_PAYLOAD_BYTES_MAX = 256;
/** One record is one committed transaction; the group commit must refuse larger ones before the WAL. */
export const WAL_RECORD_PAYLOAD_BYTES_MAX = 16 * MiB;
/** The record frames of one batch; the group commit cuts batches well below this. */
export const WAL_BATCH_BODY_BYTES_MAX = 64 * MiB;
export const WAL_SEGMENT_BYTES_MIN = 4 * WAL_BLOCK_BYTES;
export const WAL_SEGMENT_BYTES_MAX = 1024 * MiB;
export const WAL_SEGMENT_BYTES_DEFAULT = 64 * MiB;
export const WAL_SPARE_SEGMENTS_MAX_DEFAULT = 2;
/** Preallocation and repair write zeros in pieces of this size, so memory stays bounded. */
export const WAL_ZERO_CHUNK_BYTES = 1 * MiB;
const SEQUENCE_DIGITS = 6;

assert(frameSizeBytes(WAL_SEGMENT_HEADER_PAYLOAD_BYTES_MAX) <= WAL_SEGMENT_HEADER_BYTES);
assert(frameSizeBytes(WAL_BATCH_HEADER_PAYLOAD_BYTES_MAX) <= WAL_BLOCK_BYTES);
assert(frameSizeBytes(WAL_RECORD_PAYLOAD_BYTES_MAX) <= WAL_BATCH_BODY_BYTES_MAX);
assert(WAL_BATCH_BODY_BYTES_MAX <= 0xffff_ffff, 'byteLength is a u32');
assert(WAL_SEGMENT_BYTES_MIN % WAL_BLOCK_BYTES === 0 && WAL_SEGMENT_BYTES_MIN > WAL_SEGMENT_HEADER_BYTES);
assert(
  WAL_SEGMENT_BYTES_DEFAULT % WAL_BLOCK_BYTES === 0 && WAL_SEGMENT_BYTES_DEFAULT <= WAL_SEGMENT_BYTES_MAX,
);
assert(WAL_ZERO_CHUNK_BYTES % WAL_BLOCK_BYTES === 0);

/** Where recovery found the end of the log: the next batch goes at `offsetBytes` of that segment. */
export interface WalEnd {
  readonly segmentSequence: number;
  readonly offsetBytes: number;
  readonly nextLsn: Lsn;
}

// --- file names --------------------------------------------------------------------------------

function formatSequence(sequence: number): string {
  assert(Number.isSafeInteger(sequence) && sequence >= 1, `invalid segment sequence ${sequence}`);
  return String(sequence).padStart(SEQUENCE_DIGITS, '0');
}

function parseSequence(
  name: string,
  pattern: RegExp,
  format: (sequence: number) => string,
): number | undefined {
  const match = pattern.exec(name);
  if (match === null) return undefined;
  const sequence = Number(match[1]);
  // Only the canonical spelling counts, so one sequence never has two file names.
  if (!Number.isSafeInteger(sequence) || sequence < 1 || format(sequence) !== name) return undefined;
  return sequence;
}

export function walSegmentFileName(sequence: number): string {
  return `wal-${formatSequence(sequence)}.log`;
}

/** The sequence of a segment file name, or undefined for any other name (spares included). */
export function parseWalSegmentFileName(name: string): number | undefined {
  return parseSequence(name, /^wal-(\d{6,})\.log$/, walSegmentFileName);
}

/** A spare keeps the sequence it was created or last used with; the name only has to be unique. */
export function walSpareFileName(sequence: number): string {
  return `wal-${formatSequence(sequence)}.spare`;
}

export function parseWalSpareFileName(name: string): number | undefined {
  return parseSequence(name, /^wal-(\d{6,})\.spare$/, walSpareFileName);
}

export function alignToBlock(bytes: number): number {
  return Math.ceil(bytes / WAL_BLOCK_BYTES) * WAL_BLOCK_BYTES;
}

export function isValidWalSegmentBytes(segmentBytes: number): boolean {
  return (
    Number.isSafeInteger(segmentBytes) &&
    segmentBytes >= WAL_SEGMENT_BYTES_MIN &&
    segmentBytes <= WAL_SEGMENT_BYTES_MAX &&
    segmentBytes % WAL_BLOCK_BYTES === 0
  );
}

// --- segment header ----------------------------------------------------------------------------

/** The first block of a segment: the header frame, zero-padded to WAL_SEGMENT_HEADER_BYTES. */
export function encodeWalSegmentHeaderBlock(header: WalSegmentHeader): Uint8Array {
  assert(header.firstLsn >= 1n, 'LSNs start at 1');
  const payload = encodeWalSegmentHeader(header);
  assert(payload.length <= WAL_SEGMENT_HEADER_PAYLOAD_BYTES_MAX, 'segment header payload too large');
  const block = new Uint8Array(WAL_SEGMENT_HEADER_BYTES);
  writeFrame(block, 0, payload);
  return block;
}

export interface WalSegmentExpectation {
  readonly databaseUuid: Uint8Array;
  /** The sequence the file name gives. */
  readonly segmentSequence: number;
  readonly formatMajor: number;
}

export type WalSegmentHeaderRead =
  | { readonly ok: true; readonly header: WalSegmentHeader }
  | { readonly ok: false; readonly reason: string };

/** Checks the header block of a segment file: frame, FlatBuffers, and that it belongs where it lies. */
export function readWalSegmentHeader(
  block: Uint8Array,
  expected: WalSegmentExpectation,
  context: DecodeContext,
): WalSegmentHeaderRead {
  const frame = readFrame(block, 0, WAL_SEGMENT_HEADER_PAYLOAD_BYTES_MAX);
  if (!frame.ok) return { ok: false, reason: `segment header frame: ${frame.problem}` };
  let header: WalSegmentHeader;
  try {
    header = decodeWalSegmentHeader(frame.payload, { ...context, offsetBytes: 0 });
  } catch (error) {
    if (!isJubilantError(error, 'CORRUPTION')) throw error;
    return { ok: false, reason: `segment header: ${error.message}` };
  }
  const identityProblem = segmentIdentityProblem(header, expected);
  if (identityProblem !== undefined) return { ok: false, reason: identityProblem };
  if (header.formatMajor !== expected.formatMajor) {
    return { ok: false, reason: `segment header has format major ${header.formatMajor}` };
  }
  if (header.firstLsn < 1n) return { ok: false, reason: 'segment header has first LSN 0' };
  return { ok: true, header };
}

// --- batches -----------------------------------------------------------------------------------

/** An upper bound of the bytes a batch with `bodyBytes` of record frames takes in a segment. */
export function walBatchBytesMax(bodyBytes: number): number {
  return alignToBlock(frameSizeBytes(WAL_BATCH_HEADER_PAYLOAD_BYTES_MAX) + bodyBytes);
}

/** The bytes of record frames for these Record payload sizes (what byteLength will say). */
export function walBatchBodyBytes(recordPayloadBytes: readonly number[]): number {
  return recordPayloadBytes.reduce((total, bytes) => total + frameSizeBytes(bytes), 0);
}

/**
 * Reusable buffers for encoding batches: a batch written at once (and not kept) is encoded into them
 * instead of two fresh allocations per batch, which with a batch every fraction of a millisecond were
 * a steady churn of mid-sized buffers that fragmented the process's malloc heap.
 */
export class WalBatchScratch {
  private readonly buffers = { body: new Uint8Array(0), batch: new Uint8Array(0) };

  /**
   * A zero-filled view of `bytes` of one of its buffers, grown (to a power of two) when too small: the
   * same contents a fresh `new Uint8Array(bytes)` has, so the batch's padding is zeros either way.
   */
  take(which: 'body' | 'batch', bytes: number): Uint8Array {
    let buffer = this.buffers[which];
    if (buffer.length < bytes) {
      let size = 4096;
      while (size < bytes) size *= 2;
      buffer = new Uint8Array(size);
      this.buffers[which] = buffer;
    }
    const view = buffer.subarray(0, bytes);
    view.fill(0);
    return view;
  }
}

/** `bytes` zero bytes: from `scratch` when given, else a fresh buffer. */
function bytesFor(scratch: WalBatchScratch | undefined, which: 'body' | 'batch', bytes: number): Uint8Array {
  return scratch === undefined ? new Uint8Array(bytes) : scratch.take(which, bytes);
}

/**
 * One batch as written: header frame, record frames, zero padding to the next 512 boundary. With `scratch`, the result is a view into its buffers, valid until the next call
 * with the same scratch; without, it is a fresh buffer.
 */
export function encodeWalBatch(
  firstLsn: Lsn,
  records: readonly Uint8Array[],
  scratch?: WalBatchScratch,
): Uint8Array {
  assert(records.length >= 1, 'a batch holds at least one record');
  assert(firstLsn >= 1n && firstLsn + BigInt(records.length) - 1n <= LSN_MAX, 'batch LSNs out of range');
  let bodyBytes = 0;
  for (const record of records) bodyBytes += frameSizeBytes(record.length);
  assert(bodyBytes <= WAL_BATCH_BODY_BYTES_MAX, `batch of ${bodyBytes} bytes exceeds the limit`);
  const body = bytesFor(scratch, 'body', bodyBytes);
  let atBytes = 0;
  for (const record of records) {
    assert(record.length <= WAL_RECORD_PAYLOAD_BYTES_MAX, `record of ${record.length} bytes`);
    atBytes = writeFrame(body, atBytes, record);
  }
  assert(atBytes === bodyBytes);
  const headerPayload = encodeWalBatchHeader({
    firstLsn,
    recordCount: records.length,
    byteLength: bodyBytes,
    crc32c: crc32c(body),
  });
  assert(headerPayload.length <= WAL_BATCH_HEADER_PAYLOAD_BYTES_MAX, 'batch header payload too large');
  const headerBytes = frameSizeBytes(headerPayload.length);
  const batchBytes = alignToBlock(headerBytes + bodyBytes);
  const batch = bytesFor(scratch, 'batch', batchBytes);
  writeFrame(batch, 0, headerPayload);
  batch.set(body, headerBytes);
  return batch;
}

export type WalBatchRead =
  /** A length of 0 where the batch would start, or the file ends there: nothing was written here. */
  | { readonly kind: 'zeros' }
  | {
      readonly kind: 'valid';
      readonly header: WalBatchHeader;
      readonly bodyOffsetBytes: number;
      /** From the batch start to the next 512 boundary after its record frames. */
      readonly extentBytes: number;
    }
  /** `extentBytes` is known when the header frame was readable. */
  | { readonly kind: 'invalid'; readonly reason: string; readonly extentBytes: number | undefined };

function headerProblem(header: WalBatchHeader): string | undefined {
  if (header.recordCount < 1) return 'batch header has no records';
  if (header.byteLength > WAL_BATCH_BODY_BYTES_MAX) return `batch header claims ${header.byteLength} bytes`;
  if (header.byteLength < header.recordCount * (FRAME_OVERHEAD_BYTES + 1)) {
    return `batch header: ${header.recordCount} records cannot fit ${header.byteLength} bytes`;
  }
  if (header.firstLsn < 1n || header.firstLsn + BigInt(header.recordCount) - 1n > LSN_MAX) {
    return 'batch header LSNs out of range';
  }
  return undefined;
}

/**
 * Reads the batch at `offsetBytes` of a segment's bytes: the header frame and the CRC of the record
 * frames. The records themselves are decoded by `decodeWalBatchRecords`. Never throws on bad bytes.
 */
export function readWalBatch(bytes: Uint8Array, offsetBytes: number, context: DecodeContext): WalBatchRead {
  assert(offsetBytes % WAL_BLOCK_BYTES === 0 && offsetBytes >= WAL_SEGMENT_HEADER_BYTES, 'unaligned batch');
  if (offsetBytes >= bytes.length) return { kind: 'zeros' };
  if (offsetBytes + 4 <= bytes.length && readU32(bytes, offsetBytes) === 0) return { kind: 'zeros' };
  const frame = readFrame(bytes, offsetBytes, WAL_BATCH_HEADER_PAYLOAD_BYTES_MAX);
  if (!frame.ok)
    return { kind: 'invalid', reason: `batch header frame: ${frame.problem}`, extentBytes: undefined };
  let header: WalBatchHeader;
  try {
    header = decodeWalBatchHeader(frame.payload, { ...context, offsetBytes });
  } catch (error) {
    if (!isJubilantError(error, 'CORRUPTION')) throw error;
    return { kind: 'invalid', reason: `batch header: ${error.message}`, extentBytes: undefined };
  }
  const problem = headerProblem(header);
  if (problem !== undefined) return { kind: 'invalid', reason: problem, extentBytes: undefined };
  const bodyOffsetBytes = offsetBytes + frame.frameBytes;
  const extentBytes = alignToBlock(frame.frameBytes + header.byteLength);
  const bodyEnd = bodyOffsetBytes + header.byteLength;
  if (bodyEnd > bytes.length) return { kind: 'invalid', reason: 'batch body truncated', extentBytes };
  if (crc32c(bytes.subarray(bodyOffsetBytes, bodyEnd)) !== header.crc32c) {
    return { kind: 'invalid', reason: 'batch body crc mismatch', extentBytes };
  }
  return { kind: 'valid', header, bodyOffsetBytes, extentBytes };
}

export type WalBatchRecords =
  | { readonly ok: true; readonly records: readonly WalRecord[] }
  | { readonly ok: false; readonly reason: string };

/** Decodes the record frames of a valid batch, checking their count and that their LSNs follow on. */
export function decodeWalBatchRecords(
  bytes: Uint8Array,
  batch: Extract<WalBatchRead, { kind: 'valid' }>,
  context: DecodeContext,
): WalBatchRecords {
  const { header, bodyOffsetBytes } = batch;
  const body = bytes.subarray(bodyOffsetBytes, bodyOffsetBytes + header.byteLength);
  const records: WalRecord[] = [];
  let atBytes = 0;
  for (let index = 0; index < header.recordCount; index++) {
    const offsetBytes = bodyOffsetBytes + atBytes;
    const frame = readFrame(body, atBytes, WAL_RECORD_PAYLOAD_BYTES_MAX);
    if (!frame.ok) return { ok: false, reason: `record ${index} frame: ${frame.problem}` };
    let record: WalRecord;
    try {
      record = decodeWalRecord(frame.payload, { ...context, offsetBytes });
    } catch (error) {
      if (!isJubilantError(error, 'CORRUPTION')) throw error;
      return { ok: false, reason: `record ${index}: ${error.message}` };
    }
    const expected = header.firstLsn + BigInt(index);
    if (record.lsn !== expected)
      return { ok: false, reason: `record ${index} has LSN ${record.lsn}, not ${expected}` };
    records.push(record);
    atBytes += frame.frameBytes;
  }
  if (atBytes !== header.byteLength) return { ok: false, reason: 'record frames do not fill the batch' };
  return { ok: true, records };
}

/**
 * The first batch at an aligned offset at or after `fromOffsetBytes` whose header and CRC are valid and
 * whose first LSN is at least `lsnMin`: evidence that the log goes on past a damaged spot.
 */
export function findWalBatchFrom(
  bytes: Uint8Array,
  request: { fromOffsetBytes: number; lsnMin: Lsn; context: DecodeContext },
): { offsetBytes: number; header: WalBatchHeader } | undefined {
  const start = Math.max(WAL_SEGMENT_HEADER_BYTES, alignToBlock(request.fromOffsetBytes));
  for (let offsetBytes = start; offsetBytes < bytes.length; offsetBytes += WAL_BLOCK_BYTES) {
    const read = readWalBatch(bytes, offsetBytes, request.context);
    if (read.kind === 'valid' && read.header.firstLsn >= request.lsnMin)
      return { offsetBytes, header: read.header };
  }
  return undefined;
}

/** Writes zeros over [fromBytes, toBytes) in bounded pieces: preallocation, and the repair of a torn tail. */
export async function writeWalZeros(
  handle: FileHandle,
  range: { fromBytes: number; toBytes: number },
): Promise<void> {
  const zeros = new Uint8Array(Math.max(0, Math.min(WAL_ZERO_CHUNK_BYTES, range.toBytes - range.fromBytes)));
  for (let atBytes = range.fromBytes; atBytes < range.toBytes; atBytes += zeros.length) {
    await handle.write(atBytes, zeros.subarray(0, Math.min(zeros.length, range.toBytes - atBytes)));
  }
}

/** Little-endian u32 without allocating a DataView: the look-ahead calls this once per block. */
function readU32(bytes: Uint8Array, offsetBytes: number): number {
  const b0 = bytes[offsetBytes] ?? 0;
  const b1 = bytes[offsetBytes + 1] ?? 0;
  const b2 = bytes[offsetBytes + 2] ?? 0;
  const b3 = bytes[offsetBytes + 3] ?? 0;
  return (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0;
}
