/**
 * The page store under the B+Tree: it loads nodes from data.pages, keeps dirty ones in memory, gives a
 * clean node a new page id the first time it changes (copy-on-write), and writes checkpoints.
 *
 * Crash-safety invariants (BRIEF.md, "Crash safety"):
 *   - A page reachable from either superblock, or part of an image still being written, is never
 *     written again: only dirty nodes are written, and a node becomes dirty only under a fresh id taken
 *     from FreeSpace (which hands out nothing either superblock can reach) or from past the end.
 *   - A checkpoint writes its pages, fsyncs data.pages, and only then writes and fsyncs the inactive
 *     superblock, so open finds either the old image or the new one, never a mix.
 *   - After a failed checkpoint write the store refuses further work until reopened: the in-memory
 *     state can no longer be matched to what is durable, and retrying a failed fsync is unsafe.
 */
import { join } from 'node:path';
import type { FileSystem } from '../../io/file-system.js';
import {
  readSuperblockSlot,
  type Superblock,
  type SuperblockSlot,
  writeSuperblockSlot,
} from '../../meta/superblock.js';
import { chooseSuperblock, inactiveSlot } from '../../meta/superblock-choice.js';
import { assert } from '../../util/assert.js';
import { CorruptionError, JubilantError } from '../../util/errors.js';
import { type Lsn, lsn, PAGE_ID_NONE, type PageId } from '../../util/ids.js';
import { type CacheKey, UnifiedCache } from '../cache/unified-cache.js';
import { PageType } from '../pager/page-format.js';
import { Pager } from '../pager/pager.js';
import {
  decodeFreeListPage,
  encodeFreeListPage,
  type FreeListEntry,
  freeListEntriesPerPage,
} from './free-list-format.js';
import { FreeSpace } from './free-space.js';
import {
  type BtreeNode,
  type InternalNode,
  internalNode,
  type LeafNode,
  leafNode,
  packedLeafNode,
} from './node.js';
import {
  checkLeafPage,
  decodeNode,
  encodeNode,
  INTERNAL_CELL_OVERHEAD_BYTES,
  LEAF_CELL_OVERHEAD_BYTES,
  type NodeDecodeContext,
  nodeUsableBytes,
  SLOT_BYTES,
} from './node-format.js';
import { leafCount, leafEntriesCopy } from './node-ops.js';
import { PackedLeaf } from './packed-leaf.js';
import { PageBufferPool } from './page-buffer-pool.js';

export const DATA_PAGES_FILE = 'data.pages';
const CACHE_BYTES_DEFAULT = 64 * 1024 * 1024;
/**
 * Per-object cost of a node, of each entry a dirty leaf holds as objects, and of each child of an
 * internal node, for the cache's byte budget; `usedBytes` counts the key and value bytes themselves.
 * Measured on Node 20 (heap and external bytes per kept LeafEntry): 306 B when key and value are views
 * into a page, 483 B plus ~117 B of backing stores when they are fresh arrays, as a SET's are; a dirty
 * leaf's entries are mostly fresh, so the larger figure. A child costs a separator view and two slots.
 */
const NODE_OBJECT_BYTES = 128;
/** Recycled page buffers the pool keeps (1 MiB at 16 KiB pages); a miss takes one, an eviction returns one. */
const POOL_PAGES_KEPT_MAX = 64;
/** Evicted pages held for the pool until the next turn of the event loop (recycleRetired). */
const RETIRED_PAGES_MAX = 64;
const LEAF_ENTRY_OBJECT_BYTES = 600;
const CHILD_OBJECT_BYTES = 128;
/** A key head of a clean node's search index (key-heads.ts). */
const HEAD_BYTES = 4;
/** Page writes of one checkpoint kept in flight at once. */
const CHECKPOINT_WRITES_IN_FLIGHT = 16;

export interface PageStoreOptions {
  readonly pageSizeBytes: number;
  readonly databaseUuid: Uint8Array;
  /** The shared cache; when absent the store makes its own of `cacheBytes` (default 64 MiB). */
  readonly cache?: UnifiedCache;
  readonly cacheBytes?: number;
  /**
   * Rewrite and fsync the chosen superblock at open. A superblock whose fsync failed earlier in this
   * boot may be in the page cache without being durable; opening on it and building on it would be
   * undone by a power loss. Writers pass true; read-only opens (validation, the reload after a failure)
   * must not write.
   */
  readonly reassertSuperblock?: boolean;
}

