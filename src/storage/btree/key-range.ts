/**
 * Key ranges for scans: `[start, end)` with either bound open, or a prefix (turned into the range of
 * keys that begin with it). Comparison is bytewise everywhere (BRIEF.md, "Keys, values, names").
 */
import { compareBytes } from '../../util/bytes.js';

export interface KeyRange {
  /** Inclusive; absent means from the first key. */
  readonly start?: Uint8Array;
  /** Exclusive; absent means through the last key. */
  readonly end?: Uint8Array;
}

/** The smallest key greater than every key with this prefix, or undefined when none exists (all 0xff). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  let length = prefix.length;
  while (length > 0 && prefix[length - 1] === 0xff) length -= 1;
  if (length === 0) return undefined;
  const end = prefix.slice(0, length);
  end[length - 1] = (end[length - 1] as number) + 1;
  return end;
}

export function prefixRange(prefix: Uint8Array): KeyRange {
  const end = prefixEnd(prefix);
  return end === undefined ? { start: prefix } : { start: prefix, end };
}

export function inRange(key: Uint8Array, range: KeyRange): boolean {
  if (range.start !== undefined && compareBytes(key, range.start) < 0) return false;
  return range.end === undefined || compareBytes(key, range.end) < 0;
}

/**
 * The shortest key s with left < s <= right: a separator for two adjacent nodes that keeps internal
 * pages small (suffix truncation). Requires left < right.
 */
export function shortestSeparator(left: Uint8Array, right: Uint8Array): Uint8Array {
  let common = 0;
  while (common < left.length && common < right.length && left[common] === right[common]) common += 1;
  return right.slice(0, Math.min(common + 1, right.length));
}
