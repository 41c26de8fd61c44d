/**
 * Response codec: a `Response` (messages.ts) to and from one FlatBuffers buffer of schemas/wire.fbs.
 * Decoding verifies first and then insists on the protocol's own rules (an error exactly when the status
 * is error, an error code from ERROR_TABLE), reporting a violation as MALFORMED_FRAME because a client
 * cannot trust the connection after one; encoding is deterministic, like the request codec's.
 */
import * as flatbuffers from 'flatbuffers';
import * as fb from '../generated/wire/index.js';
import { LAYOUT } from '../generated/wire/layout.js';
// Aliased: the plain `Response` type of messages.ts shares the name.
import { Response as WireResponse } from '../generated/wire/response.js';
import { assert } from '../util/assert.js';
import { ERROR_TABLE, type ErrorCode } from '../util/errors.js';
import {
  checkU64,
  checkUint,
  createOptionalString,
  createString,
  decodeValue,
  encodeValue,
  invalidArgument,
  isWellFormed,
  lookup,
  malformed,
  must,
  readString,
  U16_MAX,
  UTF8_BYTES,
  verifyWireBuffer,
} from './codec-common.js';
import { FRAME_IDENTIFIER } from './frame.js';
import type { InfoEntry, Response, ScanEntry, WireError, WireOpResult } from './messages.js';

const OP_INDEX_MAX = 0x7fff_ffff;
/** Error.op_index's default: the error is not about one op. */
const OP_INDEX_NONE = -1;
const U64_MAX = (1n << 64n) - 1n;
const STATUS_TO_WIRE: Record<Response['status'], fb.Status> = { ok: fb.Status.Ok, error: fb.Status.Error };

const ERROR_CODE_FROM_WIRE: ReadonlyMap<number, ErrorCode> = new Map(
  Object.entries(ERROR_TABLE).map(([name, entry]) => [entry.wire, name as ErrorCode]),
);
// The error table and the schema's enum must agree name for name; NONE exists only in the schema.
for (const [name, entry] of Object.entries(ERROR_TABLE)) {
  assert(fb.ErrorCode[name as keyof typeof fb.ErrorCode] === entry.wire, `ErrorCode ${name} differs`);
}

/** vtable offsets of the vectors whose absence differs from emptiness (no generated accessor tells). */
const RESULTS_VOFFSET = voffsetOf('Response', 'results');
const INFO_VOFFSET = voffsetOf('Response', 'info');
const ENTRIES_VOFFSET = voffsetOf('OpResult', 'entries');

function voffsetOf(tableName: string, fieldName: string): number {
  const field = LAYOUT.tables[tableName]?.fields.find((candidate) => candidate.name === fieldName);
  assert(field !== undefined, `the wire schema has no ${tableName}.${fieldName}`);
  const vtableHeaderBytes = 4; // u16 vtable size, u16 table size
  const voffsetBytes = 2;
  return vtableHeaderBytes + voffsetBytes * field.slot;
}

function hasField(table: { bb: flatbuffers.ByteBuffer | null; bb_pos: number }, voffset: number): boolean {
  return table.bb!.__offset(table.bb_pos, voffset) !== 0;
}

export function encodeResponse(response: Response): Uint8Array {
  const builder = new flatbuffers.Builder();
  const id = checkU64(response.id, 'response id');
  const status = lookup(STATUS_TO_WIRE, response.status, 'status');
  if ((response.error !== undefined) !== (status === fb.Status.Error)) {
    throw invalidArgument('a response carries an error exactly when its status is error');
  }
  const error = response.error === undefined ? 0 : encodeError(builder, response.error);
  const results = response.results === undefined ? 0 : encodeResults(builder, response.results);
  const info = response.info === undefined ? 0 : encodeInfo(builder, response.info);
  const serverVersion = createOptionalString(builder, response.serverVersion, 'serverVersion');
  WireResponse.startResponse(builder);
  WireResponse.addId(builder, id);
  WireResponse.addStatus(builder, status);
  WireResponse.addError(builder, error);
  WireResponse.addResults(builder, results);
  WireResponse.addCommitLsn(builder, encodeCommitLsn(response.commitLsn));
  WireResponse.addInfo(builder, info);
  WireResponse.addProtocolVersion(builder, encodeProtocolVersion(response.protocolVersion));
  WireResponse.addServerVersion(builder, serverVersion);
  builder.finish(WireResponse.endResponse(builder), FRAME_IDENTIFIER);
  return builder.asUint8Array();
}

