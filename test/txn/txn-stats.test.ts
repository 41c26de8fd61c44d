// Proves stats() reports transaction commits and aborts by reason, and jubilant.toml's lock timeout reaches the database.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { databaseOptionsFromConfig } from '../../src/engine/database-options.js';
import { Database } from '../../src/index.js';
import { SimFileSystem } from '../../src/io/sim-file-system.js';

describe('transaction statistics', () => {
  it('stats() counts commits, read-only commits and aborts by error code', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    await fs.mkdir('/db');
    const db = await Database.open('/db', { fs, checkpointIntervalMs: 0 });
    await db.set('a', 1n);
    await db.transaction({ keys: [{ id: 1, mode: 'R', key: 'a' }], ops: [{ op: 'GET', id: 1 }] });
    await expect(
      db.transaction({
        keys: [{ id: 1, mode: 'RW', key: 'a' }],
        ops: [{ op: 'ASSERT_INT_EQ', id: 1, value: 2n }],
      }),
    ).rejects.toMatchObject({ code: 'ASSERTION_FAILED', opIndex: 0 });
    await expect(
      db.transaction({ keys: [{ id: 1, mode: 'R', key: 'a' }], ops: [{ op: 'DEL', id: 1 }] }),
    ).rejects.toMatchObject({ code: 'WRITE_TO_READ_KEY', opIndex: 0 });
    const stats = db.stats().transactions;
    expect(stats.commits).toBe(1);
    expect(stats.readOnlyCommits).toBe(1);
    expect(stats.aborts).toEqual({ ASSERTION_FAILED: 1, WRITE_TO_READ_KEY: 1 });
    expect(stats.locks.activeGrants).toBe(0);
    await db.close();
  });

  it('txn.lock_timeout_ms in jubilant.toml becomes the database lock timeout', () => {
    const options = databaseOptionsFromConfig(parseConfig('[txn]\nlock_timeout_ms = 250'));
    expect(options.lockTimeoutMs).toBe(250);
  });
});
