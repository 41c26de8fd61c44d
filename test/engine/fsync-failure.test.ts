// Proves that a failed fdatasync (of the WAL or of a checkpoint) is never acknowledged nor retried, turns the database read-only serving only durable data, and that a reopen recovers every acknowledged commit (TESTING.md #6).
import { describe, expect, it } from 'vitest';
import type { Database, DatabaseOptions } from '../../src/engine/database.js';
import type { IoCallRecord } from '../../src/io/sim-file-system.js';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateBothImages, validateImage } from '../../src/storage/btree/validate.js';
import { isJubilantError } from '../../src/util/errors.js';
import { testSeed } from '../../src/util/random.js';
import { type CheckedDatabase, expectCheckersClean, openChecked } from '../helpers/checked-open.js';

const DIR = '/db';
const PAGE_SIZE_BYTES = 4096;
const WAL_FILE = /wal-\d+\.log$/;
const DATA_PAGES = /data\.pages$/;
const SUPERBLOCK = /SUPERBLOCK_[AB]$/;
const OPTIONS: DatabaseOptions = {
  pageSizeBytes: PAGE_SIZE_BYTES,
  cacheBytes: 1024 * 1024,
  walSegmentBytes: 64 * 1024,
  checkpointIntervalMs: 0,
};
/** Sim seeds per scenario that draws the fate of the failed sync's pages. */
const FATE_SEEDS = Number(process.env.JUBILANT_FSYNC_FAILURE_SEEDS ?? 12);

type State = Record<string, string>;

/** Calls that change a file (reads and opens by the read-only reload are fine). */
const MUTATING_KINDS: readonly string[] = ['write', 'append', 'datasync', 'sync', 'truncate'];

type Opened = CheckedDatabase;

function open(fs: SimFileSystem, options: DatabaseOptions = {}): Promise<Opened> {
  return openChecked(fs, DIR, { ...OPTIONS, ...options, pageSizeBytes: PAGE_SIZE_BYTES });
}

/**
 * Closes and stops the checkers: the next open attaches its own. (The copy-on-write checker's "written
 * twice between superblock writes" must not carry a failed checkpoint's pages over to the next process.)
 */
async function close(opened: Opened): Promise<void> {
  await opened.db.close();
  expectCheckersClean(opened);
  opened.checkers.cow.detach();
  opened.checkers.writeAhead.detach();
}

async function readState(db: Database): Promise<State> {
  const state: State = {};
  for await (const { key, value } of db.scan()) state[key] = String(value);
  return state;
}

/**
 * The reload of the durable state after a failure runs in the background; reads of keys whose newest
 * write was not durable fail with READ_ONLY until it is done. Polls until a full scan works.
 */
