// Proves the key lock modes: S shares, X excludes, queues are FIFO, X is not starved by S, no upgrades, release and timeouts leave nothing behind.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LockManager } from '../../src/lock/lock-manager.js';
import { isJubilantError, JubilantError } from '../../src/util/errors.js';
import { expectIdle, release, S, start, states, turn, X } from './lock-test-helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('key lock modes', () => {
  it('two shared locks on one key are held together', async () => {
    const manager = new LockManager();
    const a = start(manager, 'a', { keys: [S('k')] });
    const b = start(manager, 'b', { keys: [S('k')] });
    await turn();
    expect(states(a, b)).toEqual({ a: 'granted', b: 'granted' });
    expect(manager.stats().heldLocks).toBe(2);
    release(a);
    release(b);
    expectIdle(manager);
  });

  it('a shared lock keeps out an exclusive one until it is released', async () => {
    const manager = new LockManager();
    const reader = start(manager, 'reader', { keys: [S('k')] });
    const writer = start(manager, 'writer', { keys: [X('k')] });
    await turn();
    expect(states(reader, writer)).toEqual({ reader: 'granted', writer: 'waiting' });
    release(reader);
    await turn();
    expect(writer.state).toBe('granted');
    release(writer);
    expectIdle(manager);
  });

  it('an exclusive lock keeps out a shared one until it is released', async () => {
    const manager = new LockManager();
    const writer = start(manager, 'writer', { keys: [X('k')] });
    const reader = start(manager, 'reader', { keys: [S('k')] });
    await turn();
    expect(states(writer, reader)).toEqual({ writer: 'granted', reader: 'waiting' });
    release(writer);
    await turn();
    expect(reader.state).toBe('granted');
    release(reader);
    expectIdle(manager);
  });

  it('two exclusive locks on one key exclude each other', async () => {
    const manager = new LockManager();
    const first = start(manager, 'first', { keys: [X('k')] });
    const second = start(manager, 'second', { keys: [X('k')] });
    await turn();
    expect(states(first, second)).toEqual({ first: 'granted', second: 'waiting' });
    release(first);
    await turn();
    expect(second.state).toBe('granted');
    release(second);
    expectIdle(manager);
  });

  it('locks on different keys do not interact', async () => {
    const manager = new LockManager();
    const a = start(manager, 'a', { keys: [X('k1')] });
    const b = start(manager, 'b', { keys: [X('k2')] });
    await turn();
    expect(states(a, b)).toEqual({ a: 'granted', b: 'granted' });
    release(a);
    release(b);
    expectIdle(manager);
  });

  it('waiters on one key are granted in arrival order', async () => {
    const manager = new LockManager();
    const order: string[] = [];
    const holder = start(manager, 'holder', { keys: [X('k')] }, 60_000, order);
    const waiters = ['w1', 'w2', 'w3', 'w4'].map((label) =>
      start(manager, label, { keys: [X('k')] }, 60_000, order),
    );
    await turn();
    release(holder);
    for (const waiter of waiters) {
      await turn();
      release(waiter);
    }
    expect(order).toEqual(['holder', 'w1', 'w2', 'w3', 'w4']);
    expectIdle(manager);
  });

  it('a waiting exclusive request is not starved by later shared requests', async () => {
    const manager = new LockManager();
    const reader = start(manager, 'reader', { keys: [S('k')] });
    const writer = start(manager, 'writer', { keys: [X('k')] });
    const lateReaders = ['r1', 'r2', 'r3'].map((label) => start(manager, label, { keys: [S('k')] }));
    await turn();
    // The late readers are compatible with the granted S, but queue behind the waiting X.
    expect(states(reader, writer, ...lateReaders)).toEqual({
      reader: 'granted',
      writer: 'waiting',
      r1: 'waiting',
      r2: 'waiting',
      r3: 'waiting',
    });
    release(reader);
    await turn();
    expect(states(writer, ...lateReaders)).toEqual({
      writer: 'granted',
      r1: 'waiting',
      r2: 'waiting',
      r3: 'waiting',
    });
    release(writer);
    await turn();
    expect(states(...lateReaders)).toEqual({ r1: 'granted', r2: 'granted', r3: 'granted' });
    for (const late of lateReaders) release(late);
    expectIdle(manager);
  });

  it('a key declared as S and as X in one request is taken once in X, never upgraded', async () => {
    const manager = new LockManager();
    const both = start(manager, 'both', { keys: [S('k'), X('k')] });
    await turn();
    expect(both.state).toBe('granted');
    expect(manager.stats().heldLocks).toBe(1);
    const reader = start(manager, 'reader', { keys: [S('k')] });
    await turn();
    expect(reader.state).toBe('waiting');
    release(both);
    await turn();
    expect(reader.state).toBe('granted');
    release(reader);
    expectIdle(manager);
  });

  it('a release wakes the leading compatible waiters and stops at the first that conflicts', async () => {
    const manager = new LockManager();
    const writer = start(manager, 'writer', { keys: [X('k')] });
    const r1 = start(manager, 'r1', { keys: [S('k')] });
    const r2 = start(manager, 'r2', { keys: [S('k')] });
    const w2 = start(manager, 'w2', { keys: [X('k')] });
    const r3 = start(manager, 'r3', { keys: [S('k')] });
    await turn();
    release(writer);
    await turn();
    expect(states(r1, r2, w2, r3)).toEqual({ r1: 'granted', r2: 'granted', w2: 'waiting', r3: 'waiting' });
    release(r1);
    await turn();
    expect(states(w2, r3)).toEqual({ w2: 'waiting', r3: 'waiting' });
    release(r2);
    await turn();
    expect(states(w2, r3)).toEqual({ w2: 'granted', r3: 'waiting' });
    release(w2);
    await turn();
    expect(r3.state).toBe('granted');
    release(r3);
    expectIdle(manager);
  });

  it('a multi-key waiter is granted only when its last key is free', async () => {
    const manager = new LockManager();
    const holder = start(manager, 'holder', { keys: [X('c')] });
    const multi = start(manager, 'multi', { keys: [X('c'), X('a'), S('b')] });
    await turn();
    expect(multi.state).toBe('waiting');
    // It holds a and b (before c in canonical order) while it waits.
    expect(manager.stats().heldLocks).toBe(3);
    release(holder);
    await turn();
    expect(multi.state).toBe('granted');
    release(multi);
    expectIdle(manager);
  });

  it('releasing twice is the same as releasing once', async () => {
    const manager = new LockManager();
    const a = start(manager, 'a', { keys: [S('k')] });
    const b = start(manager, 'b', { keys: [S('k')] });
    await turn();
    a.grant?.release();
    a.grant?.release();
    expect(a.grant?.released).toBe(true);
    expect(manager.stats().heldLocks).toBe(1);
    const writer = start(manager, 'writer', { keys: [X('k')] });
    await turn();
    expect(writer.state).toBe('waiting');
    b.grant?.release();
    await turn();
    expect(writer.state).toBe('granted');
    b.grant?.release();
    expect(manager.stats().heldLocks).toBe(1);
    release(writer);
    expectIdle(manager);
  });

  it('an empty request is granted at once', async () => {
    const manager = new LockManager();
    const grant = await manager.acquire({}, { timeoutMs: 0 });
    grant.release();
    expectIdle(manager);
  });
});

