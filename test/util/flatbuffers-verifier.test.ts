// Proves verifyFlatBuffer accepts every root we write, rejects each kind of damage with a precise
// diagnostic, and lets no buffer through that a bounds-checked reader cannot read, in bounded time.
// (flatc's index.ts files export only what each root_type reaches, so the other roots import by file.)
import fc from 'fast-check';
import { Builder, ByteBuffer, Encoding, type Table } from 'flatbuffers';
import { describe, expect, it } from 'vitest';
import * as disk from '../../src/generated/disk/index.js';
import { LAYOUT as DISK } from '../../src/generated/disk/layout.js';
import { Superblock } from '../../src/generated/disk/superblock.js';
import { VlogRecord } from '../../src/generated/disk/vlog-record.js';
import { VlogSegmentHeader } from '../../src/generated/disk/vlog-segment-header.js';
import { BatchHeader } from '../../src/generated/wal/batch-header.js';
import * as wal from '../../src/generated/wal/index.js';
import { LAYOUT as WAL } from '../../src/generated/wal/layout.js';
import { SegmentHeader } from '../../src/generated/wal/segment-header.js';
import * as wire from '../../src/generated/wire/index.js';
import { LAYOUT as WIRE } from '../../src/generated/wire/layout.js';
import { Response as WireResponse } from '../../src/generated/wire/response.js';
import { JubilantError } from '../../src/util/errors.js';
import {
  type ElementLayout,
  type FieldLayout,
  SCALAR_SIZE_BYTES,
  type ScalarType,
  type SchemaLayout,
} from '../../src/util/flatbuffers-layout.js';
import {
  InvalidBufferError,
  type VerifyFlatBufferOptions,
  verifyFlatBuffer,
} from '../../src/util/flatbuffers-verifier.js';
import { testSeed } from '../../src/util/random.js';

/** Each verifier call must finish well inside this; a loop or superlinear walk would not. */
const CASE_MS_MAX = 50;

// A test-only schema covering what ours lack: a self-referential table (for depth), vectors of strings,
// bools and enums, 16- and 64-bit enums and a union with two members.
//   union Child { Kitchen, Leaf }
//   table Kitchen { next: Kitchen; names: [string]; flags: [bool]; modes: [Mode]; codes: [Code];
//                   child: Child; big: Big (ulong); label: string; ratio: double; }
//   table Leaf { tag: string (required); level: Level (int); }
const KITCHEN: SchemaLayout = {
  namespace: 'test.kitchen',
  fileIdentifier: 'KTCH',
  rootType: 'Kitchen',
  tables: {
    Kitchen: {
      fields: [
        { name: 'next', slot: 0, kind: 'table', table: 'Kitchen', required: false },
        { name: 'names', slot: 1, kind: 'vector', element: { kind: 'string' }, required: false },
        {
          name: 'flags',
          slot: 2,
          kind: 'vector',
          element: { kind: 'scalar', scalar: 'bool' },
          required: false,
        },
        {
          name: 'modes',
          slot: 3,
          kind: 'vector',
          element: { kind: 'scalar', scalar: 'uint8', enumName: 'Mode' },
          required: false,
        },
        {
          name: 'codes',
          slot: 4,
          kind: 'vector',
          element: { kind: 'scalar', scalar: 'int16', enumName: 'Code' },
          required: false,
        },
        { name: 'child_type', slot: 5, kind: 'unionType', union: 'Child' },
        { name: 'child', slot: 6, kind: 'union', union: 'Child', required: false },
        { name: 'big', slot: 7, kind: 'scalar', scalar: 'uint64', enumName: 'Big' },
        { name: 'label', slot: 8, kind: 'string', required: false },
        { name: 'ratio', slot: 9, kind: 'scalar', scalar: 'float64' },
      ],
    },
    Leaf: {
      fields: [
        { name: 'tag', slot: 0, kind: 'string', required: true },
        { name: 'level', slot: 1, kind: 'scalar', scalar: 'int32', enumName: 'Level' },
      ],
    },
  },
  enums: {
    Mode: { scalar: 'uint8', values: [0, 1, 2] },
    Code: { scalar: 'int16', values: [-1, 5, 300] },
    Big: { scalar: 'uint64', values: [0, 2 ** 40] },
    Level: { scalar: 'int32', values: [-100_000, 0, 100_000] },
  },
  unions: { Child: ['Kitchen', 'Leaf'] },
};

// ---------------------------------------------------------------------------------------------------
// Valid buffers, built with the generated builders.

function finished(b: Builder, root: number, identifier: string): Uint8Array {
  b.finish(root, identifier);
  return b.asUint8Array();
}

function wireValue(b: Builder, value: Uint8Array | string | bigint): { type: wire.Value; offset: number } {
  if (typeof value === 'string') {
    return {
      type: wire.Value.StringValue,
      offset: wire.StringValue.createStringValue(b, b.createString(value)),
    };
  }
  if (typeof value === 'bigint') {
    return { type: wire.Value.Int64Value, offset: wire.Int64Value.createInt64Value(b, value) };
  }
  const data = wire.BytesValue.createDataVector(b, value);
  return { type: wire.Value.BytesValue, offset: wire.BytesValue.createBytesValue(b, data) };
}

function request(b: Builder, type: wire.RequestBody, body: number): Uint8Array {
  wire.Request.finishRequestBuffer(b, wire.Request.createRequest(b, 7n, type, body));
  return b.asUint8Array();
}

interface KeySpec {
  id: number;
  mode: wire.KeyMode;
  kind: wire.KeyKind;
  key?: string;
  start?: string;
  end?: string;
  prefix?: string;
}

function keyDecl(b: Builder, spec: KeySpec): number {
  const text = (s: string | undefined): number => (s === undefined ? 0 : b.createString(s));
  const [key, start, end, prefix] = [text(spec.key), text(spec.start), text(spec.end), text(spec.prefix)];
  return wire.KeyDecl.createKeyDecl(b, spec.id, spec.mode, spec.kind, key, start, end, prefix);
}

interface OpSpec {
  code: wire.OpCode;
  id: number;
  value?: Uint8Array | string | bigint;
  ttlMs?: bigint;
  limit?: number;
  reverse?: boolean;
  by?: bigint;
  assertedType?: wire.AssertedType;
  intValue?: bigint;
  sha256?: Uint8Array;
}

function op(b: Builder, spec: OpSpec): number {
  const value = spec.value === undefined ? { type: wire.Value.NONE, offset: 0 } : wireValue(b, spec.value);
  const sha256 = spec.sha256 === undefined ? 0 : wire.Op.createSha256Vector(b, spec.sha256);
  wire.Op.startOp(b);
  wire.Op.addCode(b, spec.code);
  wire.Op.addId(b, spec.id);
  wire.Op.addValueType(b, value.type);
  wire.Op.addValue(b, value.offset);
  wire.Op.addTtlMs(b, spec.ttlMs ?? 0n);
  wire.Op.addLimit(b, spec.limit ?? 0);
  wire.Op.addReverse(b, spec.reverse ?? false);
  wire.Op.addBy(b, spec.by ?? 0n);
  wire.Op.addAssertedType(b, spec.assertedType ?? wire.AssertedType.Missing);
  wire.Op.addIntValue(b, spec.intValue ?? 0n);
  wire.Op.addSha256(b, sha256);
  return wire.Op.endOp(b);
}

