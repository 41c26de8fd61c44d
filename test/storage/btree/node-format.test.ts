// Proves B+Tree node pages round-trip exactly, fill to the byte, match their golden bytes, and that every malformed page is a CorruptionError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFreeListPage } from '../../../src/storage/btree/free-list-format.js';
import {
  type InternalNode,
  type LeafEntry,
  type LeafNode,
  packedLeafNode,
} from '../../../src/storage/btree/node.js';
import {
  decodeNode,
  encodeNode,
  INLINE_VALUE_HEADER_BYTES,
  INTERNAL_CELL_CHILD_OFFSET,
  INTERNAL_CELL_KEY_BYTES_OFFSET,
  internalEntryBytes,
  internalNodeUsedBytes,
  LEAF_CELL_EXPIRES_AT_OFFSET,
  LEAF_CELL_FLAGS_OFFSET,
  LEAF_CELL_KEY_BYTES_OFFSET,
  LEAF_CELL_OVERHEAD_BYTES,
  LEAF_CELL_VALUE_PART_OFFSET,
  LEAF_CELL_VALUE_TYPE_OFFSET,
  leafEntryBytes,
  leafNodeUsedBytes,
  NODE_CELLS_START_OFFSET,
  NODE_ENTRY_COUNT_OFFSET,
  NODE_HEADER_BYTES,
  NODE_LEFTMOST_CHILD_OFFSET,
  NODE_PAYLOAD_OFFSET,
  NODE_RESERVED_A_OFFSET,
  NODE_RESERVED_B_OFFSET,
  nodeEntryBytesMax,
  nodeUsableBytes,
  SLOT_BYTES,
  VALUE_LOG_OFFSET_BYTES_OFFSET,
} from '../../../src/storage/btree/node-format.js';
import {
  entriesOf,
  leafCount,
  leafEntryAt,
  leafFind,
  leafKeyAt,
  leafLowerBound,
  lowerBound,
} from '../../../src/storage/btree/node-ops.js';
import { PackedLeaf, packedLowerBound } from '../../../src/storage/btree/packed-leaf.js';
import {
  keySizeMaxBytes,
  PAGE_ID_OFFSET,
  PAGE_TYPE_OFFSET,
  PageType,
  sealPage,
} from '../../../src/storage/pager/page-format.js';
import { AssertionError } from '../../../src/util/assert.js';
import { compareBytes, utf8 } from '../../../src/util/bytes.js';
import { CorruptionError } from '../../../src/util/errors.js';
import { lsn, pageId } from '../../../src/util/ids.js';
import { testSeed } from '../../../src/util/random.js';
import { int64Bytes, internalNodeArb, leafNodeArb } from '../../helpers/node-arbitraries.js';
import { expectGolden, readGolden } from '../../helpers/golden.js';

const FILE = 'data.pages';
const PAGE_SIZES = [4096, 16_384, 65_536] as const;
const GOLDEN_PAGE_SIZE_BYTES = 4096;
// Larger pages hold more entries per run, so fewer runs cover as many entries.
const ROUND_TRIP_RUNS = { 4096: 100, 16384: 60, 65536: 30 } as const;
const context = { file: FILE, pageSizeBytes: GOLDEN_PAGE_SIZE_BYTES };

const GOLDEN_LEAF_ENTRIES: LeafEntry[] = [
  {
    key: utf8('bin/blob'),
    valueType: 'bytes',
    tombstone: false,
    inlineValue: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
    expiresAtMs: 0,
    revision: lsn(995),
  },
  {
    key: utf8('counter'),
    valueType: 'int64',
    tombstone: false,
    inlineValue: int64Bytes(42n),
    expiresAtMs: 0,
    revision: lsn(998),
  },
  {
    key: utf8('greeting'),
    valueType: 'string',
    tombstone: false,
    inlineValue: utf8('hello'),
    expiresAtMs: 1_767_225_600_000,
    revision: lsn(1000),
  },
  {
    key: utf8('images/cat.png'),
    valueType: 'bytes',
    tombstone: false,
    pointer: { segment: 3, offsetBytes: 65_536, lengthBytes: 1576 },
    expiresAtMs: 0,
    revision: lsn(1001),
  },
  { key: utf8('old'), valueType: 'bytes', tombstone: true, expiresAtMs: 0, revision: lsn(1002) },
];

