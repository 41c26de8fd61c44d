/**
 * Value-log garbage collection. A cycle takes one sealed segment whose dead share passed the threshold
 * (most garbage first), reads its records in order, and rewrites each record that is still live to the
 * head of the log through an ordinary logged update: under the key's exclusive lock it reads the key's
 * entry again and rewrites only if the entry still points at that very record, so a value changed (or
 * deleted) meanwhile is never resurrected. An expired value is replaced by a tombstone instead (what the
 * TTL sweeper would do). Once every live record has moved, the segment is retired; the engine deletes
 * it after both checkpoints are past the LSNs assigned by then, so neither checkpoint image nor the WAL
 * replayed after it references the file any more. The cycle asks for those checkpoints itself, so the
 * space comes back at once.
 *
 * Crash safety follows from the parts: every rewrite is a logged commit (replayed or not, the key holds
 * either the old pointer, whose record still exists, or the new one), and the file is deleted only
 * when no recovery path can reach it. After a crash the accounting rebuilt at open finds the segment's
 * remaining live bytes and GC simply runs again.
 */
import type { LeafEntry, ValueLogPointer } from '../storage/btree/node.js';
import type { SegmentRecord } from '../storage/vlog/value-log.js';
import type { WalMutation } from '../storage/wal/wal-record.js';
import type { Lsn } from '../util/ids.js';

/** What GC needs from the database: the engine's primitives and the transaction layer's key locks. */
export interface GcHost {
  garbageValueLogSegments(): number[];
  valueLogRecords(segment: number): AsyncGenerator<SegmentRecord>;
  storedEntry(key: Uint8Array): Promise<LeafEntry | undefined>;
  /** Takes the key's exclusive lock; resolves with its release. */
  lockKey(key: Uint8Array): Promise<() => void>;
  commitMutations(mutations: readonly WalMutation[], durability: 'fsync'): Promise<Lsn>;
  retireValueLogSegment(segment: number): Lsn;
  /** The lowest checkpoint LSN of both superblocks. */
  checkpointLsnMin(): Lsn;
  checkpoint(): Promise<void>;
  nowMs(): number;
}

export interface GcCycle {
  readonly segment: number;
  readonly records: number;
  readonly rewritten: number;
  readonly expired: number;
}

export interface GcStats {
  readonly cycles: number;
  readonly recordsRewritten: number;
  readonly lastCycle: GcCycle | undefined;
  readonly lastError: string | undefined;
}

/** Checkpoints a cycle runs at most to get past its retirement LSN (one per superblock). */
const CHECKPOINTS_TO_RELEASE = 2;

export class ValueLogGc {
  private readonly host: GcHost;
  private running: Promise<void> | undefined;
  private cycles = 0;
  private recordsRewritten = 0;
  private lastCycle: GcCycle | undefined;
  private lastError: string | undefined;
  private stopped = false;

  constructor(host: GcHost) {
    this.host = host;
  }

  /**
   * Runs cycles until no sealed segment is over the threshold; joins the run in progress if there is
   * one. Resolves with the cycles it ran.
   */
  collect(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.runCycles().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  /** The background trigger: like `collect`, but a failure is only recorded (stats show it). */
  trigger(): void {
    if (this.stopped || this.running !== undefined) return;
    this.collect().catch((error: unknown) => {
      this.lastError = error instanceof Error ? error.message : String(error);
    });
  }

  /** No new cycles start; waits for the current one. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  stats(): GcStats {
    return {
      cycles: this.cycles,
      recordsRewritten: this.recordsRewritten,
      lastCycle: this.lastCycle,
      lastError: this.lastError,
    };
  }

  private async runCycles(): Promise<void> {
    // Yield first: a trigger fires inside a commit's apply, and the cycle must not run inside it.
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      if (this.stopped) return;
      const [segment] = this.host.garbageValueLogSegments();
      if (segment === undefined) return;
      this.lastCycle = await this.cycle(segment);
      this.cycles += 1;
    }
  }

  private async cycle(segment: number): Promise<GcCycle> {
    let records = 0;
    let rewritten = 0;
    let expired = 0;
    for await (const record of this.host.valueLogRecords(segment)) {
      records += 1;
      if (!pointsAt(await this.host.storedEntry(record.key), record.pointer)) continue; // dead already
      const release = await this.host.lockKey(record.key);
      try {
        const entry = await this.host.storedEntry(record.key);
        if (entry === undefined || !pointsAt(entry, record.pointer)) continue; // changed meanwhile
        if (entry.expiresAtMs !== 0 && entry.expiresAtMs <= this.host.nowMs()) {
          await this.host.commitMutations([{ kind: 'tombstone', key: record.key }], 'fsync');
          expired += 1;
        } else {
          const rewrite: WalMutation = {
            kind: 'upsert',
            key: record.key,
            valueType: record.valueType,
            inlineValue: record.value,
            expiresAtMs: entry.expiresAtMs,
          };
          await this.host.commitMutations([rewrite], 'fsync');
          rewritten += 1;
          this.recordsRewritten += 1;
        }
      } finally {
        release();
      }
    }
    const afterLsn = this.host.retireValueLogSegment(segment);
    for (let i = 0; i < CHECKPOINTS_TO_RELEASE && this.host.checkpointLsnMin() < afterLsn; i++) {
      await this.host.checkpoint();
    }
    return { segment, records, rewritten, expired };
  }
}

function pointsAt(entry: LeafEntry | undefined, pointer: ValueLogPointer): boolean {
  return (
    entry !== undefined &&
    !entry.tombstone &&
    entry.pointer !== undefined &&
    entry.pointer.segment === pointer.segment &&
    entry.pointer.offsetBytes === pointer.offsetBytes
  );
}
