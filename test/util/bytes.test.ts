// Proves compareBytes orders exactly like Buffer.compare (bytewise), on short keys (JS loop) and long ones.
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareBytes } from '../../src/util/bytes.js';
import { testSeed } from '../../src/util/random.js';

describe('compareBytes', () => {
  it('agrees with Buffer.compare on random byte strings of every length class', () => {
    const seed = testSeed();
    console.log(`compareBytes seed=${seed}`);
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 80 }));
    fc.assert(
      fc.property(bytes, bytes, (left, right) => {
        expect(compareBytes(left, right)).toBe(Buffer.compare(left, right));
      }),
      { seed, numRuns: 3000 },
    );
  });

  it('orders a proper prefix first and equal arrays as 0, on both sides of the 32-byte switch', () => {
    for (const length of [0, 1, 31, 32, 33, 64]) {
      const key = new Uint8Array(length).fill(7);
      const longer = new Uint8Array(length + 1).fill(7);
      expect(compareBytes(key, longer)).toBe(-1);
      expect(compareBytes(longer, key)).toBe(1);
      expect(compareBytes(key, key.slice())).toBe(0);
    }
  });

  it('compares bytes unsigned: 0xff sorts after 0x01', () => {
    expect(compareBytes(new Uint8Array([0xff]), new Uint8Array([0x01]))).toBe(1);
  });
});
