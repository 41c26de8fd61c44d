// Proves that ENOSPC from a WAL batch write gives the batch's fsync commits a retryable DISK_FULL and nothing else: reads go on, rejected values never appear, relaxed commits already accepted stay and become durable, and writing resumes once space returns, without a restart (TESTING.md #8).
import { describe, expect, it } from 'vitest';
import type { Database, DatabaseOptions } from '../../src/engine/database.js';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateBothImages, validateImage } from '../../src/storage/btree/validate.js';
import { isJubilantError } from '../../src/util/errors.js';
import { testSeed } from '../../src/util/random.js';
import { type CheckedDatabase, expectCheckersClean, openChecked } from '../helpers/checked-open.js';

const DIR = '/db';
const PAGE_SIZE_BYTES = 4096;
const WAL_FILE = /wal-\d+\.(log|spare)$/;
const OPTIONS: DatabaseOptions = {
  pageSizeBytes: PAGE_SIZE_BYTES,
  cacheBytes: 1024 * 1024,
  walSegmentBytes: 64 * 1024,
  checkpointIntervalMs: 0,
};
/** Longer than the group commit's pause between retries of a batch that met ENOSPC (50 ms). */
const RETRY_WAIT_MS = 200;

type State = Record<string, string>;

type Opened = CheckedDatabase;

function open(fs: SimFileSystem, options: DatabaseOptions = {}): Promise<Opened> {
  return openChecked(fs, DIR, { ...OPTIONS, ...options, pageSizeBytes: PAGE_SIZE_BYTES });
}

async function readState(db: Database): Promise<State> {
  const state: State = {};
  for await (const { key, value } of db.scan()) state[key] = String(value);
  return state;
}

async function expectDiskFull(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error, 'a commit whose WAL write met ENOSPC was acknowledged').toBeDefined();
  expect(isJubilantError(error, 'DISK_FULL'), `expected DISK_FULL, got ${String(error)}`).toBe(true);
  expect((error as { retryable?: boolean }).retryable).toBe(true);
}

async function expectValid(fs: SimFileSystem): Promise<void> {
  const manifest = await readManifest(fs, DIR);
  const options = { pageSizeBytes: manifest.pageSizeBytes, databaseUuid: manifest.databaseUuid };
  expect((await validateImage(fs, DIR, options)).errors).toEqual([]);
  expect((await validateBothImages(fs, DIR, options)).errors).toEqual([]);
}

/** Whether `promise` is still pending after `ms` milliseconds. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending');
  const timeout = new Promise((resolve) => setTimeout(() => resolve(marker), ms));
  return (await Promise.race([promise.then(() => undefined), timeout])) === marker;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Cuts the power (after everything acknowledged was made durable), reopens, and returns the state. */
async function stateAfterPowerLoss(fs: SimFileSystem): Promise<{ state: State; fs: SimFileSystem }> {
  const { fs: next } = fs.powerLoss();
  const opened = await open(next);
  const state = await readState(opened.db);
  await opened.db.close();
  expectCheckersClean(opened);
  await expectValid(next);
  return { state, fs: next };
}

