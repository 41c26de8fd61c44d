/**
 * The armed faults of a `SimFileSystem`: failing calls, misdirected writes and reads, and bit flips
 * on read. Every "nth" counts matching calls made after the fault was armed (1 = the very next one),
 * so arming a fault never depends on how many calls happened before it.
 */
import { assert } from '../util/assert.js';
import type { SeededRandom } from '../util/random.js';
import type { IoCallKind } from './file-system.js';

export type PathMatcher = string | RegExp;

export interface FailCallOptions {
  kind: IoCallKind | 'any';
  /** Which matching call fails, counted from when this is armed, 1-based (default 1: the next one). */
  nth?: number;
  errno: 'EIO' | 'ENOSPC';
  /** Keep failing every later matching call until `clearFaults()`. */
  persistent?: boolean;
  /** Only calls on this path (either path of a rename) match. */
  path?: PathMatcher;
}

export interface MisdirectOptions {
  /** Which call of that kind is misdirected, counted from when this is armed, 1-based. */
  nth: number;
  offsetDeltaBytes: number;
}

export interface FlipBitsOnReadOptions {
  path?: PathMatcher;
  /** Chance, per matching read, that one bit of the returned copy is flipped. */
  probability: number;
}

interface FailRule {
  options: FailCallOptions;
  nth: number;
  seenCount: number;
}

interface MisdirectRule {
  kind: 'read' | 'write';
  remainingCount: number;
  offsetDeltaBytes: number;
}

export function pathMatches(matcher: PathMatcher | undefined, paths: readonly string[]): boolean {
  if (matcher === undefined) return true;
  return paths.some((path) => {
    if (typeof matcher === 'string') return path === matcher;
    matcher.lastIndex = 0; // a /g or /y regexp would otherwise remember where it stopped
    return matcher.test(path);
  });
}

function assertNth(nth: number): void {
  assert(Number.isSafeInteger(nth) && nth >= 1, `nth must be an integer >= 1: ${nth}`);
}

export class FaultPlan {
  private failRules: FailRule[] = [];
  private misdirects: MisdirectRule[] = [];
  private flips: FlipBitsOnReadOptions[] = [];

  addFailure(options: FailCallOptions): void {
    const nth = options.nth ?? 1;
    assertNth(nth);
    this.failRules.push({ options, nth, seenCount: 0 });
  }

  addMisdirect(kind: 'read' | 'write', options: MisdirectOptions): void {
    assertNth(options.nth);
    assert(Number.isSafeInteger(options.offsetDeltaBytes), 'offsetDeltaBytes must be an integer');
    this.misdirects.push({ kind, remainingCount: options.nth, offsetDeltaBytes: options.offsetDeltaBytes });
  }

  addFlip(options: FlipBitsOnReadOptions): void {
    assert(options.probability >= 0 && options.probability <= 1, 'probability must be in [0, 1]');
    this.flips.push(options);
  }

  clear(): void {
    this.failRules = [];
    this.misdirects = [];
    this.flips = [];
  }

  /**
   * Counts this call against every failure rule and returns the errno to inject, if any. Every rule
   * counts the call even when an earlier rule already fails it, so counts stay simple to predict.
   */
  failureFor(kind: IoCallKind, paths: readonly string[]): 'EIO' | 'ENOSPC' | undefined {
    let errno: 'EIO' | 'ENOSPC' | undefined;
    for (const rule of this.failRules) {
      const { options } = rule;
      if (options.kind !== 'any' && options.kind !== kind) continue;
      if (!pathMatches(options.path, paths)) continue;
      rule.seenCount += 1;
      const fires = options.persistent === true ? rule.seenCount >= rule.nth : rule.seenCount === rule.nth;
      if (fires) errno ??= options.errno;
    }
    // A one-shot rule that has fired is spent.
    this.failRules = this.failRules.filter(
      (rule) => rule.options.persistent === true || rule.seenCount < rule.nth,
    );
    return errno;
  }

  /** Counts a read or write call and returns its offset shift when it is the misdirected one. */
  misdirectFor(kind: 'read' | 'write'): number | undefined {
    let deltaBytes: number | undefined;
    for (const rule of this.misdirects) {
      if (rule.kind !== kind) continue;
      rule.remainingCount -= 1;
      if (rule.remainingCount === 0) deltaBytes ??= rule.offsetDeltaBytes;
    }
    this.misdirects = this.misdirects.filter((rule) => rule.remainingCount > 0);
    return deltaBytes;
  }

  /**
   * Maybe flips one bit of `bytes` in place (the caller passes a copy). Returns the flipped position
   * for the fault log, or undefined.
   */
  maybeFlip(
    path: string,
    bytes: Uint8Array,
    rng: SeededRandom,
  ): { offsetBytes: number; bitIndex: number } | undefined {
    if (bytes.length === 0) return undefined;
    for (const rule of this.flips) {
      if (!pathMatches(rule.path, [path]) || !rng.chance(rule.probability)) continue;
      const offsetBytes = rng.int(bytes.length);
      const bitIndex = rng.int(8);
      bytes[offsetBytes] = (bytes[offsetBytes] ?? 0) ^ (1 << bitIndex);
      return { offsetBytes, bitIndex };
    }
    return undefined;
  }
}
