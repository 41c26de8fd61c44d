/**
 * The child process of the bank SIGKILL drill (issue 7, test/txn/bank-sigkill.test.ts). It opens the
 * database in the directory named by its first argument, creates the accounts in one transaction if
 * they do not exist yet, reports 'ready' over IPC and then runs concurrent random transfers until it
 * is killed. It runs from the built `dist/` (Node 20 cannot run TypeScript), so it lives in
 * test/helpers, which tsconfig.build.json compiles.
 */
import { pathToFileURL } from 'node:url';
import { Database, type DatabaseOptions, isJubilantError } from '../../src/index.js';
import { SeededRandom } from '../../src/util/random.js';

export const BANK_ACCOUNTS = 10;
export const BANK_INITIAL = 1_000n;
export const BANK_TOTAL = BANK_INITIAL * BigInt(BANK_ACCOUNTS);
export const BANK_PREFIX = 'acct:';
const WORKERS = 8;
const AMOUNT_MAX = 100;
const RELAXED_SHARE = 0.3;

/** Small pages, segments and cache, so checkpoints and WAL rollover happen while the child runs. */
export const BANK_DATABASE_OPTIONS: Pick<
  DatabaseOptions,
  'pageSizeBytes' | 'walSegmentBytes' | 'cacheBytes' | 'checkpointWalBytes'
> = {
  pageSizeBytes: 4096,
  walSegmentBytes: 64 * 1024,
  cacheBytes: 1024 * 1024,
  checkpointWalBytes: 48 * 1024,
};

export type BankChildMessage =
  | { readonly type: 'ready'; readonly pid: number; readonly created: boolean }
  | { readonly type: 'error'; readonly message: string };

export const bankAccount = (index: number): string => `${BANK_PREFIX}${index}`;

function send(message: BankChildMessage): void {
  process.send?.(message);
}

/** Creates the accounts in one transaction unless a read transaction finds them; true if it created them. */
async function ensureAccounts(db: Database): Promise<boolean> {
  const { results } = await db.transaction({
    keys: [{ id: 0, mode: 'R', prefix: BANK_PREFIX }],
    ops: [{ op: 'SCAN', id: 0 }],
  });
  const existing = results[0] as Array<{ key: string }>;
  if (existing.length > 0) return false;
  await db.transaction({
    keys: Array.from({ length: BANK_ACCOUNTS }, (_, index) => ({
      id: index,
      mode: 'RW' as const,
      key: bankAccount(index),
    })),
    ops: Array.from({ length: BANK_ACCOUNTS }, (_, index) => ({
      op: 'SET' as const,
      id: index,
      value: BANK_INITIAL,
    })),
    durability: 'fsync',
  });
  return true;
}

async function worker(db: Database, rng: SeededRandom): Promise<never> {
  for (;;) {
    const from = rng.int(BANK_ACCOUNTS);
    const to = (from + 1 + rng.int(BANK_ACCOUNTS - 1)) % BANK_ACCOUNTS;
    const amount = BigInt(1 + rng.int(AMOUNT_MAX));
    try {
      await db.transaction({
        keys: [
          { id: 1, mode: 'RW', key: bankAccount(from) },
          { id: 2, mode: 'RW', key: bankAccount(to) },
        ],
        ops: [
          { op: 'ASSERT_TYPE', id: 1, type: 'int64' },
          { op: 'ASSERT_TYPE', id: 2, type: 'int64' },
          { op: 'INCR', id: 1, by: -amount },
          { op: 'INCR', id: 2, by: amount },
        ],
        durability: rng.chance(RELAXED_SHARE) ? 'relaxed' : 'fsync',
      });
    } catch (error) {
      // A retryable abort (a conflict) leaves no trace; anything else is a failure.
      if (!isJubilantError(error) || !error.retryable) throw error;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function main(directory: string, seed: number): Promise<void> {
  const db = await Database.open(directory, BANK_DATABASE_OPTIONS);
  const created = await ensureAccounts(db);
  send({ type: 'ready', pid: process.pid, created });
  const rng = new SeededRandom(seed);
  await Promise.all(Array.from({ length: WORKERS }, () => worker(db, new SeededRandom(rng.nextU32()))));
}

function fail(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`bank-child failed: ${message}\n`);
  if (process.send === undefined) process.exit(1);
  process.send({ type: 'error', message } satisfies BankChildMessage, () => process.exit(1));
}

const entry = process.argv[2] === undefined ? undefined : process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const directory = process.argv[2] as string;
  const seed = Number(process.argv[3] ?? Date.now()) >>> 0;
  process.on('disconnect', () => process.exit(0)); // the parent is gone: nobody will kill us
  main(directory, seed).catch(fail);
}