describe('a full disk under the WAL', () => {
  it('ENOSPC from the batch write fails its fsync commits with retryable DISK_FULL until space returns', async () => {
    const seed = testSeed();
    console.log(`disk-full: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const fs = new SimFileSystem({ seed, trace: true });
    const opened = await open(fs);
    const { db } = opened;
    await db.set('a', 'durable-a');
    await db.set('b', 'durable-b');

    fs.failCall({ kind: 'write', path: WAL_FILE, errno: 'ENOSPC', persistent: true });
    // One batch: the relaxed commit is acknowledged on acceptance and stays queued for the retry.
    const relaxed = db.set('r', 'relaxed-r', { durability: 'relaxed' });
    const rejected = [db.set('a', 'rejected-a'), db.set('c', 'rejected-c'), db.del('b')];
    await relaxed;
    for (const commit of rejected) await expectDiskFull(commit);

    // Reads go on and show none of the rejected values; the database is not read-only.
    expect(db.stats().readOnly).toBeUndefined();
    expect(await db.get('a')).toBe('durable-a');
    expect(await db.get('b')).toBe('durable-b');
    expect(await db.get('c')).toBeUndefined();
    // A read of the relaxed key waits for it to be durable: it is not durable while the disk is full.
    const relaxedRead = db.get('r');
    expect(await pendingAfter(relaxedRead, RETRY_WAIT_MS)).toBe(true);
    // Later fsync commits keep failing, retryably, while the disk stays full.
    await expectDiskFull(db.set('c', 'rejected-c-2'));
    const failedWrites = fs.callTrace().filter((call) => call.kind === 'write' && WAL_FILE.test(call.path));
    expect(failedWrites.length, 'the batch was retried while the disk was full').toBeGreaterThan(2);

    fs.clearFaults(); // space returns
    expect(await relaxedRead).toBe('relaxed-r');
    await db.set('d', 'after space returned');
    await db.del('a');
    expect(await readState(db)).toEqual({ b: 'durable-b', d: 'after space returned', r: 'relaxed-r' });
    expect(db.stats().lsn.durable).toBe(db.stats().lsn.next - 1n);
    expectCheckersClean(opened);

    const { state } = await stateAfterPowerLoss(fs);
    expect(state).toEqual({ b: 'durable-b', d: 'after space returned', r: 'relaxed-r' });
  });

  it('the disk fills at a WAL rollover: commits fail with DISK_FULL, a relaxed one accepted meanwhile survives', async () => {
    const seed = testSeed();
    console.log(`disk-full: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const fs = new SimFileSystem({ seed });
    // Tiny segments: within a few batches the WAL needs a new, preallocated segment, which needs space.
    const opened = await open(fs, { walSegmentBytes: 2048 });
    const { db } = opened;
    const acknowledged: State = {};
    for (let i = 0; i < 4; i++) {
      await db.set(`before-${i}`, `v${i}`);
      acknowledged[`before-${i}`] = `v${i}`;
    }
    fs.setFreeSpace(fs.usedBytes());
    const rejectedKeys: string[] = [];
    for (let i = 0; rejectedKeys.length === 0; i++) {
      expect(i, 'the WAL never needed space').toBeLessThan(20);
      const key = `filling-${i}`;
      try {
        await db.set(key, `f${i}`);
        acknowledged[key] = `f${i}`;
      } catch (error) {
        expect(isJubilantError(error, 'DISK_FULL') && error.retryable).toBe(true);
        rejectedKeys.push(key);
      }
    }
    await db.set('relaxed', 'accepted while full', { durability: 'relaxed' });
    const relaxedLsn = db.stats().lsn.next - 1n;
    await expectDiskFull(db.set('rejected', 'while full'));
    rejectedKeys.push('rejected');
    await sleep(RETRY_WAIT_MS); // a few failed retries of the queued relaxed record
    expect(db.stats().lsn.durable).toBeLessThan(relaxedLsn);
    expect(db.stats().readOnly).toBeUndefined();
    expect(await db.get('before-0')).toBe('v0');
    for (const key of rejectedKeys) expect(await db.get(key)).toBeUndefined();

    fs.setFreeSpace(undefined); // space returns
    await db.set('after', 'space returned');
    acknowledged.after = 'space returned';
    acknowledged.relaxed = 'accepted while full';
    expect(db.stats().lsn.durable).toBeGreaterThanOrEqual(relaxedLsn);
    expect(await readState(db)).toEqual(acknowledged);
    expectCheckersClean(opened);

    const { state } = await stateAfterPowerLoss(fs);
    expect(state).toEqual(acknowledged);
  });

  it('a commit that must wait for room while the disk is full fails with DISK_FULL instead of waiting', async () => {
    const seed = testSeed();
    console.log(`disk-full: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const fs = new SimFileSystem({ seed });
    const opened = await open(fs);
    const { db } = opened;
    await db.set('a', 'durable-a');
    const acknowledged: State = { a: 'durable-a' };

    // Relaxed commits are applied on acceptance and stay queued while the log cannot be written, so
    // their dirty pages cannot be checkpointed (the write-ahead rule): the dirty-page budget fills.
    fs.failCall({ kind: 'write', path: WAL_FILE, errno: 'ENOSPC', persistent: true });
    const filler = 'x'.repeat(100);
    let refused: unknown;
    for (let i = 0; refused === undefined; i++) {
      expect(i, 'the dirty-page budget never filled').toBeLessThan(20_000);
      const key = `relaxed-${String(i).padStart(6, '0')}`;
      try {
        await db.set(key, filler, { durability: 'relaxed' });
        acknowledged[key] = filler;
      } catch (error) {
        refused = error;
      }
    }
    expect(isJubilantError(refused, 'DISK_FULL'), `expected DISK_FULL, got ${String(refused)}`).toBe(true);
    expect((refused as { retryable?: boolean }).retryable).toBe(true);
    expect(Object.keys(acknowledged).length).toBeGreaterThan(100);
    await expectDiskFull(db.set('fsync', 'while full'));
    expect(db.stats().readOnly).toBeUndefined();
    expect(await db.get('a')).toBe('durable-a');

    fs.clearFaults(); // space returns: the log's next retry catches up, a checkpoint frees room
    await sleep(RETRY_WAIT_MS);
    await db.set('after', 'space returned');
    acknowledged.after = 'space returned';
    expect(db.stats().lsn.durable).toBe(db.stats().lsn.next - 1n);
    expect(await readState(db)).toEqual(acknowledged);
    expectCheckersClean(opened);

    const { state } = await stateAfterPowerLoss(fs);
    expect(state).toEqual(acknowledged);
  });

  it('relaxed commits stop being accepted once the unwritten backlog reaches its bound', async () => {
    const seed = testSeed();
    console.log(`disk-full: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const fs = new SimFileSystem({ seed });
    const backlogBytesMax = 16 * 1024;
    const opened = await open(fs, { relaxedBacklogBytesMax: backlogBytesMax });
    const { db } = opened;
    await db.set('a', 'durable-a');

    // One hot key: its page is dirtied once, so only the log's backlog grows while it cannot write.
    fs.failCall({ kind: 'write', path: WAL_FILE, errno: 'ENOSPC', persistent: true });
    let accepted = 0;
    let refused: unknown;
    for (let i = 0; refused === undefined; i++) {
      expect(i, 'relaxed commits were accepted without bound').toBeLessThan(10_000);
      try {
        await db.set('hot', `v${i}`, { durability: 'relaxed' });
        accepted += 1;
      } catch (error) {
        refused = error;
      }
    }
    expect(isJubilantError(refused, 'DISK_FULL'), `expected DISK_FULL, got ${String(refused)}`).toBe(true);
    // Accepted up to the bound (plus the record that crossed it), no further: each record is between
    // 32 and 256 bytes, so the count pins the backlog near the bound.
    expect(accepted * 256).toBeGreaterThan(backlogBytesMax);
    expect(accepted * 32).toBeLessThan(backlogBytesMax);
    expect(await db.get('a')).toBe('durable-a');

    fs.clearFaults();
    await sleep(RETRY_WAIT_MS);
    await db.set('after', 'space returned');
    const expected = { a: 'durable-a', hot: `v${accepted - 1}`, after: 'space returned' };
    expect(await readState(db)).toEqual(expected);
    expectCheckersClean(opened);
    const { state } = await stateAfterPowerLoss(fs);
    expect(state).toEqual(expected);
  });

  it('rejected commits leave no trace in the log: a reopen never replays them', async () => {
    const seed = testSeed();
    console.log(`disk-full: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const fs = new SimFileSystem({ seed });
    const opened = await open(fs);
    const { db } = opened;
    await db.set('k', 'durable');
    fs.failCall({ kind: 'write', path: WAL_FILE, errno: 'ENOSPC' }); // once
    const relaxed = db.set('r', 'relaxed', { durability: 'relaxed' });
    const rejected = db.set('k', 'rejected');
    await relaxed;
    await expectDiskFull(rejected);
    await db.set('after', 'retry succeeded'); // the retried batch carries the rejected commit as an empty one
    expectCheckersClean(opened);

    // SIGKILL, so the reopen replays the WAL (a close would checkpoint first).
    const restarted = fs.processCrash();
    const reopened = await open(restarted);
    expect(reopened.db.stats().lsn.checkpoint).toBe(0n);
    expect(await readState(reopened.db)).toEqual({ k: 'durable', r: 'relaxed', after: 'retry succeeded' });
    await reopened.db.close();
    expectCheckersClean(reopened);
    await expectValid(restarted);
  });
});
