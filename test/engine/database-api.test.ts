// Proves the embedded API's contract (issue 5): values and keys round-trip, scans run in bytewise order, bad input gets a typed error and changes nothing, TTLs expire, data survives reopen, the LOCK guards the directory, close ends it, and concurrent commits keep per-key order and share WAL batches.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LOCK_FILE } from '../../src/engine/database-lock.js';
import {
  Database,
  type DatabaseOptions,
  type ErrorCode,
  JubilantError,
  type Value,
} from '../../src/index.js';
import { NodeFileSystem } from '../../src/io/node-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';
import { closeAndValidate } from '../helpers/close-and-validate.js';
import { tempDir } from '../helpers/temp-dir.js';
import { TestClock } from '../helpers/test-clock.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Small pages and segments, so a few thousand writes split pages, roll the WAL and checkpoint. */
const SMALL: DatabaseOptions = {
  pageSizeBytes: 4096,
  walSegmentBytes: 64 * 1024,
  cacheBytes: 1024 * 1024,
  checkpointWalBytes: 32 * 1024,
};

/** Opens a database in a fresh directory; a test that fails midway still releases it. */
async function openFresh(options: DatabaseOptions = {}): Promise<Database> {
  const db = await Database.open(await tempDir('jubilant-api-'), options);
  onTestFinished(() => db.close().catch(() => undefined));
  return db;
}

async function reopen(db: Database, options: DatabaseOptions = {}): Promise<Database> {
  await db.close();
  const next = await Database.open(db.directory, options);
  onTestFinished(() => next.close().catch(() => undefined));
  return next;
}

/** How every test ends: close, then the structural validator over the directory's image. */
async function scanAll(
  db: Database,
  options: Parameters<Database['scan']>[0] = {},
): Promise<[string, Value][]> {
  const entries: [string, Value][] = [];
  for await (const { key, value } of db.scan(options)) entries.push([key, value]);
  return entries;
}

async function scanKeys(db: Database, options: Parameters<Database['scan']>[0] = {}): Promise<string[]> {
  return (await scanAll(db, options)).map(([key]) => key);
}

/** Bytewise order of the UTF-8 encodings: the order of keys everywhere (BRIEF.md, "Decisions"). */
function byUtf8(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}

/** Runs `attempt`, which must fail with `code`, and checks that nothing was logged or changed. */
async function expectRejectedUnchanged(
  db: Database,
  attempt: () => Promise<unknown>,
  code: ErrorCode,
): Promise<void> {
  const lsnBefore = db.stats().lsn.next;
  const contentBefore = await scanAll(db);
  const error = await Promise.resolve()
    .then(attempt)
    .then(
      () => undefined,
      (reason: unknown) => reason,
    );
  expect(error).toBeInstanceOf(JubilantError);
  expect((error as JubilantError).code).toBe(code);
  expect(db.stats().lsn.next).toBe(lsnBefore);
  expect(await scanAll(db)).toEqual(contentBefore);
}

