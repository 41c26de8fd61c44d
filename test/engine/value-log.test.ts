// The value log end to end on real files (issue 6): values above the inline threshold round-trip up to
// 64 MiB through get, scan and transactions and across reopen; live/dead accounting follows overwrites
// and deletes and is rebuilt equal at open; a damaged record or one holding another key is a typed
// corruption error, never wrong data; open cuts an unreferenced tail and reports a referenced record
// that is gone.
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Database, type DatabaseOptions, isJubilantError } from '../../src/index.js';
import { NodeFileSystem } from '../../src/io/node-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateImage } from '../../src/storage/btree/validate.js';
import {
  VLOG_SEGMENT_HEADER_BYTES,
  vlogSegmentFileName,
} from '../../src/storage/vlog/vlog-segment-format.js';
import { closeAndValidate } from '../helpers/close-and-validate.js';
import { tempDir } from '../helpers/temp-dir.js';

const MiB = 1024 * 1024;

async function openFresh(options: DatabaseOptions = {}): Promise<Database> {
  return track(await Database.open(await tempDir('jubilant-vlog-'), options));
}

function track(db: Database): Database {
  onTestFinished(() => db.close().catch(() => undefined));
  return db;
}

async function reopen(db: Database, options: DatabaseOptions = {}): Promise<Database> {
  await db.close();
  return track(await Database.open(db.directory, options));
}

/** A value whose every byte depends on its key and position, so a mix-up cannot go unnoticed. */
function patterned(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  return bytes;
}

/**
 * Byte-exact comparison that stays fast for 64 MiB (vitest's toEqual walks a typed array element by
 * element); on a mismatch it names the first differing offset.
 */
function expectSameBytes(actual: unknown, expected: Uint8Array, what: string): void {
  expect(actual instanceof Uint8Array, `${what}: not bytes`).toBe(true);
  const bytes = actual as Uint8Array;
  expect(bytes.byteLength, `${what}: length`).toBe(expected.byteLength);
  if (Buffer.compare(bytes, expected) === 0) return;
  const at = bytes.findIndex((byte, index) => byte !== expected[index]);
  expect.fail(`${what}: first difference at byte ${at}`);
}

function segmentPath(db: Database, segment = 1): string {
  return join(db.directory, vlogSegmentFileName(segment));
}

async function expectCorruption(attempt: Promise<unknown>, fileName: string): Promise<void> {
  const error = await attempt.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isJubilantError(error, 'CORRUPTION'), String(error)).toBe(true);
  expect((error as Error).message).toContain(fileName);
}

