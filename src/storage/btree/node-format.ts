/**
 * B+Tree node pages (docs/format/btree.md): the bytes of a LeafNode or InternalNode (node.ts), all
 * integers little-endian.
 *
 *   Node header (after the 24-byte page header):
 *   offset  size  field             notes
 *   24      2     entryCount        u16: leaf entries, or internal separator keys
 *   26      2     reserved          zero
 *   28      4     cellsStartOffset  u32: offset of the lowest cell; pageSize when there are none
 *   32      4     leftmostChild     u32: internal nodes' child 0 (keys below keys[0]); 0 in leaves
 *   36      4     reserved          zero
 *   40      …     slot array        u16 per entry, in key order: the offset of its cell
 *   Cells are packed downward from the end of the page, in any order.
 *
 *   Leaf cell:
 *   0       2     keyBytes          u16
 *   2       1     flags             bit 0 tombstone, bit 1 value in the value log; other bits zero
 *   3       1     valueType         u8 (value-type.ts codes)
 *   4       8     expiresAtMs       u64 (0 = none)
 *   12      8     revision          u64 LSN
 *   20      …     value part        inline: u32 valueBytes + bytes;
 *                                   value log: u32 segment, u64 offsetBytes, u32 lengthBytes;
 *                                   tombstone: nothing
 *   …       k     key bytes
 *
 *   Internal cell:
 *   0       2     keyBytes          u16
 *   2       4     childPageId       u32: the child holding keys >= this key (child i+1)
 *   6       k     key bytes
 *
 * A slotted page: slots grow up from NODE_PAYLOAD_OFFSET and cells grow down from the page end, so a
 * node's size is the sum of its entries (slot + cell) and never depends on their order. Every entry is
 * at most nodeEntryBytesMax, so four always fit in a page. The decoder trusts no byte: each length and
 * offset is bounds-checked before it is used, and any inconsistency is a CorruptionError.
 */
import {
  ENTRIES_PER_PAGE_MIN,
  isValidPageSize,
  PAGE_SIZE_BYTES_MAX,
  PAGE_SIZE_BYTES_MIN,
} from '../../config/limits.js';
import { assert, verify } from '../../util/assert.js';
import { compareBytes } from '../../util/bytes.js';
import { type CorruptionContext, CorruptionError } from '../../util/errors.js';
import { LSN_MAX, type Lsn, PAGE_ID_MAX, PAGE_ID_NONE, type PageId, pageId } from '../../util/ids.js';
import {
  initPageHeader,
  keySizeMaxBytes,
  PAGE_HEADER_BYTES,
  PageType,
  readPageHeader,
  sealPage,
} from '../pager/page-format.js';
import { INT64_VALUE_BYTES, VALUE_TYPE_CODES, valueTypeOfCode } from '../value-type.js';
import {
  type BtreeNode,
  type InternalNode,
  internalNode,
  type LeafEntry,
  type LeafNode,
  leafNode,
  makeLeafEntry,
  type ValueLogPointer,
} from './node.js';

const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;

export const NODE_ENTRY_COUNT_OFFSET = PAGE_HEADER_BYTES;
export const NODE_RESERVED_A_OFFSET = NODE_ENTRY_COUNT_OFFSET + 2;
export const NODE_CELLS_START_OFFSET = NODE_RESERVED_A_OFFSET + 2;
export const NODE_LEFTMOST_CHILD_OFFSET = NODE_CELLS_START_OFFSET + 4;
export const NODE_RESERVED_B_OFFSET = NODE_LEFTMOST_CHILD_OFFSET + 4;
export const NODE_PAYLOAD_OFFSET = NODE_RESERVED_B_OFFSET + 4;
export const NODE_HEADER_BYTES = NODE_PAYLOAD_OFFSET - PAGE_HEADER_BYTES;
export const SLOT_BYTES = 2; // u16 cell offset

