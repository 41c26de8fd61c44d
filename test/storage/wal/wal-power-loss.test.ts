// Proves that after a crash or power loss at a random I/O call while writing and releasing segments, recovery yields a prefix of the written batches with every acknowledged one.
import { describe, expect, it } from 'vitest';
import { type SimFileSystem, SimulatedCrashError } from '../../../src/io/sim-file-system.js';
import { decodeWalRecord } from '../../../src/storage/wal/wal-record.js';
import type { WalEnd } from '../../../src/storage/wal/wal-segment-format.js';
import type { WalWriter } from '../../../src/storage/wal/wal-writer.js';
import { lsn } from '../../../src/util/ids.js';
import { SeededRandom, testSeed } from '../../../src/util/random.js';
import { describeRecord, newSim, openWriter, randomPayloads, recover } from './wal-test-helpers.js';

/** Raise with JUBILANT_WAL_SEEDS for a longer soak. */
const SEED_COUNT = Number(process.env.JUBILANT_WAL_SEEDS ?? 300);
const ROUNDS = 2;
const STEPS_PER_ROUND = 12;

interface Model {
  /** Every record ever attempted that may still be in the log, LSN 1 first. */
  lines: string[];
  /** The checkpoint LSN a durable superblock would hold: releases only ever cut below it. */
  checkpointLsn: bigint;
  end: WalEnd | undefined;
  readonly segmentBytes: number;
}

/** One step: a release below a random durable LSN (after "checkpointing" there), or a batch. */
async function step(writer: WalWriter, rng: SeededRandom, model: Model): Promise<void> {
  if (writer.durableLsn > 0n && rng.chance(0.2)) {
    const below = lsn(BigInt(rng.range(1, Number(writer.durableLsn) + 1)));
    if (below - 1n > model.checkpointLsn) model.checkpointLsn = below - 1n;
    await writer.releaseSegmentsBelow(below);
    return;
  }
  const firstLsn = writer.nextLsn;
  const payloads = randomPayloads(rng, { firstLsn, count: rng.range(1, 5), valueBytesMax: 300 });
  model.lines.push(...payloads.map((payload) => describeRecord(decodeWalRecord(payload, { file: 'test' }))));
  await writer.writeBatch(firstLsn, payloads);
}

/** Runs until the armed crash fires (or the round ends); returns the last acknowledged LSN. */
async function round(fs: SimFileSystem, rng: SeededRandom, model: Model): Promise<bigint> {
  const crashAt = fs.callCount() + rng.range(1, 110);
  if (rng.chance(0.5)) fs.crashAfterCall(crashAt);
  else fs.crashDuringCall(crashAt);
  let acknowledged = BigInt(model.lines.length);
  try {
    const writer = await openWriter(fs, { end: model.end, segmentBytes: model.segmentBytes });
    for (let i = 0; i < STEPS_PER_ROUND; i++) {
      await step(writer, rng, model);
      acknowledged = writer.durableLsn;
    }
  } catch (error) {
    if (!(error instanceof SimulatedCrashError)) throw error;
  }
  return acknowledged;
}

async function runSeed(seed: number): Promise<void> {
  const rng = new SeededRandom(seed);
  let fs = await newSim(seed);
  const model: Model = { lines: [], checkpointLsn: 0n, end: undefined, segmentBytes: rng.pick([2048, 4096]) };
  for (let r = 0; r < ROUNDS; r++) {
    const acknowledged = await round(fs, rng, model);
    const attempted = BigInt(model.lines.length);
    fs = rng.chance(0.8) ? fs.powerLoss().fs : fs.processCrash();
    const { result, lines } = await recover(fs, { checkpointLsn: model.checkpointLsn });
    const label = `seed=${seed} round=${r} acknowledged=${acknowledged} attempted=${attempted}`;
    const recovered = model.checkpointLsn + BigInt(lines.length);
    expect([acknowledged, attempted], label).toContain(recovered);
    expect(lines, label).toEqual(model.lines.slice(Number(model.checkpointLsn), Number(recovered)));
    expect(result.end?.nextLsn ?? 1n, label).toBe(recovered + 1n);
    const again = await recover(fs, { checkpointLsn: model.checkpointLsn });
    expect(again.result.tornTail, label).toBeUndefined();
    expect(again.result.end, label).toEqual(result.end);
    model.lines = model.lines.slice(0, Number(recovered));
    model.end = result.end;
  }
}

describe('WAL under power loss', () => {
  it(`recovers a prefix holding every acknowledged batch, over ${SEED_COUNT} seeds`, async () => {
    const base = testSeed();
    console.log(`wal power loss base seed=${base} (seeds ${base}..${base + SEED_COUNT - 1})`);
    for (let i = 0; i < SEED_COUNT; i++) await runSeed((base + i) >>> 0);
  });
});