/** TTL calibration carried in every superblock; the engine supplies it, the store only persists it. */
export interface Calibration {
  readonly wallBaseMs: number;
  readonly monoBaseMs: number;
  readonly nowFloorMs: number;
}

export interface CheckpointOptions {
  /**
   * Resolves once the WAL is durable up to `pageLsnMax`, the newest change in any page of the image
   * (the write-ahead rule); pages are written only after. It may exceed the checkpoint LSN, since
   * changes past it can be applied before it (replay is idempotent).
   */
  readonly beforePageWrites?: (pageLsnMax: Lsn) => Promise<void>;
  readonly calibration?: Calibration;
}

export interface CheckpointResult {
  readonly generation: bigint;
  readonly checkpointLsn: Lsn;
  readonly pagesWritten: number;
}

/** Everything a checkpoint freezes synchronously, so other work may go on while it is written. */
interface FrozenImage {
  readonly generation: bigint;
  readonly pages: Uint8Array[];
  readonly superblock: Superblock;
  /** The newest change in any page of the image: the WAL must be durable to here before they are written. */
  readonly pageLsnMax: Lsn;
}

/**
 * An upper bound on what one node of this page size is charged (`decodedNodeBytes`): the page filled
 * with its smallest entries, either a leaf of one-byte-key tombstones or an internal node of one-byte
 * separators (a slot and a 6-byte cell each, plus the leftmost child), whichever costs more as objects.
 */
export function decodedPageBytesMax(pageSizeBytes: number): number {
  const usableBytes = nodeUsableBytes(pageSizeBytes);
  const leafEntriesMax = Math.ceil(usableBytes / (SLOT_BYTES + LEAF_CELL_OVERHEAD_BYTES + 1));
  const childrenMax = Math.ceil(usableBytes / (SLOT_BYTES + INTERNAL_CELL_OVERHEAD_BYTES + 1)) + 1;
  const objectBytesMax = Math.max(leafEntriesMax * LEAF_ENTRY_OBJECT_BYTES, childrenMax * CHILD_OBJECT_BYTES);
  return NODE_OBJECT_BYTES + usableBytes + objectBytesMax;
}

/**
 * What a node costs in memory, for the cache budget (clean) and the pinned bytes (dirty): a packed leaf
 * its page, key index and key heads; a node of objects its bytes plus an estimate per entry.
 */
export function decodedNodeBytes(node: BtreeNode): number {
  if (node.kind === 'leaf' && node.packed !== undefined) {
    const { packed } = node;
    return NODE_OBJECT_BYTES + packed.memoryBytes + HEAD_BYTES * packed.count;
  }
  const objectBytes =
    node.kind === 'leaf'
      ? leafCount(node) * LEAF_ENTRY_OBJECT_BYTES
      : node.children.length * CHILD_OBJECT_BYTES;
  return NODE_OBJECT_BYTES + node.usedBytes + objectBytes;
}

/**
 * The node of a page read from disk (every entry checked). A leaf is kept packed, checked in place
 * without building its entries: clean leaves hold only their page.
 */
function nodeFromDisk(page: Uint8Array, context: NodeDecodeContext): BtreeNode {
  const leaf = checkLeafPage(page, context);
  if (leaf === undefined) return decodeNode(page, context);
  return packedLeafNode(leaf.pageId, leaf.pageLsn, leaf.usedBytes, new PackedLeaf(page));
}

