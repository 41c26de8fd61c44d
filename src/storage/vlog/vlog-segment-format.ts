/**
 * The value-log segment file `vlog-NNNNNN.seg` (docs/format/vlog.md). Owner of its byte layout:
 *
 *   offset  size  field
 *   0       512   header block: checksummed frame of VlogSegmentHeader { database_uuid,
 *                 segment_sequence, first_lsn }, zero-padded to 512 bytes
 *   512     ...   record frames, back to back: u32 LE length n | VlogRecord payload (n bytes) |
 *                 u32 LE CRC32C over [length, payload]
 *
 * A leaf's value-log pointer is `{segment, offsetBytes, lengthBytes}` of one record frame. Segments are
 * append-only and not preallocated (a record's fdatasync also persists the new file size). A segment
 * is sealed once a record would take it past the configured size; a record larger than that alone gets
 * a segment of its own. Records are appended in LSN order.
 */
import { VALUE_SIZE_BYTES_MAX } from '../../config/limits.js';
import { assert } from '../../util/assert.js';
import { encodeFrame, FRAME_OVERHEAD_BYTES, readFrame, writeFrame } from '../../util/checksummed-frame.js';
import { isJubilantError } from '../../util/errors.js';
import { segmentIdentityProblem } from '../segment-identity.js';
import {
  type DecodeContext,
  decodeValueLogRecord,
  decodeValueLogSegmentHeader,
  encodeValueLogRecord,
  encodeValueLogSegmentHeader,
  type ValueLogRecord,
  type ValueLogSegmentHeader,
} from './vlog-record.js';

const MiB = 1024 * 1024;

export const VLOG_SEGMENT_HEADER_BYTES = 512;
const VLOG_SEGMENT_HEADER_PAYLOAD_BYTES_MAX = 256;
/** A record holds a value of up to 64 MiB, its key and a small FlatBuffers overhead. */
export const VLOG_RECORD_PAYLOAD_BYTES_MAX = VALUE_SIZE_BYTES_MAX + 64 * 1024;
export const VLOG_SEGMENT_BYTES_MIN = 4 * 1024;
export const VLOG_SEGMENT_BYTES_MAX = 4096 * MiB;
export const VLOG_SEGMENT_BYTES_DEFAULT = 256 * MiB;

export function vlogSegmentFileName(sequence: number): string {
  assert(Number.isSafeInteger(sequence) && sequence >= 1, `invalid value-log segment ${sequence}`);
  return `vlog-${String(sequence).padStart(6, '0')}.seg`;
}

/** The sequence of a segment file name, or undefined for any other name. */
export function parseVlogSegmentFileName(name: string): number | undefined {
  const match = /^vlog-(\d{6,})\.seg$/.exec(name);
  if (match === null) return undefined;
  const sequence = Number(match[1]);
  // Only the canonical spelling counts, so one sequence never has two file names.
  if (!Number.isSafeInteger(sequence) || sequence < 1 || vlogSegmentFileName(sequence) !== name) {
    return undefined;
  }
  return sequence;
}

/** The first 512 bytes of a segment: the header frame, zero-padded. */
export function encodeVlogSegmentHeaderBlock(header: ValueLogSegmentHeader): Uint8Array {
  const payload = encodeValueLogSegmentHeader(header);
  assert(payload.length <= VLOG_SEGMENT_HEADER_PAYLOAD_BYTES_MAX, 'segment header payload too large');
  const block = new Uint8Array(VLOG_SEGMENT_HEADER_BYTES);
  writeFrame(block, 0, payload);
  return block;
}

export type VlogSegmentHeaderRead =
  | { readonly ok: true; readonly header: ValueLogSegmentHeader }
  | { readonly ok: false; readonly reason: string };

/** Checks a segment's header block: frame, FlatBuffers, database and the sequence its name gives. */
export function readVlogSegmentHeader(
  block: Uint8Array,
  expected: { readonly databaseUuid: Uint8Array; readonly segmentSequence: number },
  context: DecodeContext,
): VlogSegmentHeaderRead {
  const frame = readFrame(block, 0, VLOG_SEGMENT_HEADER_PAYLOAD_BYTES_MAX);
  if (!frame.ok) return { ok: false, reason: `segment header frame: ${frame.problem}` };
  let header: ValueLogSegmentHeader;
  try {
    header = decodeValueLogSegmentHeader(frame.payload, { ...context, offsetBytes: 0 });
  } catch (error) {
    if (!isJubilantError(error, 'CORRUPTION')) throw error;
    return { ok: false, reason: `segment header: ${error.message}` };
  }
  const problem = segmentIdentityProblem(header, expected);
  return problem === undefined ? { ok: true, header } : { ok: false, reason: problem };
}

/** One record as its frame is written into a segment. */
export function encodeVlogRecordFrame(record: ValueLogRecord): Uint8Array {
  return encodeFrame(encodeValueLogRecord(record));
}

export type VlogRecordRead =
  | { readonly ok: true; readonly record: ValueLogRecord; readonly frameBytes: number }
  | { readonly ok: false; readonly reason: string };

/** Reads and decodes the record frame at `offsetBytes` of `bytes`; never throws on bad bytes. */
export function readVlogRecordFrame(
  bytes: Uint8Array,
  offsetBytes: number,
  context: DecodeContext,
): VlogRecordRead {
  const frame = readFrame(bytes, offsetBytes, VLOG_RECORD_PAYLOAD_BYTES_MAX);
  if (!frame.ok) return { ok: false, reason: `record frame: ${frame.problem}` };
  try {
    const record = decodeValueLogRecord(frame.payload, { ...context, offsetBytes });
    return { ok: true, record, frameBytes: frame.frameBytes };
  } catch (error) {
    if (!isJubilantError(error, 'CORRUPTION')) throw error;
    return { ok: false, reason: error.message };
  }
}

/** The smallest possible frame, for sanity checks of pointers. */
export const VLOG_RECORD_FRAME_BYTES_MIN = FRAME_OVERHEAD_BYTES + 1;

export function isValidVlogSegmentBytes(segmentBytes: number): boolean {
  return (
    Number.isSafeInteger(segmentBytes) &&
    segmentBytes >= VLOG_SEGMENT_BYTES_MIN &&
    segmentBytes <= VLOG_SEGMENT_BYTES_MAX
  );
}
