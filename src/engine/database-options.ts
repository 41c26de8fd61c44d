/**
 * Options of `Database.open`, their defaults and bounds. Names follow jubilant.toml's keys in camelCase
 * with the unit kept (`group_commit_max_latency_ms` → `groupCommitMaxLatencyMs`).
 */

import type { JubilantConfig } from '../config/config.js';
import {
  INLINE_VALUE_PAGE_FRACTION_MAX,
  INLINE_VALUE_THRESHOLD_BYTES_DEFAULT,
  isValidPageSize,
  LOCK_TIMEOUT_MS_DEFAULT,
  PAGE_SIZE_BYTES_DEFAULT,
} from '../config/limits.js';
import type { FileSystem } from '../io/file-system.js';
import { isValidVlogSegmentBytes, VLOG_SEGMENT_BYTES_DEFAULT } from '../storage/vlog/vlog-segment-format.js';
import type { Durability } from '../storage/wal/group-commit.js';
import { isValidWalSegmentBytes } from '../storage/wal/wal-segment-format.js';
import { JubilantError } from '../util/errors.js';
import type { Clock } from './clock.js';

const MiB = 1024 * 1024;

export interface DatabaseOptions {
  /** The file system (default: the real one); tests pass a SimFileSystem. */
  readonly fs?: FileSystem;
  readonly clock?: Clock;
  /** Default durability of writes: 'fsync' (acknowledged once durable) or 'relaxed'. */
  readonly durability?: Durability;
  /** The unified cache's byte budget (decoded pages, plus pinned dirty pages). */
  readonly cacheBytes?: number;
  /** Page size of a new database (an existing one keeps its own). */
  readonly pageSizeBytes?: number;
  /** Inline-value threshold of a new database. */
  readonly inlineValueThresholdBytes?: number;
  /** Preallocated size of each WAL segment. */
  readonly walSegmentBytes?: number;
  /** A value-log segment is sealed once the next record would take it past this size. */
  readonly vlogSegmentBytes?: number;
  /** GC rewrites a sealed value-log segment once this share of its bytes is dead. */
  readonly vlogGcThreshold?: number;
  /** GC also looks for such segments this often (0: only when a commit makes one). */
  readonly vlogGcIntervalMs?: number;
  /** The TTL sweeper takes one bounded step this often (0: only when asked, `sweepExpired`). */
  readonly ttlSweepIntervalMs?: number;
  /** Entries one sweeper step looks at. */
  readonly ttlSweepBatchEntries?: number;
  readonly groupCommitMaxLatencyMs?: number;
  readonly groupCommitBatchBytesMax?: number;
  /**
   * Relaxed commits wait (are not yet accepted) while the WAL holds this many bytes not yet written:
   * bounds the memory of the backlog and what a crash may lose (default 1 MiB).
   */
  readonly relaxedBacklogBytesMax?: number;
  /** Checkpoint at least this often (0: only by the other triggers). */
  readonly checkpointIntervalMs?: number;
  /** Checkpoint once this many WAL bytes were written since the last one. */
  readonly checkpointWalBytes?: number;
  /** Checkpoint once dirty pages take this share of the cache budget. */
  readonly dirtyShareMax?: number;
  /** The longest a transaction waits for a lock before LOCK_TIMEOUT (retryable). */
  readonly lockTimeoutMs?: number;
}

export interface ResolvedOptions {
  readonly durability: Durability;
  readonly cacheBytes: number;
  readonly pageSizeBytes: number;
  readonly inlineValueThresholdBytes: number;
  readonly walSegmentBytes: number;
  readonly vlogSegmentBytes: number;
  readonly vlogGcThreshold: number;
  readonly vlogGcIntervalMs: number;
  readonly ttlSweepIntervalMs: number;
  readonly ttlSweepBatchEntries: number;
  readonly groupCommitMaxLatencyMs: number;
  readonly groupCommitBatchBytesMax: number;
  readonly relaxedBacklogBytesMax: number;
  readonly checkpointIntervalMs: number;
  readonly checkpointWalBytes: number;
  readonly dirtyShareMax: number;
  /** Writes wait for a checkpoint once dirty pages reach this share (above dirtyShareMax). */
  readonly dirtyShareStall: number;
  readonly diskFullRetryDelayMs: number;
  readonly lockTimeoutMs: number;
}

function invalid(message: string): JubilantError {
  return new JubilantError('INVALID_ARGUMENT', message);
}

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < min)
    throw invalid(`${name} must be an integer >= ${min}`);
  return resolved;
}

