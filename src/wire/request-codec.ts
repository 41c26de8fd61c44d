/**
 * Request codec: a `Request` (messages.ts) to and from one FlatBuffers buffer of schemas/wire.fbs.
 * Decoding verifies the buffer before any accessor runs, then rejects every shape the schema permits
 * but the protocol does not (a SET without a value, a point key without a key) with INVALID_ARGUMENT
 * naming the key or op; encoding writes fields in one fixed order, so equal objects give equal bytes.
 */
import * as flatbuffers from 'flatbuffers';
import * as fb from '../generated/wire/index.js';
import {
  type AssertedType,
  type Durability,
  type KeyDecl,
  type KeyMode,
  SHA256_BYTES,
  type TxnOp,
  type TxnOpName,
} from '../txn/ops.js';
import {
  checkI64,
  checkPositiveSafe,
  checkU64,
  checkUint,
  copyBytes,
  createOptionalString,
  createString,
  decodeValue,
  type EncodedValue,
  encodeValue,
  invalidArgument,
  lookup,
  malformed,
  must,
  readString,
  toSafeNumber,
  U16_MAX,
  U32_MAX,
  UTF8_BYTES,
  unknownKind,
  verifyWireBuffer,
} from './codec-common.js';
import type {
  DelBody,
  GetBody,
  HelloBody,
  PingBody,
  Request,
  RequestBody,
  ScanBody,
  SetBody,
  TxnBody,
} from './messages.js';

const DURABILITY_TO_WIRE: Record<Durability, fb.Durability> = {
  fsync: fb.Durability.Fsync,
  relaxed: fb.Durability.Relaxed,
};
const KEY_MODE_TO_WIRE: Record<KeyMode, fb.KeyMode> = { R: fb.KeyMode.R, RW: fb.KeyMode.RW };
const ASSERTED_TYPE_TO_WIRE: Record<AssertedType, fb.AssertedType> = {
  missing: fb.AssertedType.Missing,
  tombstone: fb.AssertedType.Tombstone,
  bytes: fb.AssertedType.Bytes,
  string: fb.AssertedType.String,
  int64: fb.AssertedType.Int64,
};
const OP_CODE_TO_WIRE: Record<TxnOpName, fb.OpCode> = {
  GET: fb.OpCode.GET,
  SET: fb.OpCode.SET,
  DEL: fb.OpCode.DEL,
  SCAN: fb.OpCode.SCAN,
  INCR: fb.OpCode.INCR,
  ASSERT_EXISTS: fb.OpCode.ASSERT_EXISTS,
  ASSERT_NOT_EXISTS: fb.OpCode.ASSERT_NOT_EXISTS,
  ASSERT_TYPE: fb.OpCode.ASSERT_TYPE,
  ASSERT_INT_EQ: fb.OpCode.ASSERT_INT_EQ,
  ASSERT_BYTES_HASH_EQ: fb.OpCode.ASSERT_BYTES_HASH_EQ,
  ASSERT_STRING_HASH_EQ: fb.OpCode.ASSERT_STRING_HASH_EQ,
};
const DURABILITY_FROM_WIRE = invert(DURABILITY_TO_WIRE);
const KEY_MODE_FROM_WIRE = invert(KEY_MODE_TO_WIRE);
const ASSERTED_TYPE_FROM_WIRE = invert(ASSERTED_TYPE_TO_WIRE);
const OP_NAME_FROM_WIRE = invert(OP_CODE_TO_WIRE);

/** The Op fields besides code and id, by the names TxnOp uses, and which op may carry which. */
type OpField =
  | 'value'
  | 'ttlMs'
  | 'expiresAtMs'
  | 'limit'
  | 'reverse'
  | 'by'
  | 'type'
  | 'intValue'
  | 'sha256';
const OP_FIELDS_ALLOWED: Record<TxnOpName, readonly OpField[]> = {
  GET: [],
  SET: ['value', 'ttlMs', 'expiresAtMs'],
  DEL: [],
  SCAN: ['limit', 'reverse'],
  INCR: ['by'],
  ASSERT_EXISTS: [],
  ASSERT_NOT_EXISTS: [],
  ASSERT_TYPE: ['type'],
  ASSERT_INT_EQ: ['intValue'],
  ASSERT_BYTES_HASH_EQ: ['sha256'],
  ASSERT_STRING_HASH_EQ: ['sha256'],
};