const GOLDEN_LEAF: LeafNode = {
  kind: 'leaf',
  pageId: pageId(2),
  pageLsn: lsn(1002),
  dirty: true,
  usedBytes: leafNodeUsedBytes(GOLDEN_LEAF_ENTRIES),
  entries: GOLDEN_LEAF_ENTRIES,
  packed: undefined,
};

const GOLDEN_INTERNAL_KEYS = [utf8('f'), utf8('m'), utf8('t')];
const GOLDEN_INTERNAL: InternalNode = {
  kind: 'internal',
  pageId: pageId(7),
  pageLsn: lsn(1010),
  dirty: true,
  usedBytes: internalNodeUsedBytes(GOLDEN_INTERNAL_KEYS),
  keys: GOLDEN_INTERNAL_KEYS,
  children: [pageId(3), pageId(4), pageId(5), pageId(6)],
};

/** usedBytes read off the page itself: the slots plus the cell area, which cells tile exactly. */
function usedBytesOnPage(page: Uint8Array): number {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const entryCount = view.getUint16(NODE_ENTRY_COUNT_OFFSET, true);
  return entryCount * SLOT_BYTES + page.byteLength - view.getUint32(NODE_CELLS_START_OFFSET, true);
}

// ---------------------------------------------------------------------------------------------------
// Helpers for building exact sizes and corrupt pages.

/** A leaf entry of exactly `entryBytes` (slot + cell), made by sizing its inline value. */
function inlineEntryOfBytes(key: Uint8Array, entryBytes: number): LeafEntry {
  const valueBytes =
    entryBytes - (SLOT_BYTES + LEAF_CELL_OVERHEAD_BYTES + INLINE_VALUE_HEADER_BYTES + key.byteLength);
  expect(valueBytes).toBeGreaterThanOrEqual(0);
  return {
    key,
    valueType: 'bytes',
    tombstone: false,
    inlineValue: new Uint8Array(valueBytes).fill(0x5a),
    expiresAtMs: 0,
    revision: lsn(1),
  };
}

function leafOf(entries: LeafEntry[], id = 9): LeafNode {
  return {
    kind: 'leaf',
    pageId: pageId(id),
    pageLsn: lsn(50),
    dirty: true,
    usedBytes: leafNodeUsedBytes(entries),
    entries,
    packed: undefined,
  };
}