export class PageStore {
  readonly directory: string;
  readonly pageSizeBytes: number;
  private readonly fs: FileSystem;
  private readonly pager: Pager;
  private readonly databaseUuid: Uint8Array;
  readonly cache: UnifiedCache;
  private readonly dirty = new Map<PageId, BtreeNode>();
  /** Bytes charged to the cache as pinned for each dirty node, and nodes changed since last settled. */
  private readonly dirtyCharges = new Map<BtreeNode, number>();
  private readonly unsettled = new Set<BtreeNode>();
  /** The sum of `dirtyCharges`, kept as it changes (read after every commit). */
  private dirtyChargeTotal = 0;
  /** Frozen nodes of an image being written: their pages may not be on disk yet, so they stay here. */
  private readonly inFlight = new Map<PageId, BtreeNode>();
  /** Page buffers: a cache miss reads into one, an evicted clean leaf gives its own back. */
  private readonly pool: PageBufferPool;
  /** Pages of evicted leaves, given to the pool on the next turn (recycleRetired). */
  private retired: Uint8Array[] = [];
  private readonly pinned = new Map<PageId, { node: BtreeNode; count: number }>();
  private freeSpace: FreeSpace;
  private rootIdValue: PageId;
  /** Free-list pages of the newest frozen image; the next freeze releases them. */
  private freeListPageIds: PageId[];
  private activeSlot: SuperblockSlot;
  private activeSuperblock: Superblock;
  private activeSuperblockBefore: Superblock | undefined;
  /** Generations of the two superblocks' images (the fallback's may be absent). */
  private durableGenerations: [bigint, bigint | undefined];
  /** The older superblock's checkpoint LSN (the fallback image); undefined when it is not valid. */
  private fallbackCheckpointLsn: Lsn | undefined;
  /** The generation the image now being built will carry. */
  private buildingGeneration: bigint;
  private checkpointRunning: Promise<CheckpointResult> | undefined;
  private failure: Error | undefined;
  /** Bumped on every change to the tree, so a cursor can tell its saved path went stale. */
  version = 0;

  private constructor(
    fs: FileSystem,
    directory: string,
    pager: Pager,
    options: PageStoreOptions,
    state: OpenState,
  ) {
    this.fs = fs;
    this.directory = directory;
    this.pager = pager;
    this.pageSizeBytes = options.pageSizeBytes;
    this.databaseUuid = options.databaseUuid;
    this.cache = options.cache ?? new UnifiedCache(options.cacheBytes ?? CACHE_BYTES_DEFAULT);
    this.pool = new PageBufferPool(this.pageSizeBytes, POOL_PAGES_KEPT_MAX);
    this.cache.addEvictionListener((key, value) => this.evicted(key, value));
    this.freeSpace = state.freeSpace;
    this.freeListPageIds = state.freeListPageIds;
    this.activeSlot = state.activeSlot;
    this.activeSuperblock = state.superblock;
    this.rootIdValue = state.superblock.treeRootPageId;
    this.durableGenerations = [state.superblock.generation, state.fallbackGeneration];
    this.fallbackCheckpointLsn = state.fallbackCheckpointLsn;
    this.buildingGeneration = state.superblock.generation + 1n;
  }

  /** Creates data.pages and both superblocks (an empty tree), durably, in an existing directory. */
  static async create(fs: FileSystem, directory: string, options: PageStoreOptions): Promise<PageStore> {
    const pager = await Pager.create(fs, join(directory, DATA_PAGES_FILE), options);
    await pager.close();
    const empty = (generation: bigint): Superblock => ({
      generation,
      databaseUuid: options.databaseUuid,
      treeRootPageId: PAGE_ID_NONE,
      freeListRootPageId: PAGE_ID_NONE,
      pageCount: 1,
      checkpointLsn: lsn(0),
      wallBaseMs: 0,
      monoBaseMs: 0,
      nowFloorMs: 0,
    });
    await writeSuperblockSlot(fs, directory, 'A', empty(1n), { create: true });
    await writeSuperblockSlot(fs, directory, 'B', empty(0n), { create: true });
    await fs.syncDirectory(directory);
    return PageStore.open(fs, directory, options);
  }

