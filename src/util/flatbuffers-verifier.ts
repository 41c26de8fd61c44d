/**
 * A FlatBuffers verifier for every buffer that comes from outside the process: wire requests, WAL and
 * value-log records, the manifest and superblocks. The JavaScript flatbuffers runtime has none, and its
 * generated accessors follow every offset they find, so a corrupt or hostile buffer would make them
 * read past the end or decode garbage. `verifyFlatBuffer` walks a buffer along its `SchemaLayout` and
 * returns only when every read the generated accessors for that root can make stays in bounds and
 * yields a declared value; otherwise it throws `InvalidBufferError` naming the path and offset.
 *
 * Invariants: nothing is read before its bounds are checked; the walk is bounded by a nesting depth, a
 * table count and a work budget linear in the buffer length (shared sub-objects would otherwise make it
 * superlinear, or exponential through shared tables); nothing is allocated in proportion to a length
 * read from the buffer.
 *
 * The rules follow flatbuffers/verifier.h (C++), with these differences:
 *   - stricter: enum fields must hold a declared value and bools 0 or 1; a union whose type is NONE but
 *     has a value, whose type is unknown, or whose type is set without a value is rejected (C++ accepts
 *     all three); every present field must lie within its table's inline bytes (C++ checks only the
 *     buffer); a vtable's size and its field offsets must be at most 0x7fff, because the JS runtime
 *     reads them with readInt16 and would see a larger one as negative.
 *   - looser: alignment is not checked. The JS runtime reads byte by byte, so a misaligned field is as
 *     safe to read as an aligned one, and our writers (the flatbuffers Builder) always align.
 */
import { isUtf8 } from 'node:buffer';
import { assert } from './assert.js';
import { JubilantError } from './errors.js';
import {
  type ElementLayout,
  type FieldLayout,
  SCALAR_SIZE_BYTES,
  type ScalarType,
  type SchemaLayout,
} from './flatbuffers-layout.js';

/**
 * FlatBuffers framing (https://flatbuffers.dev/internals/)
 *   offset  size  field            notes
 *   0       4     root             u32 LE uoffset to the root table, relative to offset 0
 *   4       4     fileIdentifier   4 ASCII bytes, e.g. JBWR
 * A table starts with an s32 soffset: its vtable is at `table - soffset`. A vtable is u16 vtableBytes,
 * u16 inlineBytes (the table's), then one u16 voffset per field slot (0 = absent). A uoffset is a u32
 * added to its own position. Strings are u32 length + bytes + a 0 byte; vectors u32 length + elements.
 */
const UOFFSET_BYTES = 4;
const SOFFSET_BYTES = 4;
const VOFFSET_BYTES = 2;
const LENGTH_BYTES = 4;
const FILE_IDENTIFIER_BYTES = 4;
const STRING_TERMINATOR_BYTES = 1;
const UNION_TYPE_BYTES = SCALAR_SIZE_BYTES.uint8;
const BUFFER_BYTES_MIN = UOFFSET_BYTES + FILE_IDENTIFIER_BYTES;
/** FlatBuffers' own maximum (FLATBUFFERS_MAX_BUFFER_SIZE): offsets are 32-bit and signed where relative. */
const BUFFER_BYTES_MAX = 2 ** 31 - 1;
const VTABLE_HEADER_BYTES = 2 * VOFFSET_BYTES;
/** The JS runtime reads vtable sizes and voffsets with readInt16: anything above this would be negative. */
const VOFFSET_MAX = 0x7fff;
const UNION_TYPE_NONE = 0;

/** C++ verifier defaults. Our schemas nest at most 4 tables deep (Response.results[].entries[].value). */
const DEPTH_MAX_DEFAULT = 64;
const TABLES_MAX_DEFAULT = 1_000_000;
/** Recursion is three JS frames per level; this keeps a caller's maxDepth far from the stack limit. */
const DEPTH_MAX_LIMIT = 1024;

