// Proves WAL recovery tells a torn tail (cut at every byte, repaired, idempotent) from mid-log corruption (refused, never skipped).
import { describe, expect, it } from 'vitest';
import type { SimFileSystem } from '../../../src/io/sim-file-system.js';
import { decodeWalRecord } from '../../../src/storage/wal/wal-record.js';
import { recoverWal, WalCorruptionError } from '../../../src/storage/wal/wal-recovery.js';
import { readWalBatch, type WalEnd } from '../../../src/storage/wal/wal-segment-format.js';
import type { WalWriter } from '../../../src/storage/wal/wal-writer.js';
import { lsn } from '../../../src/util/ids.js';
import { SeededRandom, testSeed } from '../../../src/util/random.js';
import {
  DIR,
  describeRecord,
  newSim,
  openWriter,
  randomPayloads,
  recover,
  segmentPath,
  simWith,
  UUID,
} from './wal-test-helpers.js';

function seeded(label: string): SeededRandom {
  const seed = testSeed();
  console.log(`${label} seed=${seed}`);
  return new SeededRandom(seed);
}

async function writeBatch(
  writer: WalWriter,
  rng: SeededRandom,
  count: number,
  valueBytesMax = 200,
): Promise<string[]> {
  const payloads = randomPayloads(rng, { firstLsn: writer.nextLsn, count, valueBytesMax });
  await writer.writeBatch(writer.nextLsn, payloads);
  return payloads.map((payload) => describeRecord(decodeWalRecord(payload, { file: 'test' })));
}

interface LastBatch {
  /** Segment files (name -> bytes) other than the one holding the last batch. */
  readonly others: Map<string, Uint8Array>;
  readonly name: string;
  /** The segment before and after the last batch was written. */
  readonly before: Uint8Array;
  readonly full: Uint8Array;
  readonly endBefore: WalEnd;
  readonly endAfter: WalEnd;
  readonly linesBefore: string[];
  readonly linesAll: string[];
  readonly checkpointLsn: bigint;
}

async function snapshotAround(
  fs: SimFileSystem,
  writer: WalWriter,
  request: { rng: SeededRandom; lines: string[]; checkpointLsn: bigint; recordCount: number },
): Promise<LastBatch> {
  const name = `wal-${String(writer.currentSegment).padStart(6, '0')}.log`;
  const endBefore = writer.end;
  const before = fs.snapshot(`/db/${name}`) ?? new Uint8Array();
  // Small values keep the batch near 1 KiB: more than one sector, and a bounded number of cuts.
  const last = await writeBatch(writer, request.rng, request.recordCount, 100);
  const others = new Map<string, Uint8Array>();
  for (const segment of writer.segments()) {
    if (segment.sequence !== writer.currentSegment) {
      others.set(
        `wal-${String(segment.sequence).padStart(6, '0')}.log`,
        fs.snapshot(segmentPath(segment.sequence)) ?? new Uint8Array(),
      );
    }
  }
  const full = fs.snapshot(`/db/${name}`) ?? new Uint8Array();
  const linesAll = [...request.lines, ...last];
  return {
    others,
    name,
    before,
    full,
    endBefore,
    endAfter: writer.end,
    linesBefore: request.lines,
    linesAll,
    checkpointLsn: request.checkpointLsn,
  };
}

/** Cuts the last batch at byte `k`: its bytes from there on are the segment's older content again. */
async function recoverCut(case_: LastBatch, k: number, seed: number) {
  const start = case_.endBefore.offsetBytes;
  const extent = case_.endAfter.offsetBytes - start;
  const image = case_.full.slice();
  image.set(case_.before.subarray(start + k, start + extent), start + k);
  const fs = await simWith(seed, new Map([...case_.others, [case_.name, image]]));
  const first = await recover(fs, { checkpointLsn: case_.checkpointLsn });
  const second = await recover(fs, { checkpointLsn: case_.checkpointLsn });
  return { first, second, fs, extent };
}

/** Where the last batch's header and record frames end (the padding after them is not content). */
function contentBytes(case_: LastBatch): number {
  const start = case_.endBefore.offsetBytes;
  const read = readWalBatch(case_.full, start, { file: case_.name });
  if (read.kind !== 'valid') throw new Error('the last batch is not valid');
  return read.bodyOffsetBytes + read.header.byteLength - start;
}

function endText(end: WalEnd | undefined): string {
  return end === undefined ? 'none' : `${end.segmentSequence}@${end.offsetBytes}/${end.nextLsn}`;
}

