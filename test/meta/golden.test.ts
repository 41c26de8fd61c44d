// Proves the MANIFEST and superblock bytes are frozen: encoding matches test/golden, and the golden bytes decode field by field.
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import { encodeManifest, type Manifest, readManifest } from '../../src/meta/manifest.js';
import { SCHEMA_SHA256 } from '../../src/meta/schema-hashes.js';
import { encodeSuperblockFile, readSuperblockSlot, type Superblock } from '../../src/meta/superblock.js';
import { fromHex, toHex } from '../../src/util/bytes.js';
import { encodeFrame } from '../../src/util/checksummed-frame.js';
import { lsn, pageId } from '../../src/util/ids.js';
import { expectGolden, readGolden } from '../helpers/golden.js';

const UUID_HEX = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';

const GOLDEN_MANIFEST: Manifest = {
  formatMajor: 1,
  formatMinor: 0,
  schemaHashes: [
    { name: 'disk', sha256: fromHex(SCHEMA_SHA256.disk) },
    { name: 'wal', sha256: fromHex(SCHEMA_SHA256.wal) },
    { name: 'wire', sha256: fromHex(SCHEMA_SHA256.wire) },
  ],
  databaseUuid: fromHex(UUID_HEX),
  createdAtMs: 1_795_000_000_123,
  pageSizeBytes: 16384,
  inlineValueThresholdBytes: 1024,
  keySizeMaxBytes: 4026,
  valueSizeMaxBytes: 64 * 1024 * 1024,
  hashAlgorithm: 'sha256',
  generation: 3n,
};

const GOLDEN_SUPERBLOCK: Superblock = {
  generation: 42n,
  databaseUuid: fromHex(UUID_HEX),
  treeRootPageId: pageId(17),
  freeListRootPageId: pageId(23),
  pageCount: 64,
  checkpointLsn: lsn(123_456_789n),
  wallBaseMs: 1_795_000_000_000,
  monoBaseMs: 5321.5,
  nowFloorMs: 1_795_000_004_321,
};

async function fsWith(files: Record<string, Uint8Array>): Promise<SimFileSystem> {
  const fs = new SimFileSystem({ seed: 1 });
  await fs.mkdir('/db');
  for (const [name, bytes] of Object.entries(files)) {
    const file = await fs.open(`/db/${name}`, { create: true });
    await file.write(0, bytes);
    await file.close();
  }
  return fs;
}

describe('golden files: disk formats', () => {
  it('a MANIFEST encodes to the golden bytes', () => {
    expectGolden('manifest', encodeFrame(encodeManifest(GOLDEN_MANIFEST)));
  });

  it('the golden MANIFEST decodes to every expected field', async () => {
    const manifest = await readManifest(await fsWith({ MANIFEST: readGolden('manifest') }), '/db');
    expect(manifest.formatMajor).toBe(1);
    expect(manifest.formatMinor).toBe(0);
    expect(manifest.schemaHashes.map((entry) => [entry.name, toHex(entry.sha256)])).toEqual([
      ['disk', SCHEMA_SHA256.disk],
      ['wal', SCHEMA_SHA256.wal],
      ['wire', SCHEMA_SHA256.wire],
    ]);
    expect(toHex(manifest.databaseUuid)).toBe(UUID_HEX);
    expect(manifest.createdAtMs).toBe(1_795_000_000_123);
    expect(manifest.pageSizeBytes).toBe(16384);
    expect(manifest.inlineValueThresholdBytes).toBe(1024);
    expect(manifest.keySizeMaxBytes).toBe(4026);
    expect(manifest.valueSizeMaxBytes).toBe(67_108_864);
    expect(manifest.hashAlgorithm).toBe('sha256');
    expect(manifest.generation).toBe(3n);
  });

  it('a superblock encodes to the golden bytes', () => {
    expectGolden('superblock', encodeSuperblockFile(GOLDEN_SUPERBLOCK));
  });

  it('the golden superblock decodes to every expected field', async () => {
    const fs = await fsWith({ SUPERBLOCK_A: readGolden('superblock') });
    const read = await readSuperblockSlot(fs, '/db', 'A', fromHex(UUID_HEX));
    if (read.state !== 'valid') throw new Error(`golden superblock is ${read.state}`);
    const superblock = read.superblock;
    expect(superblock.generation).toBe(42n);
    expect(toHex(superblock.databaseUuid)).toBe(UUID_HEX);
    expect(superblock.treeRootPageId).toBe(17);
    expect(superblock.freeListRootPageId).toBe(23);
    expect(superblock.pageCount).toBe(64);
    expect(superblock.checkpointLsn).toBe(123_456_789n);
    expect(superblock.wallBaseMs).toBe(1_795_000_000_000);
    expect(superblock.monoBaseMs).toBe(5321.5);
    expect(superblock.nowFloorMs).toBe(1_795_000_004_321);
  });
});
