/** Shared helpers for the transaction tests: a database on a seeded simulated file system, closed and validated at the end. */
import { expect, onTestFinished } from 'vitest';
import type { Clock } from '../../src/engine/clock.js';
import { Database, type DatabaseOptions, isJubilantError, type JubilantError } from '../../src/index.js';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateImage } from '../../src/storage/btree/validate.js';

export const DIR = '/db';

export interface Opened {
  readonly db: Database;
  readonly fs: SimFileSystem;
}

export async function openSim(seed: number, options: DatabaseOptions = {}): Promise<Opened> {
  const fs = new SimFileSystem({ seed });
  await fs.mkdir(DIR);
  const db = await Database.open(DIR, { ...options, fs });
  onTestFinished(() => db.close().catch(() => undefined));
  return { db, fs };
}

export async function reopenSim(opened: Opened, options: DatabaseOptions = {}): Promise<Opened> {
  await opened.db.close();
  const db = await Database.open(DIR, { ...options, fs: opened.fs });
  onTestFinished(() => db.close().catch(() => undefined));
  return { db, fs: opened.fs };
}

/** Closes the database and runs the structural validator over its image. */
export async function closeAndValidate({ db, fs }: Opened): Promise<void> {
  await db.close();
  const manifest = await readManifest(fs, DIR);
  const report = await validateImage(fs, DIR, {
    pageSizeBytes: manifest.pageSizeBytes,
    databaseUuid: manifest.databaseUuid,
  });
  expect(report.errors).toEqual([]);
  expect(report.ok).toBe(true);
}

/** Awaits a promise that must reject with a JubilantError, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<JubilantError> {
  try {
    await promise;
  } catch (error) {
    if (isJubilantError(error)) return error;
    throw error;
  }
  throw new Error('expected the promise to reject with a JubilantError');
}

/** A clock the test moves by hand (wall and monotonic together). */
export class ManualClock implements Clock {
  private offsetMs = 0;
  private readonly wallBase = Date.now();
  private readonly monoBase = performance.now();

  wallMs(): number {
    return this.wallBase + this.offsetMs;
  }

  monoMs(): number {
    return this.monoBase + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
