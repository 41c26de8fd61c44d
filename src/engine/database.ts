/**
 * The embedded database: `Database.open(dir)` and get/set/del/scan/checkpoint/stats/close.
 *
 * Write path: validate (nothing is logged or locked for bad input) → wait for earlier commits on the
 * same keys → submit one WAL record (group commit assigns the LSN) → `fsync` commits are applied to the
 * tree once durable, `relaxed` ones at once → acknowledge. So a reader sees an `fsync` write only after
 * it is durable, and a read that meets a `relaxed` write not yet durable waits for it: no client ever
 * observes a write a crash could take back.
 *
 * Failure rules: a failed fsync (of the WAL or a checkpoint) turns the database read-only until it is
 * reopened, and the in-memory state is reloaded from the last checkpoint and the WAL up to the last
 * durable LSN, so nothing unacknowledged stays visible. ENOSPC from a WAL write fails the affected
 * `fsync` commits with DISK_FULL (retryable) while reads go on; writing resumes when space returns.
 */

import { VALUE_SIZE_BYTES_MAX } from '../config/limits.js';
import type { FileSystem } from '../io/file-system.js';
import { NodeFileSystem } from '../io/node-file-system.js';
import { FORMAT_MAJOR, type Manifest } from '../meta/manifest.js';
import { type Btree, NOT_RESIDENT } from '../storage/btree/btree.js';
import type { KeyRange } from '../storage/btree/key-range.js';
import { type LeafEntry, ownedEntry } from '../storage/btree/node.js';
import { decodedPageBytesMax, type PageStore } from '../storage/btree/page-store.js';
import { UnifiedCache } from '../storage/cache/unified-cache.js';
import { type SegmentRecord, ValueLog, type ValueLogSegmentStats } from '../storage/vlog/value-log.js';
import { type Durability, GroupCommit } from '../storage/wal/group-commit.js';
import type { WalMutation } from '../storage/wal/wal-record.js';
import { WalWriter } from '../storage/wal/wal-writer.js';
import { assert } from '../util/assert.js';
import { compareBytes } from '../util/bytes.js';
import { JubilantError } from '../util/errors.js';
import { type Lsn, lsn } from '../util/ids.js';
import { AppliedWatermark } from './applied-watermark.js';
import { CalibratedClock, type Clock, systemClock } from './clock.js';
import { CommitPipeline, type Releasable } from './commit-pipeline.js';
import { DatabaseLock } from './database-lock.js';
import { type DatabaseOptions, type ResolvedOptions, resolveOptions } from './database-options.js';
import { KeyChains } from './key-chains.js';
import { LargeValues } from './large-values.js';
import { scanRange } from './scan-range.js';
import { ensureCreated, openStorage, valueLogPointers } from './storage-engine.js';
import { decodeKey, decodeValue, encodeKey, encodeValue, isLive, type Value } from './value-codec.js';

export type { DatabaseOptions } from './database-options.js';
export type { DatabaseParts, DatabaseStats, ScanOptions, SetOptions } from './database-types.js';

import type { DatabaseParts, DatabaseStats, ScanOptions, SetOptions } from './database-types.js';

export type { Value } from './value-codec.js';

const SCAN_BATCH_ENTRIES = 256;
/** One settled promise for every read of a missing key. */
const NO_VALUE: Promise<undefined> = Promise.resolve(undefined);

export class Database {
  readonly directory: string;
  private readonly fs: FileSystem;
  protected readonly options: ResolvedOptions;
  private readonly lock: DatabaseLock;
  private readonly manifest: Manifest;
  private readonly cache: UnifiedCache;
  private readonly clock: CalibratedClock;
  private readonly wal: WalWriter;
  private readonly groupCommit: GroupCommit;
  private readonly keyChains = new KeyChains();
  private readonly applied: AppliedWatermark;
  private store: PageStore;
  private tree: Btree;
  private readonly valueLog: ValueLog;
  private readonly largeValues: LargeValues;
  private checkpointRunning: Promise<void> | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** `pipeline.loggedBytes` when the last checkpoint began. */
  private loggedBytesAtCheckpoint = 0;
  private readOnlyReason: Error | undefined;
  private closing = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private checkpoints = 0;
  private readonly pipeline: CommitPipeline;

