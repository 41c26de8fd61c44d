/**
 * The lock manager: strict two-phase locking over predeclared lock sets (BRIEF.md, "Isolation"). A
 * transaction hands over its whole lock set at once; the manager canonicalizes it (lock-request.ts)
 * and acquires its points one at a time in canonical order. The caller holds the grant until its commit
 * is durable and then releases everything at once. Key locks (S and X) live in a hash-partitioned table
 * (key-lock-table.ts), shared range locks in an ordered set beside it (range-lock-set.ts).
 *
 * Every lock point is an interval of key space: a key k is [k, k+0x00), a range is [start, end). A
 * request R at a point waits while any of these hold:
 *   (a) another transaction holds a conflicting lock overlapping R's point: S+S never conflict, X
 *       conflicts with any key lock on the same key, and an S range conflicts with X keys inside it;
 *   (b) an earlier-queued conflicting request overlaps R's point and starts at or after its start: the
 *       FIFO queue of a key (a new S queues behind a waiting X, so a waiting X is never starved by a
 *       stream of S), a range behind earlier X requests inside it, and an X key behind an earlier range
 *       that starts at that very key;
 *   (c) R is an X key inside an earlier-queued range Q that starts before it, Q has already been
 *       bypassed `rangeBypassesMax` times, and R's transaction holds nothing that overlaps Q. Then R is
 *       parked on Q until Q is granted or gives up. A parked request is invisible: it blocks no one.
 * Otherwise R is granted; when it passes an earlier-queued range that contains it, that is a bypass.
 *
 * Every change that can unblock a waiter (a release, a withdrawn request, a request parked away) wakes
 * the waiters whose points overlap it, oldest first; `checkInvariants` verifies that no waiter is ever
 * left grantable. Bypass accounting bounds how long a waiting range can be passed by fresh writers; a
 * transaction that already holds a lock overlapping the range is exempt, as the argument below needs.
 *
 * Why no deadlock can happen. Canonicalization makes a transaction's points pairwise disjoint and
 * sorted by start, so the holder of a lock q that blocks R under (a) waits, if at all, at a point
 * starting at or after q's end, which is past R's start. Under (b) the point waited for starts at or
 * after R's start, and at the same start it arrived earlier. So along edges (a) and (b) the pair (start
 * of the point waited at, minus arrival number) strictly grows, and they alone cannot close a cycle.
 * Take a cycle with (c) edges and pick the one, T parked on Q, whose Q starts first. T holds nothing
 * overlapping Q and holds only points before its own, so everything T holds ends at or before Q's
 * start. Around the cycle from Q's owner, every waited-at point starts at or after Q's start ((a) and
 * (b) do not decrease it; (c) edges drop only to ranges starting no earlier, by the choice of Q). The
 * edge into T must be (a), because parked T is invisible to (b) and (c): its waiter waits at a point
 * overlapping one of T's locks, hence starting before Q's start. Contradiction. The exemption in (c)
 * is what resolves "B holds X(m); A queues S[a,z); B requests X(n) in [a,z)": B holds X(m) inside A's
 * range, so B is never parked on it; B finishes, and A is granted after B releases.
 */
import { assert } from '../util/assert.js';
import { JubilantError } from '../util/errors.js';
import { KEY_LOCK_PARTITIONS_DEFAULT, type KeyLockPoint, KeyLockTable } from './key-lock-table.js';
import {
  canonicalizeLockRequest,
  describeLockPoint,
  type KeyLockMode,
  keySuccessor,
  type LockPoint,
  type LockRequest,
  pointsOverlap,
} from './lock-request.js';
import { RangeLockSet } from './range-lock-set.js';

/** Later conflicting fresh requests queue behind a waiting range after it was bypassed this often. */
export const RANGE_BYPASSES_MAX_DEFAULT = 8;
export const RANGE_BYPASSES_MAX_LIMIT = 1024;
/** setTimeout fires at once for longer delays, so a longer timeout is treated as unbounded. */
const TIMER_DELAY_MS_MAX = 2 ** 31 - 1;

export interface LockManagerOptions {
  /** A power of two; see key-lock-table.ts. */
  partitionCount?: number;
  /** How many later exclusive key requests may pass a waiting range before fresh ones queue behind it. */
  rangeBypassesMax?: number;
}

