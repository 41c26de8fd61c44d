/**
 * The key lock table: one lock point per key that is held or waited for, in a hash-partitioned set of
 * Maps (a partition is chosen by a cheap hash of the key, so no Map grows large and a resize rehashes
 * one partition only). A point exists exactly while something holds it, waits in its queue or is parked
 * on a range for it; an idle point is deleted, so the table's size is bounded by the live requests.
 *
 * Range locks need the keys inside an interval. That ordered view (a sorted array of points) costs a
 * binary search on every point created or deleted, so it is kept only while some range lock exists:
 * key-only workloads never pay for it.
 */
import { assert } from '../util/assert.js';

export const KEY_LOCK_PARTITIONS_DEFAULT = 16;
export const KEY_LOCK_PARTITIONS_MAX = 1024;

/** What the table needs to know of a waiter: its arrival number, which orders the point's queue. */
export interface QueuedRequest {
  readonly seq: number;
}

export class KeyLockPoint<Waiter extends QueuedRequest> {
  readonly key: string;
  /** Holders of the shared mode. */
  sharedCount = 0;
  exclusiveHeld = false;
  /** Waiters visible to later requests, in arrival (`seq`) order. */
  readonly queue: Waiter[] = [];
  /** Requests for this key parked behind a range; they keep the point alive but block no one. */
  parkedCount = 0;

  constructor(key: string) {
    this.key = key;
  }

  isIdle(): boolean {
    return this.sharedCount === 0 && !this.exclusiveHeld && this.queue.length === 0 && this.parkedCount === 0;
  }

  /** Inserts by `seq`: a waiter returning from a parked state keeps its place in arrival order. */
  enqueue(waiter: Waiter): void {
    let index = this.queue.length;
    while (index > 0 && (this.queue[index - 1] as Waiter).seq > waiter.seq) index--;
    this.queue.splice(index, 0, waiter);
  }

  dequeue(waiter: Waiter): void {
    const index = this.queue.indexOf(waiter);
    assert(index >= 0, 'dequeue of a waiter that is not queued');
    this.queue.splice(index, 1);
  }
}

export class KeyLockTable<Waiter extends QueuedRequest> {
  private readonly partitions: Map<string, KeyLockPoint<Waiter>>[];
  private readonly partitionMask: number;
  /** Every point, sorted by key; present only while ordered lookups are enabled. */
  private ordered: KeyLockPoint<Waiter>[] | undefined;
  private pointCount = 0;

  constructor(partitionCount = KEY_LOCK_PARTITIONS_DEFAULT) {
    assert(
      Number.isInteger(partitionCount) &&
        partitionCount >= 1 &&
        partitionCount <= KEY_LOCK_PARTITIONS_MAX &&
        (partitionCount & (partitionCount - 1)) === 0,
      `lock table partitions must be a power of two in [1, ${KEY_LOCK_PARTITIONS_MAX}], not ${partitionCount}`,
    );
    this.partitions = Array.from({ length: partitionCount }, () => new Map());
    this.partitionMask = partitionCount - 1;
  }

  get size(): number {
    return this.pointCount;
  }

  get(key: string): KeyLockPoint<Waiter> | undefined {
    return this.partitionOf(key).get(key);
  }

  getOrCreate(key: string): KeyLockPoint<Waiter> {
    const partition = this.partitionOf(key);
    let point = partition.get(key);
    if (point === undefined) {
      point = new KeyLockPoint(key);
      partition.set(key, point);
      this.pointCount++;
      if (this.ordered !== undefined) this.ordered.splice(this.lowerBound(key), 0, point);
    }
    return point;
  }

  /** Deletes the point if nothing holds it, waits in it or is parked for it. */
  deleteIfIdle(point: KeyLockPoint<Waiter>): void {
    if (!point.isIdle()) return;
    const deleted = this.partitionOf(point.key).delete(point.key);
    assert(deleted, 'an idle lock point was not in the table');
    this.pointCount--;
    if (this.ordered !== undefined) {
      const index = this.lowerBound(point.key);
      assert(this.ordered[index] === point, 'the ordered key index lost a point');
      this.ordered.splice(index, 1);
    }
  }

  /** Turns on the ordered view (idempotent); builds it from the partitions. */
  enableOrderedLookups(): void {
    if (this.ordered !== undefined) return;
    const all: KeyLockPoint<Waiter>[] = [];
    for (const partition of this.partitions) for (const point of partition.values()) all.push(point);
    this.ordered = all.sort((left, right) => (left.key < right.key ? -1 : 1));
  }

  disableOrderedLookups(): void {
    this.ordered = undefined;
  }

  /** The points with `start <= key < end` (`end === undefined`: no upper bound), in key order. */
  pointsInRange(start: string, end: string | undefined): KeyLockPoint<Waiter>[] {
    assert(this.ordered !== undefined, 'ordered lookups are not enabled');
    const from = this.lowerBound(start);
    const to = end === undefined ? this.ordered.length : this.lowerBound(end);
    return this.ordered.slice(from, to);
  }

  get orderedLookupsEnabled(): boolean {
    return this.ordered !== undefined;
  }

  /** The structural check: counts agree, and the ordered view (when on) holds every point, sorted. */
  checkStructure(): string | undefined {
    let counted = 0;
    for (const [index, partition] of this.partitions.entries()) {
      for (const [key, point] of partition) {
        counted++;
        if (point.key !== key || (partitionHash(key) & this.partitionMask) !== index) {
          return `lock point ${key} is filed under the wrong key or partition`;
        }
      }
    }
    if (counted !== this.pointCount)
      return `lock table holds ${counted} points but counts ${this.pointCount}`;
    if (this.ordered === undefined) return undefined;
    if (this.ordered.length !== counted)
      return `ordered view holds ${this.ordered.length} of ${counted} points`;
    for (let i = 0; i < this.ordered.length; i++) {
      const point = this.ordered[i] as KeyLockPoint<Waiter>;
      if (i > 0 && (this.ordered[i - 1] as KeyLockPoint<Waiter>).key >= point.key)
        return 'ordered view out of order';
      if (this.get(point.key) !== point) return 'ordered view holds a point the table does not';
    }
    return undefined;
  }

  *points(): IterableIterator<KeyLockPoint<Waiter>> {
    for (const partition of this.partitions) yield* partition.values();
  }

  /** Index of the first ordered point whose key is >= `key`. */
  private lowerBound(key: string): number {
    const ordered = this.ordered as KeyLockPoint<Waiter>[];
    let low = 0;
    let high = ordered.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((ordered[middle] as KeyLockPoint<Waiter>).key < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private partitionOf(key: string): Map<string, KeyLockPoint<Waiter>> {
    return this.partitions[partitionHash(key) & this.partitionMask] as Map<string, KeyLockPoint<Waiter>>;
  }
}

/** How many chars at each end of a key the partition hash reads: keys may be kilobytes long. */
const HASHED_CHARS_PER_END = 16;

/** FNV-1a over the length and at most the first and last 16 chars: cheap, and spreads typical keys. */
export function partitionHash(key: string): number {
  let hash = Math.imul(0x811c9dc5 ^ key.length, 0x01000193);
  const length = key.length;
  const head = Math.min(length, HASHED_CHARS_PER_END);
  for (let i = 0; i < head; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  for (let i = Math.max(head, length - HASHED_CHARS_PER_END); i < length; i++) {
    hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  }
  return (hash ^ (hash >>> 15)) >>> 0;
}