const { OpCode, KeyMode, KeyKind } = wire;
const KEYS: KeySpec[] = [
  { id: 0, mode: KeyMode.RW, kind: KeyKind.Point, key: 'alpha' },
  { id: 1, mode: KeyMode.R, kind: KeyKind.Point, key: 'beta' },
  { id: 2, mode: KeyMode.R, kind: KeyKind.Range, start: 'a', end: 'm' },
  { id: 3, mode: KeyMode.RW, kind: KeyKind.Prefix, prefix: 'user:' },
  { id: 4, mode: KeyMode.RW, kind: KeyKind.Point, key: 'counter' },
];
const OPS: OpSpec[] = [
  { code: OpCode.GET, id: 1 },
  { code: OpCode.SET, id: 0, value: new Uint8Array([0, 1, 2, 255]), ttlMs: 60_000n },
  { code: OpCode.SET, id: 0, value: 'héllo, wörld ✓' },
  { code: OpCode.SET, id: 4, value: -42n },
  { code: OpCode.INCR, id: 4, by: 5n },
  { code: OpCode.ASSERT_TYPE, id: 1, assertedType: wire.AssertedType.String },
  { code: OpCode.ASSERT_INT_EQ, id: 4, intValue: 42n },
  { code: OpCode.ASSERT_BYTES_HASH_EQ, id: 0, sha256: new Uint8Array(32).fill(0xab) },
  { code: OpCode.SCAN, id: 3, limit: 10, reverse: true },
  { code: OpCode.DEL, id: 0 },
];

function txnRequest(): Uint8Array {
  const b = new Builder(512);
  const keys = wire.Txn.createKeysVector(
    b,
    KEYS.map((spec) => keyDecl(b, spec)),
  );
  const ops = wire.Txn.createOpsVector(
    b,
    OPS.map((spec) => op(b, spec)),
  );
  const txn = wire.Txn.createTxn(b, keys, ops, wire.Durability.Relaxed, b.createString('idem-1'));
  return request(b, wire.RequestBody.Txn, txn);
}

function shortcutRequests(): Record<string, Uint8Array> {
  const build = (type: wire.RequestBody, body: (b: Builder) => number): Uint8Array => {
    const b = new Builder(64);
    return request(b, type, body(b));
  };
  const { RequestBody } = wire;
  return {
    Hello: build(RequestBody.Hello, (b) =>
      wire.Hello.createHello(b, 1, b.createString('jubectl'), b.createString('secret')),
    ),
    Get: build(RequestBody.Get, (b) => wire.Get.createGet(b, b.createString('abc'))),
    Set: build(RequestBody.Set, (b) => {
      const key = b.createString('k');
      const value = wireValue(b, 'v');
      return wire.Set.createSet(b, key, value.type, value.offset, 1000n, 0n, wire.Durability.Relaxed);
    }),
    Del: build(RequestBody.Del, (b) => wire.Del.createDel(b, b.createString('k'), wire.Durability.Relaxed)),
    Scan: build(RequestBody.Scan, (b) =>
      wire.Scan.createScan(b, b.createString('a'), b.createString('z'), 0, 100, true),
    ),
    Info: build(RequestBody.Info, (b) => wire.Info.createInfo(b, true)),
    Ping: build(RequestBody.Ping, (b) =>
      wire.Ping.createPing(b, wire.Ping.createPayloadVector(b, new Uint8Array([1, 2, 3]))),
    ),
    Checkpoint: build(RequestBody.Checkpoint, (b) => wire.Checkpoint.createCheckpoint(b)),
  };
}

function errorResponse(): Uint8Array {
  const b = new Builder(128);
  const message = b.createString('lock wait exceeded lock_timeout_ms');
  const error = wire.Error.createError(b, wire.ErrorCode.LOCK_TIMEOUT, message, 2, true);
  WireResponse.startResponse(b);
  WireResponse.addId(b, 9n);
  WireResponse.addStatus(b, wire.Status.Error);
  WireResponse.addError(b, error);
  return finished(b, WireResponse.endResponse(b), 'JBWR');
}

function resultsResponse(): Uint8Array {
  const b = new Builder(256);
  const entry = (key: string, value: Uint8Array | string): number => {
    const v = wireValue(b, value);
    return wire.KeyValue.createKeyValue(b, b.createString(key), v.type, v.offset);
  };
  const entries = wire.OpResult.createEntriesVector(b, [entry('a', new Uint8Array([7])), entry('b', 'bee')]);
  const counter = wireValue(b, 47n);
  const results = WireResponse.createResultsVector(b, [
    wire.OpResult.createOpResult(b, counter.type, counter.offset, 0),
    wire.OpResult.createOpResult(b, wire.Value.NONE, 0, entries),
    wire.OpResult.createOpResult(b, wire.Value.NONE, 0, 0),
  ]);
  const info = WireResponse.createInfoVector(b, [
    wire.InfoField.createInfoField(
      b,
      b.createString('server'),
      b.createString('version'),
      b.createString('0.1'),
    ),
    wire.InfoField.createInfoField(b, b.createString('lsn'), b.createString('durable'), b.createString('12')),
  ]);
  const serverVersion = b.createString('jubilant-db 0.1.0');
  WireResponse.startResponse(b);
  WireResponse.addId(b, 10n);
  WireResponse.addResults(b, results);
  WireResponse.addCommitLsn(b, 12n);
  WireResponse.addInfo(b, info);
  WireResponse.addProtocolVersion(b, 1);
  WireResponse.addServerVersion(b, serverVersion);
  return finished(b, WireResponse.endResponse(b), 'JBWR');
}

function upsert(b: Builder, key: string, inline: boolean): number {
  const keyVector = wal.Upsert.createKeyVector(b, new TextEncoder().encode(key));
  const value = inline ? wal.Upsert.createInlineValueVector(b, new TextEncoder().encode('value')) : 0;
  const pointer = inline ? 0 : wal.VlogPointer.createVlogPointer(b, 3, 4096n, 70_000);
  wal.Upsert.startUpsert(b);
  wal.Upsert.addKey(b, keyVector);
  wal.Upsert.addValueType(b, wal.ValueType.String);
  if (inline) wal.Upsert.addInlineValue(b, value);
  else wal.Upsert.addVlogPointer(b, pointer);
  wal.Upsert.addExpiresAtMs(b, 1_900_000_000_000n);
  return wal.Upsert.endUpsert(b);
}

function commitRecord(): Uint8Array {
  const b = new Builder(256);
  const tombstone = wal.Tombstone.createTombstone(b, wal.Tombstone.createKeyVector(b, [0x6b, 0x33]));
  const mutations = wal.Commit.createMutationsVector(b, [
    wal.MutationEntry.createMutationEntry(b, wal.Mutation.Upsert, upsert(b, 'k1', true)),
    wal.MutationEntry.createMutationEntry(b, wal.Mutation.Upsert, upsert(b, 'k2', false)),
    wal.MutationEntry.createMutationEntry(b, wal.Mutation.Tombstone, tombstone),
  ]);
  const commit = wal.Commit.createCommit(b, mutations, 1_700_000_000_000n);
  wal.Record.finishRecordBuffer(b, wal.Record.createRecord(b, 41n, wal.RecordBody.Commit, commit));
  return b.asUint8Array();
}

