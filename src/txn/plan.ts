/**
 * The planner: checks a transaction request completely before any lock is taken, and turns it into a
 * plan — the key table resolved to bytes and ranges, each op bound to its key, and the lock set. Every
 * defect is a typed error naming the op (or key declaration) at fault, and nothing has happened yet:
 * no lock, no log record, no change.
 */
import { Buffer } from 'node:buffer';
import { TXN_KEYS_MAX, TXN_OPS_MAX } from '../config/limits.js';
import { type EncodedValue, encodeKey, encodeValue, INT64_MAX, INT64_MIN } from '../engine/value-codec.js';
import { type KeyRange, prefixRange } from '../storage/btree/key-range.js';
import { JubilantError } from '../util/errors.js';
import { ASSERTED_TYPES, type AssertedType, SHA256_BYTES, type TxnOp, type TxnRequest } from './ops.js';

export type PlannedKey =
  | { readonly kind: 'point'; readonly id: number; readonly write: boolean; readonly key: Uint8Array }
  | { readonly kind: 'range'; readonly id: number; readonly range: KeyRange };

export type PlannedOp =
  | { readonly op: 'GET' | 'DEL' | 'ASSERT_EXISTS' | 'ASSERT_NOT_EXISTS'; readonly key: Uint8Array }
  | { readonly op: 'SET'; readonly key: Uint8Array; readonly value: EncodedValue; readonly ttl: Expiry }
  | { readonly op: 'SCAN'; readonly range: KeyRange; readonly limit: number; readonly reverse: boolean }
  | { readonly op: 'INCR'; readonly key: Uint8Array; readonly by: bigint }
  | { readonly op: 'ASSERT_TYPE'; readonly key: Uint8Array; readonly type: AssertedType }
  | { readonly op: 'ASSERT_INT_EQ'; readonly key: Uint8Array; readonly value: bigint }
  | {
      readonly op: 'ASSERT_BYTES_HASH_EQ' | 'ASSERT_STRING_HASH_EQ';
      readonly key: Uint8Array;
      readonly sha256: Uint8Array;
    };

/** How a SET's expiry is given: relative to the commit, absolute, or none. */
export type Expiry = { readonly ttlMs: number } | { readonly expiresAtMs: number } | undefined;

export interface LockSet {
  readonly points: ReadonlyArray<{ readonly key: Uint8Array; readonly mode: 'S' | 'X' }>;
  readonly ranges: ReadonlyArray<KeyRange>;
}

export interface Plan {
  readonly ops: readonly PlannedOp[];
  readonly locks: LockSet;
  /** No op writes: the commit takes the read-only fast path (no WAL record). */
  readonly readOnly: boolean;
}

export interface PlanLimits {
  readonly keySizeMaxBytes: number;
  /** Throws VALUE_TOO_LARGE (naming the op) for a value that cannot be stored with its key. */
  readonly checkValueFits?: (key: Uint8Array, valueBytes: number, opIndex: number) => void;
  readonly keysMax?: number;
  readonly opsMax?: number;
}

function fail(
  code: ConstructorParameters<typeof JubilantError>[0],
  message: string,
  opIndex?: number,
): never {
  throw new JubilantError(code, message, opIndex === undefined ? {} : { opIndex });
}

export function planTransaction(request: TxnRequest, limits: PlanLimits): Plan {
  if (
    typeof request !== 'object' ||
    request === null ||
    !Array.isArray(request.keys) ||
    !Array.isArray(request.ops)
  ) {
    fail('INVALID_ARGUMENT', 'a transaction needs a keys array and an ops array');
  }
  if (request.keys.length > (limits.keysMax ?? TXN_KEYS_MAX)) {
    fail(
      'TOO_MANY_KEYS',
      `${request.keys.length} keys declared; the limit is ${limits.keysMax ?? TXN_KEYS_MAX}`,
    );
  }
  if (request.ops.length > (limits.opsMax ?? TXN_OPS_MAX)) {
    fail('TOO_MANY_OPS', `${request.ops.length} ops; the limit is ${limits.opsMax ?? TXN_OPS_MAX}`);
  }
  const keys = new Map<number, PlannedKey>();
  request.keys.forEach((decl, index) => {
    const planned = planKey(decl, index, limits);
    if (keys.has(planned.id))
      fail('DUPLICATE_KEY_ID', `key id ${planned.id} is declared twice (key ${index})`);
    keys.set(planned.id, planned);
  });
  const ops = request.ops.map((op, opIndex) => planOp(op, opIndex, keys));
  ops.forEach((op, opIndex) => {
    if (op.op === 'SET') limits.checkValueFits?.(op.key, op.value.bytes.length, opIndex);
  });
  return { ops, locks: lockSetOf(keys), readOnly: ops.every((op) => !isWrite(op)) };
}