/** One string per outcome, so a thousand cuts compare cheaply and a failure still shows everything. */
function outcome(lines: readonly string[], end: WalEnd | undefined, torn: boolean | undefined): string {
  return `${lines.join('\n')}\nend ${endText(end)}${torn === undefined ? '' : torn ? ' torn' : ' clean'}`;
}

/**
 * Where a cut at `k` really takes effect: the first content byte at or after `k` that the older content
 * changes. A batch whose last bytes happen to equal what was there before (a CRC ending in 0x00 over
 * zeros) is still whole when cut there.
 */
function effectiveCut(case_: LastBatch, k: number, content: number): number {
  const start = case_.endBefore.offsetBytes;
  for (let offset = k; offset < content; offset++) {
    if (case_.before[start + offset] !== case_.full[start + offset]) return offset;
  }
  return content;
}

async function checkEveryCut(case_: LastBatch, seed: number, zerosBefore: boolean): Promise<void> {
  const content = contentBytes(case_);
  const extent = case_.endAfter.offsetBytes - case_.endBefore.offsetBytes;
  for (let k = 0; k <= extent; k++) {
    const { first, second } = await recoverCut(case_, k, seed);
    const cut = effectiveCut(case_, k, content);
    const complete = cut >= content;
    const label = `cut at byte ${k} of ${content} (takes effect at ${cut}; seed=${seed})`;
    const torn = zerosBefore ? first.result.tornTail !== undefined : undefined;
    const expected = complete
      ? outcome(case_.linesAll, case_.endAfter, zerosBefore ? false : undefined)
      : outcome(case_.linesBefore, case_.endBefore, zerosBefore ? cut > 0 : undefined);
    expect(outcome(first.lines, first.result.end, torn), label).toBe(expected);
    const again = outcome(second.lines, second.result.end, second.result.tornTail !== undefined);
    expect(again, `${label}, second recovery`).toBe(outcome(first.lines, first.result.end, false));
  }
}

describe('WAL torn tail', () => {
  it('a tail cut at every byte offset of the last batch replays exactly the batches before it', async () => {
    const rng = seeded('torn tail');
    const fs = await newSim(rng.nextU32());
    const writer = await openWriter(fs, { end: undefined, segmentBytes: 8192 });
    const lines: string[] = [];
    for (let i = 0; i < 4; i++) lines.push(...(await writeBatch(writer, rng, rng.range(1, 4))));
    const case_ = await snapshotAround(fs, writer, { rng, lines, checkpointLsn: 0n, recordCount: 6 });
    expect(case_.endAfter.offsetBytes - case_.endBefore.offsetBytes).toBeGreaterThan(512);
    await checkEveryCut(case_, rng.seed, true);
  });

  it('the repair zeroes the torn batch, so the writer resumes at the same place', async () => {
    const rng = seeded('torn repair');
    const fs = await newSim(rng.nextU32());
    const writer = await openWriter(fs, { end: undefined, segmentBytes: 8192 });
    const lines = await writeBatch(writer, rng, 3);
    const case_ = await snapshotAround(fs, writer, { rng, lines, checkpointLsn: 0n, recordCount: 6 });
    const { first, fs: cut, extent } = await recoverCut(case_, 100, rng.seed);
    expect(first.result.tornTail).toMatchObject({
      file: '/db/wal-000001.log',
      offsetBytes: case_.endBefore.offsetBytes,
    });
    const start = case_.endBefore.offsetBytes;
    expect(
      cut
        .snapshot('/db/wal-000001.log')
        ?.subarray(start, start + extent)
        .every((byte) => byte === 0),
    ).toBe(true);
    const resumed = await openWriter(cut, { end: first.result.end, segmentBytes: 8192 });
    const more = await writeBatch(resumed, rng, 2);
    expect((await recover(cut)).lines).toEqual([...lines, ...more]);
  });

  it('a tail cut over the stale bytes of a recycled segment is never taken for a continuation', async () => {
    const rng = seeded('torn recycled');
    const fs = await newSim(rng.nextU32());
    const writer = await openWriter(fs, { end: undefined, segmentBytes: 4096 });
    // Batches of at most 1 KiB fill segment 1's first life to within 1 KiB of its end.
    while (writer.currentSegment < 3) await writeBatch(writer, rng, rng.range(1, 2));
    const checkpointLsn = writer.nextLsn - 1n;
    await writer.releaseSegmentsBelow(writer.nextLsn);
    const lines: string[] = [];
    while (writer.currentSegment < 4) lines.push(...(await writeBatch(writer, rng, 1)));
    expect(writer.spares()).toHaveLength(1); // segment 4 is the recycled segment 1
    expect(writer.end.offsetBytes).toBe(1024);
    const case_ = await snapshotAround(fs, writer, { rng, lines, checkpointLsn, recordCount: 3 });
    const stale = case_.before.subarray(case_.endBefore.offsetBytes, case_.endAfter.offsetBytes);
    expect(stale.some((byte) => byte !== 0)).toBe(true); // the cut exposes the previous life's batches
    await checkEveryCut(case_, rng.seed, false);
  });
});

