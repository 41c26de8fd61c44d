/**
 * Group commit: one writer turns the records of concurrent commits into one WAL batch, one write and
 * one fdatasync per cycle (BRIEF.md, "WAL and group commit").
 *
 * - LSNs are assigned at `submit`, in submission order; batches carry consecutive LSNs.
 * - The writer never idles while records are queued: when a cycle's fdatasync completes, everything
 *   queued meanwhile goes out at once. An idle writer that gets a record starts a cycle on the next
 *   turn of the event loop, so commits submitted together share it; that is well within
 *   `maxLatencyMs`, the bound on how long an idle writer may wait. `batchBytesMax` cuts a batch short.
 * - Durability `fsync` resolves a commit after the fdatasync that covers it; `relaxed` resolves at
 *   submission and is lost only if it was submitted after the last completed fdatasync began.
 * - ENOSPC from a batch's write: the batch's `fsync` commits fail with DISK_FULL (retryable) and their
 *   records become empty commits (their LSNs stay, so the log has no gap); `relaxed` records, already
 *   acknowledged, stay; the batch is retried after `retryDelayMs` until space returns.
 * - Any other failure (EIO from write or fdatasync) fails the group commit for good: every waiting and
 *   later commit is rejected, and `onFailure` tells the database to turn read-only. Never retried.
 */
import { isIoError } from '../../io/file-system.js';
import { assert } from '../../util/assert.js';
import { JubilantError } from '../../util/errors.js';
import { type Lsn, lsn } from '../../util/ids.js';
import { encodeWalRecord } from './wal-record.js';
import type { WalWriter } from './wal-writer.js';

export type Durability = 'fsync' | 'relaxed';

export interface GroupCommitOptions {
  /** Longest an idle writer waits to gather a fuller batch (default 5). */
  readonly maxLatencyMs: number;
  /** A batch is cut once its records reach this many bytes (at least one record per batch). */
  readonly batchBytesMax: number;
  /** Pause before retrying a batch that failed with ENOSPC. */
  readonly retryDelayMs: number;
  readonly onFailure?: (error: Error) => void;
  /**
   * Runs before each batch is written: the value log makes the records the batch points at durable
   * here, so its bytes always reach the disk before the WAL records that reference them. A failure
   * fails the group commit like a failed WAL write.
   */
  readonly beforeWrite?: () => Promise<void>;
}

export interface Submitted {
  readonly lsn: Lsn;
  /** Resolves when the record is durable; rejects when it never will be (DISK_FULL, IO failure). */
  readonly durable: Promise<void>;
}

/**
 * A record to log and the party told what became of it. The hot commit path hands the group commit
 * one such object per commit instead of a closure and a promise (see engine/commit-pipeline.ts).
 */
export interface LogRequest {
  /** Builds the record with its LSN; runs synchronously inside `submitRequest`. */
  encode(recordLsn: Lsn): Uint8Array;
  /** The fdatasync covering the record completed. */
  durable(): void;
  /**
   * The record will never be durable: DISK_FULL (it became an empty commit) or a failed WAL. Exactly
   * one of `durable` and `failed` is called, once.
   */
  failed(error: Error): void;
}

interface Pending {
  readonly lsn: Lsn;
  payload: Uint8Array;
  readonly durability: Durability;
  readonly request: LogRequest;
  /** An fsync commit that already failed with DISK_FULL: its record is now an empty commit. */
  voided: boolean;
}

/** `submit`'s LogRequest: a closure to encode and a promise to settle. */
class PromisedRequest implements LogRequest {
  readonly promise: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: Error) => void;

  constructor(readonly encode: (recordLsn: Lsn) => Uint8Array) {
    this.promise = new Promise<void>((onResolve, onReject) => {
      this.resolve = onResolve;
      this.reject = onReject;
    });
  }

  durable(): void {
    this.resolve();
  }

  failed(error: Error): void {
    this.reject(error);
  }
}

interface DurableWaiter {
  readonly lsn: Lsn;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

function emptyCommit(recordLsn: Lsn): Uint8Array {
  return encodeWalRecord({ lsn: recordLsn, body: { kind: 'commit', mutations: [], committedAtMs: 0 } });
}

export class GroupCommit {
  private readonly writer: WalWriter;
  private readonly options: GroupCommitOptions;
  private readonly queue: Pending[] = [];
  private readonly waiters: DurableWaiter[] = [];
  private next: Lsn;
  private durable: Lsn;
  private writing = false;
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  /** Payload bytes of queued records, and of the batch being written (held until it is done). */
  private queuedBytes = 0;
  private writingBytes = 0;
  /** Waiters for the backlog to shrink (whenBacklogAtMost), woken after each batch. */
  private backlogWaiters: Array<{ limitBytes: number; resolve: () => void }> = [];
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | undefined;
  /** The ENOSPC the log is paused on: set when a batch write meets it, cleared when one succeeds. */
  private diskFullError: Error | undefined;
  /** Resolvers of whenDiskFull's promises, removed again when their waiter cancels. */
  private readonly diskFullWaiters = new Set<() => void>();
  /** Counters for stats(). */
  readonly counters = { batches: 0, records: 0, diskFullRetries: 0 };

