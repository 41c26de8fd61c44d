// Proves the WAL segment layout: file names, the header block, and how each kind of damaged batch reads.
import { describe, expect, it } from 'vitest';
import { FORMAT_MAJOR } from '../../../src/meta/manifest.js';
import {
  alignToBlock,
  decodeWalBatchRecords,
  encodeWalBatch,
  encodeWalSegmentHeaderBlock,
  findWalBatchFrom,
  parseWalSegmentFileName,
  parseWalSpareFileName,
  readWalBatch,
  readWalSegmentHeader,
  WAL_BATCH_HEADER_PAYLOAD_BYTES_MAX,
  WAL_BLOCK_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
  walBatchBodyBytes,
  walBatchBytesMax,
  walSegmentFileName,
  walSpareFileName,
} from '../../../src/storage/wal/wal-segment-format.js';
import { toHex } from '../../../src/util/bytes.js';
import { FRAME_OVERHEAD_BYTES } from '../../../src/util/checksummed-frame.js';
import { lsn } from '../../../src/util/ids.js';
import { payloadsFrom, recordPayload, segmentImage, UUID } from './wal-test-helpers.js';

const context = { file: 'wal-000001.log' };
const expectation = { databaseUuid: UUID, segmentSequence: 1, formatMajor: FORMAT_MAJOR };

/** A segment image with one batch of `count` records from LSN 1 at offset 512. */
function withBatch(batch: Uint8Array): Uint8Array {
  return segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: batch }] });
}

function setU32(bytes: Uint8Array, offsetBytes: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(offsetBytes, value, true);
}

describe('WAL segment file names', () => {
  it('pads the sequence to six digits and allows more past 999999', () => {
    expect(walSegmentFileName(1)).toBe('wal-000001.log');
    expect(walSegmentFileName(999_999)).toBe('wal-999999.log');
    expect(walSegmentFileName(1_234_567)).toBe('wal-1234567.log');
    expect(parseWalSegmentFileName('wal-000042.log')).toBe(42);
    expect(parseWalSegmentFileName('wal-1234567.log')).toBe(1_234_567);
  });

  it('rejects every name that is not the canonical spelling of a segment', () => {
    for (const name of [
      'wal-42.log',
      'wal-0000042.log',
      'wal-000000.log',
      'wal-000001.spare',
      'wal-00001a.log',
      'x',
    ]) {
      expect(parseWalSegmentFileName(name), name).toBeUndefined();
    }
  });

  it('spare files have their own names, which are never segments', () => {
    expect(walSpareFileName(7)).toBe('wal-000007.spare');
    expect(parseWalSpareFileName('wal-000007.spare')).toBe(7);
    expect(parseWalSegmentFileName(walSpareFileName(7))).toBeUndefined();
    expect(parseWalSpareFileName(walSegmentFileName(7))).toBeUndefined();
  });
});

describe('WAL segment header block', () => {
  const block = encodeWalSegmentHeaderBlock({
    databaseUuid: UUID,
    segmentSequence: 1,
    firstLsn: lsn(1),
    formatMajor: FORMAT_MAJOR,
  });

  it('is one zero-padded block that reads back', () => {
    expect(block.byteLength).toBe(WAL_SEGMENT_HEADER_BYTES);
    const read = readWalSegmentHeader(block, expectation, context);
    expect(read).toMatchObject({ ok: true, header: { segmentSequence: 1, firstLsn: 1n } });
  });

  it('zeros are not a header', () => {
    expect(readWalSegmentHeader(new Uint8Array(512), expectation, context)).toEqual({
      ok: false,
      reason: 'segment header frame: length',
    });
  });

  it('a flipped bit is a checksum mismatch', () => {
    const bad = block.slice();
    bad[10] = (bad[10] ?? 0) ^ 1;
    expect(readWalSegmentHeader(bad, expectation, context)).toEqual({
      ok: false,
      reason: 'segment header frame: crc',
    });
  });

  it("another database's, another sequence's or another format's header is not this segment's", () => {
    const other = { ...expectation, databaseUuid: new Uint8Array(16) };
    expect(readWalSegmentHeader(block, other, context).ok).toBe(false);
    expect(readWalSegmentHeader(block, { ...expectation, segmentSequence: 2 }, context)).toMatchObject({
      ok: false,
      reason: 'segment header says sequence 1, the file name 2',
    });
    expect(readWalSegmentHeader(block, { ...expectation, formatMajor: 2 }, context).ok).toBe(false);
  });
});

