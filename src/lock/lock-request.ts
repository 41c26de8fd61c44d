/**
 * A transaction's lock request and its canonical form. A request is the whole lock set of one
 * transaction, declared up front: point locks (shared or exclusive) and shared range locks. The lock
 * manager acquires the canonical form, which keeps two invariants the deadlock argument in
 * lock-manager.ts rests on: a transaction's lock points are pairwise disjoint intervals of key space,
 * and they are listed in increasing order of their start key.
 *
 * Keys are carried as binary strings (one UTF-16 unit per byte, every unit below 0x100). JS string
 * order on such strings is exactly bytewise order with shorter-prefix-first, i.e. `Buffer.compare`
 * order, and a string is also a cheap Map key; test/lock/lock-request.test.ts checks the equivalence.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';

export type KeyLockMode = 'S' | 'X';

/** A point lock: shared for a read (R), exclusive for a write (RW). */
export interface KeyLock {
  readonly key: Uint8Array;
  readonly mode: KeyLockMode;
}

/**
 * A shared lock on `[start, end)`: an absent start is before every key, an absent end after every key.
 * A prefix arrives already turned into a range (`prefixRange` in src/storage/btree/key-range.ts).
 */
export interface RangeLock {
  readonly start?: Uint8Array;
  readonly end?: Uint8Array;
  readonly mode: 'S';
}

/** Everything one transaction will lock, in any order and with any repetition. */
export interface LockRequest {
  readonly keys?: readonly KeyLock[];
  readonly ranges?: readonly RangeLock[];
}

/** A key, as a binary string. The interval it occupies is `[key, key + '\0')`. */
export interface KeyPoint {
  readonly kind: 'key';
  readonly key: string;
  readonly mode: KeyLockMode;
}

/** A shared range `[start, end)` as binary strings; `end === undefined` is past every key. */
export interface RangePoint {
  readonly kind: 'range';
  readonly start: string;
  readonly end: string | undefined;
}

export type LockPoint = KeyPoint | RangePoint;

/** Above this many bytes, `String.fromCharCode.apply` risks the engine's argument-count limit. */
const APPLY_BYTES_MAX = 4096;

/** The binary string of `bytes`: one char per byte, so string order is bytewise order. */
export function binaryKey(bytes: Uint8Array): string {
  if (bytes.length <= APPLY_BYTES_MAX) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** The smallest key after `key` in bytewise order; the exclusive end of the key's interval. */
export function keySuccessor(key: string): string {
  return `${key}\u0000`;
}

export function rangeContainsKey(range: RangePoint, key: string): boolean {
  return range.start <= key && (range.end === undefined || key < range.end);
}

/** Whether two lock points share at least one key. */
export function pointsOverlap(left: LockPoint, right: LockPoint): boolean {
  if (left.kind === 'key') {
    return right.kind === 'key' ? left.key === right.key : rangeContainsKey(right, left.key);
  }
  if (right.kind === 'key') return rangeContainsKey(left, right.key);
  return (
    (right.end === undefined || left.start < right.end) && (left.end === undefined || right.start < left.end)
  );
}

/** The start of a point's interval: the canonical acquisition order sorts by it. */
export function pointStart(point: LockPoint): string {
  return point.kind === 'key' ? point.key : point.start;
}

/**
 * The canonical form of a request:
 * 1. one entry per key, with its strongest declared mode (so no lock is ever upgraded);
 * 2. empty ranges dropped, overlapping or touching ranges merged;
 * 3. a shared key inside one of the transaction's ranges dropped (the range covers it);
 * 4. a range split around each exclusive key of the same transaction inside it (the key's X lock
 *    covers that key; keeping the range whole would make the transaction's points overlap, and two
 *    transactions that scan a range and write inside it could then deadlock);
 * 5. everything sorted by start key, bytewise.
 */
export function canonicalizeLockRequest(request: LockRequest): LockPoint[] {
  const keys = canonicalKeys(request.keys ?? []);
  const ranges = mergedRanges(request.ranges ?? []);
  if (ranges.length === 0) return keys;
  const points: LockPoint[] = [];
  let keyIndex = 0;
  for (const range of ranges) {
    for (; keyIndex < keys.length; keyIndex++) {
      const key = keys[keyIndex] as KeyPoint;
      if (key.key >= range.start) break;
      points.push(key);
    }
    let pieceStart = range.start;
    for (; keyIndex < keys.length; keyIndex++) {
      const key = keys[keyIndex] as KeyPoint;
      if (!rangeContainsKey(range, key.key)) break;
      if (key.mode === 'S') continue;
      if (pieceStart < key.key) points.push({ kind: 'range', start: pieceStart, end: key.key });
      points.push(key);
      pieceStart = keySuccessor(key.key);
    }
    if (range.end === undefined || pieceStart < range.end) {
      points.push({ kind: 'range', start: pieceStart, end: range.end });
    }
  }
  for (; keyIndex < keys.length; keyIndex++) points.push(keys[keyIndex] as KeyPoint);
  return points;
}

function canonicalKeys(keys: readonly KeyLock[]): KeyPoint[] {
  if (keys.length === 1) {
    const only = keys[0] as KeyLock;
    assert(only.mode === 'S' || only.mode === 'X', `invalid key lock mode ${String(only.mode)}`);
    return [{ kind: 'key', key: binaryKey(only.key), mode: only.mode }];
  }
  const sorted: KeyPoint[] = [];
  for (const { key, mode } of keys) {
    assert(mode === 'S' || mode === 'X', `invalid key lock mode ${String(mode)}`);
    sorted.push({ kind: 'key', key: binaryKey(key), mode });
  }
  // Sorting first puts duplicates side by side; X before S among equals, so the first one wins.
  sorted.sort(byKeyThenExclusiveFirst);
  const points: KeyPoint[] = [];
  for (const point of sorted) {
    if (points.length === 0 || (points[points.length - 1] as KeyPoint).key !== point.key) points.push(point);
  }
  return points;
}

function byKeyThenExclusiveFirst(left: KeyPoint, right: KeyPoint): number {
  if (left.key !== right.key) return left.key < right.key ? -1 : 1;
  return left.mode === right.mode ? 0 : left.mode === 'X' ? -1 : 1;
}

function mergedRanges(ranges: readonly RangeLock[]): RangePoint[] {
  const sorted: RangePoint[] = [];
  for (const range of ranges) {
    assert(range.mode === 'S', `range locks are shared only, not ${String(range.mode)}`);
    const start = range.start === undefined ? '' : binaryKey(range.start);
    const end = range.end === undefined ? undefined : binaryKey(range.end);
    if (end !== undefined && end <= start) continue;
    sorted.push({ kind: 'range', start, end });
  }
  sorted.sort((left, right) => (left.start < right.start ? -1 : left.start > right.start ? 1 : 0));
  const merged: RangePoint[] = [];
  for (const range of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && (last.end === undefined || range.start <= last.end)) {
      const end =
        last.end === undefined || range.end === undefined ? undefined : maxString(last.end, range.end);
      merged[merged.length - 1] = { kind: 'range', start: last.start, end };
    } else {
      merged.push(range);
    }
  }
  return merged;
}

function maxString(left: string, right: string): string {
  return left < right ? right : left;
}

/** A short human form of a point, keys in hex, for error messages and test output. */
export function describeLockPoint(point: LockPoint): string {
  const hex = (key: string): string => Buffer.from(key, 'latin1').toString('hex');
  if (point.kind === 'key') return `${point.mode}(${hex(point.key)})`;
  return `S[${hex(point.start)}, ${point.end === undefined ? '∞' : hex(point.end)})`;
}