/** Verifies `buffer` as a Response, then converts it; throws JubilantError and nothing else on bad bytes. */
export function decodeResponse(buffer: Uint8Array): Response {
  verifyWireBuffer(buffer, 'Response');
  const wire = WireResponse.getRootAsResponse(new flatbuffers.ByteBuffer(buffer));
  const status = wire.status() === fb.Status.Ok ? 'ok' : 'error';
  const response: Response = { id: wire.id(), status };
  const error = wire.error();
  if ((error !== null) !== (status === 'error')) {
    throw malformed('a response carries an error exactly when its status is error');
  }
  if (error !== null) response.error = decodeError(error);
  if (hasField(wire, RESULTS_VOFFSET)) response.results = decodeResults(wire);
  if (wire.commitLsn() !== 0n) response.commitLsn = wire.commitLsn();
  if (hasField(wire, INFO_VOFFSET)) response.info = decodeInfo(wire);
  if (wire.protocolVersion() !== 0) response.protocolVersion = wire.protocolVersion();
  const serverVersion = readString(wire.serverVersion(UTF8_BYTES), 'serverVersion');
  if (serverVersion !== undefined) response.serverVersion = serverVersion;
  return response;
}

// ---- Encoding ------------------------------------------------------------------------------------

/** commit_lsn 0 means none on the wire, and LSNs count from 1. */
function encodeCommitLsn(commitLsn: bigint | undefined): bigint {
  if (commitLsn === undefined) return 0n;
  if (typeof commitLsn !== 'bigint' || commitLsn < 1n || commitLsn > U64_MAX) {
    throw invalidArgument('commitLsn must be a bigint in [1, 2^64)');
  }
  return commitLsn;
}

/** protocol_version 0 means none on the wire; versions count from 1. */
function encodeProtocolVersion(protocolVersion: number | undefined): number {
  if (protocolVersion === undefined) return 0;
  if (protocolVersion === 0) throw invalidArgument('protocolVersion must be at least 1');
  return checkUint(protocolVersion, U16_MAX, 'protocolVersion');
}

function encodeError(builder: flatbuffers.Builder, error: WireError): number {
  const code = lookup(ERROR_TABLE, error.code, 'error.code').wire;
  // A server must always be able to report an error, so a lone surrogate in the text becomes U+FFFD.
  const text = typeof error.message === 'string' ? error.message : String(error.message);
  const message = createString(builder, isWellFormed(text) ? text : toWellFormed(text), 'error.message');
  const opIndex =
    error.opIndex === undefined ? OP_INDEX_NONE : checkUint(error.opIndex, OP_INDEX_MAX, 'error.opIndex');
  return fb.Error.createError(builder, code, message, opIndex, error.retryable === true);
}

function toWellFormed(text: string): string {
  return (text as string & { toWellFormed(): string }).toWellFormed();
}

function encodeResults(builder: flatbuffers.Builder, results: WireOpResult[]): number {
  if (!Array.isArray(results)) throw invalidArgument('results must be an array');
  const offsets = results.map((result, index) => encodeResult(builder, result, `results[${index}]`));
  return WireResponse.createResultsVector(builder, offsets);
}

