/**
 * Changes to single nodes that keep `usedBytes` exact: inserting and removing leaf entries and internal
 * keys, and splitting or evenly re-dividing a run of entries by encoded size. The tree (btree.ts)
 * decides when to call them; these functions only keep each node internally consistent.
 */
import { assert, verify, verifyEnabled } from '../../util/assert.js';
import { compareBytes } from '../../util/bytes.js';
import type { PageId } from '../../util/ids.js';
import { KeyHeads, runHigh, runLow } from './key-heads.js';
import type { InternalNode, LeafEntry, LeafNode } from './node.js';
import { internalEntryBytes, leafEntryBytes } from './node-format.js';
import { type PackedLeaf, packedLowerBound } from './packed-leaf.js';

// --- reading a leaf, packed or not ------------------------------------------------------------------

/** Entries in the leaf. */
export function leafCount(leaf: LeafNode): number {
  return leaf.entries !== undefined ? leaf.entries.length : (leaf.packed as PackedLeaf).count;
}

/** Entry `index` of the leaf (built from the page when the leaf is packed). */
export function leafEntryAt(leaf: LeafNode, index: number): LeafEntry | undefined {
  if (leaf.entries !== undefined) return leaf.entries[index];
  const packed = leaf.packed as PackedLeaf;
  return index >= 0 && index < packed.count ? packed.entryAt(index) : undefined;
}

/** Key `index` of the leaf, without building its entry. */
export function leafKeyAt(leaf: LeafNode, index: number): Uint8Array | undefined {
  if (leaf.entries !== undefined) return leaf.entries[index]?.key;
  const packed = leaf.packed as PackedLeaf;
  return index >= 0 && index < packed.count ? packed.keyAt(index) : undefined;
}

/** The leaf's entry for `key`, or undefined; a packed leaf builds only that entry. */
export function leafFind(leaf: LeafNode, key: Uint8Array): LeafEntry | undefined {
  const index = leafLowerBound(leaf, key);
  if (leaf.entries !== undefined) {
    const entry = leaf.entries[index];
    return entry !== undefined && compareBytes(entry.key, key) === 0 ? entry : undefined;
  }
  const packed = leaf.packed as PackedLeaf;
  return index < packed.count && packed.compareKeyAt(index, key) === 0 ? packed.entryAt(index) : undefined;
}

/** A fresh array of the leaf's entries, for a copy that will change. */
export function leafEntriesCopy(leaf: LeafNode): LeafEntry[] {
  return leaf.entries !== undefined ? [...leaf.entries] : (leaf.packed as PackedLeaf).ownedEntries();
}

/** The entries of a leaf that holds them as objects: every dirty leaf does. */
export function entriesOf(leaf: LeafNode): LeafEntry[] {
  assert(leaf.entries !== undefined, `leaf ${leaf.pageId} is packed: copy it (PageStore.writable) first`);
  return leaf.entries;
}

/** Index of the first entry whose key is >= `key` (entries.length when none is). */
export function lowerBound(
  keys: readonly { key: Uint8Array }[] | readonly Uint8Array[],
  key: Uint8Array,
): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const item = keys[middle] as { key: Uint8Array } | Uint8Array;
    const itemKey = item instanceof Uint8Array ? item : item.key;
    if (compareBytes(itemKey, key) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** A clean node's key heads, built on first use; none for a dirty node, whose keys may still change. */
function internalHeads(node: InternalNode): KeyHeads | undefined {
  if (node.dirty) return undefined;
  if (node.heads === undefined)
    node.heads = KeyHeads.build(node.keys.length, (i) => node.keys[i] as Uint8Array);
  return node.heads;
}

function leafHeads(leaf: LeafNode): KeyHeads | undefined {
  if (leaf.dirty) return undefined;
  if (leaf.heads === undefined) {
    leaf.heads =
      leaf.packed !== undefined
        ? leaf.packed.buildHeads()
        : KeyHeads.build(leafCount(leaf), (i) => leafKeyAt(leaf, i) as Uint8Array);
  }
  return leaf.heads;
}

/** The child of an internal node that covers `key`: child i holds keys[i-1] <= k < keys[i]. */
export function childIndexFor(node: InternalNode, key: Uint8Array): number {
  const heads = internalHeads(node);
  let low = 0;
  let high = node.keys.length;
  if (heads !== undefined) {
    const run = heads.candidates(key);
    low = runLow(run);
    high = runHigh(run);
  }
  // The run [low, high) has the heads equal to key's: below it every key is smaller, from high on larger.
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareBytes(node.keys[middle] as Uint8Array, key) <= 0) low = middle + 1;
    else high = middle;
  }
  if (verifyEnabled && heads !== undefined) {
    verify(() => (low === plainChildIndexFor(node.keys, key) ? undefined : 'key heads disagree (internal)'));
  }
  return low;
}

