// Proves that the unified cache's accounted bytes (clean cached pages plus pinned dirty pages) never pass its budget while a data set ten times larger than the cache is written and read back, with checkpoints triggered by the dirty share, and that its counters count what happened (issue 5, "Unified cache").
import { describe, expect, it } from 'vitest';
import { Database, type DatabaseStats } from '../../src/engine/database.js';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateBothImages } from '../../src/storage/btree/validate.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';

const DIR = '/db';
const MiB = 1024 * 1024;
const CACHE_BYTES = 2 * MiB;
/** Keys plus values written: ten times the cache. */
const DATA_BYTES = 20 * MiB;
const VALUE_BYTES = 900;
const OPTIONS = {
  cacheBytes: CACHE_BYTES,
  walSegmentBytes: 4 * MiB,
  checkpointIntervalMs: 0,
  // Far above all the WAL these tests write: every checkpoint is triggered by the dirty share.
  checkpointWalBytes: 1024 * MiB,
  dirtyShareMax: 0.5,
} as const;

/** Samples the accounting; keeps the first overruns and the largest, each with its moment. */
class BudgetWatch {
  readonly overruns: string[] = [];
  overrunCount = 0;
  accountedMax = 0;
  worst = '';
  samples = 0;

  check(stats: DatabaseStats, moment: string): void {
    const { accountedBytes, budgetBytes, sizeBytes, pinnedBytes } = stats.cache;
    this.samples += 1;
    if (accountedBytes !== sizeBytes + pinnedBytes) {
      this.overruns.push(
        `${moment}: accounted ${accountedBytes} is not clean ${sizeBytes} + pinned ${pinnedBytes}`,
      );
    }
    if (accountedBytes <= budgetBytes) {
      this.accountedMax = Math.max(this.accountedMax, accountedBytes);
      return;
    }
    const line =
      `${moment}: accounted ${accountedBytes} > budget ${budgetBytes} by ${accountedBytes - budgetBytes} ` +
      `(clean ${sizeBytes}, pinned ${pinnedBytes}, dirty pages ${stats.tree.dirtyPages}, ` +
      `applied LSN ${stats.lsn.applied}, durable ${stats.lsn.durable}, checkpoints so far ${stats.checkpoints})`;
    this.overrunCount += 1;
    if (this.overruns.length < 5) this.overruns.push(line);
    if (accountedBytes > this.accountedMax) {
      this.accountedMax = accountedBytes;
      this.worst = line;
    }
  }

  report(): string[] {
    return this.overrunCount === 0
      ? []
      : [
          `${this.overrunCount} of ${this.samples} samples over budget; the worst: ${this.worst}`,
          ...this.overruns,
        ];
  }
}

function keyOf(index: number): string {
  return `key-${index.toString(36).padStart(6, '0')}`;
}

function valueFor(index: number): string {
  const stamp = `value-${index}:`;
  return stamp + 'x'.repeat(VALUE_BYTES - stamp.length);
}

interface Written {
  readonly fs: SimFileSystem;
  readonly db: Database;
  readonly watch: BudgetWatch;
  readonly order: number[];
  readonly rng: SeededRandom;
  stopSampling(): void;
}

/**
 * Writes DATA_BYTES of keys and values in a seeded random order with `writers` concurrent fsync
 * writers, sampling the accounting after every commit and at every write the engine issues (inside
 * group-commit batches and checkpoints).
 */
