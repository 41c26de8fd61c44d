// Proves value-log records and segment headers round-trip, match their golden bytes, and reject bad payloads as corruption.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeValueLogRecord,
  decodeValueLogSegmentHeader,
  encodeValueLogRecord,
  encodeValueLogSegmentHeader,
  type ValueLogRecord,
} from '../../../src/storage/vlog/vlog-record.js';
import { utf8 } from '../../../src/util/bytes.js';
import { encodeFrame, readFrame } from '../../../src/util/checksummed-frame.js';
import { isJubilantError } from '../../../src/util/errors.js';
import { lsn } from '../../../src/util/ids.js';
import { testSeed } from '../../../src/util/random.js';
import { expectGolden, readGolden } from '../../helpers/golden.js';

const context = { file: 'vlog-000003.seg', offsetBytes: 65_536 };

const GOLDEN_RECORD: ValueLogRecord = {
  key: utf8('images/cat.png'),
  valueType: 'bytes',
  value: new Uint8Array(1500).map((_, i) => (i * 7) & 0xff),
  lsn: lsn(4242),
};

describe('value-log record format', () => {
  it('random records round-trip exactly', () => {
    const seed = testSeed();
    console.log(`vlog-record round-trip seed=${seed}`);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.constantFrom('bytes' as const, 'string' as const),
        fc.uint8Array({ maxLength: 5000 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        (key, valueType, value, recordLsn) => {
          const record = { key, valueType, value, lsn: lsn(recordLsn) };
          expect(decodeValueLogRecord(encodeValueLogRecord(record), context)).toEqual(record);
        },
      ),
      { seed, numRuns: 200 },
    );
  });

  it('a framed record encodes to the golden bytes', () => {
    expectGolden('vlog-record', encodeFrame(encodeValueLogRecord(GOLDEN_RECORD)));
  });

  it('the golden record decodes to every expected field', () => {
    const frame = readFrame(readGolden('vlog-record'), 0, 1 << 20);
    if (!frame.ok) throw new Error(`golden value-log frame is ${frame.problem}`);
    const record = decodeValueLogRecord(frame.payload, context);
    expect(record.key).toEqual(utf8('images/cat.png'));
    expect(record.valueType).toBe('bytes');
    expect(record.value).toEqual(GOLDEN_RECORD.value);
    expect(record.lsn).toBe(4242n);
  });

  it('a 64 MiB value round-trips', () => {
    const value = new Uint8Array(64 * 1024 * 1024);
    value[0] = 1;
    value[value.byteLength - 1] = 2;
    const decoded = decodeValueLogRecord(
      encodeValueLogRecord({ key: utf8('big'), valueType: 'bytes', value, lsn: lsn(1) }),
      context,
    );
    expect(decoded.value.byteLength).toBe(value.byteLength);
    expect(decoded.value[value.byteLength - 1]).toBe(2);
  });

  it('segment headers round-trip', () => {
    const header = { databaseUuid: new Uint8Array(16).fill(9), segmentSequence: 3, firstLsn: lsn(1234) };
    expect(decodeValueLogSegmentHeader(encodeValueLogSegmentHeader(header), context)).toEqual(header);
  });

  it('an int64 value that is not 8 bytes is corruption', () => {
    const payload = encodeValueLogRecord({
      key: utf8('n'),
      valueType: 'int64',
      value: new Uint8Array(4),
      lsn: lsn(1),
    });
    expect(() => decodeValueLogRecord(payload, context)).toThrow(/int64 value of 4 bytes/);
  });

  it('mutated records decode or fail only with CORRUPTION', () => {
    const seed = testSeed();
    console.log(`vlog-record fuzz seed=${seed}`);
    const valid = encodeValueLogRecord({ ...GOLDEN_RECORD, value: GOLDEN_RECORD.value.subarray(0, 40) });
    fc.assert(
      fc.property(fc.nat({ max: valid.byteLength - 1 }), fc.nat({ max: 255 }), (offset, value) => {
        const mutated = valid.slice();
        mutated[offset] = value;
        try {
          decodeValueLogRecord(mutated, context);
        } catch (error) {
          expect(isJubilantError(error, 'CORRUPTION')).toBe(true);
        }
      }),
      { seed, numRuns: 2000 },
    );
  });
});
