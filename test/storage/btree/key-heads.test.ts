// Key heads (the search index of clean nodes) against the plain binary search over a sorted array:
// keys with long shared prefixes, zero bytes, proper prefixes of each other, and probes outside the
// node's prefix on both sides.
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { internalNode, leafNode, makeLeafEntry, packedLeafNode } from '../../../src/storage/btree/node.js';
import { encodeNode, leafNodeUsedBytes } from '../../../src/storage/btree/node-format.js';
import { childIndexFor, leafLowerBound } from '../../../src/storage/btree/node-ops.js';
import { PackedLeaf } from '../../../src/storage/btree/packed-leaf.js';
import { lsn, pageId } from '../../../src/util/ids.js';
import { testSeed } from '../../../src/util/random.js';

/** Bytes from a tiny alphabet with zeros, so keys share prefixes and tie on heads often. */
const keyArb = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 10 }).map((bytes) => bytes.map((byte) => byte % 3)),
  // Bytes at both ends of the range, so heads cross the int32 sign bit.
  fc
    .uint8Array({ minLength: 1, maxLength: 8 })
    .map((bytes) => bytes.map((byte) => [0, 1, 0x7f, 0x80, 0xfe, 0xff][byte % 6] as number)),
  fc
    .tuple(fc.constantFrom('user:', 'user:0000', ''), fc.uint8Array({ minLength: 0, maxLength: 6 }))
    .map(([prefix, tail]) => new Uint8Array([...Buffer.from(prefix), ...tail.map((byte) => byte % 4)]))
    .filter((bytes) => bytes.byteLength > 0),
);

function sortedUnique(keys: Uint8Array[]): Uint8Array[] {
  const sorted = [...keys].sort(Buffer.compare);
  return sorted.filter(
    (key, index) => index === 0 || Buffer.compare(sorted[index - 1] as Uint8Array, key) !== 0,
  );
}

/** First index whose key is >= probe (leaf) or > probe (internal), by a linear scan. */
function expected(keys: Uint8Array[], probe: Uint8Array, strict: boolean): number {
  const index = keys.findIndex((key) =>
    strict ? Buffer.compare(key, probe) > 0 : Buffer.compare(key, probe) >= 0,
  );
  return index === -1 ? keys.length : index;
}

describe('key heads', () => {
  it('find the same leaf position and child as a plain search, for keys and probes of every shape', () => {
    const seed = testSeed();
    console.log(`key heads: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    fc.assert(
      fc.property(
        fc.array(keyArb, { minLength: 1, maxLength: 60 }),
        fc.array(keyArb, { maxLength: 30 }),
        (raw, probes) => {
          const keys = sortedUnique(raw);
          const entries = keys.map((key) =>
            makeLeafEntry(key, 'bytes', false, new Uint8Array(1), undefined, 0, lsn(1)),
          );
          const clean = leafNode(pageId(3), lsn(1), false, 0, entries);
          const dirty = leafNode(pageId(4), lsn(1), true, 0, entries);
          const children = Array.from({ length: keys.length + 1 }, (_, index) => pageId(10 + index));
          const internal = internalNode(pageId(5), lsn(1), false, 0, keys, children);
          // A packed leaf builds its heads from the page bytes in place (KeyHeads.buildInPlace).
          const usedBytes = leafNodeUsedBytes(entries);
          const page = encodeNode(leafNode(pageId(6), lsn(1), true, usedBytes, entries), 4096);
          const packed = packedLeafNode(pageId(6), lsn(1), usedBytes, new PackedLeaf(page));
          for (const probe of [...probes, ...keys]) {
            expect(leafLowerBound(clean, probe)).toBe(expected(keys, probe, false));
            expect(leafLowerBound(packed, probe)).toBe(expected(keys, probe, false));
            expect(leafLowerBound(dirty, probe)).toBe(expected(keys, probe, false));
            expect(childIndexFor(internal, probe)).toBe(expected(keys, probe, true));
          }
          expect(clean.heads).toBeDefined();
          expect(packed.heads).toBeDefined();
          expect(dirty.heads).toBeUndefined(); // a dirty node may still change: it never gets heads
        },
      ),
      { seed, numRuns: 2000 },
    );
  });

  it('order a key that ends inside the shared prefix before every key, and one above it after all', () => {
    const keys = ['user:0001', 'user:0002', 'user:0003'].map((text) => new Uint8Array(Buffer.from(text)));
    const entries = keys.map((key) =>
      makeLeafEntry(key, 'bytes', false, new Uint8Array(1), undefined, 0, lsn(1)),
    );
    const leaf = leafNode(pageId(3), lsn(1), false, 0, entries);
    expect(leafLowerBound(leaf, new Uint8Array(Buffer.from('user:')))).toBe(0);
    expect(leafLowerBound(leaf, new Uint8Array(Buffer.from('user:0002')))).toBe(1);
    expect(leafLowerBound(leaf, new Uint8Array(Buffer.from('user:00020')))).toBe(2);
    expect(leafLowerBound(leaf, new Uint8Array(Buffer.from('usez')))).toBe(3);
    expect(leafLowerBound(leaf, new Uint8Array(Buffer.from('a')))).toBe(0);
  });
});