async function writeTenTimesTheCache(writers: number): Promise<Written> {
  const seed = testSeed();
  console.log(`cache-budget: seed ${seed}, ${writers} writers (replay with JUBILANT_SEED=${seed})`);
  const rng = new SeededRandom(seed);
  const fs = new SimFileSystem({ seed });
  const db = await Database.open(DIR, { ...OPTIONS, fs });
  const watch = new BudgetWatch();
  let sampling = true;
  fs.addWriteObserver((event) => {
    if (sampling) watch.check(db.stats(), `during a write to ${event.path.slice(DIR.length + 1)}`);
  });
  const count = Math.ceil(DATA_BYTES / (keyOf(0).length + VALUE_BYTES));
  const order = rng.shuffle(Array.from({ length: count }, (_, index) => index));
  let next = 0;
  const writer = async (): Promise<void> => {
    while (next < order.length) {
      const index = order[next++] as number;
      await db.set(keyOf(index), valueFor(index));
      watch.check(db.stats(), `after commit ${next}`);
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  const stats = db.stats();
  console.log(
    `cache-budget: ${count} keys (${((count * (keyOf(0).length + VALUE_BYTES)) / MiB).toFixed(1)} MiB), ` +
      `${stats.checkpoints} checkpoints, accounted max ${watch.accountedMax} of ${CACHE_BYTES} over ` +
      `${watch.samples} samples, ${stats.tree.pageCount} pages, cache ${JSON.stringify(stats.cache)}`,
  );
  expect(count * (keyOf(0).length + VALUE_BYTES)).toBeGreaterThanOrEqual(10 * CACHE_BYTES);
  return {
    fs,
    db,
    watch,
    order,
    rng,
    stopSampling: () => {
      sampling = false;
    },
  };
}

describe('the unified cache under a data set ten times its size', () => {
  it('keeps accounted bytes within the budget at every commit and write, checkpointing by dirty share', async () => {
    const { fs, db, watch, order, rng, stopSampling } = await writeTenTimesTheCache(8);
    const written = db.stats();
    const pageSizeBytes = (await readManifest(fs, DIR)).pageSizeBytes;
    expect(written.tree.pageCount * pageSizeBytes, 'the tree fits the cache').toBeGreaterThan(
      5 * CACHE_BYTES,
    );
    // No WAL-size trigger and no timer: the checkpoints come from the dirty share.
    expect(written.checkpoints, 'dirty share never triggered a checkpoint').toBeGreaterThanOrEqual(10);
    expect(written.cache.evictions).toBeGreaterThan(0);
    expect(watch.report()).toEqual([]);

    // Read everything back, in another order: misses, hits and evictions all move.
    const before = db.stats().cache;
    for (const index of rng.shuffle([...order])) {
      expect(await db.get(keyOf(index))).toBe(valueFor(index));
      if (index % 64 === 0) watch.check(db.stats(), `after reading key ${index}`);
    }
    let scanned = 0;
    for await (const { key } of db.scan()) {
      expect(key).toBe(keyOf(Number.parseInt(key.slice(4), 36)));
      scanned += 1;
    }
    expect(scanned).toBe(order.length);
    const after = db.stats().cache;
    expect(after.hits).toBeGreaterThan(before.hits);
    expect(after.misses).toBeGreaterThan(before.misses);
    expect(after.evictions).toBeGreaterThan(before.evictions);
    watch.check(db.stats(), 'after reading back');
    stopSampling();
    await db.close();

    // Cold: a reopen reads from data.pages, within the budget again.
    const reopened = await Database.open(DIR, { ...OPTIONS, fs });
    for (const index of order.slice(0, 2_000)) {
      expect(await reopened.get(keyOf(index))).toBe(valueFor(index));
      watch.check(reopened.stats(), `after a cold read of key ${index}`);
    }
    expect(reopened.stats().cache.misses).toBeGreaterThan(0);
    expect(watch.report()).toEqual([]);
    await reopened.close();
    const manifest = await readManifest(fs, DIR);
    const report = await validateBothImages(fs, DIR, {
      pageSizeBytes: manifest.pageSizeBytes,
      databaseUuid: manifest.databaseUuid,
    });
    expect(report.errors).toEqual([]);
  });

  // Commits admitted together each dirty a leaf and its path after admission: the apply-time check
  // (engine/commit-pipeline.ts) keeps the pinned dirty bytes within the budget however many there are.
  it('keeps accounted bytes within the budget with 256 concurrent writers', async () => {
    const { db, watch, stopSampling } = await writeTenTimesTheCache(256);
    stopSampling();
    await db.close();
    expect(watch.report()).toEqual([]);
  });

  // A probe of the cache that finds nothing is not a miss: only the read from data.pages counts.
  it('a cold point read counts one cache miss per page it reads from data.pages', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const options = { ...OPTIONS, pageSizeBytes: 4096 };
    const db = await Database.open(DIR, { ...options, fs });
    const small = (index: number) => valueFor(index).slice(0, 200);
    for (let index = 0; index < 2_000; index++) await db.set(keyOf(index), small(index));
    await db.close();
    const reopened = await Database.open(DIR, { ...options, fs });
    const readsBefore = fs.callCount('read');
    const before = reopened.stats().cache;
    expect(await reopened.get(keyOf(1234))).toBe(small(1234));
    const pageReads = fs.callCount('read') - readsBefore;
    const missed = reopened.stats().cache.misses - before.misses;
    expect(pageReads).toBeGreaterThanOrEqual(2); // a root and a leaf at least
    expect(reopened.stats().cache.hits - before.hits).toBe(0);
    expect(missed, `${pageReads} pages read`).toBe(pageReads);
    // Warm: the same read again reads nothing and counts hits only.
    const warm = reopened.stats().cache;
    await reopened.get(keyOf(1234));
    expect(fs.callCount('read') - readsBefore).toBe(pageReads);
    expect(reopened.stats().cache.misses).toBe(warm.misses);
    expect(reopened.stats().cache.hits - warm.hits).toBe(pageReads);
    await reopened.close();
  });
  // The budget gates assume one apply may dirty three nodes at their largest charge; with 64 KiB pages
  // that is more than a 1 MiB cache. Commits must still go on (one per checkpoint), not wait forever.
  it('commits go on when the cache is smaller than the worst case of one apply', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const db = await Database.open(DIR, {
      ...OPTIONS,
      fs,
      pageSizeBytes: 65_536,
      cacheBytes: 1024 * 1024,
    });
    for (let index = 0; index < 20; index++) await db.set(keyOf(index), valueFor(index));
    for (let index = 0; index < 20; index++) expect(await db.get(keyOf(index))).toBe(valueFor(index));
    expect(db.stats().cache.accountedBytes).toBeLessThanOrEqual(1024 * 1024);
    await db.close();
  });
});
