// Proves the bank invariant of issue 7: concurrent transfers (guarded by ASSERT ops, some optimistic and stale) and concurrent full-range scans never see or leave a wrong total, failed transfers leave no trace, and the total survives a reopen.
import { describe, expect, it } from 'vitest';
import { type Database, isJubilantError } from '../../src/index.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';
import { closeAndValidate, openSim, rejection, reopenSim } from './txn-helpers.js';

const ACCOUNTS = 8;
const INITIAL = 1_000n;
const TOTAL = INITIAL * BigInt(ACCOUNTS);
const WORKERS = 8;
const TRANSFERS_PER_WORKER = 30;
const SCANNERS = 2;

const account = (index: number): string => `acct:${index}`;

async function totalOf(db: Database): Promise<{ total: bigint; balances: Map<string, bigint> }> {
  const { results } = await db.transaction({
    keys: [{ id: 0, mode: 'R', prefix: 'acct:' }],
    ops: [{ op: 'SCAN', id: 0 }],
  });
  const entries = results[0] as Array<{ key: string; value: bigint }>;
  expect(entries).toHaveLength(ACCOUNTS);
  const balances = new Map(entries.map(({ key, value }) => [key, value]));
  return { total: entries.reduce((sum, { value }) => sum + value, 0n), balances };
}

function transferRequest(from: string, to: string, amount: bigint, expectFrom?: bigint) {
  return {
    keys: [
      { id: 0, mode: 'RW' as const, key: from },
      { id: 1, mode: 'RW' as const, key: to },
    ],
    ops: [
      { op: 'ASSERT_TYPE' as const, id: 0, type: 'int64' as const },
      { op: 'ASSERT_TYPE' as const, id: 1, type: 'int64' as const },
      ...(expectFrom === undefined ? [] : [{ op: 'ASSERT_INT_EQ' as const, id: 0, value: expectFrom }]),
      { op: 'INCR' as const, id: 0, by: -amount },
      { op: 'INCR' as const, id: 1, by: amount },
    ],
  };
}

describe('bank', () => {
  it('concurrent transfers and scans keep the total, failed transfers leave no trace, and the total survives reopen', async () => {
    const seed = testSeed();
    console.log(`bank: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const rng = new SeededRandom(seed);
    let opened = await openSim(seed);
    const { db } = opened;
    await db.transaction({
      keys: Array.from({ length: ACCOUNTS }, (_, index) => ({
        id: index,
        mode: 'RW' as const,
        key: account(index),
      })),
      ops: Array.from({ length: ACCOUNTS }, (_, index) => ({
        op: 'SET' as const,
        id: index,
        value: INITIAL,
      })),
    });

    // The ledger of committed transfers: the final balances must be exactly initial plus their net.
    const net = new Map<string, bigint>();
    const book = (from: string, to: string, amount: bigint) => {
      net.set(from, (net.get(from) ?? 0n) - amount);
      net.set(to, (net.get(to) ?? 0n) + amount);
    };
    let committed = 0;
    let stale = 0;
    let scans = 0;
    let running = true;

    const worker = async (workerRng: SeededRandom) => {
      for (let step = 0; step < TRANSFERS_PER_WORKER; step++) {
        const from = account(workerRng.int(ACCOUNTS));
        let to = account(workerRng.int(ACCOUNTS));
        if (to === from) to = account((Number(from.slice(5)) + 1) % ACCOUNTS);
        const amount = BigInt(1 + workerRng.int(50));
        if (workerRng.chance(0.5)) {
          await db.transaction(transferRequest(from, to, amount));
          book(from, to, amount);
          committed += 1;
          continue;
        }
        // Optimistic: read the balance, yield, then transfer only if it is unchanged.
        const seen = (await db.get(from)) as bigint;
        await new Promise((resolve) => setTimeout(resolve, workerRng.int(3)));
        try {
          await db.transaction(transferRequest(from, to, amount, seen));
          book(from, to, amount);
          committed += 1;
        } catch (error) {
          if (!isJubilantError(error, 'ASSERTION_FAILED')) throw error;
          expect(error.opIndex).toBe(2);
          stale += 1;
        }
      }
    };
    const scanner = async () => {
      while (running) {
        const { total } = await totalOf(db);
        expect(total).toBe(TOTAL);
        scans += 1;
        // A cached read-only transaction can complete in microtasks alone; yield so I/O proceeds.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };

    const scanning = Array.from({ length: SCANNERS }, () => scanner());
    try {
      await Promise.all(Array.from({ length: WORKERS }, () => worker(new SeededRandom(rng.nextU32()))));
    } finally {
      running = false;
      await Promise.allSettled(scanning);
    }
    await Promise.all(scanning);

    // A deterministic stale transfer: the balance moved since it was read.
    const seen = (await db.get(account(0))) as bigint;
    await db.transaction(transferRequest(account(0), account(1), 5n));
    book(account(0), account(1), 5n);
    const next = db.stats().lsn.next;
    const error = await rejection(db.transaction(transferRequest(account(0), account(2), 7n, seen)));
    expect([error.code, error.opIndex, error.retryable]).toEqual(['ASSERTION_FAILED', 2, false]);
    expect(db.stats().lsn.next).toBe(next);
    stale += 1;

    console.log(`bank: ${committed} transfers committed, ${stale} stale ones refused, ${scans} scans`);
    expect(scans).toBeGreaterThan(0);
    expect(db.transactionStats().aborts.ASSERTION_FAILED ?? 0).toBe(stale);

    const check = async (target: Database) => {
      const { total, balances } = await totalOf(target);
      expect(total).toBe(TOTAL);
      for (let index = 0; index < ACCOUNTS; index++) {
        expect(balances.get(account(index))).toBe(INITIAL + (net.get(account(index)) ?? 0n));
      }
    };
    await check(db);
    opened = await reopenSim(opened);
    await check(opened.db);
    await closeAndValidate(opened);
  });
});
