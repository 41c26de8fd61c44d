// Proves the error table, docs/errors.md and the error classes agree (STYLE.md, "Errors are a table").
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError, ERROR_TABLE, type ErrorCode, JubilantError } from '../../src/util/errors.js';

const docPath = join(import.meta.dirname, '..', '..', 'docs', 'errors.md');

function documentedRows(): Array<{ code: string; wire: number; retryable: boolean; meaning: string }> {
  const rows = readFileSync(docPath, 'utf8')
    .split('\n')
    .filter((line) => /^\| [A-Z_0-9]+ \| \d+ \|/.test(line));
  return rows.map((line) => {
    const [code, wire, retryable, meaning] = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    return { code: code ?? '', wire: Number(wire), retryable: retryable === 'yes', meaning: meaning ?? '' };
  });
}

describe('error table', () => {
  it('docs/errors.md lists exactly the codes of ERROR_TABLE, with the same numbers, flags and meanings', () => {
    const fromTable = Object.entries(ERROR_TABLE).map(([code, entry]) => ({ code, ...entry }));
    expect(documentedRows()).toEqual(fromTable);
  });

  it('wire numbers are unique and positive (0 is NONE on the wire)', () => {
    const numbers = Object.values(ERROR_TABLE).map((entry) => entry.wire);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(Math.min(...numbers)).toBeGreaterThan(0);
  });

  it('a JubilantError carries its code, retryable flag, wire number and op index', () => {
    const error = new JubilantError('LOCK_TIMEOUT', 'waited too long', { opIndex: 3 });
    expect(error).toBeInstanceOf(Error);
    expect(error.code satisfies ErrorCode).toBe('LOCK_TIMEOUT');
    expect(error.retryable).toBe(true);
    expect(error.wireCode).toBe(22);
    expect(error.opIndex).toBe(3);
  });

  it('a CorruptionError names the file and offset in its message', () => {
    const error = new CorruptionError('page checksum mismatch', {
      file: 'data.pages',
      offsetBytes: 32768,
      what: 'page 2',
    });
    expect(error.code).toBe('CORRUPTION');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe('page checksum mismatch (page 2, data.pages @ 32768)');
    expect(error.file).toBe('data.pages');
    expect(error.offsetBytes).toBe(32768);
  });
});
