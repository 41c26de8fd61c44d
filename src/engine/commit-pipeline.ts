/**
 * The commit path of the engine: admit a commit within the dirty-page budget, log it through the group
 * commit, apply it to the tree once it is durable (`fsync`) or at once (`relaxed`), mark it applied and
 * settle its promise (database.ts states the rules this keeps).
 *
 * It is written as one object per commit (`PendingCommit`) handed from step to step, not as nested
 * async functions: with hundreds of writers, every commit's awaits, closures and promises were most of
 * its CPU time and most of the garbage the collector had to sweep. A commit whose tree path is in
 * memory and that finds room in the budget costs one promise, which its caller gets; only a commit
 * that must wait (for room, or for a node to be read) takes the async detour.
 *
 * The dirty-page budget, in two gates. Admission: a new commit waits while dirty pages are at the
 * stall share of the cache budget (a checkpoint turns them clean and evictable). Apply: a durable
 * commit is applied only when the dirty bytes plus the most one apply can add (`reserveBytes`) fit the
 * whole budget; otherwise it waits for a checkpoint first. An apply that must read a node awaits in
 * the middle, so it holds a reservation of `reserveBytes` from its check to its end. A durable commit not yet applied is
 * invisible and still holds its keys' locks, and the WAL has it, so deferring its apply is safe. As
 * applies are synchronous and checked one by one, dirty bytes never pass the budget, however many
 * commits are in flight (reserving the worst case per admitted commit instead throttled hundreds of
 * concurrent writers whose commits nearly all dirty nothing new).
 *
 * Invariants: every LSN the group commit hands out is marked applied exactly once (applied, or voided
 * when it can never be durable), except after a failed apply, which leaves the watermark where it was
 * so no checkpoint can claim that commit; a lock grant handed in is released after the commit settles.
 */
import { type Btree, NOT_RESIDENT } from '../storage/btree/btree.js';
import type { LeafEntry } from '../storage/btree/node.js';
import type { ValueLog } from '../storage/vlog/value-log.js';
import type { Durability, GroupCommit, LogRequest } from '../storage/wal/group-commit.js';
import { encodeWalRecord, type WalMutation } from '../storage/wal/wal-record.js';
import { assert } from '../util/assert.js';
import { type Lsn, lsn } from '../util/ids.js';
import type { AppliedWatermark } from './applied-watermark.js';
import type { LargeValues } from './large-values.js';
import { entryOf } from './storage-engine.js';

/** What the pipeline needs of the database around it. */
export interface CommitHost {
  /** The tree commits apply to (it changes only when a failure reloads the durable state). */
  tree(): Btree;
  /** Bytes of dirty pages now. */
  dirtyBytes(): number;
  /** Throws READ_ONLY after a failure. */
  checkNotReadOnly(): void;
  /** After each applied commit: may start a checkpoint. */
  afterCommit(): void;
  /** Starts a checkpoint unless one runs; the running one, or undefined when none can start. */
  checkpointForRoom(): Promise<void> | undefined;
  /** Wall-clock milliseconds, as the database's calibrated clock reads them. */
  nowMs(): number;
}

export interface CommitPipelineParts {
  readonly host: CommitHost;
  readonly groupCommit: GroupCommit;
  readonly applied: AppliedWatermark;
  readonly largeValues: LargeValues;
  readonly valueLog: ValueLog;
  /** New commits wait while dirty bytes plus `reserveBytes` would pass this (the stall share). */
  readonly stallBytes: number;
  /** Dirty bytes never pass this (the cache budget). */
  readonly budgetBytes: number;
  /**
   * What one mutation's apply is assumed to dirty at most: three nodes at the largest charge a node of
   * the page size can have (decodedPageBytesMax: a node full of one-byte separators), for the copied
   * leaf and, at worst, a split's new sibling and the parent. Not a proof (a put below a long clean
   * path copies every node of it), but real nodes are charged far below that maximum; the
   * cache-budget tests check the budget at every commit and every write.
   */
  readonly reserveBytes: number;
  /** Relaxed commits wait while the log holds more than this many bytes not yet written. */
  readonly relaxedBacklogBytesMax: number;
}