  /** Opens the image of the newest valid superblock (superblock-choice.ts) and its free list. */
  static async open(fs: FileSystem, directory: string, options: PageStoreOptions): Promise<PageStore> {
    const a = await readSuperblockSlot(fs, directory, 'A', options.databaseUuid);
    const b = await readSuperblockSlot(fs, directory, 'B', options.databaseUuid);
    const choice = chooseSuperblock(a, b, directory);
    const superblock = choice.superblock;
    if (options.reassertSuperblock === true)
      await writeSuperblockSlot(fs, directory, choice.active, superblock);
    const pager = await Pager.open(fs, join(directory, DATA_PAGES_FILE), {
      ...options,
      pageCount: superblock.pageCount,
    });
    try {
      const fallbackGeneration = choice.fallback?.generation;
      const generationMin = fallbackGeneration ?? superblock.generation;
      const freeList = await readFreeList(pager, superblock.freeListRootPageId);
      const state: OpenState = {
        activeSlot: choice.active,
        superblock,
        fallbackGeneration,
        fallbackCheckpointLsn: choice.fallback?.checkpointLsn,
        freeSpace: FreeSpace.fromEntries(freeList.entries, generationMin),
        freeListPageIds: freeList.pageIds,
        notes: choice.notes,
      };
      return new PageStore(fs, directory, pager, options, state);
    } catch (error) {
      await pager.close();
      throw error;
    }
  }

  get rootId(): PageId {
    return this.rootIdValue;
  }

  get superblock(): Superblock {
    return this.activeSuperblock;
  }

  /**
   * The lower of the two superblocks' checkpoint LSNs: WAL records at or below it are in both images,
   * so a WAL segment holding only such records is no longer needed by either.
   */
  get durableCheckpointLsnMin(): Lsn {
    const active = this.activeSuperblock.checkpointLsn;
    const fallback = this.fallbackCheckpointLsn ?? lsn(0);
    if (fallback < active) return fallback;
    return active;
  }

  get pageCount(): number {
    return this.pager.pageCount;
  }

  get dirtyCount(): number {
    return this.dirty.size;
  }

  get freePageCounts(): { reusable: number; pending: number } {
    return { reusable: this.freeSpace.reusableCount, pending: this.freeSpace.pendingCount };
  }

  setRoot(id: PageId): void {
    this.checkUsable();
    this.rootIdValue = id;
    this.version += 1;
  }

  /** The node at `id` if it is in memory (dirty, being written, pinned or cached), without I/O. */
  resident(id: PageId): BtreeNode | undefined {
    return (
      this.dirty.get(id) ??
      this.inFlight.get(id) ??
      this.pinned.get(id)?.node ??
      (this.cache.get(id) as BtreeNode | undefined)
    );
  }

  /** Loads a node and pins it (it stays resident until `unpin`), reading data.pages when needed. */
  async loadPinned(id: PageId): Promise<BtreeNode> {
    assert(id !== PAGE_ID_NONE, 'load of page 0');
    let node = this.resident(id);
    if (node === undefined) {
      this.cache.recordMiss();
      const into = this.pool.take();
      const page = await this.pager.readPage(id, [PageType.BtreeLeaf, PageType.BtreeInternal], into);
      node =
        this.resident(id) ?? nodeFromDisk(page, { file: this.pager.path, pageSizeBytes: this.pageSizeBytes });
      if (!node.dirty && !this.inFlight.has(id)) this.cache.set(id, node, decodedNodeBytes(node));
    }
    const pin = this.pinned.get(id);
    if (pin === undefined) this.pinned.set(id, { node, count: 1 });
    else pin.count += 1;
    return node;
  }

  /**
   * An evicted clean leaf gives its page buffer back to the pool, unless something still holds the node:
   * a pin (a reader mid-load), an image being written (its page is the one being written). A cursor
   * that saved a path through it sees `recycled` and seeks again.
   */
  private evicted(key: CacheKey, value: object): void {
    if (typeof key !== 'number') return; // not a node: a value-log value
    const node = value as BtreeNode;
    if (node.kind !== 'leaf' || node.packed === undefined || node.packed.recycled || node.dirty) return;
    if (this.pinned.has(node.pageId) || this.inFlight.has(node.pageId)) return;
    // A turn that never yields to the event loop (a tight loop of awaited reads) would otherwise hold
    // every page it evicts: past the bound, evicted pages are left to the collector, views and all.
    if (this.retired.length >= RETIRED_PAGES_MAX) return;
    this.retired.push(node.packed.retire());
    if (this.retired.length === 1) setImmediate(() => this.recycleRetired());
  }