describe('lock timeouts', () => {
  it('an uncontended acquisition creates no timer', async () => {
    vi.useFakeTimers();
    const manager = new LockManager();
    const grant = await manager.acquire({ keys: [X('a'), X('b'), S('c')] }, { timeoutMs: 1000 });
    expect(vi.getTimerCount()).toBe(0);
    grant.release();
    expectIdle(manager);
  });

  it('a wait past timeoutMs rejects with a retryable LOCK_TIMEOUT', async () => {
    vi.useFakeTimers();
    const manager = new LockManager();
    const holder = await manager.acquire({ keys: [X('k')] }, { timeoutMs: 1000 });
    const waiter = manager.acquire({ keys: [X('k')] }, { timeoutMs: 100 });
    const outcome = waiter.catch((error: unknown) => error);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(manager.stats().waitingAcquisitions).toBe(1);
    vi.advanceTimersByTime(1);
    const error = await outcome;
    expect(isJubilantError(error, 'LOCK_TIMEOUT')).toBe(true);
    expect((error as JubilantError).retryable).toBe(true);
    expect((error as JubilantError).message).toMatch(/waiting for X\(6b\) with 0 of 1 lock points held/);
    expect(manager.stats().timeouts).toBe(1);
    holder.release();
    expectIdle(manager);
  });

  it('a timed-out request leaves no trace: the next request on its keys proceeds at once', async () => {
    vi.useFakeTimers();
    const manager = new LockManager();
    const holder = await manager.acquire({ keys: [S('k')] }, { timeoutMs: 1000 });
    const writer = manager.acquire({ keys: [X('k')] }, { timeoutMs: 50 }).catch((error: unknown) => error);
    vi.advanceTimersByTime(50);
    expect(await writer).toBeInstanceOf(JubilantError);
    // Had the timed-out X stayed in the queue, this S would queue behind it.
    const reader = await manager.acquire({ keys: [S('k')] }, { timeoutMs: 0 });
    expect(manager.stats()).toMatchObject({ heldLocks: 2, waitingAcquisitions: 0, keyLockPoints: 1 });
    holder.release();
    reader.release();
    expect(vi.getTimerCount()).toBe(0);
    expectIdle(manager);
  });

  it('a timeout releases the locks already granted to the request', async () => {
    vi.useFakeTimers();
    const manager = new LockManager();
    const holder = await manager.acquire({ keys: [X('c')] }, { timeoutMs: 1000 });
    const partial = manager
      .acquire({ keys: [X('a'), X('b'), X('c')] }, { timeoutMs: 10 })
      .catch((e: unknown) => e);
    expect(manager.stats().heldLocks).toBe(3);
    vi.advanceTimersByTime(10);
    expect(isJubilantError(await partial, 'LOCK_TIMEOUT')).toBe(true);
    const other = await manager.acquire({ keys: [X('a'), X('b')] }, { timeoutMs: 0 });
    other.release();
    holder.release();
    expectIdle(manager);
  });

  it('a timed-out waiter in the middle of a queue lets the ones behind it move up', async () => {
    vi.useFakeTimers();
    const manager = new LockManager();
    const holder = await manager.acquire({ keys: [S('k')] }, { timeoutMs: 1000 });
    const writer = manager.acquire({ keys: [X('k')] }, { timeoutMs: 10 }).catch((e: unknown) => e);
    let readerGranted = false;
    const reader = manager.acquire({ keys: [S('k')] }, { timeoutMs: 1000 }).then((grant) => {
      readerGranted = true;
      return grant;
    });
    await Promise.resolve();
    expect(readerGranted).toBe(false);
    vi.advanceTimersByTime(10);
    expect(isJubilantError(await writer, 'LOCK_TIMEOUT')).toBe(true);
    (await reader).release();
    expect(readerGranted).toBe(true);
    holder.release();
    expectIdle(manager);
  });

  it('an abort gives up the wait like a timeout, with the abort reason', async () => {
    const manager = new LockManager();
    const holder = await manager.acquire({ keys: [X('b')] }, { timeoutMs: 1000 });
    const controller = new AbortController();
    const waiter = manager
      .acquire({ keys: [X('a'), X('b')] }, { timeoutMs: 60_000, signal: controller.signal })
      .catch((e: unknown) => e);
    controller.abort(new Error('client went away'));
    expect(((await waiter) as Error).message).toBe('client went away');
    expect(manager.stats()).toMatchObject({ aborts: 1, heldLocks: 1, waitingAcquisitions: 0 });
    holder.release();
    expectIdle(manager);
  });

  it('an already aborted signal takes no lock', async () => {
    const manager = new LockManager();
    const controller = new AbortController();
    controller.abort();
    await expect(
      manager.acquire({ keys: [X('a')] }, { timeoutMs: 10, signal: controller.signal }),
    ).rejects.toThrow();
    expectIdle(manager);
  });
});