function checkpointRecord(): Uint8Array {
  const b = new Builder(64);
  const marker = wal.CheckpointMarker.createCheckpointMarker(b, 40n, 3n);
  wal.Record.finishRecordBuffer(b, wal.Record.createRecord(b, 42n, wal.RecordBody.CheckpointMarker, marker));
  return b.asUint8Array();
}

const UUID = new Uint8Array(16).map((_, i) => i * 17);

function walHeaders(): { batch: Uint8Array; segment: Uint8Array } {
  const batch = new Builder(64);
  const batchBytes = finished(batch, BatchHeader.createBatchHeader(batch, 41n, 2, 300, 0xdeadbeef), 'JBWL');
  const segment = new Builder(64);
  const uuid = SegmentHeader.createDatabaseUuidVector(segment, UUID);
  const header = SegmentHeader.createSegmentHeader(segment, uuid, 5, 41n, 1);
  return { batch: batchBytes, segment: finished(segment, header, 'JBWL') };
}

function manifest(): Uint8Array {
  const b = new Builder(256);
  const hashes = ['disk', 'wal', 'wire'].map((name, i) =>
    disk.SchemaHash.createSchemaHash(
      b,
      b.createString(name),
      disk.SchemaHash.createSha256Vector(b, new Uint8Array(32).fill(i + 1)),
    ),
  );
  const hashVector = disk.Manifest.createSchemaHashesVector(b, hashes);
  const uuid = disk.Manifest.createDatabaseUuidVector(b, UUID);
  disk.Manifest.startManifest(b);
  disk.Manifest.addFormatMajor(b, 1);
  disk.Manifest.addSchemaHashes(b, hashVector);
  disk.Manifest.addDatabaseUuid(b, uuid);
  disk.Manifest.addCreatedAtMs(b, 1_700_000_000_000n);
  disk.Manifest.addPageSizeBytes(b, 16_384);
  disk.Manifest.addInlineValueThresholdBytes(b, 1024);
  disk.Manifest.addKeySizeMaxBytes(b, 4000);
  disk.Manifest.addValueSizeMaxBytes(b, 64 * 2 ** 20);
  disk.Manifest.addHashAlgorithm(b, disk.HashAlgorithm.Sha256);
  disk.Manifest.addGeneration(b, 1n);
  disk.Manifest.finishManifestBuffer(b, disk.Manifest.endManifest(b));
  return b.asUint8Array();
}

function diskRecords(): { superblock: Uint8Array; vlogRecord: Uint8Array; vlogSegment: Uint8Array } {
  const s = new Builder(128);
  const sUuid = Superblock.createDatabaseUuidVector(s, UUID);
  const superblock = Superblock.createSuperblock(s, 2n, sUuid, 1, 2, 3, 40n, 1_700_000_000_000n, 12.5, 1n);
  const r = new Builder(128);
  const key = VlogRecord.createKeyVector(r, [0x6b]);
  const value = VlogRecord.createValueVector(r, new Uint8Array(2000).fill(0x5a));
  const record = VlogRecord.createVlogRecord(r, key, disk.ValueType.Bytes, value, 41n);
  const h = new Builder(64);
  const header = VlogSegmentHeader.createVlogSegmentHeader(
    h,
    VlogSegmentHeader.createDatabaseUuidVector(h, UUID),
    9,
    41n,
  );
  return {
    superblock: finished(s, superblock, 'JBDK'),
    vlogRecord: finished(r, record, 'JBDK'),
    vlogSegment: finished(h, header, 'JBDK'),
  };
}

interface KitchenSpec {
  next?: KitchenSpec;
  names?: string[];
  flags?: boolean[];
  modes?: number[];
  codes?: number[];
  child?: { kitchen: KitchenSpec } | { leaf: { tag: string; level: number } };
  big?: number;
  label?: string;
}

function scalarVector(b: Builder, values: readonly number[], elementBytes: 1 | 2): number {
  b.startVector(elementBytes, values.length, elementBytes);
  for (let i = values.length - 1; i >= 0; i--) {
    if (elementBytes === 1) b.addInt8(values[i] ?? 0);
    else b.addInt16(values[i] ?? 0);
  }
  return b.endVector();
}

function offsetVector(b: Builder, offsets: readonly number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i] ?? 0);
  return b.endVector();
}

function leaf(b: Builder, spec: { tag: string; level: number }): number {
  const tag = b.createString(spec.tag);
  b.startObject(2);
  b.addFieldOffset(0, tag, 0);
  b.addFieldInt32(1, spec.level, 0);
  return b.endObject();
}

function kitchenChild(b: Builder, child: KitchenSpec['child']): { type: number; offset: number } {
  if (child === undefined) return { type: 0, offset: 0 };
  if ('kitchen' in child) return { type: 1, offset: kitchenTable(b, child.kitchen) };
  return { type: 2, offset: leaf(b, child.leaf) };
}

function kitchenTable(b: Builder, spec: KitchenSpec): number {
  const next = spec.next === undefined ? 0 : kitchenTable(b, spec.next);
  const names =
    spec.names === undefined
      ? 0
      : offsetVector(
          b,
          spec.names.map((n) => b.createString(n)),
        );
  const flags = spec.flags === undefined ? 0 : scalarVector(b, spec.flags.map(Number), 1);
  const modes = spec.modes === undefined ? 0 : scalarVector(b, spec.modes, 1);
  const codes = spec.codes === undefined ? 0 : scalarVector(b, spec.codes, 2);
  const child = kitchenChild(b, spec.child);
  const label = spec.label === undefined ? 0 : b.createString(spec.label);
  b.startObject(10);
  for (const [slot, offset] of [
    [0, next],
    [1, names],
    [2, flags],
    [3, modes],
    [4, codes],
    [6, child.offset],
    [8, label],
  ]) {
    b.addFieldOffset(slot ?? 0, offset ?? 0, 0);
  }
  b.addFieldInt8(5, child.type, 0);
  b.addFieldInt64(7, BigInt(spec.big ?? 0), 0n);
  b.addFieldFloat64(9, 0.5, 0);
  return b.endObject();
}

function kitchen(spec: KitchenSpec): Uint8Array {
  const b = new Builder(256);
  return finished(b, kitchenTable(b, spec), 'KTCH');
}

/** A chain of `levels` nested Kitchen tables, built iteratively (next -> next -> ...). */
function kitchenChain(levels: number): Uint8Array {
  const b = new Builder(1024);
  let inner = 0;
  for (let level = 0; level < levels; level++) {
    b.startObject(10);
    b.addFieldOffset(0, inner, 0);
    inner = b.endObject();
  }
  return finished(b, inner, 'KTCH');
}

const RICH_KITCHEN: KitchenSpec = {
  names: ['one', 'två', '三'],
  flags: [true, false, true],
  modes: [0, 2, 1],
  codes: [-1, 300, 5],
  big: 2 ** 40,
  label: 'root',
  next: { label: 'next', child: { leaf: { tag: 'leaf', level: -100_000 } } },
  child: { kitchen: { names: [], flags: [], modes: [2], child: { leaf: { tag: 't', level: 100_000 } } } },
};

interface Sample {
  readonly label: string;
  readonly layout: SchemaLayout;
  readonly rootTable: string;
  readonly bytes: Uint8Array;
}