/** Something released once the commit settles: a transaction's lock grant. */
export interface Releasable {
  release(): void;
}

export class CommitPipeline {
  private readonly parts: CommitPipelineParts;
  private readonly host: CommitHost;
  /** Bytes that applies reading a node, and unlogged tree changes (`admitted`), may still dirty. */
  private reservedBytes = 0;
  private reservationWaiter: { promise: Promise<void>; resolve: () => void } | undefined;
  private inFlight = 0;
  private idleWaiter: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Commits applied so far. */
  commits = 0;
  /** An estimate of the WAL bytes logged so far (a checkpoint trigger). */
  loggedBytes = 0;

  constructor(parts: CommitPipelineParts) {
    this.parts = parts;
    this.host = parts.host;
  }

  /**
   * Logs and applies one commit; resolves with its LSN once it is acknowledged. The caller validated
   * the mutations and serialized commits on the same keys; `grant` is released when the commit
   * settles, either way. Never throws: every failure rejects the promise.
   */
  commit(mutations: readonly WalMutation[], durability: Durability, grant?: Releasable): Promise<Lsn> {
    return new Promise<Lsn>((resolve, reject) => {
      const commit = new PendingCommit(
        this,
        mutations,
        durability,
        this.host.nowMs(),
        grant,
        resolve,
        reject,
      );
      this.inFlight += 1;
      if (this.hasRoom(this.parts.stallBytes) && this.backlogAdmits(commit)) this.start(commit);
      else void this.startWhenRoom(commit);
    });
  }

  /**
   * Runs `work` (an unlogged tree change) once the budget admits it, holding the room of one apply
   * until it ends: it may await node reads, so the apply gate must count it meanwhile.
   */
  async admitted<T>(work: () => Promise<T>): Promise<T> {
    await this.waitForRoom(this.parts.stallBytes, { reserve: true });
    try {
      return await work();
    } finally {
      this.releaseReservation();
    }
  }

  /** Resolves once no commit is in flight (for close()). */
  async idle(): Promise<void> {
    while (this.inFlight > 0) {
      this.idleWaiter ??= deferred();
      await this.idleWaiter.promise;
    }
  }

  // --- steps ---------------------------------------------------------------------------------------

  private start(commit: PendingCommit): void {
    try {
      this.host.checkNotReadOnly();
      commit.lsn = this.parts.groupCommit.submitRequest(commit, commit.durability);
    } catch (error) {
      this.settleFailed(commit, error); // nothing was logged: no LSN to mark
      return;
    }
    for (const mutation of commit.mutations) this.loggedBytes += mutation.key.length + 64;
    if (commit.durability === 'relaxed') this.apply(commit);
  }

  /**
   * Whether the log's backlog admits the commit. A relaxed commit is acknowledged on acceptance, so
   * nothing else stops writers from queueing records faster than the disk takes them: the backlog (and
   * the window of commits a crash may lose) would grow without bound. It waits while a backlog of
   * `relaxedBacklogBytesMax` is queued; an fsync commit waits for its own fdatasync anyway.
   */
  private backlogAdmits(commit: PendingCommit): boolean {
    return (
      commit.durability === 'fsync' ||
      this.parts.groupCommit.backlogBytes <= this.parts.relaxedBacklogBytesMax
    );
  }

  private async startWhenRoom(commit: PendingCommit): Promise<void> {
    try {
      await this.waitForBacklog(commit);
      await this.waitForRoom(this.parts.stallBytes, { admission: true });
    } catch (error) {
      this.settleFailed(commit, error);
      return;
    }
    this.start(commit);
  }

  /** The mutations as the WAL record holds them (see LargeValues.toLogged). */
  toLogged(mutations: readonly WalMutation[], recordLsn: Lsn): readonly WalMutation[] {
    return this.parts.largeValues.toLogged(mutations, recordLsn);
  }

