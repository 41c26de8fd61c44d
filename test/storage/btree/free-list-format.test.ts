// Proves free-list pages round-trip exactly, hold exactly freeListEntriesPerPage entries, match their golden bytes, and that every malformed page is a CorruptionError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFreeListPage,
  encodeFreeListPage,
  FREE_LIST_ENTRIES_OFFSET,
  FREE_LIST_ENTRY_BYTES,
  FREE_LIST_ENTRY_COUNT_OFFSET,
  FREE_LIST_NEXT_PAGE_ID_OFFSET,
  type FreeListEntry,
  type FreeListPage,
  freeListEntriesPerPage,
} from '../../../src/storage/btree/free-list-format.js';
import { encodeNode } from '../../../src/storage/btree/node-format.js';
import {
  PAGE_ID_OFFSET,
  PAGE_TYPE_OFFSET,
  PageType,
  readPageHeader,
  sealPage,
} from '../../../src/storage/pager/page-format.js';
import { AssertionError } from '../../../src/util/assert.js';
import { CorruptionError } from '../../../src/util/errors.js';
import { lsn, PAGE_ID_MAX, pageId } from '../../../src/util/ids.js';
import { testSeed } from '../../../src/util/random.js';
import { expectGolden, readGolden } from '../../helpers/golden.js';

const FILE = 'data.pages';
const PAGE_SIZES = [4096, 16_384, 65_536] as const;
const context = { file: FILE, pageSizeBytes: 4096 };

const GOLDEN_FREE_LIST: FreeListPage = {
  pageId: pageId(23),
  pageLsn: lsn(1010),
  nextPageId: pageId(24),
  entries: [
    { pageId: pageId(9), freedInGeneration: 41n },
    { pageId: pageId(12), freedInGeneration: 42n },
    { pageId: pageId(13), freedInGeneration: 42n },
  ],
};

const goldenPage = (): Uint8Array => encodeFreeListPage(GOLDEN_FREE_LIST, 4096);

function viewOf(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

/** A copy of `page` with `patch` applied and the CRC recomputed, so only the free-list checks can object. */
function patched(page: Uint8Array, patch: (view: DataView, page: Uint8Array) => void): Uint8Array {
  const copy = page.slice();
  patch(viewOf(copy), copy);
  sealPage(copy);
  return copy;
}

function expectCorruption(page: Uint8Array, message: RegExp, id = 23): void {
  let caught: unknown;
  try {
    decodeFreeListPage(page, context);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CorruptionError);
  const error = caught as CorruptionError;
  expect(error.message).toMatch(message);
  expect(error.file).toBe(FILE);
  expect(error.offsetBytes).toBe(id * 4096);
  expect(error.message).toContain(`page ${id}`);
}

function entries(count: number): FreeListEntry[] {
  return Array.from({ length: count }, (_, i) => ({ pageId: pageId(i + 100), freedInGeneration: BigInt(i) }));
}

describe('free-list page format', () => {
  it('the layout is computed from its fields', () => {
    expect(FREE_LIST_ENTRIES_OFFSET).toBe(32);
    expect(FREE_LIST_ENTRY_BYTES).toBe(12);
    expect(freeListEntriesPerPage(4096)).toBe(Math.floor((4096 - 32) / 12));
    expect(freeListEntriesPerPage(65_536)).toBe(5458);
  });

  for (const pageSizeBytes of PAGE_SIZES) {
    it(`random free-list pages round-trip at ${pageSizeBytes} bytes`, () => {
      const seed = testSeed();
      console.log(`free-list round-trip pageSize=${pageSizeBytes} seed=${seed}`);
      const entryArb = fc.record({
        pageId: fc.integer({ min: 1, max: PAGE_ID_MAX }).map(pageId),
        freedInGeneration: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      });
      const pageArb = fc.record({
        pageId: fc.integer({ min: 1, max: PAGE_ID_MAX - 1 }).map(pageId),
        pageLsn: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(lsn),
        nextPageId: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: PAGE_ID_MAX })).map(pageId),
        entries: fc.array(entryArb, { maxLength: freeListEntriesPerPage(pageSizeBytes), size: 'max' }),
      });
      fc.assert(
        fc.property(pageArb, (freeList) => {
          fc.pre(freeList.nextPageId !== freeList.pageId);
          const decoded = decodeFreeListPage(encodeFreeListPage(freeList, pageSizeBytes), {
            file: FILE,
            pageSizeBytes,
          });
          expect(decoded).toEqual({ nextPageId: freeList.nextPageId, entries: freeList.entries });
        }),
        { seed, numRuns: 100 },
      );
    });
  }

  it('an empty last page of the chain round-trips', () => {
    const page = encodeFreeListPage({ ...GOLDEN_FREE_LIST, nextPageId: pageId(0), entries: [] }, 4096);
    expect(decodeFreeListPage(page, context)).toEqual({ nextPageId: 0, entries: [] });
  });

  for (const pageSizeBytes of PAGE_SIZES) {
    it(`a ${pageSizeBytes}-byte page holds exactly freeListEntriesPerPage entries and one more asserts`, () => {
      const full = entries(freeListEntriesPerPage(pageSizeBytes));
      const page = encodeFreeListPage({ ...GOLDEN_FREE_LIST, entries: full }, pageSizeBytes);
      expect(FREE_LIST_ENTRIES_OFFSET + full.length * FREE_LIST_ENTRY_BYTES).toBeLessThanOrEqual(
        pageSizeBytes,
      );
      expect(decodeFreeListPage(page, { file: FILE, pageSizeBytes }).entries).toEqual(full);
      const over = entries(full.length + 1);
      expect(() => encodeFreeListPage({ ...GOLDEN_FREE_LIST, entries: over }, pageSizeBytes)).toThrow(
        AssertionError,
      );
    });
  }

  it('the encoder asserts on page 0, a self-successor and an entry naming page 0', () => {
    expect(() => encodeFreeListPage({ ...GOLDEN_FREE_LIST, pageId: pageId(0) }, 4096)).toThrow(/page 0/);
    expect(() => encodeFreeListPage({ ...GOLDEN_FREE_LIST, nextPageId: pageId(23) }, 4096)).toThrow(
      /own successor/,
    );
    const zero = [{ pageId: pageId(0), freedInGeneration: 1n }];
    expect(() => encodeFreeListPage({ ...GOLDEN_FREE_LIST, entries: zero }, 4096)).toThrow(AssertionError);
  });
});

