// Proves MANIFEST round-trips, is replaced atomically, and refuses newer majors while opening newer minors.
import { join } from 'node:path';
import * as flatbuffers from 'flatbuffers';
import { describe, expect, it } from 'vitest';
import { Manifest as ManifestTable } from '../../src/generated/disk/manifest.js';
import { NodeFileSystem } from '../../src/io/node-file-system.js';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import {
  decodeManifest,
  encodeManifest,
  FORMAT_MAJOR,
  MANIFEST_FILE,
  type Manifest,
  newManifest,
  readManifest,
  writeManifest,
} from '../../src/meta/manifest.js';
import { SCHEMA_SHA256 } from '../../src/meta/schema-hashes.js';
import { toHex } from '../../src/util/bytes.js';
import { encodeFrame } from '../../src/util/checksummed-frame.js';
import { isJubilantError, type JubilantError } from '../../src/util/errors.js';
import { testSeed } from '../../src/util/random.js';
import { tempDir } from '../helpers/temp-dir.js';

function sample(overrides: Partial<Manifest> = {}): Manifest {
  return {
    ...newManifest({
      createdAtMs: 1_790_000_000_000,
      pageSizeBytes: 16384,
      inlineValueThresholdBytes: 1024,
      keySizeMaxBytes: 4026,
      databaseUuid: new Uint8Array(16).map((_, i) => i + 1),
    }),
    ...overrides,
  };
}

/** A manifest payload with a given format version, built directly so any major can be written. */
function payloadWithVersion(formatMajor: number, formatMinor: number): Uint8Array {
  return encodeManifest(sample({ formatMajor, formatMinor }));
}

function errorOf(action: () => unknown): JubilantError {
  try {
    action();
  } catch (error) {
    if (isJubilantError(error)) return error;
    throw error;
  }
  throw new Error('expected a JubilantError');
}

describe('manifest', () => {
  it('a new manifest records this build: format version, schema hashes, SHA-256 as the hash algorithm', () => {
    const manifest = sample();
    expect(manifest.formatMajor).toBe(FORMAT_MAJOR);
    expect(manifest.hashAlgorithm).toBe('sha256');
    expect(manifest.generation).toBe(1n);
    expect(manifest.schemaHashes.map((entry) => [entry.name, toHex(entry.sha256)])).toEqual(
      Object.entries(SCHEMA_SHA256),
    );
  });

  it('encode then decode gives back every field', () => {
    const manifest = sample();
    expect(decodeManifest(encodeManifest(manifest), 'MANIFEST')).toEqual(manifest);
  });

  it('is written atomically and read back through real files', async () => {
    const dir = await tempDir();
    const fs = new NodeFileSystem();
    await writeManifest(fs, dir, sample());
    await writeManifest(fs, dir, sample({ generation: 2n }));
    expect((await readManifest(fs, dir)).generation).toBe(2n);
    expect(await fs.list(dir)).toEqual([MANIFEST_FILE]);
  });

  it('a crash at any call of a rewrite leaves the old or the new manifest, never neither', async () => {
    const seed = testSeed();
    console.log(`manifest crash seed=${seed}`);
    for (let crashAt = 1; crashAt <= 12; crashAt++) {
      for (const mode of ['after', 'during'] as const) {
        const fs = new SimFileSystem({ seed: seed + crashAt });
        await fs.mkdir('/db');
        await writeManifest(fs, '/db', sample());
        if (mode === 'after') fs.crashAfterCall(fs.callCount() + crashAt);
        else fs.crashDuringCall(fs.callCount() + crashAt);
        await writeManifest(fs, '/db', sample({ generation: 2n })).catch(() => undefined);
        const after = fs.powerLoss().fs;
        const generation = (await readManifest(after, '/db')).generation;
        expect([1n, 2n], `crash ${mode} call +${crashAt}`).toContain(generation);
      }
    }
  });

  it('a leftover MANIFEST.tmp from a crashed rewrite is ignored and replaced', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    await fs.mkdir('/db');
    await writeManifest(fs, '/db', sample());
    const leftover = await fs.open('/db/MANIFEST.tmp', { create: true });
    await leftover.write(0, new Uint8Array([1, 2, 3]));
    await leftover.close();
    expect((await readManifest(fs, '/db')).generation).toBe(1n);
    await writeManifest(fs, '/db', sample({ generation: 2n }));
    expect((await readManifest(fs, '/db')).generation).toBe(2n);
  });

  it('a newer major version refuses to open with a clear message', () => {
    const error = errorOf(() => decodeManifest(payloadWithVersion(FORMAT_MAJOR + 1, 0), 'MANIFEST'));
    expect(error.code).toBe('VERSION_TOO_NEW');
    expect(error.message).toContain(`format major ${FORMAT_MAJOR + 1}`);
    expect(error.message).toContain('newer jubilant-db');
  });

  it('a newer major whose other fields no longer match this schema still reports VERSION_TOO_NEW', () => {
    const builder = new flatbuffers.Builder(64);
    ManifestTable.startManifest(builder);
    ManifestTable.addFormatMajor(builder, FORMAT_MAJOR + 1);
    builder.finish(builder.endObject(), 'JBDK'); // required fields missing: not this build's schema
    const error = errorOf(() => decodeManifest(builder.asUint8Array(), 'MANIFEST'));
    expect(error.code).toBe('VERSION_TOO_NEW');
  });

  it('a higher minor version opens', () => {
    expect(decodeManifest(payloadWithVersion(FORMAT_MAJOR, 7), 'MANIFEST').formatMinor).toBe(7);
  });

  it('a flipped bit in the MANIFEST file is corruption, not a wrong manifest', async () => {
    const fs = new SimFileSystem({ seed: 2 });
    await fs.mkdir('/db');
    await writeManifest(fs, '/db', sample());
    const size = (fs.snapshot('/db/MANIFEST') as Uint8Array).byteLength;
    for (let bit = 0; bit < size * 8; bit += 7) {
      fs.corruptAtRest('/db/MANIFEST', Math.floor(bit / 8), bit % 8);
      await expect(readManifest(fs, '/db'), `bit ${bit}`).rejects.toMatchObject({ code: 'CORRUPTION' });
      fs.corruptAtRest('/db/MANIFEST', Math.floor(bit / 8), bit % 8);
    }
    expect((await readManifest(fs, '/db')).generation).toBe(1n);
  });

  it('an invalid page size or UUID length inside a valid frame is corruption', () => {
    expect(errorOf(() => decodeManifest(encodeManifest(sample({ pageSizeBytes: 12288 })), 'M')).code).toBe(
      'CORRUPTION',
    );
    expect(
      errorOf(() => decodeManifest(encodeManifest(sample({ databaseUuid: new Uint8Array(3) })), 'M')).message,
    ).toContain('16 bytes');
  });

  it('a truncated MANIFEST is corruption', async () => {
    const fs = new SimFileSystem({ seed: 3 });
    await fs.mkdir('/db');
    const file = await fs.open(join('/db', MANIFEST_FILE), { create: true });
    const frame = encodeFrame(encodeManifest(sample()));
    await file.write(0, frame.subarray(0, frame.byteLength - 1));
    await file.close();
    await expect(readManifest(fs, '/db')).rejects.toMatchObject({ code: 'CORRUPTION' });
  });
});
