/**
 * Keeps the tree balanced after a change to a leaf: copy-on-write of the path, splits of overfull
 * nodes, and merges or even re-division of underfull ones with a sibling, level by level up to the root.
 *
 * The fill rule: a non-root node uses at least a quarter of its usable bytes and never more than all
 * of them. Entries are at most a quarter of a page (node-format.ts), so cutting an overfull node or a
 * too-large pair in two by size leaves both halves above three eighths, and a merge happens only when
 * the pair fits one page.
 */
import { assert } from '../../util/assert.js';
import type { Lsn, PageId } from '../../util/ids.js';
import { PAGE_ID_NONE } from '../../util/ids.js';
import { shortestSeparator } from './key-range.js';
import type { BtreeNode, InternalNode, LeafNode } from './node.js';
import {
  internalEntryBytes,
  internalNodeUsedBytes,
  leafEntryBytes,
  leafNodeUsedBytes,
} from './node-format.js';
import {
  entriesOf,
  leafCount,
  balancedCut,
  type ChangePosition,
  insertSeparator,
  removeSeparator,
  replaceSeparator,
  skewedCut,
} from './node-ops.js';
import type { PageStore } from './page-store.js';

/** One internal node on a root-to-leaf path, and which of its children the path took. */
export interface PathStep {
  readonly node: InternalNode;
  readonly index: number;
}

function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}

export class Rebalancer {
  private readonly store: PageStore;
  private readonly usableBytes: number;
  private readonly minBytes: number;

  constructor(store: PageStore, usableBytes: number) {
    this.store = store;
    this.usableBytes = usableBytes;
    this.minBytes = Math.ceil(usableBytes / 4);
  }

  /** Whether a non-root node of this size would need a sibling's help. */
  mayUnderflow(usedBytes: number): boolean {
    return usedBytes < this.minBytes;
  }

  /** Makes every node on the path writable (copy-on-write), relinking parents to new page ids. */
  makeWritable(
    steps: readonly PathStep[],
    leaf: LeafNode,
    changeLsn: Lsn,
  ): { steps: PathStep[]; leaf: LeafNode } {
    const writableSteps: PathStep[] = [];
    let parent: PathStep | undefined;
    for (const step of steps) {
      const node = this.relink(parent, this.store.writable(step.node), changeLsn);
      parent = { node, index: step.index };
      writableSteps.push(parent);
    }
    const writableLeaf = this.relink(parent, this.store.writable(leaf), changeLsn);
    this.store.touched();
    return { steps: writableSteps, leaf: writableLeaf };
  }

  private relink<T extends BtreeNode>(parent: PathStep | undefined, node: T, changeLsn: Lsn): T {
    node.pageLsn = maxLsn(node.pageLsn, changeLsn);
    if (parent === undefined) {
      if (this.store.rootId !== node.pageId) this.store.setRoot(node.pageId);
    } else {
      parent.node.children[parent.index] = node.pageId;
    }
    return node;
  }

  /** Restores the fill rule from `changed` (the path's leaf, already changed) up to the root. */
  fixUp(
    steps: readonly PathStep[],
    changed: BtreeNode,
    changeLsn: Lsn,
    position: ChangePosition = 'middle',
  ): void {
    let current: BtreeNode = changed;
    let currentPosition = position;
    for (let level = steps.length - 1; level >= -1; level--) {
      const parent = steps[level];
      if (current.usedBytes > this.usableBytes) this.split(current, parent, changeLsn, currentPosition);
      else if (parent === undefined) this.collapseRoot(current);
      else if (current.usedBytes < this.minBytes) this.rebalance(current, parent, changeLsn);
      if (parent === undefined) return;
      current = parent.node;
      // A split at the parent's edge child adds the parent's edge separator: keep the pattern going.
      const edge =
        parent.index === 0 ? 'first' : parent.index >= parent.node.keys.length - 1 ? 'last' : 'middle';
      currentPosition = currentPosition === 'middle' ? 'middle' : edge;
    }
  }