export const LEAF_CELL_KEY_BYTES_OFFSET = 0;
export const LEAF_CELL_FLAGS_OFFSET = LEAF_CELL_KEY_BYTES_OFFSET + 2;
export const LEAF_CELL_VALUE_TYPE_OFFSET = LEAF_CELL_FLAGS_OFFSET + 1;
export const LEAF_CELL_EXPIRES_AT_OFFSET = LEAF_CELL_VALUE_TYPE_OFFSET + 1;
export const LEAF_CELL_REVISION_OFFSET = LEAF_CELL_EXPIRES_AT_OFFSET + 8;
export const LEAF_CELL_VALUE_PART_OFFSET = LEAF_CELL_REVISION_OFFSET + 8;
/** A leaf cell's fixed part; the value part and the key follow. */
export const LEAF_CELL_OVERHEAD_BYTES = LEAF_CELL_VALUE_PART_OFFSET;
export const INLINE_VALUE_HEADER_BYTES = 4; // u32 valueBytes
export const VALUE_LOG_SEGMENT_OFFSET = 0;
export const VALUE_LOG_OFFSET_BYTES_OFFSET = VALUE_LOG_SEGMENT_OFFSET + 4;
export const VALUE_LOG_LENGTH_BYTES_OFFSET = VALUE_LOG_OFFSET_BYTES_OFFSET + 8;
export const VALUE_LOG_POINTER_BYTES = VALUE_LOG_LENGTH_BYTES_OFFSET + 4;
export const LEAF_FLAG_TOMBSTONE = 1 << 0;
export const LEAF_FLAG_VALUE_LOG = 1 << 1;
const LEAF_FLAGS_KNOWN = LEAF_FLAG_TOMBSTONE | LEAF_FLAG_VALUE_LOG;

export const INTERNAL_CELL_KEY_BYTES_OFFSET = 0;
export const INTERNAL_CELL_CHILD_OFFSET = INTERNAL_CELL_KEY_BYTES_OFFSET + 2;
export const INTERNAL_CELL_KEY_OFFSET = INTERNAL_CELL_CHILD_OFFSET + 4;
/** An internal cell's fixed part; the key follows. */
export const INTERNAL_CELL_OVERHEAD_BYTES = INTERNAL_CELL_KEY_OFFSET;

/** Bytes for slots and cells: everything after the node header. */
export function nodeUsableBytes(pageSizeBytes: number): number {
  assert(isValidPageSize(pageSizeBytes), `invalid page size ${pageSizeBytes}`);
  return pageSizeBytes - NODE_PAYLOAD_OFFSET;
}

/** The largest entry (slot + cell): four fit in any page, so a split leaves both halves a quarter full. */
export function nodeEntryBytesMax(pageSizeBytes: number): number {
  return Math.floor(nodeUsableBytes(pageSizeBytes) / ENTRIES_PER_PAGE_MIN);
}

/** Slot + cell bytes of a leaf entry. */
export function leafEntryBytes(entry: LeafEntry): number {
  return SLOT_BYTES + LEAF_CELL_OVERHEAD_BYTES + valuePartBytes(entry) + entry.key.length;
}

/** Slot + cell bytes of a leaf entry holding `valueBytes` inline under a `keyBytes`-byte key. */
export function inlineLeafEntryBytes(keyBytes: number, valueBytes: number): number {
  return SLOT_BYTES + LEAF_CELL_OVERHEAD_BYTES + INLINE_VALUE_HEADER_BYTES + valueBytes + keyBytes;
}

/** Slot + cell bytes of an internal separator key (with the child to its right). */
export function internalEntryBytes(key: Uint8Array): number {
  return SLOT_BYTES + INTERNAL_CELL_OVERHEAD_BYTES + key.length;
}

export function leafNodeUsedBytes(entries: readonly LeafEntry[]): number {
  let usedBytes = 0;
  for (const entry of entries) usedBytes += leafEntryBytes(entry);
  return usedBytes;
}

/** The leftmost child lives in the node header, so only the keys (each with its right child) count. */
export function internalNodeUsedBytes(keys: readonly Uint8Array[]): number {
  let usedBytes = 0;
  for (const key of keys) usedBytes += internalEntryBytes(key);
  return usedBytes;
}

function valuePartBytes(entry: LeafEntry): number {
  if (entry.tombstone) {
    assert(entry.inlineValue === undefined && entry.pointer === undefined, 'a tombstone holds no value');
    return 0;
  }
  assert((entry.inlineValue === undefined) !== (entry.pointer === undefined), 'exactly one value location');
  if (entry.pointer !== undefined) return VALUE_LOG_POINTER_BYTES;
  return INLINE_VALUE_HEADER_BYTES + (entry.inlineValue?.length ?? 0);
}

