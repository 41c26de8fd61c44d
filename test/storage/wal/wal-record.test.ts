// Proves WAL records, batch and segment headers round-trip, match their golden bytes, and reject bad payloads as corruption.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeWalBatchHeader,
  decodeWalRecord,
  decodeWalSegmentHeader,
  encodeWalBatchHeader,
  encodeWalRecord,
  encodeWalSegmentHeader,
  type WalMutation,
  type WalRecord,
} from '../../../src/storage/wal/wal-record.js';
import { fromHex, toHex, utf8 } from '../../../src/util/bytes.js';
import { encodeFrame, readFrame } from '../../../src/util/checksummed-frame.js';
import { isJubilantError } from '../../../src/util/errors.js';
import { lsn } from '../../../src/util/ids.js';
import { testSeed } from '../../../src/util/random.js';
import { expectGolden, readGolden } from '../../helpers/golden.js';

const context = { file: 'wal-000001.log', offsetBytes: 128 };

const GOLDEN_RECORD: WalRecord = {
  lsn: lsn(9_000_000_001n),
  body: {
    kind: 'commit',
    committedAtMs: 1_795_000_000_777,
    mutations: [
      { kind: 'upsert', key: utf8('user:1'), valueType: 'string', inlineValue: utf8('Ada'), expiresAtMs: 0 },
      {
        kind: 'upsert',
        key: utf8('counter'),
        valueType: 'int64',
        inlineValue: fromHex('2a00000000000000'),
        expiresAtMs: 1_795_000_060_000,
      },
      {
        kind: 'upsert',
        key: utf8('blob'),
        valueType: 'bytes',
        vlogPointer: { segment: 3, offsetBytes: 65_536, lengthBytes: 2_000 },
        expiresAtMs: 0,
      },
      { kind: 'tombstone', key: utf8('user:2') },
    ],
  },
};

const mutationArbitrary: fc.Arbitrary<WalMutation> = fc.oneof(
  fc.record({
    kind: fc.constant('tombstone' as const),
    key: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant('upsert' as const),
    key: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    valueType: fc.constantFrom('bytes' as const, 'string' as const),
    inlineValue: fc.uint8Array({ maxLength: 200 }),
    expiresAtMs: fc.nat(),
  }),
  fc.record({
    kind: fc.constant('upsert' as const),
    key: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    valueType: fc.constantFrom('bytes' as const, 'string' as const, 'int64' as const),
    vlogPointer: fc.record({ segment: fc.nat(), offsetBytes: fc.nat(), lengthBytes: fc.nat() }),
    expiresAtMs: fc.nat(),
  }),
);

const recordArbitrary: fc.Arbitrary<WalRecord> = fc.record({
  lsn: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((value) => lsn(value)),
  body: fc.oneof(
    fc.record({
      kind: fc.constant('commit' as const),
      mutations: fc.array(mutationArbitrary, { maxLength: 8 }),
      committedAtMs: fc.nat(),
    }),
    fc.record({
      kind: fc.constant('checkpoint' as const),
      checkpointLsn: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((value) => lsn(value)),
      superblockGeneration: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    }),
  ),
});

describe('WAL record format', () => {
  it('random records round-trip exactly', () => {
    const seed = testSeed();
    console.log(`wal-record round-trip seed=${seed}`);
    fc.assert(
      fc.property(recordArbitrary, (record) => {
        expect(decodeWalRecord(encodeWalRecord(record), context)).toEqual(record);
      }),
      { seed, numRuns: 300 },
    );
  });

  it('a framed commit record encodes to the golden bytes', () => {
    expectGolden('wal-record', encodeFrame(encodeWalRecord(GOLDEN_RECORD)));
  });

  it('the golden record decodes to every expected field', () => {
    const frame = readFrame(readGolden('wal-record'), 0, 1 << 20);
    if (!frame.ok) throw new Error(`golden WAL frame is ${frame.problem}`);
    const record = decodeWalRecord(frame.payload, context);
    expect(record.lsn).toBe(9_000_000_001n);
    if (record.body.kind !== 'commit') throw new Error('expected a commit');
    expect(record.body.committedAtMs).toBe(1_795_000_000_777);
    const [first, second, third, fourth] = record.body.mutations;
    expect(first).toEqual({
      kind: 'upsert',
      key: utf8('user:1'),
      valueType: 'string',
      inlineValue: utf8('Ada'),
      expiresAtMs: 0,
    });
    expect(second).toMatchObject({
      kind: 'upsert',
      key: utf8('counter'),
      valueType: 'int64',
      expiresAtMs: 1_795_000_060_000,
    });
    expect(second?.kind === 'upsert' && toHex(second.inlineValue ?? new Uint8Array())).toBe(
      '2a00000000000000',
    );
    expect(third).toEqual({
      kind: 'upsert',
      key: utf8('blob'),
      valueType: 'bytes',
      vlogPointer: { segment: 3, offsetBytes: 65_536, lengthBytes: 2_000 },
      expiresAtMs: 0,
    });
    expect(fourth).toEqual({ kind: 'tombstone', key: utf8('user:2') });
    expect(record.body.mutations).toHaveLength(4);
  });

  it('a checkpoint marker round-trips', () => {
    const marker: WalRecord = {
      lsn: lsn(77),
      body: { kind: 'checkpoint', checkpointLsn: lsn(70), superblockGeneration: 12n },
    };
    expect(decodeWalRecord(encodeWalRecord(marker), context)).toEqual(marker);
  });

  it('batch and segment headers round-trip', () => {
    const batch = { firstLsn: lsn(100), recordCount: 17, byteLength: 4096, crc32c: 0xdeadbeef };
    expect(decodeWalBatchHeader(encodeWalBatchHeader(batch), context)).toEqual(batch);
    const segment = {
      databaseUuid: new Uint8Array(16).fill(3),
      segmentSequence: 9,
      firstLsn: lsn(5000),
      formatMajor: 1,
    };
    expect(decodeWalSegmentHeader(encodeWalSegmentHeader(segment), context)).toEqual(segment);
  });

  it('an int64 value that is not 8 bytes is corruption naming the file', () => {
    const record: WalRecord = {
      lsn: lsn(1),
      body: {
        kind: 'commit',
        committedAtMs: 0,
        mutations: [
          {
            kind: 'upsert',
            key: utf8('k'),
            valueType: 'int64',
            inlineValue: new Uint8Array(3),
            expiresAtMs: 0,
          },
        ],
      },
    };
    expect(() => decodeWalRecord(encodeWalRecord(record), context)).toThrow(
      /int64 value of 3 bytes.*wal-000001.log @ 128/,
    );
  });

  it('a segment header is not accepted as a record', () => {
    const header = encodeWalSegmentHeader({
      databaseUuid: new Uint8Array(16),
      segmentSequence: 1,
      firstLsn: lsn(1),
      formatMajor: 1,
    });
    expect(() => decodeWalRecord(header, context)).toThrow(expect.objectContaining({ code: 'CORRUPTION' }));
  });

  it('random bytes and mutated records decode or fail only with CORRUPTION', () => {
    const seed = testSeed();
    console.log(`wal-record fuzz seed=${seed}`);
    const valid = encodeWalRecord(GOLDEN_RECORD);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: valid.byteLength - 1 }), fc.nat({ max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (edits) => {
          const mutated = valid.slice();
          for (const [offset, value] of edits) mutated[offset] = value;
          try {
            decodeWalRecord(mutated, context);
          } catch (error) {
            expect(isJubilantError(error, 'CORRUPTION')).toBe(true);
          }
        },
      ),
      { seed, numRuns: 2000 },
    );
  });
});
