/**
 * The transaction model shared by the embedded API and the wire (issue 7): a key table that declares
 * every key, range or prefix up front, and ordered ops that name keys by id only. These are plain data
 * types; validation (duplicate ids, writes to R keys, key sizes) belongs to the planner, so the embedded
 * API and the wire codecs accept exactly the same objects.
 */

/** A stored value: raw bytes, a well-formed UTF-8 string, or a signed 64-bit integer. */
import type { Value } from '../engine/value-codec.js';

export type { Value };

/** `'fsync'` (the default) acknowledges after the WAL is durable; `'relaxed'` on acceptance into the log. */
import type { Durability } from '../storage/wal/group-commit.js';

export type { Durability };

export const DURABILITIES = ['fsync', 'relaxed'] as const satisfies readonly Durability[];

export type KeyMode = 'R' | 'RW';

/**
 * One key table entry: a point key (read or read-write), a read range `[start, end)` (an absent start
 * is the first key, an absent end is past the last key), or a read prefix.
 */
export type KeyDecl =
  | { id: number; mode: KeyMode; key: string }
  | { id: number; mode: 'R'; start?: string; end?: string }
  | { id: number; mode: 'R'; prefix: string };

/** ASSERT_TYPE targets; `'tombstone'` is a synonym of `'missing'` (absent, deleted or expired). */
export type AssertedType = 'missing' | 'tombstone' | 'bytes' | 'string' | 'int64';

export const ASSERTED_TYPES = [
  'missing',
  'tombstone',
  'bytes',
  'string',
  'int64',
] as const satisfies readonly AssertedType[];

export type TxnOp =
  | { op: 'GET'; id: number }
  /** At most one of `ttlMs` (relative) and `expiresAtMs` (absolute Unix milliseconds). */
  | { op: 'SET'; id: number; value: Value; ttlMs?: number; expiresAtMs?: number }
  | { op: 'DEL'; id: number }
  /** On a declared range or prefix; no `limit` means every entry. */
  | { op: 'SCAN'; id: number; limit?: number; reverse?: boolean }
  /** An int64 add; overflow fails with INT_OVERFLOW and changes nothing. */
  | { op: 'INCR'; id: number; by: bigint }
  | { op: 'ASSERT_EXISTS'; id: number }
  | { op: 'ASSERT_NOT_EXISTS'; id: number }
  | { op: 'ASSERT_TYPE'; id: number; type: AssertedType }
  | { op: 'ASSERT_INT_EQ'; id: number; value: bigint }
  /** `sha256` is the 32-byte SHA-256 of the stored bytes or of the string's UTF-8 bytes. */
  | { op: 'ASSERT_BYTES_HASH_EQ' | 'ASSERT_STRING_HASH_EQ'; id: number; sha256: Uint8Array };

export type TxnOpName = TxnOp['op'];

export const TXN_OP_NAMES = [
  'GET',
  'SET',
  'DEL',
  'SCAN',
  'INCR',
  'ASSERT_EXISTS',
  'ASSERT_NOT_EXISTS',
  'ASSERT_TYPE',
  'ASSERT_INT_EQ',
  'ASSERT_BYTES_HASH_EQ',
  'ASSERT_STRING_HASH_EQ',
] as const satisfies readonly TxnOpName[];

export const SHA256_BYTES = 32;

export interface TxnRequest {
  keys: KeyDecl[];
  ops: TxnOp[];
  durability?: Durability;
}

/** One result per op, in op order: GET the value (undefined when missing), SCAN its entries, INCR the new value. */
export type OpResult = Value | Array<{ key: string; value: Value }> | bigint | undefined;

/** The result type of one op kind, for callers that know which op they sent. */
export type OpResultOf<Name extends TxnOpName> = Name extends 'GET'
  ? Value | undefined
  : Name extends 'SCAN'
    ? Array<{ key: string; value: Value }>
    : Name extends 'INCR'
      ? bigint
      : undefined;