  /** Internal: use `Database.open`, which recovers the directory and builds the parts. */
  constructor(parts: DatabaseParts) {
    this.directory = parts.directory;
    this.fs = parts.fs;
    this.options = parts.options;
    this.lock = parts.lock;
    this.manifest = parts.manifest;
    this.cache = parts.cache;
    this.clock = parts.clock;
    this.wal = parts.wal;
    this.store = parts.store;
    this.tree = parts.tree;
    this.valueLog = parts.valueLog;
    this.largeValues = new LargeValues(parts.valueLog, {
      inlineValueThresholdBytes: parts.manifest.inlineValueThresholdBytes,
      entryBytesMax: parts.tree.entryBytesMax,
    });
    this.valueLog.settledLsn = () => {
      // LSNs are bigints: Math.min does not take them.
      const durable = this.groupCommit.durableLsn;
      if (this.applied.lsn < durable) return this.applied.lsn;
      return durable;
    };
    this.applied = new AppliedWatermark(lsn(parts.wal.nextLsn - 1n));
    this.groupCommit = new GroupCommit(parts.wal, {
      maxLatencyMs: this.options.groupCommitMaxLatencyMs,
      batchBytesMax: this.options.groupCommitBatchBytesMax,
      retryDelayMs: this.options.diskFullRetryDelayMs,
      onFailure: (error) => this.enterReadOnly(error),
      beforeWrite: () => this.valueLog.flush(),
    });
    this.pipeline = new CommitPipeline({
      host: {
        tree: () => this.tree,
        dirtyBytes: () => this.store.dirtyBytes,
        checkNotReadOnly: () => this.checkNotReadOnly(),
        afterCommit: () => this.afterCommit(),
        checkpointForRoom: () => {
          this.triggerCheckpoint();
          return this.checkpointRunning;
        },
        nowMs: () => this.clock.nowMs(),
      },
      groupCommit: this.groupCommit,
      applied: this.applied,
      largeValues: this.largeValues,
      valueLog: this.valueLog,
      stallBytes: this.cache.budgetBytes * this.options.dirtyShareStall,
      budgetBytes: this.cache.budgetBytes,
      reserveBytes: 3 * decodedPageBytesMax(parts.manifest.pageSizeBytes),
      relaxedBacklogBytesMax: this.options.relaxedBacklogBytesMax,
    });
    if (this.options.checkpointIntervalMs > 0) {
      this.checkpointTimer = setInterval(() => this.triggerCheckpoint(), this.options.checkpointIntervalMs);
      this.checkpointTimer.unref();
    }
  }

