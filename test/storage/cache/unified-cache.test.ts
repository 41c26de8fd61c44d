// Proves the unified cache's byte accounting: entries and pinned bytes share one budget, the least
// recently used clean entries go first, and setting an entry again re-charges it even when the value
// is the same object (lru-cache alone would keep the old size).
import { describe, expect, it } from 'vitest';
import { UnifiedCache } from '../../../src/storage/cache/unified-cache.js';

describe('UnifiedCache', () => {
  it('evicts least recently used entries so entries plus pinned bytes stay within the budget', () => {
    const cache = new UnifiedCache<{ id: number }>(1000);
    const values = Array.from({ length: 5 }, (_, id) => ({ id }));
    for (const value of values) cache.set(value.id, value, 300);
    expect(cache.stats().entries).toBe(3);
    expect(cache.peek(0)).toBeUndefined();
    expect(cache.get(2)).toBe(values[2]); // now most recent
    cache.adjustPinned(400); // 900 + 400 > 1000: the least recently used entry (3) goes
    expect(cache.accountedBytes).toBe(1000);
    expect(cache.peek(3)).toBeUndefined();
    expect(cache.peek(2)).toBe(values[2]);
    expect(cache.peek(4)).toBe(values[4]);
    expect(cache.stats().evictions).toBe(3);
  });

  it('setting the same value again with a new size re-charges it', () => {
    const cache = new UnifiedCache<{ id: number }>(1000);
    const value = { id: 1 };
    cache.set(1, value, 100);
    cache.set(1, value, 700);
    expect(cache.accountedBytes).toBe(700);
    cache.set(2, { id: 2 }, 400); // 700 + 400 > 1000: the older entry goes
    expect(cache.peek(1)).toBeUndefined();
    expect(cache.accountedBytes).toBe(400);
  });
});
