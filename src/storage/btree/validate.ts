/**
 * The structural validator of B+Tree images: what `jubectl validate` runs offline, and what every test
 * that opens a database ends with. It reads one superblock's image through a read-only pager and checks
 * every page it can reach (CRC, id, type, key order, separator bounds, uniform leaf depth, fill) and
 * that every page id below the image's page count is accounted for exactly once: reachable from the
 * root, a page of the free-list chain, or an entry of the free list.
 *
 * It never throws on bad bytes: every problem becomes a readable line in the report, naming the page.
 * The work is bounded: each page is read at most once per image, so a loop in the tree or in the
 * free-list chain is reported, never followed. Only programming errors and I/O errors (other than a
 * missing data.pages) throw.
 */
import { join } from 'node:path';
import { type FileHandle, type FileSystem, isIoError } from '../../io/file-system.js';
import {
  readSuperblockSlot,
  SUPERBLOCK_FILES,
  type Superblock,
  type SuperblockRead,
  type SuperblockSlot,
} from '../../meta/superblock.js';
import { chooseSuperblock } from '../../meta/superblock-choice.js';
import { compareBytes, toHex } from '../../util/bytes.js';
import { CorruptionError } from '../../util/errors.js';
import { type Lsn, lsn, PAGE_ID_NONE, type PageId } from '../../util/ids.js';
import { PageType } from '../pager/page-format.js';
import { Pager } from '../pager/pager.js';
import { readVlogRecordFrame, vlogSegmentFileName } from '../vlog/vlog-segment-format.js';
import { decodeFreeListPage, type FreeListEntry } from './free-list-format.js';
import type { BtreeNode, InternalNode, LeafNode, ValueLogPointer } from './node.js';
import { decodeNode, nodeUsableBytes } from './node-format.js';
import { entriesOf } from './node-ops.js';
import { DATA_PAGES_FILE } from './page-store.js';

/** Past this many problems the report only counts them: a wrecked file must not flood the output. */
const REPORTED_ERRORS_MAX = 200;

export interface ValidateOptions {
  readonly pageSizeBytes: number;
  readonly databaseUuid: Uint8Array;
  /** The superblock whose image to validate; by default the one open would choose. */
  readonly slot?: SuperblockSlot;
  /**
   * Check every value-log pointer against its segment (default true). Off only for trees built
   * without a value log (B+Tree tests with made-up pointers).
   */
  readonly checkValueLog?: boolean;
}

export interface ValidationStats {
  generation: bigint;
  checkpointLsn: Lsn;
  pageCount: number;
  /** Levels from the root to the leaves; 0 for an empty tree. */
  depth: number;
  leafPages: number;
  internalPages: number;
  freeListPages: number;
  freeEntries: number;
  /** Leaf entries, tombstones included. */
  entries: number;
  tombstones: number;
  /** Leaf entries whose value is in the value log (each checked against its segment). */
  valueLogPointers: number;
  /** usedBytes / nodeUsableBytes over non-root nodes; both 0 when the tree has no non-root node. */
  fillMin: number;
  fillMean: number;
}

export interface ValidationReport {
  ok: boolean;
  errors: string[];
  stats: ValidationStats;
}

export interface BothImagesReport {
  ok: boolean;
  /** Every problem of either image (prefixed with its superblock), and of the pair. */
  errors: string[];
  /** The report of each slot whose superblock is valid. */
  images: Partial<Record<SuperblockSlot, ValidationReport>>;
  /** Slots skipped because their superblock is missing or invalid (normal after a crash mid-write). */
  notes: string[];
}

type Role = 'tree' | 'free-list page' | 'free entry';

const ROLE_TEXT: Readonly<Record<Role, string>> = {
  tree: 'reachable from the root',
  'free-list page': 'a page of the free-list chain',
  'free entry': 'listed in the free list',
};

