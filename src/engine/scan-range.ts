/**
 * The key range an embedded `scan()` asks for: `[start, end)` or a prefix (not both), each bound a
 * well-formed string taken as UTF-8 bytes.
 */
import { type KeyRange, prefixRange } from '../storage/btree/key-range.js';
import { utf8 } from '../util/bytes.js';
import { JubilantError } from '../util/errors.js';
import type { ScanOptions } from './database-types.js';

export function scanRange(options: ScanOptions): KeyRange {
  if (options.prefix !== undefined) {
    if (options.start !== undefined || options.end !== undefined) {
      throw new JubilantError('INVALID_ARGUMENT', 'a scan takes a prefix or a range, not both');
    }
    return prefixRange(boundBytes(options.prefix, 'prefix'));
  }
  return {
    ...(options.start === undefined ? {} : { start: boundBytes(options.start, 'start') }),
    ...(options.end === undefined ? {} : { end: boundBytes(options.end, 'end') }),
  };
}

/** A scan bound as UTF-8 bytes; a lone surrogate would silently become U+FFFD, so it is refused. */
function boundBytes(bound: unknown, name: string): Uint8Array {
  if (typeof bound !== 'string') throw new JubilantError('INVALID_ARGUMENT', `scan ${name} must be a string`);
  if (!bound.isWellFormed()) throw new JubilantError('INVALID_UTF8', `scan ${name} has a lone surrogate`);
  return utf8(bound);
}