/**
 * The work budget, in units of a few nanoseconds each: a table costs TABLE_WORK_UNITS plus one per
 * field of its layout, a string STRING_WORK_UNITS plus its length, a vector one plus one per element
 * checked. A buffer whose every object is referenced once costs at most about 4 units per byte (an
 * empty table is 8 bytes: its offset and its soffset), so 64 per byte leaves ample room for benign
 * sharing while hostile sharing stays linear in the buffer length; the base lets tiny buffers finish.
 */
const WORK_UNITS_PER_BYTE = 64;
const WORK_UNITS_BASE = 4096;
const TABLE_WORK_UNITS = 16;
const STRING_WORK_UNITS = 8;
const VECTOR_WORK_UNITS = 1;
/** Strings up to this length are checked for ASCII inline: cheaper than a subarray and a native call. */
const SHORT_STRING_BYTES = 64;

assert(BUFFER_BYTES_MIN === 8, 'a buffer holds at least its root offset and file identifier');
assert(VTABLE_HEADER_BYTES >= 2 * VOFFSET_BYTES && VTABLE_HEADER_BYTES <= VOFFSET_MAX);
assert(Number.isSafeInteger(WORK_UNITS_PER_BYTE * BUFFER_BYTES_MAX + WORK_UNITS_BASE));
assert(DEPTH_MAX_DEFAULT <= DEPTH_MAX_LIMIT);

export interface VerifyFlatBufferOptions {
  /** The table the root offset points at; defaults to `layout.rootType`. */
  rootTable?: string;
  /** Whether bytes 4..8 must equal `layout.fileIdentifier`; defaults to true. */
  checkIdentifier?: boolean;
  /** The deepest nesting of tables allowed, the root being depth 1; defaults to 64. */
  maxDepth?: number;
  /** The most table visits allowed (a shared table counts once per reference); defaults to 1,000,000. */
  maxTables?: number;
}

export type InvalidBufferCode = 'MALFORMED_FRAME' | 'INVALID_UTF8';

export interface InvalidBufferLocation {
  /** Where in the object tree, e.g. `Request.body<Txn>.keys[3].key`. */
  path: string;
  offsetBytes: number;
}

/** A buffer failed verification. `reason` says what was wrong; `path` and `offsetBytes` say where. */
export class InvalidBufferError extends JubilantError {
  override name = 'InvalidBufferError';
  readonly reason: string;
  readonly path: string;
  readonly offsetBytes: number;

  constructor(code: InvalidBufferCode, reason: string, location: InvalidBufferLocation) {
    super(code, `invalid FlatBuffers buffer: ${reason} at ${location.path} (offset ${location.offsetBytes})`);
    this.reason = reason;
    this.path = location.path;
    this.offsetBytes = location.offsetBytes;
  }
}

/**
 * Returns only if `bytes` is safe to read with the generated accessors for the root table (see the
 * module comment for the rules); otherwise throws InvalidBufferError. `bytes` may be a subarray.
 */
export function verifyFlatBuffer(
  bytes: Uint8Array,
  layout: SchemaLayout,
  options: VerifyFlatBufferOptions = {},
): void {
  const rootName = options.rootTable ?? layout.rootType;
  const depthMax = options.maxDepth ?? DEPTH_MAX_DEFAULT;
  const tablesMax = options.maxTables ?? TABLES_MAX_DEFAULT;
  const root = compiledLayout(layout).get(rootName);
  assert(root !== undefined, `layout ${layout.namespace} has no table ${rootName}`);
  assert(Number.isInteger(depthMax) && depthMax >= 1 && depthMax <= DEPTH_MAX_LIMIT, 'maxDepth range');
  assert(Number.isInteger(tablesMax) && tablesMax >= 1, 'maxTables must be a positive integer');

  const walker = new BufferWalker({ bytes, rootName, depthMax, tablesMax });
  const checkIdentifier = options.checkIdentifier ?? true;
  walker.verifyFraming(checkIdentifier ? layout.fileIdentifier : '');
  walker.verifyRoot(root);
}

// ---------------------------------------------------------------------------------------------------
// The layout, compiled once per SchemaLayout into objects of one shape per kind, so that the walk over
// every field of every table makes monomorphic property loads and set lookups instead of reading the
// layout's heterogeneous literals (which made a small transaction cost twice as much to verify).

