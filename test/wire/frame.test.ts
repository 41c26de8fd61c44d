// Proves the frame decoder returns exactly the encoded buffers however the stream is chunked, and refuses bad lengths at once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isJubilantError } from '../../src/util/errors.js';
import { testSeed } from '../../src/util/random.js';
import { encodeFrame, FRAME_LENGTH_BYTES, FrameDecoder } from '../../src/wire/frame.js';

const frameBytesMax = 1 << 20;

function expectJubilant(action: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(isJubilantError(thrown), `expected a JubilantError, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

describe('wire frames', () => {
  it('a frame is a u32 little-endian length followed by the buffer', () => {
    const frame = encodeFrame(new Uint8Array([7, 8, 9]));
    expect([...frame]).toEqual([3, 0, 0, 0, 7, 8, 9]);
  });

  it('an encoded frame decodes back to its buffer', () => {
    const buffer = new Uint8Array([1, 2, 3, 4, 5]);
    const decoder = new FrameDecoder({ frameBytesMax });
    expect(decoder.push(encodeFrame(buffer))).toEqual([buffer]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('a frame wholly inside one chunk is returned as a view of that chunk, not a copy', () => {
    const chunk = concat([encodeFrame(new Uint8Array([1, 2])), encodeFrame(new Uint8Array([3]))]);
    const frames = new FrameDecoder({ frameBytesMax }).push(chunk);
    expect(frames).toEqual([new Uint8Array([1, 2]), new Uint8Array([3])]);
    for (const frame of frames) expect(frame.buffer).toBe(chunk.buffer);
  });

  it('frames split at arbitrary chunk boundaries come out whole and in order', () => {
    const seed = testSeed();
    console.log(`frame chunking property: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const buffersArb = fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), {
      minLength: 1,
      maxLength: 8,
    });
    const property = fc.property(buffersArb, fc.array(fc.nat(), { maxLength: 20 }), (buffers, cutSeeds) => {
      const stream = concat(buffers.map(encodeFrame));
      const cuts = [...new Set(cutSeeds.map((cut) => cut % (stream.byteLength + 1)))].sort((a, b) => a - b);
      const decoder = new FrameDecoder({ frameBytesMax });
      const frames: Uint8Array[] = [];
      let previous = 0;
      for (const cut of [...cuts, stream.byteLength]) {
        frames.push(...decoder.push(stream.subarray(previous, cut)));
        previous = cut;
      }
      expect(frames).toEqual(buffers);
      expect(decoder.bufferedBytes).toBe(0);
    });
    fc.assert(property, { seed, numRuns: 300 });
  });

  it('a stream fed one byte at a time decodes every frame', () => {
    const buffers = [new Uint8Array([1]), new Uint8Array(300).fill(9), new Uint8Array([2, 3])];
    const stream = concat(buffers.map(encodeFrame));
    const decoder = new FrameDecoder({ frameBytesMax });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < stream.byteLength; i++) frames.push(...decoder.push(stream.subarray(i, i + 1)));
    expect(frames).toEqual(buffers);
  });

  it('a bare 4-byte prefix declaring 4 GiB fails FRAME_TOO_LARGE before any buffer byte arrives', () => {
    const decoder = new FrameDecoder({ frameBytesMax });
    expectJubilant(() => decoder.push(new Uint8Array([0xff, 0xff, 0xff, 0xff])), 'FRAME_TOO_LARGE');
  });

  it('a 4 GiB prefix arriving one byte at a time fails on its fourth byte with nothing buffered', () => {
    const decoder = new FrameDecoder({ frameBytesMax });
    for (let i = 0; i < FRAME_LENGTH_BYTES - 1; i++) expect(decoder.push(new Uint8Array([0xff]))).toEqual([]);
    expectJubilant(() => decoder.push(new Uint8Array([0xff])), 'FRAME_TOO_LARGE');
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('a frame of exactly frameBytesMax is accepted and one byte more is refused', () => {
    const limit = 64;
    const atLimit = new Uint8Array(limit).fill(1);
    expect(new FrameDecoder({ frameBytesMax: limit }).push(encodeFrame(atLimit))).toEqual([atLimit]);
    const tooLarge = encodeFrame(new Uint8Array(limit + 1));
    expectJubilant(() => new FrameDecoder({ frameBytesMax: limit }).push(tooLarge), 'FRAME_TOO_LARGE');
  });

  it('a zero length is MALFORMED_FRAME', () => {
    const decoder = new FrameDecoder({ frameBytesMax });
    expectJubilant(() => decoder.push(new Uint8Array([0, 0, 0, 0])), 'MALFORMED_FRAME');
  });

  it('a zero length after a good frame in the same chunk is still refused', () => {
    const chunk = concat([encodeFrame(new Uint8Array([1])), new Uint8Array(FRAME_LENGTH_BYTES)]);
    expectJubilant(() => new FrameDecoder({ frameBytesMax }).push(chunk), 'MALFORMED_FRAME');
  });

  it('a decoder that failed keeps failing, even on good bytes', () => {
    const decoder = new FrameDecoder({ frameBytesMax });
    expectJubilant(() => decoder.push(new Uint8Array(FRAME_LENGTH_BYTES)), 'MALFORMED_FRAME');
    expectJubilant(() => decoder.push(encodeFrame(new Uint8Array([1]))), 'MALFORMED_FRAME');
  });

  it('an empty chunk returns no frames and changes nothing', () => {
    const decoder = new FrameDecoder({ frameBytesMax });
    expect(decoder.push(new Uint8Array([2, 0]))).toEqual([]);
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
    expect(decoder.push(new Uint8Array([0, 0, 5, 6]))).toEqual([new Uint8Array([5, 6])]);
  });
});