  /** Applies a logged commit to the tree: synchronously when its nodes are in memory and it fits. */
  apply(commit: PendingCommit): void {
    if (!this.hasRoom(this.parts.budgetBytes, commit.logged.length)) {
      void this.applyRest(commit, 0);
      return;
    }
    try {
      // Read-only after a failure: the reloaded tree holds only what was durable when it reloaded.
      this.host.checkNotReadOnly();
    } catch (error) {
      this.settleFailed(commit, error);
      return;
    }
    const tree = this.host.tree();
    const { logged } = commit;
    for (let index = 0; index < logged.length; index++) {
      const mutation = logged[index] as WalMutation;
      let replaced: LeafEntry | undefined | typeof NOT_RESIDENT;
      try {
        replaced = tree.putResident(entryOf(mutation, commit.lsn));
      } catch (error) {
        this.settleFailed(commit, error);
        return;
      }
      if (replaced === NOT_RESIDENT) {
        void this.applyRest(commit, index);
        return;
      }
      this.account(mutation, replaced);
    }
    this.applied(commit);
  }

  /** `apply` from mutation `from` on, reading the nodes it needs and waiting for room first. */
  private async applyRest(commit: PendingCommit, from: number): Promise<void> {
    try {
      for (let index = from; index < commit.logged.length; index++) {
        await this.waitForRoom(this.parts.budgetBytes, { reserve: true });
        const mutation = commit.logged[index] as WalMutation;
        try {
          // A failure may have turned the database read-only while this apply waited: the tree it
          // reloaded holds only durable commits, and a relaxed one may never have become durable.
          this.host.checkNotReadOnly();
          this.account(mutation, await this.host.tree().put(entryOf(mutation, commit.lsn)));
          this.host.checkNotReadOnly(); // it may have turned so during the put's node read
        } finally {
          this.releaseReservation();
        }
      }
    } catch (error) {
      this.settleFailed(commit, error);
      return;
    }
    this.applied(commit);
  }

  private account(mutation: WalMutation, replaced: LeafEntry | undefined): void {
    if (replaced?.pointer !== undefined) this.parts.valueLog.released(replaced.pointer);
    if (mutation.kind === 'upsert' && mutation.vlogPointer !== undefined) {
      this.parts.valueLog.referenced(mutation.vlogPointer);
    }
  }

  private applied(commit: PendingCommit): void {
    this.parts.applied.mark(commit.lsn);
    this.commits += 1;
    this.finish(commit);
    this.host.afterCommit();
    commit.settle(undefined);
  }

  /** An `fsync` commit that will never be durable (DISK_FULL, or the WAL failed): nothing to apply. */
  voided(commit: PendingCommit, error: Error): void {
    this.parts.applied.mark(commit.lsn);
    this.finish(commit);
    commit.settle(error);
  }

  private settleFailed(commit: PendingCommit, error: unknown): void {
    this.finish(commit);
    commit.settle(error);
  }

  private finish(commit: PendingCommit): void {
    commit.grant?.release();
    this.inFlight -= 1;
    this.notifyIdle();
  }

  // --- the dirty-page budget -----------------------------------------------------------------------

  /** Whether `mutations` applies fit under `limitBytes` of dirty pages even at their worst. */
  private hasRoom(limitBytes: number, mutations = 1): boolean {
    const dirtyBytes = this.host.dirtyBytes();
    // Nothing dirty and nothing reserved: no checkpoint can free more room, so go on even when the
    // budget is smaller than the assumed worst case (64 KiB pages in a 1 MiB cache), or commits would
    // wait forever on empty checkpoints.
    if (dirtyBytes === 0 && this.reservedBytes === 0) return true;
    const worstBytes = this.reservedBytes + mutations * this.parts.reserveBytes;
    return dirtyBytes + worstBytes <= limitBytes;
  }

