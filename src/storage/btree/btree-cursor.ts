/**
 * A range cursor over the B+Tree, forward or reverse, over `[start, end)`. Leaves have no sibling
 * links, so the cursor keeps its path from the root and climbs it to reach the next leaf.
 *
 * Between two steps the tree may change (the cursor awaits page loads, and its caller awaits whatever
 * it likes). A saved path is trusted only while the page store's version is the one it was built at;
 * otherwise the cursor seeks again from the last key it returned, so it never skips or repeats a key
 * and always returns keys in strict order. Each step reads the tree as it is at that step.
 */
import { copyBytes } from '../../util/byte-slab.js';
import { compareBytes } from '../../util/bytes.js';
import { PAGE_ID_NONE, type PageId } from '../../util/ids.js';
import type { Btree, CursorOptions } from './btree.js';
import { type BtreeNode, type LeafEntry, type LeafNode, ownedEntry } from './node.js';
import { childIndexFor, leafCount, leafEntryAt, leafKeyAt, leafLowerBound } from './node-ops.js';
import type { PathStep } from './rebalance.js';

interface Position {
  steps: PathStep[];
  leaf: LeafNode;
  /** The index of the entry the next step returns (it may be past either end of the leaf). */
  index: number;
  version: number;
}

export class BtreeCursor implements AsyncIterableIterator<LeafEntry> {
  private readonly tree: Btree;
  private readonly options: CursorOptions;
  private readonly reverse: boolean;
  private position: Position | undefined;
  private lastKey: Uint8Array | undefined;
  private done = false;

  constructor(tree: Btree, options: CursorOptions) {
    this.tree = tree;
    this.options = options;
    this.reverse = options.reverse === true;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<LeafEntry> {
    return this;
  }

  async next(): Promise<IteratorResult<LeafEntry>> {
    if (this.done) return { done: true, value: undefined };
    const entry = await this.tree.run(() => {
      const stepped = this.step();
      return stepped === undefined ? undefined : ownedEntry(stepped); // kept past the attempt
    });
    if (entry === undefined) {
      this.done = true;
      return { done: true, value: undefined };
    }
    this.lastKey = entry.key; // the entry is a copy (above): not a view of a page that may be recycled
    return { done: false, value: entry };
  }

  /**
   * Up to `limit` next entries read in one synchronous pass, so the batch is consistent on its own (a
   * single state of the tree). A pass that meets a node not in memory restores the cursor and retries.
   */
  async nextBatch(limit: number): Promise<LeafEntry[]> {
    if (this.done) return [];
    const batch = await this.tree.run(() => {
      const saved = { position: this.position, index: this.position?.index, lastKey: this.lastKey };
      const entries: LeafEntry[] = [];
      try {
        while (entries.length < limit) {
          const entry = this.step();
          if (entry === undefined) break;
          entries.push(entry);
          this.lastKey = entry.key;
        }
      } catch (error) {
        this.position = saved.position;
        if (saved.position !== undefined) saved.position.index = saved.index as number;
        this.lastKey = saved.lastKey;
        throw error;
      }
      // Kept across awaits: a copy, not a view of a page that may be recycled (page-buffer-pool.ts).
      if (this.lastKey !== undefined && this.lastKey !== saved.lastKey)
        this.lastKey = copyBytes(this.lastKey);
      return entries;
    });
    if (batch.length < limit) this.done = true;
    return batch;
  }

  async return(): Promise<IteratorResult<LeafEntry>> {
    this.done = true;
    return { done: true, value: undefined };
  }

  /** One synchronous step; throws NotResident (via tree.node) before changing any cursor state. */
  private step(): LeafEntry | undefined {
    let position = this.position;
    // A saved path goes stale when the tree changed, or when its leaf was evicted and its page recycled.
    if (
      position === undefined ||
      position.version !== this.tree.store.version ||
      position.leaf.packed?.recycled === true
    ) {
      position = this.seek();
    }
    if (position === undefined) return undefined;
    for (;;) {
      const entry = leafEntryAt(position.leaf, position.index);
      if (entry !== undefined) {
        if (!this.withinRange(entry.key)) return undefined;
        position.index += this.reverse ? -1 : 1;
        this.position = position;
        return entry;
      }
      const next = this.nextLeaf(position);
      if (next === undefined) return undefined;
      position = next;
    }
  }

  private withinRange(key: Uint8Array): boolean {
    if (this.reverse) return this.options.start === undefined || compareBytes(key, this.options.start) >= 0;
    return this.options.end === undefined || compareBytes(key, this.options.end) < 0;
  }

  /** Builds a path to the first entry after `lastKey` (or from the range's bound), in cursor order. */
  private seek(): Position | undefined {
    const store = this.tree.store;
    if (store.rootId === PAGE_ID_NONE) return undefined;
    const target = this.lastKey ?? (this.reverse ? this.options.end : this.options.start);
    const steps: PathStep[] = [];
    let node: BtreeNode = this.tree.node(store.rootId);
    while (node.kind === 'internal') {
      const index =
        target === undefined ? (this.reverse ? node.children.length - 1 : 0) : childIndexFor(node, target);
      steps.push({ node, index });
      node = this.tree.node(node.children[index] as PageId);
    }
    return { steps, leaf: node, index: this.startIndex(node, target), version: store.version };
  }

  private startIndex(leaf: LeafNode, target: Uint8Array | undefined): number {
    if (target === undefined) return this.reverse ? leafCount(leaf) - 1 : 0;
    const atOrAfter = leafLowerBound(leaf, target);
    // Reverse: the last key strictly below the target (a range's end is exclusive, like lastKey).
    if (this.reverse) return atOrAfter - 1;
    // Forward: from the range's start inclusive, or strictly after the last key returned.
    const found = leafKeyAt(leaf, atOrAfter);
    const skipLast = this.lastKey !== undefined && found !== undefined && compareBytes(found, target) === 0;
    return skipLast ? atOrAfter + 1 : atOrAfter;
  }

  /** Climbs the path to the next subtree in cursor order and descends to its edge leaf. */
  private nextLeaf(position: Position): Position | undefined {
    const steps = position.steps.map((step) => ({ ...step }));
    while (steps.length > 0) {
      const top = steps[steps.length - 1] as PathStep;
      const index = top.index + (this.reverse ? -1 : 1);
      if (index >= 0 && index < top.node.children.length) {
        steps[steps.length - 1] = { node: top.node, index };
        return this.descendEdge(steps, top.node.children[index] as PageId, position.version);
      }
      steps.pop();
    }
    return undefined;
  }

  private descendEdge(steps: PathStep[], childId: PageId, version: number): Position {
    let node: BtreeNode = this.tree.node(childId);
    while (node.kind === 'internal') {
      const index = this.reverse ? node.children.length - 1 : 0;
      steps.push({ node, index });
      node = this.tree.node(node.children[index] as PageId);
    }
    return { steps, leaf: node, index: this.reverse ? leafCount(node) - 1 : 0, version };
  }
}