  constructor(writer: WalWriter, options: GroupCommitOptions) {
    this.writer = writer;
    this.options = options;
    this.next = writer.nextLsn;
    this.durable = writer.durableLsn > 0n ? writer.durableLsn : lsn(writer.nextLsn - 1n);
  }

  get nextLsn(): Lsn {
    return this.next;
  }

  /** The last LSN covered by a completed fdatasync. */
  get durableLsn(): Lsn {
    return this.durable;
  }

  get failedWith(): Error | undefined {
    return this.failure;
  }

  /**
   * The ENOSPC the log is paused on (its batch waits for a retry), or undefined. While it is set no
   * record becomes durable, so nothing waiting on durability (a checkpoint's pages) makes progress.
   */
  get pausedOnDiskFull(): Error | undefined {
    return this.diskFullError;
  }

  /**
   * A promise resolved the next time the log pauses on a full disk, and `cancel` to stop waiting. A
   * waiter races it against something else and must cancel once either settles: one shared promise that
   * may never settle would keep a reaction for every race ever run against it.
   */
  whenDiskFull(): { promise: Promise<void>; cancel: () => void } {
    let resolve!: () => void;
    const promise = new Promise<void>((onResolve) => (resolve = onResolve));
    this.diskFullWaiters.add(resolve);
    return { promise, cancel: () => this.diskFullWaiters.delete(resolve) };
  }

  /** Payload bytes queued or being written: what the log holds in memory until it is on disk. */
  get backlogBytes(): number {
    return this.queuedBytes + this.writingBytes;
  }

  /** Resolves once the backlog is at most `limitBytes`, or the log has failed. */
  whenBacklogAtMost(limitBytes: number): Promise<void> {
    if (this.backlogBytes <= limitBytes || this.failure !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.backlogWaiters.push({ limitBytes, resolve }));
  }

  /**
   * Assigns the next LSN, builds the record with it and queues it. `encode` runs synchronously, so
   * LSN order is submission order.
   */
  submit(encode: (recordLsn: Lsn) => Uint8Array, durability: Durability): Submitted {
    const request = new PromisedRequest(encode);
    const recordLsn = this.submitRequest(request, durability);
    // A relaxed commit's caller may never wait for durability; do not let its rejection go unhandled.
    if (durability === 'relaxed') request.promise.catch(() => undefined);
    return { lsn: recordLsn, durable: request.promise };
  }

  /**
   * `submit` without a promise: assigns the next LSN, has `request` encode its record with it, queues
   * it and returns the LSN; `request.durable` or `request.failed` is called later, exactly once.
   */
  submitRequest(request: LogRequest, durability: Durability): Lsn {
    if (this.failure !== undefined) throw this.readOnlyError();
    const recordLsn = this.next;
    // Encoded before the LSN is taken: if `encode` throws, no LSN is used up and the log has no gap.
    const payload = request.encode(recordLsn);
    this.next = lsn(recordLsn + 1n);
    this.queue.push({ lsn: recordLsn, payload, durability, request, voided: false });
    this.queuedBytes += payload.length;
    this.schedule(0);
    return recordLsn;
  }

  /** Resolves once everything up to `target` is durable; rejects if that can no longer happen. */
  waitDurable(target: Lsn): Promise<void> {
    if (target <= this.durable) return Promise.resolve();
    if (this.failure !== undefined) return Promise.reject(this.readOnlyError());
    assert(target < this.next, `waiting for LSN ${target}, never assigned`);
    return new Promise((resolve, reject) => this.waiters.push({ lsn: target, resolve, reject }));
  }

  /** Resolves when nothing is queued or being written (for close()). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.writing) {
      if (this.idleResolve === undefined) this.idle = new Promise((resolve) => (this.idleResolve = resolve));
      await this.idle;
    }
  }

  /** Starts a cycle on the next turn of the event loop, or after `delayMs` (a retry after ENOSPC). */
  private schedule(delayMs: number): void {
    if (this.writing || this.scheduled !== undefined || this.queue.length === 0) return;
    const run = (): void => {
      this.scheduled = undefined;
      void this.cycle();
    };
    this.scheduled = delayMs > 0 ? setTimeout(run, delayMs) : setImmediate(run);
  }

