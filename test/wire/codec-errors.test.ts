// Proves the codecs refuse, with a precise code and op index, every shape the schema allows but the protocol does not.
import * as flatbuffers from 'flatbuffers';
import { describe, expect, it } from 'vitest';
import * as fb from '../../src/generated/wire/index.js';
import { Response as WireResponse } from '../../src/generated/wire/response.js';
import type { TxnOp } from '../../src/txn/ops.js';
import { isJubilantError } from '../../src/util/errors.js';
import type { Request, Response } from '../../src/wire/messages.js';
import { decodeRequest, encodeRequest } from '../../src/wire/request-codec.js';
import { decodeResponse, encodeResponse } from '../../src/wire/response-codec.js';

function thrownBy(action: () => unknown): { code: string; opIndex: number | undefined; message: string } {
  try {
    action();
  } catch (error) {
    if (isJubilantError(error)) return error;
    throw error;
  }
  throw new Error('expected a JubilantError, but nothing was thrown');
}

type Build = (builder: flatbuffers.Builder) => number;

function requestBuffer(bodyType: fb.RequestBody, buildBody: Build): Uint8Array {
  const builder = new flatbuffers.Builder();
  const body = buildBody(builder);
  fb.Request.finishRequestBuffer(builder, fb.Request.createRequest(builder, 1n, bodyType, body));
  return builder.asUint8Array();
}

function pointKey(builder: flatbuffers.Builder, id: number): number {
  return fb.KeyDecl.createKeyDecl(
    builder,
    id,
    fb.KeyMode.RW,
    fb.KeyKind.Point,
    builder.createString('k'),
    0,
    0,
    0,
  );
}

function getOp(builder: flatbuffers.Builder): number {
  fb.Op.startOp(builder);
  fb.Op.addCode(builder, fb.OpCode.GET);
  return fb.Op.endOp(builder);
}

/** A Txn whose key table is `keys` (default: point key 0) and whose ops are a GET, then `op` at index 1. */
function txnBuffer(op: Build, keys: Build[] = [(builder) => pointKey(builder, 0)]): Uint8Array {
  return requestBuffer(fb.RequestBody.Txn, (builder) => {
    const keyOffsets = keys.map((build) => build(builder));
    const opOffsets = [getOp(builder), op(builder)];
    const keysVector = fb.Txn.createKeysVector(builder, keyOffsets);
    const opsVector = fb.Txn.createOpsVector(builder, opOffsets);
    return fb.Txn.createTxn(builder, keysVector, opsVector, fb.Durability.Fsync, 0);
  });
}

function opBuilder(code: fb.OpCode, add: (builder: flatbuffers.Builder) => void, prepare?: Build): Build {
  return (builder) => {
    const nested = prepare === undefined ? 0 : prepare(builder);
    fb.Op.startOp(builder);
    fb.Op.addCode(builder, code);
    if (nested !== 0) fb.Op.addSha256(builder, nested);
    add(builder);
    return fb.Op.endOp(builder);
  };
}

function int64Value(builder: flatbuffers.Builder): number {
  return fb.Int64Value.createInt64Value(builder, 1n);
}

function responseBuffer(build: (builder: flatbuffers.Builder) => void, nested?: Build): Uint8Array {
  const builder = new flatbuffers.Builder();
  const offset = nested === undefined ? 0 : nested(builder);
  WireResponse.startResponse(builder);
  WireResponse.addId(builder, 1n);
  build(builder);
  if (offset !== 0) WireResponse.addError(builder, offset);
  builder.finish(WireResponse.endResponse(builder), 'JBWR');
  return builder.asUint8Array();
}

