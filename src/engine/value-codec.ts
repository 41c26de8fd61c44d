/**
 * Keys and values at the embedded API's edge. Keys are non-empty, well-formed JS strings stored as
 * UTF-8 bytes (bytewise order); values map bytes <-> Uint8Array, string <-> string, int64 <-> bigint.
 * Every check here runs before anything is logged or locked, so bad input changes nothing.
 */
import { Buffer } from 'node:buffer';
import type { LeafEntry } from '../storage/btree/node.js';
import { INT64_VALUE_BYTES, type ValueType } from '../storage/value-type.js';
import { allocBytes, copyBytes } from '../util/byte-slab.js';
import { JubilantError } from '../util/errors.js';

export type Value = Uint8Array | string | bigint;

/** The int64 range, shared by every check of an int64 value (INCR, ASSERT_INT_EQ, values). */
export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Validates a key and returns its UTF-8 bytes. */
export function encodeKey(key: unknown, keySizeMaxBytes: number, opIndex?: number): Uint8Array {
  const options = opIndex === undefined ? {} : { opIndex };
  if (typeof key !== 'string') throw new JubilantError('INVALID_KEY', 'a key must be a string', options);
  if (key.length === 0) throw new JubilantError('INVALID_KEY', 'a key must not be empty', options);
  if (!key.isWellFormed()) {
    throw new JubilantError('INVALID_UTF8', 'a key must be well-formed UTF-16 (no lone surrogates)', options);
  }
  const bytes = Buffer.from(key, 'utf8');
  if (bytes.length > keySizeMaxBytes) {
    throw new JubilantError(
      'KEY_TOO_LARGE',
      `a key of ${bytes.length} bytes is longer than the ${keySizeMaxBytes}-byte maximum`,
      options,
    );
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function decodeKey(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

export interface EncodedValue {
  readonly valueType: ValueType;
  /** A fresh copy: the caller may keep it; the user's buffer stays theirs. */
  readonly bytes: Uint8Array;
}

export function encodeValue(value: unknown, opIndex?: number): EncodedValue {
  const options = opIndex === undefined ? {} : { opIndex };
  // A copy (a slab piece, see byte-slab.ts); Buffer#slice would share the caller's memory.
  if (value instanceof Uint8Array) return { valueType: 'bytes', bytes: copyBytes(value) };
  if (typeof value === 'string') {
    if (!value.isWellFormed()) {
      throw new JubilantError(
        'INVALID_UTF8',
        'a string value must be well-formed (no lone surrogates)',
        options,
      );
    }
    const bytes = Buffer.from(value, 'utf8');
    return { valueType: 'string', bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
  }
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) {
      throw new JubilantError('INT_OVERFLOW', `${value} is outside the int64 range`, options);
    }
    const bytes = allocBytes(INT64_VALUE_BYTES);
    new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setBigInt64(0, value, true);
    return { valueType: 'int64', bytes };
  }
  throw new JubilantError('INVALID_ARGUMENT', 'a value must be a Uint8Array, a string or a bigint', options);
}

/** The user-facing value of a stored inline value; always a copy, never a view into a cached page. */
export function decodeValue(valueType: ValueType, bytes: Uint8Array): Value {
  switch (valueType) {
    case 'bytes':
      return copyBytes(bytes);
    case 'string':
      return utf8Decoder.decode(bytes);
    case 'int64':
      return new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getBigInt64(0, true);
  }
}

/** Whether an entry reads as present at `nowMs`: not a tombstone and not expired. */
export function isLive(entry: LeafEntry, nowMs: number): boolean {
  return !entry.tombstone && (entry.expiresAtMs === 0 || entry.expiresAtMs > nowMs);
}
