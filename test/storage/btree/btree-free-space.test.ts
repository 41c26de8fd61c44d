// Proves that freed pages are reused, so data.pages levels off under steady overwrites, and never before both superblocks have moved past them.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../../src/io/sim-file-system.js';
import { readSuperblockSlot, SUPERBLOCK_FILES } from '../../../src/meta/superblock.js';
import { Btree } from '../../../src/storage/btree/btree.js';
import type { LeafEntry } from '../../../src/storage/btree/node.js';
import { DATA_PAGES_FILE, PageStore } from '../../../src/storage/btree/page-store.js';
import { validateBothImages, validateImage } from '../../../src/storage/btree/validate.js';
import { toHex, utf8 } from '../../../src/util/bytes.js';
import { lsn } from '../../../src/util/ids.js';
import { SeededRandom, testSeed } from '../../../src/util/random.js';
import { attachCowChecker } from '../../helpers/cow-checker.js';

const DIR = '/db';
const PAGE_SIZE_BYTES = 4096;
const OPTIONS = { pageSizeBytes: PAGE_SIZE_BYTES, databaseUuid: new Uint8Array(16).fill(0xf5) };
const KEY_COUNT = Number(process.env.JUBILANT_BTREE_FREE_KEYS ?? 10_000);
const CYCLES = Number(process.env.JUBILANT_BTREE_FREE_CYCLES ?? 40);

function keyOf(index: number): Uint8Array {
  return utf8(`key-${index.toString().padStart(6, '0')}`);
}

/**
 * A value of a few hundred bytes: its size is the key's own, its bytes change every cycle. The load is
 * steady, so the tree keeps its shape and any growth of the file would be free space not reused.
 */
function cycleValue(index: number, cycle: number): Uint8Array {
  const value = new Uint8Array(200 + ((index * 7919) % 200)).fill(cycle & 0xff);
  new DataView(value.buffer).setUint32(0, index);
  return value;
}

function entryOf(index: number, cycle: number, revision: number): LeafEntry {
  const inlineValue = cycleValue(index, cycle);
  return {
    key: keyOf(index),
    valueType: 'bytes',
    tombstone: false,
    inlineValue,
    expiresAtMs: 0,
    revision: lsn(revision),
  };
}

async function fileSizeBytes(fs: SimFileSystem): Promise<number> {
  const file = await fs.open(join(DIR, DATA_PAGES_FILE), { readOnly: true });
  try {
    return await file.sizeBytes();
  } finally {
    await file.close();
  }
}

async function contentsOf(tree: Btree): Promise<string[]> {
  const lines: string[] = [];
  for await (const entry of tree.cursor())
    lines.push(`${toHex(entry.key)}=${toHex(entry.inlineValue ?? new Uint8Array())}`);
  return lines;
}

function describeModel(model: ReadonlyMap<number, Uint8Array>): string[] {
  return [...model.keys()]
    .sort((left, right) => left - right)
    .map((index) => `${toHex(keyOf(index))}=${toHex(model.get(index) as Uint8Array)}`);
}

/** A fresh file system holding the durable bytes of the database: what a power loss now would leave. */
async function durableCopy(fs: SimFileSystem, seed: number): Promise<SimFileSystem> {
  const copy = new SimFileSystem({ seed });
  await copy.mkdir(DIR);
  for (const name of [DATA_PAGES_FILE, SUPERBLOCK_FILES.A, SUPERBLOCK_FILES.B]) {
    const bytes = fs.durableSnapshot(join(DIR, name));
    if (bytes === undefined) throw new Error(`${name} has no durable bytes`);
    const file = await copy.open(join(DIR, name), { create: true });
    await file.write(0, bytes);
    await file.sync();
    await file.close();
  }
  await copy.syncDirectory(DIR);
  return copy;
}