function viewOf(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

function slotOf(page: Uint8Array, index: number): number {
  return viewOf(page).getUint16(NODE_PAYLOAD_OFFSET + index * SLOT_BYTES, true);
}

/** A copy of `page` with `patch` applied and the CRC recomputed, so only the node checks can object. */
function patched(page: Uint8Array, patch: (view: DataView, page: Uint8Array) => void): Uint8Array {
  const copy = page.slice();
  patch(viewOf(copy), copy);
  sealPage(copy);
  return copy;
}

function corruptionFrom(page: Uint8Array, pageSizeBytes = GOLDEN_PAGE_SIZE_BYTES): CorruptionError {
  try {
    decodeNode(page, { file: FILE, pageSizeBytes });
  } catch (error) {
    if (error instanceof CorruptionError) return error;
    throw error;
  }
  throw new Error('expected a CorruptionError');
}

/** Asserts the error and its diagnostic: the message, the file, the page's offset and id. */
function expectCorruption(page: Uint8Array, message: RegExp, id: number): void {
  const error = corruptionFrom(page);
  expect(error.message).toMatch(message);
  expect(error.code).toBe('CORRUPTION');
  expect(error.file).toBe(FILE);
  expect(error.offsetBytes).toBe(id * GOLDEN_PAGE_SIZE_BYTES);
  expect(error.message).toContain(`page ${id}`);
}

const leafPage = (): Uint8Array => encodeNode(GOLDEN_LEAF, GOLDEN_PAGE_SIZE_BYTES);
const internalPage = (): Uint8Array => encodeNode(GOLDEN_INTERNAL, GOLDEN_PAGE_SIZE_BYTES);
const leafCell = (page: Uint8Array, index: number, field: number): number => slotOf(page, index) + field;

describe('B+Tree node format: layout', () => {
  it('the header and cell sizes are computed from their fields', () => {
    expect(NODE_HEADER_BYTES).toBe(16);
    expect(NODE_PAYLOAD_OFFSET).toBe(40);
    expect(SLOT_BYTES).toBe(2);
    expect(LEAF_CELL_OVERHEAD_BYTES).toBe(20);
    expect(nodeUsableBytes(4096)).toBe(4056);
    expect(nodeEntryBytesMax(4096)).toBe(1014);
    expect(nodeEntryBytesMax(16_384)).toBe(4086);
  });

  it('a largest key fits in an entry of every shape at every page size', () => {
    for (const size of [4096, 8192, 16_384, 32_768, 65_536]) {
      const key = new Uint8Array(keySizeMaxBytes(size)).fill(1);
      const base = { key, valueType: 'bytes' as const, expiresAtMs: 0, revision: lsn(1) };
      const empty: LeafEntry = { ...base, tombstone: false, inlineValue: new Uint8Array(0) };
      const pointer: LeafEntry = {
        ...base,
        tombstone: false,
        pointer: { segment: 1, offsetBytes: 0, lengthBytes: 9 },
      };
      expect(leafEntryBytes(empty)).toBeLessThanOrEqual(nodeEntryBytesMax(size));
      expect(leafEntryBytes(pointer)).toBeLessThanOrEqual(nodeEntryBytesMax(size));
      expect(internalEntryBytes(key)).toBeLessThanOrEqual(nodeEntryBytesMax(size));
      expect(decodeNode(encodeNode(leafOf([empty]), size), { file: FILE, pageSizeBytes: size })).toEqual({
        ...leafOf([empty]),
        dirty: false,
      });
    }
  });
});

describe('B+Tree node format: round trips', () => {
  for (const pageSizeBytes of PAGE_SIZES) {
    it(`random leaf nodes round-trip with dirty false and usedBytes exact at ${pageSizeBytes} bytes`, () => {
      const seed = testSeed();
      console.log(`node-format leaf round-trip pageSize=${pageSizeBytes} seed=${seed}`);
      fc.assert(
        fc.property(leafNodeArb(pageSizeBytes), (node) => {
          const page = encodeNode(node, pageSizeBytes);
          const decoded = decodeNode(page, { file: FILE, pageSizeBytes });
          expect(decoded).toEqual({ ...node, dirty: false });
          expect(decoded.usedBytes).toBe(usedBytesOnPage(page));
        }),
        { seed, numRuns: ROUND_TRIP_RUNS[pageSizeBytes] },
      );
    });

    it(`random internal nodes round-trip with dirty false and usedBytes exact at ${pageSizeBytes} bytes`, () => {
      const seed = testSeed();
      console.log(`node-format internal round-trip pageSize=${pageSizeBytes} seed=${seed}`);
      fc.assert(
        fc.property(internalNodeArb(pageSizeBytes), (node) => {
          const page = encodeNode(node, pageSizeBytes);
          const decoded = decodeNode(page, { file: FILE, pageSizeBytes });
          expect(decoded).toEqual({ ...node, dirty: false });
          expect(decoded.usedBytes).toBe(usedBytesOnPage(page));
        }),
        { seed, numRuns: ROUND_TRIP_RUNS[pageSizeBytes] },
      );
    });
  }

  for (const pageSizeBytes of [4096, 16384] as const) {
    it(`a packed leaf reads, searches and finds exactly as the decoded leaf at ${pageSizeBytes} bytes`, () => {
      const seed = testSeed();
      console.log(`node-format packed leaf pageSize=${pageSizeBytes} seed=${seed}`);
      const probesArb = fc.array(fc.uint8Array({ minLength: 1, maxLength: 24 }), { maxLength: 24 });
      fc.assert(
        fc.property(leafNodeArb(pageSizeBytes), probesArb, (node, randomProbes) => {
          const page = encodeNode(node, pageSizeBytes);
          const model = entriesOf(node); // the entries the page was encoded from: the model
          const packed = new PackedLeaf(page);
          expect(packed.count).toBe(model.length);
          expect(packed.entries()).toEqual(model);
          const leaf = packedLeafNode(node.pageId, node.pageLsn, node.usedBytes, packed);
          expect(leafCount(leaf)).toBe(model.length);
          // Probes: every key, each key's neighbours by one byte, and random keys.
          const probes: Uint8Array[] = [...randomProbes];
          for (const { key } of model) probes.push(key, key.slice(0, -1), Uint8Array.of(...key, 0));
          for (const probe of probes) {
            if (probe.length === 0) continue;
            const expected = lowerBound(model, probe);
            expect(packedLowerBound(packed, probe)).toBe(expected);
            expect(leafLowerBound(leaf, probe)).toBe(expected); // through the key heads
            const hit = model[expected];
            const found = hit !== undefined && compareBytes(hit.key, probe) === 0 ? hit : undefined;
            expect(leafFind(leaf, probe)).toEqual(found);
          }
          model.forEach((entry, index) => {
            expect(leafEntryAt(leaf, index)).toEqual(entry);
            expect(leafKeyAt(leaf, index)).toEqual(entry.key);
          });
          expect(leafEntryAt(leaf, -1)).toBeUndefined();
          expect(leafEntryAt(leaf, model.length)).toBeUndefined();
          // Keys and values handed out are views into the page, not copies.
          if (model.length > 0) expect(packed.entryAt(0).key.buffer).toBe(page.buffer);
        }),
        { seed, numRuns: ROUND_TRIP_RUNS[pageSizeBytes] },
      );
    });
  }

  it('an empty leaf round-trips with cellsStartOffset at the page end', () => {
    const page = encodeNode(leafOf([]), 65_536);
    expect(viewOf(page).getUint32(NODE_CELLS_START_OFFSET, true)).toBe(65_536);
    expect(decodeNode(page, { file: FILE, pageSizeBytes: 65_536 })).toEqual({ ...leafOf([]), dirty: false });
  });

  it('decoded keys and values are views into the page, which the decoder takes over (no copy per value)', () => {
    const page = leafPage();
    const decoded = decodeNode(page, context);
    if (decoded.kind !== 'leaf') throw new Error('expected a leaf');
    expect(decoded.entries?.[0]?.key).toEqual(utf8('bin/blob'));
    expect(decoded.entries?.[0]?.key.buffer).toBe(page.buffer);
    expect(decoded.entries?.[0]?.inlineValue).toEqual(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    expect(decoded.entries?.[0]?.inlineValue?.buffer).toBe(page.buffer);
  });
});

describe('B+Tree node format: capacity', () => {
  for (const pageSizeBytes of PAGE_SIZES) {
    it(`four entries of nodeEntryBytesMax fill a ${pageSizeBytes}-byte page exactly`, () => {
      const entryMax = nodeEntryBytesMax(pageSizeBytes);
      const entries = [0, 1, 2, 3].map((i) => inlineEntryOfBytes(utf8(`k${i}`), entryMax));
      const page = encodeNode(leafOf(entries), pageSizeBytes);
      expect(leafNodeUsedBytes(entries)).toBe(nodeUsableBytes(pageSizeBytes));
      expect(viewOf(page).getUint32(NODE_CELLS_START_OFFSET, true)).toBe(
        NODE_PAYLOAD_OFFSET + 4 * SLOT_BYTES,
      );
      expect(decodeNode(page, { file: FILE, pageSizeBytes })).toEqual({ ...leafOf(entries), dirty: false });
    });

    it(`a node of exactly nodeUsableBytes encodes and one byte more asserts at ${pageSizeBytes} bytes`, () => {
      const usable = nodeUsableBytes(pageSizeBytes);
      const big = (usable - 100) / 4; // usable is a multiple of 4, so four equal entries plus one of 100 bytes
      const keys = [0, 1, 2, 3].map((i) => utf8(`k${i}`));
      const exact = [...keys.map((k) => inlineEntryOfBytes(k, big)), inlineEntryOfBytes(utf8('k4'), 100)];
      const over = [...keys.map((k) => inlineEntryOfBytes(k, big)), inlineEntryOfBytes(utf8('k4'), 101)];
      expect(leafNodeUsedBytes(exact)).toBe(usable);
      const page = encodeNode(leafOf(exact), pageSizeBytes);
      expect(decodeNode(page, { file: FILE, pageSizeBytes }).usedBytes).toBe(usable);
      expect(() => encodeNode(leafOf(over), pageSizeBytes)).toThrow(/does not fit/);
    });
  }

  it('a leaf entry one byte above nodeEntryBytesMax asserts', () => {
    const entry = inlineEntryOfBytes(utf8('k'), nodeEntryBytesMax(4096) + 1);
    expect(() => encodeNode(leafOf([entry]), 4096)).toThrow(AssertionError);
  });

  it('a key one byte above keySizeMaxBytes asserts', () => {
    const key = new Uint8Array(keySizeMaxBytes(4096) + 1);
    expect(() =>
      encodeNode(
        {
          ...GOLDEN_INTERNAL,
          keys: [key],
          children: [pageId(3), pageId(4)],
          usedBytes: internalEntryBytes(key),
        },
        4096,
      ),
    ).toThrow(/too large/);
  });
});

describe('B+Tree node format: encoder assertions', () => {
  const bad = (node: LeafNode | InternalNode) => () => encodeNode(node, 4096);
  const entry = GOLDEN_LEAF_ENTRIES[0]!;

  it('keys out of order assert', () => {
    const entries = [GOLDEN_LEAF_ENTRIES[1]!, entry];
    expect(bad(leafOf(entries))).toThrow(/not strictly ascending/);
  });

  it('a duplicate key asserts', () => {
    expect(bad({ ...GOLDEN_INTERNAL, keys: [utf8('f'), utf8('f'), utf8('t')] })).toThrow(
      /not strictly ascending/,
    );
  });

  it('a stale usedBytes asserts', () => {
    expect(bad({ ...GOLDEN_LEAF, usedBytes: GOLDEN_LEAF.usedBytes - 1 })).toThrow(/usedBytes/);
  });

  it('an internal node without one more child than keys asserts', () => {
    expect(bad({ ...GOLDEN_INTERNAL, children: GOLDEN_INTERNAL.children.slice(1) })).toThrow(
      /one more child/,
    );
  });

  it('a child page id of 0 asserts', () => {
    expect(bad({ ...GOLDEN_INTERNAL, children: [pageId(3), pageId(0), pageId(5), pageId(6)] })).toThrow(
      AssertionError,
    );
  });

  it('a node at page 0 asserts', () => {
    expect(bad({ ...GOLDEN_LEAF, pageId: pageId(0) })).toThrow(/page 0/);
  });

  it('a leaf entry with both or neither value location asserts, and a tombstone with a value asserts', () => {
    const pointer = { segment: 1, offsetBytes: 2, lengthBytes: 3 };
    const neither = { ...entry, inlineValue: undefined };
    expect(bad({ ...GOLDEN_LEAF, entries: [neither], usedBytes: 100 })).toThrow(/exactly one/);
    expect(bad({ ...GOLDEN_LEAF, entries: [{ ...entry, pointer }], usedBytes: 100 })).toThrow(/exactly one/);
    const tombstone = { ...entry, tombstone: true };
    expect(bad({ ...GOLDEN_LEAF, entries: [tombstone], usedBytes: 100 })).toThrow(
      /a tombstone holds no value/,
    );
  });

  it('an int64 inline value that is not 8 bytes asserts', () => {
    expect(bad(leafOf([{ ...entry, valueType: 'int64' }]))).toThrow(/8 bytes/);
  });

  it('an empty key asserts', () => {
    expect(bad(leafOf([{ ...entry, key: new Uint8Array(0) }]))).toThrow(/empty key/);
  });
});

describe('B+Tree node format: corruption', () => {
  it('an entryCount too large for the page is corruption', () => {
    expectCorruption(
      patched(leafPage(), (v) => v.setUint16(NODE_ENTRY_COUNT_OFFSET, 0xffff, true)),
      /entryCount 65535 too large/,
      2,
    );
  });

  it('an entryCount one above the real count is corruption', () => {
    expectCorruption(
      patched(leafPage(), (v) => v.setUint16(NODE_ENTRY_COUNT_OFFSET, 6, true)),
      /slot 5 points at 0, outside the cell area/,
      2,
    );
  });

  it('a cellsStartOffset past the page end is corruption', () => {
    expectCorruption(
      patched(leafPage(), (v) => v.setUint32(NODE_CELLS_START_OFFSET, 4097, true)),
      /cellsStartOffset 4097 is past the page end/,
      2,
    );
  });

  it('a slot below the cell area is corruption', () => {
    const page = leafPage();
    const cellsStart = viewOf(page).getUint32(NODE_CELLS_START_OFFSET, true);
    expectCorruption(
      patched(page, (v) => v.setUint16(NODE_PAYLOAD_OFFSET, cellsStart - 1, true)),
      /slot 0 points at \d+, outside the cell area/,
      2,
    );
  });

  it('a slot past the page end is corruption', () => {
    expectCorruption(
      patched(leafPage(), (v) => v.setUint16(NODE_PAYLOAD_OFFSET, 4096, true)),
      /slot 0 points at 4096, outside the cell area/,
      2,
    );
  });

  it('a leaf cell header running past the page end is corruption', () => {
    expectCorruption(
      patched(leafPage(), (v) => v.setUint16(NODE_PAYLOAD_OFFSET, 4096 - 10, true)),
      /leaf cell at 4086 \(20 bytes\) runs past the page end/,
      2,
    );
  });

  it('an inline value running past the page end is corruption', () => {
    const page = leafPage();
    const at = leafCell(page, 0, LEAF_CELL_VALUE_PART_OFFSET);
    expectCorruption(
      patched(page, (v) => v.setUint32(at, 100, true)),
      /inline value at \d+ \(100 bytes\) runs past the page end/,
      2,
    );
  });

  it('an inline value length near 2^32 is corruption without allocating it', () => {
    const page = leafPage();
    const at = leafCell(page, 0, LEAF_CELL_VALUE_PART_OFFSET);
    expectCorruption(
      patched(page, (v) => v.setUint32(at, 0xffff_ffff, true)),
      /runs past the page end/,
      2,
    );
  });

  it('an internal key running past the page end is corruption', () => {
    const page = internalPage();
    const at = slotOf(page, 0) + INTERNAL_CELL_KEY_BYTES_OFFSET; // key 'f' is the cell at the page end
    expectCorruption(
      patched(page, (v) => v.setUint16(at, 5, true)),
      /key at 4095 \(5 bytes\) runs past the page end/,
      7,
    );
  });

  it('unknown flag bits are corruption', () => {
    const page = leafPage();
    expectCorruption(
      patched(page, (v) => v.setUint8(leafCell(page, 0, LEAF_CELL_FLAGS_OFFSET), 0x04)),
      /unknown flag bits 0x4/,
      2,
    );
  });

  it('an unknown value type is corruption', () => {
    const page = leafPage();
    expectCorruption(
      patched(page, (v) => v.setUint8(leafCell(page, 0, LEAF_CELL_VALUE_TYPE_OFFSET), 3)),
      /unknown value type 3/,
      2,
    );
  });

  it('a cell flagged both tombstone and value log is corruption', () => {
    const page = leafPage();
    expectCorruption(
      patched(page, (v) => v.setUint8(leafCell(page, 4, LEAF_CELL_FLAGS_OFFSET), 0x03)),
      /both a tombstone and in the value log/,
      2,
    );
  });

  it('a key longer than keySizeMaxBytes is corruption', () => {
    const page = leafPage();
    const at = leafCell(page, 0, LEAF_CELL_KEY_BYTES_OFFSET);
    expectCorruption(
      patched(page, (v) => v.setUint16(at, keySizeMaxBytes(4096) + 1, true)),
      /key of 955 bytes at \d+, longer than 954/,
      2,
    );
  });

  it('an empty key is corruption', () => {
    const page = leafPage();
    expectCorruption(
      patched(page, (v) => v.setUint16(leafCell(page, 0, LEAF_CELL_KEY_BYTES_OFFSET), 0, true)),
      /empty key/,
      2,
    );
  });

  it('keys out of order are corruption', () => {
    const page = leafPage();
    const [first, second] = [slotOf(page, 0), slotOf(page, 1)];
    const swapped = patched(page, (v) => {
      v.setUint16(NODE_PAYLOAD_OFFSET, second, true);
      v.setUint16(NODE_PAYLOAD_OFFSET + SLOT_BYTES, first, true);
    });
    expectCorruption(swapped, /keys not strictly ascending at slot 1/, 2);
  });

  it('a duplicate key (two slots naming one cell) is corruption', () => {
    const page = leafPage();
    expectCorruption(
      patched(page, (v) => v.setUint16(NODE_PAYLOAD_OFFSET + SLOT_BYTES, slotOf(page, 0), true)),
      /keys not strictly ascending at slot 1/,
      2,
    );
  });

  it('an internal leftmost child of page 0 is corruption', () => {
    expectCorruption(
      patched(internalPage(), (v) => v.setUint32(NODE_LEFTMOST_CHILD_OFFSET, 0, true)),
      /leftmostChild is page 0/,
      7,
    );
  });

  it('an internal cell child of page 0 is corruption', () => {
    const page = internalPage();
    expectCorruption(
      patched(page, (v) => v.setUint32(slotOf(page, 1) + INTERNAL_CELL_CHILD_OFFSET, 0, true)),
      /child of the cell at \d+ is page 0/,
      7,
    );
  });

  it('an internal child naming the node itself is corruption', () => {
    const page = internalPage();
    expectCorruption(
      patched(page, (v) => v.setUint32(slotOf(page, 2) + INTERNAL_CELL_CHILD_OFFSET, 7, true)),
      /is the node's own page/,
      7,
    );
  });

  it('non-zero reserved bytes are corruption', () => {
    expectCorruption(
      patched(leafPage(), (v) => v.setUint8(NODE_RESERVED_A_OFFSET + 1, 1)),
      /non-zero reserved bytes/,
      2,
    );
    expectCorruption(
      patched(internalPage(), (v) => v.setUint8(NODE_RESERVED_B_OFFSET + 3, 0x80)),
      /non-zero reserved bytes/,
      7,
    );
  });

  it('a leaf with a leftmost child is corruption', () => {
    expectCorruption(
      patched(leafPage(), (v) => v.setUint32(NODE_LEFTMOST_CHILD_OFFSET, 5, true)),
      /leaf with leftmostChild 5/,
      2,
    );
  });

  it('an int64 value that is not 8 bytes is corruption', () => {
    const page = leafPage();
    expectCorruption(
      patched(page, (v) => v.setUint32(leafCell(page, 1, LEAF_CELL_VALUE_PART_OFFSET), 4, true)),
      /int64 value of 4 bytes/,
      2,
    );
  });

  it('an expiry beyond the safe integer range is corruption', () => {
    const page = leafPage();
    const at = leafCell(page, 2, LEAF_CELL_EXPIRES_AT_OFFSET);
    expectCorruption(
      patched(page, (v) => v.setBigUint64(at, 1n << 53n, true)),
      /expiresAtMs 9007199254740992 at \d+ is out of range/,
      2,
    );
  });

  it('a value-log offset beyond the safe integer range is corruption', () => {
    const page = leafPage();
    const at = leafCell(page, 3, LEAF_CELL_VALUE_PART_OFFSET + VALUE_LOG_OFFSET_BYTES_OFFSET);
    expectCorruption(
      patched(page, (v) => v.setBigUint64(at, 1n << 63n, true)),
      /value-log offsetBytes .* is out of range/,
      2,
    );
  });

  it('a gap before the lowest cell is corruption', () => {
    const page = leafPage();
    const cellsStart = viewOf(page).getUint32(NODE_CELLS_START_OFFSET, true);
    expectCorruption(
      patched(page, (v) => v.setUint32(NODE_CELLS_START_OFFSET, cellsStart - 1, true)),
      /cells overlap or leave a gap/,
      2,
    );
  });

  it('an entry above nodeEntryBytesMax is corruption', () => {
    const valueBytes =
      nodeEntryBytesMax(4096) + 1 - (SLOT_BYTES + LEAF_CELL_OVERHEAD_BYTES + INLINE_VALUE_HEADER_BYTES + 1);
    const cellOffset = 4096 - (LEAF_CELL_OVERHEAD_BYTES + INLINE_VALUE_HEADER_BYTES + valueBytes + 1);
    const page = patched(encodeNode(leafOf([], 2), 4096), (v) => {
      v.setUint16(NODE_ENTRY_COUNT_OFFSET, 1, true);
      v.setUint32(NODE_CELLS_START_OFFSET, cellOffset, true);
      v.setUint16(NODE_PAYLOAD_OFFSET, cellOffset, true);
      v.setUint16(cellOffset + LEAF_CELL_KEY_BYTES_OFFSET, 1, true);
      v.setUint32(cellOffset + LEAF_CELL_VALUE_PART_OFFSET, valueBytes, true);
      v.setUint8(4095, 0x61);
    });
    expectCorruption(page, /entry 0 of 1015 bytes exceeds 1014/, 2);
  });

  it('a page that is not a node is corruption', () => {
    const freeList = encodeFreeListPage(
      { pageId: pageId(5), pageLsn: lsn(1), nextPageId: pageId(0), entries: [] },
      4096,
    );
    expectCorruption(freeList, /page type 4 is not a B\+Tree node/, 5);
  });

  it('a node stored at page id 0 is corruption', () => {
    expectCorruption(
      patched(leafPage(), (v) => v.setUint32(PAGE_ID_OFFSET, 0, true)),
      /page 0 is the file header page/,
      0,
    );
  });

  it('a page of the wrong length is corruption', () => {
    const error = corruptionFrom(leafPage().subarray(0, 4000));
    expect(error.message).toMatch(/page of 4000 bytes, expected 4096/);
    expect(error.file).toBe(FILE);
  });
});

describe('B+Tree node format: fuzz', () => {
  const bases: Array<[string, () => Uint8Array]> = [
    ['a leaf', leafPage],
    ['an internal', internalPage],
  ];
  for (const [name, base] of bases) {
    it(`${name} page with random byte patches decodes or throws only CorruptionError`, () => {
      const seed = testSeed();
      console.log(`node-format fuzz (${name} page) seed=${seed}`);
      const valid = base();
      const cellsStart = viewOf(valid).getUint32(NODE_CELLS_START_OFFSET, true);
      const offsetArb = fc.oneof(
        fc.integer({ min: PAGE_TYPE_OFFSET, max: NODE_PAYLOAD_OFFSET + 16 }),
        fc.integer({ min: cellsStart - 4, max: 4095 }),
        fc.nat({ max: 4095 }),
      );
      const patchArb = fc.array(fc.tuple(offsetArb, fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 });
      fc.assert(
        fc.property(patchArb, (patches) => {
          const page = patched(valid, (_, bytes) => {
            for (const [offset, value] of patches) bytes[offset] = value;
          });
          let decoded: ReturnType<typeof decodeNode>;
          try {
            decoded = decodeNode(page, context);
          } catch (error) {
            expect(error).toBeInstanceOf(CorruptionError);
            return;
          }
          // Whatever the decoder accepts, the encoder can write back unchanged.
          expect(decodeNode(encodeNode(decoded, 4096), context)).toEqual(decoded);
        }),
        { seed, numRuns: 2000 },
      );
    });
  }
});

describe('B+Tree node format: golden pages', () => {
  it('the golden leaf encodes to the golden bytes', () => {
    expectGolden('btree-leaf-page', leafPage());
  });

  it('the golden leaf decodes to every expected field', () => {
    const node = decodeNode(readGolden('btree-leaf-page'), context);
    if (node.kind !== 'leaf') throw new Error(`expected a leaf, got ${node.kind}`);
    expect(node.pageId).toBe(2);
    expect(node.pageLsn).toBe(1002n);
    expect(node.dirty).toBe(false);
    expect(node.usedBytes).toBe(leafNodeUsedBytes(GOLDEN_LEAF_ENTRIES));
    expect(entriesOf(node).map((e) => new TextDecoder().decode(e.key))).toEqual([
      'bin/blob',
      'counter',
      'greeting',
      'images/cat.png',
      'old',
    ]);
    const [blob, counter, greeting, image, old] = entriesOf(node);
    expect(blob).toEqual({
      key: utf8('bin/blob'),
      valueType: 'bytes',
      tombstone: false,
      inlineValue: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
      expiresAtMs: 0,
      revision: 995n,
    });
    expect(counter?.valueType).toBe('int64');
    expect(
      new DataView(counter!.inlineValue!.buffer, counter!.inlineValue!.byteOffset, 8).getBigInt64(0, true),
    ).toBe(42n);
    expect(counter?.revision).toBe(998n);
    expect(greeting).toEqual({
      key: utf8('greeting'),
      valueType: 'string',
      tombstone: false,
      inlineValue: utf8('hello'),
      expiresAtMs: 1_767_225_600_000,
      revision: 1000n,
    });
    expect(image).toEqual({
      key: utf8('images/cat.png'),
      valueType: 'bytes',
      tombstone: false,
      pointer: { segment: 3, offsetBytes: 65_536, lengthBytes: 1576 },
      expiresAtMs: 0,
      revision: 1001n,
    });
    expect(old).toEqual({
      key: utf8('old'),
      valueType: 'bytes',
      tombstone: true,
      expiresAtMs: 0,
      revision: 1002n,
    });
    expect(old?.inlineValue).toBeUndefined();
    expect(old?.pointer).toBeUndefined();
  });

  it('the golden internal node encodes to the golden bytes', () => {
    expectGolden('btree-internal-page', internalPage());
  });

  it('the golden internal node decodes to every expected field', () => {
    const page = readGolden('btree-internal-page');
    const node = decodeNode(page, context);
    if (node.kind !== 'internal') throw new Error(`expected an internal node, got ${node.kind}`);
    expect(page[PAGE_TYPE_OFFSET]).toBe(PageType.BtreeInternal);
    expect(node.pageId).toBe(7);
    expect(node.pageLsn).toBe(1010n);
    expect(node.dirty).toBe(false);
    expect(node.keys).toEqual([utf8('f'), utf8('m'), utf8('t')]);
    expect(node.children).toEqual([3, 4, 5, 6]);
    expect(node.usedBytes).toBe(3 * (SLOT_BYTES + 6 + 1));
    expect(viewOf(page).getUint32(NODE_LEFTMOST_CHILD_OFFSET, true)).toBe(3);
  });
});
