/** Closes a database on the real file system and runs the validator over the image open would choose. */
import { expect } from 'vitest';
import type { Database } from '../../src/index.js';
import { NodeFileSystem } from '../../src/io/node-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateImage } from '../../src/storage/btree/validate.js';

export async function closeAndValidate(db: Database): Promise<void> {
  await db.close();
  const fs = new NodeFileSystem();
  const manifest = await readManifest(fs, db.directory);
  const report = await validateImage(fs, db.directory, {
    pageSizeBytes: manifest.pageSizeBytes,
    databaseUuid: manifest.databaseUuid,
  });
  expect(report.errors).toEqual([]);
  expect(report.ok).toBe(true);
}
