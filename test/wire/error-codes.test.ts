// Proves the wire schema's ErrorCode enum and ERROR_TABLE name the same codes with the same numbers (NONE = 0 only in the schema).
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/generated/wire/error-code.js';
import { ERROR_TABLE } from '../../src/util/errors.js';

/** A numeric TypeScript enum also maps numbers back to names; keep only the name → number half. */
function schemaCodes(): Map<string, number> {
  return new Map(
    Object.entries(ErrorCode).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
  );
}

describe('error codes on the wire', () => {
  it('the schema declares NONE = 0, and the error table does not use 0 or NONE', () => {
    expect(schemaCodes().get('NONE')).toBe(0);
    expect(Object.keys(ERROR_TABLE)).not.toContain('NONE');
    expect(Object.values(ERROR_TABLE).map((entry) => entry.wire)).not.toContain(0);
  });

  it('the schema enum without NONE and the error table have the same names and numbers', () => {
    const schema = [...schemaCodes()].filter(([name]) => name !== 'NONE');
    const table = Object.entries(ERROR_TABLE).map(([name, entry]): [string, number] => [name, entry.wire]);
    const byName = (left: [string, number], right: [string, number]) => left[0].localeCompare(right[0]);
    expect(table.sort(byName)).toStrictEqual(schema.sort(byName));
  });

  it('no two codes share a wire number', () => {
    const numbers = Object.values(ERROR_TABLE).map((entry) => entry.wire);
    expect(new Set(numbers).size).toBe(numbers.length);
  });
});
