/**
 * The copy-on-write checker (TESTING.md, "Invariants the fault layer checks on every write", 1): a
 * SimFileSystem write observer that fails the write, and so the test, on the first write to data.pages
 * that covers a page either superblock's image can reach, in its current or its durable bytes. It also
 * fails a page written twice between two superblock writes: a page of an image still being written.
 *
 * It works synchronously from `snapshot()` and `durableSnapshot()` with the formats' own decoders, and
 * recomputes the protected pages only when a superblock file's bytes changed. A superblock or page
 * that does not decode (torn, rotted) is skipped: the checker guards writes, the validator judges bytes.
 */
import { join, resolve } from 'node:path';
import { META_FRAME_PAYLOAD_BYTES_MAX } from '../../src/config/limits.js';
import type { SimFileSystem, WriteEvent } from '../../src/io/sim-file-system.js';
import { decodeSuperblock, SUPERBLOCK_FILES, type Superblock } from '../../src/meta/superblock.js';
import { decodeFreeListPage } from '../../src/storage/btree/free-list-format.js';
import { decodeNode } from '../../src/storage/btree/node-format.js';
import { DATA_PAGES_FILE } from '../../src/storage/btree/page-store.js';
import {
  checkPage,
  PAGE_HEADER_BYTES,
  PageType,
  readPageHeader,
} from '../../src/storage/pager/page-format.js';
import { bytesEqual } from '../../src/util/bytes.js';
import { readFrame } from '../../src/util/checksummed-frame.js';
import { PAGE_ID_NONE, type PageId, pageId } from '../../src/util/ids.js';

export interface CowChecker {
  /** Violations seen so far (each one also failed its write). */
  readonly violations: number;
  /** One line per violation. */
  readonly messages: readonly string[];
  /** Stops observing; the counts stay readable. */
  detach(): void;
}

export interface CowCheckerOptions {
  readonly pageSizeBytes: number;
}

/** Attaches a checker to `fs` for the database in `directory`. */
export function attachCowChecker(
  fs: SimFileSystem,
  directory: string,
  options: CowCheckerOptions,
): CowChecker {
  const state = new CheckerState(fs, directory, options.pageSizeBytes);
  const remove = fs.addWriteObserver((event) => state.observe(event));
  return {
    get violations() {
      return state.messages.length;
    },
    get messages() {
      return state.messages;
    },
    detach: remove,
  };
}

/** The pages covered by a write of `lengthBytes` at `offsetBytes`. */
function pagesCovered(offsetBytes: number, lengthBytes: number, pageSizeBytes: number): number[] {
  if (lengthBytes === 0) return [];
  const first = Math.floor(offsetBytes / pageSizeBytes);
  const last = Math.floor((offsetBytes + lengthBytes - 1) / pageSizeBytes);
  return Array.from({ length: last - first + 1 }, (_, index) => first + index);
}

class CheckerState {
  readonly messages: string[] = [];
  private readonly dataPath: string;
  private readonly superblockPaths: readonly string[];
  /** The superblock bytes the protected set was computed from: current A, B, then durable A, B. */
  private superblockBytes: (Uint8Array | undefined)[] | undefined;
  /** Protected page id -> which image reaches it. */
  private protectedPages = new Map<number, string>();
  private readonly writtenSinceSuperblock = new Set<number>();

  constructor(
    private readonly fs: SimFileSystem,
    directory: string,
    private readonly pageSizeBytes: number,
  ) {
    this.dataPath = resolve(join(directory, DATA_PAGES_FILE));
    this.superblockPaths = [
      resolve(join(directory, SUPERBLOCK_FILES.A)),
      resolve(join(directory, SUPERBLOCK_FILES.B)),
    ];
  }

  observe(event: WriteEvent): void {
    const path = resolve(event.path);
    if (this.superblockPaths.includes(path)) {
      this.writtenSinceSuperblock.clear();
      return;
    }
    if (path !== this.dataPath) return;
    this.refresh();
    for (const id of pagesCovered(event.offsetBytes, event.bytes.byteLength, this.pageSizeBytes)) {
      const image = this.protectedPages.get(id);
      if (image !== undefined)
        this.fail(`write at ${event.offsetBytes} overwrites page ${id}, reachable from ${image}`);
      if (this.writtenSinceSuperblock.has(id)) {
        this.fail(`page ${id} written twice between superblock writes (part of an image being written)`);
      }
      this.writtenSinceSuperblock.add(id);
    }
  }

  private fail(message: string): never {
    this.messages.push(message);
    throw new Error(`copy-on-write violation: ${message}`);
  }

  private refresh(): void {
    const bytes = [
      ...this.superblockPaths.map((path) => this.fs.snapshot(path)),
      ...this.superblockPaths.map((path) => this.fs.durableSnapshot(path)),
    ];
    if (this.superblockBytes !== undefined && sameBytes(this.superblockBytes, bytes)) return;
    this.superblockBytes = bytes;
    this.protectedPages = this.computeProtected(bytes);
  }

