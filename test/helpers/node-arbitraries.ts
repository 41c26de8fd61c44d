// fast-check arbitraries for B+Tree nodes (node-format tests and the leaf page check): keys from a tiny
// alphabet (shared prefixes, collisions) up to the largest key, nodes filled up to their page.
import fc from 'fast-check';
import type { InternalNode, LeafEntry, LeafNode } from '../../src/storage/btree/node.js';
import {
  INLINE_VALUE_HEADER_BYTES,
  internalEntryBytes,
  internalNodeUsedBytes,
  LEAF_CELL_OVERHEAD_BYTES,
  leafEntryBytes,
  leafNodeUsedBytes,
  nodeEntryBytesMax,
  nodeUsableBytes,
  SLOT_BYTES,
} from '../../src/storage/btree/node-format.js';
import { keySizeMaxBytes } from '../../src/storage/pager/page-format.js';
import type { ValueType } from '../../src/storage/value-type.js';
import { compareBytes } from '../../src/util/bytes.js';
import { LSN_MAX, lsn, PAGE_ID_MAX, pageId } from '../../src/util/ids.js';
import { SeededRandom } from '../../src/util/random.js';

/** `value` as the 8 little-endian bytes of an int64 value. */
export function int64Bytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, value, true);
  return bytes;
}

/** Wide entries reach the largest key and value; narrow ones are small, so hundreds fill a page. */
export type Width = 'wide' | 'narrow';

export function keyArb(pageSizeBytes: number, width: Width): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ min: 0, max: 3, minLength: 1, maxLength: 6 }),
    width === 'wide'
      ? fc.uint8Array({ minLength: 1, maxLength: keySizeMaxBytes(pageSizeBytes), size: 'max' })
      : fc.uint8Array({ minLength: 1, maxLength: 24 }),
  );
}

export function valueArb(pageSizeBytes: number, width: Width): fc.Arbitrary<Uint8Array> {
  const short = fc.uint8Array({ maxLength: 16 });
  if (width === 'narrow') return short;
  return fc.oneof(short, fc.uint8Array({ maxLength: nodeEntryBytesMax(pageSizeBytes), size: 'max' }));
}

export function leafEntryArb(pageSizeBytes: number, width: Width): fc.Arbitrary<LeafEntry> {
  const entryMax = nodeEntryBytesMax(pageSizeBytes);
  return fc
    .record({
      key: keyArb(pageSizeBytes, width),
      valueType: fc.constantFrom<ValueType>('bytes', 'string', 'int64'),
      shape: fc.constantFrom('inline', 'pointer', 'tombstone'),
      value: valueArb(pageSizeBytes, width),
      pointer: fc.record({
        segment: fc.nat({ max: 0xffff_ffff }),
        offsetBytes: fc.maxSafeNat(),
        lengthBytes: fc.nat({ max: 0xffff_ffff }),
      }),
      expiresAtMs: fc.oneof(fc.constant(0), fc.maxSafeNat()),
      revision: fc.bigInt({ min: 0n, max: LSN_MAX }),
    })
    .map(({ key, valueType, shape, value, pointer, expiresAtMs, revision }): LeafEntry => {
      const base = { key, valueType, expiresAtMs, revision: lsn(revision) };
      if (shape === 'tombstone') return { ...base, tombstone: true };
      if (shape === 'pointer') return { ...base, tombstone: false, pointer };
      if (valueType === 'int64') {
        return { ...base, tombstone: false, inlineValue: int64Bytes(BigInt(expiresAtMs)) };
      }
      // Trim the value so the entry stays within nodeEntryBytesMax, as the tree guarantees.
      const room =
        entryMax - (SLOT_BYTES + LEAF_CELL_OVERHEAD_BYTES + INLINE_VALUE_HEADER_BYTES + key.byteLength);
      return { ...base, tombstone: false, inlineValue: value.slice(0, room) };
    });
}

/** A few wide items, or enough mostly narrow ones to fill the page. */
export function itemsArb<T>(
  pageSizeBytes: number,
  itemArb: (width: Width) => fc.Arbitrary<T>,
): fc.Arbitrary<T[]> {
  const manyMax = Math.ceil(nodeUsableBytes(pageSizeBytes) / 30);
  return fc.oneof(
    fc.array(itemArb('wide'), { maxLength: 12 }),
    fc.array(
      fc.oneof({ arbitrary: itemArb('narrow'), weight: 30 }, { arbitrary: itemArb('wide'), weight: 1 }),
      { maxLength: manyMax, size: 'max' },
    ),
  );
}

/** Sorts by key, drops duplicate keys, and keeps the longest prefix that fits the page. */
export function sortedFitting<T>(
  items: T[],
  keyOf: (item: T) => Uint8Array,
  bytesOf: (item: T) => number,
  usable: number,
): T[] {
  const sorted = [...items].sort((a, b) => compareBytes(keyOf(a), keyOf(b)));
  const kept: T[] = [];
  let usedBytes = 0;
  for (const item of sorted) {
    const last = kept[kept.length - 1];
    if (last !== undefined && compareBytes(keyOf(last), keyOf(item)) === 0) continue;
    if (usedBytes + bytesOf(item) > usable) break;
    usedBytes += bytesOf(item);
    kept.push(item);
  }
  return kept;
}

export const pageIdArb = fc.integer({ min: 1, max: PAGE_ID_MAX }).map(pageId);
export const lsnArb = fc.bigInt({ min: 0n, max: LSN_MAX }).map(lsn);

export function leafNodeArb(pageSizeBytes: number): fc.Arbitrary<LeafNode> {
  return fc
    .record({
      id: pageIdArb,
      pageLsn: lsnArb,
      entries: itemsArb(pageSizeBytes, (width) => leafEntryArb(pageSizeBytes, width)),
    })
    .map(({ id, pageLsn, entries }) => {
      const kept = sortedFitting(entries, (e) => e.key, leafEntryBytes, nodeUsableBytes(pageSizeBytes));
      return {
        kind: 'leaf',
        pageId: id,
        pageLsn,
        dirty: true,
        usedBytes: leafNodeUsedBytes(kept),
        entries: kept,
        packed: undefined,
      };
    });
}

export function internalNodeArb(pageSizeBytes: number): fc.Arbitrary<InternalNode> {
  return fc
    .record({
      id: pageIdArb,
      pageLsn: lsnArb,
      keys: itemsArb(pageSizeBytes, (width) => keyArb(pageSizeBytes, width)),
      childSeed: fc.nat(),
    })
    .map(({ id, pageLsn, keys, childSeed }) => {
      const kept = sortedFitting(keys, (k) => k, internalEntryBytes, nodeUsableBytes(pageSizeBytes));
      const random = new SeededRandom(childSeed);
      const children = Array.from({ length: kept.length + 1 }, () => {
        const child = random.range(1, PAGE_ID_MAX);
        return pageId(child === id ? (child % PAGE_ID_MAX) + 1 : child);
      });
      return {
        kind: 'internal',
        pageId: id,
        pageLsn,
        dirty: true,
        usedBytes: internalNodeUsedBytes(kept),
        keys: kept,
        children,
      };
    });
}
