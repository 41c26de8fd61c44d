/**
 * A packed leaf: a clean leaf kept as its page bytes (node-format.ts owns the layout), searched and
 * read in place. Only dirty leaves hold an array of LeafEntry objects.
 *
 * Why: a decoded leaf costs a JS object per entry plus a view each for its key and value, about three
 * times the page's own bytes, and those long-lived small objects are what the collector scans and what
 * fragments the V8 heap, so a cache of decoded leaves held far more memory than it accounted for. A
 * packed leaf is the page (one buffer outside the JS heap) plus two small typed arrays, so what the
 * cache accounts is what it holds. An entry is built on demand for the one key a lookup wants, or for
 * the entries a cursor steps over, and is garbage young. Scans too build entries per visit rather than
 * keep them: kept entries made 100-key range scans 1.3-1.7x faster but cost ~310 bytes of V8 heap each
 * (an object, two views, a bigint), which after a full scan was most of the process's memory past the
 * cache budget (bench/README.md, "Where the time goes").
 *
 * Invariant: the page was checked entry by entry when it was read from disk (checkLeafPage, which
 * makes decodeNode's checks without building entries), or was just written by encodeNode, and a clean node never changes; so the readers here trust its offsets.
 * A change copies the leaf to a dirty node with materialized entries (PageStore.writable).
 */
import { assert } from '../../util/assert.js';
import { KeyHeads } from './key-heads.js';
import type { LeafEntry } from './node.js';
import {
  INLINE_VALUE_HEADER_BYTES,
  LEAF_CELL_FLAGS_OFFSET,
  LEAF_CELL_KEY_BYTES_OFFSET,
  LEAF_CELL_VALUE_PART_OFFSET,
  LEAF_FLAG_TOMBSTONE,
  LEAF_FLAG_VALUE_LOG,
  NODE_ENTRY_COUNT_OFFSET,
  NODE_PAYLOAD_OFFSET,
  pageView,
  readLeafEntry,
  SLOT_BYTES,
  VALUE_LOG_POINTER_BYTES,
} from './node-format.js';

export class PackedLeaf {
  /** The whole page, as a plain Uint8Array (keys and values handed out are views into it). */
  readonly page: Uint8Array;
  private readonly view: DataView;
  readonly count: number;
  /** Offset and length of each slot's key in the page, in key order. */
  private readonly keyStarts: Uint16Array;
  private readonly keyLengths: Uint16Array;
  /** Set once its page went back to the page buffer pool: it must never be read again. */
  private recycledValue = false;

  /** Indexes a valid, sealed leaf page (see the invariant above). */
  constructor(page: Uint8Array) {
    this.page = new Uint8Array(page.buffer, page.byteOffset, page.length);
    this.view = new DataView(page.buffer, page.byteOffset, page.length);
    this.count = this.view.getUint16(NODE_ENTRY_COUNT_OFFSET, true);
    this.keyStarts = new Uint16Array(this.count);
    this.keyLengths = new Uint16Array(this.count);
    for (let index = 0; index < this.count; index++) {
      const cell = this.cellOffset(index);
      this.keyStarts[index] = this.keyStartOf(cell);
      this.keyLengths[index] = this.view.getUint16(cell + LEAF_CELL_KEY_BYTES_OFFSET, true);
    }
  }

  /** Bytes this leaf holds in memory: the page and its key index (no entry objects, ever). */
  get memoryBytes(): number {
    return this.page.length + 4 * this.count;
  }

  get recycled(): boolean {
    return this.recycledValue;
  }

  /**
   * Marks the leaf recycled and returns its page, which the page store hands to the pool on a later
   * turn of the event loop (page-buffer-pool.ts). Only the page store does this, for a leaf evicted
   * from the cache that nothing pins or writes; a cursor still holding the leaf sees `recycled` and
   * seeks again.
   */
  retire(): Uint8Array {
    assert(!this.recycledValue, 'a packed leaf recycled twice');
    this.recycledValue = true;
    return this.page;
  }

  /** The key of entry `index`, as a view into the page. */
  keyAt(index: number): Uint8Array {
    assert(!this.recycledValue, 'read of a recycled packed leaf');
    assert(index >= 0 && index < this.count, `entry ${index} of ${this.count}`);
    return pageView(this.page, this.keyStarts[index] as number, this.keyLengths[index] as number);
  }

  /** The leaf's key heads (key-heads.ts), read from the page in place. */
  buildHeads(): KeyHeads | undefined {
    assert(!this.recycledValue, 'read of a recycled packed leaf');
    return KeyHeads.buildInPlace(this.page, this.keyStarts, this.keyLengths);
  }

  /** compareBytes(keyAt(index), key) without making the view. */
  compareKeyAt(index: number, key: Uint8Array): number {
    const { page } = this;
    const start = this.keyStarts[index] as number;
    const length = this.keyLengths[index] as number;
    const shared = Math.min(length, key.length);
    for (let offset = 0; offset < shared; offset++) {
      const difference = (page[start + offset] as number) - (key[offset] as number);
      if (difference !== 0) return difference;
    }
    return length - key.length;
  }

  /** Entry `index` (keys and inline values are views into the page). */
  entryAt(index: number): LeafEntry {
    assert(!this.recycledValue, 'read of a recycled packed leaf');
    assert(index >= 0 && index < this.count, `entry ${index} of ${this.count}`);
    return this.buildEntry(index);
  }

  /** Every entry, in key order, in a fresh array (for a copy that will change, or a full check). */
  entries(): LeafEntry[] {
    assert(!this.recycledValue, 'read of a recycled packed leaf');
    const entries: LeafEntry[] = [];
    for (let index = 0; index < this.count; index++) entries.push(this.buildEntry(index));
    return entries;
  }

  /**
   * Every entry, as views into a private copy of the page: for a dirty copy of the leaf, which outlives
   * this leaf's buffer (the pool takes it back once the clean leaf is evicted).
   */
  ownedEntries(): LeafEntry[] {
    assert(!this.recycledValue, 'read of a recycled packed leaf');
    return new PackedLeaf(this.page.slice()).entries();
  }

  private buildEntry(index: number): LeafEntry {
    return readLeafEntry(this.page, this.view, this.cellOffset(index));
  }

  private cellOffset(index: number): number {
    return this.view.getUint16(NODE_PAYLOAD_OFFSET + index * SLOT_BYTES, true);
  }

  /** Where a cell's key starts: after its fixed part and its value part. */
  private keyStartOf(cell: number): number {
    const flags = this.view.getUint8(cell + LEAF_CELL_FLAGS_OFFSET);
    const valuePart = cell + LEAF_CELL_VALUE_PART_OFFSET;
    if ((flags & LEAF_FLAG_VALUE_LOG) !== 0) return valuePart + VALUE_LOG_POINTER_BYTES;
    if ((flags & LEAF_FLAG_TOMBSTONE) !== 0) return valuePart;
    return valuePart + INLINE_VALUE_HEADER_BYTES + this.view.getUint32(valuePart, true);
  }
}

/** The plain binary search over a packed leaf (the reference the key-heads search is checked against). */
export function packedLowerBound(packed: PackedLeaf, key: Uint8Array): number {
  let low = 0;
  let high = packed.count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (packed.compareKeyAt(middle, key) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Whether the packed leaf's key at `index` is `key`. */
export function packedKeyEquals(packed: PackedLeaf, index: number, key: Uint8Array): boolean {
  return index < packed.count && packed.compareKeyAt(index, key) === 0;
}
