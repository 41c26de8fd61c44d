/**
 * In-memory B+Tree nodes. A node is decoded from its page when loaded and encoded back when a
 * checkpoint freezes it (node-format.ts owns the bytes); in between, operations work on these objects.
 *
 * Invariants: keys within a node are strictly ascending (bytewise); an internal node has exactly one
 * more child than keys, and child i holds the keys k with keys[i-1] <= k < keys[i]; `usedBytes` is always
 * the encoded size of the node's slots and cells (node-format.ts computes it), so splits and merges can
 * be decided without encoding. Leaves have no sibling links: under copy-on-write a changed leaf would
 * force its neighbours to be copied too.
 */
import { copyBytes } from '../../util/byte-slab.js';
import type { Lsn, PageId } from '../../util/ids.js';
import type { ValueType } from '../value-type.js';
import type { KeyHeads } from './key-heads.js';
import type { PackedLeaf } from './packed-leaf.js';

export interface ValueLogPointer {
  readonly segment: number;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

/** One key of a leaf. A tombstone keeps its key (and revision) until physically removed. */
export interface LeafEntry {
  readonly key: Uint8Array;
  readonly valueType: ValueType;
  readonly tombstone: boolean;
  /** Set for a value stored inline; a tombstone has neither this nor `pointer`. */
  readonly inlineValue?: Uint8Array;
  /** Set for a value stored in the value log. */
  readonly pointer?: ValueLogPointer;
  /** Absolute wall-clock Unix milliseconds; 0 means no expiry. */
  readonly expiresAtMs: number;
  /** The LSN that last wrote this key. */
  readonly revision: Lsn;
}

/**
 * Builds a LeafEntry with every field present, in one order, so all entries share one hidden class:
 * the tree's hot loops (binary search, lookups) then stay monomorphic. Every entry made outside tests
 * comes from here.
 */
export function makeLeafEntry(
  key: Uint8Array,
  valueType: ValueType,
  tombstone: boolean,
  inlineValue: Uint8Array | undefined,
  pointer: ValueLogPointer | undefined,
  expiresAtMs: number,
  revision: Lsn,
): LeafEntry {
  return { key, valueType, tombstone, inlineValue, pointer, expiresAtMs, revision };
}

/**
 * `entry` with its key and inline value copied. An entry read from a clean leaf views that leaf's page,
 * whose buffer is recycled once the leaf is evicted (page-buffer-pool.ts): whoever keeps an entry past
 * a synchronous step (across an await or a yield) keeps this copy.
 */
export function ownedEntry(entry: LeafEntry): LeafEntry {
  return makeLeafEntry(
    copyBytes(entry.key),
    entry.valueType,
    entry.tombstone,
    entry.inlineValue === undefined ? undefined : copyBytes(entry.inlineValue),
    entry.pointer,
    entry.expiresAtMs,
    entry.revision,
  );
}

interface NodeBase {
  /** The page this node is (or will be) stored at. */
  pageId: PageId;
  /** Newest LSN of any change in the node: a checkpoint may write it only once the WAL is durable to here. */
  pageLsn: Lsn;
  /**
   * True while the node's page id belongs to no image: it was allocated after the last checkpoint froze,
   * so the node may change in place. A clean node's page may be reachable from a superblock or from an
   * image being written, so changing it first moves it to a new page id (copy-on-write).
   */
  dirty: boolean;
  /** Encoded size of the node's slot array and cells (not the fixed headers). */
  usedBytes: number;
  /** Search index of a clean node, built on its first search (key-heads.ts); never set while dirty. */
  heads?: KeyHeads | undefined;
}

/**
 * A leaf holds its entries either as objects (`entries`: always when dirty) or packed in its page bytes
 * (`packed`: a clean leaf read from disk or frozen by a checkpoint, see packed-leaf.ts); exactly one
 * of the two is set. Read entries through node-ops.ts (leafCount, leafEntryAt, leafFind), which
 * handle both.
 */
export interface LeafNode extends NodeBase {
  readonly kind: 'leaf';
  entries: LeafEntry[] | undefined;
  packed: PackedLeaf | undefined;
}

export interface InternalNode extends NodeBase {
  readonly kind: 'internal';
  /** Separator keys; keys.length === children.length - 1. */
  keys: Uint8Array[];
  children: PageId[];
}

export type BtreeNode = LeafNode | InternalNode;

/** A leaf node with every field present, in one order (see makeLeafEntry for why). */
export function leafNode(
  pageId: PageId,
  pageLsn: Lsn,
  dirty: boolean,
  usedBytes: number,
  entries: LeafEntry[],
): LeafNode {
  return { kind: 'leaf', pageId, pageLsn, dirty, usedBytes, heads: undefined, entries, packed: undefined };
}

/** A clean leaf kept as its page bytes. */
export function packedLeafNode(
  pageId: PageId,
  pageLsn: Lsn,
  usedBytes: number,
  packed: PackedLeaf,
): LeafNode {
  return {
    kind: 'leaf',
    pageId,
    pageLsn,
    dirty: false,
    usedBytes,
    heads: undefined,
    entries: undefined,
    packed,
  };
}

/** An internal node with every field present, in one order. */
export function internalNode(
  pageId: PageId,
  pageLsn: Lsn,
  dirty: boolean,
  usedBytes: number,
  keys: Uint8Array[],
  children: PageId[],
): InternalNode {
  return { kind: 'internal', pageId, pageLsn, dirty, usedBytes, heads: undefined, keys, children };
}
