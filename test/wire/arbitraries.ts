/**
 * fast-check generators for well-formed wire messages: every request body, every op, every value type,
 * and keys drawn from all of Unicode (astral characters, U+FEFF, NUL). Optional fields are omitted,
 * never set to undefined, and hold only values the wire can tell from "absent" (see messages.ts).
 */
import fc from 'fast-check';
import { ASSERTED_TYPES, DURABILITIES, type KeyDecl, type TxnOp, type Value } from '../../src/txn/ops.js';
import { ERROR_TABLE, type ErrorCode } from '../../src/util/errors.js';
import type { Request, RequestBody, Response, WireError, WireOpResult } from '../../src/wire/messages.js';

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const U64_MAX = (1n << 64n) - 1n;
const options = { noNullPrototype: true } as const;

export const textArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.constantFrom('', '😀', '\u{10FFFF}', '\uFEFFbom', 'a\u0000b', '𝄞clef', 'ａ'),
);
export const valueArb: fc.Arbitrary<Value> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  textArb,
  fc.bigInt({ min: I64_MIN, max: I64_MAX }),
);
const u32Arb = fc.integer({ min: 0, max: 0xffff_ffff });
const i64Arb = fc.bigInt({ min: I64_MIN, max: I64_MAX });
const positiveSafeArb = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const limitArb = fc.integer({ min: 1, max: 0xffff_ffff });
const durabilityArb = fc.constantFrom(...DURABILITIES);

export const keyDeclArb: fc.Arbitrary<KeyDecl> = fc.oneof(
  fc.record({ id: u32Arb, mode: fc.constantFrom('R' as const, 'RW' as const), key: textArb }, options),
  fc.record(
    { id: u32Arb, mode: fc.constant('R' as const), start: textArb, end: textArb },
    { requiredKeys: ['id', 'mode'], ...options },
  ),
  fc.record({ id: u32Arb, mode: fc.constant('R' as const), prefix: textArb }, options),
);

/** A SET or a Set body's expiry: none, a relative TTL, or an absolute expiry, never both. */
const expiryArb: fc.Arbitrary<{ ttlMs?: number; expiresAtMs?: number }> = fc.oneof(
  fc.constant({}),
  fc.record({ ttlMs: positiveSafeArb }, options),
  fc.record({ expiresAtMs: positiveSafeArb }, options),
);

export const opArb: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record(
    {
      op: fc.constantFrom(
        'GET' as const,
        'DEL' as const,
        'ASSERT_EXISTS' as const,
        'ASSERT_NOT_EXISTS' as const,
      ),
      id: u32Arb,
    },
    options,
  ),
  fc
    .tuple(fc.record({ op: fc.constant('SET' as const), id: u32Arb, value: valueArb }, options), expiryArb)
    .map(([op, expiry]) => ({ ...op, ...expiry })),
  fc.record(
    { op: fc.constant('SCAN' as const), id: u32Arb, limit: limitArb, reverse: fc.constant(true) },
    { requiredKeys: ['op', 'id'], ...options },
  ),
  fc.record({ op: fc.constant('INCR' as const), id: u32Arb, by: i64Arb }, options),
  fc.record(
    { op: fc.constant('ASSERT_TYPE' as const), id: u32Arb, type: fc.constantFrom(...ASSERTED_TYPES) },
    options,
  ),
  fc.record({ op: fc.constant('ASSERT_INT_EQ' as const), id: u32Arb, value: i64Arb }, options),
  fc.record(
    {
      op: fc.constantFrom('ASSERT_BYTES_HASH_EQ' as const, 'ASSERT_STRING_HASH_EQ' as const),
      id: u32Arb,
      sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    },
    options,
  ),
);

const scanRangeArb = fc.oneof(
  fc.record({ start: textArb, end: textArb }, { requiredKeys: [], ...options }),
  fc.record({ prefix: textArb }, options),
);

export const requestBodyArb: fc.Arbitrary<RequestBody> = fc.oneof(
  fc.record(
    {
      type: fc.constant('hello' as const),
      protocolVersion: fc.integer({ min: 0, max: 0xffff }),
      clientName: textArb,
      token: textArb,
    },
    { requiredKeys: ['type', 'protocolVersion'], ...options },
  ),
  fc.record(
    {
      type: fc.constant('txn' as const),
      keys: fc.array(keyDeclArb, { maxLength: 5 }),
      ops: fc.array(opArb, { maxLength: 8 }),
      durability: durabilityArb,
      idempotencyKey: textArb,
    },
    { requiredKeys: ['type', 'keys', 'ops', 'durability'], ...options },
  ),
  fc.record({ type: fc.constant('get' as const), key: textArb }, options),
  fc
    .tuple(
      fc.record(
        { type: fc.constant('set' as const), key: textArb, value: valueArb, durability: durabilityArb },
        options,
      ),
      expiryArb,
    )
    .map(([body, expiry]) => ({ ...body, ...expiry })),
  fc.record({ type: fc.constant('del' as const), key: textArb, durability: durabilityArb }, options),
  fc
    .tuple(
      fc.record(
        { type: fc.constant('scan' as const), limit: limitArb, reverse: fc.constant(true) },
        { requiredKeys: ['type'], ...options },
      ),
      scanRangeArb,
    )
    .map(([body, range]) => ({ ...body, ...range })),
  fc.record({ type: fc.constant('info' as const), json: fc.boolean() }, options),
  fc.record(
    { type: fc.constant('ping' as const), payload: fc.uint8Array({ maxLength: 64 }) },
    { requiredKeys: ['type'], ...options },
  ),
  fc.constant({ type: 'checkpoint' as const }),
);

export const requestArb: fc.Arbitrary<Request> = fc.record(
  { id: fc.bigInt({ min: 0n, max: U64_MAX }), body: requestBodyArb },
  options,
);

const errorCodeArb = fc.constantFrom(...(Object.keys(ERROR_TABLE) as ErrorCode[]));
const wireErrorArb: fc.Arbitrary<WireError> = fc.record(
  {
    code: errorCodeArb,
    message: textArb,
    opIndex: fc.integer({ min: 0, max: 0x7fff_ffff }),
    retryable: fc.boolean(),
  },
  { requiredKeys: ['code', 'message', 'retryable'], ...options },
);
const opResultArb: fc.Arbitrary<WireOpResult> = fc.oneof(
  fc.constant({}),
  fc.record({ value: valueArb }, options),
  fc.record(
    { entries: fc.array(fc.record({ key: textArb, value: valueArb }, options), { maxLength: 4 }) },
    options,
  ),
);

const responseFieldsArb = fc.record(
  {
    id: fc.bigInt({ min: 0n, max: U64_MAX }),
    results: fc.array(opResultArb, { maxLength: 6 }),
    commitLsn: fc.bigInt({ min: 1n, max: U64_MAX }),
    info: fc.array(fc.record({ section: textArb, name: textArb, value: textArb }, options), { maxLength: 4 }),
    protocolVersion: fc.integer({ min: 1, max: 0xffff }),
    serverVersion: textArb,
  },
  { requiredKeys: ['id'], ...options },
);

export const responseArb: fc.Arbitrary<Response> = fc
  .tuple(responseFieldsArb, fc.option(wireErrorArb, { nil: undefined }))
  .map(([fields, error]) =>
    error === undefined
      ? { ...fields, status: 'ok' as const }
      : { ...fields, status: 'error' as const, error },
  );