describe('WAL batches', () => {
  it('a batch is its header frame, its record frames, and zeros to the next 512 boundary', () => {
    const payloads = payloadsFrom(1n, 3);
    const batch = encodeWalBatch(lsn(1), payloads);
    expect(batch.byteLength % WAL_BLOCK_BYTES).toBe(0);
    const bodyBytes = walBatchBodyBytes(payloads.map((payload) => payload.byteLength));
    expect(bodyBytes).toBe(
      payloads.reduce((sum, payload) => sum + payload.byteLength + FRAME_OVERHEAD_BYTES, 0),
    );
    expect(batch.byteLength).toBeLessThanOrEqual(walBatchBytesMax(bodyBytes));
    const image = withBatch(batch);
    const read = readWalBatch(image, 512, context);
    expect(read).toMatchObject({
      kind: 'valid',
      header: { firstLsn: 1n, recordCount: 3, byteLength: bodyBytes },
    });
    if (read.kind !== 'valid') return;
    const records = decodeWalBatchRecords(image, read, context);
    expect(records.ok && records.records.map((record) => record.lsn)).toEqual([1n, 2n, 3n]);
  });

  it('a batch larger than a block spans whole blocks', () => {
    const payloads = payloadsFrom(1n, 20);
    const batch = encodeWalBatch(lsn(1), payloads);
    expect(batch.byteLength).toBe(alignToBlock(batch.findLastIndex((byte) => byte !== 0) + 1));
    expect(batch.byteLength).toBeGreaterThan(WAL_BLOCK_BYTES);
  });

  it('a length of 0, and the end of the file, read as zeros', () => {
    const image = withBatch(new Uint8Array(0));
    expect(readWalBatch(image, 512, context)).toEqual({ kind: 'zeros' });
    expect(readWalBatch(image, image.byteLength, context)).toEqual({ kind: 'zeros' });
  });

  it('a batch cut inside its header frame is truncated', () => {
    const batch = encodeWalBatch(lsn(1), payloadsFrom(1n, 1));
    const image = withBatch(batch).subarray(0, 512 + 20);
    expect(readWalBatch(image, 512, context)).toMatchObject({
      kind: 'invalid',
      reason: 'batch header frame: truncated',
    });
  });

  it('a header length above the bound is a bad length', () => {
    const image = withBatch(encodeWalBatch(lsn(1), payloadsFrom(1n, 1)));
    setU32(image, 512, WAL_BATCH_HEADER_PAYLOAD_BYTES_MAX + 1);
    expect(readWalBatch(image, 512, context)).toMatchObject({
      kind: 'invalid',
      reason: 'batch header frame: length',
    });
  });

  it('a flipped bit in the header frame is a header checksum mismatch', () => {
    const image = withBatch(encodeWalBatch(lsn(1), payloadsFrom(1n, 1)));
    image[512 + 12] = (image[512 + 12] ?? 0) ^ 4;
    expect(readWalBatch(image, 512, context)).toMatchObject({
      kind: 'invalid',
      reason: 'batch header frame: crc',
    });
  });

  it('a flipped bit in a record is a body checksum mismatch, with the extent still known', () => {
    const batch = encodeWalBatch(lsn(1), payloadsFrom(1n, 2));
    const image = withBatch(batch);
    const last = 512 + batch.findLastIndex((byte) => byte !== 0);
    image[last] = (image[last] ?? 0) ^ 1;
    expect(readWalBatch(image, 512, context)).toEqual({
      kind: 'invalid',
      reason: 'batch body crc mismatch',
      extentBytes: batch.byteLength,
    });
  });

  it('a body cut short by the end of the file is truncated', () => {
    const batch = encodeWalBatch(lsn(1), payloadsFrom(1n, 2));
    const image = withBatch(batch).subarray(0, 512 + 100);
    expect(readWalBatch(image, 512, context)).toMatchObject({
      kind: 'invalid',
      reason: 'batch body truncated',
    });
  });

  it('a record that is not a Record, though its checksums hold, fails to decode', () => {
    const garbage = new Uint8Array(40).fill(7);
    const image = withBatch(encodeWalBatch(lsn(1), [garbage]));
    const read = readWalBatch(image, 512, context);
    expect(read.kind).toBe('valid');
    if (read.kind !== 'valid') return;
    const records = decodeWalBatchRecords(image, read, context);
    expect(records.ok).toBe(false);
    expect(!records.ok && records.reason).toMatch(/^record 0: /);
  });

  it('a record whose LSN breaks the sequence is refused', () => {
    const image = withBatch(encodeWalBatch(lsn(1), [recordPayload(1n), recordPayload(3n)]));
    const read = readWalBatch(image, 512, context);
    if (read.kind !== 'valid') throw new Error('expected a valid frame');
    expect(decodeWalBatchRecords(image, read, context)).toEqual({
      ok: false,
      reason: 'record 1 has LSN 3, not 2',
    });
  });

  it('the look-ahead finds a later batch at or above an LSN, and ignores lower ones', () => {
    const image = segmentImage({
      sequence: 1,
      firstLsn: 1n,
      batches: [{ bytes: encodeWalBatch(lsn(9), payloadsFrom(9n, 1)), offsetBytes: 1536 }],
    });
    expect(findWalBatchFrom(image, { fromOffsetBytes: 512, lsnMin: lsn(5), context })?.offsetBytes).toBe(
      1536,
    );
    expect(findWalBatchFrom(image, { fromOffsetBytes: 512, lsnMin: lsn(10), context })).toBeUndefined();
    expect(findWalBatchFrom(image, { fromOffsetBytes: 2048, lsnMin: lsn(5), context })).toBeUndefined();
  });

  it('the worked example of docs/format/wal.md has the bytes the document gives', () => {
    const image = withBatch(encodeWalBatch(lsn(1), payloadsFrom(1n, 2)));
    expect(toHex(image.subarray(0, 12))).toBe('48000000180000004a42574c');
    expect(toHex(image.subarray(76, 80))).toBe('0127ceda');
    expect(image.subarray(80, 512).every((byte) => byte === 0)).toBe(true);
    expect(toHex(image.subarray(512, 516))).toBe('30000000');
    const read = readWalBatch(image, 512, context);
    expect(read).toEqual({
      kind: 'valid',
      header: { firstLsn: 1n, recordCount: 2, byteLength: 288, crc32c: 0x48495e3a },
      bodyOffsetBytes: 568,
      extentBytes: 512,
    });
    expect(toHex(image.subarray(568, 572))).toBe('88000000');
    expect(image.findLastIndex((byte) => byte !== 0) + 1).toBe(856);
  });
});