export interface AcquireOptions {
  /** Bounds the total time the acquisition spends waiting, counted from its first wait. */
  timeoutMs: number;
  /** Aborting gives up the acquisition like a timeout, but rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Everything one acquisition holds; `release()` frees it all and may be called any number of times. */
export interface LockGrant {
  release(): void;
  readonly released: boolean;
}

export interface LockStats {
  /** Acquisitions granted in full. */
  grants: number;
  /** Lock points at which a request had to wait (queued or parked). */
  waits: number;
  /** Acquisitions that failed with LOCK_TIMEOUT. */
  timeouts: number;
  /** Acquisitions given up through their abort signal. */
  aborts: number;
  /** Exclusive key grants that passed an earlier-queued range containing the key. */
  bypasses: number;
  /** Requests parked behind a range whose bypass budget was spent. */
  parks: number;
  /** Lock points granted now, over all holders. */
  heldLocks: number;
  /** Grants not yet released. */
  activeGrants: number;
  /** Acquisitions waiting now (each waits at exactly one point). */
  waitingAcquisitions: number;
  /** Live key lock points and range locks (granted or waiting). */
  keyLockPoints: number;
  rangeLocks: number;
}

type Decision = 'grant' | 'wait' | RangeRequest;

class KeyRequest {
  readonly kind = 'key';
  state: 'new' | 'queued' | 'parked' | 'granted' | 'gone' = 'new';
  parkedOn: RangeRequest | undefined = undefined;

  constructor(
    readonly acquisition: Acquisition,
    readonly point: KeyLockPoint<KeyRequest>,
    readonly mode: KeyLockMode,
    readonly seq: number,
  ) {}
}

class RangeRequest {
  readonly kind = 'range';
  state: 'new' | 'queued' | 'granted' | 'gone' = 'new';
  /** Exclusive key grants that passed this range while it waited. */
  bypassCount = 0;
  /** Key requests waiting for this range to be granted or to give up. */
  readonly parked: KeyRequest[] = [];

  constructor(
    readonly acquisition: Acquisition,
    readonly start: string,
    readonly end: string | undefined,
    readonly seq: number,
  ) {}
}

type Request = KeyRequest | RangeRequest;

class Acquisition implements LockGrant {
  /** `requests[i]` is the request for `points[i]`; the first `heldCount` are granted. */
  readonly requests: Request[] = [];
  heldCount = 0;
  state: 'acquiring' | 'held' | 'released' | 'failed' = 'acquiring';
  resolve: ((grant: LockGrant) => void) | undefined = undefined;
  reject: ((error: unknown) => void) | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;

  constructor(
    private readonly releaser: (acquisition: Acquisition) => void,
    readonly points: readonly LockPoint[],
    readonly signal: AbortSignal | undefined,
  ) {}

  get released(): boolean {
    return this.state === 'released' || this.state === 'failed';
  }

  release(): void {
    this.releaser(this);
  }

  /** The request it waits at; only while acquiring. */
  get pending(): Request {
    assert(this.state === 'acquiring', 'only an acquiring transaction waits');
    const pending = this.requests[this.heldCount];
    assert(pending !== undefined, 'an acquiring transaction has a pending request');
    return pending;
  }
}

export class LockManager {
  private readonly keys: KeyLockTable<KeyRequest>;
  private readonly ranges = new RangeLockSet<RangeRequest>();
  private readonly rangeBypassesMax: number;
  private readonly releaser = (acquisition: Acquisition): void => this.releaseGrant(acquisition);
  private nextSeq = 1;
  /** Points and ranges that lost a holder or a waiter: their waiters are reconsidered. */
  private readonly wakeups: Array<KeyLockPoint<KeyRequest> | RangeRequest> = [];
  private draining = false;
  private readonly counters = { grants: 0, waits: 0, timeouts: 0, aborts: 0, bypasses: 0, parks: 0 };
  private heldLocks = 0;
  private activeGrants = 0;
  private waitingAcquisitions = 0;