function plainChildIndexFor(keys: readonly Uint8Array[], key: Uint8Array): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareBytes(keys[middle] as Uint8Array, key) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Index of the first entry of `leaf` whose key is >= `key` (entries.length when none is). */
export function leafLowerBound(leaf: LeafNode, key: Uint8Array): number {
  const { entries, packed } = leaf;
  const heads = leafHeads(leaf);
  if (heads === undefined) {
    // A dirty leaf, or an empty one (no heads to build).
    return entries !== undefined ? lowerBound(entries, key) : packedLowerBound(packed as PackedLeaf, key);
  }
  const run = heads.candidates(key);
  let low = runLow(run);
  let high = runHigh(run);
  while (low < high) {
    const middle = (low + high) >>> 1;
    const order =
      entries !== undefined
        ? compareBytes((entries[middle] as LeafEntry).key, key)
        : (packed as PackedLeaf).compareKeyAt(middle, key);
    if (order < 0) low = middle + 1;
    else high = middle;
  }
  if (verifyEnabled) {
    verify(() => {
      const plain =
        entries !== undefined ? lowerBound(entries, key) : packedLowerBound(packed as PackedLeaf, key);
      return low === plain ? undefined : 'key heads disagree (leaf)';
    });
  }
  return low;
}

/** Inserts or replaces the entry for `entry.key`; returns the entry it replaced, if any. */
export function upsertLeafEntry(leaf: LeafNode, entry: LeafEntry): LeafEntry | undefined {
  assert(leaf.dirty, 'changing a clean leaf');
  const entries = entriesOf(leaf);
  const index = lowerBound(entries, entry.key);
  const existing = entries[index];
  if (existing !== undefined && compareBytes(existing.key, entry.key) === 0) {
    entries[index] = entry;
    leaf.usedBytes += leafEntryBytes(entry) - leafEntryBytes(existing);
    return existing;
  }
  entries.splice(index, 0, entry);
  leaf.usedBytes += leafEntryBytes(entry);
  return undefined;
}

/** Removes the entry for `key`; returns it, or undefined when the leaf has no such key. */
export function removeLeafEntry(leaf: LeafNode, key: Uint8Array): LeafEntry | undefined {
  assert(leaf.dirty, 'changing a clean leaf');
  const entries = entriesOf(leaf);
  const index = lowerBound(entries, key);
  const existing = entries[index];
  if (existing === undefined || compareBytes(existing.key, key) !== 0) return undefined;
  entries.splice(index, 1);
  leaf.usedBytes -= leafEntryBytes(existing);
  return existing;
}

/** Inserts separator `key` with `rightChild` just after child `childIndex`. */
export function insertSeparator(
  node: InternalNode,
  childIndex: number,
  key: Uint8Array,
  rightChild: PageId,
): void {
  assert(node.dirty, 'changing a clean internal node');
  node.keys.splice(childIndex, 0, key);
  node.children.splice(childIndex + 1, 0, rightChild);
  node.usedBytes += internalEntryBytes(key);
}

/** Removes separator `keyIndex` and the child to its right. */
export function removeSeparator(node: InternalNode, keyIndex: number): void {
  assert(node.dirty, 'changing a clean internal node');
  const key = node.keys[keyIndex];
  assert(key !== undefined, 'separator index out of range');
  node.keys.splice(keyIndex, 1);
  node.children.splice(keyIndex + 1, 1);
  node.usedBytes -= internalEntryBytes(key);
}

/** Replaces separator `keyIndex`, keeping the children. */
export function replaceSeparator(node: InternalNode, keyIndex: number, key: Uint8Array): void {
  assert(node.dirty, 'changing a clean internal node');
  const old = node.keys[keyIndex];
  assert(old !== undefined, 'separator index out of range');
  node.keys[keyIndex] = key;
  node.usedBytes += internalEntryBytes(key) - internalEntryBytes(old);
}

/**
 * The index at which to cut `sizes` into two non-empty runs of nearly equal total size: items before
 * it go left. With every item at most a quarter of a page and the total above a page, both runs end up
 * above three eighths of a page (half of the total, less half an item).
 */
export function balancedCut(sizes: readonly number[]): number {
  assert(sizes.length >= 2, 'cutting fewer than two items');
  const total = sizes.reduce((sum, size) => sum + size, 0);
  let left = 0;
  let cut = 0;
  while (cut < sizes.length - 1) {
    const size = sizes[cut] as number;
    // Take the next item if that leaves the left run closer to half of the total.
    if (Math.abs(left + size - total / 2) > Math.abs(left - total / 2) && cut > 0) break;
    left += size;
    cut += 1;
  }
  return cut;
}

/** Where a change landed in a node, so a split can favour the pattern (sequential appends fill pages). */
export type ChangePosition = 'first' | 'last' | 'middle';

/**
 * Like `balancedCut`, but for a node that overflowed by a change at its first or last entry: the side
 * away from the change keeps as much as it can and the side with the change gets just over `minBytes`
 * (a quarter page). Sequential inserts then leave pages about three quarters full instead of half.
 */
export function skewedCut(sizes: readonly number[], minBytes: number, position: ChangePosition): number {
  if (position === 'middle') return balancedCut(sizes);
  assert(sizes.length >= 2, 'cutting fewer than two items');
  let runBytes = 0;
  if (position === 'last') {
    let cut = sizes.length;
    while (cut > 1 && runBytes < minBytes) runBytes += sizes[--cut] as number;
    return cut;
  }
  let cut = 0;
  while (cut < sizes.length - 1 && runBytes < minBytes) runBytes += sizes[cut++] as number;
  return cut;
}
