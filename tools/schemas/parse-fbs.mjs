/**
 * A parser for the subset of the FlatBuffers schema language that schemas/*.fbs use: namespace,
 * file_identifier, root_type, enums, unions and tables with scalar, string, vector, table, enum and
 * union fields, defaults and the (required) attribute. It exists to derive the verifier's layouts
 * (src/util/flatbuffers-layout.ts) from the same text flatc compiles; anything outside the subset
 * (structs, includes, id attributes, vectors of unions) is an error rather than a silent guess.
 */

const SCALARS = {
  bool: 'bool',
  byte: 'int8',
  int8: 'int8',
  ubyte: 'uint8',
  uint8: 'uint8',
  short: 'int16',
  int16: 'int16',
  ushort: 'uint16',
  uint16: 'uint16',
  int: 'int32',
  int32: 'int32',
  uint: 'uint32',
  uint32: 'uint32',
  long: 'int64',
  int64: 'int64',
  ulong: 'uint64',
  uint64: 'uint64',
  float: 'float32',
  float32: 'float32',
  double: 'float64',
  float64: 'float64',
};

function tokenize(text) {
  const withoutComments = text.replace(/\/\/[^\n]*/g, ' ');
  const tokens = withoutComments.match(/"[^"]*"|[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?|[{}[\]():;=,]/g);
  return tokens ?? [];
}

class Cursor {
  constructor(tokens) {
    this.tokens = tokens;
    this.index = 0;
  }
  peek() {
    return this.tokens[this.index];
  }
  next() {
    const token = this.tokens[this.index++];
    if (token === undefined) throw new Error('unexpected end of schema');
    return token;
  }
  expect(token) {
    const actual = this.next();
    if (actual !== token) throw new Error(`expected '${token}' but found '${actual}'`);
  }
  done() {
    return this.index >= this.tokens.length;
  }
}

/** Parses schema text into declarations in source order. */
export function parseFbs(text) {
  const cursor = new Cursor(tokenize(text));
  const schema = { namespace: '', fileIdentifier: '', rootType: '', enums: {}, unions: {}, tables: {} };
  while (!cursor.done()) {
    const keyword = cursor.next();
    if (keyword === 'namespace') {
      schema.namespace = cursor.next();
      cursor.expect(';');
    } else if (keyword === 'file_identifier') {
      schema.fileIdentifier = JSON.parse(cursor.next());
      cursor.expect(';');
    } else if (keyword === 'root_type') {
      schema.rootType = cursor.next();
      cursor.expect(';');
    } else if (keyword === 'enum') {
      parseEnum(cursor, schema);
    } else if (keyword === 'union') {
      parseUnion(cursor, schema);
    } else if (keyword === 'table') {
      parseTable(cursor, schema);
    } else {
      throw new Error(`unsupported schema construct '${keyword}'`);
    }
  }
  return schema;
}

function parseEnum(cursor, schema) {
  const name = cursor.next();
  cursor.expect(':');
  const scalar = SCALARS[cursor.next()];
  if (scalar === undefined || scalar === 'bool' || scalar.startsWith('float')) {
    throw new Error(`enum ${name} needs an integer type`);
  }
  cursor.expect('{');
  const values = [];
  let nextValue = 0;
  while (cursor.peek() !== '}') {
    cursor.next();
    if (cursor.peek() === '=') {
      cursor.next();
      nextValue = Number(cursor.next());
    }
    values.push(nextValue);
    nextValue += 1;
    if (cursor.peek() === ',') cursor.next();
  }
  cursor.expect('}');
  schema.enums[name] = { scalar, values };
}

function parseUnion(cursor, schema) {
  const name = cursor.next();
  cursor.expect('{');
  const members = [];
  while (cursor.peek() !== '}') {
    members.push(cursor.next());
    if (cursor.peek() === ',') cursor.next();
  }
  cursor.expect('}');
  schema.unions[name] = members;
}

function parseTable(cursor, schema) {
  const name = cursor.next();
  cursor.expect('{');
  const fields = [];
  while (cursor.peek() !== '}') {
    const fieldName = cursor.next();
    cursor.expect(':');
    let type;
    if (cursor.peek() === '[') {
      cursor.next();
      type = { vectorOf: cursor.next() };
      cursor.expect(']');
    } else {
      type = { name: cursor.next() };
    }
    if (cursor.peek() === '=') {
      cursor.next();
      cursor.next(); // the default value matters to accessors, not to the verifier
    }
    const attributes = [];
    if (cursor.peek() === '(') {
      cursor.next();
      while (cursor.peek() !== ')') {
        const attribute = cursor.next();
        if (attribute !== ',') attributes.push(attribute);
      }
      cursor.expect(')');
    }
    for (const attribute of attributes) {
      if (attribute !== 'required')
        throw new Error(`unsupported attribute (${attribute}) on ${name}.${fieldName}`);
    }
    cursor.expect(';');
    fields.push({ name: fieldName, type, required: attributes.includes('required') });
  }
  cursor.expect('}');
  schema.tables[name] = fields;
}

/** Resolves parsed declarations into a SchemaLayout (see src/util/flatbuffers-layout.ts). */
export function toLayout(schema) {
  const tables = {};
  for (const [tableName, fields] of Object.entries(schema.tables)) {
    let slot = 0;
    const out = [];
    for (const field of fields) {
      const resolved = resolveField(schema, tableName, field, slot);
      out.push(...resolved);
      slot += resolved.length;
    }
    tables[tableName] = { fields: out };
  }
  if (schema.tables[schema.rootType] === undefined)
    throw new Error(`root_type ${schema.rootType} is not a table`);
  for (const [unionName, members] of Object.entries(schema.unions)) {
    for (const member of members) {
      if (schema.tables[member] === undefined)
        throw new Error(`union ${unionName} member ${member} is not a table`);
    }
  }
  return {
    namespace: schema.namespace,
    fileIdentifier: schema.fileIdentifier,
    rootType: schema.rootType,
    tables,
    enums: schema.enums,
    unions: schema.unions,
  };
}

function resolveElement(schema, typeName, where) {
  if (SCALARS[typeName] !== undefined) return { kind: 'scalar', scalar: SCALARS[typeName] };
  if (typeName === 'string') return { kind: 'string' };
  if (schema.enums[typeName] !== undefined) {
    return { kind: 'scalar', scalar: schema.enums[typeName].scalar, enumName: typeName };
  }
  if (schema.tables[typeName] !== undefined) return { kind: 'table', table: typeName };
  if (schema.unions[typeName] !== undefined) return { kind: 'union', union: typeName };
  throw new Error(`unknown type ${typeName} in ${where}`);
}

function resolveField(schema, tableName, field, slot) {
  const where = `${tableName}.${field.name}`;
  if (field.type.vectorOf !== undefined) {
    const element = resolveElement(schema, field.type.vectorOf, where);
    if (element.kind === 'union') throw new Error(`vectors of unions are not supported (${where})`);
    return [{ name: field.name, slot, kind: 'vector', element, required: field.required }];
  }
  const resolved = resolveElement(schema, field.type.name, where);
  if (resolved.kind === 'scalar') {
    if (field.required) throw new Error(`scalar ${where} cannot be required`);
    return [{ name: field.name, slot, ...resolved }];
  }
  if (resolved.kind === 'union') {
    return [
      { name: `${field.name}_type`, slot, kind: 'unionType', union: resolved.union },
      { name: field.name, slot: slot + 1, kind: 'union', union: resolved.union, required: field.required },
    ];
  }
  return [{ name: field.name, slot, ...resolved, required: field.required }];
}
