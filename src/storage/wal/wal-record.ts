/**
 * WAL record, batch header and segment header payloads (docs/format/wal.md). Each is one FlatBuffers
 * buffer (identifier JBWL) stored in a checksummed frame (src/util/checksummed-frame.ts):
 *
 *   offset  size  field        notes
 *   0       4     lengthBytes  u32 LE, n
 *   4       n     payload      FlatBuffers: Record, BatchHeader or SegmentHeader (schemas/wal.fbs)
 *   4+n     4     crc32c       u32 LE over bytes [0, 4+n)
 *
 * A Record is one committed transaction (its upserts and tombstones, with absolute expiries) or a
 * checkpoint marker; its LSN is a u64 counter of records. Decoding verifies the buffer and the
 * invariants the schema cannot express (exactly one of inline value and value-log pointer; int64 values
 * are 8 bytes); any defect is a CorruptionError naming the file and offset.
 */
import * as flatbuffers from 'flatbuffers';
import { BatchHeader } from '../../generated/wal/batch-header.js';
import { CheckpointMarker } from '../../generated/wal/checkpoint-marker.js';
import { Commit } from '../../generated/wal/commit.js';
import { LAYOUT as WAL_LAYOUT } from '../../generated/wal/layout.js';
import { Mutation } from '../../generated/wal/mutation.js';
import { MutationEntry } from '../../generated/wal/mutation-entry.js';
import { Record } from '../../generated/wal/record.js';
import { RecordBody } from '../../generated/wal/record-body.js';
import { SegmentHeader } from '../../generated/wal/segment-header.js';
import { Tombstone } from '../../generated/wal/tombstone.js';
import { Upsert } from '../../generated/wal/upsert.js';
import { VlogPointer } from '../../generated/wal/vlog-pointer.js';
import { assert } from '../../util/assert.js';
import { CorruptionError } from '../../util/errors.js';
import { type Lsn, lsn } from '../../util/ids.js';
import { finishBuffer, openStoredBuffer } from '../../util/stored-buffer.js';
import { INT64_VALUE_BYTES, VALUE_TYPE_CODES, type ValueType, valueTypeOfCode } from '../value-type.js';

