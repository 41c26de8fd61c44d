// Proves that clean leaves are kept packed, that a cursor walking them leaves them packed (no entry
// objects kept, nothing more charged to the cache), and that packed leaves read and change as any other.
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../../src/io/sim-file-system.js';
import { Btree } from '../../../src/storage/btree/btree.js';
import { type LeafEntry, type LeafNode, makeLeafEntry } from '../../../src/storage/btree/node.js';
import { PageStore } from '../../../src/storage/btree/page-store.js';
import { utf8 } from '../../../src/util/bytes.js';
import { lsn, type PageId } from '../../../src/util/ids.js';

const DIR = '/db';
const OPTIONS = { pageSizeBytes: 4096, databaseUuid: new Uint8Array(16).fill(0x5c), cacheBytes: 8 << 20 };
const KEYS = 2_000;

function keyOf(index: number): Uint8Array {
  return utf8(`key-${String(index).padStart(6, '0')}`);
}

/** Every leaf of the tree, in key order, with nothing loaded from disk (all are resident here). */
function leaves(store: PageStore): LeafNode[] {
  const found: LeafNode[] = [];
  const visit = (id: PageId): void => {
    const node = store.resident(id);
    if (node === undefined) throw new Error(`page ${id} is not resident`);
    if (node.kind === 'leaf') found.push(node);
    else for (const child of node.children) visit(child);
  };
  visit(store.rootId);
  return found;
}

async function walk(tree: Btree): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of tree.cursor()) keys.push(new TextDecoder().decode(entry.key));
  return keys;
}

describe('packed leaves and the cache', () => {
  it('a checkpoint packs the leaves; a cursor leaves them packed and charges nothing more', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    await fs.mkdir(DIR);
    const store = await PageStore.create(fs, DIR, OPTIONS);
    const tree = new Btree(store);
    for (let index = 0; index < KEYS; index++) {
      const entry: LeafEntry = makeLeafEntry(
        keyOf(index),
        'bytes',
        false,
        new Uint8Array(40).fill(index % 251),
        undefined,
        0,
        lsn(index + 1),
      );
      await tree.put(entry);
    }
    await store.checkpoint(lsn(KEYS));
    const packed = leaves(store);
    expect(packed.length).toBeGreaterThan(10);
    for (const leaf of packed) expect(leaf.entries).toBeUndefined();
    const expected = Array.from({ length: KEYS }, (_, index) => new TextDecoder().decode(keyOf(index)));
    const cachedBefore = store.cache.accountedBytes;

    expect(await walk(tree)).toEqual(expected);
    expect(leaves(store)).toEqual(packed);
    expect(leaves(store).every((leaf) => leaf.entries === undefined)).toBe(true);
    expect(store.cache.accountedBytes).toBe(cachedBefore);

    // A packed leaf reads and changes like any other.
    const found = await tree.get(keyOf(1234));
    expect(found?.inlineValue).toEqual(new Uint8Array(40).fill(1234 % 251));
    await tree.put(makeLeafEntry(keyOf(1234), 'bytes', true, undefined, undefined, 0, lsn(KEYS + 1)));
    expect((await tree.get(keyOf(1234)))?.tombstone).toBe(true);
    expect(await walk(tree)).toEqual(expected);
    await store.close();
  });
});
