// Proves evicted leaves' page buffers are recycled into later reads without a reader ever seeing another
// page's bytes: a recycled buffer's old views read as empty, lookups and cursors agree with a model
// while a small cache evicts and recycles under them, and a cursor whose saved leaf was recycled seeks
// again instead of reading it.
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../../src/io/sim-file-system.js';
import { Btree } from '../../../src/storage/btree/btree.js';
import { makeLeafEntry } from '../../../src/storage/btree/node.js';
import { PageBufferPool } from '../../../src/storage/btree/page-buffer-pool.js';
import { PageStore } from '../../../src/storage/btree/page-store.js';
import { utf8 } from '../../../src/util/bytes.js';
import { lsn } from '../../../src/util/ids.js';
import { SeededRandom, testSeed } from '../../../src/util/random.js';

const PAGE_SIZE_BYTES = 4096;
const KEYS = 4_000;
const BATCH = 50;
/** Lookups between two cursor batches: more leaves than the cache holds. */
const PROBES = 80;

function keyOf(index: number): Uint8Array {
  return utf8(`key-${String(index).padStart(6, '0')}`);
}

function valueAt(index: number): Uint8Array {
  return new Uint8Array(40).fill(index % 251);
}

describe('PageBufferPool', () => {
  it('detaches a recycled buffer, so its old views read as empty, and hands its memory out again', () => {
    const pool = new PageBufferPool(PAGE_SIZE_BYTES, 2);
    const page = pool.take();
    page.fill(7);
    const view = new Uint8Array(page.buffer, 100, 10);
    pool.recycle(page);
    expect(page.length).toBe(0);
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined();
    const again = pool.take();
    expect(again.length).toBe(PAGE_SIZE_BYTES);
    expect(again[100]).toBe(7); // the same memory, not a fresh zeroed buffer
    expect(pool.stats()).toEqual({ taken: 2, reused: 1, recycled: 1, kept: 0 });
  });

  it('keeps at most its bound and takes only whole page buffers', () => {
    const pool = new PageBufferPool(PAGE_SIZE_BYTES, 1);
    const first = pool.take();
    const second = pool.take();
    pool.recycle(first);
    pool.recycle(second); // over the bound: left to the collector, still readable
    expect(second.length).toBe(PAGE_SIZE_BYTES);
    const part = new Uint8Array(new ArrayBuffer(2 * PAGE_SIZE_BYTES), 0, PAGE_SIZE_BYTES);
    pool.recycle(part); // not a whole page buffer: not taken
    expect(part.length).toBe(PAGE_SIZE_BYTES);
    expect(pool.stats().kept).toBe(1);
  });
});

describe('page buffers recycled under a small cache', () => {
  it('lookups and cursors agree with the model while evicted leaves are recycled', async () => {
    const seed = testSeed();
    console.log(`page-buffer-pool: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const random = new SeededRandom(seed);
    const fs = new SimFileSystem({ seed });
    await fs.mkdir('/db');
    // A cache of a few dozen pages for a tree of a few hundred: nearly every lookup evicts a leaf.
    const store = await PageStore.create(fs, '/db', {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: new Uint8Array(16).fill(3),
      cacheBytes: 256 * 1024,
    });
    const tree = new Btree(store);
    for (let index = 0; index < KEYS; index++) {
      await tree.put(
        makeLeafEntry(keyOf(index), 'bytes', false, valueAt(index), undefined, 0, lsn(index + 1)),
      );
      if (index % 500 === 499) await store.checkpoint(lsn(index + 1));
    }
    await store.checkpoint(lsn(KEYS));

    for (let round = 0; round < 3; round++) {
      // A cursor read in batches, with enough random lookups between them to evict (and recycle) the
      // leaf the cursor saved its path through.
      const cursor = tree.cursor();
      const seen: string[] = [];
      for (;;) {
        const batch = await cursor.nextBatch(BATCH);
        for (const entry of batch) {
          const index = Number(new TextDecoder().decode(entry.key).slice(4));
          expect(entry.inlineValue).toEqual(valueAt(index));
          seen.push(new TextDecoder().decode(entry.key));
        }
        for (let probe = 0; probe < PROBES; probe++) {
          const index = random.int(KEYS);
          const found = await tree.get(keyOf(index));
          expect(found?.inlineValue).toEqual(valueAt(index));
        }
        // Retired pages reach the pool on a later turn of the event loop (PageStore.recycleRetired).
        await new Promise((resolve) => setImmediate(resolve));
        if (batch.length < BATCH) break;
      }
      expect(seen).toEqual(
        Array.from({ length: KEYS }, (_, index) => new TextDecoder().decode(keyOf(index))),
      );
    }
    const stats = store.poolStats();
    expect(stats.recycled).toBeGreaterThan(100);
    expect(stats.reused).toBeGreaterThan(100);
    await store.close();
  });
});