function allSamples(): Sample[] {
  const sample = (label: string, layout: SchemaLayout, rootTable: string, bytes: Uint8Array): Sample => ({
    label,
    layout,
    rootTable,
    bytes,
  });
  const shortcuts = Object.entries(shortcutRequests()).map(([body, bytes]) =>
    sample(`wire Request with a ${body} body`, WIRE, 'Request', bytes),
  );
  const headers = walHeaders();
  const records = diskRecords();
  return [
    sample(
      'wire Request with a Txn body of keys and ops of every Value member',
      WIRE,
      'Request',
      txnRequest(),
    ),
    ...shortcuts,
    sample('wire Response with an error', WIRE, 'Response', errorResponse()),
    sample('wire Response with results, scan entries and info fields', WIRE, 'Response', resultsResponse()),
    sample('wal Record with a Commit of upserts and a tombstone', WAL, 'Record', commitRecord()),
    sample('wal Record with a CheckpointMarker', WAL, 'Record', checkpointRecord()),
    sample('wal BatchHeader', WAL, 'BatchHeader', headers.batch),
    sample('wal SegmentHeader', WAL, 'SegmentHeader', headers.segment),
    sample('disk Manifest with schema hashes', DISK, 'Manifest', manifest()),
    sample('disk Superblock', DISK, 'Superblock', records.superblock),
    sample('disk VlogRecord', DISK, 'VlogRecord', records.vlogRecord),
    sample('disk VlogSegmentHeader', DISK, 'VlogSegmentHeader', records.vlogSegment),
    sample(
      'test Kitchen with string, bool and enum vectors and both union members',
      KITCHEN,
      'Kitchen',
      kitchen(RICH_KITCHEN),
    ),
    sample('test Kitchen chain eight tables deep', KITCHEN, 'Kitchen', kitchenChain(8)),
  ];
}

const SAMPLES = allSamples();

// ---------------------------------------------------------------------------------------------------
// A generic deep reader: walks the layout and reads every present field through flatbuffers'
// ByteBuffer, the way the generated accessors do, with every read bounds-checked. It throws on any
// read outside the buffer, undeclared enum value, non-0/1 bool, bad UTF-8 or missing required field.

class BoundedByteBuffer extends ByteBuffer {
  override readUint8(offset: number): number {
    this.check(offset, 1);
    return super.readUint8(offset);
  }

  override readUint16(offset: number): number {
    this.check(offset, 2);
    return super.readUint16(offset);
  }

  override readInt32(offset: number): number {
    this.check(offset, 4);
    return super.readInt32(offset);
  }

  private check(offset: number, sizeBytes: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + sizeBytes > this.capacity()) {
      throw new RangeError(`read of ${sizeBytes} bytes at ${offset} outside ${this.capacity()} bytes`);
    }
  }
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

class DeepReader {
  readonly bb: BoundedByteBuffer;
  readonly layout: SchemaLayout;
  fieldsRead = 0;

  constructor(bytes: Uint8Array, layout: SchemaLayout) {
    this.bb = new BoundedByteBuffer(bytes);
    this.layout = layout;
  }

  readRoot(rootTable: string): number {
    // As the generated getRootAs<Table> does.
    this.readTable(this.bb.readInt32(this.bb.position()) + this.bb.position(), rootTable);
    return this.fieldsRead;
  }

  readTable(position: number, name: string): void {
    const table = this.layout.tables[name];
    if (table === undefined) throw new Error(`no table ${name}`);
    for (const field of table.fields) this.readField(position, field);
  }

  readField(position: number, field: FieldLayout): void {
    const offset = this.bb.__offset(position, 4 + 2 * field.slot);
    if (offset !== 0) this.fieldsRead++;
    if (field.kind === 'union') {
      this.readUnion(position, field, offset);
      return;
    }
    if (field.kind === 'unionType') return;
    if (field.kind === 'scalar') {
      if (offset !== 0) this.readScalar(position + offset, field.scalar, field.enumName);
      return;
    }
    if (offset === 0) {
      if (field.required) throw new Error(`required ${field.name} is missing`);
      return;
    }
    if (field.kind === 'string') this.readString(position + offset);
    else if (field.kind === 'table') this.readTable(this.bb.__indirect(position + offset), field.table);
    else this.readVector(position + offset, field.element);
  }

  readUnion(position: number, field: Extract<FieldLayout, { kind: 'union' }>, offset: number): void {
    const typeOffset = this.bb.__offset(position, 4 + 2 * (field.slot - 1));
    const type = typeOffset === 0 ? 0 : this.bb.readUint8(position + typeOffset);
    if (offset === 0) {
      if (type !== 0 || field.required) throw new Error(`union ${field.name} of type ${type} has no value`);
      return;
    }
    const member = this.layout.unions[field.union]?.[type - 1];
    if (member === undefined) throw new Error(`union ${field.name} has type ${type}`);
    const holder: Table = { bb: this.bb, bb_pos: 0 };
    this.bb.__union(holder, position + offset);
    this.readTable(holder.bb_pos, member);
  }

  readScalar(position: number, scalar: ScalarType, enumName: string | undefined): void {
    const value = this.scalarValue(position, scalar);
    if (scalar === 'bool' && value !== 0 && value !== 1) throw new Error(`bool ${value}`);
    if (enumName !== undefined && !this.layout.enums[enumName]?.values.includes(value)) {
      throw new Error(`${value} is not in enum ${enumName}`);
    }
  }

  scalarValue(position: number, scalar: ScalarType): number {
    const bb = this.bb;
    const readers: Record<ScalarType, () => number> = {
      bool: () => bb.readUint8(position),
      int8: () => bb.readInt8(position),
      uint8: () => bb.readUint8(position),
      int16: () => bb.readInt16(position),
      uint16: () => bb.readUint16(position),
      int32: () => bb.readInt32(position),
      uint32: () => bb.readUint32(position),
      int64: () => Number(bb.readInt64(position)),
      uint64: () => Number(bb.readUint64(position)),
      float32: () => bb.readFloat32(position),
      float64: () => bb.readFloat64(position),
    };
    return readers[scalar]();
  }

  readString(fieldPosition: number): void {
    const utf8 = this.bb.__string(fieldPosition, Encoding.UTF8_BYTES) as Uint8Array;
    const start = this.bb.__indirect(fieldPosition);
    const lengthBytes = this.bb.readInt32(start);
    // __string slices with subarray, which silently clamps: compare with the stored length.
    if (lengthBytes < 0 || utf8.byteLength !== lengthBytes) throw new Error('string runs past the end');
    if (this.bb.readUint8(start + 4 + lengthBytes) !== 0) throw new Error('string has no terminator');
    fatalUtf8.decode(utf8);
  }

  readVector(fieldPosition: number, element: ElementLayout): void {
    const count = this.bb.__vector_len(fieldPosition);
    const start = this.bb.__vector(fieldPosition);
    if (count < 0) throw new Error(`vector length ${count}`);
    if (count === 0) return;
    if (element.kind === 'scalar') {
      const size = SCALAR_SIZE_BYTES[element.scalar];
      const read = (i: number): void => this.readScalar(start + i * size, element.scalar, element.enumName);
      // Scalars are contiguous: reading the first and last bounds the vector; enums and bools need all.
      if (element.scalar !== 'bool' && element.enumName === undefined) [0, count - 1].forEach(read);
      else for (let i = 0; i < count; i++) read(i);
      return;
    }
    for (let i = 0; i < count; i++) {
      if (element.kind === 'string') this.readString(start + 4 * i);
      else this.readTable(this.bb.__indirect(start + 4 * i), element.table);
    }
  }
}

