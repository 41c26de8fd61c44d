/**
 * Page format of data.pages (docs/format/page.md). Every page starts with this header:
 *
 *   offset  size  field          notes
 *   0       4     crc32c         u32 LE, CRC32C over the whole page with these 4 bytes taken as zero
 *   4       4     pageId         u32 LE, the page's own id: catches misdirected reads and writes
 *   8       8     pageLsn        u64 LE, LSN of the newest change in the page (write-ahead rule)
 *   16      1     pageType       u8, PageType below; 0 never appears on a written page
 *   17      1     formatVersion  u8, PAGE_FORMAT_VERSION
 *   18      6     reserved       zero
 *   24      ...   payload        owned by the page type's module (B+Tree nodes, free list, file header)
 *
 * A page lives at byte offset pageId * pageSizeBytes. Page 0 is the file header page (layout below),
 * so id 0 never names a tree or free-list page. A page is trusted only after CRC, then id, then type
 * check out, in that order (STYLE.md): the CRC proves the bytes are the ones written, the id proves
 * they were written to this place.
 *
 * File header page payload (page 0):
 *   offset  size  field             notes
 *   24      8     magic             "JBPAGES\0"
 *   32      16    databaseUuid      must equal the MANIFEST's
 *   48      4     pageSizeBytes     u32 LE, must equal the MANIFEST's
 */
import { ENTRIES_PER_PAGE_MIN, isValidPageSize, PAGE_SIZE_BYTES_MIN } from '../../config/limits.js';
import { assert } from '../../util/assert.js';
import { bytesEqual } from '../../util/bytes.js';
import { crc32c } from '../../util/crc32c.js';
import { CorruptionError } from '../../util/errors.js';
import { type Lsn, lsn, type PageId, pageId } from '../../util/ids.js';

export const PAGE_CRC_OFFSET = 0;
export const PAGE_ID_OFFSET = PAGE_CRC_OFFSET + 4;
export const PAGE_LSN_OFFSET = PAGE_ID_OFFSET + 4;
export const PAGE_TYPE_OFFSET = PAGE_LSN_OFFSET + 8;
export const PAGE_FORMAT_VERSION_OFFSET = PAGE_TYPE_OFFSET + 1;
export const PAGE_RESERVED_OFFSET = PAGE_FORMAT_VERSION_OFFSET + 1;
export const PAGE_HEADER_BYTES = PAGE_RESERVED_OFFSET + 6;
export const PAGE_FORMAT_VERSION = 1;

export enum PageType {
  FileHeader = 1,
  BtreeInternal = 2,
  BtreeLeaf = 3,
  FreeList = 4,
}

export const FILE_HEADER_MAGIC = new Uint8Array([0x4a, 0x42, 0x50, 0x41, 0x47, 0x45, 0x53, 0x00]); // JBPAGES\0
export const FILE_HEADER_MAGIC_OFFSET = PAGE_HEADER_BYTES;
export const FILE_HEADER_UUID_OFFSET = FILE_HEADER_MAGIC_OFFSET + FILE_HEADER_MAGIC.length;
export const DATABASE_UUID_BYTES = 16;
export const FILE_HEADER_PAGE_SIZE_OFFSET = FILE_HEADER_UUID_OFFSET + DATABASE_UUID_BYTES;
export const FILE_HEADER_END = FILE_HEADER_PAGE_SIZE_OFFSET + 4;
export const FILE_HEADER_PAGE_ID = 0 as PageId;

assert(PAGE_HEADER_BYTES === 24, 'page header layout changed: update docs/format/page.md');
assert(PAGE_HEADER_BYTES * ENTRIES_PER_PAGE_MIN < PAGE_SIZE_BYTES_MIN);
assert(FILE_HEADER_END <= PAGE_SIZE_BYTES_MIN);

const ZERO_CRC = new Uint8Array(4);

export interface PageHeader {
  readonly crc32c: number;
  readonly pageId: PageId;
  readonly pageLsn: Lsn;
  readonly pageType: number;
  readonly formatVersion: number;
}

function viewOf(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.length);
}

export function readPageHeader(page: Uint8Array): PageHeader {
  assert(page.length >= PAGE_HEADER_BYTES);
  const view = viewOf(page);
  return {
    crc32c: view.getUint32(PAGE_CRC_OFFSET, true),
    pageId: pageId(view.getUint32(PAGE_ID_OFFSET, true)),
    pageLsn: lsn(view.getBigUint64(PAGE_LSN_OFFSET, true)),
    pageType: view.getUint8(PAGE_TYPE_OFFSET),
    formatVersion: view.getUint8(PAGE_FORMAT_VERSION_OFFSET),
  };
}