  /**
   * Hands retired pages to the pool, on a later turn of the event loop than the one that evicted them.
   * A tree read that loads pages resolves within the turn it ran in (page reads block), and its caller
   * copies what it keeps right after: so every view read in a turn stays valid to the end of that turn,
   * whatever the turn evicts meanwhile.
   */
  private recycleRetired(): void {
    const retired = this.retired;
    this.retired = [];
    for (const page of retired) this.pool.recycle(page);
  }

  /** Page buffers taken from and recycled to the pool (stats). */
  poolStats(): ReturnType<PageBufferPool['stats']> {
    return this.pool.stats();
  }

  unpin(id: PageId): void {
    const pin = this.pinned.get(id);
    if (pin === undefined) return; // its id was reused meanwhile, which dropped the pin
    pin.count -= 1;
    if (pin.count === 0) this.pinned.delete(id);
  }

  /** A node that may be changed in place: itself when dirty, else a copy under a fresh page id. */
  writable<T extends BtreeNode>(node: T): T {
    this.checkUsable();
    if (node.dirty) {
      this.unsettled.add(node);
      return node;
    }
    // Built field by field in the same order as every other node, so all nodes share a hidden class.
    const id = this.allocateId();
    const copy = (
      node.kind === 'leaf'
        ? leafNode(id, node.pageLsn, true, node.usedBytes, leafEntriesCopy(node))
        : internalNode(id, node.pageLsn, true, node.usedBytes, [...node.keys], [...node.children])
    ) as T;
    this.addDirty(copy);
    this.freeSpace.releaseAfter(node.pageId, this.buildingGeneration);
    this.version += 1;
    return copy;
  }

  newLeaf(pageLsn: Lsn): LeafNode {
    this.checkUsable();
    const node = leafNode(this.allocateId(), pageLsn, true, 0, []);
    this.addDirty(node);
    return node;
  }

  newInternal(pageLsn: Lsn, firstChild: PageId): InternalNode {
    this.checkUsable();
    const node = internalNode(this.allocateId(), pageLsn, true, 0, [], [firstChild]);
    this.addDirty(node);
    return node;
  }

  /** Drops a node from the tree; its page becomes free (at once if no image holds it). */
  release(node: BtreeNode): void {
    this.checkUsable();
    if (node.dirty) {
      this.dirty.delete(node.pageId);
      this.unsettled.delete(node);
      const charge = this.dirtyCharges.get(node) ?? 0;
      this.cache.adjustPinned(-charge);
      this.dirtyChargeTotal -= charge;
      this.dirtyCharges.delete(node);
      this.freeSpace.releaseNow(node.pageId);
    } else {
      this.freeSpace.releaseAfter(node.pageId, this.buildingGeneration);
    }
    this.version += 1;
  }

  /** Marks a change to the tree (for cursors); callers change nodes only after `writable`. */
  touched(): void {
    this.version += 1;
  }

  private addDirty(node: BtreeNode): void {
    this.dirty.set(node.pageId, node);
    this.dirtyCharges.set(node, 0);
    this.unsettled.add(node);
  }

  /**
   * Re-charges the cache for the dirty nodes changed since the last call (the tree calls this at the
   * end of every change), so pinned bytes track exactly what dirty nodes hold.
   */
  settle(): void {
    let delta = 0;
    for (const node of this.unsettled) {
      const charge = this.dirtyCharges.get(node);
      if (charge === undefined) continue; // frozen or released since
      const now = decodedNodeBytes(node);
      this.dirtyCharges.set(node, now);
      delta += now - charge;
    }
    this.unsettled.clear();
    this.dirtyChargeTotal += delta;
    if (delta !== 0) this.cache.adjustPinned(delta);
  }

  /** Bytes held by dirty nodes (pinned in the cache's accounting). */
  get dirtyBytes(): number {
    return this.dirtyChargeTotal;
  }

  private allocateId(): PageId {
    const id = this.freeSpace.take() ?? this.pager.allocatePageId();
    // The id's old contents are gone for good: forget any cached or pinned copy of them.
    this.cache.delete(id);
    this.pinned.delete(id);
    assert(!this.dirty.has(id) && !this.inFlight.has(id), `page ${id} handed out while in use`);
    return id;
  }

