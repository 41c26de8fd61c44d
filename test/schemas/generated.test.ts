// Proves the committed generated code matches the .fbs files it came from, without needing flatc.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMA_SHA256 } from '../../src/meta/schema-hashes.js';

const root = join(import.meta.dirname, '..', '..');
const schemaNames = ['disk', 'wal', 'wire'] as const;

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('generated FlatBuffers code', () => {
  for (const name of schemaNames) {
    it(`every file in src/generated/${name} carries the SHA-256 of schemas/${name}.fbs`, () => {
      const expected = sha256Of(join(root, 'schemas', `${name}.fbs`));
      const dir = join(root, 'src', 'generated', name);
      const files = readdirSync(dir);
      expect(files.length).toBeGreaterThan(2);
      for (const file of files) {
        const firstLine = readFileSync(join(dir, file), 'utf8').split('\n', 1)[0];
        expect(firstLine, `${name}/${file} is stale: run npm run schemas`).toContain(`sha256=${expected}`);
      }
    });

    it(`the manifest's recorded hash for ${name}.fbs is the file's SHA-256`, () => {
      expect(SCHEMA_SHA256[name]).toBe(sha256Of(join(root, 'schemas', `${name}.fbs`)));
    });
  }
});
