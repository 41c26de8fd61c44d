// Proves the pager returns exactly the pages it wrote and rejects any page whose CRC, id or type is wrong.
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../../../src/io/node-file-system.js';
import { SimFileSystem } from '../../../src/io/sim-file-system.js';
import {
  initPageHeader,
  keySizeMaxBytes,
  PAGE_HEADER_BYTES,
  PageType,
  readPageHeader,
  sealPage,
} from '../../../src/storage/pager/page-format.js';
import { Pager } from '../../../src/storage/pager/pager.js';
import { CorruptionError, isJubilantError } from '../../../src/util/errors.js';
import { lsn, type PageId, pageId } from '../../../src/util/ids.js';
import { SeededRandom, testSeed } from '../../../src/util/random.js';
import { tempDir } from '../../helpers/temp-dir.js';

const PAGE_SIZE_BYTES = 4096;
const UUID = new Uint8Array(16).fill(7);

function makePage(id: PageId, fill: number, pageSizeBytes = PAGE_SIZE_BYTES): Uint8Array {
  const page = new Uint8Array(pageSizeBytes);
  initPageHeader(page, { pageId: id, pageLsn: lsn(1000 + id), pageType: PageType.BtreeLeaf });
  page.fill(fill, PAGE_HEADER_BYTES);
  sealPage(page);
  return page;
}

async function simFs(seed: number): Promise<SimFileSystem> {
  const fs = new SimFileSystem({ seed });
  await fs.mkdir('/db');
  return fs;
}

async function corruptionOf(promise: Promise<unknown>): Promise<CorruptionError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CorruptionError) return error;
    throw error;
  }
  throw new Error('expected a CorruptionError');
}

