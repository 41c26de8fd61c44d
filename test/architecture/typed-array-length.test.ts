// Keeps a measured performance rule: src reads a Uint8Array's size as `.length`. On Node 20's V8 a
// typed array's `.byteLength` is not inlined (about 30 ns a read against 1 ns; see compareBytes), and
// it was a third of a cached lookup's time. Our own `byteLength` fields (WAL batch headers) are named
// with their owner, so they are easy to allow here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return name === 'generated' ? [] : sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** `header.byteLength` (a WAL batch header field) and `x.byteLength()` (a generated accessor). */
const ALLOWED = /header\.byteLength|\.byteLength\(/;

describe('typed-array sizes', () => {
  it('src reads sizes with .length, never .byteLength', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(src)) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, index) => {
          const code = line.replace(/\/\/.*$|^\s*\*.*$/, ''); // comments may name it
          if (/\.byteLength\b/.test(code) && !ALLOWED.test(code)) {
            offenders.push(`${relative(src, file)}:${index + 1}: ${line.trim()}`);
          }
        });
    }
    expect(offenders).toEqual([]);
  });
});
