/**
 * The shapes at the embedded Database's edge: write and scan options, the statistics it reports, and
 * the parts `Database.open` assembles (for subclasses such as the transactional Database).
 */
import type { FileSystem } from '../io/file-system.js';
import type { Manifest } from '../meta/manifest.js';
import type { Btree } from '../storage/btree/btree.js';
import type { PageStore } from '../storage/btree/page-store.js';
import type { UnifiedCache } from '../storage/cache/unified-cache.js';
import type { ValueLog, ValueLogStats } from '../storage/vlog/value-log.js';
import type { Durability } from '../storage/wal/group-commit.js';
import type { WalWriter } from '../storage/wal/wal-writer.js';
import type { Lsn } from '../util/ids.js';
import type { CalibratedClock } from './clock.js';
import type { DatabaseLock } from './database-lock.js';
import type { ResolvedOptions } from './database-options.js';

export interface SetOptions {
  /** Expire this many milliseconds after the commit. */
  readonly ttlMs?: number;
  /** Expire at this absolute wall-clock Unix millisecond. At most one of the two. */
  readonly expiresAtMs?: number;
  readonly durability?: Durability;
}

export interface ScanOptions {
  readonly start?: string;
  /** Exclusive. */
  readonly end?: string;
  readonly prefix?: string;
  readonly limit?: number;
  readonly reverse?: boolean;
}

export interface DatabaseStats {
  readonly lsn: {
    readonly next: Lsn;
    readonly durable: Lsn;
    readonly applied: Lsn;
    readonly checkpoint: Lsn;
  };
  readonly cache: ReturnType<UnifiedCache['stats']> & { readonly accountedBytes: number };
  readonly wal: { readonly segments: number; readonly batches: number; readonly records: number };
  readonly tree: { readonly pageCount: number; readonly dirtyPages: number; readonly dirtyBytes: number };
  readonly commits: number;
  readonly checkpoints: number;
  readonly valueLog: ValueLogStats;
  readonly readOnly: string | undefined;
}

export interface DatabaseParts {
  readonly directory: string;
  readonly fs: FileSystem;
  readonly options: ResolvedOptions;
  readonly lock: DatabaseLock;
  readonly manifest: Manifest;
  readonly cache: UnifiedCache;
  readonly clock: CalibratedClock;
  readonly wal: WalWriter;
  readonly store: PageStore;
  readonly tree: Btree;
  readonly valueLog: ValueLog;
}