function isWrite(op: PlannedOp): boolean {
  return op.op === 'SET' || op.op === 'DEL' || op.op === 'INCR';
}

function planKey(decl: TxnRequest['keys'][number], index: number, limits: PlanLimits): PlannedKey {
  const where = `key declaration ${index}`;
  if (typeof decl !== 'object' || decl === null) fail('INVALID_ARGUMENT', `${where} is not an object`);
  const id = decl.id;
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff)
    fail('INVALID_ARGUMENT', `${where}: id must be a u32`);
  if (decl.mode !== 'R' && decl.mode !== 'RW') fail('INVALID_ARGUMENT', `${where}: mode must be 'R' or 'RW'`);
  if ('key' in decl) {
    return { kind: 'point', id, write: decl.mode === 'RW', key: encodeKey(decl.key, limits.keySizeMaxBytes) };
  }
  if (decl.mode !== 'R') fail('INVALID_ARGUMENT', `${where}: a range or prefix can only be declared 'R'`);
  if ('prefix' in decl) return { kind: 'range', id, range: prefixRange(boundBytes(decl.prefix, where)) };
  const range: KeyRange = {
    ...(decl.start === undefined ? {} : { start: boundBytes(decl.start, where) }),
    ...(decl.end === undefined ? {} : { end: boundBytes(decl.end, where) }),
  };
  return { kind: 'range', id, range };
}