/** A clock the test moves by hand: "now" advances with the monotonic reading. */
describe('values', () => {
  it('bytes values round-trip, the empty array included', async () => {
    const db = await openFresh();
    const values = [
      new Uint8Array(0),
      new Uint8Array([0]),
      new Uint8Array([0, 255, 1, 254]),
      new Uint8Array(1000),
    ];
    values[3]?.fill(0xa5);
    for (const [i, value] of values.entries()) await db.set(`b${i}`, value);
    for (const [i, value] of values.entries()) {
      const read = await db.get(`b${i}`);
      expect(read).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(read as Uint8Array).equals(value)).toBe(true);
    }
    await closeAndValidate(db);
  });

  it('string values round-trip, astral characters and emoji included', async () => {
    const db = await openFresh();
    const values = [
      '',
      'plain',
      'é€ß',
      '\u0000nul',
      '\uFFFF',
      '\u{10000}',
      '𝄞 clef',
      '👩‍👩‍👧 family',
      '🇳🇱',
      '\u{10FFFF}',
    ];
    for (const [i, value] of values.entries()) await db.set(`s${i}`, value);
    for (const [i, value] of values.entries()) expect(await db.get(`s${i}`)).toBe(value);
    await closeAndValidate(db);
  });

  it('int64 values round-trip at both extremes', async () => {
    const db = await openFresh();
    const values = [INT64_MIN, INT64_MIN + 1n, -1n, 0n, 1n, 2n ** 32n, INT64_MAX - 1n, INT64_MAX];
    for (const [i, value] of values.entries()) await db.set(`i${i}`, value);
    for (const [i, value] of values.entries()) expect(await db.get(`i${i}`)).toBe(value);
    await closeAndValidate(db);
  });

  it('a bytes value is copied on set and on get, so changing either array later changes nothing stored', async () => {
    const db = await openFresh();
    const written = new Uint8Array([1, 2, 3]);
    await db.set('k', written);
    written[0] = 99;
    const read = (await db.get('k')) as Uint8Array;
    expect([...read]).toEqual([1, 2, 3]);
    read[1] = 99;
    expect([...((await db.get('k')) as Uint8Array)]).toEqual([1, 2, 3]);
    await closeAndValidate(db);
  });

  it('get of a missing key is undefined', async () => {
    const db = await openFresh();
    expect(await db.get('never-written')).toBeUndefined();
    await db.set('a', 'x');
    expect(await db.get('b')).toBeUndefined();
    expect(await db.get('a\u0000')).toBeUndefined();
    await closeAndValidate(db);
  });

  it('del makes a key read as missing, and del of a missing key is harmless', async () => {
    const db = await openFresh();
    await db.set('a', 'x');
    await db.set('b', 'y');
    await db.del('a');
    expect(await db.get('a')).toBeUndefined();
    expect(await db.get('b')).toBe('y');
    await db.del('never-written');
    expect(await db.get('never-written')).toBeUndefined();
    expect(await scanKeys(db)).toEqual(['b']);
    await closeAndValidate(db);
  });

  it('set overwrites a value, also with a value of another type, and after a del', async () => {
    const db = await openFresh();
    await db.set('k', 'first');
    await db.set('k', 'second');
    expect(await db.get('k')).toBe('second');
    await db.set('k', 7n);
    expect(await db.get('k')).toBe(7n);
    await db.del('k');
    await db.set('k', new Uint8Array([7]));
    expect([...((await db.get('k')) as Uint8Array)]).toEqual([7]);
    await closeAndValidate(db);
  });

  it('a relaxed write is readable at once and durable after close', async () => {
    const db = await openFresh();
    await db.set('r', 'relaxed', { durability: 'relaxed' });
    expect(await db.get('r')).toBe('relaxed');
    const reopened = await reopen(db);
    expect(await reopened.get('r')).toBe('relaxed');
    await closeAndValidate(reopened);
  });
});