describe('free-list page format: corruption', () => {
  it('an entryCount one above the page capacity is corruption', () => {
    const count = freeListEntriesPerPage(4096) + 1;
    const page = patched(goldenPage(), (v) => v.setUint32(FREE_LIST_ENTRY_COUNT_OFFSET, count, true));
    expectCorruption(page, new RegExp(`entryCount ${count}, at most ${count - 1} fit in the page`));
  });

  it('an entryCount of 2^32 - 1 is corruption without allocating it', () => {
    const page = patched(goldenPage(), (v) => v.setUint32(FREE_LIST_ENTRY_COUNT_OFFSET, 0xffff_ffff, true));
    expectCorruption(page, /entryCount 4294967295/);
  });

  it('an entry naming page 0 is corruption', () => {
    const at = FREE_LIST_ENTRIES_OFFSET + FREE_LIST_ENTRY_BYTES;
    expectCorruption(
      patched(goldenPage(), (v) => v.setUint32(at, 0, true)),
      /free-list entry 1 names page 0/,
    );
  });

  it('a nextPageId naming the page itself is corruption', () => {
    const page = patched(goldenPage(), (v) => v.setUint32(FREE_LIST_NEXT_PAGE_ID_OFFSET, 23, true));
    expectCorruption(page, /names itself as the next page/);
  });

  it('a page that is not a free-list page is corruption', () => {
    const node = encodeNode(
      {
        kind: 'leaf',
        pageId: pageId(23),
        pageLsn: lsn(1),
        dirty: false,
        usedBytes: 0,
        entries: [],
        packed: undefined,
      },
      4096,
    );
    expectCorruption(node, /page type 3 is not a free-list page/);
  });

  it('a free-list page stored at page id 0 is corruption', () => {
    const page = patched(goldenPage(), (v) => v.setUint32(PAGE_ID_OFFSET, 0, true));
    expectCorruption(page, /page 0 is the file header page/, 0);
  });

  it('a page of the wrong length is corruption', () => {
    expect(() => decodeFreeListPage(goldenPage().subarray(0, 100), context)).toThrow(
      /page of 100 bytes, expected 4096/,
    );
  });

  it('a free-list page with random byte patches decodes or throws only CorruptionError', () => {
    const seed = testSeed();
    console.log(`free-list fuzz seed=${seed}`);
    const valid = goldenPage();
    const endOfEntries = FREE_LIST_ENTRIES_OFFSET + 3 * FREE_LIST_ENTRY_BYTES;
    const offsetArb = fc.oneof(
      fc.integer({ min: PAGE_ID_OFFSET, max: endOfEntries + 4 }),
      fc.nat({ max: 4095 }),
    );
    const patchArb = fc.array(fc.tuple(offsetArb, fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(patchArb, (patches) => {
        const page = patched(valid, (_, bytes) => {
          for (const [offset, value] of patches) bytes[offset] = value;
        });
        let decoded: ReturnType<typeof decodeFreeListPage>;
        try {
          decoded = decodeFreeListPage(page, context);
        } catch (error) {
          expect(error).toBeInstanceOf(CorruptionError);
          return;
        }
        // Whatever the decoder accepts, the encoder can write back byte for byte.
        const { pageId: id, pageLsn } = readPageHeader(page);
        expect(page[PAGE_TYPE_OFFSET]).toBe(PageType.FreeList);
        const again = encodeFreeListPage({ pageId: id, pageLsn, ...decoded }, 4096);
        expect(decodeFreeListPage(again, context)).toEqual(decoded);
      }),
      { seed, numRuns: 3000 },
    );
  });
});

describe('free-list page format: golden page', () => {
  it('the golden free-list page encodes to the golden bytes', () => {
    expectGolden('free-list-page', goldenPage());
  });

  it('the golden free-list page decodes to every expected field', () => {
    const page = readGolden('free-list-page');
    const view = viewOf(page);
    expect(view.getUint32(PAGE_ID_OFFSET, true)).toBe(23);
    expect(page[PAGE_TYPE_OFFSET]).toBe(PageType.FreeList);
    const decoded = decodeFreeListPage(page, context);
    expect(decoded.nextPageId).toBe(24);
    expect(decoded.entries).toEqual([
      { pageId: 9, freedInGeneration: 41n },
      { pageId: 12, freedInGeneration: 42n },
      { pageId: 13, freedInGeneration: 42n },
    ]);
    expect(view.getUint32(FREE_LIST_ENTRY_COUNT_OFFSET, true)).toBe(3);
  });
});