function boundBytes(bound: unknown, where: string): Uint8Array {
  if (typeof bound !== 'string') fail('INVALID_ARGUMENT', `${where}: a range bound must be a string`);
  if (!bound.isWellFormed()) fail('INVALID_UTF8', `${where}: a range bound has a lone surrogate`);
  const bytes = Buffer.from(bound, 'utf8');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

function pointOf(keys: Map<number, PlannedKey>, op: TxnOp, opIndex: number, write: boolean): Uint8Array {
  const planned = keys.get(op.id);
  if (planned === undefined)
    fail('UNKNOWN_KEY_ID', `op ${opIndex} (${op.op}) names undeclared key id ${op.id}`, opIndex);
  if (planned.kind !== 'point') {
    fail('NOT_A_POINT', `op ${opIndex} (${op.op}) names key id ${op.id}, declared as a range`, opIndex);
  }
  if (write && !planned.write) {
    fail(
      'WRITE_TO_READ_KEY',
      `op ${opIndex} (${op.op}) writes key id ${op.id}, declared read-only (R)`,
      opIndex,
    );
  }
  return planned.key;
}

function planOp(op: TxnOp, opIndex: number, keys: Map<number, PlannedKey>): PlannedOp {
  if (typeof op !== 'object' || op === null)
    fail('INVALID_ARGUMENT', `op ${opIndex} is not an object`, opIndex);
  switch (op.op) {
    case 'GET':
    case 'ASSERT_EXISTS':
    case 'ASSERT_NOT_EXISTS':
      return { op: op.op, key: pointOf(keys, op, opIndex, false) };
    case 'DEL':
      return { op: 'DEL', key: pointOf(keys, op, opIndex, true) };
    case 'SET':
      return planSet(op, opIndex, keys);
    case 'SCAN':
      return planScan(op, opIndex, keys);
    case 'INCR':
      return { op: 'INCR', key: pointOf(keys, op, opIndex, true), by: int64(op.by, 'by', opIndex) };
    case 'ASSERT_TYPE':
      if (!ASSERTED_TYPES.includes(op.type))
        fail('INVALID_ARGUMENT', `op ${opIndex}: unknown type ${op.type}`, opIndex);
      return { op: 'ASSERT_TYPE', key: pointOf(keys, op, opIndex, false), type: op.type };
    case 'ASSERT_INT_EQ':
      return {
        op: 'ASSERT_INT_EQ',
        key: pointOf(keys, op, opIndex, false),
        value: int64(op.value, 'value', opIndex),
      };
    case 'ASSERT_BYTES_HASH_EQ':
    case 'ASSERT_STRING_HASH_EQ':
      if (!(op.sha256 instanceof Uint8Array) || op.sha256.length !== SHA256_BYTES) {
        fail('INVALID_ARGUMENT', `op ${opIndex}: sha256 must be ${SHA256_BYTES} bytes`, opIndex);
      }
      return { op: op.op, key: pointOf(keys, op, opIndex, false), sha256: op.sha256.slice() };
    default:
      return fail('INVALID_ARGUMENT', `op ${opIndex}: unknown op ${(op as { op: unknown }).op}`, opIndex);
  }
}

function int64(value: unknown, name: string, opIndex: number): bigint {
  if (typeof value !== 'bigint') fail('INVALID_ARGUMENT', `op ${opIndex}: ${name} must be a bigint`, opIndex);
  if (value < INT64_MIN || value > INT64_MAX)
    fail('INT_OVERFLOW', `op ${opIndex}: ${name} is outside int64`, opIndex);
  return value;
}

function planSet(
  op: Extract<TxnOp, { op: 'SET' }>,
  opIndex: number,
  keys: Map<number, PlannedKey>,
): PlannedOp {
  const key = pointOf(keys, op, opIndex, true);
  const value = encodeValue(op.value, opIndex);
  if (op.ttlMs !== undefined && op.expiresAtMs !== undefined) {
    fail('INVALID_ARGUMENT', `op ${opIndex}: give ttlMs or expiresAtMs, not both`, opIndex);
  }
  for (const [name, ms] of [
    ['ttlMs', op.ttlMs],
    ['expiresAtMs', op.expiresAtMs],
  ] as const) {
    if (ms !== undefined && (!Number.isSafeInteger(ms) || ms <= 0)) {
      fail('INVALID_ARGUMENT', `op ${opIndex}: ${name} must be a positive integer of milliseconds`, opIndex);
    }
  }
  const ttl: Expiry =
    op.ttlMs !== undefined
      ? { ttlMs: op.ttlMs }
      : op.expiresAtMs !== undefined
        ? { expiresAtMs: op.expiresAtMs }
        : undefined;
  return { op: 'SET', key, value, ttl };
}

function planScan(
  op: Extract<TxnOp, { op: 'SCAN' }>,
  opIndex: number,
  keys: Map<number, PlannedKey>,
): PlannedOp {
  const planned = keys.get(op.id);
  if (planned === undefined)
    fail('UNKNOWN_KEY_ID', `op ${opIndex} (SCAN) names undeclared key id ${op.id}`, opIndex);
  if (planned.kind !== 'range') {
    fail(
      'NOT_A_RANGE',
      `op ${opIndex} (SCAN) names key id ${op.id}, which is not a declared range or prefix`,
      opIndex,
    );
  }
  const limit = op.limit ?? Number.POSITIVE_INFINITY;
  if (op.limit !== undefined && (!Number.isSafeInteger(op.limit) || op.limit < 1)) {
    fail('INVALID_ARGUMENT', `op ${opIndex}: limit must be a positive integer`, opIndex);
  }
  if (op.reverse !== undefined && typeof op.reverse !== 'boolean') {
    fail('INVALID_ARGUMENT', `op ${opIndex}: reverse must be a boolean`, opIndex);
  }
  return { op: 'SCAN', range: planned.range, limit, reverse: op.reverse === true };
}

/** One lock per key (its strongest mode; R is shared, RW exclusive) and one shared lock per range. */
function lockSetOf(keys: Map<number, PlannedKey>): LockSet {
  const points = new Map<string, { key: Uint8Array; mode: 'S' | 'X' }>();
  const ranges: KeyRange[] = [];
  for (const planned of keys.values()) {
    if (planned.kind === 'range') {
      ranges.push(planned.range);
      continue;
    }
    const name = Buffer.from(planned.key).toString('latin1');
    const mode = planned.write ? 'X' : 'S';
    const existing = points.get(name);
    if (existing === undefined || mode === 'X') points.set(name, { key: planned.key, mode });
  }
  return { points: [...points.values()], ranges };
}
