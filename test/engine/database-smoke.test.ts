// Proves the embedded Database end to end on real files: writes, reads, scans, deletes, reopen and LOCK.
import { describe, expect, it } from 'vitest';
import { Database } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('database smoke', () => {
  it('writes, reads, scans and deletes survive close and reopen, and a second open is refused', async () => {
    const dir = await tempDir();
    let db = await Database.open(dir, { walSegmentBytes: 1024 * 1024 });
    await db.set('a', 'hello');
    await db.set('b', 42n);
    await db.set('c', new Uint8Array([1, 2, 3]));
    await Promise.all(Array.from({ length: 200 }, (_, i) => db.set(`k${i}`, `v${i}`)));
    expect(await db.get('a')).toBe('hello');
    expect(await db.get('b')).toBe(42n);
    await db.del('a');
    expect(await db.get('a')).toBeUndefined();
    const keys: string[] = [];
    for await (const { key } of db.scan({ prefix: 'k1' })) keys.push(key);
    expect(keys.length).toBe(111);
    expect(db.stats().wal.batches).toBeLessThan(db.stats().commits);
    await db.close();
    db = await Database.open(dir, { walSegmentBytes: 1024 * 1024 });
    expect(await db.get('b')).toBe(42n);
    expect(await db.get('k199')).toBe('v199');
    await db.set('z', 'after');
    await db.close();
    db = await Database.open(dir, { walSegmentBytes: 1024 * 1024 });
    expect(await db.get('z')).toBe('after');
    await expect(Database.open(dir)).rejects.toMatchObject({ code: 'DATABASE_LOCKED' });
    await db.close();
  });
});
