// Proves against a model (fast-check) that over random schedules of acquire, release and abort no two holders conflict, no waiter is left waiting when it could proceed, and releasing everything lets every waiter through.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LockGrant, LockManager } from '../../src/lock/lock-manager.js';
import type { KeyLock, LockRequest, RangeLock } from '../../src/lock/lock-request.js';
import { testSeed } from '../../src/util/random.js';
import { expectIdle, lockSetsConflict, turn } from './lock-test-helpers.js';

const RUNS = Number(process.env.JUBILANT_LOCK_MODEL_RUNS ?? 150);

/** Keys that are prefixes and successors of one another, so range bounds and splits meet edge cases. */
const ALPHABET = [[0x61], [0x61, 0x00], [0x61, 0x62], [0x62], [0x62, 0x00], [0x63], [0xff], [0xff, 0xff]];
const keyArb = fc.constantFrom(...ALPHABET.map((bytes) => new Uint8Array(bytes)));
const keyLockArb: fc.Arbitrary<KeyLock> = fc.record({
  key: keyArb,
  mode: fc.constantFrom('S' as const, 'X' as const),
});
const rangeLockArb: fc.Arbitrary<RangeLock> = fc
  .record({ start: fc.option(keyArb, { nil: undefined }), end: fc.option(keyArb, { nil: undefined }) })
  .map(({ start, end }) => ({
    mode: 'S' as const,
    ...(start === undefined ? {} : { start }),
    ...(end === undefined ? {} : { end }),
  }));
const requestArb: fc.Arbitrary<LockRequest> = fc.record({
  keys: fc.array(keyLockArb, { maxLength: 4 }),
  ranges: fc.array(rangeLockArb, { maxLength: 2 }),
});

type Step =
  | { kind: 'acquire'; request: LockRequest }
  | { kind: 'release'; pick: number }
  | { kind: 'abort'; pick: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: requestArb.map((request) => ({ kind: 'acquire' as const, request })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'release' as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'abort' as const, pick })) },
);

interface Txn {
  readonly request: LockRequest;
  readonly controller: AbortController;
  state: 'waiting' | 'holding' | 'done';
  grant: LockGrant | undefined;
}

/** Every holder pairwise compatible, the manager's own invariants, and nobody waits while nothing is held. */
function check(manager: LockManager, txns: readonly Txn[]): void {
  const holding = txns.filter((txn) => txn.state === 'holding');
  for (let i = 0; i < holding.length; i++) {
    for (let j = i + 1; j < holding.length; j++) {
      expect(lockSetsConflict((holding[i] as Txn).request, (holding[j] as Txn).request)).toBe(false);
    }
  }
  expect(manager.checkInvariants()).toBeUndefined();
  const waiting = txns.filter((txn) => txn.state === 'waiting').length;
  expect(manager.stats().waitingAcquisitions).toBe(waiting);
  if (manager.stats().heldLocks === 0) expect(waiting).toBe(0);
}

async function runSchedule(steps: readonly Step[], rangeBypassesMax: number): Promise<void> {
  const manager = new LockManager({ rangeBypassesMax });
  const txns: Txn[] = [];
  for (const step of steps) {
    if (step.kind === 'acquire') {
      const txn: Txn = {
        request: step.request,
        controller: new AbortController(),
        state: 'waiting',
        grant: undefined,
      };
      txns.push(txn);
      manager.acquire(step.request, { timeoutMs: 60_000, signal: txn.controller.signal }).then(
        (grant) => {
          txn.state = 'holding';
          txn.grant = grant;
        },
        () => {
          txn.state = 'done';
        },
      );
    } else {
      const candidates = txns.filter(
        (txn) => txn.state === (step.kind === 'release' ? 'holding' : 'waiting'),
      );
      const txn = candidates[step.pick % Math.max(1, candidates.length)];
      if (txn !== undefined && step.kind === 'release') {
        txn.state = 'done';
        txn.grant?.release();
      } else if (txn !== undefined) {
        txn.controller.abort(new Error('aborted by the schedule'));
      }
    }
    await turn();
    check(manager, txns);
  }
  // Release holders until everyone has been through: each round must grant someone new.
  for (let round = 0; txns.some((txn) => txn.state !== 'done'); round++) {
    expect(round, 'every waiter is granted once the holders let go').toBeLessThanOrEqual(txns.length);
    for (const txn of txns.filter((candidate) => candidate.state === 'holding')) {
      txn.state = 'done';
      txn.grant?.release();
    }
    await turn();
    check(manager, txns);
  }
  expectIdle(manager);
}

describe('lock manager against a serial model', () => {
  it('random schedules of acquire, release and abort keep holders compatible and lose no wakeup', async () => {
    const seed = testSeed();
    console.log(`lock model seed=${seed}`);
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), fc.constantFrom(0, 1, 8), runSchedule),
      { seed, numRuns: RUNS },
    );
  });
});