function deepRead(bytes: Uint8Array, layout: SchemaLayout, rootTable: string): number {
  return new DeepReader(bytes, layout).readRoot(rootTable);
}

// ---------------------------------------------------------------------------------------------------
// Helpers for damaging buffers at a chosen place.

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A copy of `bytes` (at byteOffset 0) with `edit` applied. */
function patched(bytes: Uint8Array, edit: (view: DataView, copy: Uint8Array) => void): Uint8Array {
  const copy = bytes.slice();
  edit(viewOf(copy), copy);
  return copy;
}

const nav = {
  root: (v: DataView): number => v.getUint32(0, true),
  vtable: (v: DataView, table: number): number => table - v.getInt32(table, true),
  /** The position of the vtable entry for `slot`. */
  entry: (v: DataView, table: number, slot: number): number => nav.vtable(v, table) + 4 + 2 * slot,
  /** The position of a present field. */
  field: (v: DataView, table: number, slot: number): number => {
    const voffset = v.getUint16(nav.entry(v, table, slot), true);
    expect(voffset, `slot ${slot} of the table at ${table} is present`).toBeGreaterThan(0);
    return table + voffset;
  },
  /** Follows the uoffset in a present field. */
  follow: (v: DataView, table: number, slot: number): number => {
    const at = nav.field(v, table, slot);
    return at + v.getUint32(at, true);
  },
  element: (v: DataView, vector: number, index: number): number => {
    const at = vector + 4 + 4 * index;
    return at + v.getUint32(at, true);
  },
};

function sampleBytes(labelPart: string): Uint8Array {
  const found = SAMPLES.find((s) => s.label.includes(labelPart));
  if (found === undefined) throw new Error(`no sample ${labelPart}`);
  return found.bytes.slice();
}

function invalid(
  bytes: Uint8Array,
  layout: SchemaLayout,
  options?: VerifyFlatBufferOptions,
): InvalidBufferError {
  try {
    verifyFlatBuffer(bytes, layout, options);
  } catch (error) {
    if (error instanceof InvalidBufferError) return error;
    throw error;
  }
  return expect.fail('expected verifyFlatBuffer to throw InvalidBufferError');
}

function expectMalformed(error: InvalidBufferError, expected: { reason: RegExp; path: string }): void {
  expect(error.code).toBe('MALFORMED_FRAME');
  expect(error.reason).toMatch(expected.reason);
  expect(error.path).toBe(expected.path);
  expect(error.message).toContain(expected.path);
  expect(error.message).toContain(`offset ${error.offsetBytes}`);
}

/** Verifies bytes expecting rejection, and times it (see elapsedMs). */
function timedInvalid(
  bytes: Uint8Array,
  layout: SchemaLayout,
  options?: VerifyFlatBufferOptions,
): { error: InvalidBufferError; ms: number } {
  const errors: InvalidBufferError[] = [];
  const ms = elapsedMs(() => {
    errors.push(invalid(bytes, layout, options));
  });
  return { error: errors[0] ?? expect.fail('rejected'), ms };
}

/** Times fn in ms; a slow first run is timed once more, so a GC pause or a busy CI core is not a loop. */
function elapsedMs(fn: () => void): number {
  const first = performance.now();
  fn();
  const firstMs = performance.now() - first;
  if (firstMs < CASE_MS_MAX) return firstMs;
  const second = performance.now();
  fn();
  return performance.now() - second;
}

// ---------------------------------------------------------------------------------------------------

describe('verifyFlatBuffer accepts every root we write', () => {
  for (const sample of SAMPLES) {
    it(`a valid ${sample.label} verifies and reads in full`, () => {
      verifyFlatBuffer(sample.bytes, sample.layout, { rootTable: sample.rootTable });
      expect(deepRead(sample.bytes, sample.layout, sample.rootTable)).toBeGreaterThan(0);
    });
  }

  it('the generated accessors read back what the builders wrote once the buffer verifies', () => {
    const bytes = txnRequest();
    verifyFlatBuffer(bytes, WIRE);
    const txn = wire.Request.getRootAsRequest(new ByteBuffer(bytes)).body(new wire.Txn()) as wire.Txn;
    expect(txn.keysLength()).toBe(KEYS.length);
    expect(txn.keys(3)?.prefix()).toBe('user:');
    const stringSet = txn.ops(2) ?? expect.fail('ops[2]');
    expect(stringSet.valueType()).toBe(wire.Value.StringValue);
    expect((stringSet.value(new wire.StringValue()) as wire.StringValue).data()).toBe('héllo, wörld ✓');
    expect(txn.ops(7)?.sha256Array()).toEqual(new Uint8Array(32).fill(0xab));
  });

  it('a buffer at an odd byteOffset inside a larger ArrayBuffer verifies', () => {
    const bytes = txnRequest();
    const host = new Uint8Array(bytes.length + 20).fill(0xee);
    host.set(bytes, 7);
    verifyFlatBuffer(host.subarray(7, 7 + bytes.length), WIRE);
  });

  it('a table whose vtable stops before later fields (an older writer) verifies, those fields absent', () => {
    const b = new Builder(64);
    const hello = wire.Hello.createHello(b, 1, 0, 0); // Only slot 0: the builder trims the vtable.
    const older = request(b, wire.RequestBody.Hello, hello);
    const v = viewOf(older);
    const body = nav.follow(v, nav.root(v), 2);
    expect(v.getUint16(nav.vtable(v, body), true)).toBe(4 + 2);
    verifyFlatBuffer(older, WIRE);
  });

  it('fields beyond the layout (a newer writer) are ignored', () => {
    const b = new Builder(64);
    const key = b.createString('abc');
    b.startObject(6);
    b.addFieldOffset(0, key, 0);
    b.addFieldInt32(5, 0x7777, 0);
    const get = b.endObject();
    verifyFlatBuffer(request(b, wire.RequestBody.Get, get), WIRE);
  });

  it('a wrong identifier is accepted when checkIdentifier is false', () => {
    const bytes = patched(txnRequest(), (_, copy) => copy.set([0x58, 0x58, 0x58, 0x58], 4));
    verifyFlatBuffer(bytes, WIRE, { checkIdentifier: false });
  });
});

