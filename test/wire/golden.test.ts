// Proves the wire bytes of a representative Request and Response stay frozen, and that the frozen bytes decode to exactly the intended fields.
import { describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_LENGTH_BYTES, FrameDecoder } from '../../src/wire/frame.js';
import type { Request, Response } from '../../src/wire/messages.js';
import { decodeRequest, encodeRequest } from '../../src/wire/request-codec.js';
import { decodeResponse, encodeResponse } from '../../src/wire/response-codec.js';
import { expectGolden, readGolden } from '../helpers/golden.js';

const UNICODE_VALUE = 'ünïcode 😀';
const STRING_HASH = Uint8Array.from({ length: 32 }, (_, i) => i);
const BYTES_HASH = Uint8Array.from({ length: 32 }, (_, i) => 0xff - i);

/** A Txn with a point RW key, a range, a prefix and one op of every kind, relaxed, with an idempotency key. */
const GOLDEN_REQUEST: Request = {
  id: 0x0102_0304_0506_0708n,
  body: {
    type: 'txn',
    keys: [
      { id: 1, mode: 'RW', key: 'account:alice' },
      { id: 2, mode: 'R', start: 'account:a', end: 'account:m' },
      { id: 3, mode: 'R', prefix: 'log:' },
    ],
    ops: [
      { op: 'ASSERT_EXISTS', id: 1 },
      { op: 'ASSERT_TYPE', id: 1, type: 'int64' },
      { op: 'ASSERT_INT_EQ', id: 1, value: 100n },
      { op: 'INCR', id: 1, by: -25n },
      { op: 'GET', id: 1 },
      { op: 'SCAN', id: 2, limit: 10, reverse: true },
      { op: 'SET', id: 1, value: UNICODE_VALUE, ttlMs: 60_000 },
      { op: 'ASSERT_STRING_HASH_EQ', id: 1, sha256: STRING_HASH },
      { op: 'ASSERT_BYTES_HASH_EQ', id: 1, sha256: BYTES_HASH },
      { op: 'DEL', id: 1 },
      { op: 'ASSERT_NOT_EXISTS', id: 1 },
    ],
    durability: 'relaxed',
    idempotencyKey: 'retry-7f3a',
  },
};

/** An ok reply with a bytes, a string and an int64 value, a scan result, a commit LSN and INFO fields. */
const GOLDEN_RESPONSE: Response = {
  id: 0x0102_0304_0506_0708n,
  status: 'ok',
  results: [
    {},
    { value: 75n },
    { value: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
    { value: UNICODE_VALUE },
    {
      entries: [
        { key: 'account:alice', value: 75n },
        { key: 'account:bob', value: 'x' },
      ],
    },
  ],
  commitLsn: 4242n,
  info: [
    { section: 'server', name: 'version', value: '0.1.0' },
    { section: 'lsn', name: 'durable', value: '4242' },
  ],
  protocolVersion: 1,
  serverVersion: '0.1.0',
};

/** Checks the frame's length prefix and identifier, then returns its one FlatBuffers buffer. */
function onlyFrame(frame: Uint8Array): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  expect(view.getUint32(0, true)).toBe(frame.byteLength - FRAME_LENGTH_BYTES);
  expect(new TextDecoder().decode(frame.subarray(FRAME_LENGTH_BYTES + 4, FRAME_LENGTH_BYTES + 8))).toBe(
    'JBWR',
  );
  const frames = new FrameDecoder({ frameBytesMax: frame.byteLength }).push(frame);
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

describe('wire golden files', () => {
  it('the representative Request encodes to the bytes in test/golden/wire-request.bin', () => {
    expectGolden('wire-request', encodeFrame(encodeRequest(GOLDEN_REQUEST)));
  });

  it('the representative Response encodes to the bytes in test/golden/wire-response.bin', () => {
    expectGolden('wire-response', encodeFrame(encodeResponse(GOLDEN_RESPONSE)));
  });

  it('the golden Request bytes decode to every intended field', () => {
    const request = decodeRequest(onlyFrame(readGolden('wire-request')));
    expect(request.id).toBe(72623859790382856n);
    const body = request.body;
    if (body.type !== 'txn') throw new Error(`expected a txn body, got ${body.type}`);
    expect(body.durability).toBe('relaxed');
    expect(body.idempotencyKey).toBe('retry-7f3a');
    expect(body.keys).toStrictEqual([
      { id: 1, mode: 'RW', key: 'account:alice' },
      { id: 2, mode: 'R', start: 'account:a', end: 'account:m' },
      { id: 3, mode: 'R', prefix: 'log:' },
    ]);
    expect(body.ops).toHaveLength(11);
    expect(body.ops[0]).toStrictEqual({ op: 'ASSERT_EXISTS', id: 1 });
    expect(body.ops[1]).toStrictEqual({ op: 'ASSERT_TYPE', id: 1, type: 'int64' });
    expect(body.ops[2]).toStrictEqual({ op: 'ASSERT_INT_EQ', id: 1, value: 100n });
    expect(body.ops[3]).toStrictEqual({ op: 'INCR', id: 1, by: -25n });
    expect(body.ops[4]).toStrictEqual({ op: 'GET', id: 1 });
    expect(body.ops[5]).toStrictEqual({ op: 'SCAN', id: 2, limit: 10, reverse: true });
    expect(body.ops[6]).toStrictEqual({ op: 'SET', id: 1, value: 'ünïcode 😀', ttlMs: 60000 });
    expect(body.ops[7]).toStrictEqual({ op: 'ASSERT_STRING_HASH_EQ', id: 1, sha256: STRING_HASH });
    expect(body.ops[8]).toStrictEqual({ op: 'ASSERT_BYTES_HASH_EQ', id: 1, sha256: BYTES_HASH });
    expect(body.ops[9]).toStrictEqual({ op: 'DEL', id: 1 });
    expect(body.ops[10]).toStrictEqual({ op: 'ASSERT_NOT_EXISTS', id: 1 });
  });

  it('the golden Response bytes decode to every intended field', () => {
    const response = decodeResponse(onlyFrame(readGolden('wire-response')));
    expect(response.id).toBe(72623859790382856n);
    expect(response.status).toBe('ok');
    expect(response.error).toBeUndefined();
    expect(response.results).toStrictEqual([
      {},
      { value: 75n },
      { value: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
      { value: 'ünïcode 😀' },
      {
        entries: [
          { key: 'account:alice', value: 75n },
          { key: 'account:bob', value: 'x' },
        ],
      },
    ]);
    expect(response.commitLsn).toBe(4242n);
    expect(response.info).toStrictEqual([
      { section: 'server', name: 'version', value: '0.1.0' },
      { section: 'lsn', name: 'durable', value: '4242' },
    ]);
    expect(response.protocolVersion).toBe(1);
    expect(response.serverVersion).toBe('0.1.0');
  });
});