function invert<K extends string, V extends number>(map: Record<K, V>): ReadonlyMap<number, K> {
  return new Map(Object.entries(map).map(([key, value]) => [value as V, key as K]));
}

export function encodeRequest(request: Request): Uint8Array {
  const builder = new flatbuffers.Builder();
  const id = checkU64(request.id, 'request id');
  const body = encodeBody(builder, request.body);
  fb.Request.finishRequestBuffer(builder, fb.Request.createRequest(builder, id, body.type, body.offset));
  return builder.asUint8Array();
}

/** Verifies `buffer` as a Request, then converts it; throws JubilantError and nothing else on bad bytes. */
export function decodeRequest(buffer: Uint8Array): Request {
  verifyWireBuffer(buffer, 'Request');
  const request = fb.Request.getRootAsRequest(new flatbuffers.ByteBuffer(buffer));
  return { id: request.id(), body: decodeBody(request) };
}

// ---- Encoding ------------------------------------------------------------------------------------

function encodeBody(
  builder: flatbuffers.Builder,
  body: RequestBody,
): { type: fb.RequestBody; offset: number } {
  switch (body.type) {
    case 'hello':
      return { type: fb.RequestBody.Hello, offset: encodeHello(builder, body) };
    case 'txn':
      return { type: fb.RequestBody.Txn, offset: encodeTxn(builder, body) };
    case 'get':
      return { type: fb.RequestBody.Get, offset: encodeGet(builder, body) };
    case 'set':
      return { type: fb.RequestBody.Set, offset: encodeSet(builder, body) };
    case 'del':
      return { type: fb.RequestBody.Del, offset: encodeDel(builder, body) };
    case 'scan':
      return { type: fb.RequestBody.Scan, offset: encodeScan(builder, body) };
    case 'info':
      return { type: fb.RequestBody.Info, offset: fb.Info.createInfo(builder, body.json === true) };
    case 'ping':
      return { type: fb.RequestBody.Ping, offset: encodePing(builder, body) };
    case 'checkpoint':
      return { type: fb.RequestBody.Checkpoint, offset: fb.Checkpoint.createCheckpoint(builder) };
    default:
      return unknownKind(body, 'body.type');
  }
}

function encodeHello(builder: flatbuffers.Builder, body: HelloBody): number {
  const protocolVersion = checkUint(body.protocolVersion, U16_MAX, 'hello.protocolVersion');
  const clientName = createOptionalString(builder, body.clientName, 'hello.clientName');
  const token = createOptionalString(builder, body.token, 'hello.token');
  return fb.Hello.createHello(builder, protocolVersion, clientName, token);
}

function encodeTxn(builder: flatbuffers.Builder, body: TxnBody): number {
  if (!Array.isArray(body.keys) || !Array.isArray(body.ops)) {
    throw invalidArgument('txn needs keys and ops arrays');
  }
  const keyOffsets = body.keys.map((decl, index) => encodeKeyDecl(builder, decl, index));
  const keys = fb.Txn.createKeysVector(builder, keyOffsets);
  const opOffsets = body.ops.map((op, index) => encodeOp(builder, op, index));
  const ops = fb.Txn.createOpsVector(builder, opOffsets);
  const durability = lookup(DURABILITY_TO_WIRE, body.durability, 'txn.durability');
  const idempotencyKey = createOptionalString(builder, body.idempotencyKey, 'txn.idempotencyKey');
  return fb.Txn.createTxn(builder, keys, ops, durability, idempotencyKey);
}