  constructor(options: LockManagerOptions = {}) {
    this.keys = new KeyLockTable(options.partitionCount ?? KEY_LOCK_PARTITIONS_DEFAULT);
    this.rangeBypassesMax = options.rangeBypassesMax ?? RANGE_BYPASSES_MAX_DEFAULT;
    assert(
      Number.isInteger(this.rangeBypassesMax) &&
        this.rangeBypassesMax >= 0 &&
        this.rangeBypassesMax <= RANGE_BYPASSES_MAX_LIMIT,
      `rangeBypassesMax must be an integer in [0, ${RANGE_BYPASSES_MAX_LIMIT}]`,
    );
  }

  /**
   * Acquires a transaction's whole lock set, in canonical order. Resolves once every point is granted;
   * rejects with a retryable LOCK_TIMEOUT after `timeoutMs` of waiting (or with the abort reason),
   * having released everything granted so far and left no queue entry behind.
   */
  acquire(request: LockRequest, options: AcquireOptions): Promise<LockGrant> {
    const acquired = this.acquireOrWait(request, options);
    return acquired instanceof Promise ? acquired : Promise.resolve(acquired);
  }

  /**
   * `acquire`, except that a lock set granted at once comes back as the grant itself: the common,
   * uncontended case then costs no promise and no trip through the microtask queue.
   */
  acquireOrWait(request: LockRequest, options: AcquireOptions): LockGrant | Promise<LockGrant> {
    assert(options.timeoutMs >= 0, `timeoutMs must not be negative, not ${options.timeoutMs}`);
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const acquisition = new Acquisition(this.releaser, canonicalizeLockRequest(request), signal);
    this.advance(acquisition);
    if (acquisition.state === 'held') return acquisition;
    // It waits: only now do a timer and an abort listener exist.
    const promise = new Promise<LockGrant>((resolve, reject) => {
      acquisition.resolve = resolve;
      acquisition.reject = reject;
    });
    if (options.timeoutMs <= TIMER_DELAY_MS_MAX) {
      acquisition.timer = setTimeout(() => {
        const waitingAt = describeLockPoint(acquisition.points[acquisition.heldCount] as LockPoint);
        const message = `no lock within ${options.timeoutMs} ms: waiting for ${waitingAt} with ${acquisition.heldCount} of ${acquisition.points.length} lock points held`;
        this.giveUp(acquisition, new JubilantError('LOCK_TIMEOUT', message), 'timeouts');
      }, options.timeoutMs);
    }
    if (signal !== undefined) {
      acquisition.onAbort = () => this.giveUp(acquisition, signal.reason, 'aborts');
      signal.addEventListener('abort', acquisition.onAbort, { once: true });
    }
    return promise;
  }

  stats(): LockStats {
    return {
      ...this.counters,
      heldLocks: this.heldLocks,
      activeGrants: this.activeGrants,
      waitingAcquisitions: this.waitingAcquisitions,
      keyLockPoints: this.keys.size,
      rangeLocks: this.ranges.size,
    };
  }

  /** Grants as many points as possible, in order; stops at the first that must wait. */
  private advance(acquisition: Acquisition): void {
    const { points } = acquisition;
    while (acquisition.heldCount < points.length) {
      const request = this.newRequest(acquisition, points[acquisition.heldCount] as LockPoint);
      const decision = this.decide(request);
      if (decision === 'grant') {
        this.grant(request);
        continue;
      }
      this.counters.waits++;
      this.waitingAcquisitions++;
      if (decision === 'wait') this.enqueue(request);
      else this.park(request as KeyRequest, decision);
      return;
    }
    acquisition.state = 'held';
    this.counters.grants++;
    this.activeGrants++;
    this.stopWaiting(acquisition);
    acquisition.resolve?.(acquisition);
  }

  private newRequest(acquisition: Acquisition, point: LockPoint): Request {
    const seq = this.nextSeq++;
    let request: Request;
    if (point.kind === 'key') {
      request = new KeyRequest(acquisition, this.keys.getOrCreate(point.key), point.mode, seq);
    } else {
      this.keys.enableOrderedLookups();
      request = new RangeRequest(acquisition, point.start, point.end, seq);
    }
    acquisition.requests.push(request);
    return request;
  }

  private decide(request: Request): Decision {
    return request.kind === 'key' ? this.decideKey(request) : this.decideRange(request);
  }

