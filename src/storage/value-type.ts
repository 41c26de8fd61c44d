/**
 * The stored value types and their one-byte codes, shared by WAL records, value-log records and B+Tree
 * leaves. The codes equal the ValueType enums of schemas/wal.fbs and schemas/disk.fbs (asserted below),
 * so a value moves between formats without translation. int64 values are stored as 8 bytes LE.
 */
import { ValueType as DiskValueType } from '../generated/disk/value-type.js';
import { ValueType as WalValueType } from '../generated/wal/value-type.js';
import { assert } from '../util/assert.js';

export type ValueType = 'bytes' | 'string' | 'int64';

export const VALUE_TYPE_CODES: Readonly<Record<ValueType, number>> = { bytes: 0, string: 1, int64: 2 };
export const INT64_VALUE_BYTES = 8;

const TYPES_BY_CODE: readonly ValueType[] = ['bytes', 'string', 'int64'];

export function valueTypeOfCode(code: number): ValueType | undefined {
  return TYPES_BY_CODE[code];
}

for (const [name, code] of Object.entries(VALUE_TYPE_CODES)) {
  assert(valueTypeOfCode(code) === name);
}
assert(WalValueType.Bytes === VALUE_TYPE_CODES.bytes && DiskValueType.Bytes === VALUE_TYPE_CODES.bytes);
assert(WalValueType.String === VALUE_TYPE_CODES.string && DiskValueType.String === VALUE_TYPE_CODES.string);
assert(WalValueType.Int64 === VALUE_TYPE_CODES.int64 && DiskValueType.Int64 === VALUE_TYPE_CODES.int64);