describe('WAL corruption in the middle of the log', () => {
  async function writeSegments(rng: SeededRandom, segmentBytes: number, batchCount: number) {
    const fs = await newSim(rng.nextU32());
    const writer = await openWriter(fs, { end: undefined, segmentBytes });
    const lines: string[] = [];
    const starts: Array<{ sequence: number; offsetBytes: number; lsn: bigint; lineCount: number }> = [];
    for (let i = 0; i < batchCount; i++) {
      const before = writer.end;
      lines.push(...(await writeBatch(writer, rng, rng.range(1, 4))));
      const sequence = writer.currentSegment;
      const offsetBytes = sequence === before.segmentSequence ? before.offsetBytes : 512;
      starts.push({ sequence, offsetBytes, lsn: before.nextLsn, lineCount: Number(before.nextLsn) - 1 });
    }
    return { fs, writer, lines, starts };
  }

  it('a flipped bit at any byte of a middle batch refuses to open, naming the file, offset and LSN', async () => {
    const rng = seeded('flip');
    const { fs, lines, starts } = await writeSegments(rng, 16_384, 8);
    const target = starts[3];
    const next = starts[4];
    if (target === undefined || next === undefined) throw new Error('too few batches');
    expect(next.sequence).toBe(target.sequence);
    const path = segmentPath(target.sequence);
    const files = new Map([
      [`wal-${String(target.sequence).padStart(6, '0')}.log`, fs.snapshot(path) ?? new Uint8Array()],
    ]);
    const content = (fs.snapshot(path) ?? new Uint8Array()).subarray(target.offsetBytes, next.offsetBytes);
    const contentBytes = content.findLastIndex((byte) => byte !== 0) + 1;
    for (let offset = 0; offset < contentBytes; offset++) {
      const damaged = await simWith(rng.seed, files);
      damaged.corruptAtRest(path, target.offsetBytes + offset, offset % 8);
      const replayed: bigint[] = [];
      const error = await recoverWal(damaged, DIR, {
        databaseUuid: UUID,
        checkpointLsn: lsn(0),
        repair: true,
        onRecord: (record) => {
          replayed.push(record.lsn);
        },
      }).catch((caught: unknown) => caught);
      expect(error, `byte ${offset}`).toBeInstanceOf(WalCorruptionError);
      const message = (error as Error).message;
      expect(message).toContain('corruption in the middle of the WAL');
      expect(message).toContain(`at LSN ${target.lsn} in wal-000001.log at offset ${target.offsetBytes}`);
      expect(message).toContain('will not silently skip committed transactions');
      expect(message).toMatch(/backup/);
      expect(replayed.every((value) => value < target.lsn)).toBe(true);
    }
    expect(lines.length).toBeGreaterThan(target.lineCount);
  });

  it('a damaged last batch of a full segment is corruption, because the next segment shows records are missing', async () => {
    const rng = seeded('flip at segment end');
    const { fs, starts } = await writeSegments(rng, 2048, 12);
    const index = starts.findIndex((start, i) => start.sequence === 1 && starts[i + 1]?.sequence === 2);
    const target = starts[index];
    if (target === undefined) throw new Error('no batch ends segment 1');
    fs.corruptAtRest(segmentPath(1), target.offsetBytes + 20, 3);
    await expect(recover(fs)).rejects.toThrow(/corruption in the middle of the WAL/);
  });

  it('a missing middle segment refuses to open, naming it', async () => {
    const rng = seeded('missing segment');
    const { fs, writer } = await writeSegments(rng, 2048, 20);
    expect(writer.currentSegment).toBeGreaterThan(4);
    await fs.unlink(segmentPath(3));
    const error = await recover(fs).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WalCorruptionError);
    expect((error as Error).message).toMatch(/a WAL segment is missing.*wal-000003\.log/);
  });

  it('a missing first segment refuses to open when its records are above the checkpoint', async () => {
    const rng = seeded('missing first');
    const { fs } = await writeSegments(rng, 2048, 20);
    await fs.unlink(segmentPath(1));
    await expect(recover(fs)).rejects.toThrow(/records after the checkpoint are missing/);
  });
});