export function resolveOptions(options: DatabaseOptions): ResolvedOptions {
  const durability = options.durability ?? 'fsync';
  if (durability !== 'fsync' && durability !== 'relaxed')
    throw invalid("durability must be 'fsync' or 'relaxed'");
  const pageSizeBytes = options.pageSizeBytes ?? PAGE_SIZE_BYTES_DEFAULT;
  if (!isValidPageSize(pageSizeBytes))
    throw invalid('pageSizeBytes must be a power of two from 4096 to 65536');
  const inlineValueThresholdBytes = positiveInteger(
    'inlineValueThresholdBytes',
    options.inlineValueThresholdBytes,
    Math.min(INLINE_VALUE_THRESHOLD_BYTES_DEFAULT, pageSizeBytes / INLINE_VALUE_PAGE_FRACTION_MAX),
  );
  const walSegmentBytes = options.walSegmentBytes ?? 64 * MiB;
  if (!isValidWalSegmentBytes(walSegmentBytes))
    throw invalid(`walSegmentBytes ${walSegmentBytes} is not valid`);
  const vlogSegmentBytes = options.vlogSegmentBytes ?? VLOG_SEGMENT_BYTES_DEFAULT;
  if (!isValidVlogSegmentBytes(vlogSegmentBytes))
    throw invalid(`vlogSegmentBytes ${vlogSegmentBytes} is not valid (4 KiB to 4 GiB)`);
  const vlogGcThreshold = options.vlogGcThreshold ?? 0.5;
  if (!(vlogGcThreshold > 0 && vlogGcThreshold <= 1)) throw invalid('vlogGcThreshold must be in (0, 1]');
  const dirtyShareMax = options.dirtyShareMax ?? 0.5;
  if (!(dirtyShareMax > 0 && dirtyShareMax < 1)) throw invalid('dirtyShareMax must be between 0 and 1');
  return {
    durability,
    cacheBytes: positiveInteger('cacheBytes', options.cacheBytes, 64 * MiB, MiB),
    pageSizeBytes,
    inlineValueThresholdBytes,
    walSegmentBytes,
    vlogSegmentBytes,
    vlogGcThreshold,
    vlogGcIntervalMs: positiveInteger('vlogGcIntervalMs', options.vlogGcIntervalMs, 60_000, 0),
    ttlSweepIntervalMs: positiveInteger('ttlSweepIntervalMs', options.ttlSweepIntervalMs, 1000, 0),
    ttlSweepBatchEntries: positiveInteger('ttlSweepBatchEntries', options.ttlSweepBatchEntries, 1024),
    groupCommitMaxLatencyMs: positiveInteger(
      'groupCommitMaxLatencyMs',
      options.groupCommitMaxLatencyMs,
      5,
      0,
    ),
    groupCommitBatchBytesMax: positiveInteger(
      'groupCommitBatchBytesMax',
      options.groupCommitBatchBytesMax,
      4 * MiB,
    ),
    relaxedBacklogBytesMax: positiveInteger('relaxedBacklogBytesMax', options.relaxedBacklogBytesMax, MiB),
    checkpointIntervalMs: positiveInteger('checkpointIntervalMs', options.checkpointIntervalMs, 60_000, 0),
    checkpointWalBytes: positiveInteger('checkpointWalBytes', options.checkpointWalBytes, 256 * MiB),
    dirtyShareMax,
    dirtyShareStall: Math.min(0.9, dirtyShareMax + (1 - dirtyShareMax) / 2),
    diskFullRetryDelayMs: 50,
    lockTimeoutMs: positiveInteger('lockTimeoutMs', options.lockTimeoutMs, LOCK_TIMEOUT_MS_DEFAULT),
  };
}

/** The options a jubilant.toml asks for (the server and jubectl open databases this way). */
export function databaseOptionsFromConfig(config: JubilantConfig): DatabaseOptions {
  return {
    durability: config.wal.durability,
    cacheBytes: config.cache.cacheBytes,
    pageSizeBytes: config.storage.pageSizeBytes,
    inlineValueThresholdBytes: config.storage.inlineValueThresholdBytes,
    walSegmentBytes: config.wal.segmentBytes,
    vlogSegmentBytes: config.vlog.segmentBytes,
    vlogGcThreshold: config.vlog.gcThreshold,
    vlogGcIntervalMs: config.vlog.gcIntervalMs,
    ttlSweepIntervalMs: config.ttl.sweepIntervalMs,
    ttlSweepBatchEntries: config.ttl.sweepBatchEntries,
    groupCommitMaxLatencyMs: config.wal.groupCommitMaxLatencyMs,
    groupCommitBatchBytesMax: config.wal.groupCommitBytesMax,
    checkpointIntervalMs: config.checkpoint.intervalMs,
    checkpointWalBytes: config.checkpoint.walBytes,
    dirtyShareMax: config.checkpoint.dirtyShareMax,
    lockTimeoutMs: config.txn.lockTimeoutMs,
  };
}