  /**
   * Waits until one more apply fits under `limitBytes` of dirty pages. With `reserve`, the room is
   * taken in the same step as the check: a caller resumes only a microtask later, and by then another
   * waiter would have seen the same room.
   */
  /**
   * Waits until the backlog admits the commit (backlogAdmits). While the log is paused on a full disk
   * the backlog cannot shrink: the commit fails with that DISK_FULL, retryably, as at the room gate.
   */
  private async waitForBacklog(commit: PendingCommit): Promise<void> {
    const { groupCommit } = this.parts;
    while (!this.backlogAdmits(commit)) {
      const paused = groupCommit.pausedOnDiskFull;
      if (paused !== undefined) throw paused;
      await this.untilSettledOrDiskFull(groupCommit.whenBacklogAtMost(this.parts.relaxedBacklogBytesMax));
      this.host.checkNotReadOnly();
    }
  }

  /** Resolves when `promise` settles or the log pauses on a full disk, whichever comes first. */
  private async untilSettledOrDiskFull(promise: Promise<unknown>): Promise<void> {
    const diskFull = this.parts.groupCommit.whenDiskFull();
    try {
      await Promise.race([promise, diskFull.promise]);
    } finally {
      diskFull.cancel(); // a promise that may never settle must not keep a reaction per wait
    }
  }

  private async waitForRoom(limitBytes: number, { reserve = false, admission = false } = {}): Promise<void> {
    const { groupCommit } = this.parts;
    for (;;) {
      if (this.hasRoom(limitBytes)) break;
      if (this.reservedBytes > 0) {
        // Applies reading nodes will finish and release their reservations (and may checkpoint).
        this.reservationWaiter ??= deferred();
        await this.reservationWaiter.promise;
      } else {
        // Dirty pages alone fill the room: only a checkpoint, which turns them clean, frees it. It
        // cannot while the log is paused on a full disk (pages above the durable LSN wait for the
        // log): a commit not yet admitted then fails with that DISK_FULL, retryably, instead of
        // waiting for space; one already logged waits, as it must be applied.
        const diskFull = admission ? groupCommit.pausedOnDiskFull : undefined;
        if (diskFull !== undefined) throw diskFull;
        const running = this.host.checkpointForRoom();
        if (running === undefined) break; // no checkpoint can start (closing or read-only): go on
        const settled = running.catch(() => undefined);
        await (admission ? this.untilSettledOrDiskFull(settled) : settled);
      }
      this.host.checkNotReadOnly();
    }
    if (reserve) this.reservedBytes += this.parts.reserveBytes;
  }

  private releaseReservation(): void {
    this.reservedBytes -= this.parts.reserveBytes;
    assert(this.reservedBytes >= 0, 'a reservation released twice');
    const waiter = this.reservationWaiter;
    this.reservationWaiter = undefined;
    waiter?.resolve();
  }

  private notifyIdle(): void {
    if (this.inFlight > 0) return;
    const waiter = this.idleWaiter;
    this.idleWaiter = undefined;
    waiter?.resolve();
  }
}

/** One commit on its way through the pipeline; it is the group commit's LogRequest for its record. */
class PendingCommit implements LogRequest {
  /** Assigned by the group commit at submission. */
  lsn: Lsn = lsn(0);
  /** The mutations as logged: values moved to the value log replaced by their pointers. */
  logged: readonly WalMutation[];

  constructor(
    private readonly pipeline: CommitPipeline,
    readonly mutations: readonly WalMutation[],
    readonly durability: Durability,
    private readonly committedAtMs: number,
    readonly grant: Releasable | undefined,
    private readonly resolve: (commitLsn: Lsn) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.logged = mutations;
  }

  encode(recordLsn: Lsn): Uint8Array {
    this.logged = this.pipeline.toLogged(this.mutations, recordLsn);
    return encodeWalRecord({
      lsn: recordLsn,
      body: { kind: 'commit', mutations: this.logged, committedAtMs: this.committedAtMs },
    });
  }

  durable(): void {
    if (this.durability === 'fsync') this.pipeline.apply(this);
    // A relaxed commit was applied and acknowledged when it was submitted.
  }

  failed(error: Error): void {
    if (this.durability === 'fsync') this.pipeline.voided(this, error);
  }

  settle(error: unknown): void {
    if (error === undefined) this.resolve(this.lsn);
    else this.reject(error);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((onResolve) => (resolve = onResolve));
  return { promise, resolve };
}