assert(
  NODE_HEADER_BYTES === 16 && NODE_PAYLOAD_OFFSET === 40,
  'node header changed: update docs/format/btree.md',
);
assert(
  LEAF_CELL_OVERHEAD_BYTES === 20 && INTERNAL_CELL_OVERHEAD_BYTES === 6 && VALUE_LOG_POINTER_BYTES === 16,
);
// A u16 slot addresses every byte of the largest page; cellsStartOffset is u32 because an empty 64 KiB
// page stores 65536 there.
assert(PAGE_SIZE_BYTES_MAX - 1 <= U16_MAX && PAGE_SIZE_BYTES_MAX <= U32_MAX);
// A u16 entryCount counts the most entries a page can hold (internal entries with 1-byte keys).
assert(nodeUsableBytes(PAGE_SIZE_BYTES_MAX) / (SLOT_BYTES + INTERNAL_CELL_OVERHEAD_BYTES + 1) <= U16_MAX);
for (let size = PAGE_SIZE_BYTES_MIN; size <= PAGE_SIZE_BYTES_MAX; size *= 2) {
  // The largest key fits four to a page in every entry shape: empty inline value, value-log pointer, and
  // internal separator. keyBytes is a u16.
  const keyBytes = keySizeMaxBytes(size);
  const entryMax = nodeEntryBytesMax(size);
  assert(keyBytes <= U16_MAX);
  assert(SLOT_BYTES + LEAF_CELL_OVERHEAD_BYTES + INLINE_VALUE_HEADER_BYTES + keyBytes <= entryMax);
  assert(SLOT_BYTES + LEAF_CELL_OVERHEAD_BYTES + VALUE_LOG_POINTER_BYTES + keyBytes <= entryMax);
  assert(SLOT_BYTES + INTERNAL_CELL_OVERHEAD_BYTES + keyBytes <= entryMax);
}

function viewOf(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.length);
}

// ---------------------------------------------------------------------------------------------------
// Encoding: every invariant of the node is asserted, because a bad page written is a bad page forever.

/** Encodes a node as a complete, sealed page. */
export function encodeNode(node: BtreeNode, pageSizeBytes: number): Uint8Array {
  assert(isValidPageSize(pageSizeBytes), `invalid page size ${pageSizeBytes}`);
  assert(node.pageId !== PAGE_ID_NONE, 'page 0 is the file header page, never a node');
  const page = new Uint8Array(pageSizeBytes);
  const pageType = node.kind === 'leaf' ? PageType.BtreeLeaf : PageType.BtreeInternal;
  initPageHeader(page, { pageId: node.pageId, pageLsn: node.pageLsn, pageType });
  const view = viewOf(page);
  const cellsStartOffset = node.kind === 'leaf' ? writeLeafCells(page, node) : writeInternalCells(page, node);
  const entryCount = node.kind === 'leaf' ? (node.entries?.length ?? 0) : node.keys.length;
  view.setUint16(NODE_ENTRY_COUNT_OFFSET, entryCount, true);
  view.setUint32(NODE_CELLS_START_OFFSET, cellsStartOffset, true);
  view.setUint32(NODE_LEFTMOST_CHILD_OFFSET, node.kind === 'leaf' ? 0 : (node.children[0] ?? 0), true);
  sealPage(page);
  verify(() => checkDecodesBack(page, node));
  return page;
}

function writeLeafCells(page: Uint8Array, node: LeafNode): number {
  const pageSizeBytes = page.length;
  const { entries } = node;
  assert(entries !== undefined, 'encoding a packed leaf: its page is already its encoding');
  for (const entry of entries) assertLeafEntry(entry, pageSizeBytes);
  assertKeysAscending(entries.map((entry) => entry.key));
  assertUsedBytes(node, leafNodeUsedBytes(entries), pageSizeBytes);
  const view = viewOf(page);
  let cellOffset = pageSizeBytes;
  entries.forEach((entry, index) => {
    cellOffset -= leafEntryBytes(entry) - SLOT_BYTES;
    writeLeafCell(page, cellOffset, entry);
    view.setUint16(NODE_PAYLOAD_OFFSET + index * SLOT_BYTES, cellOffset, true);
  });
  return cellOffset;
}

function writeLeafCell(page: Uint8Array, cellOffset: number, entry: LeafEntry): void {
  const view = viewOf(page);
  const flags =
    (entry.tombstone ? LEAF_FLAG_TOMBSTONE : 0) | (entry.pointer === undefined ? 0 : LEAF_FLAG_VALUE_LOG);
  view.setUint16(cellOffset + LEAF_CELL_KEY_BYTES_OFFSET, entry.key.length, true);
  view.setUint8(cellOffset + LEAF_CELL_FLAGS_OFFSET, flags);
  view.setUint8(cellOffset + LEAF_CELL_VALUE_TYPE_OFFSET, VALUE_TYPE_CODES[entry.valueType]);
  view.setBigUint64(cellOffset + LEAF_CELL_EXPIRES_AT_OFFSET, BigInt(entry.expiresAtMs), true);
  view.setBigUint64(cellOffset + LEAF_CELL_REVISION_OFFSET, entry.revision, true);
  let cursor = cellOffset + LEAF_CELL_VALUE_PART_OFFSET;
  if (entry.pointer !== undefined) {
    view.setUint32(cursor + VALUE_LOG_SEGMENT_OFFSET, entry.pointer.segment, true);
    view.setBigUint64(cursor + VALUE_LOG_OFFSET_BYTES_OFFSET, BigInt(entry.pointer.offsetBytes), true);
    view.setUint32(cursor + VALUE_LOG_LENGTH_BYTES_OFFSET, entry.pointer.lengthBytes, true);
    cursor += VALUE_LOG_POINTER_BYTES;
  } else if (entry.inlineValue !== undefined) {
    view.setUint32(cursor, entry.inlineValue.length, true);
    page.set(entry.inlineValue, cursor + INLINE_VALUE_HEADER_BYTES);
    cursor += INLINE_VALUE_HEADER_BYTES + entry.inlineValue.length;
  }
  page.set(entry.key, cursor);
}