interface CompiledScalar {
  readonly scalar: ScalarType;
  readonly sizeBytes: number;
  readonly isBool: boolean;
  readonly enumName: string;
  /** The declared values of an enum; null for a plain scalar. */
  readonly enumValues: ReadonlySet<number> | null;
}

interface CompiledTable {
  readonly name: string;
  readonly fields: CompiledField[];
  /** What one visit charges to the work budget. */
  workUnits: number;
}

interface CompiledElement {
  readonly kind: ElementLayout['kind'];
  readonly sizeBytes: number;
  readonly scalar: CompiledScalar | null;
  readonly table: CompiledTable | null;
  /** Whether each element needs a look (strings, tables, bools, enums) or the bounds suffice. */
  readonly perElement: boolean;
}

interface CompiledField {
  readonly name: string;
  readonly kind: FieldLayout['kind'];
  /** Where the field's voffset sits in a vtable: after the two header u16s, one u16 per slot. */
  readonly entryBytes: number;
  /** The bytes the field occupies in the table's inline data. */
  readonly sizeBytes: number;
  readonly required: boolean;
  readonly scalar: CompiledScalar | null;
  readonly table: CompiledTable | null;
  readonly element: CompiledElement | null;
  /** For a union: its name, the vtable entry of its `_type` field, and its members (type i + 1). */
  readonly unionName: string;
  readonly typeEntryBytes: number;
  readonly members: readonly CompiledTable[] | null;
}

const compiledLayouts = new WeakMap<SchemaLayout, ReadonlyMap<string, CompiledTable>>();

function compiledLayout(layout: SchemaLayout): ReadonlyMap<string, CompiledTable> {
  const cached = compiledLayouts.get(layout);
  if (cached !== undefined) return cached;
  const tables = new Map<string, CompiledTable>();
  for (const name of Object.keys(layout.tables)) tables.set(name, { name, fields: [], workUnits: 0 });
  for (const [name, table] of Object.entries(layout.tables)) {
    const compiled = tables.get(name) as CompiledTable;
    table.fields.forEach((field, i) => {
      compiled.fields.push(compileField(layout, tables, field, table.fields[i - 1]));
    });
    compiled.workUnits = TABLE_WORK_UNITS + compiled.fields.length;
  }
  compiledLayouts.set(layout, tables);
  return tables;
}

function compileField(
  layout: SchemaLayout,
  tables: ReadonlyMap<string, CompiledTable>,
  field: FieldLayout,
  previous: FieldLayout | undefined,
): CompiledField {
  assert(Number.isInteger(field.slot) && field.slot >= 0, `layout: ${field.name} has a bad slot`);
  const entryBytes = VTABLE_HEADER_BYTES + VOFFSET_BYTES * field.slot;
  assert(entryBytes + VOFFSET_BYTES <= VOFFSET_MAX, `layout: ${field.name} has too high a slot`);
  const base = {
    name: field.name,
    kind: field.kind,
    entryBytes,
    sizeBytes: UOFFSET_BYTES,
    required: 'required' in field && field.required,
    scalar: null,
    table: null,
    element: null,
    unionName: '',
    typeEntryBytes: 0,
    members: null,
  };
  switch (field.kind) {
    case 'scalar': {
      const scalar = compileScalar(layout, field.scalar, field.enumName);
      return { ...base, sizeBytes: scalar.sizeBytes, scalar };
    }
    case 'unionType':
      return { ...base, sizeBytes: UNION_TYPE_BYTES };
    case 'string':
      return base;
    case 'table':
      return { ...base, table: tableNamed(tables, field.table) };
    case 'vector':
      return { ...base, element: compileElement(layout, tables, field.element) };
    case 'union':
      return { ...base, ...compileUnion(layout, tables, field, previous) };
  }
}

