/**
 * The database applications use: the engine's Database plus serializable multi-key transactions.
 * `transaction({ keys, ops, durability })` plans the request (every check before any lock), takes its
 * locks in canonical order (strict 2PL, bounded wait), runs the ops against an overlay, and commits the
 * overlay as one WAL record, holding the locks until the commit is acknowledged. Single `set`/`del` are
 * one-key transactions, so they order correctly against transactions on the same key.
 */
import {
  type DatabaseParts,
  type DatabaseStats,
  Database as EngineDatabase,
  type SetOptions,
} from '../engine/database.js';
import { encodeKey, encodeValue } from '../engine/value-codec.js';
import { type LockGrant, LockManager } from '../lock/lock-manager.js';
import type { Durability } from '../storage/wal/group-commit.js';
import type { WalMutation } from '../storage/wal/wal-record.js';
import { type ErrorCode, isJubilantError } from '../util/errors.js';
import type { Lsn } from '../util/ids.js';
import { TxnExecution } from './executor.js';
import type { OpResult, TxnRequest, Value } from './ops.js';
import { type Plan, planTransaction } from './plan.js';
import { type SweeperStats, TtlSweeper } from './ttl-sweeper.js';
import { type GcStats, ValueLogGc } from './vlog-gc.js';

export interface TransactionResult {
  readonly lsn: Lsn;
  readonly results: OpResult[];
}

export interface TransactionStats {
  readonly commits: number;
  readonly readOnlyCommits: number;
  /** Aborts by error code (ASSERTION_FAILED, LOCK_TIMEOUT, ...). */
  readonly aborts: Readonly<Partial<Record<ErrorCode, number>>>;
  readonly locks: ReturnType<LockManager['stats']>;
}

export class Database extends EngineDatabase {
  private readonly locks = new LockManager();
  private lockTimeoutMs: number;
  private txnCommits = 0;
  private txnReadOnlyCommits = 0;
  private readonly aborts: Partial<Record<ErrorCode, number>> = {};

