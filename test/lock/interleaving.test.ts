// Proves, step by step, that the interleavings that deadlock naive range locking resolve here: "B holds X(m); A queues S[a,z); B requests X(n)" and its relatives.
import { describe, expect, it } from 'vitest';
import { LockManager } from '../../src/lock/lock-manager.js';
import { expectIdle, range, release, S, start, states, turn, X } from './lock-test-helpers.js';

describe('the interleaving of issue 7', () => {
  for (const rangeBypassesMax of [0, 8]) {
    it(`B holds X(m), A queues S[a,z), B requests X(n): B finishes first, then A (rangeBypassesMax ${rangeBypassesMax})`, async () => {
      const manager = new LockManager({ rangeBypassesMax });
      // C holds X(m) so that B, whose lock set is {X(m), X(n)}, is stopped before m and A can queue.
      const c = start(manager, 'C', { keys: [X('m')] });
      const b = start(manager, 'B', { keys: [X('n'), X('m')] });
      const a = start(manager, 'A', { ranges: [range('a', 'z')] });
      await turn();
      expect(states(c, b, a)).toEqual({ C: 'granted', B: 'waiting', A: 'waiting' });

      // C lets go. B takes X(m), and only now requests X(n), inside A's waiting range. B already holds
      // X(m), which A waits for, so B passes A even with no bypasses allowed: making B wait for A would
      // close the cycle B -> A -> B.
      release(c);
      await turn();
      expect(states(b, a)).toEqual({ B: 'granted', A: 'waiting' });
      expect(manager.stats()).toMatchObject({ bypasses: 1, parks: 0, heldLocks: 2, waitingAcquisitions: 1 });

      // A fresh writer inside the range holds nothing, so once the range's bypasses are spent it
      // queues behind A instead of passing it.
      const d = start(manager, 'D', { keys: [X('o')] });
      await turn();
      expect(d.state).toBe(rangeBypassesMax === 0 ? 'waiting' : 'granted');

      release(b);
      await turn();
      if (rangeBypassesMax === 0) {
        expect(states(a, d)).toEqual({ A: 'granted', D: 'waiting' });
        release(a);
        await turn();
        expect(d.state).toBe('granted');
        release(d);
      } else {
        expect(states(a, d)).toEqual({ A: 'waiting', D: 'granted' });
        release(d);
        await turn();
        expect(a.state).toBe('granted');
        release(a);
      }
      expect(manager.stats().timeouts).toBe(0);
      expectIdle(manager);
    });
  }

  it('a transaction holding only shared keys inside a waiting range also passes it, which breaks a three-way cycle', async () => {
    // W = {X(m), X(q)}, T = {S(q), S(r), X(t)}, U = {S[a,z)}. If T were parked behind U at X(t):
    // T waits for U, U waits for W's X(m), W waits for T's S(q). T holds S(q) inside U's range, so it
    // is never parked there.
    const manager = new LockManager({ rangeBypassesMax: 0 });
    const g = start(manager, 'G', { keys: [X('r')] });
    const t = start(manager, 'T', { keys: [S('q'), S('r'), X('t')] });
    const w = start(manager, 'W', { keys: [X('m'), X('q')] });
    const u = start(manager, 'U', { ranges: [range('a', 'z')] });
    await turn();
    expect(states(g, t, w, u)).toEqual({ G: 'granted', T: 'waiting', W: 'waiting', U: 'waiting' });

    release(g);
    await turn();
    expect(states(t, w, u)).toEqual({ T: 'granted', W: 'waiting', U: 'waiting' });
    expect(manager.stats()).toMatchObject({ bypasses: 1, parks: 0 });

    release(t);
    await turn();
    expect(states(w, u)).toEqual({ W: 'granted', U: 'waiting' });
    release(w);
    await turn();
    expect(u.state).toBe('granted');
    release(u);
    expectIdle(manager);
  });

  for (const rangeBypassesMax of [0, 8]) {
    it(`two transactions that scan one range and write inside it both finish (rangeBypassesMax ${rangeBypassesMax})`, async () => {
      // Kept whole, both S[a,z) ranges would be granted together and each X would then wait for the
      // other's range. Canonicalization splits each range around its own writes, so this cannot happen.
      const manager = new LockManager({ rangeBypassesMax });
      const order: string[] = [];
      const blocker = start(manager, 'blocker', { keys: [X('b')] }, 60_000, order);
      const t = start(manager, 'T', { keys: [X('j')], ranges: [range('a', 'z')] }, 60_000, order);
      const u = start(manager, 'U', { keys: [X('k')], ranges: [range('a', 'z')] }, 60_000, order);
      await turn();
      expect(states(t, u)).toEqual({ T: 'waiting', U: 'waiting' });
      release(blocker);
      for (let i = 0; i < 4 && order.length < 3; i++) {
        await turn();
        for (const done of [t, u]) if (done.state === 'granted') release(done);
      }
      expect(order).toEqual(['blocker', 'T', 'U']);
      expectIdle(manager);
    });
  }

  it('a waiter never blocks a key it does not cover: B waiting at n does not hold back a writer of p', async () => {
    const manager = new LockManager();
    const holder = start(manager, 'holder', { keys: [X('n')] });
    const b = start(manager, 'B', { keys: [X('m'), X('n'), X('p')] });
    const other = start(manager, 'other', { keys: [X('p')] });
    await turn();
    // Only granted locks block requests at other points: B holds m, waits at n, and has not touched p.
    expect(states(holder, b, other)).toEqual({ holder: 'granted', B: 'waiting', other: 'granted' });
    release(holder);
    await turn();
    expect(b.state).toBe('waiting');
    release(other);
    await turn();
    expect(b.state).toBe('granted');
    release(b);
    expectIdle(manager);
  });
});
