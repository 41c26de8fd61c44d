// Proves WalWriter: batches round-trip through recovery across rollovers and reopens; ENOSPC is retryable; a failed fdatasync fails it for good.
import { describe, expect, it } from 'vitest';
import { IoError, isIoError } from '../../../src/io/file-system.js';
import type { SimFileSystem } from '../../../src/io/sim-file-system.js';
import { decodeWalRecord } from '../../../src/storage/wal/wal-record.js';
import { WAL_SEGMENT_HEADER_BYTES } from '../../../src/storage/wal/wal-segment-format.js';
import type { WalWriter } from '../../../src/storage/wal/wal-writer.js';
import { lsn } from '../../../src/util/ids.js';
import { SeededRandom, testSeed } from '../../../src/util/random.js';
import {
  DIR,
  describeRecord,
  newSim,
  openWriter,
  payloadsFrom,
  randomPayloads,
  recover,
} from './wal-test-helpers.js';

const SEGMENT_BYTES = 4096;

function seeded(label: string): SeededRandom {
  const seed = testSeed();
  console.log(`${label} seed=${seed}`);
  return new SeededRandom(seed);
}

function lineOf(payload: Uint8Array): string {
  return describeRecord(decodeWalRecord(payload, { file: 'test' }));
}

/** Writes `batchCount` random batches from the writer's next LSN; returns the lines of their records. */
async function writeRandomBatches(
  writer: WalWriter,
  rng: SeededRandom,
  batchCount: number,
): Promise<string[]> {
  const lines: string[] = [];
  for (let i = 0; i < batchCount; i++) {
    const firstLsn = writer.nextLsn;
    const payloads = randomPayloads(rng, { firstLsn, count: rng.range(1, 6), valueBytesMax: 300 });
    await writer.writeBatch(firstLsn, payloads);
    lines.push(...payloads.map(lineOf));
  }
  return lines;
}

function names(fs: SimFileSystem): Promise<string[]> {
  return fs.list(DIR);
}

describe('WalWriter', () => {
  it('random batches across many rollovers recover exactly, in LSN order, with the right end', async () => {
    const rng = seeded('round trip');
    const fs = await newSim(rng.nextU32());
    const writer = await openWriter(fs, { end: undefined, segmentBytes: SEGMENT_BYTES });
    const lines = await writeRandomBatches(writer, rng, 60);
    expect(writer.segments().length).toBeGreaterThan(4);
    expect(writer.durableLsn).toBe(BigInt(lines.length));
    const { result, lines: replayed } = await recover(fs.powerLoss().fs);
    expect(replayed).toEqual(lines);
    expect(result.end).toEqual(writer.end);
    expect(result.tornTail).toBeUndefined();
    expect(result.segments.map((segment) => [segment.sequence, segment.firstLsn])).toEqual(
      writer.segments().map((segment) => [segment.sequence, segment.firstLsn]),
    );
  });

  it('a writer reopened at the recovered end keeps writing, and recovery sees both runs', async () => {
    const rng = seeded('reopen');
    let fs = await newSim(rng.nextU32());
    const first = await openWriter(fs, { end: undefined, segmentBytes: SEGMENT_BYTES });
    const lines = await writeRandomBatches(first, rng, 20);
    fs = fs.processCrash();
    const { result } = await recover(fs);
    const second = await openWriter(fs, { end: result.end, segmentBytes: SEGMENT_BYTES });
    expect(second.nextLsn).toBe(BigInt(lines.length + 1));
    expect(second.durableLsn).toBe(BigInt(lines.length));
    lines.push(...(await writeRandomBatches(second, rng, 20)));
    await second.close();
    const again = await recover(fs.powerLoss().fs);
    expect(again.lines).toEqual(lines);
    expect(again.result.end).toEqual(second.end);
  });

  it('a new log is segment 1 starting at LSN 1, preallocated, and its name is durable', async () => {
    const fs = await newSim(1);
    const writer = await openWriter(fs, { end: undefined, segmentBytes: SEGMENT_BYTES });
    expect(writer.end).toEqual({ segmentSequence: 1, offsetBytes: WAL_SEGMENT_HEADER_BYTES, nextLsn: 1n });
    expect(writer.durableLsn).toBe(0n);
    const crashed = fs.powerLoss().fs;
    expect(await names(crashed)).toEqual(['wal-000001.log']);
    expect(crashed.snapshot('/db/wal-000001.log')?.byteLength).toBe(SEGMENT_BYTES);
  });

  it('a batch larger than a segment extends an empty segment, and the next batch rolls over', async () => {
    const fs = await newSim(2);
    const writer = await openWriter(fs, { end: undefined, segmentBytes: 2048 });
    const rng = new SeededRandom(2);
    await writer.writeBatch(lsn(1), payloadsFrom(1n, 1));
    const big = randomPayloads(rng, { firstLsn: 2n, count: 8, valueBytesMax: 600 });
    await writer.writeBatch(lsn(2), big);
    expect(writer.currentSegment).toBe(2);
    expect(writer.segments()[1]?.bytes).toBeGreaterThan(2048);
    await writer.writeBatch(lsn(10), payloadsFrom(10n, 1));
    expect(writer.currentSegment).toBe(3);
    const { lines } = await recover(fs);
    expect(lines).toEqual([...payloadsFrom(1n, 1), ...big, ...payloadsFrom(10n, 1)].map(lineOf));
  });

  it('refuses a batch that does not start at the next LSN', async () => {
    const writer = await openWriter(await newSim(3), { end: undefined, segmentBytes: SEGMENT_BYTES });
    await expect(writer.writeBatch(lsn(2), payloadsFrom(2n, 1))).rejects.toThrow(/starts at LSN 2/);
  });
});