/** Fills a page's header (all but the CRC, which `sealPage` computes last). */
export function initPageHeader(
  page: Uint8Array,
  header: { pageId: PageId; pageLsn: Lsn; pageType: PageType },
): void {
  assert(isValidPageSize(page.length), `page buffer of ${page.length} bytes`);
  const view = viewOf(page);
  view.setUint32(PAGE_CRC_OFFSET, 0, true);
  view.setUint32(PAGE_ID_OFFSET, header.pageId, true);
  view.setBigUint64(PAGE_LSN_OFFSET, header.pageLsn, true);
  view.setUint8(PAGE_TYPE_OFFSET, header.pageType);
  view.setUint8(PAGE_FORMAT_VERSION_OFFSET, PAGE_FORMAT_VERSION);
  page.fill(0, PAGE_RESERVED_OFFSET, PAGE_HEADER_BYTES);
}

export function setPageLsn(page: Uint8Array, pageLsn: Lsn): void {
  viewOf(page).setBigUint64(PAGE_LSN_OFFSET, pageLsn, true);
}

export function computePageCrc(page: Uint8Array): number {
  return crc32c(page.subarray(PAGE_ID_OFFSET), crc32c(ZERO_CRC));
}

/** Computes and stores the page CRC; the page must not change afterwards until it is written. */
export function sealPage(page: Uint8Array): void {
  viewOf(page).setUint32(PAGE_CRC_OFFSET, computePageCrc(page), true);
}

export interface PageCheck {
  readonly file: string;
  readonly pageSizeBytes: number;
  readonly expectedId: PageId;
  /** The types the caller accepts; any other is corruption. */
  readonly expectedTypes: readonly PageType[];
}

/**
 * Throws CorruptionError unless the page's CRC, id and type are right, checked in that order.
 * A page that is all zeros (allocated but never written, or lost) fails the CRC check.
 */
export function checkPage(page: Uint8Array, check: PageCheck): void {
  const offsetBytes = check.expectedId * check.pageSizeBytes;
  const context = { file: check.file, offsetBytes, what: `page ${check.expectedId}` };
  if (page.length !== check.pageSizeBytes) {
    throw new CorruptionError(`short page: ${page.length} of ${check.pageSizeBytes} bytes`, context);
  }
  const header = readPageHeader(page);
  if (header.crc32c !== computePageCrc(page)) throw new CorruptionError('page checksum mismatch', context);
  if (header.pageId !== check.expectedId) {
    throw new CorruptionError(`page holds id ${header.pageId} (misdirected write or read)`, context);
  }
  if (header.formatVersion !== PAGE_FORMAT_VERSION) {
    throw new CorruptionError(`unknown page format version ${header.formatVersion}`, context);
  }
  if (!check.expectedTypes.includes(header.pageType)) {
    throw new CorruptionError(
      `page type ${header.pageType}, expected ${check.expectedTypes.join(' or ')}`,
      context,
    );
  }
}

/** Builds the sealed file header page (page 0). */
export function buildFileHeaderPage(pageSizeBytes: number, databaseUuid: Uint8Array): Uint8Array {
  assert(databaseUuid.length === DATABASE_UUID_BYTES);
  const page = new Uint8Array(pageSizeBytes);
  initPageHeader(page, { pageId: FILE_HEADER_PAGE_ID, pageLsn: lsn(0), pageType: PageType.FileHeader });
  page.set(FILE_HEADER_MAGIC, FILE_HEADER_MAGIC_OFFSET);
  page.set(databaseUuid, FILE_HEADER_UUID_OFFSET);
  viewOf(page).setUint32(FILE_HEADER_PAGE_SIZE_OFFSET, pageSizeBytes, true);
  sealPage(page);
  return page;
}

/** Checks a file header page (already CRC/id/type checked) against the MANIFEST's identity. */
export function checkFileHeaderPage(
  page: Uint8Array,
  expected: { file: string; pageSizeBytes: number; databaseUuid: Uint8Array },
): void {
  const context = { file: expected.file, offsetBytes: 0, what: 'file header page' };
  if (!bytesEqual(page.subarray(FILE_HEADER_MAGIC_OFFSET, FILE_HEADER_UUID_OFFSET), FILE_HEADER_MAGIC)) {
    throw new CorruptionError('bad magic: not a jubilant-db page file', context);
  }
  if (
    !bytesEqual(page.subarray(FILE_HEADER_UUID_OFFSET, FILE_HEADER_PAGE_SIZE_OFFSET), expected.databaseUuid)
  ) {
    throw new CorruptionError('page file belongs to another database (UUID differs from MANIFEST)', context);
  }
  const stored = viewOf(page).getUint32(FILE_HEADER_PAGE_SIZE_OFFSET, true);
  if (stored !== expected.pageSizeBytes) {
    throw new CorruptionError(
      `page file page size ${stored} differs from MANIFEST ${expected.pageSizeBytes}`,
      context,
    );
  }
}

/** The largest key at this page size: an entry (key plus bounded overhead) must fit four to a page. */
export function keySizeMaxBytes(pageSizeBytes: number): number {
  assert(isValidPageSize(pageSizeBytes));
  const entryOverheadBytesMax = 64;
  return Math.floor((pageSizeBytes - PAGE_HEADER_BYTES) / ENTRIES_PER_PAGE_MIN) - entryOverheadBytesMax;
}
