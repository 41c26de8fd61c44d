/**
 * Helpers shared by the request and response codecs: buffer verification, the two error shapes
 * (INVALID_ARGUMENT for a request that breaks a protocol rule, MALFORMED_FRAME for one the peer cannot
 * trust), range checks for u16/u32/u64/i64, strict UTF-8 strings, and the typed Value union.
 */
import * as flatbuffers from 'flatbuffers';
import * as fb from '../generated/wire/index.js';
import { LAYOUT } from '../generated/wire/layout.js';
import type { Value } from '../txn/ops.js';
import { JubilantError } from '../util/errors.js';
import { verifyFlatBuffer } from '../util/flatbuffers-verifier.js';

export const U16_MAX = 0xffff;
export const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
export const UTF8_BYTES = flatbuffers.Encoding.UTF8_BYTES;
/** Fatal, and keeping a leading U+FEFF: a key that starts with a byte-order mark is still that key. */
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function verifyWireBuffer(buffer: Uint8Array, rootTable: 'Request' | 'Response'): void {
  verifyFlatBuffer(buffer, LAYOUT, { rootTable, checkIdentifier: true });
}

export function invalidArgument(message: string, opIndex?: number): JubilantError {
  return new JubilantError('INVALID_ARGUMENT', message, { opIndex });
}

/** A buffer that passed verification yet is not a valid message of this protocol. */
export function malformed(message: string): JubilantError {
  return new JubilantError('MALFORMED_FRAME', message);
}

/** For accessors that return null only on bytes the verifier has already rejected. */
export function must<T>(value: T | null | undefined, path: string): T {
  if (value === null || value === undefined) throw malformed(`${path} is missing or not a declared value`);
  return value;
}

/** The `default` of a switch the compiler proves exhaustive; reached only from untyped callers. */
export function unknownKind(_value: never, path: string, opIndex?: number): never {
  throw invalidArgument(`${path} is not a known kind`, opIndex);
}

export function lookup<K extends string, V>(map: Record<K, V>, key: K, path: string, opIndex?: number): V {
  if (!Object.hasOwn(map, key))
    throw invalidArgument(`${path} must be one of ${Object.keys(map).join(', ')}`, opIndex);
  return map[key];
}

export function checkUint(value: number, max: number, path: string, opIndex?: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw invalidArgument(`${path} must be an integer in [0, ${max}]`, opIndex);
  }
  return value;
}

export function checkPositiveSafe(value: number, path: string, opIndex?: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(`${path} must be an integer in [1, ${Number.MAX_SAFE_INTEGER}]`, opIndex);
  }
  return value;
}

export function checkU64(value: bigint, path: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
    throw invalidArgument(`${path} must be a bigint in [0, 2^64)`);
  }
  return value;
}

export function checkI64(value: bigint, path: string, opIndex?: number): bigint {
  if (typeof value !== 'bigint' || value < I64_MIN || value > I64_MAX) {
    throw invalidArgument(`${path} must be a bigint in [-2^63, 2^63)`, opIndex);
  }
  return value;
}

/** A u64 count of milliseconds as a number; above 2^53 it would lose precision, so it is refused. */
export function toSafeNumber(value: bigint, path: string, opIndex?: number): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidArgument(`${path} is above ${Number.MAX_SAFE_INTEGER}`, opIndex);
  }
  return Number(value);
}

/** ES2024's String.prototype.isWellFormed: Node 20 has it, the ES2023 lib does not declare it. */
export function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/** Refuses a lone surrogate rather than letting TextEncoder turn it into U+FFFD: a key must not change. */
export function createString(builder: flatbuffers.Builder, text: string, path: string): number {
  if (typeof text !== 'string') throw invalidArgument(`${path} must be a string`);
  if (!isWellFormed(text)) throw new JubilantError('INVALID_UTF8', `${path} has a lone surrogate`);
  return builder.createString(text);
}

/** Offset 0 is FlatBuffers' "absent": the generated add functions skip it. */
export function createOptionalString(
  builder: flatbuffers.Builder,
  text: string | undefined,
  path: string,
): number {
  return text === undefined ? 0 : createString(builder, text, path);
}

/** Decodes a string read with UTF8_BYTES; `null` (absent) becomes undefined. */
export function readString(raw: string | Uint8Array | null, path: string): string | undefined {
  if (raw === null) return undefined;
  if (typeof raw === 'string') return raw;
  try {
    return utf8Decoder.decode(raw);
  } catch (cause) {
    throw new JubilantError('INVALID_UTF8', `${path} is not well-formed UTF-8`, { cause });
  }
}

/** Decoded bytes never alias the frame, so a stored value cannot pin a whole receive buffer. */
export function copyBytes(view: Uint8Array): Uint8Array {
  return view.slice();
}

export interface EncodedValue {
  type: fb.Value;
  offset: number;
}

export function encodeValue(
  builder: flatbuffers.Builder,
  value: Value,
  path: string,
  opIndex?: number,
): EncodedValue {
  if (value instanceof Uint8Array) {
    const data = builder.createByteVector(value);
    return { type: fb.Value.BytesValue, offset: fb.BytesValue.createBytesValue(builder, data) };
  }
  if (typeof value === 'string') {
    const data = createString(builder, value, path);
    return { type: fb.Value.StringValue, offset: fb.StringValue.createStringValue(builder, data) };
  }
  if (typeof value === 'bigint') {
    const int64 = checkI64(value, path, opIndex);
    return { type: fb.Value.Int64Value, offset: fb.Int64Value.createInt64Value(builder, int64) };
  }
  throw invalidArgument(`${path} must be a Uint8Array, a string or a bigint`, opIndex);
}

/** Any table with a `value: Value` union: Op, Set, OpResult, KeyValue. */
export interface ValueHolder {
  valueType(): fb.Value;
  value(table: fb.BytesValue | fb.StringValue | fb.Int64Value): unknown;
}

/** The union's value, or undefined when its type is NONE. */
export function decodeValue(holder: ValueHolder, path: string): Value | undefined {
  const type = holder.valueType();
  switch (type) {
    case fb.Value.NONE:
      return undefined;
    case fb.Value.BytesValue: {
      const table = must(holder.value(new fb.BytesValue()) as fb.BytesValue | null, path);
      return copyBytes(must(table.dataArray(), `${path}.data`));
    }
    case fb.Value.StringValue: {
      const table = must(holder.value(new fb.StringValue()) as fb.StringValue | null, path);
      return must(readString(table.data(UTF8_BYTES), path), `${path}.data`);
    }
    case fb.Value.Int64Value:
      return must(holder.value(new fb.Int64Value()) as fb.Int64Value | null, path).value();
    default:
      throw malformed(`${path} has unknown value type ${type}`);
  }
}
