/**
 * Key heads: a compact search index over a clean node's sorted keys, so a lookup's binary search reads
 * one small contiguous array instead of chasing a pointer per comparison (entry -> key view -> page
 * bytes), which for a tree larger than the CPU caches is one cache miss after another.
 *
 * The node's keys all share the prefix of its first and last key (they are sorted). A key's head is the
 * next four bytes after that prefix as a big-endian u32, zero-padded when the key is shorter (stored
 * with the top bit flipped as an int32, which keeps the order and keeps V8 in small-integer math). For two
 * keys with the prefix, head(a) < head(b) implies a < b bytewise (at the first differing byte of the
 * four, a's byte is lower, or a ended there), so heads order the keys except within a run of equal
 * heads, where the search falls back to full comparisons.
 *
 * Lengths are read as `.length` (see compareBytes for why not `.byteLength`).
 *
 * Invariant: heads are built only for clean nodes, which never change (a change copies the node under
 * a new page id, see PageStore.writable, and the copy drops the heads). With JUBILANT_VERIFY=1 every
 * indexed search is checked against the plain binary search.
 */
const HEAD_BYTES = 4;

export class KeyHeads {
  /** Bytes every key of the node starts with. */
  private readonly prefix: Uint8Array;
  private readonly heads: Int32Array;

  private constructor(prefix: Uint8Array, heads: Int32Array) {
    this.prefix = prefix;
    this.heads = heads;
  }

  /** Heads of `count` ascending keys, read through `keyAt`; undefined for an empty node. */
  static build(count: number, keyAt: (index: number) => Uint8Array): KeyHeads | undefined {
    if (count === 0) return undefined;
    const first = keyAt(0);
    const last = keyAt(count - 1);
    let prefixBytes = 0;
    const shared = Math.min(first.length, last.length);
    while (prefixBytes < shared && first[prefixBytes] === last[prefixBytes]) prefixBytes += 1;
    const heads = new Int32Array(count);
    for (let index = 0; index < count; index++) heads[index] = headOf(keyAt(index), prefixBytes);
    return new KeyHeads(first.slice(0, prefixBytes), heads);
  }

  /**
   * `build` over keys stored in one buffer (a packed leaf's page): key `i` is the `lengths[i]` bytes at
   * `starts[i]`. Reads the bytes in place, making no view per key.
   */
  static buildInPlace(bytes: Uint8Array, starts: Uint16Array, lengths: Uint16Array): KeyHeads | undefined {
    const count = starts.length;
    if (count === 0) return undefined;
    const first = starts[0] as number;
    const last = starts[count - 1] as number;
    const shared = Math.min(lengths[0] as number, lengths[count - 1] as number);
    let prefixBytes = 0;
    while (prefixBytes < shared && bytes[first + prefixBytes] === bytes[last + prefixBytes]) prefixBytes += 1;
    const heads = new Int32Array(count);
    for (let index = 0; index < count; index++) {
      heads[index] = headAt(bytes, starts[index] as number, lengths[index] as number, prefixBytes);
    }
    return new KeyHeads(bytes.slice(first, first + prefixBytes), heads);
  }

  /**
   * The run of indexes whose heads equal `key`'s: every index below `low` holds a smaller key and every
   * index from `high` on a larger one, so only `[low, high)` needs full comparisons. A key outside the
   * prefix gives an empty run at 0 (below every key) or at the end (above every key). Returned packed
   * as `low * RUN_SHIFT + high` (see `runLow`, `runHigh`): this runs once per node per lookup, and a
   * number allocates nothing.
   */
  candidates(key: Uint8Array): number {
    const { prefix, heads } = this;
    const count = heads.length;
    for (let index = 0; index < prefix.length; index++) {
      // A key that ends inside the prefix is a proper prefix of every key, so below them all.
      if (index >= key.length) return 0;
      const difference = (key[index] as number) - (prefix[index] as number);
      if (difference < 0) return 0;
      if (difference > 0) return count * RUN_SHIFT + count;
    }
    const head = headOf(key, prefix.length);
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((heads[middle] as number) < head) low = middle + 1;
      else high = middle;
    }
    const runStart = low;
    high = count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((heads[middle] as number) <= head) low = middle + 1;
      else high = middle;
    }
    return runStart * RUN_SHIFT + low;
  }
}

/** Node entry counts are u16, so a run's bounds pack into one number. */
const RUN_SHIFT = 0x10000;

export function runLow(run: number): number {
  return Math.floor(run / RUN_SHIFT);
}

export function runHigh(run: number): number {
  return run % RUN_SHIFT;
}

/** The key's head as an int32: big-endian u32 of the 4 bytes after the prefix, top bit flipped. */
function headOf(key: Uint8Array, prefixBytes: number): number {
  return headAt(key, 0, key.length, prefixBytes);
}

/** headOf the `length`-byte key at `start` of `bytes`. */
function headAt(bytes: Uint8Array, start: number, length: number, prefixBytes: number): number {
  let head = 0;
  for (let index = prefixBytes; index < prefixBytes + HEAD_BYTES; index++) {
    head = (head << 8) | (index < length ? (bytes[start + index] as number) : 0);
  }
  return head ^ SIGN_BIT;
}

const SIGN_BIT = -0x80000000;