  private split(
    node: BtreeNode,
    parent: PathStep | undefined,
    changeLsn: Lsn,
    position: ChangePosition,
  ): void {
    const { right, separator } =
      node.kind === 'leaf'
        ? this.splitLeaf(node, changeLsn, position)
        : this.splitInternal(node, changeLsn, position);
    assert(
      node.usedBytes <= this.usableBytes && right.usedBytes <= this.usableBytes,
      'split left a node overfull',
    );
    if (parent !== undefined) {
      insertSeparator(parent.node, parent.index, separator, right.pageId);
      return;
    }
    const root = this.store.newInternal(changeLsn, node.pageId);
    insertSeparator(root, 0, separator, right.pageId);
    this.store.setRoot(root.pageId);
  }

  private splitLeaf(
    node: LeafNode,
    changeLsn: Lsn,
    position: ChangePosition,
  ): { right: LeafNode; separator: Uint8Array } {
    const entries = entriesOf(node);
    const cut = skewedCut(entries.map(leafEntryBytes), this.minBytes, position);
    const right = this.store.newLeaf(maxLsn(node.pageLsn, changeLsn));
    const rightEntries = entries.splice(cut);
    right.entries = rightEntries;
    this.resize(node);
    this.resize(right);
    const lastLeft = entries[entries.length - 1];
    const firstRight = rightEntries[0];
    assert(lastLeft !== undefined && firstRight !== undefined, 'leaf split left a side empty');
    return { right, separator: shortestSeparator(lastLeft.key, firstRight.key) };
  }

  private splitInternal(
    node: InternalNode,
    changeLsn: Lsn,
    position: ChangePosition,
  ): { right: InternalNode; separator: Uint8Array } {
    const keys = node.keys;
    const children = node.children;
    const cut = this.internalCut(keys, position);
    const separator = keys[cut] as Uint8Array;
    const right = this.store.newInternal(maxLsn(node.pageLsn, changeLsn), children[cut + 1] as PageId);
    right.keys = keys.slice(cut + 1);
    right.children = children.slice(cut + 1);
    node.keys = keys.slice(0, cut);
    node.children = children.slice(0, cut + 1);
    this.resize(node);
    this.resize(right);
    return { right, separator };
  }

  /**
   * The index of the key that moves up when internal keys are divided; keys before it stay left, keys
   * after it go right, and both sides keep at least one key. The moving key belongs to neither side, so
   * the sides are weighed without it: evenly for a change in the middle, and for a change at an edge
   * with the changed side just over a quarter (as `skewedCut` does for leaves).
   */
  private internalCut(keys: readonly Uint8Array[], position: ChangePosition = 'middle'): number {
    assert(keys.length >= 3, `dividing an internal node of ${keys.length} keys`);
    const sizes = keys.map(internalEntryBytes);
    const before = [0];
    for (const size of sizes) before.push((before[before.length - 1] as number) + size);
    const total = before[before.length - 1] as number;
    const sides = (cut: number) => ({
      left: before[cut] as number,
      right: total - (before[cut + 1] as number),
    });
    const candidates: number[] = [];
    for (let cut = 1; cut <= keys.length - 2; cut++) candidates.push(cut);
    const fitting = candidates.filter(
      (cut) => sides(cut).left >= this.minBytes && sides(cut).right >= this.minBytes,
    );
    const pool = fitting.length > 0 ? fitting : candidates;
    if (position === 'last') return pool[pool.length - 1] as number;
    if (position === 'first') return pool[0] as number;
    let best = pool[0] as number;
    for (const cut of pool) {
      const { left, right } = sides(cut);
      const { left: bestLeft, right: bestRight } = sides(best);
      if (Math.abs(left - right) < Math.abs(bestLeft - bestRight)) best = cut;
    }
    return best;
  }

