/**
 * Opens an engine Database on a SimFileSystem as a fresh boot would (a LOCK left by the crashed
 * in-process "process" carries our own live pid, so it is removed first), with the copy-on-write and
 * write-ahead checkers watching every data.pages write.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { Database, type DatabaseOptions } from '../../src/engine/database.js';
import type { SimFileSystem } from '../../src/io/sim-file-system.js';
import { attachCowChecker, type CowChecker } from './cow-checker.js';
import { attachWriteAheadChecker, type WriteAheadChecker } from './write-ahead-checker.js';

export interface CheckedDatabase {
  readonly db: Database;
  readonly checkers: { readonly cow: CowChecker; readonly writeAhead: WriteAheadChecker };
}

export async function openChecked(
  fs: SimFileSystem,
  directory: string,
  options: DatabaseOptions & { readonly pageSizeBytes: number },
): Promise<CheckedDatabase> {
  if (await fs.exists(join(directory, 'LOCK'))) await fs.unlink(join(directory, 'LOCK'));
  const cow = attachCowChecker(fs, directory, { pageSizeBytes: options.pageSizeBytes });
  const writeAhead = attachWriteAheadChecker(fs, directory, { pageSizeBytes: options.pageSizeBytes });
  const db = await Database.open(directory, { ...options, fs });
  writeAhead.setDurableLsn(() => db.stats().lsn.durable);
  return { db, checkers: { cow, writeAhead } };
}

export function expectCheckersClean(opened: CheckedDatabase): void {
  expect(opened.checkers.cow.messages).toEqual([]);
  expect(opened.checkers.writeAhead.messages).toEqual([]);
}
