/**
 * Golden files: the frozen bytes of each format under test/golden/. `expectGolden` compares freshly
 * encoded bytes with the file (a missing file fails); JUBILANT_UPDATE_GOLDEN=1 writes it instead, which is how a format
 * changes on purpose (and then the diff of the .bin shows in review).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { toHex } from '../../src/util/bytes.js';

const goldenDir = join(import.meta.dirname, '..', 'golden');

export function goldenPath(name: string): string {
  return join(goldenDir, `${name}.bin`);
}

export function readGolden(name: string): Uint8Array {
  return new Uint8Array(readFileSync(goldenPath(name)));
}

export function expectGolden(name: string, actual: Uint8Array): void {
  const path = goldenPath(name);
  if (process.env.JUBILANT_UPDATE_GOLDEN === '1') {
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path))
    throw new Error(`golden file ${path} is missing: create it with JUBILANT_UPDATE_GOLDEN=1`);
  expect(
    toHex(actual),
    `bytes differ from ${path}; if the format changed on purpose, rerun with JUBILANT_UPDATE_GOLDEN=1`,
  ).toBe(toHex(readGolden(name)));
}