describe('pager', () => {
  it('pages round-trip through real files and survive reopen', async () => {
    const dir = await tempDir();
    const fs = new NodeFileSystem();
    const path = join(dir, 'data.pages');
    const pager = await Pager.create(fs, path, { pageSizeBytes: PAGE_SIZE_BYTES, databaseUuid: UUID });
    const ids = [pager.allocatePageId(), pager.allocatePageId(), pager.allocatePageId()];
    expect(ids).toEqual([1, 2, 3]);
    for (const id of ids) await pager.writePage(makePage(id, id * 11));
    await pager.sync();
    await pager.close();

    const reopened = await Pager.open(fs, path, {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: UUID,
      pageCount: 4,
    });
    for (const id of ids) {
      const page = await reopened.readPage(id, [PageType.BtreeLeaf]);
      expect(page).toEqual(makePage(id, id * 11));
      expect(readPageHeader(page)).toMatchObject({
        pageId: id,
        pageLsn: 1000n + BigInt(id),
        pageType: PageType.BtreeLeaf,
      });
    }
    expect(await reopened.fileSizeBytes()).toBe(4 * PAGE_SIZE_BYTES);
    await reopened.close();
  });

  it('every page size from 4 KiB to 64 KiB works', async () => {
    for (const pageSizeBytes of [4096, 8192, 16384, 32768, 65536]) {
      const fs = await simFs(1);
      const pager = await Pager.create(fs, '/db/data.pages', { pageSizeBytes, databaseUuid: UUID });
      const id = pager.allocatePageId();
      await pager.writePage(makePage(id, 0xab, pageSizeBytes));
      expect(await pager.readPage(id, [PageType.BtreeLeaf])).toEqual(makePage(id, 0xab, pageSizeBytes));
      expect(keySizeMaxBytes(pageSizeBytes)).toBeLessThan(pageSizeBytes / 4);
    }
  });

  it('the maximum key size is about 4 KB at the default 16 KiB page', () => {
    expect(keySizeMaxBytes(16384)).toBeGreaterThan(3900);
    expect(keySizeMaxBytes(16384)).toBeLessThan(4096);
  });

  it('every single-bit flip anywhere in a page is rejected', async () => {
    const seed = testSeed();
    console.log(`pager bit-flip seed=${seed}`);
    const fs = await simFs(seed);
    const pager = await Pager.create(fs, '/db/data.pages', {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: UUID,
    });
    const id = pager.allocatePageId();
    const random = new SeededRandom(seed);
    await pager.writePage(makePage(id, 0x5a));
    await pager.sync();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: PAGE_SIZE_BYTES * 8 - 1 }), async (bit) => {
        const offset = id * PAGE_SIZE_BYTES + Math.floor(bit / 8);
        fs.corruptAtRest('/db/data.pages', offset, bit % 8);
        const error = await corruptionOf(pager.readPage(id, [PageType.BtreeLeaf]));
        fs.corruptAtRest('/db/data.pages', offset, bit % 8); // flip back
        expect(error.file).toBe('/db/data.pages');
        expect(error.message).toContain(`page ${id}`);
      }),
      { seed: random.nextU32() | 0, numRuns: 2000 },
    );
    expect(await pager.readPage(id, [PageType.BtreeLeaf])).toEqual(makePage(id, 0x5a));
  });

  it('a page read at the wrong id is rejected as misdirected', async () => {
    const fs = await simFs(2);
    const pager = await Pager.create(fs, '/db/data.pages', {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: UUID,
    });
    const first = pager.allocatePageId();
    const second = pager.allocatePageId();
    await pager.writePage(makePage(first, 1));
    await pager.writePage(makePage(second, 2));
    fs.misdirectRead({ nth: 1, offsetDeltaBytes: PAGE_SIZE_BYTES });
    const error = await corruptionOf(pager.readPage(first, [PageType.BtreeLeaf]));
    expect(error.message).toContain(`holds id ${second}`);
  });

  it('a misdirected page write is caught when the page is read back', async () => {
    const fs = await simFs(3);
    const pager = await Pager.create(fs, '/db/data.pages', {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: UUID,
    });
    const first = pager.allocatePageId();
    const second = pager.allocatePageId();
    await pager.writePage(makePage(second, 2));
    fs.misdirectWrite({ nth: 1, offsetDeltaBytes: PAGE_SIZE_BYTES });
    await pager.writePage(makePage(first, 1)); // lands on page 2's place
    expect((await corruptionOf(pager.readPage(second, [PageType.BtreeLeaf]))).message).toContain(
      `holds id ${first}`,
    );
    expect((await corruptionOf(pager.readPage(first, [PageType.BtreeLeaf]))).message).toContain('checksum');
  });

  it('a page of the wrong type is rejected', async () => {
    const fs = await simFs(4);
    const pager = await Pager.create(fs, '/db/data.pages', {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: UUID,
    });
    const id = pager.allocatePageId();
    await pager.writePage(makePage(id, 9));
    const error = await corruptionOf(pager.readPage(id, [PageType.BtreeInternal, PageType.FreeList]));
    expect(error.message).toContain('page type 3, expected 2 or 4');
  });

  it('a torn page write is rejected after power loss', async () => {
    const seed = testSeed();
    console.log(`pager torn-write seed=${seed}`);
    let tornSeen = 0;
    for (let round = 0; round < 40 && tornSeen < 5; round++) {
      const fs = await simFs(seed + round);
      const pager = await Pager.create(fs, '/db/data.pages', {
        pageSizeBytes: PAGE_SIZE_BYTES,
        databaseUuid: UUID,
      });
      await fs.syncDirectory('/db');
      const id = pager.allocatePageId();
      await pager.writePage(makePage(id, 0x11));
      await pager.sync();
      await pager.writePage(makePage(id, 0x22)); // never synced: pending at the crash
      const after = fs.powerLoss().fs;
      const reopened = await Pager.open(after, '/db/data.pages', {
        pageSizeBytes: PAGE_SIZE_BYTES,
        databaseUuid: UUID,
        pageCount: 2,
      });
      try {
        const page = await reopened.readPage(id, [PageType.BtreeLeaf]);
        expect([makePage(id, 0x11), makePage(id, 0x22)]).toContainEqual(page);
      } catch (error) {
        expect(isJubilantError(error, 'CORRUPTION')).toBe(true);
        tornSeen += 1;
      }
    }
    expect(tornSeen).toBeGreaterThan(0);
  });

  it('an all-zero page (allocated, never written) is rejected', async () => {
    const fs = await simFs(5);
    const pager = await Pager.create(fs, '/db/data.pages', {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: UUID,
    });
    const first = pager.allocatePageId();
    const second = pager.allocatePageId();
    await pager.writePage(makePage(second, 1));
    expect((await corruptionOf(pager.readPage(first, [PageType.BtreeLeaf]))).message).toContain('checksum');
  });

  it('opening a page file of another database or page size is refused', async () => {
    const fs = await simFs(6);
    const pager = await Pager.create(fs, '/db/data.pages', {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: UUID,
    });
    await pager.close();
    const otherUuid = new Uint8Array(16).fill(8);
    const wrongDb = await corruptionOf(
      Pager.open(fs, '/db/data.pages', {
        pageSizeBytes: PAGE_SIZE_BYTES,
        databaseUuid: otherUuid,
        pageCount: 1,
      }),
    );
    expect(wrongDb.message).toContain('another database');
    const wrongSize = await corruptionOf(
      Pager.open(fs, '/db/data.pages', { pageSizeBytes: 8192, databaseUuid: UUID, pageCount: 1 }),
    );
    expect(wrongSize.message).toContain('page');
  });

  it('writing an unsealed page is an assertion failure, not a silent bad write', async () => {
    const fs = await simFs(7);
    const pager = await Pager.create(fs, '/db/data.pages', {
      pageSizeBytes: PAGE_SIZE_BYTES,
      databaseUuid: UUID,
    });
    const page = makePage(pager.allocatePageId(), 1);
    page[100] = 0xff;
    await expect(pager.writePage(page)).rejects.toThrow('without sealing');
    await expect(pager.writePage(makePage(pageId(9), 1))).rejects.toThrow('never allocated');
  });
});
