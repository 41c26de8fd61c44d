/**
 * Free-list pages (docs/format/btree.md): the persisted list of freed page ids, a chain of FreeList
 * pages written with each checkpoint and rooted at the superblock's free_list_root_page_id. All integers
 * little-endian.
 *
 *   offset  size  field              notes
 *   24      4     nextPageId         u32: the next free-list page, 0 = last
 *   28      4     entryCount         u32
 *   32      …     entries            12 bytes each:
 *   +0      4       pageId           u32, never 0
 *   +4      8       freedInGeneration  u64
 *
 * `freedInGeneration` is the first superblock generation whose image does not reference the page. The
 * page may be reused once both superblocks' generations are >= it: until then the fallback superblock's
 * image may still read it. Entries are in any order; bytes after the last entry are zero when written
 * and ignored when read.
 */
import { isValidPageSize, PAGE_SIZE_BYTES_MAX, PAGE_SIZE_BYTES_MIN } from '../../config/limits.js';
import { assert } from '../../util/assert.js';
import { type CorruptionContext, CorruptionError } from '../../util/errors.js';
import { type Lsn, PAGE_ID_MAX, PAGE_ID_NONE, type PageId, pageId } from '../../util/ids.js';
import {
  initPageHeader,
  PAGE_HEADER_BYTES,
  PageType,
  readPageHeader,
  sealPage,
} from '../pager/page-format.js';

export const FREE_LIST_NEXT_PAGE_ID_OFFSET = PAGE_HEADER_BYTES;
export const FREE_LIST_ENTRY_COUNT_OFFSET = FREE_LIST_NEXT_PAGE_ID_OFFSET + 4;
export const FREE_LIST_ENTRIES_OFFSET = FREE_LIST_ENTRY_COUNT_OFFSET + 4;
export const FREE_LIST_HEADER_BYTES = FREE_LIST_ENTRIES_OFFSET - PAGE_HEADER_BYTES;
export const FREE_LIST_ENTRY_PAGE_ID_OFFSET = 0;
export const FREE_LIST_ENTRY_GENERATION_OFFSET = FREE_LIST_ENTRY_PAGE_ID_OFFSET + 4;
export const FREE_LIST_ENTRY_BYTES = FREE_LIST_ENTRY_GENERATION_OFFSET + 8;

const U64_MAX = (1n << 64n) - 1n;

export interface FreeListEntry {
  readonly pageId: PageId;
  /** The first superblock generation whose image does not reference the page. */
  readonly freedInGeneration: bigint;
}

export interface FreeListPage {
  readonly pageId: PageId;
  readonly pageLsn: Lsn;
  /** The next page of the chain; PAGE_ID_NONE ends it. */
  readonly nextPageId: PageId;
  readonly entries: readonly FreeListEntry[];
}

export function freeListEntriesPerPage(pageSizeBytes: number): number {
  assert(isValidPageSize(pageSizeBytes), `invalid page size ${pageSizeBytes}`);
  return Math.floor((pageSizeBytes - FREE_LIST_ENTRIES_OFFSET) / FREE_LIST_ENTRY_BYTES);
}

assert(FREE_LIST_ENTRIES_OFFSET === 32 && FREE_LIST_ENTRY_BYTES === 12, 'update docs/format/btree.md');
assert(FREE_LIST_HEADER_BYTES === 8);
// A page holds hundreds of entries even at the smallest size, and the u32 count never limits it.
assert(freeListEntriesPerPage(PAGE_SIZE_BYTES_MIN) >= 256);
assert(freeListEntriesPerPage(PAGE_SIZE_BYTES_MAX) <= 0xffff_ffff);

function viewOf(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.length);
}