function compileUnion(
  layout: SchemaLayout,
  tables: ReadonlyMap<string, CompiledTable>,
  field: Extract<FieldLayout, { kind: 'union' }>,
  typeField: FieldLayout | undefined,
): Pick<CompiledField, 'unionName' | 'typeEntryBytes' | 'members'> {
  assert(
    typeField?.kind === 'unionType' && typeField.union === field.union && typeField.slot === field.slot - 1,
    `layout: union ${field.name} must follow its _type field`,
  );
  const members = layout.unions[field.union];
  assert(
    members !== undefined && members.length <= 255,
    `layout: union ${field.union} is missing or too big`,
  );
  return {
    unionName: field.union,
    typeEntryBytes: VTABLE_HEADER_BYTES + VOFFSET_BYTES * typeField.slot,
    members: members.map((member) => tableNamed(tables, member)),
  };
}

function compileElement(
  layout: SchemaLayout,
  tables: ReadonlyMap<string, CompiledTable>,
  element: ElementLayout,
): CompiledElement {
  if (element.kind === 'string') {
    return { kind: 'string', sizeBytes: UOFFSET_BYTES, scalar: null, table: null, perElement: true };
  }
  if (element.kind === 'table') {
    const table = tableNamed(tables, element.table);
    return { kind: 'table', sizeBytes: UOFFSET_BYTES, scalar: null, table, perElement: true };
  }
  const scalar = compileScalar(layout, element.scalar, element.enumName);
  const perElement = scalar.isBool || scalar.enumValues !== null;
  return { kind: 'scalar', sizeBytes: scalar.sizeBytes, scalar, table: null, perElement };
}

function compileScalar(
  layout: SchemaLayout,
  scalar: ScalarType,
  enumName: string | undefined,
): CompiledScalar {
  const sizeBytes = SCALAR_SIZE_BYTES[scalar];
  if (enumName === undefined) {
    return { scalar, sizeBytes, isBool: scalar === 'bool', enumName: '', enumValues: null };
  }
  const enumLayout = layout.enums[enumName];
  assert(
    enumLayout !== undefined && enumLayout.scalar === scalar,
    `layout: enum ${enumName} is missing or mismatched`,
  );
  assert(scalar !== 'float32' && scalar !== 'float64' && scalar !== 'bool', 'layout: enums are integers');
  return { scalar, sizeBytes, isBool: false, enumName, enumValues: new Set(enumLayout.values) };
}

function tableNamed(tables: ReadonlyMap<string, CompiledTable>, name: string): CompiledTable {
  const table = tables.get(name);
  assert(table !== undefined, `layout: no table ${name}`);
  return table;
}

// ---------------------------------------------------------------------------------------------------
// The walk.

interface WalkerOptions {
  bytes: Uint8Array;
  rootName: string;
  depthMax: number;
  tablesMax: number;
}

/** Where a table's vtable is and how big the two are, once both have been bounds-checked. */
interface TableView {
  readonly positionBytes: number;
  readonly vtablePositionBytes: number;
  readonly vtableBytes: number;
  readonly inlineBytes: number;
}

const ABSENT = -1;

class BufferWalker {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly lengthBytes: number;
  private readonly rootName: string;
  private readonly depthMax: number;
  private readonly tablesMax: number;
  private depth = 0;
  private tableCount = 0;
  private workUnitsLeft: number;
  // The path from the root to the field being checked, as parallel stacks so that a valid buffer
  // builds no strings: `pathText` joins them only when an error is thrown.
  private readonly pathFields: string[] = [];
  private readonly pathMembers: string[] = [];
  private readonly pathIndexes: number[] = [];
  private pathLength = 0;

  constructor(options: WalkerOptions) {
    this.bytes = options.bytes;
    this.view = new DataView(options.bytes.buffer, options.bytes.byteOffset, options.bytes.length);
    this.lengthBytes = options.bytes.length;
    this.rootName = options.rootName;
    this.depthMax = options.depthMax;
    this.tablesMax = options.tablesMax;
    this.workUnitsLeft = WORK_UNITS_PER_BYTE * this.lengthBytes + WORK_UNITS_BASE;
  }

