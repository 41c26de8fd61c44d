/**
 * Opening a data directory: create it if new, read the MANIFEST, open the page store on the chosen
 * superblock, replay the WAL after its checkpoint, and start the WAL writer at the end of the log.
 *
 * Creation order makes a half-created directory harmless: data.pages and both superblocks first, the
 * directory fsynced, and the MANIFEST last (atomically). A directory without MANIFEST is not a
 * database yet; leftovers of an interrupted creation are removed and creation starts over.
 */
import { join } from 'node:path';
import type { FileSystem } from '../io/file-system.js';
import {
  FORMAT_MAJOR,
  MANIFEST_FILE,
  type Manifest,
  newManifest,
  readManifest,
  writeManifest,
} from '../meta/manifest.js';
import { SUPERBLOCK_FILES } from '../meta/superblock.js';
import { Btree } from '../storage/btree/btree.js';
import { copyBytes } from '../util/byte-slab.js';
import { type LeafEntry, makeLeafEntry, type ValueLogPointer } from '../storage/btree/node.js';
import { DATA_PAGES_FILE, PageStore } from '../storage/btree/page-store.js';
import type { UnifiedCache } from '../storage/cache/unified-cache.js';
import { keySizeMaxBytes } from '../storage/pager/page-format.js';
import type { ValueLog } from '../storage/vlog/value-log.js';
import type { WalMutation, WalRecord } from '../storage/wal/wal-record.js';
import { recoverWal, type WalRecoveryResult } from '../storage/wal/wal-recovery.js';
import { parseWalSegmentFileName } from '../storage/wal/wal-segment-format.js';
import { CorruptionError } from '../util/errors.js';
import type { Lsn } from '../util/ids.js';

export interface CreateOptions {
  readonly pageSizeBytes: number;
  readonly inlineValueThresholdBytes: number;
  readonly nowMs: number;
}

/** The tree entry a logged mutation becomes; replay and live commits both go through here. */
export function entryOf(mutation: WalMutation, revision: Lsn): LeafEntry {
  if (mutation.kind === 'tombstone') {
    return makeLeafEntry(mutation.key, 'bytes', true, undefined, undefined, 0, revision);
  }
  return makeLeafEntry(
    mutation.key,
    mutation.valueType,
    false,
    mutation.vlogPointer === undefined ? mutation.inlineValue : undefined,
    mutation.vlogPointer,
    mutation.expiresAtMs,
    revision,
  );
}

/** Every value-log pointer the tree holds (tombstones hold none), for the value log's accounting. */
export async function valueLogPointers(
  tree: Btree,
  valueLog: ValueLog,
): Promise<Array<{ key: Uint8Array; pointer: ValueLogPointer; revision: Lsn }>> {
  const pointers: Array<{ key: Uint8Array; pointer: ValueLogPointer; revision: Lsn }> = [];
  if (valueLog.stats().segments === 0) return pointers; // no value log yet: no walk over the tree
  const cursor = tree.cursor();
  for (;;) {
    const batch = await cursor.nextBatch(POINTER_WALK_BATCH_ENTRIES);
    for (const entry of batch) {
      if (entry.pointer !== undefined) {
        // A copy of the key: the leaf's page may be recycled once the walk moves on.
        pointers.push({ key: copyBytes(entry.key), pointer: entry.pointer, revision: entry.revision });
      }
    }
    if (batch.length < POINTER_WALK_BATCH_ENTRIES) return pointers;
  }
}

const POINTER_WALK_BATCH_ENTRIES = 1024;

export async function applyRecord(tree: Btree, record: WalRecord): Promise<void> {
  if (record.body.kind !== 'commit') return;
  for (const mutation of record.body.mutations) await tree.put(entryOf(mutation, record.lsn));
}

/** Creates the files of a new database unless a MANIFEST says one exists. */
export async function ensureCreated(
  fs: FileSystem,
  directory: string,
  options: CreateOptions,
): Promise<void> {
  if (await fs.exists(join(directory, MANIFEST_FILE))) return;
  await removeCreationLeftovers(fs, directory);
  const manifest = newManifest({
    createdAtMs: options.nowMs,
    pageSizeBytes: options.pageSizeBytes,
    inlineValueThresholdBytes: options.inlineValueThresholdBytes,
    keySizeMaxBytes: keySizeMaxBytes(options.pageSizeBytes),
  });
  const store = await PageStore.create(fs, directory, {
    pageSizeBytes: manifest.pageSizeBytes,
    databaseUuid: manifest.databaseUuid,
  });
  await store.close();
  await writeManifest(fs, directory, manifest);
}

/**
 * Removes what an interrupted creation left. A WAL segment is only ever written after the MANIFEST
 * exists, so one here means a database lost its MANIFEST: that is refused, never wiped.
 */
async function removeCreationLeftovers(fs: FileSystem, directory: string): Promise<void> {
  const names = await fs.list(directory);
  if (names.some((name) => parseWalSegmentFileName(name) !== undefined)) {
    throw new CorruptionError(
      'WAL segments exist but the MANIFEST is missing; refusing to create over them',
      {
        file: join(directory, MANIFEST_FILE),
      },
    );
  }
  const leftovers = names.filter(
    (name) => name === DATA_PAGES_FILE || name === SUPERBLOCK_FILES.A || name === SUPERBLOCK_FILES.B,
  );
  for (const name of leftovers) await fs.unlink(join(directory, name));
  if (leftovers.length > 0) await fs.syncDirectory(directory);
}

export interface OpenedStorage {
  readonly manifest: Manifest;
  readonly store: PageStore;
  readonly tree: Btree;
  readonly recovery: WalRecoveryResult;
}

/**
 * Opens the page store and replays the WAL into it. `durableLsnMax`, when given, replays nothing past
 * it (reloading the last durable state after a failed fsync, when later bytes cannot be trusted).
 */
export async function openStorage(
  fs: FileSystem,
  directory: string,
  options: { cache: UnifiedCache; repair: boolean; durableLsnMax?: Lsn },
): Promise<OpenedStorage> {
  const manifest = await readManifest(fs, directory);
  const store = await PageStore.open(fs, directory, {
    pageSizeBytes: manifest.pageSizeBytes,
    databaseUuid: manifest.databaseUuid,
    cache: options.cache,
    reassertSuperblock: options.repair,
  });
  try {
    const tree = new Btree(store);
    const checkpointLsn = store.superblock.checkpointLsn;
    const recovery = await recoverWal(fs, directory, {
      databaseUuid: manifest.databaseUuid,
      checkpointLsn,
      repair: options.repair,
      formatMajor: FORMAT_MAJOR,
      onRecord: (record) =>
        options.durableLsnMax !== undefined && record.lsn > options.durableLsnMax
          ? undefined
          : applyRecord(tree, record),
    });
    if (recovery.end === undefined && checkpointLsn > 0n) {
      throw new CorruptionError(`the checkpoint is at LSN ${checkpointLsn} but no WAL segment exists`, {
        file: directory,
        what: 'WAL',
      });
    }
    return { manifest, store, tree, recovery };
  } catch (error) {
    await store.close();
    throw error;
  }
}
