/**
 * The B+Tree: point lookups, inserts and overwrites, physical removal, and range cursors, over the
 * copy-on-write page store (page-store.ts).
 *
 * Concurrency model: every read and change of the structure runs synchronously over nodes already in
 * memory. When a needed node is not, the attempt stops before changing anything (`NotResident`), the
 * node is loaded and pinned, and the attempt starts again from the root. So no change ever interleaves
 * with another at an await, and no reader ever sees half of one.
 *
 * Invariants kept by every change: keys ascend within and across nodes; separators bound their
 * children; all leaves are at the same depth; every non-root node is at least a quarter full (by encoded
 * bytes); every entry is at most a quarter of a page, so these hold after any split or merge.
 */
import { assert } from '../../util/assert.js';
import { type Lsn, PAGE_ID_NONE, type PageId } from '../../util/ids.js';
import { BtreeCursor } from './btree-cursor.js';
import type { KeyRange } from './key-range.js';
import { type BtreeNode, type InternalNode, type LeafEntry, type LeafNode, ownedEntry } from './node.js';
import { leafEntryBytes, nodeEntryBytesMax, nodeUsableBytes } from './node-format.js';
import { childIndexFor, entriesOf, leafFind, removeLeafEntry, upsertLeafEntry } from './node-ops.js';
import type { PageStore } from './page-store.js';
import { type PathStep, Rebalancer } from './rebalance.js';

/** What `getResident` and `putResident` return when a node they need is not in memory. */
export const NOT_RESIDENT: unique symbol = Symbol('not resident');

/** Thrown inside a synchronous attempt when it needs a node that is not in memory. */
export class NotResident {
  constructor(readonly pageId: PageId) {}
}

export interface CursorOptions extends KeyRange {
  readonly reverse?: boolean;
}

export class Btree {
  readonly store: PageStore;
  readonly entryBytesMax: number;
  private readonly rebalancer: Rebalancer;

  constructor(store: PageStore) {
    this.store = store;
    this.entryBytesMax = nodeEntryBytesMax(store.pageSizeBytes);
    this.rebalancer = new Rebalancer(store, nodeUsableBytes(store.pageSizeBytes));
  }

  /** The node at `id` if in memory; otherwise stops the current attempt so the caller can load it. */
  node(id: PageId): BtreeNode {
    const node = this.store.resident(id);
    if (node === undefined) throw new NotResident(id);
    return node;
  }

  /**
   * Runs a synchronous attempt until it completes, loading (and pinning until the end) whatever node
   * it lacked. Attempts must not change anything before their last `node()` call.
   */
  async run<T>(attempt: () => T): Promise<T> {
    const pins: PageId[] = [];
    try {
      for (;;) {
        try {
          return attempt();
        } catch (error) {
          if (!(error instanceof NotResident)) throw error;
          await this.store.loadPinned(error.pageId);
          pins.push(error.pageId);
        }
      }
    } finally {
      for (const id of pins) this.store.unpin(id);
    }
  }

  async get(key: Uint8Array): Promise<LeafEntry | undefined> {
    // The common case (the path is in memory) needs no retry loop, pins or extra awaits.
    const entry = this.getResident(key);
    if (entry !== NOT_RESIDENT) return entry;
    // Copied inside the attempt, while the loaded nodes are still pinned: the result reaches the caller
    // only some microtasks later (see PageStore.recycleRetired, and ownedEntry).
    return this.run(() => {
      const found = this.lookup(key);
      return found === undefined ? undefined : ownedEntry(found);
    });
  }

  /**
   * The synchronous fast path of `get`: the entry (or undefined) when the whole path is in memory, or
   * NOT_RESIDENT when a node must be loaded first (then call `get`).
   */
  getResident(key: Uint8Array): LeafEntry | undefined | typeof NOT_RESIDENT {
    try {
      return this.lookup(key);
    } catch (error) {
      if (error instanceof NotResident) return NOT_RESIDENT;
      throw error;
    }
  }

  private lookup(key: Uint8Array): LeafEntry | undefined {
    const leaf = this.leafFor(key);
    return leaf === undefined ? undefined : leafFind(leaf, key);
  }

  /**
   * Inserts or overwrites `entry` (a value or a tombstone); `entry.revision` is the change's LSN.
   * Resolves with the entry it replaced, if any (the value log accounts for the pointer it held).
   */
  async put(entry: LeafEntry): Promise<LeafEntry | undefined> {
    const replaced = this.putResident(entry);
    if (replaced !== NOT_RESIDENT) return replaced;
    return this.run(() => this.putNow(entry));
  }