/** Everything one image's validation accumulates. */
interface ImageWalk {
  readonly pager: Pager;
  readonly superblock: Superblock;
  readonly usableBytes: number;
  /** A tree deeper than this cannot be valid (every internal node has two children or more). */
  readonly depthMax: number;
  readonly problems: Problems;
  /** The role of every page id claimed so far, and from where. */
  readonly owners: Map<number, { role: Role; via: string }>;
  readonly freeEntries: Map<number, FreeListEntry>;
  readonly stats: ValidationStats;
  leafDepth: number | undefined;
  /** The last key of the previous leaf in key order. */
  lastKey: Uint8Array | undefined;
  fillSum: number;
  fillCount: number;
  /** Every value-log pointer of the image's leaves, checked against the segments after the walk. */
  readonly pointers: Array<{ key: Uint8Array; pointer: ValueLogPointer; revision: Lsn; page: PageId }>;
}

class Problems {
  readonly lines: string[] = [];
  count = 0;

  add(line: string): void {
    this.count += 1;
    if (this.count <= REPORTED_ERRORS_MAX) this.lines.push(line);
  }

  list(): string[] {
    const omitted = this.count - this.lines.length;
    return omitted > 0 ? [...this.lines, `... and ${omitted} more problems`] : [...this.lines];
  }
}

/** One node to visit: its page, its level (root = 1) and the key bounds its parent gives it. */
interface Visit {
  readonly id: PageId;
  readonly depth: number;
  readonly lower: Uint8Array | undefined;
  readonly upper: Uint8Array | undefined;
  readonly via: string;
}

// ---------------------------------------------------------------------------------------------------
// Entry points

/** Validates the image of one superblock: by default the one PageStore.open would choose. */
export async function validateImage(
  fs: FileSystem,
  directory: string,
  options: ValidateOptions,
): Promise<ValidationReport> {
  const chosen = await chooseImage(fs, directory, options);
  if ('error' in chosen) return { ok: false, errors: [chosen.error], stats: emptyStats(undefined) };
  return (await validateSuperblockImage(fs, directory, chosen.superblock, options)).report;
}

/**
 * Validates the image of every valid superblock: the fallback must be whole too, because falling back
 * to it must find its pages. Also checks the pair: no page the older image reaches may be reusable
 * according to the newer image's free list.
 */
export async function validateBothImages(
  fs: FileSystem,
  directory: string,
  options: Omit<ValidateOptions, 'slot'>,
): Promise<BothImagesReport> {
  const result: BothImagesReport = { ok: true, errors: [], images: {}, notes: [] };
  const walks: ImageWalk[] = [];
  for (const slot of ['A', 'B'] as const) {
    const read = await readSuperblockSlot(fs, directory, slot, options.databaseUuid);
    if (read.state !== 'valid') {
      result.notes.push(describeUnusable(slot, read));
      continue;
    }
    const { report, walk } = await validateSuperblockImage(fs, directory, read.superblock, options);
    result.images[slot] = report;
    const label = `${SUPERBLOCK_FILES[slot]} (generation ${read.superblock.generation})`;
    result.errors.push(...report.errors.map((error) => `${label}: ${error}`));
    if (walk !== undefined) walks.push(walk);
  }
  if (result.images.A === undefined && result.images.B === undefined) {
    result.errors.push(`no valid superblock: ${result.notes.join('; ')}`);
  }
  result.errors.push(...crossCheck(walks));
  result.ok = result.errors.length === 0;
  return result;
}

async function chooseImage(
  fs: FileSystem,
  directory: string,
  options: ValidateOptions,
): Promise<{ superblock: Superblock } | { error: string }> {
  if (options.slot !== undefined) {
    const read = await readSuperblockSlot(fs, directory, options.slot, options.databaseUuid);
    return read.state === 'valid'
      ? { superblock: read.superblock }
      : { error: describeUnusable(options.slot, read) };
  }
  const a = await readSuperblockSlot(fs, directory, 'A', options.databaseUuid);
  const b = await readSuperblockSlot(fs, directory, 'B', options.databaseUuid);
  try {
    return { superblock: chooseSuperblock(a, b, directory).superblock };
  } catch (error) {
    if (error instanceof CorruptionError) return { error: error.message };
    throw error;
  }
}

