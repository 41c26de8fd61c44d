/**
 * MANIFEST (docs/format/manifest.md): the identity and fixed parameters of a data directory.
 *
 *   offset  size  field        notes
 *   0       4     lengthBytes  u32 LE, n
 *   4       n     payload      FlatBuffers, root jubilant.disk.Manifest, identifier JBDK
 *   4+n     4     crc32c       u32 LE over bytes [0, 4+n)
 *
 * Manifest fields: format major/minor, SHA-256 of each schema, database UUID (16 bytes), creation
 * time, page size, inline-value threshold, maximum key and value sizes, assertion hash algorithm and a
 * generation that grows with every rewrite. It is replaced atomically: written to MANIFEST.tmp, fsynced,
 * renamed over MANIFEST, and the directory fsynced. A newer major version refuses to open; a newer
 * minor opens (minor versions only add fields, which older readers skip).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import * as flatbuffers from 'flatbuffers';
import { isValidPageSize, META_FRAME_PAYLOAD_BYTES_MAX, VALUE_SIZE_BYTES_MAX } from '../config/limits.js';
import { HashAlgorithm } from '../generated/disk/hash-algorithm.js';
import { LAYOUT as DISK_LAYOUT } from '../generated/disk/layout.js';
import { Manifest as ManifestTable } from '../generated/disk/manifest.js';
import { SchemaHash } from '../generated/disk/schema-hash.js';
import type { FileSystem } from '../io/file-system.js';
import { assert } from '../util/assert.js';
import { fromHex } from '../util/bytes.js';
import { encodeFrame, readFrame } from '../util/checksummed-frame.js';
import { CorruptionError, JubilantError } from '../util/errors.js';
import type { SchemaLayout } from '../util/flatbuffers-layout.js';
import { verifyFlatBuffer } from '../util/flatbuffers-verifier.js';
import { copyBytes, finishDiskBuffer, safeNumber, verifiedDiskBuffer } from './disk-buffer.js';
import { SCHEMA_SHA256 } from './schema-hashes.js';

export const MANIFEST_FILE = 'MANIFEST';
export const MANIFEST_TEMP_FILE = 'MANIFEST.tmp';
export const FORMAT_MAJOR = 1;
export const FORMAT_MINOR = 0;
export const DATABASE_UUID_BYTES = 16;
const SHA256_BYTES = 32;

export interface SchemaHashEntry {
  readonly name: string;
  readonly sha256: Uint8Array;
}

export interface Manifest {
  readonly formatMajor: number;
  readonly formatMinor: number;
  readonly schemaHashes: readonly SchemaHashEntry[];
  readonly databaseUuid: Uint8Array;
  readonly createdAtMs: number;
  readonly pageSizeBytes: number;
  readonly inlineValueThresholdBytes: number;
  readonly keySizeMaxBytes: number;
  readonly valueSizeMaxBytes: number;
  readonly hashAlgorithm: 'sha256';
  readonly generation: bigint;
}

export interface NewManifestOptions {
  readonly createdAtMs: number;
  readonly pageSizeBytes: number;
  readonly inlineValueThresholdBytes: number;
  readonly keySizeMaxBytes: number;
  readonly databaseUuid?: Uint8Array;
}

/** A fresh manifest for a new database, recording the schema hashes of this build. */
export function newManifest(options: NewManifestOptions): Manifest {
  assert(isValidPageSize(options.pageSizeBytes), `invalid page size ${options.pageSizeBytes}`);
  const databaseUuid = options.databaseUuid ?? fromHex(randomUUID().replaceAll('-', ''));
  assert(databaseUuid.length === DATABASE_UUID_BYTES);
  return {
    formatMajor: FORMAT_MAJOR,
    formatMinor: FORMAT_MINOR,
    schemaHashes: Object.entries(SCHEMA_SHA256).map(([name, hex]) => ({ name, sha256: fromHex(hex) })),
    databaseUuid,
    createdAtMs: options.createdAtMs,
    pageSizeBytes: options.pageSizeBytes,
    inlineValueThresholdBytes: options.inlineValueThresholdBytes,
    keySizeMaxBytes: options.keySizeMaxBytes,
    valueSizeMaxBytes: VALUE_SIZE_BYTES_MAX,
    hashAlgorithm: 'sha256',
    generation: 1n,
  };
}

/** The FlatBuffers payload of a manifest (without the frame). */
export function encodeManifest(manifest: Manifest): Uint8Array {
  const builder = new flatbuffers.Builder(512);
  const hashes = manifest.schemaHashes.map((entry) => {
    const name = builder.createString(entry.name);
    const sha256 = SchemaHash.createSha256Vector(builder, entry.sha256);
    return SchemaHash.createSchemaHash(builder, name, sha256);
  });
  const hashesVector = ManifestTable.createSchemaHashesVector(builder, hashes);
  const uuid = ManifestTable.createDatabaseUuidVector(builder, manifest.databaseUuid);
  const root = ManifestTable.createManifest(
    builder,
    manifest.formatMajor,
    manifest.formatMinor,
    hashesVector,
    uuid,
    BigInt(manifest.createdAtMs),
    manifest.pageSizeBytes,
    manifest.inlineValueThresholdBytes,
    manifest.keySizeMaxBytes,
    manifest.valueSizeMaxBytes,
    HashAlgorithm.Sha256,
    manifest.generation,
  );
  return finishDiskBuffer(builder, root);
}

