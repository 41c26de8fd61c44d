// Proves releaseSegmentsBelow removes exactly the segments below an LSN (recycling up to two), and that recycled segments never replay their past.
import { describe, expect, it } from 'vitest';
import type { SimFileSystem } from '../../../src/io/sim-file-system.js';
import { decodeWalRecord } from '../../../src/storage/wal/wal-record.js';
import type { WalWriter } from '../../../src/storage/wal/wal-writer.js';
import { lsn } from '../../../src/util/ids.js';
import { DIR, describeRecord, newSim, openWriter, payloadsFrom, recover } from './wal-test-helpers.js';

const SEGMENT_BYTES = 2048;

/** Batches of 3 records, each exactly one 512-byte block, so a recycled segment's old batch boundaries line up. */
async function writeUntilSegment(writer: WalWriter, sequence: number): Promise<void> {
  while (writer.currentSegment < sequence) {
    const batch = payloadsFrom(writer.nextLsn, 3);
    const before = writer.end;
    await writer.writeBatch(writer.nextLsn, batch);
    if (writer.end.segmentSequence === before.segmentSequence) {
      expect(writer.end.offsetBytes - before.offsetBytes).toBe(512);
    }
  }
}

function linesFrom(fromLsn: bigint, toLsn: bigint): string[] {
  return payloadsFrom(fromLsn, Number(toLsn - fromLsn + 1n)).map((payload) =>
    describeRecord(decodeWalRecord(payload, { file: 'test' })),
  );
}

async function sixSegments(seed: number): Promise<{ fs: SimFileSystem; writer: WalWriter }> {
  const fs = await newSim(seed, true);
  const writer = await openWriter(fs, { end: undefined, segmentBytes: SEGMENT_BYTES });
  await writeUntilSegment(writer, 6);
  return { fs, writer };
}

describe('WalWriter.releaseSegmentsBelow', () => {
  it('removes exactly the segments below the LSN: two become spares, the rest are unlinked, each followed by a directory fsync', async () => {
    const { fs, writer } = await sixSegments(1);
    const cut = writer.segments()[3]?.firstLsn;
    if (cut === undefined) throw new Error('no segment 4');
    const callsBefore = fs.callTrace().length;
    await writer.releaseSegmentsBelow(cut);
    const calls = fs.callTrace().slice(callsBefore);
    expect(await fs.list(DIR)).toEqual([
      'wal-000001.spare',
      'wal-000002.spare',
      'wal-000004.log',
      'wal-000005.log',
      'wal-000006.log',
    ]);
    expect(
      calls.map((call) => `${call.kind} ${call.path}${call.to === undefined ? '' : ` -> ${call.to}`}`),
    ).toEqual([
      'rename /db/wal-000001.log -> /db/wal-000001.spare',
      'syncDirectory /db',
      'rename /db/wal-000002.log -> /db/wal-000002.spare',
      'syncDirectory /db',
      'unlink /db/wal-000003.log',
      'syncDirectory /db',
    ]);
    expect(writer.segments().map((segment) => segment.sequence)).toEqual([4, 5, 6]);
    expect(writer.spares()).toEqual(['wal-000001.spare', 'wal-000002.spare']);
  });

  it('keeps a segment that still holds the LSN, and always keeps the current one', async () => {
    const { writer } = await sixSegments(2);
    const fourth = writer.segments()[3]?.firstLsn;
    if (fourth === undefined) throw new Error('no segment 4');
    await writer.releaseSegmentsBelow(lsn(fourth - 1n));
    expect(writer.segments().map((segment) => segment.sequence)).toEqual([3, 4, 5, 6]);
    await writer.releaseSegmentsBelow(writer.nextLsn);
    expect(writer.segments().map((segment) => segment.sequence)).toEqual([6]);
  });

  it('recovery after a release works from any checkpoint at or above the cut, and refuses below it', async () => {
    const { fs, writer } = await sixSegments(3);
    const cut = writer.segments()[3]?.firstLsn;
    if (cut === undefined) throw new Error('no segment 4');
    await writer.releaseSegmentsBelow(cut);
    const last = writer.nextLsn - 1n;
    const crashed = fs.powerLoss().fs;
    for (const checkpointLsn of [cut - 1n, cut, cut + 5n, last]) {
      const { lines, result } = await recover(crashed, { checkpointLsn });
      expect(lines, `checkpoint ${checkpointLsn}`).toEqual(linesFrom(checkpointLsn + 1n, last));
      expect(result.end).toEqual(writer.end);
    }
    await expect(recover(crashed, { checkpointLsn: cut - 2n })).rejects.toThrow(/missing/);
  });

  it('a rollover reuses a spare by renaming it, and the batches of its previous life are never replayed', async () => {
    const { fs, writer } = await sixSegments(4);
    const checkpointLsn = writer.nextLsn - 1n;
    await writer.releaseSegmentsBelow(writer.nextLsn);
    const callsBefore = fs.callTrace().length;
    await writeUntilSegment(writer, 7);
    const calls = fs.callTrace().slice(callsBefore);
    expect(calls.some((call) => call.kind === 'rename' && call.to === '/db/wal-000007.log')).toBe(true);
    expect(calls.find((call) => call.kind === 'rename')?.path).toBe('/db/wal-000001.spare');
    expect(calls.filter((call) => call.kind === 'open' && call.path.endsWith('.spare'))).toHaveLength(1);
    expect(writer.spares()).toEqual(['wal-000002.spare']);
    const { lines, result } = await recover(fs.powerLoss().fs, { checkpointLsn });
    expect(lines).toEqual(linesFrom(checkpointLsn + 1n, writer.nextLsn - 1n));
    expect(result.tornTail).toBeUndefined();
    // Segment 7 holds one new batch at 512; its old life's second batch at 1024 ends the log.
    expect(result.end).toEqual({ segmentSequence: 7, offsetBytes: 1024, nextLsn: writer.nextLsn });
    expect(result.decisions.map((row) => `${row.found}|${row.after}|${row.decision}`)).toContain(
      'valid <|none|end of log',
    );
  });

  it('a reopened writer finds the spares left in the directory and recycles them', async () => {
    const { fs, writer } = await sixSegments(5);
    await writer.releaseSegmentsBelow(writer.nextLsn);
    await writer.close();
    const crashed = fs.powerLoss().fs;
    const { result } = await recover(crashed, { checkpointLsn: writer.nextLsn - 1n });
    const reopened = await openWriter(crashed, { end: result.end, segmentBytes: SEGMENT_BYTES });
    expect(reopened.spares()).toEqual(['wal-000001.spare', 'wal-000002.spare']);
    await writeUntilSegment(reopened, 8);
    expect(reopened.spares()).toEqual([]);
    expect(await crashed.list(DIR)).toEqual(['wal-000006.log', 'wal-000007.log', 'wal-000008.log']);
  });

  it('with no spares allowed every released segment is unlinked', async () => {
    const fs = await newSim(6);
    const writer = await openWriter(fs, { end: undefined, segmentBytes: SEGMENT_BYTES, spareSegmentsMax: 0 });
    await writeUntilSegment(writer, 4);
    await writer.releaseSegmentsBelow(writer.nextLsn);
    expect(await fs.list(DIR)).toEqual(['wal-000004.log']);
  });
});