function encodeResult(builder: flatbuffers.Builder, result: WireOpResult, path: string): number {
  if ('entries' in result) {
    if ((result as { value?: unknown }).value !== undefined)
      throw invalidArgument(`${path} has entries and a value`);
    if (!Array.isArray(result.entries)) throw invalidArgument(`${path}.entries must be an array`);
    const offsets = result.entries.map((entry, index) =>
      encodeEntry(builder, entry, `${path}.entries[${index}]`),
    );
    const entries = fb.OpResult.createEntriesVector(builder, offsets);
    return fb.OpResult.createOpResult(builder, fb.Value.NONE, 0, entries);
  }
  if (result.value === undefined) return fb.OpResult.createOpResult(builder, fb.Value.NONE, 0, 0);
  const value = encodeValue(builder, result.value, `${path}.value`);
  return fb.OpResult.createOpResult(builder, value.type, value.offset, 0);
}

function encodeEntry(builder: flatbuffers.Builder, entry: ScanEntry, path: string): number {
  const key = createString(builder, entry.key, `${path}.key`);
  const value = encodeValue(builder, entry.value, `${path}.value`);
  return fb.KeyValue.createKeyValue(builder, key, value.type, value.offset);
}

function encodeInfo(builder: flatbuffers.Builder, info: InfoEntry[]): number {
  if (!Array.isArray(info)) throw invalidArgument('info must be an array');
  const offsets = info.map((field, index) => {
    const section = createString(builder, field.section, `info[${index}].section`);
    const name = createString(builder, field.name, `info[${index}].name`);
    const value = createString(builder, field.value, `info[${index}].value`);
    return fb.InfoField.createInfoField(builder, section, name, value);
  });
  return WireResponse.createInfoVector(builder, offsets);
}

// ---- Decoding ------------------------------------------------------------------------------------

function decodeError(error: fb.Error): WireError {
  const code = ERROR_CODE_FROM_WIRE.get(error.code());
  if (code === undefined) throw malformed(`error code ${error.code()} is not in the error table`);
  const message = readString(error.message(UTF8_BYTES), 'error.message') ?? '';
  const decoded: WireError = { code, message, retryable: error.retryable() };
  const opIndex = error.opIndex();
  if (opIndex < OP_INDEX_NONE) throw malformed(`error.opIndex ${opIndex} is negative`);
  if (opIndex !== OP_INDEX_NONE) decoded.opIndex = opIndex;
  return decoded;
}

function decodeResults(wire: WireResponse): WireOpResult[] {
  const results: WireOpResult[] = [];
  for (let index = 0; index < wire.resultsLength(); index++) {
    results.push(decodeResult(must(wire.results(index), `results[${index}]`), `results[${index}]`));
  }
  return results;
}

function decodeResult(result: fb.OpResult, path: string): WireOpResult {
  const value = decodeValue(result, `${path}.value`);
  if (!hasField(result, ENTRIES_VOFFSET)) return value === undefined ? {} : { value };
  if (value !== undefined) throw malformed(`${path} has entries and a value`);
  const entries: ScanEntry[] = [];
  for (let index = 0; index < result.entriesLength(); index++) {
    const entryPath = `${path}.entries[${index}]`;
    const entry = must(result.entries(index), entryPath);
    const key = must(readString(entry.key(UTF8_BYTES), `${entryPath}.key`), `${entryPath}.key`);
    entries.push({ key, value: must(decodeValue(entry, `${entryPath}.value`), `${entryPath}.value`) });
  }
  return { entries };
}

function decodeInfo(wire: WireResponse): InfoEntry[] {
  const info: InfoEntry[] = [];
  for (let index = 0; index < wire.infoLength(); index++) {
    const path = `info[${index}]`;
    const field = must(wire.info(index), path);
    info.push({
      section: must(readString(field.section(UTF8_BYTES), `${path}.section`), `${path}.section`),
      name: must(readString(field.name(UTF8_BYTES), `${path}.name`), `${path}.name`),
      value: must(readString(field.value(UTF8_BYTES), `${path}.value`), `${path}.value`),
    });
  }
  return info;
}
