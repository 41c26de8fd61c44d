// TTL with an injectable clock (issue 6): the calibrated clock ignores wall-clock jumps while running
// and never revives keys after the clock is set back while closed; the sweeper turns expired keys into
// tombstones (releasing their value-log bytes), drops tombstones both checkpoints are past, and spares a
// key rewritten after it expired, also when the rewrite races the sweep.
import { describe, expect, it, onTestFinished } from 'vitest';
import { Database, type DatabaseOptions } from '../../src/index.js';
import { utf8 } from '../../src/util/bytes.js';
import { tempDir } from '../helpers/temp-dir.js';
import { TestClock } from '../helpers/test-clock.js';

async function open(directory: string, options: DatabaseOptions): Promise<Database> {
  const db = await Database.open(directory, { ttlSweepIntervalMs: 0, vlogGcIntervalMs: 0, ...options });
  onTestFinished(() => db.close().catch(() => undefined));
  return db;
}

describe('TTL clock', () => {
  it('a wall clock moved forwards or backwards while running neither expires nor revives a key', async () => {
    const clock = new TestClock();
    const db = await open(await tempDir('jubilant-ttl-'), { clock });
    await db.set('k', 'v', { ttlMs: 1000 });
    clock.wall += 3_600_000; // NTP jumps an hour ahead: "now" follows the monotonic clock
    expect(await db.get('k')).toBe('v');
    clock.wall -= 7_200_000; // and two hours back
    expect(await db.get('k')).toBe('v');
    clock.mono += 999;
    expect(await db.get('k')).toBe('v');
    clock.mono += 1; // exactly at the expiry: gone
    expect(await db.get('k')).toBeUndefined();
    clock.wall -= 86_400_000;
    expect(await db.get('k')).toBeUndefined();
  });

  it('a clock set back while the database was closed revives nothing, and keeps the remaining TTLs', async () => {
    const clock = new TestClock();
    const directory = await tempDir('jubilant-ttl-');
    let db = await open(directory, { clock });
    await db.set('expired', 'v', { ttlMs: 100 });
    await db.set('later', 'v', { ttlMs: 1000 });
    clock.advance(500);
    await db.close(); // the checkpoint at close persists "now" as the floor
    clock.wall -= 86_400_000; // a day back, and a new boot's monotonic origin
    clock.mono = 0;
    db = await open(directory, { clock });
    expect(await db.get('expired')).toBeUndefined();
    expect(await db.get('later')).toBe('v');
    clock.advance(499);
    expect(await db.get('later')).toBe('v');
    clock.advance(1);
    expect(await db.get('later')).toBeUndefined();
  });
});

describe('TTL sweeper', () => {
  it('turns expired keys into tombstones, releases their value-log bytes, and later drops the tombstones', async () => {
    const clock = new TestClock();
    const db = await open(await tempDir('jubilant-ttl-'), { clock });
    for (let i = 0; i < 50; i++) await db.set(`short:${i}`, new Uint8Array(2000).fill(i), { ttlMs: 1000 });
    for (let i = 0; i < 50; i++) await db.set(`long:${i}`, `v${i}`, { ttlMs: 60_000 });
    await db.set('forever', 'v');
    const liveBefore = db.stats().valueLog.liveBytes;
    expect(liveBefore).toBeGreaterThan(50 * 2000);
    clock.advance(1000);
    await db.sweepExpired();
    const swept = db.stats().ttlSweeper;
    expect(swept.expiredDeleted).toBe(50);
    expect(db.stats().valueLog.liveBytes).toBe(0); // every value-log value was a short one
    expect(await db.storedEntry(utf8('short:7'))).toMatchObject({ tombstone: true });
    expect(await db.get('long:7')).toBe('v7');
    // Tombstones go once both checkpoints are past them.
    await db.checkpoint();
    await db.checkpoint();
    await db.sweepExpired();
    expect(db.stats().ttlSweeper.tombstonesRemoved).toBe(50);
    expect(await db.storedEntry(utf8('short:7'))).toBeUndefined();
    const keys: string[] = [];
    for await (const { key } of db.scan()) keys.push(key);
    expect(keys.length).toBe(51);
  });

  it('spares a key rewritten after it expired, also when the rewrite races the sweep', async () => {
    const clock = new TestClock();
    const db = await open(await tempDir('jubilant-ttl-'), { clock, ttlSweepBatchEntries: 8 });
    for (let i = 0; i < 200; i++) await db.set(`k${i}`, `old${i}`, { ttlMs: 100 });
    clock.advance(100);
    await db.set('k0', 'rewritten before the sweep');
    // Every third key is rewritten while the sweep runs over the same keys (bounded steps of 8).
    const rewrites = (async () => {
      for (let i = 3; i < 200; i += 3) await db.set(`k${i}`, `new${i}`);
    })();
    await Promise.all([db.sweepExpired(), rewrites]);
    await db.sweepExpired();
    expect(await db.get('k0')).toBe('rewritten before the sweep');
    for (let i = 1; i < 200; i++) {
      expect(await db.get(`k${i}`), `k${i}`).toBe(i % 3 === 0 ? `new${i}` : undefined);
    }
    const stats = db.stats().ttlSweeper;
    // The 133 never rewritten are swept; a racing rewrite is swept first or not at all; k0 never.
    expect(stats.expiredDeleted).toBeGreaterThanOrEqual(133);
    expect(stats.expiredDeleted).toBeLessThanOrEqual(199);
    expect(stats.passes).toBeGreaterThanOrEqual(2);
  });

  it('the background sweeper gets there on its own, in bounded steps', async () => {
    const clock = new TestClock();
    const db = await open(await tempDir('jubilant-ttl-'), {
      clock,
      ttlSweepIntervalMs: 5,
      ttlSweepBatchEntries: 16,
    });
    for (let i = 0; i < 100; i++) await db.set(`k${i}`, 'v', { ttlMs: 10 });
    clock.advance(10);
    const deadline = Date.now() + 10_000;
    while (db.stats().ttlSweeper.expiredDeleted < 100 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const stats = db.stats().ttlSweeper;
    expect(stats.expiredDeleted).toBe(100);
    expect(stats.lastError).toBeUndefined();
  });
});