describe('verifyFlatBuffer rejects damage with a diagnostic', () => {
  it('an empty buffer is shorter than the minimum', () => {
    const error = invalid(new Uint8Array(0), WIRE);
    expectMalformed(error, { reason: /0 bytes is shorter than the 8-byte minimum/, path: 'Request' });
    expect(error).toBeInstanceOf(JubilantError);
    expect(error.wireCode).toBe(2);
    expect(error.offsetBytes).toBe(0);
  });

  it('a 7-byte buffer is shorter than the minimum', () => {
    expectMalformed(invalid(txnRequest().subarray(0, 7), WIRE), {
      reason: /7 bytes is shorter than the 8-byte minimum/,
      path: 'Request',
    });
  });

  it('a wrong file identifier is rejected', () => {
    const error = invalid(commitRecord(), WIRE);
    expectMalformed(error, { reason: /file identifier is not JBWR/, path: 'Request' });
    expect(error.offsetBytes).toBe(4);
  });

  it('a root offset past the end is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setUint32(0, v.byteLength, true));
    expectMalformed(invalid(bytes, WIRE), { reason: /offset \d+ points past the end/, path: 'Request' });
  });

  it('a root offset of 0 (pointing at itself) is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setUint32(0, 0, true));
    expectMalformed(invalid(bytes, WIRE), { reason: /offset 0 points at itself/, path: 'Request' });
  });

  it('an offset past the end of a subarray is rejected even though the host buffer has bytes there', () => {
    const bytes = shortcutRequests().Get ?? expect.fail('Get sample');
    const host = new Uint8Array(bytes.length + 64);
    host.set(bytes, 0);
    host.set(bytes, bytes.length);
    const inner = host.subarray(0, bytes.length);
    viewOf(inner).setUint32(0, bytes.length + viewOf(bytes).getUint32(0, true), true);
    expectMalformed(invalid(inner, WIRE), { reason: /points past the end/, path: 'Request' });
  });

  it('a vtable before the start of the buffer is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setInt32(nav.root(v), nav.root(v) + 2, true));
    expectMalformed(invalid(bytes, WIRE), { reason: /vtable at -2 lies outside/, path: 'Request' });
  });

  it('a vtable past the end of the buffer is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setInt32(nav.root(v), nav.root(v) - v.byteLength, true));
    expectMalformed(invalid(bytes, WIRE), { reason: /vtable at \d+ lies outside/, path: 'Request' });
  });

  it('a vtable whose size runs past the end is rejected', () => {
    const bytes = patched(txnRequest(), (v) => {
      const body = nav.follow(v, nav.root(v), 2);
      v.setUint16(nav.vtable(v, body), 0x7ffe, true);
    });
    expectMalformed(invalid(bytes, WIRE), {
      reason: /vtable \(32766 bytes\) lies outside/,
      path: 'Request.body<Txn>',
    });
  });

  it('an odd vtable size is rejected', () => {
    const bytes = patched(txnRequest(), (v) => {
      const vtable = nav.vtable(v, nav.root(v));
      v.setUint16(vtable, v.getUint16(vtable, true) + 1, true);
    });
    expectMalformed(invalid(bytes, WIRE), { reason: /vtable size \d*[13579] is odd/, path: 'Request' });
  });

  it('a vtable size of 0x8000 or more is rejected, as the JS runtime would read it as negative', () => {
    const bytes = patched(txnRequest(), (v) => v.setUint16(nav.vtable(v, nav.root(v)), 0x8000, true));
    expectMalformed(invalid(bytes, WIRE), { reason: /vtable size 32768/, path: 'Request' });
  });

  it('a table inline size below 4 is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setUint16(nav.vtable(v, nav.root(v)) + 2, 2, true));
    expectMalformed(invalid(bytes, WIRE), { reason: /table inline size 2 is below 4/, path: 'Request' });
  });

  it('a field that reaches past the table inline size is rejected', () => {
    const bytes = patched(txnRequest(), (v) => {
      const vtable = nav.vtable(v, nav.root(v));
      v.setUint16(nav.entry(v, nav.root(v), 0), v.getUint16(vtable + 2, true) - 4, true);
    });
    expectMalformed(invalid(bytes, WIRE), {
      reason: /\(8 bytes\) lies outside the table's/,
      path: 'Request.id',
    });
  });

  it('a field overlapping the table soffset is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setUint16(nav.entry(v, nav.root(v), 1), 2, true));
    expectMalformed(invalid(bytes, WIRE), { reason: /voffset 2 .* lies outside/, path: 'Request.body_type' });
  });

  it('a string without its 0 terminator is rejected', () => {
    const bytes = patched(sampleBytes('Get body'), (v, copy) => {
      const key = nav.follow(v, nav.follow(v, nav.root(v), 2), 0);
      copy[key + 4 + v.getUint32(key, true)] = 0x41;
    });
    expectMalformed(invalid(bytes, WIRE), {
      reason: /not followed by a 0 terminator/,
      path: 'Request.body<Get>.key',
    });
  });

  it('a string whose length runs past the end is rejected', () => {
    const bytes = patched(sampleBytes('Get body'), (v) => {
      const key = nav.follow(v, nav.follow(v, nav.root(v), 2), 0);
      v.setUint32(key, 0xffff_fff0, true);
    });
    expectMalformed(invalid(bytes, WIRE), {
      reason: /string of 4294967280 bytes/,
      path: 'Request.body<Get>.key',
    });
  });

  it('a string that is not well-formed UTF-8 is INVALID_UTF8', () => {
    const bytes = patched(sampleBytes('Get body'), (v, copy) => {
      const key = nav.follow(v, nav.follow(v, nav.root(v), 2), 0);
      copy[key + 5] = 0xff;
    });
    const error = invalid(bytes, WIRE);
    expect(error.code).toBe('INVALID_UTF8');
    expect(error.wireCode).toBe(4);
    expect(error.reason).toMatch(/not well-formed UTF-8/);
    expect(error.path).toBe('Request.body<Get>.key');
  });

  it('a UTF-8-encoded lone surrogate is INVALID_UTF8', () => {
    const b = new Builder(64);
    const key = b.createString(new Uint8Array([0x61, 0xed, 0xa0, 0x80]));
    const error = invalid(request(b, wire.RequestBody.Get, wire.Get.createGet(b, key)), WIRE);
    expect(error.code).toBe('INVALID_UTF8');
    expect(error.path).toBe('Request.body<Get>.key');
  });

  it('the path names the vector element a bad string sits in', () => {
    const bytes = patched(txnRequest(), (v, copy) => {
      const keys = nav.follow(v, nav.follow(v, nav.root(v), 2), 0);
      const prefix = nav.follow(v, nav.element(v, keys, 3), 6);
      copy[prefix + 4] = 0xc0;
    });
    const error = invalid(bytes, WIRE);
    expect(error.code).toBe('INVALID_UTF8');
    expect(error.path).toBe('Request.body<Txn>.keys[3].prefix');
  });

  it('a vector whose length runs past the end is rejected', () => {
    const bytes = patched(sampleBytes('Ping body'), (v) => {
      v.setUint32(nav.follow(v, nav.follow(v, nav.root(v), 2), 0), 0x7fff_ffff, true);
    });
    expectMalformed(invalid(bytes, WIRE), {
      reason: /vector of 2147483647 1-byte/,
      path: 'Request.body<Ping>.payload',
    });
  });

  it('a vector length that would overflow 32 bits when multiplied by the element size is rejected', () => {
    const bytes = patched(txnRequest(), (v) => {
      v.setUint32(nav.follow(v, nav.follow(v, nav.root(v), 2), 0), 0x4000_0001, true);
    });
    expectMalformed(invalid(bytes, WIRE), {
      reason: /vector of 1073741825 4-byte/,
      path: 'Request.body<Txn>.keys',
    });
  });

  it('an enum field holding an undeclared value is rejected', () => {
    const bytes = patched(txnRequest(), (v) => {
      const keys = nav.follow(v, nav.follow(v, nav.root(v), 2), 0);
      v.setUint8(nav.field(v, nav.element(v, keys, 3), 1), 2);
    });
    expectMalformed(invalid(bytes, WIRE), {
      reason: /2 is not a declared value of enum KeyMode/,
      path: 'Request.body<Txn>.keys[3].mode',
    });
  });

  it('a 16-bit enum holding an undeclared value is rejected', () => {
    const bytes = patched(errorResponse(), (v) => {
      v.setUint16(nav.field(v, nav.follow(v, nav.root(v), 2), 0), 34, true);
    });
    expectMalformed(invalid(bytes, WIRE, { rootTable: 'Response' }), {
      reason: /34 is not a declared value of enum ErrorCode/,
      path: 'Response.error.code',
    });
  });

  it('an enum vector element holding an undeclared value is rejected', () => {
    const bytes = patched(kitchen(RICH_KITCHEN), (v) => {
      v.setInt16(nav.follow(v, nav.root(v), 4) + 4 + 2 * 2, 6, true);
    });
    expectMalformed(invalid(bytes, KITCHEN), {
      reason: /6 is not a declared value of enum Code/,
      path: 'Kitchen.codes[2]',
    });
  });

  it('a 64-bit enum holding an undeclared value is rejected', () => {
    const bytes = patched(kitchen(RICH_KITCHEN), (v) => {
      v.setBigUint64(nav.field(v, nav.root(v), 7), 2n ** 64n - 1n, true);
    });
    expectMalformed(invalid(bytes, KITCHEN), {
      reason: /is not a declared value of enum Big/,
      path: 'Kitchen.big',
    });
  });

  it('a bool holding 2 is rejected', () => {
    const bytes = patched(sampleBytes('Scan body'), (v) => {
      v.setUint8(nav.field(v, nav.follow(v, nav.root(v), 2), 4), 2);
    });
    expectMalformed(invalid(bytes, WIRE), { reason: /bool holds 2/, path: 'Request.body<Scan>.reverse' });
  });

  it('a bool vector element holding 2 is rejected', () => {
    const bytes = patched(kitchen(RICH_KITCHEN), (v) => v.setUint8(nav.follow(v, nav.root(v), 2) + 4 + 1, 2));
    expectMalformed(invalid(bytes, KITCHEN), { reason: /bool holds 2/, path: 'Kitchen.flags[1]' });
  });

  it('a union of type NONE with a value is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setUint8(nav.field(v, nav.root(v), 1), 0));
    expectMalformed(invalid(bytes, WIRE), {
      reason: /union type is NONE but a value is present/,
      path: 'Request.body',
    });
  });

  it('a union of an unknown type is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setUint8(nav.field(v, nav.root(v), 1), 10));
    expectMalformed(invalid(bytes, WIRE), {
      reason: /unknown union type 10 for RequestBody/,
      path: 'Request.body',
    });
  });

  it('a union with a type but no value is rejected', () => {
    const bytes = patched(txnRequest(), (v) => v.setUint16(nav.entry(v, nav.root(v), 2), 0, true));
    expectMalformed(invalid(bytes, WIRE), { reason: /union type 2 has no value/, path: 'Request.body' });
  });

  it('a union member that fails verification is named in the path', () => {
    const bytes = patched(commitRecord(), (v) => {
      const mutations = nav.follow(v, nav.follow(v, nav.root(v), 2), 0);
      const upsert = nav.follow(v, nav.element(v, mutations, 0), 1);
      v.setUint8(nav.field(v, upsert, 1), 3);
    });
    expectMalformed(invalid(bytes, WAL), {
      reason: /3 is not a declared value of enum ValueType/,
      path: 'Record.body<Commit>.mutations[0].mutation<Upsert>.value_type',
    });
  });

  it('a missing required string is rejected', () => {
    const bytes = patched(sampleBytes('Get body'), (v) => {
      v.setUint16(nav.entry(v, nav.follow(v, nav.root(v), 2), 0), 0, true);
    });
    expectMalformed(invalid(bytes, WIRE), {
      reason: /required field is missing/,
      path: 'Request.body<Get>.key',
    });
  });

  it('a missing required union is rejected', () => {
    const bytes = patched(txnRequest(), (v) => {
      v.setUint16(nav.entry(v, nav.root(v), 1), 0, true);
      v.setUint16(nav.entry(v, nav.root(v), 2), 0, true);
    });
    expectMalformed(invalid(bytes, WIRE), { reason: /required field is missing/, path: 'Request.body' });
  });

  it('a missing required vector is rejected', () => {
    const bytes = patched(manifest(), (v) => v.setUint16(nav.entry(v, nav.root(v), 3), 0, true));
    expectMalformed(invalid(bytes, DISK), {
      reason: /required field is missing/,
      path: 'Manifest.database_uuid',
    });
  });

  it('a table nested deeper than maxDepth is rejected', () => {
    verifyFlatBuffer(kitchenChain(64), KITCHEN);
    const error = invalid(kitchenChain(65), KITCHEN);
    expectMalformed(error, {
      reason: /tables nest deeper than maxDepth 64/,
      path: `Kitchen${'.next'.repeat(64)}`,
    });
    expect(invalid(kitchenChain(11), KITCHEN, { maxDepth: 10 }).reason).toMatch(/maxDepth 10/);
  });

  it('more table visits than maxTables are rejected', () => {
    verifyFlatBuffer(txnRequest(), WIRE, { maxTables: 100 });
    expectMalformed(invalid(txnRequest(), WIRE, { maxTables: 5 }), {
      reason: /more than maxTables 5 table visits/,
      path: 'Request.body<Txn>.keys[3]',
    });
  });
});