describe('WalWriter on a full disk', () => {
  it('ENOSPC from the batch write is retryable, writes nothing, and a retry lands at the same place', async () => {
    const fs = await newSim(4, true);
    const writer = await openWriter(fs, { end: undefined, segmentBytes: SEGMENT_BYTES });
    await writer.writeBatch(lsn(1), payloadsFrom(1n, 2));
    const before = writer.end;
    fs.failCall({ kind: 'write', errno: 'ENOSPC', path: /wal-\d+\.log$/ });
    const error = await writer.writeBatch(lsn(3), payloadsFrom(3n, 2)).catch((caught: unknown) => caught);
    expect(isIoError(error, 'ENOSPC')).toBe(true);
    expect(error).toMatchObject({ code: 'DISK_FULL', retryable: true });
    expect(writer.end).toEqual(before);
    expect(writer.failedWith).toBeUndefined();
    expect((await recover(fs, { repair: false })).lines).toEqual(payloadsFrom(1n, 2).map(lineOf));
    await writer.writeBatch(lsn(3), payloadsFrom(3n, 3));
    const write = fs
      .callTrace()
      .filter((call) => call.kind === 'write')
      .at(-1);
    expect(write?.offsetBytes).toBe(before.offsetBytes);
    const { result, lines } = await recover(fs.powerLoss().fs);
    expect(lines).toEqual(payloadsFrom(1n, 5).map(lineOf));
    expect(result.tornTail).toBeUndefined();
  });

  it('ENOSPC while preallocating a new segment is retryable, and writing resumes once space returns', async () => {
    const fs = await newSim(5);
    const writer = await openWriter(fs, { end: undefined, segmentBytes: 2048 });
    fs.setFreeSpace(fs.usedBytes()); // the preallocated segment 1 still takes batches; a new one cannot
    let next = 1n;
    let error: unknown;
    for (let i = 0; i < 20 && error === undefined; i++) {
      await writer.writeBatch(lsn(next), payloadsFrom(next, 4)).then(
        () => {
          next += 4n;
        },
        (caught: unknown) => {
          error = caught;
        },
      );
    }
    expect(next).toBeGreaterThan(1n);
    expect(error).toBeInstanceOf(IoError);
    expect(error).toMatchObject({ errno: 'ENOSPC', code: 'DISK_FULL', retryable: true });
    await expect(writer.writeBatch(lsn(next), payloadsFrom(next, 4))).rejects.toMatchObject({
      errno: 'ENOSPC',
    });
    expect(writer.currentSegment).toBe(1);
    fs.setFreeSpace(undefined);
    await writer.writeBatch(lsn(next), payloadsFrom(next, 4));
    next += 4n;
    expect(writer.currentSegment).toBe(2);
    const crashed = fs.powerLoss().fs;
    const { result, lines } = await recover(crashed);
    expect(lines).toEqual(payloadsFrom(1n, Number(next - 1n)).map(lineOf));
    expect(result.tornTail).toBeUndefined();
    expect(await names(crashed)).toEqual(['wal-000001.log', 'wal-000002.log']);
  });
});

describe('WalWriter after a failed fdatasync', () => {
  it('rejects the batch, then rejects every call with the same error and issues no more I/O', async () => {
    const fs = await newSim(6, true);
    const writer = await openWriter(fs, { end: undefined, segmentBytes: SEGMENT_BYTES });
    await writer.writeBatch(lsn(1), payloadsFrom(1n, 2));
    fs.failCall({ kind: 'datasync', errno: 'EIO' });
    const error = await writer.writeBatch(lsn(3), payloadsFrom(3n, 2)).catch((caught: unknown) => caught);
    expect(isIoError(error, 'EIO')).toBe(true);
    expect(writer.failedWith).toBe(error);
    expect(writer.durableLsn).toBe(2n);
    const callsAfterFailure = fs.callCount();
    await expect(writer.writeBatch(lsn(3), payloadsFrom(3n, 2))).rejects.toBe(error);
    await expect(writer.releaseSegmentsBelow(lsn(1))).rejects.toBe(error);
    expect(fs.callCount()).toBe(callsAfterFailure);
    expect(fs.callTrace().filter((call) => call.kind === 'datasync')).toHaveLength(2); // the segment header's fsync is a 'sync'
  });

  it('recovery shows the failed batch whole or not at all, and every acknowledged batch', async () => {
    const rng = seeded('fsync EIO');
    const outcomes = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const seed = rng.nextU32();
      const fs = await newSim(seed);
      const writer = await openWriter(fs, { end: undefined, segmentBytes: 8192 });
      await writer.writeBatch(lsn(1), payloadsFrom(1n, 3));
      fs.failCall({ kind: 'datasync', errno: 'EIO' });
      const failed = randomPayloads(rng, { firstLsn: 4n, count: 12, valueBytesMax: 300 });
      await expect(writer.writeBatch(lsn(4), failed)).rejects.toThrow(/EIO/);
      const { lines, result } = await recover(fs.powerLoss().fs);
      const acknowledged = payloadsFrom(1n, 3).map(lineOf);
      const whole = [...acknowledged, ...failed.map(lineOf)];
      expect([acknowledged, whole], `seed=${seed}`).toContainEqual(lines);
      outcomes.add(
        lines.length === whole.length ? 'durable' : result.tornTail === undefined ? 'absent' : 'torn',
      );
    }
    expect(outcomes.has('durable') && (outcomes.has('absent') || outcomes.has('torn'))).toBe(true);
  });
});