  private collapseRoot(root: BtreeNode): void {
    if (root.kind === 'leaf' && leafCount(root) === 0) {
      this.store.release(root);
      this.store.setRoot(PAGE_ID_NONE);
    } else if (root.kind === 'internal' && root.keys.length === 0) {
      this.store.release(root);
      this.store.setRoot(root.children[0] as PageId);
    }
  }

  /** Merges `node` with a sibling, or divides the pair evenly when it does not fit one page. */
  private rebalance(node: BtreeNode, parent: PathStep, changeLsn: Lsn): void {
    const siblingIndex = parent.index > 0 ? parent.index - 1 : parent.index + 1;
    const siblingId = parent.node.children[siblingIndex];
    assert(siblingId !== undefined, 'an internal node has at least two children');
    const resident = this.store.resident(siblingId);
    assert(resident !== undefined && resident.kind === node.kind, 'sibling loaded before the change');
    const sibling = this.store.writable(resident);
    sibling.pageLsn = maxLsn(sibling.pageLsn, changeLsn);
    parent.node.children[siblingIndex] = sibling.pageId;
    const leftFirst = siblingIndex < parent.index;
    const separatorIndex = leftFirst ? siblingIndex : parent.index;
    const [left, right] = leftFirst ? [sibling, node] : [node, sibling];
    if (left.kind === 'leaf') this.rebalanceLeaves(left, right as LeafNode, parent.node, separatorIndex);
    else this.rebalanceInternals(left, right as InternalNode, parent.node, separatorIndex);
  }

  private rebalanceLeaves(
    left: LeafNode,
    right: LeafNode,
    parent: InternalNode,
    separatorIndex: number,
  ): void {
    const entries = [...entriesOf(left), ...entriesOf(right)];
    left.pageLsn = maxLsn(left.pageLsn, right.pageLsn);
    if (left.usedBytes + right.usedBytes <= this.usableBytes) {
      left.entries = entries;
      this.resize(left);
      this.store.release(right);
      removeSeparator(parent, separatorIndex);
      return;
    }
    right.pageLsn = left.pageLsn;
    const cut = balancedCut(entries.map(leafEntryBytes));
    const leftEntries = entries.slice(0, cut);
    const rightEntries = entries.slice(cut);
    left.entries = leftEntries;
    right.entries = rightEntries;
    this.resize(left);
    this.resize(right);
    const lastLeft = leftEntries[leftEntries.length - 1];
    const firstRight = rightEntries[0];
    assert(lastLeft !== undefined && firstRight !== undefined, 'leaf re-division left a side empty');
    replaceSeparator(parent, separatorIndex, shortestSeparator(lastLeft.key, firstRight.key));
  }

  private rebalanceInternals(
    left: InternalNode,
    right: InternalNode,
    parent: InternalNode,
    separatorIndex: number,
  ) {
    const separator = parent.keys[separatorIndex] as Uint8Array;
    const keys = [...left.keys, separator, ...right.keys];
    const children = [...left.children, ...right.children];
    left.pageLsn = maxLsn(left.pageLsn, right.pageLsn);
    if (left.usedBytes + right.usedBytes + internalEntryBytes(separator) <= this.usableBytes) {
      left.keys = keys;
      left.children = children;
      this.resize(left);
      this.store.release(right);
      removeSeparator(parent, separatorIndex);
      return;
    }
    right.pageLsn = left.pageLsn;
    const cut = this.internalCut(keys);
    left.keys = keys.slice(0, cut);
    left.children = children.slice(0, cut + 1);
    right.keys = keys.slice(cut + 1);
    right.children = children.slice(cut + 1);
    this.resize(left);
    this.resize(right);
    replaceSeparator(parent, separatorIndex, keys[cut] as Uint8Array);
  }

  private resize(node: BtreeNode): void {
    node.usedBytes =
      node.kind === 'leaf' ? leafNodeUsedBytes(entriesOf(node)) : internalNodeUsedBytes(node.keys);
  }
}
