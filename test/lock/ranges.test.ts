// Proves range locks: a shared range excludes exclusive keys inside it in both directions, prefixes and open ends cover what they should, and the bypass rule bounds how long a range waits.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LockManager } from '../../src/lock/lock-manager.js';
import { prefixRange } from '../../src/storage/btree/key-range.js';
import { utf8 } from '../../src/util/bytes.js';
import { expectIdle, range, release, S, start, states, type Tracked, turn, X } from './lock-test-helpers.js';

describe('range locks against key locks', () => {
  it('an exclusive key inside a granted range waits until the range is released', async () => {
    const manager = new LockManager();
    const scan = start(manager, 'scan', { ranges: [range('a', 'z')] });
    const writer = start(manager, 'writer', { keys: [X('m')] });
    await turn();
    expect(states(scan, writer)).toEqual({ scan: 'granted', writer: 'waiting' });
    release(scan);
    await turn();
    expect(writer.state).toBe('granted');
    release(writer);
    expectIdle(manager);
  });

  it('the start key is inside a range and the end key is not', async () => {
    const manager = new LockManager();
    const scan = start(manager, 'scan', { ranges: [range('b', 'd')] });
    const atStart = start(manager, 'atStart', { keys: [X('b')] });
    const atEnd = start(manager, 'atEnd', { keys: [X('d')] });
    const before = start(manager, 'before', { keys: [X('a\u00ff')] });
    await turn();
    expect(states(atStart, atEnd, before)).toEqual({
      atStart: 'waiting',
      atEnd: 'granted',
      before: 'granted',
    });
    for (const done of [scan, atEnd, before]) release(done);
    await turn();
    release(atStart);
    expectIdle(manager);
  });

  it('a shared key inside a granted range is granted at once', async () => {
    const manager = new LockManager();
    const scan = start(manager, 'scan', { ranges: [range('a', 'z')] });
    const reader = start(manager, 'reader', { keys: [S('m')] });
    await turn();
    expect(states(scan, reader)).toEqual({ scan: 'granted', reader: 'granted' });
    release(scan);
    release(reader);
    expectIdle(manager);
  });

  it('overlapping ranges share', async () => {
    const manager = new LockManager();
    const one = start(manager, 'one', { ranges: [range('a', 'n')] });
    const two = start(manager, 'two', { ranges: [range('g', 'z')] });
    await turn();
    expect(states(one, two)).toEqual({ one: 'granted', two: 'granted' });
    release(one);
    release(two);
    expectIdle(manager);
  });

  it('a range waits for a granted exclusive key inside it', async () => {
    const manager = new LockManager();
    const writer = start(manager, 'writer', { keys: [X('m')] });
    const scan = start(manager, 'scan', { ranges: [range('a', 'z')] });
    const outside = start(manager, 'outside', { ranges: [range('n', 'z')] });
    await turn();
    expect(states(writer, scan, outside)).toEqual({ writer: 'granted', scan: 'waiting', outside: 'granted' });
    release(writer);
    await turn();
    expect(scan.state).toBe('granted');
    release(scan);
    release(outside);
    expectIdle(manager);
  });

  it('a range does not wait for shared keys inside it', async () => {
    const manager = new LockManager();
    const reader = start(manager, 'reader', { keys: [S('m')] });
    const scan = start(manager, 'scan', { ranges: [range('a', 'z')] });
    await turn();
    expect(states(reader, scan)).toEqual({ reader: 'granted', scan: 'granted' });
    release(reader);
    release(scan);
    expectIdle(manager);
  });

  it('a range queues behind an earlier waiting exclusive key inside it, so the writer is not starved by scans', async () => {
    const manager = new LockManager();
    const firstScan = start(manager, 'firstScan', { ranges: [range('a', 'z')] });
    const writer = start(manager, 'writer', { keys: [X('m')] });
    const laterScan = start(manager, 'laterScan', { ranges: [range('k', 'p')] });
    await turn();
    expect(states(firstScan, writer, laterScan)).toEqual({
      firstScan: 'granted',
      writer: 'waiting',
      laterScan: 'waiting',
    });
    release(firstScan);
    await turn();
    expect(states(writer, laterScan)).toEqual({ writer: 'granted', laterScan: 'waiting' });
    release(writer);
    await turn();
    expect(laterScan.state).toBe('granted');
    release(laterScan);
    expectIdle(manager);
  });

  it('a prefix, turned into a range, covers exactly the keys that start with it', async () => {
    const manager = new LockManager();
    const scan = start(manager, 'scan', { ranges: [{ ...prefixRange(utf8('user:')), mode: 'S' }] });
    const inside = start(manager, 'inside', { keys: [X('user:42')] });
    const exact = start(manager, 'exact', { keys: [X('user:')] });
    const shorter = start(manager, 'shorter', { keys: [X('user')] });
    const next = start(manager, 'next', { keys: [X('user;')] });
    await turn();
    expect(states(inside, exact, shorter, next)).toEqual({
      inside: 'waiting',
      exact: 'waiting',
      shorter: 'granted',
      next: 'granted',
    });
    for (const done of [scan, shorter, next]) release(done);
    await turn();
    release(inside);
    release(exact);
    expectIdle(manager);
  });

  it('a prefix of 0xff bytes has no end and covers every longer key', async () => {
    const manager = new LockManager();
    const scan = start(manager, 'scan', { ranges: [{ ...prefixRange(new Uint8Array([0xff])), mode: 'S' }] });
    const inside = start(manager, 'inside', {
      keys: [{ key: new Uint8Array([0xff, 0xff, 0x01]), mode: 'X' }],
    });
    const below = start(manager, 'below', { keys: [{ key: new Uint8Array([0xfe, 0xff]), mode: 'X' }] });
    await turn();
    expect(states(inside, below)).toEqual({ inside: 'waiting', below: 'granted' });
    release(scan);
    release(below);
    await turn();
    release(inside);
    expectIdle(manager);
  });

  it('open-ended ranges cover everything on their open side', async () => {
    const manager = new LockManager();
    const fromM = start(manager, 'fromM', { ranges: [range('m', undefined)] });
    const toC = start(manager, 'toC', { ranges: [range(undefined, 'c')] });
    const high = start(manager, 'high', { keys: [X('\u{10FFFF}')] });
    const low = start(manager, 'low', { keys: [{ key: new Uint8Array([0x00]), mode: 'X' }] });
    const middle = start(manager, 'middle', { keys: [X('f')] });
    await turn();
    expect(states(high, low, middle)).toEqual({ high: 'waiting', low: 'waiting', middle: 'granted' });
    const everything = start(manager, 'everything', { ranges: [range(undefined, undefined)] });
    await turn();
    expect(everything.state).toBe('waiting');
    for (const done of [fromM, toC, middle]) release(done);
    await turn();
    // The waiting writers arrived before the full scan, so they go first.
    expect(states(high, low, everything)).toEqual({ high: 'granted', low: 'granted', everything: 'waiting' });
    release(high);
    release(low);
    await turn();
    release(everything);
    expectIdle(manager);
  });
});