  /** Rules (a), (b) and (c) of the header for a key request. Pure: changes nothing. */
  private decideKey(request: KeyRequest): Decision {
    const { point, seq } = request;
    const exclusive = request.mode === 'X';
    if (point.exclusiveHeld || (exclusive && point.sharedCount > 0)) return 'wait';
    for (const earlier of point.queue) {
      if (earlier.seq >= seq) break;
      if (exclusive || earlier.mode === 'X') return 'wait';
    }
    if (!exclusive || this.ranges.size === 0) return 'grant';
    let parkOn: RangeRequest | undefined;
    const ranges = this.ranges.entries;
    const bound = this.ranges.upperBound(point.key);
    for (let i = 0; i < bound; i++) {
      const range = ranges[i] as RangeRequest;
      if (range.end !== undefined && range.end <= point.key) continue;
      if (range.state === 'granted') return 'wait';
      if (range.seq > seq) continue;
      if (range.start === point.key) return 'wait';
      if (
        parkOn === undefined &&
        range.bypassCount >= this.rangeBypassesMax &&
        !holdsOverlapping(request.acquisition, range)
      ) {
        parkOn = range;
      }
    }
    return parkOn ?? 'grant';
  }

  /** Rules (a) and (b) for a range request: ranges never conflict with ranges. Pure. */
  private decideRange(request: RangeRequest): Decision {
    for (const point of this.keys.pointsInRange(request.start, request.end)) {
      if (point.exclusiveHeld) return 'wait';
      for (const earlier of point.queue) {
        if (earlier.seq >= request.seq) break;
        if (earlier.mode === 'X') return 'wait';
      }
    }
    return 'grant';
  }

  private grant(request: Request): void {
    assert(request.state === 'new' || request.state === 'queued', 'only new or queued requests are granted');
    if (request.state === 'queued') this.waitingAcquisitions--;
    if (request.kind === 'key') {
      const { point } = request;
      if (request.state === 'queued') point.dequeue(request);
      if (request.mode === 'X') {
        point.exclusiveHeld = true;
        if (this.ranges.size > 0) this.countBypasses(request);
      } else {
        point.sharedCount++;
      }
    } else {
      if (request.state === 'new') this.ranges.insert(request);
      // Parked keys are inside this range: they stay blocked by it, now as visible waiters.
      for (const parked of request.parked) this.unpark(parked);
      request.parked.length = 0;
    }
    request.state = 'granted';
    request.acquisition.heldCount++;
    this.heldLocks++;
  }

  private countBypasses(request: KeyRequest): void {
    const ranges = this.ranges.entries;
    const bound = this.ranges.upperBound(request.point.key);
    for (let i = 0; i < bound; i++) {
      const range = ranges[i] as RangeRequest;
      if (range.state !== 'queued' || range.seq > request.seq) continue;
      if (range.end !== undefined && range.end <= request.point.key) continue;
      assert(range.start !== request.point.key, 'a key at the start of an earlier waiting range must queue');
      range.bypassCount++;
      this.counters.bypasses++;
    }
  }

  private enqueue(request: Request): void {
    request.state = 'queued';
    if (request.kind === 'key') request.point.enqueue(request);
    else this.ranges.insert(request);
  }

  private park(request: KeyRequest, range: RangeRequest): void {
    if (request.state === 'queued') {
      request.point.dequeue(request);
      this.wakeups.push(request.point);
    }
    request.state = 'parked';
    request.parkedOn = range;
    request.point.parkedCount++;
    range.parked.push(request);
    this.counters.parks++;
  }

  private unpark(request: KeyRequest): void {
    assert(request.state === 'parked', 'unpark of a request that is not parked');
    request.state = 'queued';
    request.parkedOn = undefined;
    request.point.parkedCount--;
    request.point.enqueue(request);
  }