  private computeProtected(superblockBytes: readonly (Uint8Array | undefined)[]): Map<number, string> {
    const pages = new Map<number, string>();
    const current = this.fs.snapshot(this.dataPath);
    const durable = this.fs.durableSnapshot(this.dataPath);
    // After an fsync both are the same bytes: walk them once.
    const dataImages = [
      current,
      durable === undefined || (current !== undefined && bytesEqual(current, durable)) ? undefined : durable,
    ];
    for (const { superblock, label } of distinctSuperblocks(superblockBytes)) {
      pages.set(PAGE_ID_NONE, 'the file header');
      for (const data of dataImages) {
        if (data === undefined) continue;
        for (const id of reachablePages(data, superblock, this.pageSizeBytes)) {
          if (!pages.has(id)) pages.set(id, label);
        }
      }
    }
    return pages;
  }
}

/** The superblocks that decode, each image once (a synced superblock's current and durable bytes agree). */
function distinctSuperblocks(
  superblockBytes: readonly (Uint8Array | undefined)[],
): { superblock: Superblock; label: string }[] {
  const found = new Map<string, { superblock: Superblock; label: string }>();
  superblockBytes.forEach((bytes, index) => {
    const superblock = bytes === undefined ? undefined : decodeOrSkip(bytes);
    if (superblock === undefined) return;
    const { generation, treeRootPageId, freeListRootPageId, pageCount } = superblock;
    const key = `${generation}/${treeRootPageId}/${freeListRootPageId}/${pageCount}`;
    const label = `the ${index < 2 ? 'current' : 'durable'} superblock of generation ${generation}`;
    if (!found.has(key)) found.set(key, { superblock, label });
  });
  return [...found.values()];
}

function sameBytes(
  left: readonly (Uint8Array | undefined)[],
  right: readonly (Uint8Array | undefined)[],
): boolean {
  return left.every((bytes, index) => {
    const other = right[index];
    return bytes === undefined || other === undefined ? bytes === other : bytesEqual(bytes, other);
  });
}

function decodeOrSkip(bytes: Uint8Array): Superblock | undefined {
  const frame = readFrame(bytes, 0, META_FRAME_PAYLOAD_BYTES_MAX);
  if (!frame.ok) return undefined;
  try {
    return decodeSuperblock(frame.payload, 'superblock');
  } catch {
    return undefined; // torn or rotted: not an image anyone can open
  }
}

/**
 * The tree pages and free-list pages of `superblock`'s image, as `data` holds them. Only internal and
 * free-list pages are checked and decoded, to follow their links; a leaf's id is known from its parent.
 */
function reachablePages(data: Uint8Array, superblock: Superblock, pageSizeBytes: number): Set<number> {
  const seen = new Set<number>();
  const stack: number[] = superblock.treeRootPageId === PAGE_ID_NONE ? [] : [superblock.treeRootPageId];
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    if (seen.has(id) || id >= superblock.pageCount) continue;
    seen.add(id);
    if (pageTypeAt(data, id, pageSizeBytes) !== PageType.BtreeInternal) continue;
    const page = checkedPage(data, id, pageSizeBytes, [PageType.BtreeInternal]);
    if (page === undefined) continue;
    const node = decodeOrUndefined(() => decodeNode(page, { file: DATA_PAGES_FILE, pageSizeBytes }));
    if (node?.kind === 'internal') stack.push(...node.children);
  }
  for (let id: number = superblock.freeListRootPageId; id !== PAGE_ID_NONE; ) {
    if (seen.has(id) || id >= superblock.pageCount) break;
    seen.add(id);
    const page = checkedPage(data, id, pageSizeBytes, [PageType.FreeList]);
    if (page === undefined) break;
    const list = decodeOrUndefined(() => decodeFreeListPage(page, { file: DATA_PAGES_FILE, pageSizeBytes }));
    id = list?.nextPageId ?? PAGE_ID_NONE;
  }
  return seen;
}

function pageTypeAt(data: Uint8Array, id: number, pageSizeBytes: number): number | undefined {
  const offsetBytes = id * pageSizeBytes;
  if (offsetBytes + PAGE_HEADER_BYTES > data.byteLength) return undefined;
  return readPageHeader(data.subarray(offsetBytes, offsetBytes + PAGE_HEADER_BYTES)).pageType;
}

/** The page's bytes if they pass CRC, id and type checks; undefined otherwise. */
function checkedPage(
  data: Uint8Array,
  id: number,
  pageSizeBytes: number,
  expectedTypes: readonly PageType[],
): Uint8Array | undefined {
  const page = data.subarray(id * pageSizeBytes, (id + 1) * pageSizeBytes);
  const expectedId: PageId = pageId(id);
  return decodeOrUndefined(() => {
    checkPage(page, { file: DATA_PAGES_FILE, pageSizeBytes, expectedId, expectedTypes });
    return page;
  });
}

function decodeOrUndefined<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch {
    return undefined; // bytes that do not decode are the validator's business, not the checker's
  }
}