  private checkUsable(): void {
    if (this.failure !== undefined) {
      throw new JubilantError(
        'READ_ONLY',
        `the page store failed and must be reopened: ${this.failure.message}`,
        {
          cause: this.failure,
        },
      );
    }
  }

  /**
   * Writes a checkpoint of every change applied so far. `checkpointLsn` is the LSN of the newest of
   * them; pass a function when changes may still be applied while an earlier checkpoint finishes, so it
   * is read at the instant the image freezes. Checkpoints run one at a time; work may continue while one
   * is written, and lands in the next.
   */
  async checkpoint(
    checkpointLsn: Lsn | (() => Lsn),
    options: CheckpointOptions = {},
  ): Promise<CheckpointResult> {
    while (this.checkpointRunning !== undefined) await this.checkpointRunning.catch(() => undefined);
    this.checkUsable();
    const running = this.runCheckpoint(checkpointLsn, options);
    this.checkpointRunning = running;
    try {
      return await running;
    } finally {
      this.checkpointRunning = undefined;
    }
  }

  private async runCheckpoint(
    lsnAtFreeze: Lsn | (() => Lsn),
    options: CheckpointOptions,
  ): Promise<CheckpointResult> {
    const checkpointLsn = typeof lsnAtFreeze === 'function' ? lsnAtFreeze() : lsnAtFreeze;
    const image = this.freeze(checkpointLsn, options.calibration ?? this.activeSuperblock);
    try {
      await options.beforePageWrites?.(image.pageLsnMax);
      await this.writePages(image.pages);
      await this.pager.sync();
      const slot = inactiveSlot(this.activeSlot);
      await writeSuperblockSlot(this.fs, this.directory, slot, image.superblock);
      this.activeSuperblockBefore = this.activeSuperblock;
      this.activeSlot = slot;
      this.activeSuperblock = image.superblock;
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      throw error;
    }
    this.fallbackCheckpointLsn = this.activeSuperblockBefore?.checkpointLsn;
    this.durableGenerations = [image.generation, this.durableGenerations[0]];
    this.freeSpace.onDurable(this.durableGenerations[1] ?? image.generation);
    this.inFlight.clear();
    return { generation: image.generation, checkpointLsn, pagesWritten: image.pages.length };
  }

  /**
   * Points a node that just became clean at its own page bytes: its keys and values were views into
   * whatever the writes handed in (slab pieces, see byte-slab.ts), and a cached node must hold only its
   * page, which is also what the cache accounts. A leaf becomes packed (packed-leaf.ts); an internal
   * node is decoded from the page just encoded. The content is unchanged, so no reader can tell.
   */
  private rehome(node: BtreeNode, page: Uint8Array): void {
    if (node.kind === 'leaf') {
      const packed = new PackedLeaf(page);
      assert(packed.count === leafCount(node), 'a packed leaf lost entries');
      node.entries = undefined;
      node.packed = packed;
      return;
    }
    const decoded = decodeNode(page, { file: this.pager.path, pageSizeBytes: this.pageSizeBytes });
    if (node.kind === 'internal' && decoded.kind === 'internal') {
      assert(decoded.keys.length === node.keys.length, 'a re-decoded internal node lost keys');
      node.keys = decoded.keys;
    } else {
      assert(false, `page ${node.pageId} decoded as a ${decoded.kind}, encoded from a ${node.kind}`);
    }
  }

