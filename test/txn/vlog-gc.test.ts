// Value-log GC (issue 6): overwrites of 256 KiB values keep the value log under 3x the live data across
// many cycles; a value changed while GC runs is never resurrected; the background trigger reclaims a
// segment by itself; and a crash at every I/O call of a GC cycle (after or during it, then a power loss
// or process crash) loses and duplicates nothing, and the validator passes.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Database, type DatabaseOptions } from '../../src/index.js';
import { SimFileSystem, SimulatedCrashError } from '../../src/io/sim-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateBothImages } from '../../src/storage/btree/validate.js';
import { parseVlogSegmentFileName } from '../../src/storage/vlog/vlog-segment-format.js';
import { isJubilantError } from '../../src/util/errors.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const KiB = 1024;

function patterned(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 13 + seed * 101) & 0xff;
  return bytes;
}

function sameBytes(actual: unknown, expected: Uint8Array): boolean {
  return actual instanceof Uint8Array && Buffer.compare(actual, expected) === 0;
}

async function vlogBytesOnDisk(directory: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(directory)) {
    if (parseVlogSegmentFileName(name) !== undefined) total += (await stat(join(directory, name))).size;
  }
  return total;
}

async function openTracked(directory: string, options: DatabaseOptions): Promise<Database> {
  const db = await Database.open(directory, options);
  onTestFinished(() => db.close().catch(() => undefined));
  return db;
}