async function readStateOnceReloaded(db: Database): Promise<State> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    try {
      return await readState(db);
    } catch (error) {
      if (!isJubilantError(error, 'READ_ONLY') || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

async function expectFailed(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error, 'a commit covered by the failed fdatasync was acknowledged').toBeDefined();
  expect(isJubilantError(error) ? error.code : String(error)).toMatch(/^(READ_ONLY|IO_ERROR)$/);
  return isJubilantError(error) ? error.code : '';
}

async function expectWritesRejected(db: Database): Promise<void> {
  await expect(db.set('later', 'x')).rejects.toMatchObject({ code: 'READ_ONLY' });
  await expect(db.set('later', 'x', { durability: 'relaxed' })).rejects.toMatchObject({ code: 'READ_ONLY' });
  await expect(db.del('a')).rejects.toMatchObject({ code: 'READ_ONLY' });
  await expect(db.checkpoint()).rejects.toMatchObject({ code: 'READ_ONLY' });
}

/** The calls after the first failed `kind` call on `path` since `armedAtCall`, and that failed call. */
function callsAfterFailure(
  fs: SimFileSystem,
  failure: { armedAtCall: number; kind: IoCallRecord['kind']; path: RegExp },
): { failed: IoCallRecord; after: IoCallRecord[] } {
  const trace = fs.callTrace();
  const failed = trace.find(
    (call) =>
      call.callNumber > failure.armedAtCall && call.kind === failure.kind && failure.path.test(call.path),
  );
  if (failed === undefined)
    throw new Error(`no ${failure.kind} matching ${failure.path} after the fault was armed`);
  return { failed, after: trace.filter((call) => call.callNumber > failed.callNumber) };
}

async function expectValid(fs: SimFileSystem, both: boolean): Promise<void> {
  const manifest = await readManifest(fs, DIR);
  const options = { pageSizeBytes: manifest.pageSizeBytes, databaseUuid: manifest.databaseUuid };
  const report = both ? await validateBothImages(fs, DIR, options) : await validateImage(fs, DIR, options);
  expect(report.errors).toEqual([]);
}

/** The durable state before each scenario's failure; `gone` was set and deleted. */
async function writeDurableBase(db: Database): Promise<State> {
  await db.set('a', 'durable-a');
  await db.set('b', 'durable-b');
  await db.set('gone', 'soon');
  await db.del('gone');
  return { a: 'durable-a', b: 'durable-b' };
}

describe('an EIO from the WAL fdatasync', () => {
  it('once: fails the commits of its batch, turns read-only, serves only durable data, and is not retried', async () => {
    const seed = testSeed();
    console.log(`fsync-failure: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const fs = new SimFileSystem({ seed, trace: true });
    const opened = await open(fs);
    const { db } = opened;
    const durable = await writeDurableBase(db);
    const armedAtCall = fs.callCount();
    fs.failCall({ kind: 'datasync', path: WAL_FILE, errno: 'EIO' });
    // Submitted in one turn: one batch, whose fdatasync fails.
    const relaxed = db.set('r', 'relaxed-r', { durability: 'relaxed' });
    const covered = [db.set('a', 'lost-a'), db.set('c', 'lost-c'), db.del('b')];
    await relaxed; // acknowledged on acceptance, before the failure: relaxed may lose it
    for (const commit of covered) await expectFailed(commit);

    expect(db.stats().readOnly).toMatch(/EIO/);
    await expectWritesRejected(db);
    expect(await readStateOnceReloaded(db)).toEqual(durable);
    expect(await db.get('r')).toBeUndefined(); // the relaxed write was never durable: not visible
    expect(await db.get('a')).toBe('durable-a');

    const { failed, after } = callsAfterFailure(fs, { armedAtCall, kind: 'datasync', path: WAL_FILE });
    expect(fs.faultLog().some((line) => line.startsWith(`#${failed.callNumber} `))).toBe(true);
    const walChanges = after.filter((call) => WAL_FILE.test(call.path) && MUTATING_KINDS.includes(call.kind));
    expect(walChanges, 'the WAL was written or synced again after its fdatasync failed').toEqual([]);
    await close(opened);
    const reopened = await open(fs);
    const state = await readState(reopened.db);
    // The failed batch is whole in the page cache: a reopen may replay it (an in-doubt batch) or not.
    const replayed = { a: 'lost-a', c: 'lost-c', r: 'relaxed-r' };
    expect([durable, replayed]).toContainEqual(state);
    await expectValid(fs, false);
    await reopened.db.set('after', 'writable again');
    expect(await reopened.db.get('after')).toBe('writable again');
    expect(reopened.db.stats().readOnly).toBeUndefined();
    await close(reopened);
    await expectValid(fs, true);
  });

  it('persistently: queued commits fail too, no fdatasync is retried, and a process restart recovers', async () => {
    const seed = testSeed();
    console.log(`fsync-failure: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const fs = new SimFileSystem({ seed, trace: true });
    // One record per batch: the first commit's batch fails, the others wait in the queue behind it.
    const opened = await open(fs, { groupCommitBatchBytesMax: 1 });
    const { db } = opened;
    const durable = await writeDurableBase(db);
    const armedAtCall = fs.callCount();
    fs.failCall({ kind: 'datasync', path: WAL_FILE, errno: 'EIO', persistent: true });
    const commits = [db.set('a', 'lost-a'), db.set('c', 'lost-c'), db.set('d', 'lost-d'), db.del('b')];
    for (const commit of commits) await expectFailed(commit);

    expect(db.stats().readOnly).toMatch(/EIO/);
    await expectWritesRejected(db);
    expect(await readStateOnceReloaded(db)).toEqual(durable);
    const { after } = callsAfterFailure(fs, { armedAtCall, kind: 'datasync', path: WAL_FILE });
    expect(after.filter((call) => WAL_FILE.test(call.path) && MUTATING_KINDS.includes(call.kind))).toEqual(
      [],
    );
    expect(fs.faultLog().filter((line) => / datasync .* failed with EIO$/.test(line))).toHaveLength(1);
    expectCheckersClean(opened);

    // SIGKILL: the page cache survives (and the faults belong to the dead instance).
    const afterCrash = fs.processCrash();
    const restarted = await open(afterCrash);
    const state = await readState(restarted.db);
    expect([durable, { ...durable, a: 'lost-a' }]).toContainEqual(state);
    await restarted.db.set('after', 'writable again');
    expect(await restarted.db.get('after')).toBe('writable again');
    await expectValid(afterCrash, false);
    await close(restarted);
    await expectValid(afterCrash, true);
  });

  // Known to fail (reported): the reopen trusts the page cache's copy of the failed batch, appends after
  // it, and the power loss then leaves a torn batch mid-log, which open refuses as corruption.
  it('then a reopen, more commits and a power loss: every commit acknowledged after the reopen survives', async () => {
    const base = testSeed();
    console.log(
      `fsync-failure: seeds ${base}..${base + FATE_SEEDS - 1} (replay one with JUBILANT_SEED=<seed>)`,
    );
    const seeds = process.env.JUBILANT_SEED
      ? [base]
      : Array.from({ length: FATE_SEEDS }, (_, i) => (base + i) >>> 0);
    const failures: string[] = [];
    for (const seed of seeds) {
      const outcome = await reopenAfterFailureThenPowerLoss(seed);
      if (outcome !== undefined) failures.push(`seed ${seed} (JUBILANT_SEED=${seed}): ${outcome}`);
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });
});

/**
 * A failed WAL fdatasync leaves the batch whole in the page cache but only partly (a seeded fate) on
 * disk. A reopen in the same boot reads the page cache; if it replays that batch and appends after it,
 * a later power loss must still find a log it can open, holding every commit acknowledged since.
 */
async function reopenAfterFailureThenPowerLoss(seed: number): Promise<string | undefined> {
  const fs = new SimFileSystem({ seed });
  const first = await open(fs);
  const durable = await writeDurableBase(first.db);
  fs.failCall({ kind: 'datasync', path: WAL_FILE, errno: 'EIO' });
  // Large values: the batch spans several 4 KiB blocks, so its on-disk fate can be torn.
  const big = (tag: string) => `${tag}:${'x'.repeat(400)}`;
  const covered = Array.from({ length: 24 }, (_, i) => first.db.set(`in-doubt-${i}`, big(`lost-${i}`)));
  for (const commit of covered) await expectFailed(commit);
  await close(first);

  const second = await open(fs);
  const acknowledged: State = {};
  for (let i = 0; i < 10; i++) {
    await second.db.set(`after-${i}`, big(`after-${i}`));
    acknowledged[`after-${i}`] = big(`after-${i}`);
  }
  const inDoubtReplayed = (await second.db.get('in-doubt-0')) !== undefined;
  const { fs: afterPowerLoss } = fs.powerLoss();
  let third: Opened;
  try {
    third = await open(afterPowerLoss);
  } catch (error) {
    return `reopen after the power loss failed (the in-doubt batch was ${inDoubtReplayed ? '' : 'not '}replayed before): ${String(error)}`;
  }
  const state = await readState(third.db);
  await close(third);
  for (const [key, value] of Object.entries({ ...durable, ...acknowledged })) {
    if (state[key] !== value)
      return `acknowledged ${key} is ${state[key]?.slice(0, 12)} after the power loss`;
  }
  return undefined;
}

describe('an EIO from the data.pages fdatasync of a checkpoint', () => {
  it('fails the checkpoint, turns read-only, keeps serving every acknowledged commit, and a reopen recovers', async () => {
    const seed = testSeed();
    console.log(`fsync-failure: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const fs = new SimFileSystem({ seed, trace: true });
    const opened = await open(fs);
    const { db } = opened;
    const acknowledged: State = {};
    for (let round = 0; round < 8; round++) {
      await Promise.all(
        Array.from({ length: 25 }, async (_, i) => {
          const key = `k-${round}-${i}`;
          const value = `${key}:${'v'.repeat((round * 25 + i) % 200)}`;
          await db.set(key, value);
          acknowledged[key] = value;
        }),
      );
    }
    await db.del('k-0-0');
    delete acknowledged['k-0-0'];
    const armedAtCall = fs.callCount();
    fs.failCall({ kind: 'datasync', path: DATA_PAGES, errno: 'EIO' });
    const checkpoint = db.checkpoint();
    await expect(checkpoint).rejects.toSatisfy((error: unknown) => isJubilantError(error, 'IO_ERROR'));

    expect(db.stats().readOnly).toMatch(/EIO/);
    await expectWritesRejected(db);
    expect(await readStateOnceReloaded(db)).toEqual(acknowledged);
    const { after } = callsAfterFailure(fs, { armedAtCall, kind: 'datasync', path: DATA_PAGES });
    expect(after.filter((call) => DATA_PAGES.test(call.path) && MUTATING_KINDS.includes(call.kind))).toEqual(
      [],
    );
    expect(after.filter((call) => SUPERBLOCK.test(call.path) && call.kind === 'write')).toEqual([]);
    await close(opened);
    const reopened = await open(fs);
    expect(await readState(reopened.db)).toEqual(acknowledged);
    await expectValid(fs, false);
    await reopened.db.set('after', 'writable again');
    await reopened.db.checkpoint();
    expect(await reopened.db.get('after')).toBe('writable again');
    await close(reopened);
    await expectValid(fs, true);

    // And a power loss now still finds everything (the failed checkpoint's pages were never reachable).
    const { fs: afterPowerLoss } = fs.powerLoss();
    const last = await open(afterPowerLoss);
    expect(await readState(last.db)).toEqual({ ...acknowledged, after: 'writable again' });
    await close(last);
    await expectValid(afterPowerLoss, true);
  });
});