function describeUnusable(slot: SuperblockSlot, read: SuperblockRead): string {
  return read.state === 'invalid'
    ? `${SUPERBLOCK_FILES[slot]} is invalid: ${read.reason}`
    : `${SUPERBLOCK_FILES[slot]} is missing`;
}

async function validateSuperblockImage(
  fs: FileSystem,
  directory: string,
  superblock: Superblock,
  options: Omit<ValidateOptions, 'slot'>,
): Promise<{ report: ValidationReport; walk: ImageWalk | undefined }> {
  let pager: Pager;
  try {
    pager = await Pager.open(fs, join(directory, DATA_PAGES_FILE), {
      ...options,
      pageCount: superblock.pageCount,
      readOnly: true,
    });
  } catch (error) {
    // A missing data.pages is bad data too; any other I/O error is the environment's, and is thrown.
    if (!(error instanceof CorruptionError) && !isIoError(error, 'ENOENT')) throw error;
    return { report: { ok: false, errors: [error.message], stats: emptyStats(superblock) }, walk: undefined };
  }
  try {
    const walk = newWalk(pager, superblock, options.pageSizeBytes);
    await walkTree(walk);
    await walkFreeList(walk);
    checkEveryPageAccounted(walk);
    if (options.checkValueLog !== false) await checkValueLogPointers(fs, directory, walk);
    finishStats(walk);
    const errors = walk.problems.list();
    return { report: { ok: walk.problems.count === 0, errors, stats: walk.stats }, walk };
  } finally {
    await pager.close();
  }
}

/**
 * Every value-log pointer must lead to a record that verifies (frame CRC, FlatBuffers) and holds the
 * same key and the revision that wrote it; a missing segment or record is reported, never skipped.
 */
async function checkValueLogPointers(fs: FileSystem, directory: string, walk: ImageWalk): Promise<void> {
  walk.stats.valueLogPointers = walk.pointers.length;
  const handles = new Map<number, FileHandle | 'missing'>();
  try {
    for (const { key, pointer, revision, page } of walk.pointers) {
      const file = vlogSegmentFileName(pointer.segment);
      const where = `page ${page}: key ${toHex(key)} points at ${file} @ ${pointer.offsetBytes}`;
      let handle = handles.get(pointer.segment);
      if (handle === undefined) {
        handle = await fs.open(join(directory, file), { readOnly: true }).catch((error: unknown) => {
          if (isIoError(error, 'ENOENT')) return 'missing' as const;
          throw error;
        });
        handles.set(pointer.segment, handle);
      }
      if (handle === 'missing') {
        walk.problems.add(`${where}, but the segment does not exist`);
        continue;
      }
      const bytes = await handle.read(pointer.offsetBytes, pointer.lengthBytes);
      const read = readVlogRecordFrame(bytes, 0, { file, offsetBytes: pointer.offsetBytes });
      if (bytes.length < pointer.lengthBytes) walk.problems.add(`${where}, past the end of the segment`);
      else if (!read.ok) walk.problems.add(`${where}: ${read.reason}`);
      else if (read.frameBytes !== pointer.lengthBytes)
        walk.problems.add(`${where}: the record is ${read.frameBytes} bytes, not ${pointer.lengthBytes}`);
      else if (compareBytes(read.record.key, key) !== 0)
        walk.problems.add(`${where}: the record holds key ${toHex(read.record.key)}`);
      else if (read.record.lsn !== revision)
        walk.problems.add(
          `${where}: the record was written at LSN ${read.record.lsn}, the leaf says ${revision}`,
        );
    }
  } finally {
    for (const handle of handles.values()) if (handle !== 'missing') await handle.close();
  }
}

function emptyStats(superblock: Superblock | undefined): ValidationStats {
  return {
    generation: superblock?.generation ?? 0n,
    checkpointLsn: superblock?.checkpointLsn ?? lsn(0),
    pageCount: superblock?.pageCount ?? 0,
    depth: 0,
    leafPages: 0,
    internalPages: 0,
    freeListPages: 0,
    freeEntries: 0,
    entries: 0,
    tombstones: 0,
    valueLogPointers: 0,
    fillMin: 0,
    fillMean: 0,
  };
}

