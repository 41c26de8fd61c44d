// Proves checkLeafPage, the allocation-free check a cache miss runs, accepts and refuses exactly the leaf
// pages decodeNode does, with the same message and the same usedBytes, over random leaves and random
// byte corruptions; and that a packed leaf over an accepted page reads the entries decodeNode built.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BtreeNode } from '../../../src/storage/btree/node.js';
import { checkLeafPage, decodeNode, encodeNode } from '../../../src/storage/btree/node-format.js';
import { PackedLeaf } from '../../../src/storage/btree/packed-leaf.js';
import { PAGE_HEADER_BYTES } from '../../../src/storage/pager/page-format.js';
import { CorruptionError } from '../../../src/util/errors.js';
import { testSeed } from '../../../src/util/random.js';
import { leafNodeArb } from '../../helpers/node-arbitraries.js';

const FILE = 'data.pages';
const RUNS = { 4096: 300, 16384: 120 } as const;

type Outcome =
  | { readonly kind: 'leaf'; readonly pageId: number; readonly pageLsn: bigint; readonly usedBytes: number }
  | { readonly kind: 'not a leaf' }
  | { readonly kind: 'corrupt'; readonly message: string };

function outcomeOf(read: () => Outcome): Outcome {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof CorruptionError)) throw error;
    return { kind: 'corrupt', message: error.message };
  }
}

function leafOutcome(node: BtreeNode): Outcome {
  if (node.kind !== 'leaf') return { kind: 'not a leaf' };
  return { kind: 'leaf', pageId: node.pageId, pageLsn: node.pageLsn, usedBytes: node.usedBytes };
}

/** Writes at random offsets past the page header, most of them into the node header and slots. */
function corruptionArb(pageSizeBytes: number): fc.Arbitrary<Array<{ offset: number; byte: number }>> {
  const nearSlots = fc.integer({ min: PAGE_HEADER_BYTES, max: PAGE_HEADER_BYTES + 64 });
  const anywhere = fc.integer({ min: PAGE_HEADER_BYTES, max: pageSizeBytes - 1 });
  const write = fc.record({ offset: fc.oneof(nearSlots, anywhere), byte: fc.integer({ min: 0, max: 255 }) });
  return fc.array(write, { maxLength: 3 });
}

describe('checkLeafPage', () => {
  for (const pageSizeBytes of [4096, 16384] as const) {
    it(`accepts and refuses exactly what decodeNode does, at ${pageSizeBytes}-byte pages`, () => {
      const seed = testSeed();
      console.log(
        `leaf-page-check pageSize=${pageSizeBytes} seed=${seed} (replay with JUBILANT_SEED=${seed})`,
      );
      const context = { file: FILE, pageSizeBytes };
      let refused = 0;
      fc.assert(
        fc.property(leafNodeArb(pageSizeBytes), corruptionArb(pageSizeBytes), (node, writes) => {
          const page = encodeNode(node, pageSizeBytes);
          for (const { offset, byte } of writes) page[offset] = byte;
          const decoded = outcomeOf(() => leafOutcome(decodeNode(page, context)));
          const checked = outcomeOf(() => {
            const leaf = checkLeafPage(page, context);
            return leaf === undefined ? { kind: 'not a leaf' } : { kind: 'leaf', ...leaf };
          });
          if (checked.kind === 'not a leaf') {
            // A corrupted type byte can make it an internal page: decodeNode then reads or refuses that.
            expect(decoded.kind).not.toBe('leaf');
            return;
          }
          expect(checked).toEqual(decoded);
          if (checked.kind === 'corrupt') {
            refused += 1;
            return;
          }
          const entries = (decodeNode(page, context) as { entries: unknown }).entries;
          expect(new PackedLeaf(page).entries()).toEqual(entries);
        }),
        { seed, numRuns: RUNS[pageSizeBytes] },
      );
      // The corruptions must reach the checks, or this compares only valid pages.
      expect(refused).toBeGreaterThan(RUNS[pageSizeBytes] / 10);
    });
  }

  it('refuses a page of the wrong size, page 0 and a page of another type, as decodeNode does', () => {
    const node = {
      kind: 'leaf' as const,
      pageId: 7 as never,
      pageLsn: 9n as never,
      dirty: true,
      usedBytes: 0,
      entries: [],
      packed: undefined,
    };
    const page = encodeNode(node, 4096);
    const context = { file: FILE, pageSizeBytes: 4096 };
    expect(checkLeafPage(page, context)).toEqual({ pageId: 7, pageLsn: 9n, usedBytes: 0 });
    expect(() => checkLeafPage(page.subarray(0, 2048), context)).toThrow(CorruptionError);
    expect(() => checkLeafPage(new Uint8Array(4096), context)).toThrow(/page 0/);
  });
});
