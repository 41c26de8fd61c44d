// Proves canonicalization: one point per key at its strongest mode, bytewise order, merged ranges, and pairwise disjoint points that lock exactly what was declared.
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  binaryKey,
  canonicalizeLockRequest,
  describeLockPoint,
  type KeyLock,
  type LockPoint,
  type LockRequest,
  pointStart,
  pointsOverlap,
  type RangeLock,
  rangeContainsKey,
} from '../../src/lock/lock-request.js';
import { prefixRange } from '../../src/storage/btree/key-range.js';
import { compareBytes, utf8 } from '../../src/util/bytes.js';
import { testSeed } from '../../src/util/random.js';
import { range, S, X } from './lock-test-helpers.js';

function described(request: LockRequest): string[] {
  return canonicalizeLockRequest(request).map(describeLockPoint);
}

const hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');

describe('canonical lock sets', () => {
  it('a key declared as S and as X is locked once, in X', () => {
    expect(described({ keys: [S('a'), X('a'), S('a')] })).toEqual([`X(${hex('a')})`]);
  });

  it('a key declared twice as S stays S', () => {
    expect(described({ keys: [S('a'), S('a')] })).toEqual([`S(${hex('a')})`]);
  });

  it('keys are sorted bytewise, not by UTF-16 units', () => {
    // UTF-8 of U+FF61 is EF BD A1 and of U+1F600 is F0 9F 98 80, so bytewise U+FF61 comes first, while
    // JS string order on the text puts U+1F600 first (its UTF-16 starts with the surrogate 0xD83D).
    const keys = ['\u{1F600}', '\uFF61', 'b', 'a', 'ab', 'a\u0000'];
    const expected = [...keys].map(utf8).sort(compareBytes);
    const points = canonicalizeLockRequest({ keys: keys.map(X) });
    expect(points.map((point) => Buffer.from(pointStart(point), 'latin1'))).toEqual(
      expected.map((key) => Buffer.from(key)),
    );
    expect('\u{1F600}' < '\uFF61').toBe(true);
  });

  it('ranges are ordered by start key among the keys', () => {
    expect(described({ keys: [X('m'), S('z')], ranges: [range('p', 'r'), range('a', 'c')] })).toEqual([
      `S[${hex('a')}, ${hex('c')})`,
      `X(${hex('m')})`,
      `S[${hex('p')}, ${hex('r')})`,
      `S(${hex('z')})`,
    ]);
  });

  it('overlapping and touching ranges merge, and an open end absorbs the rest', () => {
    expect(described({ ranges: [range('a', 'c'), range('b', 'd'), range('d', 'e')] })).toEqual([
      `S[${hex('a')}, ${hex('e')})`,
    ]);
    expect(described({ ranges: [range('c', undefined), range('a', 'd')] })).toEqual([`S[${hex('a')}, ∞)`]);
    expect(described({ ranges: [range(undefined, 'b'), range('x', undefined)] })).toEqual([
      'S[, 62)',
      `S[${hex('x')}, ∞)`,
    ]);
  });

  it('an empty range locks nothing', () => {
    expect(described({ ranges: [range('b', 'b'), range('c', 'a')] })).toEqual([]);
  });

  it('a shared key inside the transaction’s own range is covered by it and dropped', () => {
    expect(described({ keys: [S('b')], ranges: [range('a', 'c')] })).toEqual([`S[${hex('a')}, ${hex('c')})`]);
  });

  it('a range is split around the transaction’s own exclusive keys inside it', () => {
    expect(described({ keys: [X('b'), X('a'), X('b\u0000')], ranges: [range('a', 'c')] })).toEqual([
      `X(${hex('a')})`,
      `S[${hex('a\u0000')}, ${hex('b')})`,
      `X(${hex('b')})`,
      `X(${hex('b\u0000')})`,
      `S[${hex('b\u0000\u0000')}, ${hex('c')})`,
    ]);
  });

  it('an exclusive key at the end of a range is outside it and leaves the range whole', () => {
    expect(described({ keys: [X('c')], ranges: [range('a', 'c')] })).toEqual([
      `S[${hex('a')}, ${hex('c')})`,
      `X(${hex('c')})`,
    ]);
  });

  it('a prefix range holds exactly the keys that start with the prefix', () => {
    const user = { ...prefixRange(utf8('user:')), mode: 'S' as const };
    const [point] = canonicalizeLockRequest({ ranges: [user] });
    expect(point?.kind).toBe('range');
    const asRange = point as Extract<LockPoint, { kind: 'range' }>;
    expect(rangeContainsKey(asRange, binaryKey(utf8('user:')))).toBe(true);
    expect(rangeContainsKey(asRange, binaryKey(utf8('user:\u{10FFFF}')))).toBe(true);
    expect(rangeContainsKey(asRange, binaryKey(utf8('user;')))).toBe(false);
    expect(rangeContainsKey(asRange, binaryKey(utf8('user')))).toBe(false);
    const allFF = { ...prefixRange(new Uint8Array([0xff, 0xff])), mode: 'S' as const };
    expect(canonicalizeLockRequest({ ranges: [allFF] })).toEqual([
      { kind: 'range', start: '\u00ff\u00ff', end: undefined },
    ]);
  });
});

