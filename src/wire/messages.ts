/**
 * The wire protocol's messages as plain TypeScript objects, the form the client and server work with;
 * request-codec.ts and response-codec.ts convert them to and from the FlatBuffers of schemas/wire.fbs.
 * Where the wire cannot tell "absent" from a zero (a false `reverse`, a `limit` of 0), these types keep
 * only the meaningful form, so a decoded message re-encodes to the same bytes.
 */

import type { Durability, TxnRequest, Value } from '../txn/ops.js';
import type { ErrorCode } from '../util/errors.js';

/** The protocol version this build speaks; Hello carries it both ways. */
export const PROTOCOL_VERSION = 1;

export interface HelloBody {
  type: 'hello';
  protocolVersion: number;
  clientName?: string;
  token?: string;
}

/** A transaction; the wire always carries a durability (a client fills in `'fsync'`). */
export interface TxnBody extends TxnRequest {
  type: 'txn';
  durability: Durability;
  /** Lets a client retry a commit whose reply it lost without applying it twice. */
  idempotencyKey?: string;
}

export interface GetBody {
  type: 'get';
  key: string;
}

/** At most one of `ttlMs` and `expiresAtMs`; each, when present, is at least 1. */
export interface SetBody {
  type: 'set';
  key: string;
  value: Value;
  ttlMs?: number;
  expiresAtMs?: number;
  durability: Durability;
}

export interface DelBody {
  type: 'del';
  key: string;
  durability: Durability;
}

/** A range `[start, end)` or a prefix; `limit`, when present, is at least 1; `reverse` only when true. */
export interface ScanBody {
  type: 'scan';
  start?: string;
  end?: string;
  prefix?: string;
  limit?: number;
  reverse?: boolean;
}

export interface InfoBody {
  type: 'info';
  json: boolean;
}

export interface PingBody {
  type: 'ping';
  payload?: Uint8Array;
}

export interface CheckpointBody {
  type: 'checkpoint';
}

export type RequestBody =
  | HelloBody
  | TxnBody
  | GetBody
  | SetBody
  | DelBody
  | ScanBody
  | InfoBody
  | PingBody
  | CheckpointBody;

export type RequestType = RequestBody['type'];

export const REQUEST_TYPES = [
  'hello',
  'txn',
  'get',
  'set',
  'del',
  'scan',
  'info',
  'ping',
  'checkpoint',
] as const satisfies readonly RequestType[];

/** `id` is a u64 chosen by the client; the response to it carries the same id. */
export interface Request {
  id: bigint;
  body: RequestBody;
}

export interface WireError {
  code: ErrorCode;
  message: string;
  /** The failing op of a transaction, when there is one. */
  opIndex?: number;
  retryable: boolean;
}

export interface ScanEntry {
  key: string;
  value: Value;
}

/** GET and INCR: `{ value }` (an absent value means missing); SCAN: `{ entries }`; other ops: `{}`. */
export type WireOpResult = { value?: Value } | { entries: ScanEntry[] };

export interface InfoEntry {
  section: string;
  name: string;
  value: string;
}

/** `error` is present exactly when `status` is `'error'`. `commitLsn`, when present, is at least 1. */
export interface Response {
  id: bigint;
  status: 'ok' | 'error';
  error?: WireError;
  results?: WireOpResult[];
  commitLsn?: bigint;
  info?: InfoEntry[];
  /** In the reply to Hello. */
  protocolVersion?: number;
  serverVersion?: string;
}