describe('B+Tree free space', () => {
  it(`data.pages levels off when the same ${KEY_COUNT} keys are overwritten for ${CYCLES} checkpoint cycles`, async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const checker = attachCowChecker(fs, DIR, OPTIONS);
    await fs.mkdir(DIR);
    const store = await PageStore.create(fs, DIR, OPTIONS);
    const tree = new Btree(store);
    const order = Array.from({ length: KEY_COUNT }, (_, index) => index);
    const sizes: number[] = [];
    const pageCounts: number[] = [];
    let pagesWrittenAfterHalf = 0;
    let revision = 1;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      for (const index of order) await tree.put(entryOf(index, cycle, revision++));
      const result = await store.checkpoint(lsn(revision - 1));
      if (cycle > CYCLES / 2) pagesWrittenAfterHalf += result.pagesWritten;
      sizes.push(await fileSizeBytes(fs));
      pageCounts.push(store.pageCount);
    }
    const half = Math.floor(CYCLES / 2);
    const shown = sizes
      .map((size, index) => `${index + 1}:${size}`)
      .filter((_, index) => (index + 1) % 5 === 0 || index === 0);
    console.log(
      `btree free space: data.pages bytes after cycle ${shown.join(' ')}; free ${JSON.stringify(store.freePageCounts)}`,
    );
    const sizeAtHalf = sizes[half - 1] as number;
    const sizeAtEnd = sizes[CYCLES - 1] as number;
    expect(sizeAtEnd - sizeAtHalf, 'growth from the middle cycle to the last').toBeLessThanOrEqual(
      2 * PAGE_SIZE_BYTES,
    );
    // In the second half every page id of the file was written several times over: the ids freed by
    // copy-on-write, persisted in the free list, were taken again.
    expect(pagesWrittenAfterHalf).toBeGreaterThan(3 * (pageCounts[CYCLES - 1] as number));
    const report = await validateBothImages(fs, DIR, OPTIONS);
    expect(report.errors).toEqual([]);
    expect(report.images.A?.stats.freeEntries ?? 0).toBeGreaterThan(0);
    const model = new Map(order.map((index) => [index, cycleValue(index, CYCLES)]));
    expect(await contentsOf(tree)).toEqual(describeModel(model));
    expect(checker.messages).toEqual([]);
  });

  it('a page freed by copy-on-write stays intact until both superblocks have moved past it', async () => {
    const seed = testSeed();
    console.log(`btree fallback: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const random = new SeededRandom(seed);
    const fs = new SimFileSystem({ seed });
    const checker = attachCowChecker(fs, DIR, OPTIONS);
    await fs.mkdir(DIR);
    const store = await PageStore.create(fs, DIR, OPTIONS);
    const tree = new Btree(store);
    const model = new Map<number, Uint8Array>();
    let previous: string[] = [];
    let revision = 1;
    for (let cycle = 1; cycle <= 10; cycle++) {
      // A random part of the keys changes each cycle, so some pages live across many generations
      // while others are freed and reused.
      for (let i = 0; i < 600; i++) {
        const index = random.int(1500);
        if (random.chance(0.2) && model.has(index)) {
          await tree.remove(keyOf(index), lsn(revision++));
          model.delete(index);
        } else {
          const entry = entryOf(index, cycle, revision++);
          await tree.put(entry);
          model.set(index, entry.inlineValue as Uint8Array);
        }
      }
      await store.checkpoint(lsn(revision - 1));
      const current = describeModel(model);
      if (cycle >= 2) await expectFallbackFinds(fs, seed + cycle, { newer: current, older: previous });
      previous = current;
    }
    expect(checker.messages).toEqual([]);
    await store.close();
  });
});

/** The durable files open to the newer image; with the newer superblock corrupted, to the older one, whole. */
async function expectFallbackFinds(
  fs: SimFileSystem,
  seed: number,
  expected: { newer: string[]; older: string[] },
): Promise<void> {
  const copy = await durableCopy(fs, seed);
  expect((await validateBothImages(copy, DIR, OPTIONS)).errors).toEqual([]);
  const a = await readSuperblockSlot(copy, DIR, 'A', OPTIONS.databaseUuid);
  const b = await readSuperblockSlot(copy, DIR, 'B', OPTIONS.databaseUuid);
  if (a.state !== 'valid' || b.state !== 'valid')
    throw new Error('both superblocks are valid after a checkpoint');
  const newerSlot = a.superblock.generation > b.superblock.generation ? 'A' : 'B';
  let store = await PageStore.open(copy, DIR, OPTIONS);
  expect(await contentsOf(new Btree(store))).toEqual(expected.newer);
  await store.close();
  copy.corruptAtRest(join(DIR, SUPERBLOCK_FILES[newerSlot]), 8, 3);
  store = await PageStore.open(copy, DIR, OPTIONS);
  expect(await contentsOf(new Btree(store)), 'the older image after falling back').toEqual(expected.older);
  await store.close();
  const report = await validateImage(copy, DIR, OPTIONS);
  expect(report.errors).toEqual([]);
  expect(report.stats.generation).toBe((newerSlot === 'A' ? b : a).superblock.generation);
}