/** Encodes one page of the chain, sealed. */
export function encodeFreeListPage(freeList: FreeListPage, pageSizeBytes: number): Uint8Array {
  const { entries } = freeList;
  assert(freeList.pageId !== PAGE_ID_NONE, 'page 0 is the file header page, never a free-list page');
  assert(freeList.nextPageId !== freeList.pageId, 'a free-list page cannot be its own successor');
  assert(
    Number.isInteger(freeList.nextPageId) && freeList.nextPageId >= 0 && freeList.nextPageId <= PAGE_ID_MAX,
  );
  const entriesMax = freeListEntriesPerPage(pageSizeBytes);
  assert(entries.length <= entriesMax, `${entries.length} free-list entries, at most ${entriesMax} per page`);
  const page = new Uint8Array(pageSizeBytes);
  initPageHeader(page, { pageId: freeList.pageId, pageLsn: freeList.pageLsn, pageType: PageType.FreeList });
  const view = viewOf(page);
  view.setUint32(FREE_LIST_NEXT_PAGE_ID_OFFSET, freeList.nextPageId, true);
  view.setUint32(FREE_LIST_ENTRY_COUNT_OFFSET, entries.length, true);
  entries.forEach((entry, index) => {
    assert(Number.isInteger(entry.pageId) && entry.pageId > PAGE_ID_NONE && entry.pageId <= PAGE_ID_MAX);
    assert(entry.freedInGeneration >= 0n && entry.freedInGeneration <= U64_MAX, 'generation is a u64');
    const offset = FREE_LIST_ENTRIES_OFFSET + index * FREE_LIST_ENTRY_BYTES;
    view.setUint32(offset + FREE_LIST_ENTRY_PAGE_ID_OFFSET, entry.pageId, true);
    view.setBigUint64(offset + FREE_LIST_ENTRY_GENERATION_OFFSET, entry.freedInGeneration, true);
  });
  sealPage(page);
  return page;
}

export interface FreeListDecodeContext {
  readonly file: string;
  readonly pageSizeBytes: number;
}

/** Decodes a free-list page that already passed the pager's CRC, id and type checks. */
export function decodeFreeListPage(
  page: Uint8Array,
  context: FreeListDecodeContext,
): { nextPageId: PageId; entries: FreeListEntry[] } {
  const where = checkedContext(page, context);
  const fail = (message: string): never => {
    throw new CorruptionError(message, where);
  };
  const header = readPageHeader(page);
  if (header.pageId === PAGE_ID_NONE) fail('page 0 is the file header page, never a free-list page');
  if (header.pageType !== PageType.FreeList) fail(`page type ${header.pageType} is not a free-list page`);
  const view = viewOf(page);
  const nextPageId = view.getUint32(FREE_LIST_NEXT_PAGE_ID_OFFSET, true);
  if (nextPageId === header.pageId) fail(`free-list page names itself as the next page`);
  const entryCount = view.getUint32(FREE_LIST_ENTRY_COUNT_OFFSET, true);
  const entriesMax = freeListEntriesPerPage(context.pageSizeBytes);
  if (entryCount > entriesMax) fail(`entryCount ${entryCount}, at most ${entriesMax} fit in the page`);
  const entries: FreeListEntry[] = [];
  for (let index = 0; index < entryCount; index++) {
    const offset = FREE_LIST_ENTRIES_OFFSET + index * FREE_LIST_ENTRY_BYTES;
    const entryPageId = view.getUint32(offset + FREE_LIST_ENTRY_PAGE_ID_OFFSET, true);
    if (entryPageId === PAGE_ID_NONE) fail(`free-list entry ${index} names page 0`);
    const freedInGeneration = view.getBigUint64(offset + FREE_LIST_ENTRY_GENERATION_OFFSET, true);
    entries.push({ pageId: pageId(entryPageId), freedInGeneration });
  }
  return { nextPageId: pageId(nextPageId), entries };
}

/** The error context naming the page; a page of the wrong length is corruption before anything is read. */
function checkedContext(page: Uint8Array, context: FreeListDecodeContext): CorruptionContext {
  assert(isValidPageSize(context.pageSizeBytes), `invalid page size ${context.pageSizeBytes}`);
  if (page.length !== context.pageSizeBytes) {
    throw new CorruptionError(`page of ${page.length} bytes, expected ${context.pageSizeBytes}`, {
      file: context.file,
      what: 'free-list page',
    });
  }
  const id = readPageHeader(page).pageId;
  return { file: context.file, offsetBytes: id * context.pageSizeBytes, what: `page ${id}` };
}