  /** Writes batches until the queue is empty (or a retryable failure pauses it). */
  private async cycle(): Promise<void> {
    if (this.writing || this.failure !== undefined) return;
    this.writing = true;
    try {
      while (this.queue.length > 0 && this.failure === undefined) {
        const batch = this.takeBatch();
        const ok = await this.writeBatch(batch);
        this.writingBytes = 0;
        this.wakeBacklogWaiters();
        if (!ok) return; // paused for a retry; the batch went back to the front of the queue
      }
    } finally {
      this.writing = false;
      if (this.queue.length === 0) this.notifyIdle();
      else if (this.failure === undefined && this.scheduled === undefined)
        this.schedule(this.options.retryDelayMs);
    }
  }

  private takeBatch(): Pending[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || bytes < this.options.batchBytesMax)) {
      bytes += (this.queue[count] as Pending).payload.length;
      count += 1;
    }
    this.queuedBytes -= bytes;
    this.writingBytes = bytes;
    return this.queue.splice(0, count);
  }

  /** One write + fdatasync; false when it failed with ENOSPC and must be retried. */
  private async writeBatch(batch: Pending[]): Promise<boolean> {
    const first = batch[0] as Pending;
    assert(
      first.lsn === this.writer.nextLsn,
      `batch starts at ${first.lsn}, WAL expects ${this.writer.nextLsn}`,
    );
    try {
      if (this.options.beforeWrite !== undefined) await this.options.beforeWrite();
      await this.writer.writeBatch(
        first.lsn,
        batch.map((pending) => pending.payload),
      );
    } catch (error) {
      if (isIoError(error, 'ENOSPC')) {
        this.diskFull(batch, error);
        return false;
      }
      this.fail(error instanceof Error ? error : new Error(String(error)));
      // A record voided by an earlier ENOSPC was already told: each request hears exactly once.
      for (const pending of batch) if (!pending.voided) pending.request.failed(this.readOnlyError());
      return true;
    }
    const last = batch[batch.length - 1] as Pending;
    this.diskFullError = undefined;
    this.durable = last.lsn;
    this.counters.batches += 1;
    this.counters.records += batch.length;
    for (const pending of batch) if (!pending.voided) pending.request.durable();
    this.wakeWaiters();
    return true;
  }

  /** ENOSPC: fail the batch's fsync commits (retryable), keep its LSNs, and retry it later. */
  private diskFull(batch: Pending[], error: Error): void {
    this.counters.diskFullRetries += 1;
    this.diskFullError = error;
    for (const resolve of this.diskFullWaiters) resolve();
    this.diskFullWaiters.clear();
    for (const pending of batch) {
      if (pending.durability === 'fsync' && !pending.voided) {
        pending.voided = true;
        pending.payload = emptyCommit(pending.lsn);
        pending.request.failed(error);
      }
    }
    this.queue.unshift(...batch);
    this.queuedBytes += batch.reduce((sum, pending) => sum + pending.payload.length, 0);
  }

  private wakeBacklogWaiters(): void {
    if (this.backlogWaiters.length === 0) return;
    const failed = this.failure !== undefined;
    const waiting = this.backlogWaiters;
    this.backlogWaiters = [];
    for (const waiter of waiting) {
      if (failed || this.backlogBytes <= waiter.limitBytes) waiter.resolve();
      else this.backlogWaiters.push(waiter);
    }
  }

  private wakeWaiters(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i] as DurableWaiter;
      if (waiter.lsn <= this.durable) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    for (const pending of this.queue.splice(0)) {
      if (!pending.voided) pending.request.failed(this.readOnlyError());
    }
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.readOnlyError());
    this.queuedBytes = 0;
    this.writingBytes = 0; // a failed log writes nothing more: its batch is dropped with the queue
    this.wakeBacklogWaiters();
    this.notifyIdle();
    this.options.onFailure?.(error);
  }

  private readOnlyError(): JubilantError {
    const cause = this.failure;
    return new JubilantError(
      'READ_ONLY',
      `the write-ahead log failed (${cause?.message ?? 'unknown'}); the database is read-only until reopened`,
      cause === undefined ? {} : { cause },
    );
  }

  private notifyIdle(): void {
    const resolve = this.idleResolve;
    this.idleResolve = undefined;
    resolve?.();
  }

  /** Stops timers; the caller drains first. */
  close(): void {
    if (this.scheduled !== undefined) {
      clearTimeout(this.scheduled as NodeJS.Timeout);
      clearImmediate(this.scheduled as NodeJS.Immediate);
      this.scheduled = undefined;
    }
  }
}