/** Decodes and sanity-checks a manifest payload; any defect is a CorruptionError naming `file`. */
export function decodeManifest(payload: Uint8Array, file: string): Manifest {
  refuseNewerMajor(payload, file);
  const table = ManifestTable.getRootAsManifest(verifiedDiskBuffer(payload, 'Manifest', { file }));
  const schemaHashes: SchemaHashEntry[] = [];
  for (let i = 0; i < table.schemaHashesLength(); i++) {
    const entry = table.schemaHashes(i);
    assert(entry !== null);
    schemaHashes.push({ name: entry.name() ?? '', sha256: copyBytes(entry.sha256Array()) });
  }
  const manifest: Manifest = {
    formatMajor: table.formatMajor(),
    formatMinor: table.formatMinor(),
    schemaHashes,
    databaseUuid: copyBytes(table.databaseUuidArray()),
    createdAtMs: safeNumber(table.createdAtMs(), 'created_at_ms', { file }),
    pageSizeBytes: table.pageSizeBytes(),
    inlineValueThresholdBytes: table.inlineValueThresholdBytes(),
    keySizeMaxBytes: table.keySizeMaxBytes(),
    valueSizeMaxBytes: table.valueSizeMaxBytes(),
    hashAlgorithm: 'sha256',
    generation: table.generation(),
  };
  checkManifestFields(manifest, file);
  return manifest;
}

const MAJOR_ONLY_LAYOUT: SchemaLayout = (() => {
  const majorField = DISK_LAYOUT.tables.Manifest?.fields.find((field) => field.name === 'format_major');
  assert(majorField !== undefined && majorField.slot === 0, 'format_major is the first manifest field');
  return { ...DISK_LAYOUT, tables: { Manifest: { fields: [majorField] } } };
})();

/**
 * A newer major may change any field but the first, so the version is checked against a layout that
 * knows only format_major before the whole buffer is verified against this build's schema.
 */
function refuseNewerMajor(payload: Uint8Array, file: string): void {
  try {
    verifyFlatBuffer(payload, MAJOR_ONLY_LAYOUT, { rootTable: 'Manifest' });
  } catch {
    return; // not even the version is readable: the full verification reports the corruption
  }
  const formatMajor = ManifestTable.getRootAsManifest(new flatbuffers.ByteBuffer(payload)).formatMajor();
  if (formatMajor > FORMAT_MAJOR) {
    throw new JubilantError(
      'VERSION_TOO_NEW',
      `${file} has format major ${formatMajor}; this build reads major ${FORMAT_MAJOR} only: ` +
        'open it with a newer jubilant-db',
    );
  }
}

function checkManifestFields(manifest: Manifest, file: string): void {
  const fail = (message: string): never => {
    throw new CorruptionError(message, { file, what: 'manifest' });
  };
  if (manifest.formatMajor < 1 || manifest.formatMajor > FORMAT_MAJOR)
    fail(`format major ${manifest.formatMajor} is invalid`);
  if (manifest.databaseUuid.length !== DATABASE_UUID_BYTES) fail('database UUID is not 16 bytes');
  if (!isValidPageSize(manifest.pageSizeBytes)) fail(`page size ${manifest.pageSizeBytes} is invalid`);
  if (manifest.keySizeMaxBytes === 0 || manifest.keySizeMaxBytes >= manifest.pageSizeBytes) {
    fail(`maximum key size ${manifest.keySizeMaxBytes} is invalid for page size ${manifest.pageSizeBytes}`);
  }
  if (manifest.valueSizeMaxBytes === 0) fail('maximum value size is zero');
  if (manifest.schemaHashes.some((entry) => entry.sha256.length !== SHA256_BYTES)) {
    fail('a schema hash is not 32 bytes');
  }
}

/** Writes MANIFEST atomically: temp file, fsync, rename, directory fsync. */
export async function writeManifest(fs: FileSystem, directory: string, manifest: Manifest): Promise<void> {
  const tempPath = join(directory, MANIFEST_TEMP_FILE);
  if (await fs.exists(tempPath)) await fs.unlink(tempPath);
  const file = await fs.open(tempPath, { create: true, exclusive: true });
  try {
    await file.write(0, encodeFrame(encodeManifest(manifest)));
    await file.sync();
  } finally {
    await file.close();
  }
  await fs.rename(tempPath, join(directory, MANIFEST_FILE));
  await fs.syncDirectory(directory);
}

/** Reads and checks MANIFEST. A leftover MANIFEST.tmp (a crash mid-rewrite) is ignored. */
export async function readManifest(fs: FileSystem, directory: string): Promise<Manifest> {
  const path = join(directory, MANIFEST_FILE);
  const file = await fs.open(path, { readOnly: true });
  let bytes: Uint8Array;
  try {
    bytes = await file.read(0, META_FRAME_PAYLOAD_BYTES_MAX + 8);
  } finally {
    await file.close();
  }
  const frame = readFrame(bytes, 0, META_FRAME_PAYLOAD_BYTES_MAX);
  if (!frame.ok) throw new CorruptionError(`manifest frame is invalid (${frame.problem})`, { file: path });
  return decodeManifest(frame.payload, path);
}
