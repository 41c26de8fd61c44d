// The value-log segment file layout: the header block matches its golden bytes and proves it belongs
// where it lies (database, sequence); record frames read back whole or report why not; file names
// have one canonical spelling.
import { describe, expect, it } from 'vitest';
import {
  encodeVlogRecordFrame,
  encodeVlogSegmentHeaderBlock,
  parseVlogSegmentFileName,
  readVlogRecordFrame,
  readVlogSegmentHeader,
  VLOG_SEGMENT_HEADER_BYTES,
  vlogSegmentFileName,
} from '../../../src/storage/vlog/vlog-segment-format.js';
import { fromHex, utf8 } from '../../../src/util/bytes.js';
import { lsn } from '../../../src/util/ids.js';
import { expectGolden, readGolden } from '../../helpers/golden.js';

const UUID = fromHex('00112233445566778899aabbccddeeff');
const HEADER = { databaseUuid: UUID, segmentSequence: 7, firstLsn: lsn(1234) };
const context = { file: 'vlog-000007.seg' };

describe('value-log segment format', () => {
  it('the header block encodes to the golden bytes: one frame, zero-padded to 512', () => {
    const block = encodeVlogSegmentHeaderBlock(HEADER);
    expect(block.byteLength).toBe(VLOG_SEGMENT_HEADER_BYTES);
    expectGolden('vlog-segment-header', block);
  });

  it('the golden header reads back, and only for its own database and sequence', () => {
    const block = readGolden('vlog-segment-header');
    const read = readVlogSegmentHeader(block, { databaseUuid: UUID, segmentSequence: 7 }, context);
    expect(read).toEqual({ ok: true, header: HEADER });
    const otherDatabase = readVlogSegmentHeader(
      block,
      { databaseUuid: fromHex('ff'.repeat(16)), segmentSequence: 7 },
      context,
    );
    expect(otherDatabase.ok).toBe(false);
    const otherSequence = readVlogSegmentHeader(block, { databaseUuid: UUID, segmentSequence: 8 }, context);
    expect(otherSequence).toEqual({ ok: false, reason: expect.stringContaining('sequence 7') });
  });

  it('a header torn at any byte or with any single bit flipped does not read', () => {
    const block = readGolden('vlog-segment-header');
    const expected = { databaseUuid: UUID, segmentSequence: 7 };
    const frameEnd = block.findLastIndex((byte) => byte !== 0) + 1;
    for (let cut = 0; cut < frameEnd; cut++) {
      const torn = new Uint8Array(VLOG_SEGMENT_HEADER_BYTES);
      torn.set(block.subarray(0, cut));
      expect(readVlogSegmentHeader(torn, expected, context).ok, `torn at ${cut}`).toBe(false);
    }
    for (let bit = 0; bit < frameEnd * 8; bit++) {
      const flipped = block.slice();
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(readVlogSegmentHeader(flipped, expected, context).ok, `bit ${bit}`).toBe(false);
    }
  });

  it('a record frame reads back whole; a truncated or damaged one says why', () => {
    const record = {
      key: utf8('k'),
      valueType: 'bytes' as const,
      value: new Uint8Array(2000).fill(9),
      lsn: lsn(5),
    };
    const frame = encodeVlogRecordFrame(record);
    const read = readVlogRecordFrame(frame, 0, context);
    expect(read).toEqual({ ok: true, record, frameBytes: frame.byteLength });
    expect(readVlogRecordFrame(frame.subarray(0, frame.byteLength - 1), 0, context)).toEqual({
      ok: false,
      reason: 'record frame: truncated',
    });
    const damaged = frame.slice();
    damaged[100] = (damaged[100] as number) ^ 1;
    expect(readVlogRecordFrame(damaged, 0, context)).toEqual({ ok: false, reason: 'record frame: crc' });
  });

  it('segment file names have one canonical spelling', () => {
    expect(vlogSegmentFileName(1)).toBe('vlog-000001.seg');
    expect(vlogSegmentFileName(1234567)).toBe('vlog-1234567.seg');
    expect(parseVlogSegmentFileName('vlog-000042.seg')).toBe(42);
    for (const name of [
      'vlog-42.seg',
      'vlog-0000042.seg',
      'vlog-000000.seg',
      'wal-000001.log',
      'vlog-000001.seg.tmp',
    ]) {
      expect(parseVlogSegmentFileName(name), name).toBeUndefined();
    }
  });
});