describe('value log', () => {
  it('round-trips values from just above the inline threshold to 64 MiB, through every read path and a reopen', async () => {
    let db = await openFresh();
    const sizes = [1025, 4096, 100_000, 3 * MiB, 64 * MiB];
    for (const [index, size] of sizes.entries()) await db.set(`big:${index}`, patterned(size, index));
    await db.set('small', 'inline');
    await db.set('text', 'ü'.repeat(2000)); // 4000 UTF-8 bytes: a string in the value log
    const check = async (where: string): Promise<void> => {
      for (const [index, size] of sizes.entries()) {
        expectSameBytes(await db.get(`big:${index}`), patterned(size, index), `${where}: get big:${index}`);
      }
      expect(await db.get('text')).toBe('ü'.repeat(2000));
      const scanned = new Map<string, unknown>();
      for await (const { key, value } of db.scan({ prefix: 'big:' })) scanned.set(key, value);
      expect(scanned.size).toBe(sizes.length);
      expectSameBytes(scanned.get('big:1'), patterned(4096, 1), 'scan big:1');
      const result = await db.transaction({
        keys: [
          { id: 0, mode: 'R', key: 'big:2' },
          { id: 1, mode: 'R', key: 'small' },
        ],
        ops: [
          { op: 'GET', id: 0 },
          { op: 'GET', id: 1 },
        ],
      });
      expectSameBytes(result.results[0], patterned(100_000, 2), 'transaction GET big:2');
      expect(result.results[1]).toBe('inline');
    };
    await check('before reopen');
    expect(db.stats().valueLog.recordsAppended).toBe(sizes.length + 1);
    db = await reopen(db); // a fresh cache: every value is read back from its segment
    await check('after reopen');
    await closeAndValidate(db);
  });

  it('keeps live and dead bytes per segment through overwrites and deletes, and rebuilds them equal at open', async () => {
    let db = await openFresh();
    for (let i = 0; i < 10; i++) await db.set(`k${i}`, patterned(5000, i));
    const full = db.stats().valueLog;
    expect(full.liveBytes).toBe(full.totalBytes);
    for (let i = 0; i < 5; i++) await db.set(`k${i}`, patterned(5000, i + 100)); // 5 overwrites
    await db.del('k9');
    await db.set('k8', 'now inline'); // a value-log value replaced by an inline one
    const after = db.stats().valueLog;
    const recordBytes = full.totalBytes / 10;
    expect(after.totalBytes).toBe(full.totalBytes + 5 * recordBytes);
    expect(after.liveBytes).toBe(full.liveBytes - 2 * recordBytes);
    expect(after.liveRatio).toBeCloseTo((8 * recordBytes) / (15 * recordBytes));
    db = await reopen(db);
    const rebuilt = db.stats().valueLog;
    expect({ live: rebuilt.liveBytes, total: rebuilt.totalBytes }).toEqual({
      live: after.liveBytes,
      total: after.totalBytes,
    });
    expectSameBytes(await db.get('k0'), patterned(5000, 100), 'k0');
    expectSameBytes(await db.get('k5'), patterned(5000, 5), 'k5');
    await closeAndValidate(db);
  });

  it('rolls over to a new segment at the configured size; a value larger than a segment gets its own', async () => {
    const db = await openFresh({ vlogSegmentBytes: 64 * 1024 });
    for (let i = 0; i < 20; i++) await db.set(`k${i}`, patterned(10_000, i));
    await db.set('huge', patterned(200_000, 99));
    const segments = db.stats().valueLog.segments;
    expect(segments).toBeGreaterThanOrEqual(4);
    for (let segment = 1; segment < segments; segment++) {
      const size = (await stat(segmentPath(db, segment))).size;
      // Sealed before a record would pass the size, unless one record alone is larger.
      expect(size <= 64 * 1024 || size - VLOG_SEGMENT_HEADER_BYTES > 64 * 1024).toBe(true);
    }
    const reopened = await reopen(db, { vlogSegmentBytes: 64 * 1024 });
    for (let i = 0; i < 20; i++) expectSameBytes(await reopened.get(`k${i}`), patterned(10_000, i), `k${i}`);
    expectSameBytes(await reopened.get('huge'), patterned(200_000, 99), 'huge');
    await closeAndValidate(reopened);
  });

  it('a damaged record is a CORRUPTION error naming the segment; other keys still read and the database stays up', async () => {
    let db = await openFresh();
    await db.set('a', patterned(3000, 1));
    await db.set('b', patterned(3000, 2));
    await db.close();
    const path = segmentPath(db);
    const bytes = await readFile(path);
    bytes.writeUInt8(
      (bytes.readUInt8(VLOG_SEGMENT_HEADER_BYTES + 1500) ^ 0x10) & 0xff,
      VLOG_SEGMENT_HEADER_BYTES + 1500,
    ); // inside a record
    await writeFile(path, bytes);
    db = track(await Database.open(db.directory));
    await expectCorruption(db.get('a'), vlogSegmentFileName(1));
    expectSameBytes(await db.get('b'), patterned(3000, 2), 'b');
    await db.set('c', 'still writable');
    expect(await db.get('c')).toBe('still writable');
  });

  it('the validator checks every value-log pointer of the image and reports a damaged or missing record', async () => {
    const db = await openFresh();
    await db.set('a', patterned(3000, 1));
    await db.set('b', patterned(3000, 2));
    await db.set('small', 'inline');
    await db.close();
    const fs = new NodeFileSystem();
    const manifest = await readManifest(fs, db.directory);
    const options = { pageSizeBytes: manifest.pageSizeBytes, databaseUuid: manifest.databaseUuid };
    const clean = await validateImage(fs, db.directory, options);
    expect(clean.errors).toEqual([]);
    expect(clean.stats.valueLogPointers).toBe(2);
    const path = segmentPath(db);
    const bytes = await readFile(path);
    const at = VLOG_SEGMENT_HEADER_BYTES + 2000;
    bytes.writeUInt8((bytes.readUInt8(at) ^ 0x01) & 0xff, at);
    await writeFile(path, bytes);
    const damaged = await validateImage(fs, db.directory, options);
    expect(damaged.ok).toBe(false);
    expect(damaged.errors).toEqual([expect.stringContaining(`points at ${vlogSegmentFileName(1)}`)]);
    await writeFile(path, Buffer.alloc(0));
    await truncate(path, 0);
    const emptied = await validateImage(fs, db.directory, options);
    expect(emptied.errors.length).toBe(2);
    expect(emptied.errors.every((error) => error.includes('past the end of the segment'))).toBe(true);
  });

  it("a record holding another key's value is a CORRUPTION error, never that value", async () => {
    let db = await openFresh();
    await db.set('a', patterned(3000, 1));
    await db.set('b', patterned(3000, 2));
    await db.set('c', patterned(3000, 3)); // the newest record stays intact: open verifies it
    await db.close();
    const path = segmentPath(db);
    const bytes = await readFile(path);
    const frameBytes = (bytes.length - VLOG_SEGMENT_HEADER_BYTES) / 3;
    const at = (index: number) =>
      bytes.subarray(
        VLOG_SEGMENT_HEADER_BYTES + index * frameBytes,
        VLOG_SEGMENT_HEADER_BYTES + (index + 1) * frameBytes,
      );
    const swapped = Buffer.concat([bytes.subarray(0, VLOG_SEGMENT_HEADER_BYTES), at(1), at(0), at(2)]);
    await writeFile(path, swapped); // each record is valid on its own, but sits where the other key points
    db = track(await Database.open(db.directory));
    await expectCorruption(db.get('a'), vlogSegmentFileName(1));
    await expectCorruption(db.get('b'), vlogSegmentFileName(1));
    expectSameBytes(await db.get('c'), patterned(3000, 3), 'c');
  });

  it('open cuts bytes after the last referenced record, and keeps every referenced one', async () => {
    let db = await openFresh();
    await db.set('a', patterned(3000, 1));
    await db.set('b', patterned(3000, 2));
    await db.close();
    const path = segmentPath(db);
    const sizeBefore = (await stat(path)).size;
    // A torn or unacknowledged tail: bytes no committed WAL record points at.
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.alloc(777, 0xab)]));
    db = track(await Database.open(db.directory));
    expect((await stat(path)).size).toBe(sizeBefore);
    expectSameBytes(await db.get('a'), patterned(3000, 1), 'a');
    expectSameBytes(await db.get('b'), patterned(3000, 2), 'b');
    await db.set('c', patterned(2000, 3)); // appends continue where the cut left off
    db = await reopen(db);
    expectSameBytes(await db.get('c'), patterned(2000, 3), 'c');
    await closeAndValidate(db);
  });

  it('open reports a referenced record that is gone, and changes nothing', async () => {
    const db = await openFresh();
    await db.set('a', patterned(3000, 1));
    await db.set('b', patterned(3000, 2));
    await db.checkpoint();
    await db.close();
    const path = segmentPath(db);
    const size = (await stat(path)).size;
    await truncate(path, size - 100); // b's record loses its end
    const error = await Database.open(db.directory).then(
      (opened) => {
        track(opened);
        return undefined;
      },
      (reason: unknown) => reason,
    );
    expect(isJubilantError(error, 'CORRUPTION'), String(error)).toBe(true);
    expect((error as Error).message).toContain(vlogSegmentFileName(1));
    expect((await stat(path)).size).toBe(size - 100);
  });

  it('a last segment whose header never became durable is removed at open', async () => {
    let db = await openFresh();
    await db.set('a', patterned(3000, 1));
    await db.close();
    await writeFile(segmentPath(db, 2), Buffer.alloc(100, 0x5a)); // a torn creation: no valid header
    db = track(await Database.open(db.directory));
    expectSameBytes(await db.get('a'), patterned(3000, 1), 'a');
    expect(db.stats().valueLog.segments).toBe(1);
    await db.set('b', patterned(3000, 2)); // goes into a freshly created segment 2
    db = await reopen(db);
    expectSameBytes(await db.get('b'), patterned(3000, 2), 'b');
    await closeAndValidate(db);
  });
});