describe('verification work stays linear in the buffer length', () => {
  /** A Kitchen whose `names` vector holds `references` offsets to one string of `stringBytes` bytes. */
  function sharedNames(stringBytes: number, references: number): Uint8Array {
    const b = new Builder(stringBytes + 4 * references + 64);
    const name = b.createString('x'.repeat(stringBytes));
    const names = offsetVector(b, new Array<number>(references).fill(name));
    b.startObject(2);
    b.addFieldOffset(1, names, 0);
    return finished(b, b.endObject(), 'KTCH');
  }

  /** A Response whose info holds `references` offsets to one InfoField, its three strings one string. */
  function sharedInfo(stringBytes: number, references: number): Uint8Array {
    const b = new Builder(stringBytes + 4 * references + 64);
    const text = b.createString('v'.repeat(stringBytes));
    const field = wire.InfoField.createInfoField(b, text, text, text);
    const info = WireResponse.createInfoVector(b, new Array<number>(references).fill(field));
    WireResponse.startResponse(b);
    WireResponse.addInfo(b, info);
    return finished(b, WireResponse.endResponse(b), 'JBWR');
  }

  /** `width` results sharing one OpResult whose `width` entries share one KeyValue: width² tables. */
  function sharedFanOut(width: number): Uint8Array {
    const b = new Builder(8 * width + 128);
    const value = wire.Int64Value.createInt64Value(b, 1n);
    const entry = wire.KeyValue.createKeyValue(b, b.createString('k'), wire.Value.Int64Value, value);
    const entries = wire.OpResult.createEntriesVector(b, new Array<number>(width).fill(entry));
    const result = wire.OpResult.createOpResult(b, wire.Value.NONE, 0, entries);
    const results = WireResponse.createResultsVector(b, new Array<number>(width).fill(result));
    WireResponse.startResponse(b);
    WireResponse.addResults(b, results);
    return finished(b, WireResponse.endResponse(b), 'JBWR');
  }

  it('many offsets sharing one large string exhaust the work budget instead of rescanning it', () => {
    const bytes = sharedNames(64 * 1024, 20_000); // 1.3 GB of UTF-8 checking if each were rescanned.
    const { error, ms } = timedInvalid(bytes, KITCHEN);
    expect(ms).toBeLessThan(CASE_MS_MAX);
    expect(error.code).toBe('MALFORMED_FRAME');
    expect(error.reason).toMatch(/work budget exhausted/);
    expect(error.path).toMatch(/^Kitchen\.names\[\d+\]$/);
  });

  it('many references to one table of shared strings exhaust the work budget', () => {
    const bytes = sharedInfo(64 * 1024, 20_000);
    const { error, ms } = timedInvalid(bytes, WIRE, { rootTable: 'Response' });
    expect(ms).toBeLessThan(CASE_MS_MAX);
    expect(error.reason).toMatch(/work budget exhausted/);
    expect(error.path).toMatch(/^Response\.info\[\d+\]\.(section|name|value)$/);
  });

  it('shared tables that fan out quadratically exhaust the work budget', () => {
    const bytes = sharedFanOut(2000); // 4 million KeyValue visits from 16 KB.
    const { error, ms } = timedInvalid(bytes, WIRE, { rootTable: 'Response' });
    expect(ms).toBeLessThan(CASE_MS_MAX);
    expect(error.reason).toMatch(/work budget exhausted/);
  });

  it('modest sharing stays within the budget and verifies', () => {
    verifyFlatBuffer(sharedNames(64 * 1024, 16), KITCHEN);
    verifyFlatBuffer(sharedInfo(64 * 1024, 4), WIRE, { rootTable: 'Response' });
    verifyFlatBuffer(sharedFanOut(16), WIRE, { rootTable: 'Response' });
  });

  it('a large buffer of distinct objects verifies within the per-case bound', () => {
    const b = new Builder(1 << 18);
    const entries = [];
    for (let i = 0; i < 5_000; i++) {
      const value = wireValue(b, `value ${i}`);
      entries.push(wire.KeyValue.createKeyValue(b, b.createString(`key ${i}`), value.type, value.offset));
    }
    const result = wire.OpResult.createOpResult(
      b,
      wire.Value.NONE,
      0,
      wire.OpResult.createEntriesVector(b, entries),
    );
    const results = WireResponse.createResultsVector(b, [result]);
    WireResponse.startResponse(b);
    WireResponse.addResults(b, results);
    const bytes = finished(b, WireResponse.endResponse(b), 'JBWR');
    expect(elapsedMs(() => verifyFlatBuffer(bytes, WIRE, { rootTable: 'Response' }))).toBeLessThan(
      CASE_MS_MAX,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Randomized: whatever the bytes, verifyFlatBuffer returns or throws InvalidBufferError, in bounded
// time, and a buffer it accepts reads in full through the bounds-checked reader.

type Outcome = 'valid' | 'invalid';

function checkSafe(bytes: Uint8Array, sample: Sample): Outcome {
  let outcome: Outcome = 'valid';
  const ms = elapsedMs(() => {
    outcome = 'valid';
    try {
      verifyFlatBuffer(bytes, sample.layout, { rootTable: sample.rootTable });
    } catch (error) {
      if (!(error instanceof InvalidBufferError)) throw error;
      outcome = 'invalid';
    }
  });
  expect(ms, `verifyFlatBuffer took ${ms} ms`).toBeLessThan(CASE_MS_MAX);
  if (outcome === 'valid') deepRead(bytes, sample.layout, sample.rootTable);
  return outcome;
}

type Edit =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'word'; at: number; value: number }
  | { kind: 'nudge'; at: number; delta: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'copy'; from: number; to: number; length: number }
  | { kind: 'insert'; from: number; to: number; length: number };

const INTERESTING_WORDS = [
  0, 1, 2, 3, 4, 5, 8, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
];

const editArbitrary: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('word' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(...INTERESTING_WORDS), fc.integer({ min: 0, max: 0xffff_ffff })),
  }),
  fc.record({ kind: fc.constant('nudge' as const), at: fc.nat(), delta: fc.integer({ min: -16, max: 16 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constantFrom('copy' as const, 'insert' as const),
    from: fc.nat(),
    to: fc.nat(),
    length: fc.integer({ min: 1, max: 32 }),
  }),
);

function applyEdit(bytes: Uint8Array, edit: Edit): Uint8Array {
  if (bytes.length < 4) return bytes;
  const v = viewOf(bytes);
  const at = 'at' in edit ? edit.at % (bytes.length - 3) : 0;
  switch (edit.kind) {
    case 'byte':
      bytes[at] = edit.value;
      return bytes;
    case 'word':
      v.setUint32(at, edit.value, true);
      return bytes;
    case 'nudge':
      v.setUint32(at, (v.getUint32(at, true) + edit.delta) >>> 0, true);
      return bytes;
    case 'truncate':
      return bytes.slice(0, edit.at % bytes.length);
    case 'copy':
    case 'insert': {
      const from = edit.from % bytes.length;
      const chunk = bytes.slice(from, from + edit.length);
      const to = edit.to % bytes.length;
      if (edit.kind === 'copy')
        return patched(bytes, (_, copy) => copy.set(chunk.subarray(0, bytes.length - to), to));
      const grown = new Uint8Array(bytes.length + chunk.length);
      grown.set(bytes.subarray(0, to), 0);
      grown.set(chunk, to);
      grown.set(bytes.subarray(to), to + chunk.length);
      return grown;
    }
  }
}

/** Places bytes at an odd offset inside a larger buffer, so reads past the subarray would be caught. */
function embedded(bytes: Uint8Array): Uint8Array {
  const host = new Uint8Array(bytes.length + 16).fill(0);
  host.set(bytes, 5);
  return host.subarray(5, 5 + bytes.length);
}

describe('verifyFlatBuffer on random and mutated bytes (property)', () => {
  const seed = testSeed();
  console.log(`flatbuffers-verifier properties: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
  const sampleArbitrary = fc.constantFrom(...SAMPLES);

  it('random bytes, with and without the right identifier, are rejected safely or read in full', () => {
    const input = fc.record({
      sample: sampleArbitrary,
      bytes: fc.uint8Array({ maxLength: 384 }),
      identifier: fc.boolean(),
      rootOffset: fc.option(fc.nat(), { nil: undefined }),
    });
    fc.assert(
      fc.property(input, ({ sample, bytes, identifier, rootOffset }) => {
        const buffer = bytes.slice();
        if (identifier && buffer.length >= 8)
          buffer.set(new TextEncoder().encode(sample.layout.fileIdentifier), 4);
        if (rootOffset !== undefined && buffer.length >= 8)
          viewOf(buffer).setUint32(0, rootOffset % buffer.length, true);
        checkSafe(buffer, sample);
      }),
      { seed, numRuns: 2000 },
    );
  });

  it('valid buffers damaged by overwrites, truncation and splicing are rejected safely or read in full', () => {
    const outcomes = { valid: 0, invalid: 0 };
    const input = fc.record({
      sample: sampleArbitrary,
      edits: fc.array(editArbitrary, { minLength: 1, maxLength: 5 }),
      embed: fc.boolean(),
    });
    fc.assert(
      fc.property(input, ({ sample, edits, embed }) => {
        const damaged = edits.reduce(applyEdit, sample.bytes.slice());
        outcomes[checkSafe(embed ? embedded(damaged) : damaged, sample)]++;
      }),
      { seed, numRuns: 4000 },
    );
    // Both outcomes occur, so the property exercised the accept path as well as the reject path.
    expect(outcomes.valid).toBeGreaterThan(0);
    expect(outcomes.invalid).toBeGreaterThan(0);
  });
});
