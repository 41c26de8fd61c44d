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
import type { Lsn, PageId } from '../../util/ids.js';
import type { ValueType } from '../value-type.js';

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
}

export interface LeafNode extends NodeBase {
  readonly kind: 'leaf';
  entries: LeafEntry[];
}

export interface InternalNode extends NodeBase {
  readonly kind: 'internal';
  /** Separator keys; keys.length === children.length - 1. */
  keys: Uint8Array[];
  children: PageId[];
}

export type BtreeNode = LeafNode | InternalNode;