describe('canonical lock sets, randomized', () => {
  const ALPHABET = [
    [0x61],
    [0x61, 0x00],
    [0x61, 0x62],
    [0x62],
    [0x62, 0xff],
    [0xc3, 0xa9],
    [0xff],
    [0xff, 0xff],
  ];
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
    keys: fc.array(keyLockArb, { maxLength: 6 }),
    ranges: fc.array(rangeLockArb, { maxLength: 3 }),
  });
  /** Probe keys: the alphabet plus successors and a few in between, so every boundary is tested. */
  const PROBES = [
    ...ALPHABET,
    ...ALPHABET.map((bytes) => [...bytes, 0x00]),
    [0x00],
    [0x60],
    [0x61, 0x61],
    [0x63],
    [0xfe],
  ].map((bytes) => new Uint8Array(bytes));

  function declaredMode(request: LockRequest, key: Uint8Array): 'X' | 'S' | undefined {
    const modes = (request.keys ?? [])
      .filter((lock) => compareBytes(lock.key, key) === 0)
      .map((lock) => lock.mode);
    if (modes.includes('X')) return 'X';
    const inRange = (request.ranges ?? []).some(
      (lock) =>
        (lock.start === undefined || compareBytes(lock.start, key) <= 0) &&
        (lock.end === undefined || compareBytes(key, lock.end) < 0),
    );
    return inRange || modes.length > 0 ? 'S' : undefined;
  }

  function canonicalMode(points: LockPoint[], key: Uint8Array): 'X' | 'S' | undefined {
    const name = binaryKey(key);
    const covering = points.filter((point) =>
      point.kind === 'key' ? point.key === name : rangeContainsKey(point, name),
    );
    expect(covering.length).toBeLessThanOrEqual(1);
    const [point] = covering;
    if (point === undefined) return undefined;
    return point.kind === 'key' ? point.mode : 'S';
  }

  it('binary-string order is Buffer.compare order', () => {
    const seed = testSeed();
    console.log(`lock key order seed=${seed}`);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), (left, right) => {
        const stringOrder =
          binaryKey(left) < binaryKey(right) ? -1 : binaryKey(left) === binaryKey(right) ? 0 : 1;
        expect(stringOrder).toBe(Math.sign(compareBytes(left, right)));
      }),
      { seed, numRuns: 2000 },
    );
  });

  it('points are disjoint, strictly increasing by start, and lock every key exactly as declared', () => {
    const seed = testSeed();
    console.log(`lock canonical form seed=${seed}`);
    fc.assert(
      fc.property(requestArb, (request) => {
        const points = canonicalizeLockRequest(request);
        for (let i = 1; i < points.length; i++) {
          const previous = points[i - 1] as LockPoint;
          const current = points[i] as LockPoint;
          expect(pointStart(previous) < pointStart(current)).toBe(true);
          for (const earlier of points.slice(0, i)) expect(pointsOverlap(earlier, current)).toBe(false);
        }
        for (const probe of PROBES) expect(canonicalMode(points, probe)).toBe(declaredMode(request, probe));
      }),
      { seed, numRuns: 1000 },
    );
  });
});