  /** Synchronously encodes the image: dirty nodes become clean and move to `inFlight`. */
  private freeze(checkpointLsn: Lsn, calibration: Calibration): FrozenImage {
    assert(checkpointLsn >= this.activeSuperblock.checkpointLsn, 'checkpoint LSN went backwards');
    const generation = this.buildingGeneration;
    this.buildingGeneration += 1n;
    const pages: Uint8Array[] = [];
    this.settle();
    let pageLsnMax = checkpointLsn;
    for (const node of this.dirty.values()) {
      if (node.pageLsn > pageLsnMax) pageLsnMax = node.pageLsn;
      const page = encodeNode(node, this.pageSizeBytes);
      pages.push(page);
      node.dirty = false;
      this.rehome(node, page);
      this.inFlight.set(node.pageId, node);
    }
    this.cache.adjustPinned(-this.dirtyBytes);
    for (const node of this.dirty.values()) this.cache.set(node.pageId, node, decodedNodeBytes(node));
    this.dirty.clear();
    this.dirtyCharges.clear();
    this.dirtyChargeTotal = 0;
    for (const id of this.freeListPageIds) this.freeSpace.releaseAfter(id, generation);
    const freeList = this.freezeFreeList(checkpointLsn);
    this.freeListPageIds = freeList.pageIds;
    pages.push(...freeList.pages);
    const superblock: Superblock = {
      generation,
      databaseUuid: this.databaseUuid,
      treeRootPageId: this.rootIdValue,
      freeListRootPageId: freeList.pageIds[0] ?? PAGE_ID_NONE,
      pageCount: this.pager.pageCount,
      checkpointLsn,
      wallBaseMs: calibration.wallBaseMs,
      monoBaseMs: calibration.monoBaseMs,
      nowFloorMs: calibration.nowFloorMs,
    };
    return { generation, pages, superblock, pageLsnMax };
  }

  /**
   * Encodes the free list into pages whose ids come from the free list itself (so a steady workload
   * does not grow the file). Taking ids shrinks the list, so the page count is settled first.
   */
  private freezeFreeList(pageLsn: Lsn): { pageIds: PageId[]; pages: Uint8Array[] } {
    const perPage = freeListEntriesPerPage(this.pageSizeBytes);
    const pageIds: PageId[] = [];
    let entries: FreeListEntry[] = this.freeSpace.entries();
    while (pageIds.length * perPage < entries.length) {
      pageIds.push(this.allocateId());
      entries = this.freeSpace.entries();
    }
    const pages = pageIds.map((pageId, index) =>
      encodeFreeListPage(
        {
          pageId,
          pageLsn,
          nextPageId: pageIds[index + 1] ?? PAGE_ID_NONE,
          entries: entries.slice(index * perPage, (index + 1) * perPage),
        },
        this.pageSizeBytes,
      ),
    );
    return { pageIds, pages };
  }

  private async writePages(pages: readonly Uint8Array[]): Promise<void> {
    for (let start = 0; start < pages.length; start += CHECKPOINT_WRITES_IN_FLIGHT) {
      const batch = pages.slice(start, start + CHECKPOINT_WRITES_IN_FLIGHT);
      await Promise.all(batch.map((page) => this.pager.writePage(page)));
    }
  }

  async close(): Promise<void> {
    while (this.checkpointRunning !== undefined) await this.checkpointRunning.catch(() => undefined);
    await this.pager.close();
  }
}

interface OpenState {
  readonly activeSlot: SuperblockSlot;
  readonly superblock: Superblock;
  readonly fallbackGeneration: bigint | undefined;
  readonly fallbackCheckpointLsn: Lsn | undefined;
  readonly freeSpace: FreeSpace;
  readonly freeListPageIds: PageId[];
  readonly notes: readonly string[];
}

/** Reads the chain of free-list pages from `rootId`, refusing a chain longer than the file (a loop). */
async function readFreeList(
  pager: Pager,
  rootId: PageId,
): Promise<{ entries: FreeListEntry[]; pageIds: PageId[] }> {
  const entries: FreeListEntry[] = [];
  const pageIds: PageId[] = [];
  for (let id = rootId; id !== PAGE_ID_NONE; ) {
    if (pageIds.length >= pager.pageCount || pageIds.includes(id)) {
      throw new CorruptionError(`free list loops at page ${id}`, { file: pager.path, what: 'free list' });
    }
    pageIds.push(id);
    const page = await pager.readPage(id, [PageType.FreeList]);
    const decoded = decodeFreeListPage(page, { file: pager.path, pageSizeBytes: pager.pageSizeBytes });
    entries.push(...decoded.entries);
    id = decoded.nextPageId;
  }
  return { entries, pageIds };
}