describe('value-log GC', () => {
  it('keeps the value log under 3x the live data while 256 KiB values are overwritten, over many cycles', async () => {
    const directory = await tempDir('jubilant-gc-');
    const options: DatabaseOptions = {
      vlogSegmentBytes: 1024 * KiB,
      vlogGcIntervalMs: 0,
      walSegmentBytes: 1024 * KiB,
    };
    let db = await openTracked(directory, options);
    const seed = testSeed();
    console.log(`vlog gc disk usage: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const random = new SeededRandom(seed);
    const keys = 8;
    const latest = new Map<string, number>();
    let usageMax = 0;
    for (let write = 0; write < 160; write++) {
      const key = `blob:${random.int(keys)}`;
      await db.set(key, patterned(256 * KiB, write));
      latest.set(key, write);
      await db.collectValueLogGarbage();
      const live = db.stats().valueLog.liveBytes;
      const onDisk = await vlogBytesOnDisk(directory);
      usageMax = Math.max(usageMax, onDisk / live);
      expect(onDisk, `after write ${write}: ${onDisk} bytes on disk for ${live} live`).toBeLessThan(3 * live);
    }
    const gc = db.stats().valueLogGc;
    console.log(
      `vlog gc disk usage: ${gc.cycles} cycles, ${gc.recordsRewritten} records rewritten, ` +
        `${db.stats().valueLog.segmentsDeleted} segments deleted, worst usage ${usageMax.toFixed(2)}x live`,
    );
    expect(gc.cycles).toBeGreaterThanOrEqual(20);
    expect(db.stats().valueLog.segmentsDeleted).toBeGreaterThanOrEqual(20);
    await db.close();
    db = await openTracked(directory, options);
    for (const [key, write] of latest)
      expect(sameBytes(await db.get(key), patterned(256 * KiB, write)), key).toBe(true);
  });

  it('never resurrects a value changed while GC rewrites its segment', async () => {
    const db = await openTracked(await tempDir('jubilant-gc-'), {
      vlogSegmentBytes: 16 * KiB,
      vlogGcIntervalMs: 0,
    });
    const latest = new Map<string, number>();
    const write = async (key: string, version: number): Promise<void> => {
      await db.set(key, patterned(3 * KiB, version));
      latest.set(key, version);
    };
    for (let round = 0; round < 6; round++)
      for (let k = 0; k < 10; k++) await write(`k${k}`, round * 100 + k);
    // GC and a stream of overwrites and deletes of the same keys race; each key's writes stay ordered.
    const racing = Array.from({ length: 10 }, async (_, k) => {
      for (let round = 6; round < 12; round++) {
        if (round === 9 && k % 3 === 0) {
          await db.del(`k${k}`);
          latest.delete(`k${k}`);
        } else {
          await write(`k${k}`, round * 100 + k);
        }
      }
    });
    await Promise.all([db.collectValueLogGarbage(), ...racing, db.collectValueLogGarbage()]);
    await db.collectValueLogGarbage();
    for (let k = 0; k < 10; k++) {
      const version = latest.get(`k${k}`);
      const value = await db.get(`k${k}`);
      if (version === undefined) expect(value, `k${k}`).toBeUndefined();
      else expect(sameBytes(value, patterned(3 * KiB, version)), `k${k} at version ${version}`).toBe(true);
    }
    expect(db.stats().valueLogGc.cycles).toBeGreaterThan(0);
  });

  it('never takes a segment whose commits are still in flight (their records are not referenced yet)', async () => {
    const db = await openTracked(await tempDir('jubilant-gc-'), {
      vlogSegmentBytes: 4096,
      vlogGcIntervalMs: 0,
      vlogGcThreshold: 0.5,
    });
    const first = db.set('a', patterned(3000, 1)); // segment 1
    const second = db.set('b', patterned(3000, 2)); // does not fit: segment 2, and segment 1 is sealed
    await new Promise((resolve) => setImmediate(resolve)); // both appended, neither durable nor applied
    expect(db.valueLogSegments().map(({ segment, liveBytes }) => ({ segment, liveBytes }))).toEqual([
      { segment: 1, liveBytes: 0 },
      { segment: 2, liveBytes: 0 },
    ]);
    expect(db.garbageValueLogSegments()).toEqual([]); // all dead by the count, but not settled
    await Promise.all([first, second]);
    expect(db.garbageValueLogSegments()).toEqual([]); // settled, and live
    await db.collectValueLogGarbage();
    expect(sameBytes(await db.get('a'), patterned(3000, 1))).toBe(true);
    expect(db.stats().valueLog.segmentsCollected).toBe(0);
  });

  it('the background trigger reclaims a segment once overwrites pass the threshold', async () => {
    const directory = await tempDir('jubilant-gc-');
    const db = await openTracked(directory, {
      vlogSegmentBytes: 16 * KiB,
      vlogGcIntervalMs: 0,
      vlogGcThreshold: 0.5,
    });
    for (let round = 0; round < 4; round++)
      for (let k = 0; k < 8; k++) await db.set(`k${k}`, patterned(3 * KiB, round));
    const deadline = Date.now() + 10_000;
    while (db.stats().valueLog.segmentsDeleted === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(db.stats().valueLog.segmentsDeleted).toBeGreaterThan(0);
    for (let k = 0; k < 8; k++) expect(sameBytes(await db.get(`k${k}`), patterned(3 * KiB, 3))).toBe(true);
  });
});

// --- crash at every step of a GC cycle ------------------------------------------------------------

const DIR = '/db';
const SIM_OPTIONS: DatabaseOptions = {
  pageSizeBytes: 4096,
  cacheBytes: 1024 * 1024,
  walSegmentBytes: 64 * KiB,
  vlogSegmentBytes: 8 * KiB,
  vlogGcIntervalMs: 0,
  vlogGcThreshold: 1, // no GC while preparing: the cycle under test starts after the reopen
  checkpointIntervalMs: 0,
};
const KEYS = 8;

/** The state before the cycle: every key's value, some overwritten so segment 1 is mostly garbage. */
async function prepare(fs: SimFileSystem): Promise<Map<string, Uint8Array>> {
  const db = await Database.open(DIR, { ...SIM_OPTIONS, fs });
  const model = new Map<string, Uint8Array>();
  for (let version = 0; version < 3; version++) {
    for (let k = 0; k < KEYS; k++) {
      if (version > 0 && k % 2 === 1) continue; // odd keys keep their first value: live in segment 1
      const value = patterned(1500, version * 10 + k);
      await db.set(`k${k}`, value);
      model.set(`k${k}`, value);
    }
  }
  await db.set('small', 'inline');
  await db.checkpoint();
  await db.close();
  return model;
}

/** Reopens as a restart would; with a threshold below 1, GC starts on its own right after open. */
async function reopen(fs: SimFileSystem, vlogGcThreshold = 1): Promise<Database> {
  if (await fs.exists(join(DIR, 'LOCK'))) await fs.unlink(join(DIR, 'LOCK'));
  return Database.open(DIR, { ...SIM_OPTIONS, vlogGcThreshold, fs });
}

async function expectModel(db: Database, model: Map<string, Uint8Array>, where: string): Promise<void> {
  let count = 0;
  for await (const { key, value } of db.scan()) {
    count += 1;
    if (key === 'small') {
      expect(value, where).toBe('inline');
      continue;
    }
    const expected = model.get(key);
    expect(expected !== undefined && sameBytes(value, expected), `${where}: ${key}`).toBe(true);
  }
  expect(count, `${where}: keys`).toBe(model.size + 1);
  const stats = db.stats().valueLog;
  expect(stats.liveBytes, `${where}: live bytes`).toBeLessThanOrEqual(stats.totalBytes);
}

async function validate(fs: SimFileSystem, where: string): Promise<void> {
  const manifest = await readManifest(fs, DIR);
  const report = await validateBothImages(fs, DIR, {
    pageSizeBytes: manifest.pageSizeBytes,
    databaseUuid: manifest.databaseUuid,
  });
  expect(report.errors, where).toEqual([]);
}

describe('value-log GC crash at every step', () => {
  it('a crash after or during any I/O call of a GC cycle loses nothing, duplicates nothing, and validates', async () => {
    const seed = testSeed();
    console.log(`vlog gc crash: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    // The uncrashed cycle: how many I/O calls it makes, and that it reclaims segment 1.
    const reference = new SimFileSystem({ seed });
    const model = await prepare(reference);
    const db = await reopen(reference, 0.5);
    const before = reference.callCount();
    await db.collectValueLogGarbage();
    const calls = reference.callCount() - before;
    expect(db.stats().valueLog.segmentsDeleted).toBeGreaterThan(0);
    await expectModel(db, model, 'uncrashed');
    await db.close();
    let crashes = 0;
    for (const kind of ['after', 'during'] as const) {
      for (let n = 1; n <= calls; n++) {
        const where = `seed ${seed}, crash ${kind} call ${n} of ${calls}`;
        const fs = new SimFileSystem({ seed: (seed + n * 7919) >>> 0 });
        await prepare(fs);
        const victim = await reopen(fs, 0.5);
        const base = fs.callCount();
        if (kind === 'after') fs.crashAfterCall(base + n);
        else fs.crashDuringCall(base + n);
        const outcome = await victim.collectValueLogGarbage().then(
          () => 'completed',
          (error: unknown) => error,
        );
        if (outcome !== 'completed') {
          // The crash itself, or what a commit sees when the log under it died (READ_ONLY, CLOSED).
          const crashed =
            outcome instanceof SimulatedCrashError ||
            isJubilantError(outcome, 'READ_ONLY') ||
            isJubilantError(outcome, 'CLOSED');
          expect(crashed, `${where}: ${String(outcome)}`).toBe(true);
          crashes += 1;
        }
        const next = n % 2 === 0 ? fs.powerLoss().fs : fs.processCrash();
        const recovered = await reopen(next, 0.5);
        await expectModel(recovered, model, `${where}, reopened`);
        await recovered.collectValueLogGarbage(); // GC picks up where the crash left it
        await expectModel(recovered, model, `${where}, after GC again`);
        await recovered.close();
        await validate(next, where);
      }
    }
    expect(crashes).toBeGreaterThan(calls); // most points crashed (a late one may land after the cycle)
  });
});