function newWalk(pager: Pager, superblock: Superblock, pageSizeBytes: number): ImageWalk {
  return {
    pager,
    superblock,
    usableBytes: nodeUsableBytes(pageSizeBytes),
    depthMax: Math.ceil(Math.log2(Math.max(2, superblock.pageCount))) + 1,
    problems: new Problems(),
    owners: new Map(),
    freeEntries: new Map(),
    stats: emptyStats(superblock),
    leafDepth: undefined,
    lastKey: undefined,
    fillSum: 0,
    pointers: [],
    fillCount: 0,
  };
}

function finishStats(walk: ImageWalk): void {
  walk.stats.depth = walk.leafDepth ?? 0;
  walk.stats.fillMean = walk.fillCount === 0 ? 0 : walk.fillSum / walk.fillCount;
  if (walk.fillCount === 0) walk.stats.fillMin = 0;
}

// ---------------------------------------------------------------------------------------------------
// Page accounting

function inImage(walk: ImageWalk, id: number): boolean {
  return id > PAGE_ID_NONE && id < walk.superblock.pageCount;
}

/** Records the role of page `id`; false (and a problem) when it already has one. */
function claim(walk: ImageWalk, id: number, role: Role, via: string): boolean {
  const owner = walk.owners.get(id);
  if (owner === undefined) {
    walk.owners.set(id, { role, via });
    return true;
  }
  if (owner.role === role && role === 'tree') {
    walk.problems.add(`page ${id}: reachable from the root twice (${owner.via}, and ${via})`);
  } else if (owner.role === role) {
    walk.problems.add(`page ${id}: ${ROLE_TEXT[role]} twice (${owner.via}, and ${via})`);
  } else {
    walk.problems.add(
      `page ${id}: ${ROLE_TEXT[role]} (${via}) and also ${ROLE_TEXT[owner.role]} (${owner.via})`,
    );
  }
  return false;
}

function checkEveryPageAccounted(walk: ImageWalk): void {
  for (let id = PAGE_ID_NONE + 1; id < walk.superblock.pageCount; id++) {
    if (!walk.owners.has(id)) {
      walk.problems.add(
        `page ${id}: leaked (not reachable from the root, not in the free-list chain, not free)`,
      );
    }
  }
}