function encodeKeyDecl(builder: flatbuffers.Builder, decl: KeyDecl, index: number): number {
  const path = `keys[${index}]`;
  const id = checkUint(decl.id, U32_MAX, `${path}.id`);
  const mode = lookup(KEY_MODE_TO_WIRE, decl.mode, `${path}.mode`);
  const fields = decl as { key?: string; start?: string; end?: string; prefix?: string };
  const isPoint = fields.key !== undefined;
  const isPrefix = fields.prefix !== undefined;
  const isRange = fields.start !== undefined || fields.end !== undefined;
  if (Number(isPoint) + Number(isPrefix) + Number(isRange) > 1) {
    throw invalidArgument(`${path} mixes a point key, a range and a prefix`);
  }
  const kind = isPoint ? fb.KeyKind.Point : isPrefix ? fb.KeyKind.Prefix : fb.KeyKind.Range;
  if (kind !== fb.KeyKind.Point && mode !== fb.KeyMode.R) throw invalidArgument(`${path} is a range: mode R`);
  const key = createOptionalString(builder, fields.key, `${path}.key`);
  const start = createOptionalString(builder, fields.start, `${path}.start`);
  const end = createOptionalString(builder, fields.end, `${path}.end`);
  const prefix = createOptionalString(builder, fields.prefix, `${path}.prefix`);
  return fb.KeyDecl.createKeyDecl(builder, id, mode, kind, key, start, end, prefix);
}

/** An op's fields besides code and id; absent ones are written as the schema default (not at all). */
interface OpFields {
  value?: EncodedValue;
  expiry?: { ttlMs: bigint; expiresAtMs: bigint };
  limit?: number;
  reverse?: boolean;
  by?: bigint;
  type?: fb.AssertedType;
  intValue?: bigint;
  sha256?: number;
}

function encodeOp(builder: flatbuffers.Builder, op: TxnOp, opIndex: number): number {
  const path = `ops[${opIndex}]`;
  const code = lookup(OP_CODE_TO_WIRE, op.op, `${path}.op`, opIndex);
  const id = checkUint(op.id, U32_MAX, `${path}.id`, opIndex);
  const f = encodeOpFields(builder, op, path, opIndex);
  return fb.Op.createOp(
    builder,
    code,
    id,
    f.value?.type ?? fb.Value.NONE,
    f.value?.offset ?? 0,
    f.expiry?.ttlMs ?? 0n,
    f.expiry?.expiresAtMs ?? 0n,
    f.limit ?? 0,
    f.reverse ?? false,
    f.by ?? 0n,
    f.type ?? fb.AssertedType.Missing,
    f.intValue ?? 0n,
    f.sha256 ?? 0,
  );
}

function encodeOpFields(builder: flatbuffers.Builder, op: TxnOp, path: string, opIndex: number): OpFields {
  switch (op.op) {
    case 'GET':
    case 'DEL':
    case 'ASSERT_EXISTS':
    case 'ASSERT_NOT_EXISTS':
      return {};
    case 'SET':
      return {
        value: encodeValue(builder, op.value, `${path}.value`, opIndex),
        expiry: encodeExpiry(op, path, opIndex),
      };
    case 'SCAN':
      return { limit: encodeLimit(op.limit, `${path}.limit`, opIndex), reverse: op.reverse === true };
    case 'INCR':
      return { by: checkI64(op.by, `${path}.by`, opIndex) };
    case 'ASSERT_TYPE':
      return { type: lookup(ASSERTED_TYPE_TO_WIRE, op.type, `${path}.type`, opIndex) };
    case 'ASSERT_INT_EQ':
      return { intValue: checkI64(op.value, `${path}.value`, opIndex) };
    case 'ASSERT_BYTES_HASH_EQ':
    case 'ASSERT_STRING_HASH_EQ':
      if (!(op.sha256 instanceof Uint8Array) || op.sha256.length !== SHA256_BYTES) {
        throw invalidArgument(`${path}.sha256 must be ${SHA256_BYTES} bytes`, opIndex);
      }
      return { sha256: builder.createByteVector(op.sha256) };
    default:
      return unknownKind(op, `${path}.op`, opIndex);
  }
}

/** ttl_ms and expires_at_ms: 0 means none on the wire, so a present one must be at least 1. */
function encodeExpiry(
  fields: { ttlMs?: number; expiresAtMs?: number },
  path: string,
  opIndex?: number,
): { ttlMs: bigint; expiresAtMs: bigint } {
  if (fields.ttlMs !== undefined && fields.expiresAtMs !== undefined) {
    throw invalidArgument(`${path} sets both ttlMs and expiresAtMs`, opIndex);
  }
  const ttlMs = fields.ttlMs === undefined ? 0 : checkPositiveSafe(fields.ttlMs, `${path}.ttlMs`, opIndex);
  const expiresAtMs =
    fields.expiresAtMs === undefined
      ? 0
      : checkPositiveSafe(fields.expiresAtMs, `${path}.expiresAtMs`, opIndex);
  return { ttlMs: BigInt(ttlMs), expiresAtMs: BigInt(expiresAtMs) };
}