function assertLeafEntry(entry: LeafEntry, pageSizeBytes: number): void {
  assertKeySize(entry.key, pageSizeBytes);
  assert(VALUE_TYPE_CODES[entry.valueType] !== undefined, `unknown value type ${entry.valueType}`);
  assert(
    Number.isSafeInteger(entry.expiresAtMs) && entry.expiresAtMs >= 0,
    `expiresAtMs ${entry.expiresAtMs}`,
  );
  assert(entry.revision >= 0n && entry.revision <= LSN_MAX, `revision ${entry.revision}`);
  if (entry.valueType === 'int64' && entry.inlineValue !== undefined) {
    assert(entry.inlineValue.length === INT64_VALUE_BYTES, 'an int64 value is 8 bytes');
  }
  if (entry.pointer !== undefined) assertPointer(entry.pointer);
  const entryBytes = leafEntryBytes(entry); // also asserts the tombstone / inline / pointer shape
  assert(entryBytes <= nodeEntryBytesMax(pageSizeBytes), `leaf entry of ${entryBytes} bytes is too large`);
}

function assertPointer(pointer: ValueLogPointer): void {
  assert(Number.isInteger(pointer.segment) && pointer.segment >= 0 && pointer.segment <= U32_MAX);
  assert(Number.isSafeInteger(pointer.offsetBytes) && pointer.offsetBytes >= 0);
  assert(Number.isInteger(pointer.lengthBytes) && pointer.lengthBytes >= 0 && pointer.lengthBytes <= U32_MAX);
}

function writeInternalCells(page: Uint8Array, node: InternalNode): number {
  const pageSizeBytes = page.length;
  assert(node.children.length === node.keys.length + 1, 'an internal node has one more child than keys');
  for (const child of node.children) {
    assert(Number.isInteger(child) && child > PAGE_ID_NONE && child <= PAGE_ID_MAX, `child page id ${child}`);
    assert(child !== node.pageId, 'a node is not its own child');
  }
  for (const key of node.keys) assertKeySize(key, pageSizeBytes);
  assertKeysAscending(node.keys);
  assertUsedBytes(node, internalNodeUsedBytes(node.keys), pageSizeBytes);
  const view = viewOf(page);
  let cellOffset = pageSizeBytes;
  node.keys.forEach((key, index) => {
    cellOffset -= internalEntryBytes(key) - SLOT_BYTES;
    view.setUint16(cellOffset + INTERNAL_CELL_KEY_BYTES_OFFSET, key.length, true);
    view.setUint32(cellOffset + INTERNAL_CELL_CHILD_OFFSET, node.children[index + 1] ?? 0, true);
    page.set(key, cellOffset + INTERNAL_CELL_KEY_OFFSET);
    view.setUint16(NODE_PAYLOAD_OFFSET + index * SLOT_BYTES, cellOffset, true);
  });
  return cellOffset;
}

function assertKeySize(key: Uint8Array, pageSizeBytes: number): void {
  // An empty key is invalid (INVALID_KEY), and as a separator it would leave child 0 no keys at all.
  assert(key.length >= 1, 'empty key');
  assert(key.length <= keySizeMaxBytes(pageSizeBytes), `key of ${key.length} bytes is too large`);
}

function assertKeysAscending(keys: readonly Uint8Array[]): void {
  for (let index = 1; index < keys.length; index++) {
    assert(compareBytes(keys[index - 1]!, keys[index]!) < 0, `keys not strictly ascending at ${index}`);
  }
}

function assertUsedBytes(node: BtreeNode, usedBytes: number, pageSizeBytes: number): void {
  assert(node.usedBytes === usedBytes, `node.usedBytes ${node.usedBytes}, computed ${usedBytes}`);
  const usableBytes = nodeUsableBytes(pageSizeBytes);
  assert(usedBytes <= usableBytes, `node of ${usedBytes} bytes does not fit in ${usableBytes}`);
}