describe('bounded bypasses', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A holder of X(m) makes the scan wait; then fresh writers arrive on distinct keys inside the scan. */
  async function bypassScenario(rangeBypassesMax: number) {
    const manager = new LockManager({ rangeBypassesMax });
    const holder = start(manager, 'holder', { keys: [X('m')] });
    const scan = start(manager, 'scan', { ranges: [range('a', 'z')] });
    const writers: Tracked[] = [];
    for (let i = 0; i < rangeBypassesMax + 4; i++) {
      writers.push(start(manager, `w${i}`, { keys: [X(`k${i}`)] }));
      await turn();
    }
    return { manager, holder, scan, writers };
  }

  for (const rangeBypassesMax of [0, 1, 3, 8]) {
    it(`with rangeBypassesMax ${rangeBypassesMax}, a waiting range is passed at most that often`, async () => {
      const { manager, holder, scan, writers } = await bypassScenario(rangeBypassesMax);
      const passed = writers.filter((writer) => writer.state === 'granted');
      expect(passed.map((writer) => writer.label)).toEqual(
        writers.slice(0, rangeBypassesMax).map((w) => w.label),
      );
      expect(manager.stats()).toMatchObject({ bypasses: rangeBypassesMax, parks: 4 });
      expect(manager.checkInvariants()).toBeUndefined();
      release(holder);
      for (const writer of passed) release(writer);
      await turn();
      // Only the writers that passed and the holder stood before the scan; the parked ones follow it.
      expect(scan.state).toBe('granted');
      expect(writers.filter((writer) => writer.state === 'granted')).toEqual([]);
      release(scan);
      await turn();
      for (const writer of writers.slice(rangeBypassesMax)) release(writer);
      expectIdle(manager);
    });
  }

  it('writers outside a waiting range are never held back by it', async () => {
    const manager = new LockManager({ rangeBypassesMax: 0 });
    const holder = start(manager, 'holder', { keys: [X('m')] });
    const scan = start(manager, 'scan', { ranges: [range('f', 'p')] });
    const outside = ['a', 'e', 'p', 'q'].map((key) => start(manager, key, { keys: [X(key)] }));
    await turn();
    expect(outside.every((writer) => writer.state === 'granted')).toBe(true);
    expect(scan.state).toBe('waiting');
    for (const done of [holder, ...outside]) release(done);
    await turn();
    release(scan);
    expectIdle(manager);
  });

  it('a writer at the very start key of an earlier waiting range queues behind it, even with bypasses left', async () => {
    const manager = new LockManager({ rangeBypassesMax: 8 });
    const holder = start(manager, 'holder', { keys: [X('m')] });
    const scan = start(manager, 'scan', { ranges: [range('f', 'p')] });
    const atStart = start(manager, 'atStart', { keys: [X('f')] });
    await turn();
    expect(states(scan, atStart)).toEqual({ scan: 'waiting', atStart: 'waiting' });
    release(holder);
    await turn();
    expect(states(scan, atStart)).toEqual({ scan: 'granted', atStart: 'waiting' });
    release(scan);
    await turn();
    release(atStart);
    expectIdle(manager);
  });

  it('a parked writer that times out leaves the range and the key table clean', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const manager = new LockManager({ rangeBypassesMax: 0 });
    const holder = start(manager, 'holder', { keys: [X('m')] });
    const scan = start(manager, 'scan', { ranges: [range('a', 'z')] });
    const parked = start(manager, 'parked', { keys: [X('q')] }, 5);
    await turn();
    expect(manager.stats().parks).toBe(1);
    vi.advanceTimersByTime(5);
    await turn();
    expect(parked.state).toBe('rejected');
    expect(manager.checkInvariants()).toBeUndefined();
    release(holder);
    await turn();
    expect(scan.state).toBe('granted');
    release(scan);
    expectIdle(manager);
  });

  it('when a waiting range gives up, the writers parked on it proceed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const manager = new LockManager({ rangeBypassesMax: 0 });
    const holder = start(manager, 'holder', { keys: [X('m')] });
    const scan = start(manager, 'scan', { ranges: [range('a', 'z')] }, 5);
    const parked = start(manager, 'parked', { keys: [X('q')] });
    await turn();
    expect(parked.state).toBe('waiting');
    vi.advanceTimersByTime(5);
    await turn();
    expect(states(scan, parked)).toEqual({ scan: 'rejected', parked: 'granted' });
    release(holder);
    release(parked);
    expectIdle(manager);
  });
});
