// Proves that thousands of random overlapping transactions (keys and ranges) all finish without a timeout and that no two holders ever conflict at any grant.
import { describe, expect, it } from 'vitest';
import { LockManager } from '../../src/lock/lock-manager.js';
import type { KeyLock, LockRequest, RangeLock } from '../../src/lock/lock-request.js';
import { prefixRange } from '../../src/storage/btree/key-range.js';
import { utf8 } from '../../src/util/bytes.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';
import { expectIdle, lockSetsConflict, turn } from './lock-test-helpers.js';

/** Raise with JUBILANT_LOCK_STRESS_TXNS for a longer soak. */
const TRANSACTIONS = Number(process.env.JUBILANT_LOCK_STRESS_TXNS ?? 3000);
const WORKERS = 150;
const KEYS = Array.from({ length: 24 }, (_, i) => `k${String(i).padStart(2, '0')}`);
const HOLD_TURNS_MAX = 4;
/** Generous: a deadlock shows as a stall long before this. */
const LOCK_TIMEOUT_MS = 30_000;
/** No grant for this many event-loop turns while something waits means a deadlock or a lost wakeup. */
const STALL_TURNS_MAX = 2000;
const INVARIANT_CHECK_EVERY = 100;

function randomKeyLock(rng: SeededRandom): KeyLock {
  return { key: utf8(rng.pick(KEYS)), mode: rng.chance(0.5) ? 'X' : 'S' };
}

function randomRangeLock(rng: SeededRandom): RangeLock {
  const shape = rng.int(5);
  if (shape === 0) return { ...prefixRange(utf8(`k${rng.int(3)}`)), mode: 'S' };
  const from = rng.int(KEYS.length);
  const to = Math.min(KEYS.length, from + rng.range(1, 8));
  const start = utf8(KEYS[from] as string);
  const end = to === KEYS.length ? undefined : utf8(KEYS[to] as string);
  if (shape === 1) return end === undefined ? { mode: 'S' } : { end, mode: 'S' };
  if (shape === 2 || end === undefined) return { start, mode: 'S' };
  return { start, end, mode: 'S' };
}

function randomRequest(rng: SeededRandom): LockRequest {
  const keys = Array.from({ length: rng.range(1, 8) }, () => randomKeyLock(rng));
  const ranges = rng.chance(0.25) ? Array.from({ length: rng.range(1, 2) }, () => randomRangeLock(rng)) : [];
  return { keys, ranges };
}

interface RunResult {
  granted: number;
  conflicts: string[];
  invariantFailures: string[];
}

async function run(seed: number, rangeBypassesMax: number): Promise<RunResult> {
  const rng = new SeededRandom(seed);
  const manager = new LockManager({ rangeBypassesMax });
  const holders = new Map<number, LockRequest>();
  const result: RunResult = { granted: 0, conflicts: [], invariantFailures: [] };
  let nextId = 0;
  let turns = 0;
  let lastGrantTurn = 0;
  let finished = false;

  const transaction = async (): Promise<void> => {
    const id = nextId++;
    const request = randomRequest(rng);
    const grant = await manager.acquire(request, { timeoutMs: LOCK_TIMEOUT_MS });
    // The serial model: a new holder must be compatible with every holder that has not released.
    for (const [otherId, other] of holders) {
      if (lockSetsConflict(request, other))
        result.conflicts.push(`transaction ${id} granted while ${otherId} holds`);
    }
    holders.set(id, request);
    result.granted++;
    lastGrantTurn = turns;
    const holdTurns = rng.int(HOLD_TURNS_MAX + 1);
    for (let i = 0; i < holdTurns; i++) await turn();
    holders.delete(id);
    grant.release();
    if (result.granted % INVARIANT_CHECK_EVERY === 0) {
      const failure = manager.checkInvariants();
      if (failure !== undefined) result.invariantFailures.push(failure);
    }
  };

  const worker = async (count: number): Promise<void> => {
    for (let i = rng.int(3); i > 0; i--) await turn();
    for (let i = 0; i < count; i++) await transaction();
  };

  const watchdog = async (): Promise<void> => {
    while (!finished) {
      await turn();
      turns++;
      if (turns - lastGrantTurn > STALL_TURNS_MAX && manager.stats().waitingAcquisitions > 0) {
        throw new Error(`stalled: no grant for ${STALL_TURNS_MAX} turns; ${JSON.stringify(manager.stats())}`);
      }
    }
  };

  const perWorker = Math.ceil(TRANSACTIONS / WORKERS);
  const workers = Array.from({ length: WORKERS }, (_, w) =>
    worker(Math.max(0, Math.min(perWorker, TRANSACTIONS - w * perWorker))),
  );
  const all = Promise.all(workers).finally(() => {
    finished = true;
  });
  await Promise.all([all, watchdog()]);
  const { grants, waits, bypasses, parks } = manager.stats();
  console.log(
    `lock stress: ${grants} grants, ${waits} waits, ${bypasses} bypasses, ${parks} parks in ${turns} turns`,
  );
  expect(manager.stats()).toMatchObject({ grants: TRANSACTIONS, timeouts: 0 });
  expectIdle(manager);
  return result;
}

describe('lock manager under random concurrent load', () => {
  for (const rangeBypassesMax of [0, 2, 8]) {
    it(`${TRANSACTIONS} overlapping transactions all finish and never hold conflicting locks (rangeBypassesMax ${rangeBypassesMax})`, async () => {
      const seed = testSeed();
      console.log(`lock stress seed=${seed} rangeBypassesMax=${rangeBypassesMax}`);
      const result = await run(seed, rangeBypassesMax);
      expect(result.conflicts).toEqual([]);
      expect(result.invariantFailures).toEqual([]);
      expect(result.granted).toBe(TRANSACTIONS);
    });
  }
});
