// Proves the transaction contract of issue 7: every op and assertion works, reads see the transaction's own writes, every validation and execution error carries its code and op index and has no effect, read-only transactions log nothing, lock timeouts are retryable and harmless, and aborts are counted by reason.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Database, TxnOp, TxnRequest } from '../../src/index.js';
import { testSeed } from '../../src/util/random.js';
import { closeAndValidate, ManualClock, openSim, rejection } from './txn-helpers.js';

const INT64_MAX = 2n ** 63n - 1n;
const sha256 = (data: Uint8Array | string): Uint8Array =>
  new Uint8Array(createHash('sha256').update(data).digest());

function seeded(name: string): number {
  const seed = testSeed();
  console.log(`${name}: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
  return seed;
}

/** Writes a: 'alpha' (string), b: bytes, n: 41n (int64), s:1..s:5 strings. */
async function populate(db: Database): Promise<void> {
  await db.set('a', 'alpha');
  await db.set('b', new Uint8Array([1, 2, 3]));
  await db.set('n', 41n);
  for (let index = 1; index <= 5; index++) await db.set(`s:${index}`, `v${index}`);
  await db.set('t', 'outside');
}

describe('transaction ops', () => {
  it('GET, SET, DEL and INCR return and store what they should', async () => {
    const opened = await openSim(seeded('ops'));
    const { db } = opened;
    await populate(db);
    const { results } = await db.transaction({
      keys: [
        { id: 1, mode: 'R', key: 'a' },
        { id: 2, mode: 'RW', key: 'n' },
        { id: 3, mode: 'RW', key: 'fresh' },
        { id: 4, mode: 'RW', key: 'b' },
        { id: 5, mode: 'RW', key: 'counter' },
      ],
      ops: [
        { op: 'GET', id: 1 },
        { op: 'INCR', id: 2, by: 1n },
        { op: 'SET', id: 3, value: 'new' },
        { op: 'DEL', id: 4 },
        { op: 'INCR', id: 5, by: -7n },
        { op: 'GET', id: 3 },
      ],
    });
    expect(results).toEqual(['alpha', 42n, undefined, undefined, -7n, 'new']);
    expect(await db.get('n')).toBe(42n);
    expect(await db.get('fresh')).toBe('new');
    expect(await db.get('b')).toBeUndefined();
    expect(await db.get('counter')).toBe(-7n);
    await closeAndValidate(opened);
  });

  it('SET with ttlMs expires the value once the clock passes it', async () => {
    const clock = new ManualClock();
    const opened = await openSim(seeded('ttl'), { clock });
    const { db } = opened;
    await db.transaction({
      keys: [{ id: 0, mode: 'RW', key: 'k' }],
      ops: [{ op: 'SET', id: 0, value: 'short', ttlMs: 1_000 }],
    });
    expect(await db.get('k')).toBe('short');
    clock.advance(2_000);
    const { results } = await db.transaction({
      keys: [{ id: 0, mode: 'R', key: 'k' }],
      ops: [
        { op: 'GET', id: 0 },
        { op: 'ASSERT_TYPE', id: 0, type: 'missing' },
        { op: 'ASSERT_NOT_EXISTS', id: 0 },
      ],
    });
    expect(results[0]).toBeUndefined();
    await closeAndValidate(opened);
  });

  it('SCAN on a range and on a prefix honours limit and reverse', async () => {
    const opened = await openSim(seeded('scan'));
    const { db } = opened;
    await populate(db);
    const { results } = await db.transaction({
      keys: [
        { id: 0, mode: 'R', start: 's:2', end: 's:5' },
        { id: 1, mode: 'R', prefix: 's:' },
      ],
      ops: [
        { op: 'SCAN', id: 0 },
        { op: 'SCAN', id: 1, limit: 2 },
        { op: 'SCAN', id: 1, limit: 2, reverse: true },
        { op: 'SCAN', id: 1, reverse: true },
      ],
    });
    const entries = (indexes: number[]) =>
      indexes.map((index) => ({ key: `s:${index}`, value: `v${index}` }));
    expect(results[0]).toEqual(entries([2, 3, 4]));
    expect(results[1]).toEqual(entries([1, 2]));
    expect(results[2]).toEqual(entries([5, 4]));
    expect(results[3]).toEqual(entries([5, 4, 3, 2, 1]));
    await closeAndValidate(opened);
  });

  it('INCR that leaves int64 fails with INT_OVERFLOW at its op index and changes nothing', async () => {
    const opened = await openSim(seeded('overflow'));
    const { db } = opened;
    await db.set('big', INT64_MAX - 1n);
    const next = db.stats().lsn.next;
    const error = await rejection(
      db.transaction({
        keys: [
          { id: 0, mode: 'RW', key: 'big' },
          { id: 1, mode: 'RW', key: 'other' },
        ],
        ops: [
          { op: 'SET', id: 1, value: 'x' },
          { op: 'INCR', id: 0, by: 1n },
          { op: 'INCR', id: 0, by: 1n },
        ],
      }),
    );
    expect(error.code).toBe('INT_OVERFLOW');
    expect(error.opIndex).toBe(2);
    expect(db.stats().lsn.next).toBe(next);
    expect(await db.get('big')).toBe(INT64_MAX - 1n);
    expect(await db.get('other')).toBeUndefined();
    await closeAndValidate(opened);
  });

  it('every assertion holds on the values it describes', async () => {
    const opened = await openSim(seeded('assert-hold'));
    const { db } = opened;
    await populate(db);
    await db.set('gone', 'x');
    await db.del('gone');
    const next = db.stats().lsn.next;
    const { results } = await db.transaction({
      keys: [
        { id: 0, mode: 'R', key: 'a' },
        { id: 1, mode: 'R', key: 'b' },
        { id: 2, mode: 'R', key: 'n' },
        { id: 3, mode: 'R', key: 'never' },
        { id: 4, mode: 'R', key: 'gone' },
      ],
      ops: [
        { op: 'ASSERT_EXISTS', id: 0 },
        { op: 'ASSERT_NOT_EXISTS', id: 3 },
        { op: 'ASSERT_NOT_EXISTS', id: 4 },
        { op: 'ASSERT_TYPE', id: 3, type: 'missing' },
        { op: 'ASSERT_TYPE', id: 3, type: 'tombstone' },
        { op: 'ASSERT_TYPE', id: 4, type: 'missing' },
        { op: 'ASSERT_TYPE', id: 4, type: 'tombstone' },
        { op: 'ASSERT_TYPE', id: 0, type: 'string' },
        { op: 'ASSERT_TYPE', id: 1, type: 'bytes' },
        { op: 'ASSERT_TYPE', id: 2, type: 'int64' },
        { op: 'ASSERT_INT_EQ', id: 2, value: 41n },
        { op: 'ASSERT_BYTES_HASH_EQ', id: 1, sha256: sha256(new Uint8Array([1, 2, 3])) },
        { op: 'ASSERT_STRING_HASH_EQ', id: 0, sha256: sha256('alpha') },
        { op: 'GET', id: 2 },
      ],
    });
    expect(results.at(-1)).toBe(41n);
    expect(db.stats().lsn.next).toBe(next);
    await closeAndValidate(opened);
  });

  it('every assertion that does not hold fails with ASSERTION_FAILED at its op index', async () => {
    const opened = await openSim(seeded('assert-fail'));
    const { db } = opened;
    await populate(db);
    const keys: TxnRequest['keys'] = [
      { id: 0, mode: 'R', key: 'a' },
      { id: 1, mode: 'R', key: 'b' },
      { id: 2, mode: 'R', key: 'n' },
      { id: 3, mode: 'R', key: 'never' },
    ];
    const failing: TxnOp[] = [
      { op: 'ASSERT_EXISTS', id: 3 },
      { op: 'ASSERT_NOT_EXISTS', id: 0 },
      { op: 'ASSERT_TYPE', id: 0, type: 'missing' },
      { op: 'ASSERT_TYPE', id: 1, type: 'tombstone' },
      { op: 'ASSERT_TYPE', id: 0, type: 'bytes' },
      { op: 'ASSERT_TYPE', id: 1, type: 'string' },
      { op: 'ASSERT_TYPE', id: 0, type: 'int64' },
      { op: 'ASSERT_TYPE', id: 3, type: 'int64' },
      { op: 'ASSERT_INT_EQ', id: 2, value: 40n },
      { op: 'ASSERT_INT_EQ', id: 0, value: 41n },
      { op: 'ASSERT_INT_EQ', id: 3, value: 0n },
      { op: 'ASSERT_BYTES_HASH_EQ', id: 1, sha256: sha256(new Uint8Array([1, 2, 4])) },
      { op: 'ASSERT_BYTES_HASH_EQ', id: 0, sha256: sha256('alpha') },
      { op: 'ASSERT_STRING_HASH_EQ', id: 0, sha256: sha256('alphb') },
      { op: 'ASSERT_STRING_HASH_EQ', id: 1, sha256: sha256(new Uint8Array([1, 2, 3])) },
      { op: 'ASSERT_STRING_HASH_EQ', id: 3, sha256: sha256('') },
    ];
    const before = db.transactionStats().aborts.ASSERTION_FAILED ?? 0;
    for (const op of failing) {
      const error = await rejection(
        db.transaction({ keys, ops: [{ op: 'GET', id: 0 }, { op: 'ASSERT_EXISTS', id: 0 }, op] }),
      );
      expect({ op, code: error.code, opIndex: error.opIndex, retryable: error.retryable }).toEqual({
        op,
        code: 'ASSERTION_FAILED',
        opIndex: 2,
        retryable: false,
      });
    }
    expect(db.transactionStats().aborts.ASSERTION_FAILED).toBe(before + failing.length);
    await closeAndValidate(opened);
  });
});

describe('read-your-writes', () => {
  it('a transaction reads its own SETs, DELs and INCRs, including in its range scans', async () => {
    const opened = await openSim(seeded('ryw'));
    const { db } = opened;
    await populate(db);
    const { results } = await db.transaction({
      keys: [
        { id: 0, mode: 'RW', key: 'a' },
        { id: 1, mode: 'RW', key: 's:3' },
        { id: 2, mode: 'RW', key: 's:25' },
        { id: 3, mode: 'R', prefix: 's:' },
        { id: 4, mode: 'RW', key: 'n' },
      ],
      ops: [
        { op: 'SET', id: 0, value: 'changed' },
        { op: 'GET', id: 0 },
        { op: 'ASSERT_STRING_HASH_EQ', id: 0, sha256: sha256('changed') },
        { op: 'DEL', id: 1 },
        { op: 'ASSERT_NOT_EXISTS', id: 1 },
        { op: 'ASSERT_TYPE', id: 1, type: 'tombstone' },
        { op: 'GET', id: 1 },
        { op: 'SET', id: 2, value: 'inserted' },
        { op: 'SCAN', id: 3 },
        { op: 'INCR', id: 4, by: 9n },
        { op: 'ASSERT_INT_EQ', id: 4, value: 50n },
        { op: 'SET', id: 0, value: 7n },
        { op: 'INCR', id: 0, by: 1n },
      ],
    });
    expect(results[1]).toBe('changed');
    expect(results[6]).toBeUndefined();
    expect(results[8]).toEqual([
      { key: 's:1', value: 'v1' },
      { key: 's:2', value: 'v2' },
      { key: 's:25', value: 'inserted' },
      { key: 's:4', value: 'v4' },
      { key: 's:5', value: 'v5' },
    ]);
    expect(results[12]).toBe(8n);
    expect(await db.get('a')).toBe(8n);
    expect(await db.get('s:3')).toBeUndefined();
    expect(await db.get('s:25')).toBe('inserted');
    expect(await db.get('n')).toBe(50n);
    await closeAndValidate(opened);
  });

  it('a failed assertion aborts the whole transaction: its earlier writes are not visible', async () => {
    const opened = await openSim(seeded('abort-whole'));
    const { db } = opened;
    await populate(db);
    const next = db.stats().lsn.next;
    const error = await rejection(
      db.transaction({
        keys: [
          { id: 0, mode: 'RW', key: 'a' },
          { id: 1, mode: 'RW', key: 'z' },
          { id: 2, mode: 'RW', key: 'n' },
        ],
        ops: [
          { op: 'SET', id: 0, value: 'overwritten' },
          { op: 'SET', id: 1, value: 'created' },
          { op: 'INCR', id: 2, by: 1n },
          { op: 'DEL', id: 0 },
          { op: 'ASSERT_INT_EQ', id: 2, value: 41n },
        ],
      }),
    );
    expect([error.code, error.opIndex]).toEqual(['ASSERTION_FAILED', 4]);
    expect(db.stats().lsn.next).toBe(next);
    expect(await db.get('a')).toBe('alpha');
    expect(await db.get('z')).toBeUndefined();
    expect(await db.get('n')).toBe(41n);
    await closeAndValidate(opened);
  });
});

describe('errors have no effect', () => {
  const cases: Array<{
    name: string;
    request: TxnRequest;
    code: string;
    opIndex: number | undefined;
    planner: boolean;
  }> = [
    {
      name: 'a key id declared twice',
      request: {
        keys: [
          { id: 0, mode: 'RW', key: 'a' },
          { id: 0, mode: 'RW', key: 'b' },
        ],
        ops: [{ op: 'SET', id: 0, value: 'x' }],
      },
      code: 'DUPLICATE_KEY_ID',
      opIndex: undefined,
      planner: true,
    },
    {
      name: 'an op naming an undeclared id',
      request: {
        keys: [{ id: 0, mode: 'RW', key: 'a' }],
        ops: [
          { op: 'SET', id: 0, value: 'x' },
          { op: 'GET', id: 9 },
        ],
      },
      code: 'UNKNOWN_KEY_ID',
      opIndex: 1,
      planner: true,
    },
    {
      name: 'a SET on an R key',
      request: {
        keys: [
          { id: 0, mode: 'RW', key: 'a' },
          { id: 1, mode: 'R', key: 'n' },
        ],
        ops: [
          { op: 'SET', id: 0, value: 'x' },
          { op: 'GET', id: 1 },
          { op: 'SET', id: 1, value: 'y' },
        ],
      },
      code: 'WRITE_TO_READ_KEY',
      opIndex: 2,
      planner: true,
    },
    {
      name: 'an INCR on an R key',
      request: {
        keys: [{ id: 1, mode: 'R', key: 'n' }],
        ops: [{ op: 'INCR', id: 1, by: 1n }],
      },
      code: 'WRITE_TO_READ_KEY',
      opIndex: 0,
      planner: true,
    },
    {
      name: 'a DEL on an R key',
      request: {
        keys: [
          { id: 0, mode: 'RW', key: 'a' },
          { id: 1, mode: 'R', key: 'n' },
        ],
        ops: [
          { op: 'DEL', id: 0 },
          { op: 'DEL', id: 1 },
        ],
      },
      code: 'WRITE_TO_READ_KEY',
      opIndex: 1,
      planner: true,
    },
    {
      name: 'a SCAN on a point key',
      request: {
        keys: [{ id: 0, mode: 'RW', key: 'a' }],
        ops: [
          { op: 'SET', id: 0, value: 'x' },
          { op: 'SCAN', id: 0 },
        ],
      },
      code: 'NOT_A_RANGE',
      opIndex: 1,
      planner: true,
    },
    {
      name: 'a GET on a range',
      request: {
        keys: [
          { id: 0, mode: 'RW', key: 'a' },
          { id: 1, mode: 'R', prefix: 's:' },
        ],
        ops: [
          { op: 'SET', id: 0, value: 'x' },
          { op: 'GET', id: 1 },
        ],
      },
      code: 'NOT_A_POINT',
      opIndex: 1,
      planner: true,
    },
    {
      name: 'an empty key',
      request: {
        keys: [
          { id: 0, mode: 'RW', key: 'a' },
          { id: 1, mode: 'RW', key: '' },
        ],
        ops: [{ op: 'SET', id: 0, value: 'x' }],
      },
      code: 'INVALID_KEY',
      opIndex: undefined,
      planner: true,
    },
    {
      name: 'a value too large to store',
      request: {
        keys: [{ id: 0, mode: 'RW', key: 'a' }],
        ops: [
          { op: 'SET', id: 0, value: 'x' },
          { op: 'SET', id: 0, value: new Uint8Array(64 * 1024 * 1024 + 1) },
        ],
      },
      code: 'VALUE_TOO_LARGE',
      opIndex: 1,
      planner: false,
    },
    {
      name: 'an INCR on a string',
      request: {
        keys: [
          { id: 0, mode: 'RW', key: 'a' },
          { id: 1, mode: 'RW', key: 'n' },
        ],
        ops: [
          { op: 'INCR', id: 1, by: 1n },
          { op: 'INCR', id: 0, by: 1n },
        ],
      },
      code: 'TYPE_MISMATCH',
      opIndex: 1,
      planner: false,
    },
    {
      name: 'a failed assertion',
      request: {
        keys: [
          { id: 0, mode: 'RW', key: 'a' },
          { id: 1, mode: 'RW', key: 'n' },
        ],
        ops: [
          { op: 'SET', id: 0, value: 'x' },
          { op: 'INCR', id: 1, by: 1n },
          { op: 'ASSERT_EXISTS', id: 0 },
          { op: 'ASSERT_TYPE', id: 1, type: 'string' },
        ],
      },
      code: 'ASSERTION_FAILED',
      opIndex: 3,
      planner: false,
    },
  ];

  it('every invalid request fails with its code and op index, leaving the log and the data as they were', async () => {
    const opened = await openSim(seeded('validation'));
    const { db } = opened;
    await populate(db);
    for (const { name, request, code, opIndex, planner } of cases) {
      const next = db.stats().lsn.next;
      const grants = db.transactionStats().locks.grants;
      const abortsBefore = db.transactionStats().aborts[code as 'INTERNAL'] ?? 0;
      const error = await rejection(db.transaction(request));
      expect({ name, code: error.code, opIndex: error.opIndex }).toEqual({ name, code, opIndex });
      expect(db.stats().lsn.next).toBe(next);
      // Planner errors happen before any lock is requested.
      if (planner) expect(db.transactionStats().locks.grants).toBe(grants);
      expect(db.transactionStats().locks.heldLocks).toBe(0);
      expect(db.transactionStats().aborts[code as 'INTERNAL']).toBe(abortsBefore + 1);
      expect(await db.get('a')).toBe('alpha');
      expect(await db.get('b')).toEqual(new Uint8Array([1, 2, 3]));
      expect(await db.get('n')).toBe(41n);
      expect(await db.get('s:3')).toBe('v3');
    }
    await closeAndValidate(opened);
  });
});

describe('read-only transactions and lock timeouts', () => {
  it('a read-only transaction returns values and writes no WAL record', async () => {
    const opened = await openSim(seeded('read-only'));
    const { db } = opened;
    await populate(db);
    const next = db.stats().lsn.next;
    const readOnlyBefore = db.transactionStats().readOnlyCommits;
    const commitsBefore = db.transactionStats().commits;
    const { lsn, results } = await db.transaction({
      keys: [
        { id: 0, mode: 'RW', key: 'a' },
        { id: 1, mode: 'R', prefix: 's:' },
      ],
      ops: [
        { op: 'GET', id: 0 },
        { op: 'SCAN', id: 1, limit: 1 },
      ],
    });
    expect(results).toEqual(['alpha', [{ key: 's:1', value: 'v1' }]]);
    expect(db.stats().lsn.next).toBe(next);
    expect(lsn).toBeLessThan(next);
    expect(db.transactionStats().readOnlyCommits).toBe(readOnlyBefore + 1);
    expect(db.transactionStats().commits).toBe(commitsBefore);
    await closeAndValidate(opened);
  });

  it('a transaction that cannot get its lock in time fails with a retryable LOCK_TIMEOUT and no effect', async () => {
    const opened = await openSim(seeded('lock-timeout'));
    const { db } = opened;
    db.setLockTimeoutMs(1);
    await db.set('counter', 0n);
    let successes = 0;
    let timeouts = 0;
    for (let round = 0; round < 50 && timeouts === 0; round++) {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, () =>
          db.transaction({
            keys: [{ id: 0, mode: 'RW', key: 'counter' }],
            ops: [
              { op: 'ASSERT_TYPE', id: 0, type: 'int64' },
              { op: 'INCR', id: 0, by: 1n },
            ],
          }),
        ),
      );
      for (const outcome of outcomes) {
        if (outcome.status === 'fulfilled') {
          successes += 1;
          continue;
        }
        const error = outcome.reason as { code?: string; retryable?: boolean; opIndex?: number };
        expect([error.code, error.retryable, error.opIndex]).toEqual(['LOCK_TIMEOUT', true, undefined]);
        timeouts += 1;
      }
    }
    expect(timeouts).toBeGreaterThan(0);
    expect(await db.get('counter')).toBe(BigInt(successes));
    expect(db.transactionStats().aborts.LOCK_TIMEOUT).toBe(timeouts);
    expect(db.transactionStats().locks.timeouts).toBe(timeouts);
    expect(db.transactionStats().locks.heldLocks).toBe(0);
    await closeAndValidate(opened);
  });
});
