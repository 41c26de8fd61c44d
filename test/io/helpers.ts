/**
 * Small helpers shared by the test/io suites: recognizable byte patterns and seeded setups.
 */
import { expect } from 'vitest';
import { SIM_SECTOR_BYTES } from '../../src/io/sim-storage.js';
import { bytesEqual } from '../../src/util/bytes.js';

/** Bytes that differ per offset and per `salt`, so a misplaced or mixed sector is visible. */
export function pattern(lengthBytes: number, salt: number): Uint8Array {
  const bytes = new Uint8Array(lengthBytes);
  for (let i = 0; i < lengthBytes; i++) bytes[i] = (i * 31 + salt * 17 + (i >> 8)) & 0xff;
  return bytes;
}

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The 512 B sectors of [0, lengthBytes), as [start, end) pairs. */
export function sectors(lengthBytes: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < lengthBytes; start += SIM_SECTOR_BYTES) {
    out.push([start, Math.min(lengthBytes, start + SIM_SECTOR_BYTES)]);
  }
  return out;
}

export function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  return bytesEqual(left, right);
}

/**
 * Asserts equal bytes. vitest's deep equality walks a typed array element by element (about 100 ms
 * per 20 KB), so the common passing case is checked directly and only a failure pays for the diff.
 */
export function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array, message?: string): void {
  if (actual !== undefined && bytesEqual(actual, expected)) return;
  expect(actual, message).toEqual(expected);
}

/** Which sectors of `actual` equal `before` ('o'), `after` ('N'), or neither ('?'). */
export function sectorOrigins(actual: Uint8Array, before: Uint8Array, after: Uint8Array): string {
  return sectors(actual.byteLength)
    .map(([start, end]) => {
      const piece = actual.subarray(start, end);
      if (sameBytes(piece, after.subarray(start, end))) return 'N';
      if (sameBytes(piece, before.subarray(start, end))) return 'o';
      return '?';
    })
    .join('');
}