  /** Reconsiders the waiters that a lost holder or waiter may have been blocking, oldest first. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let source = this.wakeups.pop(); source !== undefined; source = this.wakeups.pop()) {
        const candidates = this.waitersNear(source).sort((left, right) => left.seq - right.seq);
        for (const candidate of candidates) this.reconsider(candidate);
      }
    } finally {
      this.draining = false;
    }
    if (this.ranges.size === 0) this.keys.disableOrderedLookups();
  }

  /**
   * The visible waiters that `source` may have been blocking. In a key's queue only the leading group
   * can move: a waiter that stays blocked blocks every later one there (they conflict with it, or wait
   * on the same X holder), so the S waiters up to the first X, and that X, are enough. A range blocks
   * only X keys, so inside it only a queue headed by an X can move.
   */
  private waitersNear(source: KeyLockPoint<KeyRequest> | RangeRequest): Request[] {
    const found: Request[] = [];
    if (source instanceof RangeRequest) {
      for (const point of this.keys.pointsInRange(source.start, source.end)) {
        const head = point.queue[0];
        if (head?.mode === 'X') found.push(head);
      }
      return found;
    }
    for (const waiter of source.queue) {
      found.push(waiter);
      if (waiter.mode === 'X') break;
    }
    if (this.ranges.size === 0) return found;
    const ranges = this.ranges.entries;
    const bound = this.ranges.upperBound(source.key);
    for (let i = 0; i < bound; i++) {
      const range = ranges[i] as RangeRequest;
      if (range.state === 'queued' && (range.end === undefined || source.key < range.end)) found.push(range);
    }
    return found;
  }

  private reconsider(request: Request): void {
    if (request.state !== 'queued') return;
    const decision = this.decide(request);
    if (decision === 'wait') return;
    if (decision === 'grant') {
      this.grant(request);
      this.advance(request.acquisition);
    } else {
      this.park(request as KeyRequest, decision);
    }
  }

  private releaseGrant(acquisition: Acquisition): void {
    if (acquisition.state === 'released' || acquisition.state === 'failed') return;
    assert(acquisition.state === 'held', 'release of a grant that was never handed out');
    acquisition.state = 'released';
    this.activeGrants--;
    this.releaseHeld(acquisition);
    this.drain();
  }

  private releaseHeld(acquisition: Acquisition): void {
    for (let i = 0; i < acquisition.heldCount; i++) {
      const request = acquisition.requests[i] as Request;
      assert(request.state === 'granted', 'only granted requests are released');
      request.state = 'gone';
      if (request.kind === 'range') {
        this.ranges.remove(request);
        this.wakeups.push(request);
        continue;
      }
      const { point } = request;
      if (request.mode === 'X') point.exclusiveHeld = false;
      else point.sharedCount--;
      if (point.queue.length > 0 || (request.mode === 'X' && this.ranges.size > 0)) this.wakeups.push(point);
      this.keys.deleteIfIdle(point);
    }
    this.heldLocks -= acquisition.heldCount;
  }

  /** Timeout or abort: withdraw the waiting request, release what is held, reject. */
  private giveUp(acquisition: Acquisition, error: unknown, counter: 'timeouts' | 'aborts'): void {
    if (acquisition.state !== 'acquiring') return;
    this.withdraw(acquisition.pending);
    acquisition.state = 'failed';
    this.releaseHeld(acquisition);
    this.counters[counter]++;
    this.stopWaiting(acquisition);
    acquisition.reject?.(error);
    this.drain();
  }

  private withdraw(request: Request): void {
    this.waitingAcquisitions--;
    if (request.kind === 'range') {
      assert(request.state === 'queued', 'a waiting range is queued');
      this.ranges.remove(request);
      for (const parked of request.parked) this.unpark(parked);
      request.parked.length = 0;
      this.wakeups.push(request);
    } else if (request.state === 'queued') {
      request.point.dequeue(request);
      this.wakeups.push(request.point);
    } else {
      assert(
        request.state === 'parked' && request.parkedOn !== undefined,
        'a waiting key is queued or parked',
      );
      const parked = request.parkedOn.parked;
      parked.splice(parked.indexOf(request), 1);
      request.parkedOn = undefined;
      request.point.parkedCount--;
    }
    if (request.kind === 'key') this.keys.deleteIfIdle(request.point);
    request.state = 'gone';
  }

  private stopWaiting(acquisition: Acquisition): void {
    if (acquisition.timer !== undefined) clearTimeout(acquisition.timer);
    acquisition.timer = undefined;
    if (acquisition.onAbort !== undefined) {
      acquisition.signal?.removeEventListener('abort', acquisition.onAbort);
      acquisition.onAbort = undefined;
    }
  }

