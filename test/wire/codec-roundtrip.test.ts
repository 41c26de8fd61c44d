// Proves every well-formed Request and Response survives encode→decode unchanged and deterministically, and that no bytes, however damaged, make a decoder throw anything but a JubilantError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JubilantError } from '../../src/util/errors.js';
import { testSeed } from '../../src/util/random.js';
import { decodeRequest, encodeRequest } from '../../src/wire/request-codec.js';
import { decodeResponse, encodeResponse } from '../../src/wire/response-codec.js';
import { requestArb, responseArb } from './arbitraries.js';

const seed = testSeed();
console.log(`wire codec properties: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
const numRuns = 400;

/** Runs `decode`; it may succeed or throw a JubilantError, and must never throw anything else. */
function decodesOrRefuses<T>(decode: (bytes: Uint8Array) => T, bytes: Uint8Array): T | undefined {
  try {
    return decode(bytes);
  } catch (error) {
    if (!(error instanceof JubilantError))
      throw new Error(`decoder threw a non-JubilantError: ${String(error)}`);
    return undefined;
  }
}

/** Overwrites bytes at random positions and sometimes truncates, keeping the rest of a valid buffer. */
const mutationArb = fc.record({
  writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
  truncateTo: fc.option(fc.nat(), { nil: undefined }),
});

function mutate(
  valid: Uint8Array,
  mutation: { writes: [number, number][]; truncateTo?: number | undefined },
): Uint8Array {
  const bytes = valid.slice();
  for (const [position, byte] of mutation.writes) bytes[position % bytes.byteLength] = byte;
  return mutation.truncateTo === undefined
    ? bytes
    : bytes.subarray(0, mutation.truncateTo % (bytes.byteLength + 1));
}

describe('wire codecs', () => {
  it('a random well-formed Request round-trips to a deep-equal object', () => {
    fc.assert(
      fc.property(requestArb, (request) => {
        expect(decodeRequest(encodeRequest(request))).toStrictEqual(request);
      }),
      { seed, numRuns },
    );
  });

  it('a random well-formed Response round-trips to a deep-equal object', () => {
    fc.assert(
      fc.property(responseArb, (response) => {
        expect(decodeResponse(encodeResponse(response))).toStrictEqual(response);
      }),
      { seed, numRuns },
    );
  });

  it('encoding is deterministic: the same message, and its decoded copy, give the same bytes', () => {
    fc.assert(
      fc.property(requestArb, responseArb, (request, response) => {
        const requestBytes = encodeRequest(request);
        expect(encodeRequest(request)).toEqual(requestBytes);
        expect(encodeRequest(decodeRequest(requestBytes))).toEqual(requestBytes);
        const responseBytes = encodeResponse(response);
        expect(encodeResponse(response)).toEqual(responseBytes);
        expect(encodeResponse(decodeResponse(responseBytes))).toEqual(responseBytes);
      }),
      { seed, numRuns },
    );
  });

  it('decoding random bytes only ever throws a JubilantError', () => {
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Random bytes behind a valid-looking root offset and identifier get past the first checks.
      fc.uint8Array({ minLength: 8, maxLength: 200 }).map((bytes) => {
        bytes.set([12, 0, 0, 0, 0x4a, 0x42, 0x57, 0x52]);
        return bytes;
      }),
    );
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        decodesOrRefuses(decodeRequest, bytes);
        decodesOrRefuses(decodeResponse, bytes);
      }),
      { seed, numRuns: 2000 },
    );
  });

  it('decoding a mutated valid Request only ever throws a JubilantError, and what decodes re-encodes', () => {
    fc.assert(
      fc.property(requestArb, mutationArb, (request, mutation) => {
        const decoded = decodesOrRefuses(decodeRequest, mutate(encodeRequest(request), mutation));
        if (decoded !== undefined) expect(decodeRequest(encodeRequest(decoded))).toStrictEqual(decoded);
      }),
      { seed, numRuns: 2000 },
    );
  });

  it('decoding a mutated valid Response only ever throws a JubilantError, and what decodes re-encodes', () => {
    fc.assert(
      fc.property(responseArb, mutationArb, (response, mutation) => {
        const decoded = decodesOrRefuses(decodeResponse, mutate(encodeResponse(response), mutation));
        if (decoded !== undefined) expect(decodeResponse(encodeResponse(decoded))).toStrictEqual(decoded);
      }),
      { seed, numRuns: 2000 },
    );
  });
});