  private readonly gc: ValueLogGc;
  private gcTimer: NodeJS.Timeout | undefined;
  private readonly sweeper: TtlSweeper;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(parts: DatabaseParts) {
    super(parts);
    this.lockTimeoutMs = this.options.lockTimeoutMs;
    this.gc = new ValueLogGc({
      garbageValueLogSegments: () => this.garbageValueLogSegments(),
      valueLogRecords: (segment) => this.valueLogRecords(segment),
      storedEntry: (key) => this.storedEntry(key),
      lockKey: (key) => this.lockKey(key),
      commitMutations: (mutations, durability) => this.commitMutations(mutations, durability),
      retireValueLogSegment: (segment) => this.retireValueLogSegment(segment),
      checkpointLsnMin: () => this.checkpointLsnMin,
      checkpoint: () => this.checkpoint(),
      nowMs: () => this.nowMs(),
    });
    this.watchValueLogGarbage(this.options.vlogGcThreshold, () => this.gc.trigger());
    if (this.options.vlogGcIntervalMs > 0) {
      this.gcTimer = setInterval(() => this.gc.trigger(), this.options.vlogGcIntervalMs);
      this.gcTimer.unref();
    }
    this.gc.trigger(); // segments left over the threshold before a restart
    this.sweeper = new TtlSweeper(
      {
        storedEntriesAfter: (afterKey, limit) => this.storedEntriesAfter(afterKey, limit),
        storedEntry: (key) => this.storedEntry(key),
        lockKey: (key) => this.lockKey(key),
        commitMutations: (mutations, durability) => this.commitMutations(mutations, durability),
        removeTombstone: (key, revision) => this.removeTombstone(key, revision),
        checkpointLsnMin: () => this.checkpointLsnMin,
        nowMs: () => this.nowMs(),
      },
      this.options.ttlSweepBatchEntries,
    );
    if (this.options.ttlSweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => this.sweeper.backgroundTick(), this.options.ttlSweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  private async lockKey(key: Uint8Array): Promise<() => void> {
    const grant = await this.locks.acquire({ keys: [{ key, mode: 'X' }] }, { timeoutMs: this.lockTimeoutMs });
    return () => grant.release();
  }

  /** Runs the TTL sweeper over the whole tree now: expired keys become tombstones, old tombstones go. */
  sweepExpired(): Promise<void> {
    this.checkOpen();
    return this.sweeper.sweepAll();
  }

  /** The engine's statistics plus transactions (commits, aborts by reason, locks) and value-log GC. */
  override stats(): DatabaseStats & {
    readonly transactions: TransactionStats;
    readonly valueLogGc: GcStats;
    readonly ttlSweeper: SweeperStats;
  } {
    return {
      ...super.stats(),
      transactions: this.transactionStats(),
      valueLogGc: this.gc.stats(),
      ttlSweeper: this.sweeper.stats(),
    };
  }

  /**
   * Runs value-log GC now until no sealed segment's dead share is over the threshold (or joins the run
   * in progress), including the checkpoints that let emptied segments be deleted.
   */
  collectValueLogGarbage(): Promise<void> {
    this.checkOpen();
    return this.gc.collect();
  }

  /** Stops GC (waiting for its current cycle), then closes the database. */
  override async close(): Promise<void> {
    if (this.gcTimer !== undefined) clearInterval(this.gcTimer);
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    await this.gc.stop();
    await this.sweeper.stop();
    await super.close();
  }

  /** Bounds every lock wait (LOCK_TIMEOUT, retryable, after this long). */
  setLockTimeoutMs(timeoutMs: number): void {
    this.lockTimeoutMs = timeoutMs;
  }

  /** Runs one transaction; close() waits for transactions begun before it. */
  transaction(request: TxnRequest): Promise<TransactionResult> {
    this.checkOpen();
    return this.track(this.runTransaction(request));
  }

  private async runTransaction(request: TxnRequest): Promise<TransactionResult> {
    let plan: Plan;
    try {
      plan = planTransaction(request, {
        keySizeMaxBytes: this.keySizeMaxBytes,
        checkValueFits: (key, valueBytes, opIndex) => this.checkValueFits(key, valueBytes, opIndex),
      });
    } catch (error) {
      this.countAbort(error);
      throw error;
    }
    const durability = this.durabilityOf(request.durability);
    const grant = await this.acquire(plan);
    try {
      const execution = new TxnExecution(this, plan);
      const results = await execution.run();
      const lsn = await execution.commit(durability);
      if (plan.readOnly) this.txnReadOnlyCommits += 1;
      else this.txnCommits += 1;
      return { lsn, results };
    } catch (error) {
      this.countAbort(error);
      throw error;
    } finally {
      grant.release();
    }
  }

  /**
   * A one-key transaction without the planner and overlay: validate, take the key's exclusive lock,
   * commit one upsert, release. Same semantics as `transaction` with one SET, less work per commit:
   * when the lock is free it is taken synchronously and the commit pipeline releases it once the
   * commit settles, so an uncontended set costs two promises and no async function.
   */
  override set(key: string, value: Value, options: SetOptions = {}): Promise<void> {
    this.checkOpen();
    const keyBytes = encodeKey(key, this.keySizeMaxBytes);
    const encoded = encodeValue(value);
    this.checkValueFits(keyBytes, encoded.bytes.length);
    const mutation: WalMutation = {
      kind: 'upsert',
      key: keyBytes,
      valueType: encoded.valueType,
      inlineValue: encoded.bytes,
      expiresAtMs: this.expiryOf(options),
    };
    return this.commitOneKey(mutation, this.durabilityOf(options.durability));
  }

  override del(key: string, options: { durability?: Durability } = {}): Promise<void> {
    this.checkOpen();
    const keyBytes = encodeKey(key, this.keySizeMaxBytes);
    return this.commitOneKey({ kind: 'tombstone', key: keyBytes }, this.durabilityOf(options.durability));
  }

  private commitOneKey(mutation: WalMutation, durability: Durability): Promise<void> {
    const acquired = this.locks.acquireOrWait(
      { keys: [{ key: mutation.key, mode: 'X' }] },
      { timeoutMs: this.lockTimeoutMs },
    );
    if (acquired instanceof Promise)
      return this.track(this.commitOneKeyAfterWait(acquired, mutation, durability));
    return this.commitMutations([mutation], durability, acquired).then(
      this.oneKeyCommitted,
      this.oneKeyAborted,
    );
  }

  private async commitOneKeyAfterWait(
    acquiring: Promise<LockGrant>,
    mutation: WalMutation,
    durability: Durability,
  ): Promise<void> {
    let grant: LockGrant;
    try {
      grant = await acquiring;
    } catch (error) {
      this.countAbort(error);
      throw error;
    }
    await this.commitMutations([mutation], durability, grant).then(this.oneKeyCommitted, this.oneKeyAborted);
  }

  private readonly oneKeyCommitted = (): void => {
    this.txnCommits += 1;
  };

  private readonly oneKeyAborted = (error: unknown): never => {
    this.countAbort(error);
    throw error;
  };

  transactionStats(): TransactionStats {
    return {
      commits: this.txnCommits,
      readOnlyCommits: this.txnReadOnlyCommits,
      aborts: { ...this.aborts },
      locks: this.locks.stats(),
    };
  }

  private async acquire(plan: Plan) {
    try {
      return await this.locks.acquire(
        {
          keys: plan.locks.points,
          ranges: plan.locks.ranges.map((range) => ({ ...range, mode: 'S' as const })),
        },
        { timeoutMs: this.lockTimeoutMs },
      );
    } catch (error) {
      this.countAbort(error);
      throw error;
    }
  }

  private countAbort(error: unknown): void {
    if (!isJubilantError(error)) return;
    this.aborts[error.code] = (this.aborts[error.code] ?? 0) + 1;
  }
}
