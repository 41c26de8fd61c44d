/**
 * SUPERBLOCK_A / SUPERBLOCK_B (docs/format/superblock.md): the two roots of the durable image.
 * Each file is one 4 KiB block, written with a single write so it is one sector-aligned unit:
 *
 *   offset  size     field        notes
 *   0       4        lengthBytes  u32 LE, n
 *   4       n        payload      FlatBuffers, root jubilant.disk.Superblock, identifier JBDK
 *   4+n     4        crc32c       u32 LE over bytes [0, 4+n)
 *   8+n     ...4096  padding      zero
 *
 * Payload fields: generation, database UUID, B+Tree root page id, free-list root page id, page count,
 * last checkpoint LSN, and the TTL calibration (wall_base_ms, mono_base_ms, now_floor_ms).
 *
 * Update rule: write the inactive file with generation + 1 and fsync it. The active one stays intact,
 * so a crash at any byte of the update leaves at least one valid superblock. On open, the choice
 * between the two is the literal table in superblock-choice.ts.
 */
import { join } from 'node:path';
import * as flatbuffers from 'flatbuffers';
import { META_FRAME_PAYLOAD_BYTES_MAX, SUPERBLOCK_FILE_BYTES } from '../config/limits.js';
import { Superblock as SuperblockTable } from '../generated/disk/superblock.js';
import type { FileSystem } from '../io/file-system.js';
import { assert } from '../util/assert.js';
import { bytesEqual } from '../util/bytes.js';
import { frameSizeBytes, readFrame, writeFrame } from '../util/checksummed-frame.js';
import { CorruptionError, isJubilantError } from '../util/errors.js';
import { type Lsn, lsn, type PageId, pageId } from '../util/ids.js';
import { copyBytes, finishDiskBuffer, safeNumber, verifiedDiskBuffer } from './disk-buffer.js';

export type SuperblockSlot = 'A' | 'B';
export const SUPERBLOCK_FILES: Readonly<Record<SuperblockSlot, string>> = {
  A: 'SUPERBLOCK_A',
  B: 'SUPERBLOCK_B',
};

export interface Superblock {
  readonly generation: bigint;
  readonly databaseUuid: Uint8Array;
  readonly treeRootPageId: PageId;
  readonly freeListRootPageId: PageId;
  /** Page ids at or past this are not part of the image. */
  readonly pageCount: number;
  readonly checkpointLsn: Lsn;
  readonly wallBaseMs: number;
  readonly monoBaseMs: number;
  /** The highest "now" ever persisted; "now" never goes below it, across restarts too. */
  readonly nowFloorMs: number;
}

export function encodeSuperblock(superblock: Superblock): Uint8Array {
  const builder = new flatbuffers.Builder(256);
  const uuid = SuperblockTable.createDatabaseUuidVector(builder, superblock.databaseUuid);
  const root = SuperblockTable.createSuperblock(
    builder,
    superblock.generation,
    uuid,
    superblock.treeRootPageId,
    superblock.freeListRootPageId,
    superblock.pageCount,
    superblock.checkpointLsn,
    BigInt(superblock.wallBaseMs),
    superblock.monoBaseMs,
    BigInt(superblock.nowFloorMs),
  );
  return finishDiskBuffer(builder, root);
}

export function decodeSuperblock(payload: Uint8Array, file: string): Superblock {
  const table = SuperblockTable.getRootAsSuperblock(verifiedDiskBuffer(payload, 'Superblock', { file }));
  const superblock: Superblock = {
    generation: table.generation(),
    databaseUuid: copyBytes(table.databaseUuidArray()),
    treeRootPageId: pageId(table.treeRootPageId()),
    freeListRootPageId: pageId(table.freeListRootPageId()),
    pageCount: table.pageCount(),
    checkpointLsn: lsn(table.checkpointLsn()),
    wallBaseMs: safeNumber(table.wallBaseMs(), 'wall_base_ms', { file }),
    monoBaseMs: table.monoBaseMs(),
    nowFloorMs: safeNumber(table.nowFloorMs(), 'now_floor_ms', { file }),
  };
  const fail = (message: string): never => {
    throw new CorruptionError(message, { file, what: 'superblock' });
  };
  if (superblock.pageCount < 1) fail('page count must include the file header page');
  if (superblock.treeRootPageId >= superblock.pageCount) fail('tree root is past the page count');
  if (superblock.freeListRootPageId >= superblock.pageCount) fail('free-list root is past the page count');
  if (!Number.isFinite(superblock.monoBaseMs)) fail('mono_base_ms is not finite');
  return superblock;
}

/** The whole 4 KiB file image of a superblock. */
export function encodeSuperblockFile(superblock: Superblock): Uint8Array {
  const payload = encodeSuperblock(superblock);
  assert(frameSizeBytes(payload.length) <= SUPERBLOCK_FILE_BYTES, 'superblock frame exceeds its block');
  const block = new Uint8Array(SUPERBLOCK_FILE_BYTES);
  writeFrame(block, 0, payload);
  return block;
}

/** What one superblock file holds: a valid superblock, bad bytes, or no file at all. */
export type SuperblockRead =
  | { readonly state: 'valid'; readonly superblock: Superblock }
  | { readonly state: 'invalid'; readonly reason: string }
  | { readonly state: 'missing' };

/** Reads one slot. Damage is reported, not thrown: choosing between the two is the caller's table. */
export async function readSuperblockSlot(
  fs: FileSystem,
  directory: string,
  slot: SuperblockSlot,
  databaseUuid: Uint8Array,
): Promise<SuperblockRead> {
  const path = join(directory, SUPERBLOCK_FILES[slot]);
  if (!(await fs.exists(path))) return { state: 'missing' };
  const file = await fs.open(path, { readOnly: true });
  let bytes: Uint8Array;
  try {
    bytes = await file.read(0, SUPERBLOCK_FILE_BYTES);
  } finally {
    await file.close();
  }
  const frame = readFrame(bytes, 0, META_FRAME_PAYLOAD_BYTES_MAX);
  if (!frame.ok) return { state: 'invalid', reason: `frame ${frame.problem}` };
  try {
    const superblock = decodeSuperblock(frame.payload, path);
    if (!bytesEqual(superblock.databaseUuid, databaseUuid)) {
      return { state: 'invalid', reason: 'belongs to another database (UUID differs from MANIFEST)' };
    }
    return { state: 'valid', superblock };
  } catch (error) {
    if (isJubilantError(error, 'CORRUPTION')) return { state: 'invalid', reason: error.message };
    throw error;
  }
}

/**
 * Writes a superblock into `slot` and makes it durable. `create` is for a new database, where the
 * file does not exist yet (the caller fsyncs the directory afterwards).
 */
export async function writeSuperblockSlot(
  fs: FileSystem,
  directory: string,
  slot: SuperblockSlot,
  superblock: Superblock,
  options: { create?: boolean } = {},
): Promise<void> {
  const block = encodeSuperblockFile(superblock);
  const file = await fs.open(join(directory, SUPERBLOCK_FILES[slot]), {
    create: options.create === true,
    exclusive: options.create === true,
  });
  try {
    await file.write(0, block);
    await file.datasync();
  } finally {
    await file.close();
  }
}