export interface ValueLogPointer {
  readonly segment: number;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

export type WalMutation =
  | {
      readonly kind: 'upsert';
      readonly key: Uint8Array;
      readonly valueType: ValueType;
      /** Exactly one of `inlineValue` and `vlogPointer` is set. */
      readonly inlineValue?: Uint8Array;
      readonly vlogPointer?: ValueLogPointer;
      /** Absolute wall-clock Unix milliseconds; 0 means no expiry. */
      readonly expiresAtMs: number;
    }
  | { readonly kind: 'tombstone'; readonly key: Uint8Array };

export type WalRecordBody =
  | { readonly kind: 'commit'; readonly mutations: readonly WalMutation[]; readonly committedAtMs: number }
  | { readonly kind: 'checkpoint'; readonly checkpointLsn: Lsn; readonly superblockGeneration: bigint };

export interface WalRecord {
  readonly lsn: Lsn;
  readonly body: WalRecordBody;
}

export interface WalBatchHeader {
  readonly firstLsn: Lsn;
  readonly recordCount: number;
  /** Bytes of record frames that follow the header frame. */
  readonly byteLength: number;
  /** CRC32C over those record frames. */
  readonly crc32c: number;
}

export interface WalSegmentHeader {
  readonly databaseUuid: Uint8Array;
  readonly segmentSequence: number;
  readonly firstLsn: Lsn;
  readonly formatMajor: number;
}

export interface DecodeContext {
  readonly file: string;
  readonly offsetBytes?: number;
}

function finish(builder: flatbuffers.Builder, root: flatbuffers.Offset): Uint8Array {
  return finishBuffer(builder, root, WAL_LAYOUT);
}

function encodeMutation(builder: flatbuffers.Builder, mutation: WalMutation): flatbuffers.Offset {
  if (mutation.kind === 'tombstone') {
    const tombstone = Tombstone.createTombstone(builder, Tombstone.createKeyVector(builder, mutation.key));
    return MutationEntry.createMutationEntry(builder, Mutation.Tombstone, tombstone);
  }
  assert((mutation.inlineValue === undefined) !== (mutation.vlogPointer === undefined), 'one value location');
  // The decoder refuses times a JS number cannot hold exactly; never log one it would refuse.
  assert(Number.isSafeInteger(mutation.expiresAtMs) && mutation.expiresAtMs >= 0, 'expiry out of range');
  const key = Upsert.createKeyVector(builder, mutation.key);
  const inline =
    mutation.inlineValue === undefined ? 0 : Upsert.createInlineValueVector(builder, mutation.inlineValue);
  const pointer =
    mutation.vlogPointer === undefined
      ? 0
      : VlogPointer.createVlogPointer(
          builder,
          mutation.vlogPointer.segment,
          BigInt(mutation.vlogPointer.offsetBytes),
          mutation.vlogPointer.lengthBytes,
        );
  Upsert.startUpsert(builder);
  Upsert.addKey(builder, key);
  Upsert.addValueType(builder, VALUE_TYPE_CODES[mutation.valueType]);
  if (inline !== 0) Upsert.addInlineValue(builder, inline);
  if (pointer !== 0) Upsert.addVlogPointer(builder, pointer);
  Upsert.addExpiresAtMs(builder, BigInt(mutation.expiresAtMs));
  return MutationEntry.createMutationEntry(builder, Mutation.Upsert, Upsert.endUpsert(builder));
}

/**
 * One builder for every record: encoding is synchronous, so it is never shared mid-use, and reusing it
 * saves an off-heap allocation per commit. One grown past the limit by a large record is replaced.
 */
const RECORD_BUILDER_BYTES = 1024;
const RECORD_BUILDER_KEPT_BYTES_MAX = 64 * 1024;
let recordBuilder = new flatbuffers.Builder(RECORD_BUILDER_BYTES);

/** The FlatBuffers payload of one WAL record (the caller frames it). */
export function encodeWalRecord(record: WalRecord): Uint8Array {
  if (recordBuilder.dataBuffer().capacity() > RECORD_BUILDER_KEPT_BYTES_MAX) {
    recordBuilder = new flatbuffers.Builder(RECORD_BUILDER_BYTES);
  }
  const builder = recordBuilder;
  builder.clear();
  let bodyType: RecordBody;
  let body: flatbuffers.Offset;
  if (record.body.kind === 'commit') {
    const entries = record.body.mutations.map((mutation) => encodeMutation(builder, mutation));
    const vector = Commit.createMutationsVector(builder, entries);
    body = Commit.createCommit(builder, vector, BigInt(record.body.committedAtMs));
    bodyType = RecordBody.Commit;
  } else {
    body = CheckpointMarker.createCheckpointMarker(
      builder,
      record.body.checkpointLsn,
      record.body.superblockGeneration,
    );
    bodyType = RecordBody.CheckpointMarker;
  }
  return finish(builder, Record.createRecord(builder, record.lsn, bodyType, body));
}

function verified(payload: Uint8Array, rootTable: string, context: DecodeContext): flatbuffers.ByteBuffer {
  return openStoredBuffer(payload, WAL_LAYOUT, rootTable, context);
}

function corrupt(message: string, context: DecodeContext): never {
  throw new CorruptionError(message, { ...context, what: 'WAL record' });
}

function safeMs(value: bigint, context: DecodeContext): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) corrupt(`time ${value} out of range`, context);
  return Number(value);
}