/** A limit of 0 means "no limit" on the wire, so an explicit limit must be at least 1. */
function encodeLimit(limit: number | undefined, path: string, opIndex?: number): number {
  if (limit === undefined) return 0;
  if (limit === 0) throw invalidArgument(`${path} must be at least 1; omit it for no limit`, opIndex);
  return checkUint(limit, U32_MAX, path, opIndex);
}

function encodeGet(builder: flatbuffers.Builder, body: GetBody): number {
  return fb.Get.createGet(builder, createString(builder, body.key, 'get.key'));
}

function encodeSet(builder: flatbuffers.Builder, body: SetBody): number {
  const key = createString(builder, body.key, 'set.key');
  const value = encodeValue(builder, body.value, 'set.value');
  const expiry = encodeExpiry(body, 'set');
  const durability = lookup(DURABILITY_TO_WIRE, body.durability, 'set.durability');
  return fb.Set.createSet(
    builder,
    key,
    value.type,
    value.offset,
    expiry.ttlMs,
    expiry.expiresAtMs,
    durability,
  );
}

function encodeDel(builder: flatbuffers.Builder, body: DelBody): number {
  const key = createString(builder, body.key, 'del.key');
  return fb.Del.createDel(builder, key, lookup(DURABILITY_TO_WIRE, body.durability, 'del.durability'));
}

function encodeScan(builder: flatbuffers.Builder, body: ScanBody): number {
  if (body.prefix !== undefined && (body.start !== undefined || body.end !== undefined)) {
    throw invalidArgument('scan takes a range or a prefix, not both');
  }
  const start = createOptionalString(builder, body.start, 'scan.start');
  const end = createOptionalString(builder, body.end, 'scan.end');
  const prefix = createOptionalString(builder, body.prefix, 'scan.prefix');
  const limit = encodeLimit(body.limit, 'scan.limit');
  return fb.Scan.createScan(builder, start, end, prefix, limit, body.reverse === true);
}

function encodePing(builder: flatbuffers.Builder, body: PingBody): number {
  if (body.payload === undefined) return fb.Ping.createPing(builder, 0);
  if (!(body.payload instanceof Uint8Array)) throw invalidArgument('ping.payload must be a Uint8Array');
  return fb.Ping.createPing(builder, builder.createByteVector(body.payload));
}

// ---- Decoding ------------------------------------------------------------------------------------

function decodeBody(request: fb.Request): RequestBody {
  const type = request.bodyType();
  switch (type) {
    case fb.RequestBody.Hello:
      return decodeHello(must<fb.Hello>(request.body(new fb.Hello()), 'body'));
    case fb.RequestBody.Txn:
      return decodeTxn(must<fb.Txn>(request.body(new fb.Txn()), 'body'));
    case fb.RequestBody.Get:
      return decodeGet(must<fb.Get>(request.body(new fb.Get()), 'body'));
    case fb.RequestBody.Set:
      return decodeSet(must<fb.Set>(request.body(new fb.Set()), 'body'));
    case fb.RequestBody.Del:
      return decodeDel(must<fb.Del>(request.body(new fb.Del()), 'body'));
    case fb.RequestBody.Scan:
      return decodeScan(must<fb.Scan>(request.body(new fb.Scan()), 'body'));
    case fb.RequestBody.Info:
      return { type: 'info', json: must<fb.Info>(request.body(new fb.Info()), 'body').json() };
    case fb.RequestBody.Ping:
      return decodePing(must<fb.Ping>(request.body(new fb.Ping()), 'body'));
    case fb.RequestBody.Checkpoint:
      return { type: 'checkpoint' };
    default:
      throw malformed(`request body has unknown type ${type}`);
  }
}

function decodeHello(hello: fb.Hello): HelloBody {
  const body: HelloBody = { type: 'hello', protocolVersion: hello.protocolVersion() };
  const clientName = readString(hello.clientName(UTF8_BYTES), 'hello.clientName');
  if (clientName !== undefined) body.clientName = clientName;
  const token = readString(hello.token(UTF8_BYTES), 'hello.token');
  if (token !== undefined) body.token = token;
  return body;
}

