/**
 * The TTL sweeper. Expired keys already read as missing everywhere (every read checks the expiry
 * against the calibrated clock); the sweeper turns them into tombstones, which releases their
 * value-log bytes for GC, and later removes tombstones physically so the tree does not keep them.
 *
 * It walks the tree incrementally: each tick reads at most `batchEntries` entries after the last key it
 * saw, so one tick is bounded work and requests are never stalled; after the last key it starts over.
 * - An expired value becomes a tombstone through an ordinary logged commit, taken under the key's
 *   exclusive lock after reading the entry again: only if it is still the same write (same revision)
 *   and still expired. A key rewritten after it expired survives the sweep.
 * - A tombstone is removed physically once both checkpoints are past it (its revision is at or below
 *   both superblocks' checkpoint LSNs), under the key's lock and only if it is still that tombstone.
 *   Nothing needs it then: a missing key and a tombstone read the same, and any replay starts after it.
 */
import type { LeafEntry } from '../storage/btree/node.js';
import type { WalMutation } from '../storage/wal/wal-record.js';
import type { Lsn } from '../util/ids.js';

export interface SweeperHost {
  storedEntriesAfter(afterKey: Uint8Array | undefined, limit: number): Promise<LeafEntry[]>;
  storedEntry(key: Uint8Array): Promise<LeafEntry | undefined>;
  lockKey(key: Uint8Array): Promise<() => void>;
  commitMutations(mutations: readonly WalMutation[], durability: 'relaxed'): Promise<Lsn>;
  removeTombstone(key: Uint8Array, revision: Lsn): Promise<boolean>;
  checkpointLsnMin(): Lsn;
  nowMs(): number;
}

export interface SweeperStats {
  /** Completed walks over the whole tree. */
  readonly passes: number;
  readonly entriesVisited: number;
  readonly expiredDeleted: number;
  readonly tombstonesRemoved: number;
  readonly lastError: string | undefined;
}

export class TtlSweeper {
  private readonly host: SweeperHost;
  private readonly batchEntries: number;
  /** The last key a tick looked at; undefined at the start of a pass. */
  private position: Uint8Array | undefined;
  private ticking: Promise<boolean> | undefined;
  private passes = 0;
  private entriesVisited = 0;
  private expiredDeleted = 0;
  private tombstonesRemoved = 0;
  private lastError: string | undefined;
  private stopped = false;

  constructor(host: SweeperHost, batchEntries: number) {
    this.host = host;
    this.batchEntries = batchEntries;
  }

  /** One bounded step of the walk; resolves true when it finished a pass. Joins a tick in progress. */
  tick(): Promise<boolean> {
    if (this.ticking === undefined) {
      this.ticking = this.step().finally(() => {
        this.ticking = undefined;
      });
    }
    return this.ticking;
  }

  /** Ticks until one whole pass from the current position to the end, then from the start, is done. */
  async sweepAll(): Promise<void> {
    await this.ticking?.catch(() => undefined);
    this.position = undefined;
    while (!this.stopped && !(await this.tick())) {
      // each tick is bounded; keep going until the pass completes
    }
  }

  /** The background tick: a failure (LOCK_TIMEOUT, READ_ONLY, ...) is recorded, and the next tick retries. */
  backgroundTick(): void {
    if (this.ticking !== undefined || this.stopped) return;
    this.tick().catch((error: unknown) => {
      this.lastError = error instanceof Error ? error.message : String(error);
    });
  }

  /** No new steps start (a sweep in progress ends after its current step). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.ticking?.catch(() => undefined);
  }

  stats(): SweeperStats {
    return {
      passes: this.passes,
      entriesVisited: this.entriesVisited,
      expiredDeleted: this.expiredDeleted,
      tombstonesRemoved: this.tombstonesRemoved,
      lastError: this.lastError,
    };
  }

  private async step(): Promise<boolean> {
    const batch = await this.host.storedEntriesAfter(this.position, this.batchEntries);
    const nowMs = this.host.nowMs();
    const checkpointLsnMin = this.host.checkpointLsnMin();
    for (const entry of batch) {
      this.entriesVisited += 1;
      if (entry.tombstone) {
        if (entry.revision <= checkpointLsnMin) await this.removeTombstone(entry);
      } else if (isExpired(entry, nowMs)) {
        await this.deleteExpired(entry);
      }
    }
    const last = batch[batch.length - 1];
    if (batch.length < this.batchEntries || last === undefined) {
      this.position = undefined;
      this.passes += 1;
      return true;
    }
    this.position = last.key;
    return false;
  }

  private async deleteExpired(seen: LeafEntry): Promise<void> {
    const release = await this.host.lockKey(seen.key);
    try {
      const entry = await this.host.storedEntry(seen.key);
      // Rewritten (or deleted) since the walk saw it: not this sweep's business any more.
      if (entry === undefined || entry.revision !== seen.revision || !isExpired(entry, this.host.nowMs())) {
        return;
      }
      await this.host.commitMutations([{ kind: 'tombstone', key: seen.key }], 'relaxed');
      this.expiredDeleted += 1;
    } finally {
      release();
    }
  }

  private async removeTombstone(seen: LeafEntry): Promise<void> {
    const release = await this.host.lockKey(seen.key);
    try {
      if (await this.host.removeTombstone(seen.key, seen.revision)) this.tombstonesRemoved += 1;
    } finally {
      release();
    }
  }
}

function isExpired(entry: LeafEntry, nowMs: number): boolean {
  return !entry.tombstone && entry.expiresAtMs !== 0 && entry.expiresAtMs <= nowMs;
}
