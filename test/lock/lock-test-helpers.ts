// Helpers for the lock manager tests: readable lock specs, event-loop stepping, promise tracking, and an
// independent conflict model (bytewise with Buffer.compare, on the declared, not the canonical, sets).
import { expect } from 'vitest';
import type { LockGrant, LockManager } from '../../src/lock/lock-manager.js';
import type { KeyLock, LockRequest, RangeLock } from '../../src/lock/lock-request.js';
import { bytesEqual, compareBytes, utf8 } from '../../src/util/bytes.js';

export function S(key: string): KeyLock {
  return { key: utf8(key), mode: 'S' };
}

export function X(key: string): KeyLock {
  return { key: utf8(key), mode: 'X' };
}

/** `[start, end)`; `undefined` leaves that side open. */
export function range(start: string | undefined, end: string | undefined): RangeLock {
  return {
    mode: 'S',
    ...(start === undefined ? {} : { start: utf8(start) }),
    ...(end === undefined ? {} : { end: utf8(end) }),
  };
}

/** One macrotask turn: every pending promise callback has run when it returns. */
export async function turn(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

export interface Tracked {
  readonly label: string;
  state: 'waiting' | 'granted' | 'rejected' | 'released';
  grant: LockGrant | undefined;
  error: unknown;
}

/** Starts an acquisition and records its outcome, so tests can assert who holds what after each turn. */
export function start(
  manager: LockManager,
  label: string,
  request: LockRequest,
  timeoutMs = 60_000,
  order?: string[],
): Tracked {
  const tracked: Tracked = { label, state: 'waiting', grant: undefined, error: undefined };
  manager.acquire(request, { timeoutMs }).then(
    (grant) => {
      tracked.state = 'granted';
      tracked.grant = grant;
      order?.push(label);
    },
    (error: unknown) => {
      tracked.state = 'rejected';
      tracked.error = error;
    },
  );
  return tracked;
}

export function release(tracked: Tracked): void {
  expect(tracked.state, `${tracked.label} releases only what it holds`).toBe('granted');
  tracked.grant?.release();
  tracked.state = 'released';
}

export function states(...all: Tracked[]): Record<string, Tracked['state']> {
  return Object.fromEntries(all.map((tracked) => [tracked.label, tracked.state]));
}

export function expectIdle(manager: LockManager): void {
  expect(manager.checkInvariants()).toBeUndefined();
  const stats = manager.stats();
  expect({
    heldLocks: stats.heldLocks,
    activeGrants: stats.activeGrants,
    waitingAcquisitions: stats.waitingAcquisitions,
    keyLockPoints: stats.keyLockPoints,
    rangeLocks: stats.rangeLocks,
  }).toEqual({ heldLocks: 0, activeGrants: 0, waitingAcquisitions: 0, keyLockPoints: 0, rangeLocks: 0 });
}

function keyInRange(key: Uint8Array, lock: RangeLock): boolean {
  return (
    (lock.start === undefined || compareBytes(lock.start, key) <= 0) &&
    (lock.end === undefined || compareBytes(key, lock.end) < 0)
  );
}

function oneWayConflict(left: LockRequest, right: LockRequest): boolean {
  for (const mine of left.keys ?? []) {
    for (const theirs of right.keys ?? []) {
      if (bytesEqual(mine.key, theirs.key) && (mine.mode === 'X' || theirs.mode === 'X')) return true;
    }
    if (mine.mode === 'X' && (right.ranges ?? []).some((lock) => keyInRange(mine.key, lock))) return true;
  }
  return false;
}

/** Whether two transactions' declared lock sets may not be held at the same time. */
export function lockSetsConflict(left: LockRequest, right: LockRequest): boolean {
  return oneWayConflict(left, right) || oneWayConflict(right, left);
}