function decodeTxn(txn: fb.Txn): TxnBody {
  const keys: KeyDecl[] = [];
  for (let index = 0; index < txn.keysLength(); index++) {
    keys.push(decodeKeyDecl(must(txn.keys(index), `keys[${index}]`), index));
  }
  const ops: TxnOp[] = [];
  for (let opIndex = 0; opIndex < txn.opsLength(); opIndex++) {
    ops.push(decodeOp(must(txn.ops(opIndex), `ops[${opIndex}]`), opIndex));
  }
  const durability = must(DURABILITY_FROM_WIRE.get(txn.durability()), 'txn.durability');
  const body: TxnBody = { type: 'txn', keys, ops, durability };
  const idempotencyKey = readString(txn.idempotencyKey(UTF8_BYTES), 'txn.idempotencyKey');
  if (idempotencyKey !== undefined) body.idempotencyKey = idempotencyKey;
  return body;
}

function decodeKeyDecl(decl: fb.KeyDecl, index: number): KeyDecl {
  const path = `keys[${index}]`;
  const id = decl.id();
  const mode = must(KEY_MODE_FROM_WIRE.get(decl.mode()), `${path}.mode`);
  const key = readString(decl.key(UTF8_BYTES), `${path}.key`);
  const start = readString(decl.start(UTF8_BYTES), `${path}.start`);
  const end = readString(decl.end(UTF8_BYTES), `${path}.end`);
  const prefix = readString(decl.prefix(UTF8_BYTES), `${path}.prefix`);
  const kind = decl.kind();
  if (kind === fb.KeyKind.Point) {
    if (key === undefined) throw invalidArgument(`${path} is a point key without a key`);
    if (start !== undefined || end !== undefined || prefix !== undefined) {
      throw invalidArgument(`${path} is a point key with range or prefix fields`);
    }
    return { id, mode, key };
  }
  if (mode !== 'R') throw invalidArgument(`${path} is a range or prefix, so its mode must be R`);
  if (key !== undefined) throw invalidArgument(`${path} is a range or prefix with a point key`);
  if (kind === fb.KeyKind.Prefix) {
    if (prefix === undefined) throw invalidArgument(`${path} is a prefix key without a prefix`);
    if (start !== undefined || end !== undefined)
      throw invalidArgument(`${path} is a prefix with range fields`);
    return { id, mode, prefix };
  }
  if (prefix !== undefined) throw invalidArgument(`${path} is a range with a prefix`);
  const range: { id: number; mode: 'R'; start?: string; end?: string } = { id, mode };
  if (start !== undefined) range.start = start;
  if (end !== undefined) range.end = end;
  return range;
}

/** The fields of `op` that hold something other than the schema default, by their TxnOp names. */
function presentOpFields(op: fb.Op): OpField[] {
  const present: OpField[] = [];
  if (op.valueType() !== fb.Value.NONE) present.push('value');
  if (op.ttlMs() !== 0n) present.push('ttlMs');
  if (op.expiresAtMs() !== 0n) present.push('expiresAtMs');
  if (op.limit() !== 0) present.push('limit');
  if (op.reverse()) present.push('reverse');
  if (op.by() !== 0n) present.push('by');
  if (op.assertedType() !== fb.AssertedType.Missing) present.push('type');
  if (op.intValue() !== 0n) present.push('intValue');
  if (op.sha256Array() !== null) present.push('sha256');
  return present;
}

function decodeOp(op: fb.Op, opIndex: number): TxnOp {
  const path = `ops[${opIndex}]`;
  const name = must(OP_NAME_FROM_WIRE.get(op.code()), `${path}.code`);
  for (const field of presentOpFields(op)) {
    if (!OP_FIELDS_ALLOWED[name].includes(field)) {
      throw invalidArgument(`${path} (${name}) does not take ${field}`, opIndex);
    }
  }
  const id = op.id();
  switch (name) {
    case 'GET':
    case 'DEL':
    case 'ASSERT_EXISTS':
    case 'ASSERT_NOT_EXISTS':
      return { op: name, id };
    case 'SET':
      return decodeSetOp(op, id, opIndex);
    case 'SCAN':
      return decodeScanOp(op, id);
    case 'INCR':
      return { op: name, id, by: op.by() };
    case 'ASSERT_TYPE':
      return { op: name, id, type: must(ASSERTED_TYPE_FROM_WIRE.get(op.assertedType()), `${path}.type`) };
    case 'ASSERT_INT_EQ':
      return { op: name, id, value: op.intValue() };
    case 'ASSERT_BYTES_HASH_EQ':
    case 'ASSERT_STRING_HASH_EQ':
      return { op: name, id, sha256: decodeSha256(op, path, opIndex) };
  }
}

