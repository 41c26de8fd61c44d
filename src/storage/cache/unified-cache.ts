/**
 * The unified cache: one byte budget for decoded B+Tree pages and (with the value log) decoded values,
 * on lru-cache. Dirty pages cannot be evicted, so their owner reports their bytes as "pinned"; they count
 * against the same budget, and the clean entries are evicted (least recently used first) to make room.
 *
 * Invariant: `sizeBytes + pinnedBytes <= budgetBytes` whenever the clean part can absorb the pinned
 * growth; when pinned bytes alone pass the budget nothing is left to evict, and the owner must write a
 * checkpoint (the database triggers one well before, at `dirtyShareMax` of the budget).
 */
import { LRUCache } from 'lru-cache';
import { assert } from '../../util/assert.js';

export type CacheKey = number | string;

export interface CacheStats {
  readonly budgetBytes: number;
  readonly sizeBytes: number;
  readonly pinnedBytes: number;
  readonly entries: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
}

export class UnifiedCache<T extends object = object> {
  readonly budgetBytes: number;
  private readonly lru: LRUCache<CacheKey, T>;
  private pinned = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private readonly evictionListeners: Array<(key: CacheKey, value: T) => void> = [];

  constructor(budgetBytes: number) {
    assert(Number.isSafeInteger(budgetBytes) && budgetBytes > 0, `invalid cache budget ${budgetBytes}`);
    this.budgetBytes = budgetBytes;
    this.lru = new LRUCache<CacheKey, T>({
      maxSize: budgetBytes,
      // Sizes are given explicitly with every set; a missing one is a bug.
      sizeCalculation: () => {
        throw new Error('UnifiedCache.set needs a size');
      },
      dispose: (value, key, reason) => {
        if (reason !== 'evict') return;
        this.evictions += 1;
        for (const listener of this.evictionListeners) listener(key, value);
      },
    });
  }

  /**
   * The cached value, counted as a hit and made most recent; absent values are not counted here, since
   * a caller may probe several places first: it calls `recordMiss` once it actually goes to disk.
   */
  get(key: CacheKey): T | undefined {
    const value = this.lru.get(key);
    if (value !== undefined) this.hits += 1;
    return value;
  }

  /**
   * Calls `listener` for each entry evicted to make room (not for one deleted or replaced), at the
   * moment it leaves the cache: the page store recycles an evicted leaf's page buffer.
   */
  addEvictionListener(listener: (key: CacheKey, value: T) => void): void {
    this.evictionListeners.push(listener);
  }

  /** Counts one miss: a read that had to load from disk. */
  recordMiss(): void {
    this.misses += 1;
  }

  /** Looks without counting a hit or miss or refreshing recency (for internal probes). */
  peek(key: CacheKey): T | undefined {
    return this.lru.peek(key);
  }

  set(key: CacheKey, value: T, sizeBytes: number): void {
    assert(sizeBytes > 0 && Number.isSafeInteger(sizeBytes), `invalid cache entry size ${sizeBytes}`);
    if (sizeBytes > this.budgetBytes - this.pinned) {
      this.lru.delete(key); // too large to keep: serve it uncached
      return;
    }
    // lru-cache keeps the old size when the same value is set again: a re-charge (a packed leaf that
    // built its entry objects) would go unaccounted.
    if (this.lru.peek(key) === value) this.lru.delete(key);
    this.lru.set(key, value, { size: sizeBytes });
    this.trim();
  }

  delete(key: CacheKey): void {
    this.lru.delete(key);
  }

  /** Adds (or, negative, removes) bytes the owner holds outside the evictable set. */
  adjustPinned(deltaBytes: number): void {
    this.pinned += deltaBytes;
    assert(this.pinned >= 0, 'pinned bytes went negative');
    this.trim();
  }

  get pinnedBytes(): number {
    return this.pinned;
  }

  /** Bytes charged against the budget: clean entries plus pinned bytes. */
  get accountedBytes(): number {
    return this.lru.calculatedSize + this.pinned;
  }

  stats(): CacheStats {
    return {
      budgetBytes: this.budgetBytes,
      sizeBytes: this.lru.calculatedSize,
      pinnedBytes: this.pinned,
      entries: this.lru.size,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }

  /** Evicts least recently used clean entries until clean plus pinned bytes fit the budget. */
  private trim(): void {
    while (this.lru.calculatedSize + this.pinned > this.budgetBytes && this.lru.size > 0) {
      this.lru.pop(); // counted as an eviction by `dispose`
    }
  }
}