describe('scan', () => {
  /** Keys whose UTF-16 order and UTF-8 order differ (U+E000..U+FFFF sort after astral in UTF-8). */
  const MIXED_KEYS = [
    '\uFFFF',
    '\u{10000}',
    '\uE000',
    '\uD7FF',
    'z',
    'é',
    '😀',
    'A',
    '\u007F',
    '\u0080',
    '\u{10FFFF}',
  ];

  it('scan returns keys in bytewise UTF-8 order, which differs from UTF-16 order above U+FFFF', async () => {
    const db = await openFresh();
    for (const key of MIXED_KEYS) await db.set(key, key);
    const expected = [...MIXED_KEYS].sort(byUtf8);
    expect(expected).not.toEqual([...MIXED_KEYS].sort()); // the case is one where the orders disagree
    expect(expected.indexOf('\uFFFF')).toBeLessThan(expected.indexOf('\u{10000}'));
    const entries = await scanAll(db);
    expect(entries.map(([key]) => key)).toEqual(expected);
    for (const [key, value] of entries) expect(value).toBe(key);
    await closeAndValidate(db);
  });

  it('scan from start to end includes start and excludes end, whether or not they exist', async () => {
    const db = await openFresh();
    for (const key of ['a', 'b', 'c', 'd', 'e']) await db.set(key, key);
    expect(await scanKeys(db, { start: 'b', end: 'd' })).toEqual(['b', 'c']);
    expect(await scanKeys(db, { start: 'bb', end: 'dd' })).toEqual(['c', 'd']);
    expect(await scanKeys(db, { start: 'c' })).toEqual(['c', 'd', 'e']);
    expect(await scanKeys(db, { end: 'c' })).toEqual(['a', 'b']);
    expect(await scanKeys(db, { start: 'c', end: 'c' })).toEqual([]);
    expect(await scanKeys(db, { start: 'd', end: 'b' })).toEqual([]);
    // Bounds compare bytewise too: '\uFFFF' < '\u{10000}' in UTF-8.
    for (const key of MIXED_KEYS) await db.set(key, key);
    const expected = [...MIXED_KEYS].sort(byUtf8).filter((key) => byUtf8(key, '\uFFFF') >= 0);
    expect(await scanKeys(db, { start: '\uFFFF', end: '\u{10FFFF}\u{10FFFF}' })).toEqual(expected);
    await closeAndValidate(db);
  });

  it('scan with a prefix returns exactly the keys that begin with it', async () => {
    const db = await openFresh();
    const keys = ['aa\uFFFF', 'ab', 'ab\u0000', 'abc', 'ab😀', 'ab\u{10FFFF}', 'ac', 'b', '😀', '😀x', '😁'];
    for (const key of keys) await db.set(key, 1n);
    expect(await scanKeys(db, { prefix: 'ab' })).toEqual(['ab', 'ab\u0000', 'abc', 'ab😀', 'ab\u{10FFFF}']);
    expect(await scanKeys(db, { prefix: '😀' })).toEqual(['😀', '😀x']);
    expect(await scanKeys(db, { prefix: 'abc' })).toEqual(['abc']);
    expect(await scanKeys(db, { prefix: 'x' })).toEqual([]);
    expect(await scanKeys(db, { prefix: '' })).toEqual([...keys].sort(byUtf8));
    await closeAndValidate(db);
  });

  it('scan with a limit stops after that many keys', async () => {
    const db = await openFresh();
    for (let i = 0; i < 10; i++) await db.set(`k${i}`, BigInt(i));
    expect(await scanKeys(db, { limit: 3 })).toEqual(['k0', 'k1', 'k2']);
    expect(await scanKeys(db, { limit: 0 })).toEqual([]);
    expect(await scanKeys(db, { limit: 100 })).toHaveLength(10);
    expect(await scanKeys(db, { start: 'k5', limit: 2 })).toEqual(['k5', 'k6']);
    await closeAndValidate(db);
  });

  it('scan in reverse returns the same keys backwards, with ranges, prefixes and limits', async () => {
    const db = await openFresh();
    for (const key of MIXED_KEYS) await db.set(key, key);
    for (const key of ['p1', 'p2', 'p3', 'q']) await db.set(key, key);
    const forward = await scanKeys(db);
    expect(await scanKeys(db, { reverse: true })).toEqual([...forward].reverse());
    expect(await scanKeys(db, { prefix: 'p', reverse: true })).toEqual(['p3', 'p2', 'p1']);
    expect(await scanKeys(db, { start: 'p2', end: 'q', reverse: true })).toEqual(['p3', 'p2']);
    expect(await scanKeys(db, { reverse: true, limit: 2 })).toEqual(forward.slice(-2).reverse());
    await closeAndValidate(db);
  });

  it('scan skips deleted keys, also across batches made only of tombstones', async () => {
    const seed = testSeed();
    console.log(`scan after deletes: seed ${seed}`);
    const rng = new SeededRandom(seed);
    const db = await openFresh(SMALL);
    const keys = Array.from({ length: 1200 }, (_, i) => `k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((key) => db.set(key, key)));
    }
    // A run of 600 deleted keys (more than two of scan's 256-entry batches), then random deletes.
    const deleted = new Set(keys.slice(300, 900));
    for (const key of keys) if (rng.chance(0.3)) deleted.add(key);
    await Promise.all([...deleted].map((key) => db.del(key)));
    const live = keys.filter((key) => !deleted.has(key));
    expect(await scanKeys(db)).toEqual(live);
    expect(await scanKeys(db, { reverse: true })).toEqual([...live].reverse());
    expect(await scanKeys(db, { start: 'k00290', limit: 20 })).toEqual(
      live.filter((key) => key >= 'k00290').slice(0, 20),
    );
    expect(await scanKeys(db, { end: 'k00910', reverse: true, limit: 20 })).toEqual(
      live
        .filter((key) => key < 'k00910')
        .reverse()
        .slice(0, 20),
    );
    await db.checkpoint();
    expect(await scanKeys(db)).toEqual(live);
    await closeAndValidate(db);
  });

  it('a scan with both a prefix and a range is INVALID_ARGUMENT', async () => {
    const db = await openFresh();
    await db.set('a', 'x');
    await expectRejectedUnchanged(db, () => scanKeys(db, { prefix: 'a', start: 'a' }), 'INVALID_ARGUMENT');
    await expectRejectedUnchanged(db, () => scanKeys(db, { prefix: 'a', end: 'b' }), 'INVALID_ARGUMENT');
    await closeAndValidate(db);
  });

  it('a scan bound with a lone surrogate is INVALID_UTF8, not silently read as U+FFFD', async () => {
    const db = await openFresh();
    await db.set('\uFFFDx', 'replacement');
    for (const options of [{ prefix: '\uD800' }, { start: '\uD800' }, { end: 'a\uDC00' }]) {
      await expectRejectedUnchanged(db, () => scanKeys(db, options), 'INVALID_UTF8');
    }
    await closeAndValidate(db);
  });

  it('a scan limit that is negative or not a number is INVALID_ARGUMENT', async () => {
    const db = await openFresh();
    await db.set('a', 'x');
    for (const limit of [-1, Number.NaN]) {
      await expectRejectedUnchanged(db, () => scanKeys(db, { limit }), 'INVALID_ARGUMENT');
    }
    await closeAndValidate(db);
  });
});

describe('invalid input gets a typed error and changes nothing', () => {
  it('an empty key is INVALID_KEY', async () => {
    const db = await openFresh();
    await db.set('kept', 'old');
    await expectRejectedUnchanged(db, () => db.set('', 'v'), 'INVALID_KEY');
    await expectRejectedUnchanged(db, () => db.del(''), 'INVALID_KEY');
    await expectRejectedUnchanged(db, () => db.get(''), 'INVALID_KEY');
    await closeAndValidate(db);
  });

  it('a key with a lone surrogate is INVALID_UTF8', async () => {
    const db = await openFresh();
    for (const key of ['\uD800', 'a\uDC00b', 'x\uD83D']) {
      await expectRejectedUnchanged(db, () => db.set(key, 'v'), 'INVALID_UTF8');
      await expectRejectedUnchanged(db, () => db.del(key), 'INVALID_UTF8');
      await expectRejectedUnchanged(db, () => db.get(key), 'INVALID_UTF8');
    }
    await closeAndValidate(db);
  });

  it('a key that is not a string is INVALID_KEY', async () => {
    const db = await openFresh();
    for (const key of [42, null, undefined, new Uint8Array([97])]) {
      await expectRejectedUnchanged(db, () => db.set(key as unknown as string, 'v'), 'INVALID_KEY');
    }
    await closeAndValidate(db);
  });

  it("a key over the MANIFEST's key size limit is KEY_TOO_LARGE, counted in UTF-8 bytes; one at the limit works", async () => {
    const db = await openFresh();
    const { keySizeMaxBytes } = await readManifest(new NodeFileSystem(), db.directory);
    const atLimit = 'k'.repeat(keySizeMaxBytes);
    const overByOne = 'k'.repeat(keySizeMaxBytes + 1);
    // Fewer UTF-16 units than the limit, more UTF-8 bytes: the limit is on bytes.
    const overInBytes = 'é'.repeat(Math.floor(keySizeMaxBytes / 2) + 1);
    expect(overInBytes.length).toBeLessThan(keySizeMaxBytes);
    for (const key of [overByOne, overInBytes]) {
      await expectRejectedUnchanged(db, () => db.set(key, 'v'), 'KEY_TOO_LARGE');
      await expectRejectedUnchanged(db, () => db.del(key), 'KEY_TOO_LARGE');
    }
    await db.set(atLimit, 'v');
    expect(await db.get(atLimit)).toBe('v');
    await closeAndValidate(db);
  });

  it('a value that is a number, null, undefined, an object or an array is INVALID_ARGUMENT', async () => {
    const db = await openFresh();
    await db.set('kept', 'old');
    for (const value of [42, null, undefined, { a: 1 }, [1, 2], new ArrayBuffer(2), true]) {
      await expectRejectedUnchanged(db, () => db.set('fresh', value as unknown as Value), 'INVALID_ARGUMENT');
      await expectRejectedUnchanged(db, () => db.set('kept', value as unknown as Value), 'INVALID_ARGUMENT');
    }
    expect(await db.get('fresh')).toBeUndefined();
    expect(await db.get('kept')).toBe('old');
    await closeAndValidate(db);
  });

  it('a bigint outside int64 is INT_OVERFLOW', async () => {
    const db = await openFresh();
    await db.set('kept', 1n);
    for (const value of [INT64_MAX + 1n, INT64_MIN - 1n, 2n ** 64n]) {
      await expectRejectedUnchanged(db, () => db.set('fresh', value), 'INT_OVERFLOW');
      await expectRejectedUnchanged(db, () => db.set('kept', value), 'INT_OVERFLOW');
    }
    expect(await db.get('fresh')).toBeUndefined();
    expect(await db.get('kept')).toBe(1n);
    await closeAndValidate(db);
  });

  it('a string value with a lone surrogate is INVALID_UTF8', async () => {
    const db = await openFresh();
    for (const value of ['\uD800', 'ok\uDFFF', '😀'.slice(0, 1)]) {
      await expectRejectedUnchanged(db, () => db.set('fresh', value), 'INVALID_UTF8');
    }
    expect(await db.get('fresh')).toBeUndefined();
    await closeAndValidate(db);
  });

  it('a value over 64 MiB is VALUE_TOO_LARGE; values at and just above the inline threshold work', async () => {
    const db = await openFresh();
    const { inlineValueThresholdBytes } = await readManifest(new NodeFileSystem(), db.directory);
    await db.set('kept', 'old');
    const tooLarge = new Uint8Array(64 * 1024 * 1024 + 1);
    await expectRejectedUnchanged(db, () => db.set('fresh', tooLarge), 'VALUE_TOO_LARGE');
    await expectRejectedUnchanged(db, () => db.set('kept', tooLarge), 'VALUE_TOO_LARGE');
    expect(await db.get('fresh')).toBeUndefined();
    expect(await db.get('kept')).toBe('old');
    await db.set('at', new Uint8Array(inlineValueThresholdBytes).fill(7));
    await db.set('above', new Uint8Array(inlineValueThresholdBytes + 1).fill(8));
    // Fewer UTF-16 units than the threshold, more UTF-8 bytes: it goes to the value log too.
    const aboveAsString = '€'.repeat(Math.floor(inlineValueThresholdBytes / 3) + 1);
    await db.set('kept', aboveAsString);
    expect(await db.get('at')).toEqual(new Uint8Array(inlineValueThresholdBytes).fill(7));
    expect(await db.get('above')).toEqual(new Uint8Array(inlineValueThresholdBytes + 1).fill(8));
    expect(await db.get('kept')).toBe(aboveAsString);
    expect(db.stats().valueLog.recordsAppended).toBe(2);
    await closeAndValidate(db);
  });

  it('ttlMs and expiresAtMs together is INVALID_ARGUMENT', async () => {
    const db = await openFresh();
    await expectRejectedUnchanged(
      db,
      () => db.set('k', 'v', { ttlMs: 1000, expiresAtMs: Date.now() + 1000 }),
      'INVALID_ARGUMENT',
    );
    expect(await db.get('k')).toBeUndefined();
    await closeAndValidate(db);
  });

  it('a ttlMs or expiresAtMs that is not a positive integer is INVALID_ARGUMENT', async () => {
    const db = await openFresh();
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expectRejectedUnchanged(db, () => db.set('k', 'v', { ttlMs: bad }), 'INVALID_ARGUMENT');
      await expectRejectedUnchanged(db, () => db.set('k', 'v', { expiresAtMs: bad }), 'INVALID_ARGUMENT');
    }
    await closeAndValidate(db);
  });

  it('a ttlMs whose expiry would pass Number.MAX_SAFE_INTEGER is INVALID_ARGUMENT; the largest expiresAtMs works', async () => {
    // Accepted, such an expiry is acknowledged but cannot be decoded from the WAL or a page again: the
    // next open drops the commit as a torn tail, or refuses the whole log as corrupt.
    const db = await openFresh();
    await db.set('before', 'x');
    await expectRejectedUnchanged(
      db,
      () => db.set('far', 'v', { ttlMs: Number.MAX_SAFE_INTEGER }),
      'INVALID_ARGUMENT',
    );
    await db.set('latest', 'v', { expiresAtMs: Number.MAX_SAFE_INTEGER });
    await db.set('after', 'y');
    const reopened = await reopen(db);
    expect(await scanKeys(reopened)).toEqual(['after', 'before', 'latest']);
    await closeAndValidate(reopened);
  });

  it('an unknown durability is INVALID_ARGUMENT, not a silent downgrade to relaxed', async () => {
    const db = await openFresh();
    const durability = 'fsnyc' as unknown as 'fsync';
    await expectRejectedUnchanged(db, () => db.set('k', 'v', { durability }), 'INVALID_ARGUMENT');
    await expectRejectedUnchanged(db, () => db.del('k', { durability }), 'INVALID_ARGUMENT');
    await closeAndValidate(db);
  });
});

describe('TTL', () => {
  it('a key reads as missing, by get and by scan, once its ttlMs has passed', async () => {
    const clock = new TestClock();
    const db = await openFresh({ clock });
    await db.set('short', 'v', { ttlMs: 1000 });
    await db.set('forever', 'v');
    clock.advance(999);
    expect(await db.get('short')).toBe('v');
    expect(await scanKeys(db)).toEqual(['forever', 'short']);
    clock.advance(1);
    expect(await db.get('short')).toBeUndefined();
    expect(await scanKeys(db)).toEqual(['forever']);
    expect(await db.get('forever')).toBe('v');
    await closeAndValidate(db);
  });

  it('a key reads as missing once its expiresAtMs has passed, and a past expiry is missing at once', async () => {
    const clock = new TestClock();
    const db = await openFresh({ clock });
    await db.set('at', 'v', { expiresAtMs: clock.wall + 5000 });
    await db.set('past', 'v', { expiresAtMs: clock.wall - 1 });
    expect(await db.get('past')).toBeUndefined();
    clock.advance(4999);
    expect(await db.get('at')).toBe('v');
    clock.advance(1);
    expect(await db.get('at')).toBeUndefined();
    await closeAndValidate(db);
  });

  it('an expired key stays missing after reopen and can be set again', async () => {
    const clock = new TestClock();
    const db = await openFresh({ clock });
    await db.set('k', 'old', { ttlMs: 100 });
    await db.set('later', 'v', { ttlMs: 10_000 });
    clock.advance(100);
    const reopened = await reopen(db, { clock });
    expect(await reopened.get('k')).toBeUndefined();
    expect(await reopened.get('later')).toBe('v');
    await reopened.set('k', 'new');
    expect(await reopened.get('k')).toBe('new');
    await closeAndValidate(reopened);
  });
});

describe('reopen', () => {
  it('data survives close and reopen', async () => {
    const db = await openFresh();
    await db.set('bytes', new Uint8Array([1, 2, 3]));
    await db.set('string', '😀');
    await db.set('int', INT64_MIN);
    await db.set('gone', 'x');
    await db.del('gone');
    const reopened = await reopen(db);
    expect(await scanAll(reopened)).toEqual([
      ['bytes', new Uint8Array([1, 2, 3])],
      ['int', INT64_MIN],
      ['string', '😀'],
    ]);
    await closeAndValidate(reopened);
  });

  it('data survives reopen after many writes with checkpoints in between', async () => {
    const seed = testSeed();
    console.log(`many writes: seed ${seed}`);
    const rng = new SeededRandom(seed);
    let db = await openFresh(SMALL);
    const model = new Map<string, Value>();
    const keyOf = (n: number) => `${rng.pick(['k', 'é', '😀', '\uFFFF'])}${n}`;
    const names = Array.from({ length: 1500 }, (_, n) => keyOf(n));
    for (let round = 0; round < 3; round++) {
      for (let batch = 0; batch < 30; batch++) {
        const writes: Promise<void>[] = [];
        for (let i = 0; i < 50; i++) {
          const key = rng.pick(names);
          const durability = rng.chance(0.1) ? 'relaxed' : 'fsync';
          if (rng.chance(0.2)) {
            model.delete(key);
            writes.push(db.del(key, { durability }));
          } else {
            const value: Value = rng.pick<() => Value>([
              () => rng.bytes(rng.int(200)),
              () => `v${rng.nextU32()}😀`,
              () => BigInt.asIntN(64, BigInt(rng.nextU32()) << 32n),
            ])();
            model.set(key, value);
            writes.push(db.set(key, value, { durability }));
          }
        }
        await Promise.all(writes); // per-key order is submission order, so the model's last write wins
        if (rng.chance(0.2)) await db.checkpoint();
      }
      expect(db.stats().checkpoints).toBeGreaterThan(0);
      db = await reopen(db, SMALL);
      const expected = [...model].sort(([left], [right]) => byUtf8(left, right));
      expect(await scanAll(db)).toEqual(expected);
      for (const [key, value] of expected.slice(0, 100)) expect(await db.get(key)).toEqual(value);
    }
    await closeAndValidate(db);
  });
});

/** The process start time that database-lock.ts records: /proc/<pid>/stat field 22. */
function processStartTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

describe('LOCK', () => {
  it('a second open of the same directory in the same process fails with DATABASE_LOCKED, and works after close', async () => {
    const db = await openFresh();
    await db.set('k', 'v');
    const second = await Database.open(db.directory).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(second).toBeInstanceOf(JubilantError);
    expect((second as JubilantError).code).toBe('DATABASE_LOCKED');
    expect(await db.get('k')).toBe('v'); // the failed open disturbed nothing
    const reopened = await reopen(db);
    expect(await reopened.get('k')).toBe('v');
    await closeAndValidate(reopened);
  });

  it('a LOCK left by a dead process is taken over', async () => {
    const directory = await tempDir('jubilant-api-');
    const dead = spawnSync(process.execPath, ['-e', '']);
    expect(dead.pid).toBeGreaterThan(0);
    await writeFile(join(directory, LOCK_FILE), `pid=${dead.pid} start=123\n`);
    const db = await Database.open(directory);
    onTestFinished(() => db.close().catch(() => undefined));
    expect(await readFile(join(directory, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^pid=${process.pid} `));
    await db.set('k', 'v');
    await closeAndValidate(db);
  });

  it('a LOCK naming a live pid with another start time (a recycled pid) is taken over', async () => {
    const directory = await tempDir('jubilant-api-');
    await writeFile(join(directory, LOCK_FILE), `pid=${process.pid} start=1\n`);
    const db = await Database.open(directory);
    onTestFinished(() => db.close().catch(() => undefined));
    expect(await readFile(join(directory, LOCK_FILE), 'utf8')).not.toBe(`pid=${process.pid} start=1\n`);
    await closeAndValidate(db);
  });

  it('an empty LOCK (its owner died while writing it) is taken over', async () => {
    const directory = await tempDir('jubilant-api-');
    await writeFile(join(directory, LOCK_FILE), '');
    const db = await Database.open(directory);
    onTestFinished(() => db.close().catch(() => undefined));
    expect(await readFile(join(directory, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^pid=${process.pid} `));
    await closeAndValidate(db);
  });

  it.runIf(process.platform === 'linux')(
    'a LOCK held by another live process fails with DATABASE_LOCKED and is left alone, and is taken over once that process dies',
    async () => {
      const directory = await tempDir('jubilant-api-');
      const owner: ChildProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], {
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => owner.once('exit', resolve));
      onTestFinished(() => void owner.kill('SIGKILL'));
      const pid = owner.pid as number;
      const lock = `pid=${pid} start=${processStartTime(pid)}\n`;
      await writeFile(join(directory, LOCK_FILE), lock);
      const error = await Database.open(directory).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect((error as JubilantError).code).toBe('DATABASE_LOCKED');
      expect((error as Error).message).toContain(String(pid));
      expect(await readFile(join(directory, LOCK_FILE), 'utf8')).toBe(lock);
      owner.kill('SIGKILL');
      await exited;
      const db = await Database.open(directory);
      onTestFinished(() => db.close().catch(() => undefined));
      expect(await readFile(join(directory, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^pid=${process.pid} `));
      await closeAndValidate(db);
    },
  );

  it('close releases the LOCK', async () => {
    const db = await openFresh();
    await closeAndValidate(db);
    await expect(readFile(join(db.directory, LOCK_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('close', () => {
  it('operations after close fail with CLOSED, and a second close is harmless', async () => {
    const db = await openFresh();
    await db.set('k', 'v');
    await closeAndValidate(db);
    const attempts: (() => Promise<unknown>)[] = [
      () => db.get('k'),
      () => db.set('k', 'w'),
      () => db.del('k'),
      () => scanKeys(db),
      () => db.checkpoint(),
    ];
    for (const attempt of attempts) {
      await expect(Promise.resolve().then(attempt)).rejects.toMatchObject({ code: 'CLOSED' });
    }
    await db.close();
    const reopened = await Database.open(db.directory);
    expect(await reopened.get('k')).toBe('v');
    await closeAndValidate(reopened);
  });

  it('close waits for writes submitted before it, and they are durable', async () => {
    const db = await openFresh();
    const writes = Array.from({ length: 20 }, (_, i) => db.set(`k${i}`, BigInt(i)));
    const closing = db.close();
    const outcomes = await Promise.allSettled(writes);
    await closing;
    expect(
      outcomes.map((outcome) => (outcome.status === 'fulfilled' ? 'ok' : String(outcome.reason))),
    ).toEqual(writes.map(() => 'ok'));
    const reopened = await Database.open(db.directory);
    onTestFinished(() => reopened.close().catch(() => undefined));
    expect(await scanKeys(reopened)).toHaveLength(20);
    await closeAndValidate(reopened);
  });
});

describe('concurrent commits', () => {
  it('concurrent sets to one key apply in submission order, so the last one submitted wins, also after reopen', async () => {
    const db = await openFresh();
    const writes = Array.from({ length: 100 }, (_, i) =>
      db.set('k', BigInt(i), { durability: i % 3 === 0 ? 'relaxed' : 'fsync' }),
    );
    await Promise.all(writes);
    expect(await db.get('k')).toBe(99n);
    const reopened = await reopen(db);
    expect(await reopened.get('k')).toBe(99n);
    await closeAndValidate(reopened);
  });

  it('concurrent sets and deletes of one key end with the last one submitted', async () => {
    const db = await openFresh();
    const ops = Array.from({ length: 60 }, (_, i) => (i % 4 === 3 ? db.del('k') : db.set('k', `v${i}`)));
    ops.push(db.set('k', 'last-set'), db.del('k'));
    await Promise.all(ops);
    expect(await db.get('k')).toBeUndefined();
    await Promise.all([db.del('k'), db.set('k', 'after'), db.set('k', 'final')]);
    expect(await db.get('k')).toBe('final');
    const reopened = await reopen(db);
    expect(await reopened.get('k')).toBe('final');
    await closeAndValidate(reopened);
  });

  it('group commit batches 200 concurrent commits into far fewer WAL batches', async () => {
    const db = await openFresh();
    await db.set('warm-up', 'x');
    const before = db.stats();
    await Promise.all(Array.from({ length: 200 }, (_, i) => db.set(`k${i}`, BigInt(i))));
    const after = db.stats();
    const records = after.wal.records - before.wal.records;
    const batches = after.wal.batches - before.wal.batches;
    console.log(`group commit: ${records} records in ${batches} batches`);
    expect(records).toBe(200);
    expect(after.lsn.durable).toBe(after.lsn.next - 1n);
    expect(batches).toBeGreaterThan(0);
    expect(batches * 10).toBeLessThanOrEqual(records);
    await closeAndValidate(db);
  });
});