function decodeSetOp(op: fb.Op, id: number, opIndex: number): TxnOp {
  const path = `ops[${opIndex}]`;
  const value = decodeValue(op, `${path}.value`);
  if (value === undefined) throw invalidArgument(`${path} (SET) has no value`, opIndex);
  return { op: 'SET', id, value, ...decodeExpiry(op, path, opIndex) };
}

function decodeScanOp(op: fb.Op, id: number): TxnOp {
  const scanOp: Extract<TxnOp, { op: 'SCAN' }> = { op: 'SCAN', id };
  if (op.limit() !== 0) scanOp.limit = op.limit();
  if (op.reverse()) scanOp.reverse = true;
  return scanOp;
}

function decodeSha256(op: fb.Op, path: string, opIndex: number): Uint8Array {
  const sha256 = op.sha256Array();
  if (sha256 === null || sha256.length !== SHA256_BYTES) {
    throw invalidArgument(`${path}.sha256 must be ${SHA256_BYTES} bytes`, opIndex);
  }
  return copyBytes(sha256);
}

function decodeExpiry(
  table: { ttlMs(): bigint; expiresAtMs(): bigint },
  path: string,
  opIndex?: number,
): { ttlMs?: number; expiresAtMs?: number } {
  const ttlMs = table.ttlMs();
  const expiresAtMs = table.expiresAtMs();
  if (ttlMs !== 0n && expiresAtMs !== 0n)
    throw invalidArgument(`${path} sets both ttlMs and expiresAtMs`, opIndex);
  if (ttlMs !== 0n) return { ttlMs: toSafeNumber(ttlMs, `${path}.ttlMs`, opIndex) };
  if (expiresAtMs !== 0n) return { expiresAtMs: toSafeNumber(expiresAtMs, `${path}.expiresAtMs`, opIndex) };
  return {};
}

function decodeGet(get: fb.Get): GetBody {
  return { type: 'get', key: must(readString(get.key(UTF8_BYTES), 'get.key'), 'get.key') };
}

function decodeSet(set: fb.Set): SetBody {
  const key = must(readString(set.key(UTF8_BYTES), 'set.key'), 'set.key');
  const value = decodeValue(set, 'set.value');
  if (value === undefined) throw invalidArgument('set has no value');
  const durability = must(DURABILITY_FROM_WIRE.get(set.durability()), 'set.durability');
  return { type: 'set', key, value, ...decodeExpiry(set, 'set'), durability };
}

function decodeDel(del: fb.Del): DelBody {
  const key = must(readString(del.key(UTF8_BYTES), 'del.key'), 'del.key');
  return { type: 'del', key, durability: must(DURABILITY_FROM_WIRE.get(del.durability()), 'del.durability') };
}

function decodeScan(scan: fb.Scan): ScanBody {
  const body: ScanBody = { type: 'scan' };
  const start = readString(scan.start(UTF8_BYTES), 'scan.start');
  const end = readString(scan.end(UTF8_BYTES), 'scan.end');
  const prefix = readString(scan.prefix(UTF8_BYTES), 'scan.prefix');
  if (prefix !== undefined && (start !== undefined || end !== undefined)) {
    throw invalidArgument('scan takes a range or a prefix, not both');
  }
  if (start !== undefined) body.start = start;
  if (end !== undefined) body.end = end;
  if (prefix !== undefined) body.prefix = prefix;
  if (scan.limit() !== 0) body.limit = scan.limit();
  if (scan.reverse()) body.reverse = true;
  return body;
}

function decodePing(ping: fb.Ping): PingBody {
  const payload = ping.payloadArray();
  return payload === null ? { type: 'ping' } : { type: 'ping', payload: copyBytes(payload) };
}
