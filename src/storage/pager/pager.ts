/**
 * The pager: fixed-size, CRC-checked pages in data.pages (format: page-format.ts).
 *
 * It reads and writes whole pages and hands out new page ids past the high-water mark; which ids are
 * free, and the rule that a page reachable from a durable superblock is never overwritten, belong to
 * the B+Tree's free-space manager above it. Invariants: every page written is sealed (its CRC matches)
 * and carries its own id; every page returned by `readPage` passed CRC, id and type checks.
 */
import { isValidPageSize } from '../../config/limits.js';
import type { FileHandle, FileSystem } from '../../io/file-system.js';
import { assert } from '../../util/assert.js';
import { CorruptionError, JubilantError } from '../../util/errors.js';
import { type PageId, pageId } from '../../util/ids.js';
import {
  buildFileHeaderPage,
  checkFileHeaderPage,
  checkPage,
  computePageCrc,
  FILE_HEADER_PAGE_ID,
  PageType,
  readPageHeader,
} from './page-format.js';

export interface PagerOptions {
  readonly pageSizeBytes: number;
  readonly databaseUuid: Uint8Array;
}

export class Pager {
  readonly path: string;
  readonly pageSizeBytes: number;
  private readonly file: FileHandle;
  /** Ids below this have been handed out; data.pages may be shorter until they are written. */
  private pageCountValue: number;

  private constructor(file: FileHandle, pageSizeBytes: number, pageCount: number) {
    this.file = file;
    this.path = file.path;
    this.pageSizeBytes = pageSizeBytes;
    this.pageCountValue = pageCount;
  }

  /** Creates data.pages with its header page, durably (the caller fsyncs the directory). */
  static async create(fs: FileSystem, path: string, options: PagerOptions): Promise<Pager> {
    assert(isValidPageSize(options.pageSizeBytes), `invalid page size ${options.pageSizeBytes}`);
    const file = await fs.open(path, { create: true, exclusive: true });
    const pager = new Pager(file, options.pageSizeBytes, 1);
    await file.write(0, buildFileHeaderPage(options.pageSizeBytes, options.databaseUuid));
    await file.sync();
    return pager;
  }

  /**
   * Opens data.pages and checks its header page against the MANIFEST's identity. `pageCount` comes
   * from the chosen superblock: ids at or past it are unused, whatever the file length says.
   */
  static async open(
    fs: FileSystem,
    path: string,
    options: PagerOptions & { readonly pageCount: number; readonly readOnly?: boolean },
  ): Promise<Pager> {
    assert(isValidPageSize(options.pageSizeBytes), `invalid page size ${options.pageSizeBytes}`);
    assert(
      Number.isInteger(options.pageCount) && options.pageCount >= 1,
      'page count includes the header page',
    );
    const file = await fs.open(path, { readOnly: options.readOnly === true });
    const pager = new Pager(file, options.pageSizeBytes, options.pageCount);
    try {
      const header = await pager.readPage(FILE_HEADER_PAGE_ID, [PageType.FileHeader]);
      checkFileHeaderPage(header, { file: path, ...options });
    } catch (error) {
      await file.close();
      throw error;
    }
    return pager;
  }

  get pageCount(): number {
    return this.pageCountValue;
  }

  /** A fresh id past every id handed out so far; the file grows when the page is written. */
  allocatePageId(): PageId {
    const id = pageId(this.pageCountValue);
    this.pageCountValue += 1;
    return id;
  }

  /**
   * Reads a page and checks CRC, id and type; returns the buffer (`into`, or a fresh one) the caller owns.
   */
  async readPage(id: PageId, expectedTypes: readonly PageType[], into?: Uint8Array): Promise<Uint8Array> {
    if (id >= this.pageCountValue) {
      throw new JubilantError('INTERNAL', `read of page ${id} past the page count ${this.pageCountValue}`);
    }
    const offsetBytes = id * this.pageSizeBytes;
    const page = into ?? new Uint8Array(this.pageSizeBytes);
    assert(page.length === this.pageSizeBytes, 'a page buffer of the wrong size');
    // Blocking (see FileHandle.readBlocking): a cache miss is mostly served by the OS page cache.
    const readBytes = this.file.readBlockingInto(offsetBytes, page);
    if (readBytes !== this.pageSizeBytes) {
      throw new CorruptionError(`page ends past end of file (${readBytes} bytes read)`, {
        file: this.path,
        offsetBytes,
        what: `page ${id}`,
      });
    }
    checkPage(page, { file: this.path, pageSizeBytes: this.pageSizeBytes, expectedId: id, expectedTypes });
    return page;
  }

  /** Writes a sealed page at its own id's offset. Not durable until `sync`. */
  async writePage(page: Uint8Array): Promise<void> {
    assert(page.length === this.pageSizeBytes, 'page buffer has the wrong size');
    const header = readPageHeader(page);
    assert(header.crc32c === computePageCrc(page), `page ${header.pageId} written without sealing`);
    assert(header.pageId !== FILE_HEADER_PAGE_ID, 'the file header page is written only at creation');
    assert(header.pageId < this.pageCountValue, `page ${header.pageId} was never allocated`);
    await this.file.write(header.pageId * this.pageSizeBytes, page);
  }

  /** Makes every page written so far durable (fdatasync). */
  async sync(): Promise<void> {
    await this.file.datasync();
  }

  async fileSizeBytes(): Promise<number> {
    return this.file.sizeBytes();
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