describe('request decoding refuses protocol violations', () => {
  it('a SET op without a value is INVALID_ARGUMENT naming its op index', () => {
    const error = thrownBy(() => decodeRequest(txnBuffer(opBuilder(fb.OpCode.SET, () => {}))));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', opIndex: 1 });
    expect(error.message).toContain('ops[1] (SET) has no value');
  });

  it('a SET op with both ttl_ms and expires_at_ms is INVALID_ARGUMENT', () => {
    const op: Build = (builder) => {
      const value = int64Value(builder);
      fb.Op.startOp(builder);
      fb.Op.addCode(builder, fb.OpCode.SET);
      fb.Op.addValueType(builder, fb.Value.Int64Value);
      fb.Op.addValue(builder, value);
      fb.Op.addTtlMs(builder, 5n);
      fb.Op.addExpiresAtMs(builder, 6n);
      return fb.Op.endOp(builder);
    };
    expect(thrownBy(() => decodeRequest(txnBuffer(op)))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      opIndex: 1,
    });
  });

  it('a ttl_ms above Number.MAX_SAFE_INTEGER is INVALID_ARGUMENT rather than a rounded number', () => {
    const op: Build = (builder) => {
      const value = int64Value(builder);
      fb.Op.startOp(builder);
      fb.Op.addCode(builder, fb.OpCode.SET);
      fb.Op.addValueType(builder, fb.Value.Int64Value);
      fb.Op.addValue(builder, value);
      fb.Op.addTtlMs(builder, BigInt(Number.MAX_SAFE_INTEGER) + 1n);
      return fb.Op.endOp(builder);
    };
    const error = thrownBy(() => decodeRequest(txnBuffer(op)));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', opIndex: 1 });
    expect(error.message).toContain('ttlMs');
  });

  it('a hash assertion whose sha256 is not 32 bytes is INVALID_ARGUMENT', () => {
    const short = opBuilder(
      fb.OpCode.ASSERT_BYTES_HASH_EQ,
      () => {},
      (builder) => builder.createByteVector(new Uint8Array(31)),
    );
    expect(thrownBy(() => decodeRequest(txnBuffer(short)))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      opIndex: 1,
    });
  });

  it('a hash assertion without a sha256 is INVALID_ARGUMENT', () => {
    const missing = opBuilder(fb.OpCode.ASSERT_STRING_HASH_EQ, () => {});
    expect(thrownBy(() => decodeRequest(txnBuffer(missing)))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      opIndex: 1,
    });
  });

  it('an op carrying a field its code does not take is INVALID_ARGUMENT', () => {
    const getWithBy = opBuilder(fb.OpCode.GET, (builder) => fb.Op.addBy(builder, 3n));
    const error = thrownBy(() => decodeRequest(txnBuffer(getWithBy)));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', opIndex: 1 });
    expect(error.message).toContain('(GET) does not take by');
  });

  it('a point key declaration without a key is INVALID_ARGUMENT', () => {
    const keyless: Build = (builder) =>
      fb.KeyDecl.createKeyDecl(builder, 0, fb.KeyMode.R, fb.KeyKind.Point, 0, 0, 0, 0);
    const error = thrownBy(() =>
      decodeRequest(
        txnBuffer(
          opBuilder(fb.OpCode.DEL, () => {}),
          [keyless],
        ),
      ),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', opIndex: undefined });
    expect(error.message).toContain('keys[0] is a point key without a key');
  });

  it('a range declared RW is INVALID_ARGUMENT', () => {
    const rwRange: Build = (builder) =>
      fb.KeyDecl.createKeyDecl(builder, 0, fb.KeyMode.RW, fb.KeyKind.Range, 0, 0, 0, 0);
    expect(
      thrownBy(() =>
        decodeRequest(
          txnBuffer(
            opBuilder(fb.OpCode.GET, () => {}),
            [rwRange],
          ),
        ),
      ),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('a prefix declaration without a prefix is INVALID_ARGUMENT', () => {
    const bare: Build = (builder) =>
      fb.KeyDecl.createKeyDecl(builder, 0, fb.KeyMode.R, fb.KeyKind.Prefix, 0, 0, 0, 0);
    expect(
      thrownBy(() =>
        decodeRequest(
          txnBuffer(
            opBuilder(fb.OpCode.GET, () => {}),
            [bare],
          ),
        ),
      ),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('a Set body with both ttl_ms and expires_at_ms is INVALID_ARGUMENT', () => {
    const buffer = requestBuffer(fb.RequestBody.Set, (builder) => {
      const key = builder.createString('k');
      const value = int64Value(builder);
      return fb.Set.createSet(builder, key, fb.Value.Int64Value, value, 1n, 2n, fb.Durability.Fsync);
    });
    expect(thrownBy(() => decodeRequest(buffer)).code).toBe('INVALID_ARGUMENT');
  });

  it('a Scan body with both a prefix and a range is INVALID_ARGUMENT', () => {
    const buffer = requestBuffer(fb.RequestBody.Scan, (builder) => {
      const start = builder.createString('a');
      const prefix = builder.createString('p');
      return fb.Scan.createScan(builder, start, 0, prefix, 0, false);
    });
    expect(thrownBy(() => decodeRequest(buffer)).code).toBe('INVALID_ARGUMENT');
  });

  it('a key that is not well-formed UTF-8 is INVALID_UTF8', () => {
    const buffer = requestBuffer(fb.RequestBody.Get, (builder) =>
      fb.Get.createGet(builder, builder.createString(new Uint8Array([0x61, 0xff]))),
    );
    expect(thrownBy(() => decodeRequest(buffer)).code).toBe('INVALID_UTF8');
  });

  it('a buffer with another file identifier is MALFORMED_FRAME', () => {
    const buffer = encodeRequest({ id: 1n, body: { type: 'checkpoint' } }).slice();
    buffer.set([0x58], 4);
    expect(thrownBy(() => decodeRequest(buffer)).code).toBe('MALFORMED_FRAME');
  });

  it('a key starting with U+FEFF keeps it: the decoder does not strip a byte-order mark', () => {
    const request: Request = { id: 2n, body: { type: 'get', key: '\uFEFFkey' } };
    expect(decodeRequest(encodeRequest(request))).toStrictEqual(request);
  });
});

describe('response decoding refuses protocol violations', () => {
  it('an error whose code is NONE is MALFORMED_FRAME', () => {
    const buffer = responseBuffer(
      (builder) => WireResponse.addStatus(builder, fb.Status.Error),
      (builder) => fb.Error.createError(builder, fb.ErrorCode.NONE, builder.createString('x'), -1, false),
    );
    const error = thrownBy(() => decodeResponse(buffer));
    expect(error.code).toBe('MALFORMED_FRAME');
    expect(error.message).toContain('error code 0 is not in the error table');
  });

  it('an error code the schema does not declare is MALFORMED_FRAME', () => {
    const buffer = responseBuffer(
      (builder) => WireResponse.addStatus(builder, fb.Status.Error),
      (builder) => fb.Error.createError(builder, 999 as fb.ErrorCode, 0, -1, false),
    );
    expect(thrownBy(() => decodeResponse(buffer)).code).toBe('MALFORMED_FRAME');
  });

  it('status error without an error table is MALFORMED_FRAME', () => {
    const buffer = responseBuffer((builder) => WireResponse.addStatus(builder, fb.Status.Error));
    expect(thrownBy(() => decodeResponse(buffer)).code).toBe('MALFORMED_FRAME');
  });

  it('status ok with an error table is MALFORMED_FRAME', () => {
    const buffer = responseBuffer(
      () => {},
      (builder) => fb.Error.createError(builder, fb.ErrorCode.INTERNAL, 0, -1, false),
    );
    expect(thrownBy(() => decodeResponse(buffer)).code).toBe('MALFORMED_FRAME');
  });

  it('an op index below -1 is MALFORMED_FRAME', () => {
    const buffer = responseBuffer(
      (builder) => WireResponse.addStatus(builder, fb.Status.Error),
      (builder) => fb.Error.createError(builder, fb.ErrorCode.INTERNAL, 0, -2, false),
    );
    expect(thrownBy(() => decodeResponse(buffer)).code).toBe('MALFORMED_FRAME');
  });

  it('an error without a message decodes with an empty message', () => {
    const buffer = responseBuffer(
      (builder) => WireResponse.addStatus(builder, fb.Status.Error),
      (builder) => fb.Error.createError(builder, fb.ErrorCode.LOCK_TIMEOUT, 0, 3, true),
    );
    expect(decodeResponse(buffer).error).toStrictEqual({
      code: 'LOCK_TIMEOUT',
      message: '',
      opIndex: 3,
      retryable: true,
    });
  });
});

describe('encoding refuses what the wire cannot carry', () => {
  const txn = (op: TxnOp): Request => ({
    id: 1n,
    body: {
      type: 'txn',
      keys: [{ id: 0, mode: 'RW', key: 'k' }],
      ops: [{ op: 'GET', id: 0 }, op],
      durability: 'fsync',
    },
  });

  it('a key with a lone surrogate is INVALID_UTF8, not silently replaced', () => {
    expect(thrownBy(() => encodeRequest({ id: 1n, body: { type: 'get', key: 'a\uD800' } })).code).toBe(
      'INVALID_UTF8',
    );
  });

  it('a SET with both ttlMs and expiresAtMs is INVALID_ARGUMENT naming its op index', () => {
    const op: TxnOp = { op: 'SET', id: 0, value: 'v', ttlMs: 1, expiresAtMs: 2 };
    expect(thrownBy(() => encodeRequest(txn(op)))).toMatchObject({ code: 'INVALID_ARGUMENT', opIndex: 1 });
  });

  it('a ttlMs of 0, which the wire reads as "none", is INVALID_ARGUMENT', () => {
    const op: TxnOp = { op: 'SET', id: 0, value: 'v', ttlMs: 0 };
    expect(thrownBy(() => encodeRequest(txn(op)))).toMatchObject({ code: 'INVALID_ARGUMENT', opIndex: 1 });
  });

  it('a SCAN limit of 0, which the wire reads as "no limit", is INVALID_ARGUMENT', () => {
    expect(thrownBy(() => encodeRequest(txn({ op: 'SCAN', id: 0, limit: 0 })))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      opIndex: 1,
    });
  });

  it('an INCR by more than int64 holds is INVALID_ARGUMENT rather than wrapped', () => {
    expect(thrownBy(() => encodeRequest(txn({ op: 'INCR', id: 0, by: 1n << 63n })))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      opIndex: 1,
    });
  });

  it('a key id above u32 is INVALID_ARGUMENT', () => {
    expect(thrownBy(() => encodeRequest(txn({ op: 'DEL', id: 2 ** 32 })))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      opIndex: 1,
    });
  });

  it('a hash of 31 bytes is INVALID_ARGUMENT', () => {
    const op: TxnOp = { op: 'ASSERT_BYTES_HASH_EQ', id: 0, sha256: new Uint8Array(31) };
    expect(thrownBy(() => encodeRequest(txn(op)))).toMatchObject({ code: 'INVALID_ARGUMENT', opIndex: 1 });
  });

  it('a key declaration mixing a key and a prefix is INVALID_ARGUMENT', () => {
    const request: Request = {
      id: 1n,
      body: {
        type: 'txn',
        keys: [{ id: 0, mode: 'R', key: 'k', prefix: 'p' } as never],
        ops: [],
        durability: 'fsync',
      },
    };
    expect(thrownBy(() => encodeRequest(request)).code).toBe('INVALID_ARGUMENT');
  });

  it('a negative request id is INVALID_ARGUMENT', () => {
    expect(thrownBy(() => encodeRequest({ id: -1n, body: { type: 'checkpoint' } })).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('a response whose status and error disagree is INVALID_ARGUMENT', () => {
    expect(thrownBy(() => encodeResponse({ id: 1n, status: 'error' })).code).toBe('INVALID_ARGUMENT');
  });

  it('a commit LSN of 0, which the wire reads as "none", is INVALID_ARGUMENT', () => {
    expect(thrownBy(() => encodeResponse({ id: 1n, status: 'ok', commitLsn: 0n })).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('an error message with a lone surrogate is still sent, with U+FFFD in its place', () => {
    const response: Response = {
      id: 1n,
      status: 'error',
      error: { code: 'INVALID_KEY', message: 'bad \uDC00', retryable: false },
    };
    expect(decodeResponse(encodeResponse(response)).error?.message).toBe('bad \uFFFD');
  });
});