  /** Checks the length and, unless `identifier` is empty, the file identifier. */
  verifyFraming(identifier: string): void {
    if (this.lengthBytes < BUFFER_BYTES_MIN) {
      this.fail(
        `buffer of ${this.lengthBytes} bytes is shorter than the ${BUFFER_BYTES_MIN}-byte minimum`,
        0,
      );
    }
    if (this.lengthBytes > BUFFER_BYTES_MAX) {
      this.fail(`buffer of ${this.lengthBytes} bytes is longer than the FlatBuffers maximum`, 0);
    }
    if (identifier === '') return;
    assert(identifier.length === FILE_IDENTIFIER_BYTES, `file identifier ${identifier} is not 4 characters`);
    for (let i = 0; i < FILE_IDENTIFIER_BYTES; i++) {
      if (this.bytes[UOFFSET_BYTES + i] !== identifier.charCodeAt(i)) {
        this.fail(`file identifier is not ${identifier}`, UOFFSET_BYTES);
      }
    }
  }

  verifyRoot(root: CompiledTable): void {
    assert(root.name === this.rootName);
    this.verifyTable(this.readOffset(0), root);
    assert(this.depth === 0 && this.pathLength === 0, 'the walk returns to the root');
    assert(this.workUnitsLeft >= 0 && this.tableCount <= this.tablesMax);
  }