/** Reads a page through the pager's CRC, id and type checks; a failure becomes a problem. */
async function readChecked(
  walk: ImageWalk,
  id: PageId,
  types: readonly PageType[],
): Promise<Uint8Array | undefined> {
  try {
    return await walk.pager.readPage(id, types);
  } catch (error) {
    if (!(error instanceof CorruptionError)) throw error;
    walk.problems.add(`page ${id}: ${error.message}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// The tree

async function walkTree(walk: ImageWalk): Promise<void> {
  const rootId = walk.superblock.treeRootPageId;
  if (rootId === PAGE_ID_NONE) return;
  await visitNode(walk, { id: rootId, depth: 1, lower: undefined, upper: undefined, via: 'the root' });
}

async function visitNode(walk: ImageWalk, visit: Visit): Promise<void> {
  if (!claim(walk, visit.id, 'tree', visit.via)) return;
  if (visit.depth > walk.depthMax) {
    walk.problems.add(`page ${visit.id}: at depth ${visit.depth}, deeper than any valid tree of this size`);
    return;
  }
  const node = await readNode(walk, visit.id);
  if (node === undefined) return;
  checkKeys(walk, visit, node);
  checkFill(walk, visit, node);
  if (node.kind === 'leaf') visitLeaf(walk, visit, node);
  else await visitChildren(walk, visit, node);
}

async function readNode(walk: ImageWalk, id: PageId): Promise<BtreeNode | undefined> {
  const page = await readChecked(walk, id, [PageType.BtreeLeaf, PageType.BtreeInternal]);
  if (page === undefined) return undefined;
  try {
    return decodeNode(page, { file: walk.pager.path, pageSizeBytes: walk.pager.pageSizeBytes });
  } catch (error) {
    if (!(error instanceof CorruptionError)) throw error;
    walk.problems.add(`page ${id}: ${error.message}`);
    return undefined;
  }
}

function keysOf(node: BtreeNode): Uint8Array[] {
  return node.kind === 'leaf' ? entriesOf(node).map((entry) => entry.key) : node.keys;
}

/** Keys strictly ascending within the page, each in [lower, upper). */
function checkKeys(walk: ImageWalk, visit: Visit, node: BtreeNode): void {
  const keys = keysOf(node);
  keys.forEach((key, index) => {
    const previous = keys[index - 1];
    if (previous !== undefined && compareBytes(previous, key) >= 0) {
      walk.problems.add(`page ${visit.id}: key ${index} is not above key ${index - 1}`);
    }
    if (visit.lower !== undefined && compareBytes(key, visit.lower) < 0) {
      walk.problems.add(`page ${visit.id}: key ${index} (${shortHex(key)}) is below its lower bound`);
    }
    if (visit.upper !== undefined && compareBytes(key, visit.upper) >= 0) {
      walk.problems.add(`page ${visit.id}: key ${index} (${shortHex(key)}) is not below its upper bound`);
    }
  });
}

function shortHex(key: Uint8Array): string {
  const hex = toHex(key.subarray(0, 16));
  return key.length > 16 ? `${hex}… ${key.length} bytes` : hex;
}

/** A non-root node is at least a quarter full; no node is over full; the root holds something. */
function checkFill(walk: ImageWalk, visit: Visit, node: BtreeNode): void {
  const { usableBytes } = walk;
  if (node.usedBytes > usableBytes) {
    walk.problems.add(`page ${visit.id}: uses ${node.usedBytes} bytes, more than the ${usableBytes} usable`);
  }
  if (node.kind === 'internal' && node.keys.length === 0) {
    walk.problems.add(`page ${visit.id}: internal node without keys`);
  }
  if (visit.depth === 1) {
    if (node.kind === 'leaf' && entriesOf(node).length === 0) {
      walk.problems.add(`page ${visit.id}: empty root leaf (an empty tree has no root)`);
    }
    return;
  }
  const minBytes = Math.ceil(usableBytes / 4);
  if (node.usedBytes < minBytes) {
    walk.problems.add(`page ${visit.id}: uses ${node.usedBytes} bytes, under a quarter (${minBytes})`);
  }
  const fill = node.usedBytes / usableBytes;
  walk.fillSum += fill;
  walk.fillCount += 1;
  walk.stats.fillMin = walk.fillCount === 1 ? fill : Math.min(walk.stats.fillMin, fill);
}

function visitLeaf(walk: ImageWalk, visit: Visit, leaf: LeafNode): void {
  walk.stats.leafPages += 1;
  const entries = entriesOf(leaf); // decodeNode returns leaves with their entries as objects
  walk.stats.entries += entries.length;
  for (const entry of entries) {
    if (entry.tombstone) walk.stats.tombstones += 1;
    if (entry.pointer !== undefined) {
      walk.pointers.push({
        key: entry.key,
        pointer: entry.pointer,
        revision: entry.revision,
        page: visit.id,
      });
    }
  }
  if (walk.leafDepth === undefined) walk.leafDepth = visit.depth;
  else if (walk.leafDepth !== visit.depth) {
    walk.problems.add(`page ${visit.id}: leaf at depth ${visit.depth}, others at depth ${walk.leafDepth}`);
  }
  const first = entries[0];
  if (first !== undefined && walk.lastKey !== undefined && compareBytes(walk.lastKey, first.key) >= 0) {
    walk.problems.add(`page ${visit.id}: first key is not above the previous leaf's last key`);
  }
  const last = entries[entries.length - 1];
  if (last !== undefined) walk.lastKey = last.key;
}

async function visitChildren(walk: ImageWalk, visit: Visit, node: InternalNode): Promise<void> {
  walk.stats.internalPages += 1;
  for (let index = 0; index < node.children.length; index++) {
    const child = node.children[index] as PageId;
    const via = `child ${index} of page ${visit.id}`;
    if (!inImage(walk, child)) {
      walk.problems.add(
        `page ${visit.id}: child ${index} is page ${child}, outside [1, ${walk.superblock.pageCount})`,
      );
      continue;
    }
    const lower = index === 0 ? visit.lower : node.keys[index - 1];
    const upper = index === node.keys.length ? visit.upper : node.keys[index];
    await visitNode(walk, { id: child, depth: visit.depth + 1, lower, upper, via });
  }
}

// ---------------------------------------------------------------------------------------------------
// The free list

async function walkFreeList(walk: ImageWalk): Promise<void> {
  const chain = new Set<number>();
  let via = 'the superblock';
  for (let id = walk.superblock.freeListRootPageId; id !== PAGE_ID_NONE; ) {
    if (!inImage(walk, id)) {
      walk.problems.add(`free list: ${via} names page ${id}, outside [1, ${walk.superblock.pageCount})`);
      return;
    }
    if (chain.has(id)) {
      walk.problems.add(`page ${id}: the free-list chain loops back to it (from ${via})`);
      return;
    }
    chain.add(id);
    if (!claim(walk, id, 'free-list page', via)) return;
    const next = await readFreeListPage(walk, id);
    if (next === undefined) return;
    via = `free-list page ${id}`;
    id = next;
  }
}

/** Reads one page of the chain, claims its entries, and returns the next page's id. */
async function readFreeListPage(walk: ImageWalk, id: PageId): Promise<PageId | undefined> {
  const page = await readChecked(walk, id, [PageType.FreeList]);
  if (page === undefined) return undefined;
  let decoded: ReturnType<typeof decodeFreeListPage>;
  try {
    decoded = decodeFreeListPage(page, { file: walk.pager.path, pageSizeBytes: walk.pager.pageSizeBytes });
  } catch (error) {
    if (!(error instanceof CorruptionError)) throw error;
    walk.problems.add(`page ${id}: ${error.message}`);
    return undefined;
  }
  walk.stats.freeListPages += 1;
  decoded.entries.forEach((entry, index) => {
    claimFreeEntry(walk, entry, `entry ${index} of free-list page ${id}`);
  });
  return decoded.nextPageId;
}

function claimFreeEntry(walk: ImageWalk, entry: FreeListEntry, via: string): void {
  walk.stats.freeEntries += 1;
  if (!inImage(walk, entry.pageId)) {
    walk.problems.add(
      `free list: ${via} names page ${entry.pageId}, outside [1, ${walk.superblock.pageCount})`,
    );
    return;
  }
  if (entry.freedInGeneration > walk.superblock.generation) {
    walk.problems.add(
      `page ${entry.pageId}: freed in generation ${entry.freedInGeneration}, after this image's ${walk.superblock.generation} (${via})`,
    );
  }
  if (claim(walk, entry.pageId, 'free entry', via)) walk.freeEntries.set(entry.pageId, entry);
}

// ---------------------------------------------------------------------------------------------------
// The pair of images

/**
 * Falling back to the older image must find its pages, so the newer image may not let any of them be
 * reused: a page the older image reaches must either be unfree in the newer image, or be free with a
 * generation after the older image's (FreeSpace keeps those pending until both superblocks pass it).
 */
function crossCheck(walks: readonly ImageWalk[]): string[] {
  const [first, second] = walks;
  if (first === undefined || second === undefined) return [];
  const [older, newer] =
    first.superblock.generation < second.superblock.generation ? [first, second] : [second, first];
  if (older.superblock.generation === newer.superblock.generation) {
    return [`both superblocks claim generation ${older.superblock.generation}`];
  }
  const problems = new Problems();
  for (const [id, owner] of older.owners) {
    if (owner.role === 'free entry') continue;
    const free = newer.freeEntries.get(id);
    if (free !== undefined && free.freedInGeneration <= older.superblock.generation) {
      problems.add(
        `page ${id}: ${ROLE_TEXT[owner.role]} in generation ${older.superblock.generation}, yet reusable by generation ${newer.superblock.generation}'s free list (freed in ${free.freedInGeneration})`,
      );
    }
  }
  return problems.list();
}