  /** Creates or opens the database in `directory`, running recovery. One process owns it at a time. */
  static async open<T extends Database>(
    this: new (
      parts: DatabaseParts,
    ) => T,
    directory: string,
    options: DatabaseOptions = {},
  ): Promise<T> {
    const resolved = resolveOptions(options);
    const fs = options.fs ?? new NodeFileSystem();
    const wallClock: Clock = options.clock ?? systemClock;
    await fs.mkdir(directory);
    const lock = await DatabaseLock.acquire(fs, directory);
    try {
      await ensureCreated(fs, directory, {
        pageSizeBytes: resolved.pageSizeBytes,
        inlineValueThresholdBytes: resolved.inlineValueThresholdBytes,
        nowMs: wallClock.wallMs(),
      });
      const cache = new UnifiedCache(resolved.cacheBytes);
      // What is open so far, closed again if a later step fails (a refused open leaks no handle).
      const closers: Array<() => Promise<void>> = [];
      try {
        const opened = await openStorage(fs, directory, { cache, repair: true });
        closers.push(() => opened.store.close());
        const wal = await WalWriter.open(fs, directory, {
          databaseUuid: opened.manifest.databaseUuid,
          segmentBytes: resolved.walSegmentBytes,
          formatMajor: FORMAT_MAJOR,
          end: opened.recovery.end,
        });
        closers.push(() => wal.close());
        const valueLog = await ValueLog.open(fs, directory, {
          databaseUuid: opened.manifest.databaseUuid,
          segmentBytes: resolved.vlogSegmentBytes,
          cache,
          retryDelayMs: resolved.diskFullRetryDelayMs,
        });
        closers.push(() => valueLog.close());
        await valueLog.rebuild(await valueLogPointers(opened.tree, valueLog), lsn(wal.nextLsn - 1n));
        const clock = new CalibratedClock(wallClock, opened.store.superblock.nowFloorMs);
        return new this({ directory, fs, options: resolved, lock, cache, clock, wal, valueLog, ...opened });
      } catch (error) {
        for (const close of closers.reverse()) await close().catch(() => undefined);
        throw error;
      }
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  // --- reads -------------------------------------------------------------------------------------

  /** The key's value, or undefined when it is missing, deleted or expired. */
  get(key: string): Promise<Value | undefined> {
    // The common case, an inline value on a path in memory and already durable, settles without an
    // await: reads are most of a database's work, and each await is a trip through the microtask queue.
    let keyBytes: Uint8Array;
    try {
      this.checkOpen();
      keyBytes = encodeKey(key, this.manifest.keySizeMaxBytes);
      const entry = this.tree.getResident(keyBytes);
      if (entry === undefined) return NO_VALUE;
      if (
        entry !== NOT_RESIDENT &&
        entry.pointer === undefined &&
        entry.revision <= this.groupCommit.durableLsn
      ) {
        return Promise.resolve(isLive(entry, this.clock.nowMs()) ? this.valueOf(entry) : undefined);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.getSlow(keyBytes);
  }

  private async getSlow(keyBytes: Uint8Array): Promise<Value | undefined> {
    const found = await this.tree.get(keyBytes);
    if (found === undefined) return undefined;
    // Kept across awaits below: a copy, not views of a page that may be recycled meanwhile.
    const mustWait = found.revision > this.groupCommit.durableLsn;
    const entry = mustWait || found.pointer !== undefined ? ownedEntry(found) : found;
    if (mustWait) await this.waitDurable(entry.revision);
    if (!isLive(entry, this.clock.nowMs())) return undefined;
    return entry.pointer === undefined
      ? this.valueOf(entry)
      : this.valueLogValueOf(entry, this.clock.nowMs());
  }

  /**
   * Keys in bytewise order (or reverse) over `[start, end)` or a prefix, read in batches that are each
   * consistent on their own. A serializable scan is a transaction's SCAN op.
   */
  async *scan(options: ScanOptions = {}): AsyncGenerator<{ key: string; value: Value }> {
    this.checkOpen();
    const range = scanRange(options);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (options.limit !== undefined && (!Number.isSafeInteger(options.limit) || options.limit < 0)) {
      throw new JubilantError('INVALID_ARGUMENT', 'a scan limit must be a non-negative integer');
    }
    if (limit === 0) return;
    let returned = 0;
    const cursor = this.tree.cursor({ ...range, reverse: options.reverse === true });
    while (returned < limit) {
      // No more than the limit still wants: entries past it would be read (and built) for nothing.
      const requested = Math.min(SCAN_BATCH_ENTRIES, limit - returned);
      const batch = await cursor.nextBatch(requested);
      // Keys and inline values are taken out of the batch's page views now, before any await or
      // yield: once this generator yields, its caller may run anything, and an evicted leaf's page is
      // recycled (page-buffer-pool.ts). A row keeps its entry only for scalar fields (liveness), or
      // a copy of it when the value log must be read.
      const rows: Array<{ key: string; entry: LeafEntry; value: Value | undefined }> = [];
      let revisionMax = lsn(0); // LSNs are bigints: no Math.max
      for (const entry of batch) {
        if (entry.revision > revisionMax) revisionMax = entry.revision;
        if (entry.tombstone) continue; // never live
        const inline = entry.pointer === undefined;
        rows.push({
          key: decodeKey(entry.key),
          entry: inline ? entry : ownedEntry(entry),
          value: inline ? this.valueOf(entry) : undefined,
        });
      }
      await this.waitDurable(revisionMax);
      const nowMs = this.clock.nowMs();
      for (const row of rows) {
        if (!isLive(row.entry, nowMs)) continue;
        const value = row.value ?? (await this.valueLogValueOf(row.entry, nowMs));
        if (value === undefined) continue;
        yield { key: row.key, value };
        returned += 1;
        if (returned >= limit) return;
      }
      if (batch.length < requested) return;
    }
  }

  // --- writes ------------------------------------------------------------------------------------

  async set(key: string, value: Value, options: SetOptions = {}): Promise<void> {
    this.checkWritable();
    const keyBytes = encodeKey(key, this.manifest.keySizeMaxBytes);
    const encoded = encodeValue(value);
    const mutation: WalMutation = {
      kind: 'upsert',
      key: keyBytes,
      valueType: encoded.valueType,
      inlineValue: encoded.bytes,
      expiresAtMs: this.expiryOf(options),
    };
    this.checkValueFits(keyBytes, encoded.bytes.length);
    await this.track(this.commit([mutation], this.durabilityOf(options.durability)));
  }

  async del(key: string, options: { durability?: Durability } = {}): Promise<void> {
    this.checkWritable();
    const keyBytes = encodeKey(key, this.manifest.keySizeMaxBytes);
    await this.track(
      this.commit([{ kind: 'tombstone', key: keyBytes }], this.durabilityOf(options.durability)),
    );
  }
  protected durabilityOf(durability: Durability | undefined): Durability {
    const resolved = durability ?? this.options.durability;
    if (resolved !== 'fsync' && resolved !== 'relaxed') {
      throw new JubilantError(
        'INVALID_ARGUMENT',
        `durability must be 'fsync' or 'relaxed', not ${String(resolved)}`,
      );
    }
    return resolved;
  }

  /** Logs and applies one commit after earlier commits on its keys; resolves with its LSN. */
  private async commit(mutations: readonly WalMutation[], durability: Durability): Promise<Lsn> {
    const release = await this.keyChains.acquire(mutations.map((mutation) => mutation.key));
    try {
      return await this.pipeline.commit(mutations, durability);
    } finally {
      release();
    }
  }

  protected expiryOf(options: SetOptions): number {
    if (options.ttlMs !== undefined && options.expiresAtMs !== undefined) {
      throw new JubilantError('INVALID_ARGUMENT', 'give ttlMs or expiresAtMs, not both');
    }
    for (const [name, value] of [
      ['ttlMs', options.ttlMs],
      ['expiresAtMs', options.expiresAtMs],
    ] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
        throw new JubilantError('INVALID_ARGUMENT', `${name} must be a positive integer of milliseconds`);
      }
    }
    const expiresAtMs =
      options.ttlMs !== undefined ? this.clock.nowMs() + options.ttlMs : (options.expiresAtMs ?? 0);
    if (!Number.isSafeInteger(expiresAtMs)) {
      throw new JubilantError(
        'INVALID_ARGUMENT',
        `the expiry ${expiresAtMs} is past the largest time stored exactly`,
      );
    }
    return expiresAtMs;
  }

  // --- primitives for the transaction layer (src/txn), which holds the locks -----------------------

  /** The stored entry for a key (tombstones and expired entries included), without waiting. */
  async readEntry(key: Uint8Array): Promise<LeafEntry | undefined> {
    const found = await this.tree.get(key);
    if (found === undefined) return undefined;
    const entry = ownedEntry(found); // the transaction keeps it across awaits
    return entry.pointer === undefined ? entry : this.resolved(entry);
  }

  /** Every stored entry in the range, in key order (tombstones included). */
  async scanEntries(range: KeyRange): Promise<LeafEntry[]> {
    const cursor = this.tree.cursor(range);
    const entries: LeafEntry[] = [];
    for (;;) {
      const batch = (await cursor.nextBatch(SCAN_BATCH_ENTRIES)).map(ownedEntry); // kept across awaits
      for (const entry of batch) {
        const resolved = entry.pointer === undefined ? entry : await this.resolved(entry);
        if (resolved !== undefined) entries.push(resolved);
      }
      if (batch.length < SCAN_BATCH_ENTRIES) return entries;
    }
  }

  /** Throws VALUE_TOO_LARGE (naming the op) when a value is above the 64 MiB maximum. */
  checkValueFits(_key: Uint8Array, valueBytes: number, opIndex?: number): void {
    if (valueBytes <= VALUE_SIZE_BYTES_MAX) return;
    throw new JubilantError(
      'VALUE_TOO_LARGE',
      `a value of ${valueBytes} bytes is larger than the ${VALUE_SIZE_BYTES_MAX}-byte maximum`,
      opIndex === undefined ? {} : { opIndex },
    );
  }

  /**
   * Logs and applies one commit whose keys the caller has locked exclusively (strict 2PL): no per-key
   * ordering is added here. Resolves with the LSN once the commit is acknowledged.
   */
  commitMutations(
    mutations: readonly WalMutation[],
    durability: Durability,
    grant?: Releasable,
  ): Promise<Lsn> {
    // close() waits for every commit the pipeline has in flight.
    return this.pipeline.commit(mutations, durability, grant);
  }

  // --- primitives for value-log GC (src/txn/vlog-gc.ts), which holds the key locks ----------------

  /** The key's entry exactly as the tree holds it (a value-log pointer unresolved). */
  async storedEntry(key: Uint8Array): Promise<LeafEntry | undefined> {
    const entry = await this.tree.get(key);
    return entry === undefined ? undefined : ownedEntry(entry); // the caller keeps it across awaits
  }

  /** Up to `limit` stored entries after `afterKey` (from the start when undefined), tombstones included. */
  async storedEntriesAfter(afterKey: Uint8Array | undefined, limit: number): Promise<LeafEntry[]> {
    const cursor = this.tree.cursor(afterKey === undefined ? {} : { start: afterKey });
    const batch = (await cursor.nextBatch(limit + 1)).map(ownedEntry); // the caller keeps them
    const first = batch[0];
    if (afterKey !== undefined && first !== undefined && compareBytes(first.key, afterKey) === 0)
      batch.shift();
    return batch.slice(0, limit);
  }

  /**
   * Physically removes the key's tombstone if it is still the one written at `revision` (the caller
   * holds the key's exclusive lock). Not logged: a missing key and a tombstone read the same, and
   * replay of the WAL re-applies the tombstone's own record anyway.
   */
  async removeTombstone(key: Uint8Array, revision: Lsn): Promise<boolean> {
    this.checkNotReadOnly();
    return this.track(
      this.pipeline.admitted(async () => {
        const entry = await this.tree.get(key);
        if (entry === undefined || !entry.tombstone || entry.revision !== revision) return false;
        return this.tree.remove(key, revision);
      }),
    );
  }

  valueLogSegments(): ValueLogSegmentStats[] {
    return this.valueLog.segmentStats();
  }

  /** Sealed segments whose dead share passed the GC threshold, most garbage first. */
  garbageValueLogSegments(): number[] {
    return this.valueLog.garbageSegments();
  }

  valueLogRecords(segment: number): AsyncGenerator<SegmentRecord> {
    return this.valueLog.records(segment);
  }

  /**
   * Marks an emptied segment for deletion: nothing logged from now on points into it, so it goes once
   * both checkpoints are past the LSNs assigned so far. Returns that LSN.
   */
  retireValueLogSegment(segment: number): Lsn {
    const afterLsn = lsn(this.groupCommit.nextLsn - 1n);
    this.valueLog.retire(segment, afterLsn);
    return afterLsn;
  }

  /** The lowest checkpoint LSN of both superblocks (a segment retired at or below it can go). */
  get checkpointLsnMin(): Lsn {
    return this.store.durableCheckpointLsnMin;
  }

  /** GC's trigger: called when a sealed segment's dead share passes `threshold`. */
  watchValueLogGarbage(threshold: number, onGarbage: () => void): void {
    this.valueLog.gcThreshold = threshold;
    this.valueLog.onGarbage = onGarbage;
  }

  get keySizeMaxBytes(): number {
    return this.manifest.keySizeMaxBytes;
  }

  get durableLsn(): Lsn {
    return this.groupCommit.durableLsn;
  }

  waitDurableLsn(target: Lsn): Promise<void> {
    return this.waitDurable(target);
  }

  nowMs(): number {
    return this.clock.nowMs();
  }

  // --- checkpoints -------------------------------------------------------------------------------

  /** Writes a checkpoint of everything applied so far, then drops WAL segments neither image needs. */
  async checkpoint(): Promise<void> {
    this.checkWritable();
    await this.track(this.runCheckpoint());
  }

  private async runCheckpoint(): Promise<void> {
    while (this.checkpointRunning !== undefined) await this.checkpointRunning.catch(() => undefined);
    const running = this.checkpointOnce();
    this.checkpointRunning = running;
    try {
      await running;
    } finally {
      this.checkpointRunning = undefined;
    }
  }

  private async checkpointOnce(): Promise<void> {
    const store = this.store;
    const loggedBytesBefore = this.pipeline.loggedBytes;
    try {
      await store.checkpoint(() => this.applied.lsn, {
        beforePageWrites: (pageLsnMax) => this.groupCommit.waitDurable(pageLsnMax),
        calibration: this.clock.calibration(),
      });
    } catch (error) {
      this.enterReadOnly(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    this.checkpoints += 1;
    this.loggedBytesAtCheckpoint = loggedBytesBefore;
    await this.wal.releaseSegmentsBelow(lsn(store.durableCheckpointLsnMin + 1n));
    await this.valueLog.deleteRetired(store.durableCheckpointLsnMin);
  }

  /** Starts a checkpoint in the background unless one is running. */
  private triggerCheckpoint(): void {
    if (this.checkpointRunning !== undefined || this.closing || this.readOnlyReason !== undefined) return;
    this.runCheckpoint().catch(() => undefined); // a failure already turned the database read-only
  }

  private afterCommit(): void {
    const dirtyShare = this.store.dirtyBytes / this.cache.budgetBytes;
    if (
      dirtyShare >= this.options.dirtyShareMax ||
      this.pipeline.loggedBytes - this.loggedBytesAtCheckpoint >= this.options.checkpointWalBytes
    ) {
      this.triggerCheckpoint();
    }
  }

  // --- state -------------------------------------------------------------------------------------

  stats(): DatabaseStats {
    return {
      lsn: {
        next: this.groupCommit.nextLsn,
        durable: this.groupCommit.durableLsn,
        applied: this.applied.lsn,
        checkpoint: this.store.superblock.checkpointLsn,
      },
      cache: { ...this.cache.stats(), accountedBytes: this.cache.accountedBytes },
      wal: {
        segments: this.wal.segments().length,
        batches: this.groupCommit.counters.batches,
        records: this.groupCommit.counters.records,
      },
      tree: {
        pageCount: this.store.pageCount,
        dirtyPages: this.store.dirtyCount,
        dirtyBytes: this.store.dirtyBytes,
      },
      commits: this.pipeline.commits,
      checkpoints: this.checkpoints,
      valueLog: this.valueLog.stats(),
      readOnly: this.readOnlyReason?.message,
    };
  }

  /** Stops new work, waits for commits in flight, checkpoints, and releases the directory. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    await Promise.allSettled([...this.inFlight]);
    await this.pipeline.idle();
    await this.groupCommit.drain();
    if (this.readOnlyReason === undefined) await this.runCheckpoint().catch(() => undefined);
    this.groupCommit.close();
    await this.valueLog.close().catch(() => undefined);
    await this.wal.close().catch(() => undefined);
    await this.store.close().catch(() => undefined);
    await this.lock.release();
  }

  private enterReadOnly(error: Error): void {
    if (this.readOnlyReason !== undefined) return;
    this.readOnlyReason = error;
    void this.track(this.reloadDurableState());
  }

  /** After a failure: serve only what is durable (last checkpoint + WAL up to the durable LSN). */
  private async reloadDurableState(): Promise<void> {
    const previous = this.store;
    try {
      const cache = new UnifiedCache(this.cache.budgetBytes);
      const opened = await openStorage(this.fs, this.directory, {
        cache,
        repair: false,
        durableLsnMax: this.groupCommit.durableLsn,
      });
      this.store = opened.store;
      this.tree = opened.tree;
    } catch {
      // The durable state cannot be read either: reads keep failing with the original error.
      this.closing = true;
    }
    await previous.close().catch(() => undefined);
  }

  private async waitDurable(revision: Lsn): Promise<void> {
    if (revision > this.groupCommit.durableLsn) await this.groupCommit.waitDurable(revision);
  }

  private valueOf(entry: LeafEntry): Value {
    assert(entry.inlineValue !== undefined, 'an entry without a pointer holds its value inline');
    return decodeValue(entry.valueType, entry.inlineValue);
  }

  /**
   * The entry with a value-log value read in as if inline; undefined when the key turned missing
   * meanwhile (see LargeValues.resolve).
   */
  private resolved(entry: LeafEntry): Promise<LeafEntry | undefined> {
    return this.largeValues.resolve(entry, async (key) => {
      const found = await this.tree.get(key);
      if (found === undefined) return undefined;
      const again = ownedEntry(found); // kept across the awaits of the value-log read
      await this.waitDurable(again.revision); // never a write a crash could undo
      return again;
    });
  }

  /** A value-log value; undefined when the key changed to missing meanwhile (see `resolved`). */
  private async valueLogValueOf(entry: LeafEntry, nowMs: number): Promise<Value | undefined> {
    const resolved = await this.resolved(entry);
    if (resolved === undefined || !isLive(resolved, nowMs)) return undefined;
    return decodeValue(resolved.valueType, resolved.inlineValue as Uint8Array);
  }

  protected checkOpen(): void {
    if (this.closing) throw new JubilantError('CLOSED', 'the database is closed');
  }

  private checkWritable(): void {
    this.checkOpen();
    this.checkNotReadOnly();
  }

  private checkNotReadOnly(): void {
    if (this.readOnlyReason !== undefined) {
      throw new JubilantError(
        'READ_ONLY',
        `the database is read-only after a failure (${this.readOnlyReason.message}); reopen it`,
        { cause: this.readOnlyReason },
      );
    }
  }

  protected track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const forget = () => this.inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }
}
