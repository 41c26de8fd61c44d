// Proves the checksummed frame tells a good frame from a truncated, oversized or corrupted one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeFrame,
  FRAME_OVERHEAD_BYTES,
  readFrame,
  writeFrame,
} from '../../src/util/checksummed-frame.js';
import { testSeed } from '../../src/util/random.js';

describe('checksummed frame', () => {
  it('a frame round-trips and reports its size', () => {
    const payload = new Uint8Array([1, 2, 3, 4, 5]);
    const frame = encodeFrame(payload);
    expect(frame.byteLength).toBe(payload.byteLength + FRAME_OVERHEAD_BYTES);
    expect(readFrame(frame, 0, 100)).toEqual({ ok: true, payload, frameBytes: 13 });
  });

  it('frames written back to back are read in sequence', () => {
    const buffer = new Uint8Array(64);
    const end = writeFrame(buffer, writeFrame(buffer, 0, new Uint8Array([7])), new Uint8Array([8, 9]));
    const first = readFrame(buffer, 0, 100);
    expect(first.ok && [...first.payload]).toEqual([7]);
    const second = readFrame(buffer, 9, 100);
    expect(second.ok && [...second.payload]).toEqual([8, 9]);
    expect(end).toBe(9 + 10);
  });

  it('empty input is truncated', () => {
    expect(readFrame(new Uint8Array(0), 0, 100)).toEqual({ ok: false, problem: 'truncated' });
  });

  it('a frame cut anywhere is truncated, never accepted', () => {
    const frame = encodeFrame(new Uint8Array(20).fill(3));
    for (let cut = 0; cut < frame.byteLength; cut++) {
      expect(readFrame(frame.subarray(0, cut), 0, 100), `cut ${cut}`).toEqual({
        ok: false,
        problem: 'truncated',
      });
    }
  });

  it('a zero or oversized length is a length problem', () => {
    expect(readFrame(new Uint8Array(12), 0, 100)).toEqual({ ok: false, problem: 'length' });
    expect(readFrame(encodeFrame(new Uint8Array(101)), 0, 100)).toEqual({ ok: false, problem: 'length' });
  });

  it('every single-bit flip is caught', () => {
    const seed = testSeed();
    console.log(`frame bit-flip seed=${seed}`);
    const frame = encodeFrame(new Uint8Array(40).map((_, i) => i));
    fc.assert(
      fc.property(fc.nat({ max: frame.byteLength * 8 - 1 }), (bit) => {
        const damaged = frame.slice();
        damaged[bit >> 3] = (damaged[bit >> 3] as number) ^ (1 << (bit & 7));
        expect(readFrame(damaged, 0, 100).ok).toBe(false);
      }),
      { seed, numRuns: 320 },
    );
  });
});