  /**
   * The synchronous fast path of `put`: done (returning the replaced entry) when every node it needs
   * is in memory, or NOT_RESIDENT having changed nothing (then call `put`).
   */
  putResident(entry: LeafEntry): LeafEntry | undefined | typeof NOT_RESIDENT {
    try {
      return this.putNow(entry);
    } catch (error) {
      if (error instanceof NotResident) return NOT_RESIDENT;
      throw error;
    }
  }

  /** `put`'s work; throws NotResident before changing anything when a node must be loaded. */
  private putNow(entry: LeafEntry): LeafEntry | undefined {
    const entryBytes = leafEntryBytes(entry);
    assert(entryBytes <= this.entryBytesMax, `entry of ${entryBytes} bytes exceeds ${this.entryBytesMax}`);
    const path = this.descend(entry.key);
    if (path.leaf === undefined) {
      this.plantRoot(entry);
      return undefined;
    }
    const replaced = leafFind(path.leaf, entry.key);
    const usedAfter =
      path.leaf.usedBytes + entryBytes - (replaced === undefined ? 0 : leafEntryBytes(replaced));
    if (this.rebalancer.mayUnderflow(usedAfter)) this.requireSiblings(path.steps);
    const { steps, leaf } = this.rebalancer.makeWritable(path.steps, path.leaf, entry.revision);
    upsertLeafEntry(leaf, entry);
    const entries = entriesOf(leaf);
    const last = entries[entries.length - 1] === entry;
    const position = last ? 'last' : entries[0] === entry ? 'first' : 'middle';
    this.rebalancer.fixUp(steps, leaf, entry.revision, position);
    this.store.settle();
    return replaced;
  }

  /** Physically removes `key` (cleanup, not a tombstone); returns whether it was there. */
  async remove(key: Uint8Array, changeLsn: Lsn): Promise<boolean> {
    return this.run(() => {
      const path = this.descend(key);
      if (path.leaf === undefined) return false;
      const existing = leafFind(path.leaf, key);
      if (existing === undefined) return false;
      if (this.rebalancer.mayUnderflow(path.leaf.usedBytes - leafEntryBytes(existing))) {
        this.requireSiblings(path.steps);
      }
      const { steps, leaf } = this.rebalancer.makeWritable(path.steps, path.leaf, changeLsn);
      removeLeafEntry(leaf, key);
      this.rebalancer.fixUp(steps, leaf, changeLsn);
      this.store.settle();
      return true;
    });
  }

  /** A cursor over `[start, end)` in key order (or reverse order); it yields tombstones too. */
  cursor(options: CursorOptions = {}): BtreeCursor {
    return new BtreeCursor(this, options);
  }

  /** The leaf that would hold `key`, without recording the path (the read path allocates nothing). */
  private leafFor(key: Uint8Array): LeafNode | undefined {
    if (this.store.rootId === PAGE_ID_NONE) return undefined;
    let node = this.node(this.store.rootId);
    while (node.kind === 'internal') node = this.node(node.children[childIndexFor(node, key)] as PageId);
    return node;
  }

  /** The path from the root to the leaf that would hold `key`. */
  descend(key: Uint8Array): { steps: PathStep[]; leaf: LeafNode | undefined } {
    const steps: PathStep[] = [];
    if (this.store.rootId === PAGE_ID_NONE) return { steps, leaf: undefined };
    let node = this.node(this.store.rootId);
    while (node.kind === 'internal') {
      const index = childIndexFor(node, key);
      steps.push({ node, index });
      node = this.node(node.children[index] as PageId);
    }
    return { steps, leaf: node };
  }

  /** Every node a rebalance may touch must be in memory first: one sibling per level. */
  private requireSiblings(steps: readonly PathStep[]): void {
    for (const step of steps) {
      const siblingIndex = step.index > 0 ? step.index - 1 : step.index + 1;
      const sibling = step.node.children[siblingIndex];
      if (sibling !== undefined) this.node(sibling);
    }
  }

  private plantRoot(entry: LeafEntry): void {
    const leaf = this.store.newLeaf(entry.revision);
    upsertLeafEntry(leaf, entry);
    this.store.setRoot(leaf.pageId);
    this.store.settle();
  }

  /** Depth of the tree (0 when empty); loads nodes along the leftmost path. */
  async depth(): Promise<number> {
    return this.run(() => {
      if (this.store.rootId === PAGE_ID_NONE) return 0;
      let depth = 1;
      let node: BtreeNode = this.node(this.store.rootId);
      while (node.kind === 'internal') {
        node = this.node((node as InternalNode).children[0] as PageId);
        depth += 1;
      }
      return depth;
    });
  }
}