function decodeUpsert(upsert: Upsert, context: DecodeContext): WalMutation {
  const valueType = valueTypeOfCode(upsert.valueType());
  assert(valueType !== undefined, 'the verifier checks enum values');
  const key = upsert.keyArray();
  assert(key !== null, 'the verifier checks required fields');
  const inline = upsert.inlineValueArray();
  const pointer = upsert.vlogPointer();
  if ((inline === null) === (pointer === null))
    corrupt('upsert needs exactly one of inline value and pointer', context);
  if (valueType === 'int64' && inline !== null && inline.length !== INT64_VALUE_BYTES) {
    corrupt(`int64 value of ${inline.length} bytes`, context);
  }
  const expiresAtMs = safeMs(upsert.expiresAtMs(), context);
  if (pointer !== null) {
    const vlogPointer = {
      segment: pointer.segment(),
      offsetBytes: safeMs(pointer.offsetBytes(), context),
      lengthBytes: pointer.lengthBytes(),
    };
    return { kind: 'upsert', key: key.slice(), valueType, vlogPointer, expiresAtMs };
  }
  return { kind: 'upsert', key: key.slice(), valueType, inlineValue: inline?.slice(), expiresAtMs };
}

function decodeCommit(commit: Commit, context: DecodeContext): WalRecordBody {
  const mutations: WalMutation[] = [];
  for (let i = 0; i < commit.mutationsLength(); i++) {
    const entry = commit.mutations(i);
    assert(entry !== null);
    if (entry.mutationType() === Mutation.Upsert) {
      mutations.push(decodeUpsert(entry.mutation(new Upsert()) as Upsert, context));
    } else {
      const tombstone = entry.mutation(new Tombstone()) as Tombstone;
      const key = tombstone.keyArray();
      assert(key !== null);
      mutations.push({ kind: 'tombstone', key: key.slice() });
    }
  }
  return { kind: 'commit', mutations, committedAtMs: safeMs(commit.committedAtMs(), context) };
}

/** Decodes a WAL record payload; copies every byte array, so the result never aliases `payload`. */
export function decodeWalRecord(payload: Uint8Array, context: DecodeContext): WalRecord {
  const record = Record.getRootAsRecord(verified(payload, 'Record', context));
  const recordLsn = lsn(record.lsn());
  if (record.bodyType() === RecordBody.Commit) {
    return { lsn: recordLsn, body: decodeCommit(record.body(new Commit()) as Commit, context) };
  }
  const marker = record.body(new CheckpointMarker()) as CheckpointMarker;
  return {
    lsn: recordLsn,
    body: {
      kind: 'checkpoint',
      checkpointLsn: lsn(marker.checkpointLsn()),
      superblockGeneration: marker.superblockGeneration(),
    },
  };
}

export function encodeWalBatchHeader(header: WalBatchHeader): Uint8Array {
  const builder = new flatbuffers.Builder(64);
  const root = BatchHeader.createBatchHeader(
    builder,
    header.firstLsn,
    header.recordCount,
    header.byteLength,
    header.crc32c,
  );
  return finish(builder, root);
}

export function decodeWalBatchHeader(payload: Uint8Array, context: DecodeContext): WalBatchHeader {
  const header = BatchHeader.getRootAsBatchHeader(verified(payload, 'BatchHeader', context));
  return {
    firstLsn: lsn(header.firstLsn()),
    recordCount: header.recordCount(),
    byteLength: header.byteLength(),
    crc32c: header.crc32c(),
  };
}

export function encodeWalSegmentHeader(header: WalSegmentHeader): Uint8Array {
  const builder = new flatbuffers.Builder(96);
  const uuid = SegmentHeader.createDatabaseUuidVector(builder, header.databaseUuid);
  const root = SegmentHeader.createSegmentHeader(
    builder,
    uuid,
    header.segmentSequence,
    header.firstLsn,
    header.formatMajor,
  );
  return finish(builder, root);
}

export function decodeWalSegmentHeader(payload: Uint8Array, context: DecodeContext): WalSegmentHeader {
  const header = SegmentHeader.getRootAsSegmentHeader(verified(payload, 'SegmentHeader', context));
  const uuid = header.databaseUuidArray();
  assert(uuid !== null);
  return {
    databaseUuid: uuid.slice(),
    segmentSequence: header.segmentSequence(),
    firstLsn: lsn(header.firstLsn()),
    formatMajor: header.formatMajor(),
  };
}