  private verifyTable(positionBytes: number, table: CompiledTable): void {
    this.enterTable(positionBytes, table);
    const view = this.tableView(positionBytes);
    const fields = table.fields;
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i] as CompiledField;
      this.pushPath(field.name);
      this.verifyField(view, field);
      this.popPath();
    }
    this.depth--;
  }

  private enterTable(positionBytes: number, table: CompiledTable): void {
    this.depth++;
    this.tableCount++;
    if (this.depth > this.depthMax) {
      this.fail(`tables nest deeper than maxDepth ${this.depthMax}`, positionBytes);
    }
    if (this.tableCount > this.tablesMax) {
      this.fail(`more than maxTables ${this.tablesMax} table visits`, positionBytes);
    }
    this.charge(table.workUnits, positionBytes);
  }

  /** Checks the soffset, the vtable and the table's inline bytes; every field check relies on these. */
  private tableView(positionBytes: number): TableView {
    this.requireRange(positionBytes, SOFFSET_BYTES, 'table soffset');
    const vtablePositionBytes = positionBytes - this.view.getInt32(positionBytes, true);
    if (vtablePositionBytes < 0 || vtablePositionBytes > this.lengthBytes - VTABLE_HEADER_BYTES) {
      this.fail(
        `vtable at ${vtablePositionBytes} lies outside the ${this.lengthBytes}-byte buffer`,
        positionBytes,
      );
    }
    const vtableBytes = this.view.getUint16(vtablePositionBytes, true);
    if (vtableBytes % VOFFSET_BYTES !== 0 || vtableBytes < VTABLE_HEADER_BYTES || vtableBytes > VOFFSET_MAX) {
      this.fail(`vtable size ${vtableBytes} is odd, below 4 or above ${VOFFSET_MAX}`, vtablePositionBytes);
    }
    this.requireRange(vtablePositionBytes, vtableBytes, 'vtable');
    const inlineBytes = this.view.getUint16(vtablePositionBytes + VOFFSET_BYTES, true);
    if (inlineBytes < SOFFSET_BYTES) {
      this.fail(`table inline size ${inlineBytes} is below ${SOFFSET_BYTES}`, vtablePositionBytes);
    }
    this.requireRange(positionBytes, inlineBytes, 'table inline bytes');
    return { positionBytes, vtablePositionBytes, vtableBytes, inlineBytes };
  }

  /**
   * The position of a present field after checking that it lies within the table, or ABSENT. Entries
   * past the vtable's end are absent: the writer predates them (forward compatibility, not damage).
   */
  private fieldPosition(table: TableView, entryBytes: number, sizeBytes: number): number {
    if (entryBytes >= table.vtableBytes) return ABSENT;
    const voffset = this.view.getUint16(table.vtablePositionBytes + entryBytes, true);
    if (voffset === 0) return ABSENT;
    if (voffset < SOFFSET_BYTES || voffset > VOFFSET_MAX || voffset + sizeBytes > table.inlineBytes) {
      this.fail(
        `field at voffset ${voffset} (${sizeBytes} bytes) lies outside the table's ${table.inlineBytes} inline bytes`,
        table.positionBytes,
      );
    }
    assert(table.positionBytes + voffset + sizeBytes <= this.lengthBytes, 'inline bytes were bounds-checked');
    return table.positionBytes + voffset;
  }

  private verifyField(table: TableView, field: CompiledField): void {
    if (field.kind === 'union') {
      this.verifyUnion(table, field);
      return;
    }
    const position = this.fieldPosition(table, field.entryBytes, field.sizeBytes);
    if (position === ABSENT) {
      if (field.required) this.fail('required field is missing', table.positionBytes);
      return;
    }
    // A union's _type needs only the bounds check above: verifyUnion checks its value.
    if (field.kind === 'unionType') return;
    if (field.scalar !== null) this.verifyScalar(position, field.scalar);
    else if (field.table !== null) this.verifyTable(this.readOffset(position), field.table);
    else if (field.element !== null) this.verifyVector(this.readOffset(position), field.element);
    else {
      assert(field.kind === 'string', `compiled ${field.kind} field ${field.name} has nothing to check`);
      this.verifyString(this.readOffset(position));
    }
  }

  private verifyUnion(table: TableView, field: CompiledField): void {
    assert(field.members !== null, 'a compiled union has members');
    const typePosition = this.fieldPosition(table, field.typeEntryBytes, UNION_TYPE_BYTES);
    const type = typePosition === ABSENT ? UNION_TYPE_NONE : this.view.getUint8(typePosition);
    const typeOffsetBytes = typePosition === ABSENT ? table.positionBytes : typePosition;
    const valuePosition = this.fieldPosition(table, field.entryBytes, UOFFSET_BYTES);
    if (valuePosition === ABSENT) {
      if (type !== UNION_TYPE_NONE) this.fail(`union type ${type} has no value`, typeOffsetBytes);
      if (field.required) this.fail('required field is missing', table.positionBytes);
      return;
    }
    if (type === UNION_TYPE_NONE) this.fail('union type is NONE but a value is present', valuePosition);
    const member = field.members[type - 1];
    if (member === undefined) this.fail(`unknown union type ${type} for ${field.unionName}`, typeOffsetBytes);
    this.pathMembers[this.pathLength - 1] = member.name;
    this.verifyTable(this.readOffset(valuePosition), member);
  }

  private verifyScalar(positionBytes: number, scalar: CompiledScalar): void {
    if (scalar.isBool) {
      const value = this.view.getUint8(positionBytes);
      if (value > 1) this.fail(`bool holds ${value}, not 0 or 1`, positionBytes);
      return;
    }
    if (scalar.enumValues === null) return;
    const value = this.readInteger(positionBytes, scalar.scalar);
    if (!scalar.enumValues.has(value)) {
      this.fail(`${value} is not a declared value of enum ${scalar.enumName}`, positionBytes);
    }
  }

  private readInteger(positionBytes: number, scalar: ScalarType): number {
    switch (scalar) {
      case 'bool':
      case 'uint8':
        return this.view.getUint8(positionBytes);
      case 'int8':
        return this.view.getInt8(positionBytes);
      case 'uint16':
        return this.view.getUint16(positionBytes, true);
      case 'int16':
        return this.view.getInt16(positionBytes, true);
      case 'uint32':
        return this.view.getUint32(positionBytes, true);
      case 'int32':
        return this.view.getInt32(positionBytes, true);
      // A 64-bit value past 2^53 rounds to a number no declared (small) enum value can equal.
      case 'uint64':
        return Number(this.view.getBigUint64(positionBytes, true));
      case 'int64':
        return Number(this.view.getBigInt64(positionBytes, true));
      case 'float32':
      case 'float64':
        assert(false, 'FlatBuffers enums are integers');
    }
  }

  private verifyString(positionBytes: number): void {
    this.requireRange(positionBytes, LENGTH_BYTES, 'string length');
    const lengthBytes = this.view.getUint32(positionBytes, true);
    const start = positionBytes + LENGTH_BYTES;
    if (lengthBytes > this.lengthBytes - start - STRING_TERMINATOR_BYTES) {
      this.fail(`string of ${lengthBytes} bytes and its terminator run past the end`, positionBytes);
    }
    const end = start + lengthBytes;
    if (this.bytes[end] !== 0) this.fail('string is not followed by a 0 terminator', end);
    this.charge(STRING_WORK_UNITS + lengthBytes, positionBytes);
    if (!this.isWellFormedUtf8(start, end))
      this.fail('string is not well-formed UTF-8', start, 'INVALID_UTF8');
  }

  private isWellFormedUtf8(start: number, end: number): boolean {
    if (end - start <= SHORT_STRING_BYTES) {
      let i = start;
      while (i < end && (this.bytes[i] as number) < 0x80) i++;
      if (i === end) return true;
    }
    return isUtf8(this.bytes.subarray(start, end));
  }

  private verifyVector(positionBytes: number, element: CompiledElement): void {
    this.requireRange(positionBytes, LENGTH_BYTES, 'vector length');
    const count = this.view.getUint32(positionBytes, true);
    const start = positionBytes + LENGTH_BYTES;
    // Divide rather than multiply, so a huge count cannot overflow into a small byte size.
    if (count > Math.floor((this.lengthBytes - start) / element.sizeBytes)) {
      this.fail(`vector of ${count} ${element.sizeBytes}-byte elements runs past the end`, positionBytes);
    }
    this.charge(VECTOR_WORK_UNITS, positionBytes);
    if (!element.perElement) return;
    const top = this.pathLength - 1;
    for (let i = 0; i < count; i++) {
      const elementPosition = start + i * element.sizeBytes;
      this.pathIndexes[top] = i;
      this.charge(1, elementPosition);
      if (element.scalar !== null) this.verifyScalar(elementPosition, element.scalar);
      else if (element.table !== null) this.verifyTable(this.readOffset(elementPosition), element.table);
      else this.verifyString(this.readOffset(elementPosition));
    }
    this.pathIndexes[top] = -1;
  }

  /** Follows the uoffset at `positionBytes`; the target is in bounds, and past the offset itself. */
  private readOffset(positionBytes: number): number {
    this.requireRange(positionBytes, UOFFSET_BYTES, 'offset');
    const offset = this.view.getUint32(positionBytes, true);
    if (offset === 0) this.fail('offset 0 points at itself', positionBytes);
    const target = positionBytes + offset;
    if (target >= this.lengthBytes) {
      this.fail(`offset ${offset} points past the end of the ${this.lengthBytes}-byte buffer`, positionBytes);
    }
    assert(target > positionBytes && target < BUFFER_BYTES_MAX, 'offsets only point forward');
    return target;
  }

  private requireRange(positionBytes: number, sizeBytes: number, what: string): void {
    if (positionBytes < 0 || sizeBytes > this.lengthBytes || positionBytes > this.lengthBytes - sizeBytes) {
      this.fail(
        `${what} (${sizeBytes} bytes) lies outside the ${this.lengthBytes}-byte buffer`,
        positionBytes,
      );
    }
  }

  private charge(units: number, positionBytes: number): void {
    this.workUnitsLeft -= units;
    if (this.workUnitsLeft < 0) {
      this.fail('verification work budget exhausted (too many shared or repeated objects)', positionBytes);
    }
  }

  private pushPath(fieldName: string): void {
    this.pathFields[this.pathLength] = fieldName;
    this.pathMembers[this.pathLength] = '';
    this.pathIndexes[this.pathLength] = -1;
    this.pathLength++;
  }

  private popPath(): void {
    assert(this.pathLength > 0, 'path pops match pushes');
    this.pathLength--;
  }

  private pathText(): string {
    let text = this.rootName;
    for (let i = 0; i < this.pathLength; i++) {
      text += `.${this.pathFields[i] ?? '?'}`;
      const member = this.pathMembers[i] ?? '';
      if (member !== '') text += `<${member}>`;
      const index = this.pathIndexes[i] ?? -1;
      if (index >= 0) text += `[${index}]`;
    }
    return text;
  }

  private fail(reason: string, offsetBytes: number, code: InvalidBufferCode = 'MALFORMED_FRAME'): never {
    throw new InvalidBufferError(code, reason, { path: this.pathText(), offsetBytes });
  }
}