  /**
   * The full structural check (tests call it; it is too slow for every operation): counts agree with
   * the structures, no two holders conflict, and no waiter could be granted now (a lost wakeup).
   */
  checkInvariants(): string | undefined {
    const problems: string[] = [];
    const table = this.keys.checkStructure();
    if (table !== undefined) problems.push(table);
    if (this.ranges.size > 0 && !this.keys.orderedLookupsEnabled) {
      problems.push('ranges exist without ordered lookups');
    }
    const keys = this.checkKeyPoints(problems);
    const ranges = this.checkRanges(problems);
    if (keys.held + ranges.held !== this.heldLocks) {
      problems.push(`held locks ${keys.held + ranges.held}, counted ${this.heldLocks}`);
    }
    if (keys.waiting + ranges.waiting !== this.waitingAcquisitions) {
      problems.push(`waiters ${keys.waiting + ranges.waiting}, counted ${this.waitingAcquisitions}`);
    }
    return problems.length === 0 ? undefined : problems.join('; ');
  }

  private checkKeyPoints(problems: string[]): { held: number; waiting: number } {
    let held = 0;
    let waiting = 0;
    for (const point of this.keys.points()) {
      const where = describeLockPoint({ kind: 'key', key: point.key, mode: 'X' });
      if (point.isIdle()) problems.push(`${where} is idle but still in the table`);
      if (point.sharedCount < 0 || (point.exclusiveHeld && point.sharedCount > 0)) {
        problems.push(`${where} has shared ${point.sharedCount} and exclusive ${point.exclusiveHeld}`);
      }
      held += point.sharedCount + (point.exclusiveHeld ? 1 : 0);
      for (let i = 0; i < point.queue.length; i++) {
        const waiter = point.queue[i] as KeyRequest;
        waiting++;
        if (i > 0 && (point.queue[i - 1] as KeyRequest).seq >= waiter.seq) {
          problems.push(`${where} queue is out of arrival order`);
        }
        problems.push(...this.checkWaiter(waiter));
      }
      if (!point.exclusiveHeld) continue;
      for (const range of this.ranges.overlapping(point.key, keySuccessor(point.key))) {
        if (range.state === 'granted') problems.push(`${where} is held X inside a granted range`);
      }
    }
    return { held, waiting };
  }

  private checkRanges(problems: string[]): { held: number; waiting: number } {
    let held = 0;
    let waiting = 0;
    const { entries } = this.ranges;
    for (let i = 0; i < entries.length; i++) {
      const range = entries[i] as RangeRequest;
      const previous = entries[i - 1];
      if (
        previous !== undefined &&
        (previous.start > range.start || (previous.start === range.start && previous.seq > range.seq))
      ) {
        problems.push('range locks are out of order');
      }
      if (range.state === 'granted') {
        held++;
      } else {
        waiting++;
        problems.push(...this.checkWaiter(range));
      }
      for (const parked of range.parked) {
        waiting++;
        if (range.state !== 'queued' || parked.state !== 'parked' || parked.parkedOn !== range) {
          problems.push('a parked request is on a range that is not waiting');
        }
      }
    }
    return { held, waiting };
  }

  private checkWaiter(waiter: Request): string[] {
    const problems: string[] = [];
    const { acquisition } = waiter;
    if (waiter.state !== 'queued' || acquisition.state !== 'acquiring' || acquisition.pending !== waiter) {
      problems.push('a queued request is not its acquisition’s pending request');
    } else if (this.decide(waiter) !== 'wait') {
      problems.push(
        `lost wakeup: ${describeLockPoint(acquisition.points[acquisition.heldCount] as LockPoint)} could proceed`,
      );
    }
    return problems;
  }
}

/** Whether the acquisition holds a point overlapping the range. */
function holdsOverlapping(acquisition: Acquisition, range: RangeRequest): boolean {
  for (let i = 0; i < acquisition.heldCount; i++) {
    if (
      pointsOverlap(acquisition.points[i] as LockPoint, { kind: 'range', start: range.start, end: range.end })
    ) {
      return true;
    }
  }
  return false;
}