/** The write-side check (STYLE.md: check a page right before writing it), on under JUBILANT_VERIFY. */
function checkDecodesBack(page: Uint8Array, node: BtreeNode): string | undefined {
  try {
    const decoded = decodeNode(page, { file: '(encodeNode)', pageSizeBytes: page.length });
    if (decoded.usedBytes !== node.usedBytes) return `decoded usedBytes ${decoded.usedBytes}`;
    return undefined;
  } catch (error) {
    return `encoded page does not decode: ${String(error)}`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Decoding: bytes from disk are checked, never asserted. Lengths are bounded before anything is sliced.

export interface NodeDecodeContext {
  readonly file: string;
  readonly pageSizeBytes: number;
}

interface NodeReading {
  readonly page: Uint8Array;
  readonly view: DataView;
  readonly pageSizeBytes: number;
  readonly pageId: PageId;
  readonly where: CorruptionContext;
}

/** The node header's fields, already checked against the page. */
interface NodeLayout {
  readonly entryCount: number;
  readonly cellsStartOffset: number;
  readonly leftmostChild: number;
}

function fail(reading: NodeReading, message: string): never {
  throw new CorruptionError(message, reading.where);
}

/**
 * Decodes a node page that already passed the pager's CRC, id and type checks. The node takes over
 * `page`: its keys and inline values are views into it (one buffer per page instead of one per value),
 * so the caller must not reuse the buffer, and whoever hands a value out of the database copies it.
 */
export function decodeNode(page: Uint8Array, context: NodeDecodeContext): BtreeNode {
  const { reading, pageType, pageLsn } = openReading(page, context);
  if (pageType === PageType.BtreeLeaf) {
    const layout = readNodeLayout(reading, 'leaf');
    const entries: LeafEntry[] = [];
    const usedBytes = walkSlots(reading, layout, checkLeafCell, (cellOffset) =>
      entries.push(readLeafEntry(reading.page, reading.view, cellOffset)),
    );
    return leafNode(reading.pageId, pageLsn, false, usedBytes, entries);
  }
  if (pageType === PageType.BtreeInternal) {
    const layout = readNodeLayout(reading, 'internal');
    const { keys, children } = decodeInternalEntries(reading, layout);
    return internalNode(reading.pageId, pageLsn, false, internalNodeUsedBytes(keys), keys, children);
  }
  fail(reading, `page type ${pageType} is not a B+Tree node`);
}

/** A leaf page that passed every check decodeNode makes, and what its node needs. */
export interface CheckedLeafPage {
  readonly pageId: PageId;
  readonly pageLsn: Lsn;
  readonly usedBytes: number;
}

/**
 * Makes every check `decodeNode` makes of a leaf page, building nothing: no entry objects, no views,
 * no bigints (a cache miss then costs a page's checks, not ~90 short-lived objects). Undefined when
 * the page is a valid page of another node type (decode that one with `decodeNode`).
 */
export function checkLeafPage(page: Uint8Array, context: NodeDecodeContext): CheckedLeafPage | undefined {
  const { reading, pageType, pageLsn } = openReading(page, context);
  if (pageType === PageType.BtreeInternal) return undefined;
  if (pageType !== PageType.BtreeLeaf) fail(reading, `page type ${pageType} is not a B+Tree node`);
  const usedBytes = walkSlots(reading, readNodeLayout(reading, 'leaf'), checkLeafCell);
  return { pageId: reading.pageId, pageLsn, usedBytes };
}

function openReading(
  page: Uint8Array,
  context: NodeDecodeContext,
): { reading: NodeReading; pageType: number; pageLsn: Lsn } {
  assert(isValidPageSize(context.pageSizeBytes), `invalid page size ${context.pageSizeBytes}`);
  if (page.length !== context.pageSizeBytes) {
    const what = 'B+Tree node page';
    throw new CorruptionError(`page of ${page.length} bytes, expected ${context.pageSizeBytes}`, {
      file: context.file,
      what,
    });
  }
  const header = readPageHeader(page);
  // Keys and values are views into the page. As plain Uint8Arrays (not Buffers, which a file read
  // returns) they share one hidden class with every other key, so the search loops stay monomorphic.
  const plain = new Uint8Array(page.buffer, page.byteOffset, page.length);
  const reading: NodeReading = {
    page: plain,
    view: viewOf(plain),
    pageSizeBytes: context.pageSizeBytes,
    pageId: header.pageId,
    where: {
      file: context.file,
      offsetBytes: header.pageId * context.pageSizeBytes,
      what: `page ${header.pageId}`,
    },
  };
  if (header.pageId === PAGE_ID_NONE) fail(reading, 'page 0 is the file header page, never a node');
  return { reading, pageType: header.pageType, pageLsn: header.pageLsn };
}

function readNodeLayout(reading: NodeReading, kind: BtreeNode['kind']): NodeLayout {
  const { view, pageSizeBytes } = reading;
  if (
    view.getUint16(NODE_RESERVED_A_OFFSET, true) !== 0 ||
    view.getUint32(NODE_RESERVED_B_OFFSET, true) !== 0
  ) {
    fail(reading, 'non-zero reserved bytes in the node header');
  }
  const entryCount = view.getUint16(NODE_ENTRY_COUNT_OFFSET, true);
  const cellsStartOffset = view.getUint32(NODE_CELLS_START_OFFSET, true);
  const leftmostChild = view.getUint32(NODE_LEFTMOST_CHILD_OFFSET, true);
  if (cellsStartOffset > pageSizeBytes)
    fail(reading, `cellsStartOffset ${cellsStartOffset} is past the page end`);
  const slotsEndOffset = NODE_PAYLOAD_OFFSET + entryCount * SLOT_BYTES;
  if (slotsEndOffset > cellsStartOffset) {
    fail(
      reading,
      `entryCount ${entryCount} too large: slots end at ${slotsEndOffset}, cells start at ${cellsStartOffset}`,
    );
  }
  if (kind === 'leaf' && leftmostChild !== 0) fail(reading, `leaf with leftmostChild ${leftmostChild}`);
  if (kind === 'internal') checkChild(reading, leftmostChild, 'leftmostChild');
  return { entryCount, cellsStartOffset, leftmostChild };
}

function checkChild(reading: NodeReading, child: number, what: string): void {
  if (child === PAGE_ID_NONE) fail(reading, `${what} is page 0`);
  if (child === reading.pageId) fail(reading, `${what} is the node's own page`);
}

/** The cell offset in slot `index`, checked to lie inside the cell area. */
function readSlot(reading: NodeReading, layout: NodeLayout, index: number): number {
  const cellOffset = reading.view.getUint16(NODE_PAYLOAD_OFFSET + index * SLOT_BYTES, true);
  if (cellOffset < layout.cellsStartOffset || cellOffset >= reading.pageSizeBytes) {
    fail(
      reading,
      `slot ${index} points at ${cellOffset}, outside the cell area [${layout.cellsStartOffset}, ${reading.pageSizeBytes})`,
    );
  }
  return cellOffset;
}

/** Throws unless `lengthBytes` bytes at `offset` lie inside the page. */
function need(reading: NodeReading, offset: number, lengthBytes: number, what: string): void {
  if (offset + lengthBytes > reading.pageSizeBytes) {
    fail(reading, `${what} at ${offset} (${lengthBytes} bytes) runs past the page end`);
  }
}

/**
 * The key of the cell a check just read: its start in the page and its length. The checks run
 * synchronously, one cell at a time, so one scratch record serves them all without allocating.
 */
const cellKey = { start: 0, bytes: 0 };

/** Checks a key's length and bounds and records it in `cellKey`. */
function checkKey(reading: NodeReading, offset: number, keyBytes: number): void {
  if (keyBytes === 0) fail(reading, `empty key at ${offset}`);
  const keyBytesMax = keySizeMaxBytes(reading.pageSizeBytes);
  if (keyBytes > keyBytesMax)
    fail(reading, `key of ${keyBytes} bytes at ${offset}, longer than ${keyBytesMax}`);
  need(reading, offset, keyBytes, 'key');
  cellKey.start = offset;
  cellKey.bytes = keyBytes;
}

/** Throws unless the u64 at `offset` is a safe integer (read as two u32s: no bigint on the way). */
function checkSafeNumber(reading: NodeReading, offset: number, what: string): void {
  if (reading.view.getUint32(offset + 4, true) <= SAFE_INTEGER_HIGH_WORD_MAX) return;
  const value = reading.view.getBigUint64(offset, true);
  fail(reading, `${what} ${value} at ${offset} is out of range`);
}

/** The highest word of a u64 at or below Number.MAX_SAFE_INTEGER (2^53 - 1). */
const SAFE_INTEGER_HIGH_WORD_MAX = 0x1f_ffff;

/** Bytewise comparison of two byte ranges of one page. */
function comparePageBytes(
  page: Uint8Array,
  left: number,
  leftBytes: number,
  right: number,
  rightBytes: number,
): number {
  const shared = Math.min(leftBytes, rightBytes);
  for (let offset = 0; offset < shared; offset++) {
    const difference = (page[left + offset] as number) - (page[right + offset] as number);
    if (difference !== 0) return difference;
  }
  return leftBytes - rightBytes;
}

// A span packs (start, end) into one number so a typed-array sort orders cells by start; both are at
// most 65536, below this limit.
const SPAN_END_LIMIT = 2 * PAGE_SIZE_BYTES_MAX;

/**
 * Checks the cells in slot order and what spans entries: entry size, key order (compared in place),
 * tiling. `checkCell` checks one cell, records its key in `cellKey` and returns where the cell ends;
 * `onCell` sees each cell once checked. Returns the entries' bytes (slots and cells): the node's
 * usedBytes.
 */
function walkSlots(
  reading: NodeReading,
  layout: NodeLayout,
  checkCell: (reading: NodeReading, cellOffset: number) => number,
  onCell?: (cellOffset: number) => void,
): number {
  const { page } = reading;
  const spans = new Float64Array(layout.entryCount);
  const entryBytesMax = nodeEntryBytesMax(reading.pageSizeBytes);
  let usedBytes = 0;
  let previousStart = -1;
  let previousBytes = 0;
  for (let index = 0; index < layout.entryCount; index++) {
    const cellOffset = readSlot(reading, layout, index);
    const cellEnd = checkCell(reading, cellOffset);
    const entryBytes = SLOT_BYTES + cellEnd - cellOffset;
    if (entryBytes > entryBytesMax)
      fail(reading, `entry ${index} of ${entryBytes} bytes exceeds ${entryBytesMax}`);
    if (
      previousStart >= 0 &&
      comparePageBytes(page, previousStart, previousBytes, cellKey.start, cellKey.bytes) >= 0
    ) {
      fail(reading, `keys not strictly ascending at slot ${index}`);
    }
    previousStart = cellKey.start;
    previousBytes = cellKey.bytes;
    spans[index] = cellOffset * SPAN_END_LIMIT + cellEnd;
    usedBytes += entryBytes;
    onCell?.(cellOffset);
  }
  checkCellsTile(reading, layout, spans);
  return usedBytes;
}

/**
 * Cells must exactly tile [cellsStartOffset, pageSize): an overlap or a gap means the page was not
 * written by encodeNode, and the node's usedBytes would disagree with the page it came from.
 */
function checkCellsTile(reading: NodeReading, layout: NodeLayout, spans: Float64Array): void {
  spans.sort();
  let expectedStart = layout.cellsStartOffset;
  for (const span of spans) {
    const start = Math.floor(span / SPAN_END_LIMIT);
    if (start !== expectedStart)
      fail(reading, `cells overlap or leave a gap at ${Math.min(start, expectedStart)}`);
    expectedStart = span % SPAN_END_LIMIT;
  }
  if (expectedStart !== reading.pageSizeBytes) {
    fail(reading, `cells end at ${expectedStart}, not at the page end ${reading.pageSizeBytes}`);
  }
}

/** Checks one leaf cell (see walkSlots) without building anything; returns where it ends. */
function checkLeafCell(reading: NodeReading, cellOffset: number): number {
  const { view } = reading;
  need(reading, cellOffset, LEAF_CELL_OVERHEAD_BYTES, 'leaf cell');
  const keyBytes = view.getUint16(cellOffset + LEAF_CELL_KEY_BYTES_OFFSET, true);
  const flags = view.getUint8(cellOffset + LEAF_CELL_FLAGS_OFFSET);
  if ((flags & ~LEAF_FLAGS_KNOWN) !== 0)
    fail(reading, `unknown flag bits 0x${flags.toString(16)} at ${cellOffset}`);
  const tombstone = (flags & LEAF_FLAG_TOMBSTONE) !== 0;
  const inValueLog = (flags & LEAF_FLAG_VALUE_LOG) !== 0;
  if (tombstone && inValueLog)
    fail(reading, `leaf cell at ${cellOffset} is both a tombstone and in the value log`);
  const typeCode = view.getUint8(cellOffset + LEAF_CELL_VALUE_TYPE_OFFSET);
  const valueType = valueTypeOfCode(typeCode);
  if (valueType === undefined) fail(reading, `unknown value type ${typeCode} at ${cellOffset}`);
  checkSafeNumber(reading, cellOffset + LEAF_CELL_EXPIRES_AT_OFFSET, 'expiresAtMs');
  // The revision needs no check: every u64 is an LSN (LSN_MAX is 2^64 - 1).
  let cursor = cellOffset + LEAF_CELL_VALUE_PART_OFFSET;
  if (inValueLog) {
    need(reading, cursor, VALUE_LOG_POINTER_BYTES, 'value-log pointer');
    checkSafeNumber(reading, cursor + VALUE_LOG_OFFSET_BYTES_OFFSET, 'value-log offsetBytes');
    cursor += VALUE_LOG_POINTER_BYTES;
  } else if (!tombstone) {
    need(reading, cursor, INLINE_VALUE_HEADER_BYTES, 'inline value length');
    const valueBytes = view.getUint32(cursor, true);
    need(reading, cursor + INLINE_VALUE_HEADER_BYTES, valueBytes, 'inline value');
    if (valueType === 'int64' && valueBytes !== INT64_VALUE_BYTES) {
      fail(reading, `int64 value of ${valueBytes} bytes at ${cursor}`);
    }
    cursor += INLINE_VALUE_HEADER_BYTES + valueBytes;
  }
  checkKey(reading, cursor, keyBytes);
  return cursor + keyBytes;
}

/**
 * The entry of the leaf cell at `cellOffset` of a checked page (checkLeafCell, or a page encodeNode
 * just wrote): no checks here. Its key and inline value are views into the page.
 */
export function readLeafEntry(page: Uint8Array, view: DataView, cellOffset: number): LeafEntry {
  const flags = view.getUint8(cellOffset + LEAF_CELL_FLAGS_OFFSET);
  const valueType = valueTypeOfCode(view.getUint8(cellOffset + LEAF_CELL_VALUE_TYPE_OFFSET));
  assert(valueType !== undefined, 'a checked page holds known value types');
  const expiresAtMs = readU64Number(view, cellOffset + LEAF_CELL_EXPIRES_AT_OFFSET);
  const revision = view.getBigUint64(cellOffset + LEAF_CELL_REVISION_OFFSET, true) as Lsn;
  const tombstone = (flags & LEAF_FLAG_TOMBSTONE) !== 0;
  let cursor = cellOffset + LEAF_CELL_VALUE_PART_OFFSET;
  let inlineValue: Uint8Array | undefined;
  let pointer: ValueLogPointer | undefined;
  if ((flags & LEAF_FLAG_VALUE_LOG) !== 0) {
    pointer = {
      segment: view.getUint32(cursor + VALUE_LOG_SEGMENT_OFFSET, true),
      offsetBytes: readU64Number(view, cursor + VALUE_LOG_OFFSET_BYTES_OFFSET),
      lengthBytes: view.getUint32(cursor + VALUE_LOG_LENGTH_BYTES_OFFSET, true),
    };
    cursor += VALUE_LOG_POINTER_BYTES;
  } else if (!tombstone) {
    const valueBytes = view.getUint32(cursor, true);
    inlineValue = pageView(page, cursor + INLINE_VALUE_HEADER_BYTES, valueBytes);
    cursor += INLINE_VALUE_HEADER_BYTES + valueBytes;
  }
  const keyBytes = view.getUint16(cellOffset + LEAF_CELL_KEY_BYTES_OFFSET, true);
  const key = pageView(page, cursor, keyBytes);
  return makeLeafEntry(key, valueType, tombstone, inlineValue, pointer, expiresAtMs, revision);
}

/** A u64 already checked to be a safe integer, read as two u32s. */
function readU64Number(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 2 ** 32;
}

/**
 * A view of `length` page bytes at `start`. The constructor, not `subarray`: V8 runs subarray through
 * the species lookup, several times slower, and a scan makes two views per entry.
 */
export function pageView(page: Uint8Array, start: number, length: number): Uint8Array {
  return new Uint8Array(page.buffer, page.byteOffset + start, length);
}

function decodeInternalEntries(
  reading: NodeReading,
  layout: NodeLayout,
): { keys: Uint8Array[]; children: PageId[] } {
  const children: PageId[] = [pageId(layout.leftmostChild)];
  const keys: Uint8Array[] = [];
  walkSlots(reading, layout, checkInternalCell, (cellOffset) => {
    children.push(pageId(reading.view.getUint32(cellOffset + INTERNAL_CELL_CHILD_OFFSET, true)));
    keys.push(reading.page.subarray(cellKey.start, cellKey.start + cellKey.bytes));
  });
  return { keys, children };
}

/** Checks one internal cell (see walkSlots); returns where it ends. */
function checkInternalCell(reading: NodeReading, cellOffset: number): number {
  need(reading, cellOffset, INTERNAL_CELL_OVERHEAD_BYTES, 'internal cell');
  const keyBytes = reading.view.getUint16(cellOffset + INTERNAL_CELL_KEY_BYTES_OFFSET, true);
  const child = reading.view.getUint32(cellOffset + INTERNAL_CELL_CHILD_OFFSET, true);
  checkChild(reading, child, `child of the cell at ${cellOffset}`);
  const keyOffset = cellOffset + INTERNAL_CELL_KEY_OFFSET;
  checkKey(reading, keyOffset, keyBytes);
  return keyOffset + keyBytes;
}
