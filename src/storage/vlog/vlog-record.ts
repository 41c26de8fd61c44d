/**
 * Value-log record and segment header payloads (docs/format/vlog.md). Each is one FlatBuffers buffer
 * (identifier JBDK, schemas/disk.fbs) in a checksummed frame (src/util/checksummed-frame.ts):
 *
 *   offset  size  field        notes
 *   0       4     lengthBytes  u32 LE, n
 *   4       n     payload      FlatBuffers: VlogRecord { key, value_type, value, lsn } or VlogSegmentHeader
 *   4+n     4     crc32c       u32 LE over bytes [0, 4+n)
 *
 * A leaf points at a record by {segment, offset, length} of its frame. The record repeats its key, so a
 * read proves it found the record it was looking for; a mismatch is corruption, never wrong data.
 */
import * as flatbuffers from 'flatbuffers';
import { VlogRecord } from '../../generated/disk/vlog-record.js';
import { VlogSegmentHeader } from '../../generated/disk/vlog-segment-header.js';
import { copyBytes, finishDiskBuffer, verifiedDiskBuffer } from '../../meta/disk-buffer.js';
import { assert } from '../../util/assert.js';
import { CorruptionError } from '../../util/errors.js';
import { type Lsn, lsn } from '../../util/ids.js';
import { INT64_VALUE_BYTES, VALUE_TYPE_CODES, type ValueType, valueTypeOfCode } from '../value-type.js';

export interface ValueLogRecord {
  readonly key: Uint8Array;
  readonly valueType: ValueType;
  readonly value: Uint8Array;
  /** The LSN of the commit that wrote the value. */
  readonly lsn: Lsn;
}

export interface ValueLogSegmentHeader {
  readonly databaseUuid: Uint8Array;
  readonly segmentSequence: number;
  readonly firstLsn: Lsn;
}

export interface DecodeContext {
  readonly file: string;
  readonly offsetBytes?: number;
}

export function encodeValueLogRecord(record: ValueLogRecord): Uint8Array {
  const builder = new flatbuffers.Builder(record.value.length + record.key.length + 64);
  const key = VlogRecord.createKeyVector(builder, record.key);
  const value = VlogRecord.createValueVector(builder, record.value);
  const root = VlogRecord.createVlogRecord(
    builder,
    key,
    VALUE_TYPE_CODES[record.valueType],
    value,
    record.lsn,
  );
  return finishDiskBuffer(builder, root);
}

export function decodeValueLogRecord(payload: Uint8Array, context: DecodeContext): ValueLogRecord {
  const table = VlogRecord.getRootAsVlogRecord(verifiedDiskBuffer(payload, 'VlogRecord', context));
  const valueType = valueTypeOfCode(table.valueType());
  assert(valueType !== undefined, 'the verifier checks enum values');
  const value = copyBytes(table.valueArray());
  if (valueType === 'int64' && value.length !== INT64_VALUE_BYTES) {
    throw new CorruptionError(`int64 value of ${value.length} bytes`, {
      ...context,
      what: 'value-log record',
    });
  }
  return { key: copyBytes(table.keyArray()), valueType, value, lsn: lsn(table.lsn()) };
}

export function encodeValueLogSegmentHeader(header: ValueLogSegmentHeader): Uint8Array {
  const builder = new flatbuffers.Builder(96);
  const uuid = VlogSegmentHeader.createDatabaseUuidVector(builder, header.databaseUuid);
  const root = VlogSegmentHeader.createVlogSegmentHeader(
    builder,
    uuid,
    header.segmentSequence,
    header.firstLsn,
  );
  return finishDiskBuffer(builder, root);
}

export function decodeValueLogSegmentHeader(
  payload: Uint8Array,
  context: DecodeContext,
): ValueLogSegmentHeader {
  const table = VlogSegmentHeader.getRootAsVlogSegmentHeader(
    verifiedDiskBuffer(payload, 'VlogSegmentHeader', context),
  );
  return {
    databaseUuid: copyBytes(table.databaseUuidArray()),
    segmentSequence: table.segmentSequence(),
    firstLsn: lsn(table.firstLsn()),
  };
}
