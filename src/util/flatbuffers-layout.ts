/**
 * The shape of a FlatBuffers schema as the verifier needs it: for every table, each field's vtable
 * slot and kind. `npm run schemas` derives one `SchemaLayout` per .fbs file (src/generated/<name>/
 * layout.ts) from the same source flatc reads, so the verifier and the generated accessors can
 * never disagree about a slot.
 *
 * Slots follow declaration order; a union field takes two slots, its `_type` byte first.
 */

export type ScalarType =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float32'
  | 'float64';

export const SCALAR_SIZE_BYTES: Readonly<Record<ScalarType, number>> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  float32: 4,
  float64: 8,
};

export type ElementLayout =
  | { readonly kind: 'scalar'; readonly scalar: ScalarType; readonly enumName?: string }
  | { readonly kind: 'string' }
  | { readonly kind: 'table'; readonly table: string };

export type FieldLayout =
  | {
      readonly name: string;
      readonly slot: number;
      readonly kind: 'scalar';
      readonly scalar: ScalarType;
      readonly enumName?: string;
    }
  | { readonly name: string; readonly slot: number; readonly kind: 'unionType'; readonly union: string }
  | { readonly name: string; readonly slot: number; readonly kind: 'string'; readonly required: boolean }
  | {
      readonly name: string;
      readonly slot: number;
      readonly kind: 'table';
      readonly table: string;
      readonly required: boolean;
    }
  | {
      readonly name: string;
      readonly slot: number;
      readonly kind: 'union';
      readonly union: string;
      readonly required: boolean;
    }
  | {
      readonly name: string;
      readonly slot: number;
      readonly kind: 'vector';
      readonly element: ElementLayout;
      readonly required: boolean;
    };

export interface TableLayout {
  readonly fields: readonly FieldLayout[];
}

export interface EnumLayout {
  readonly scalar: ScalarType;
  /** Every declared value; the verifier rejects any other. */
  readonly values: readonly number[];
}

export interface SchemaLayout {
  readonly namespace: string;
  readonly fileIdentifier: string;
  readonly rootType: string;
  readonly tables: Readonly<Record<string, TableLayout>>;
  readonly enums: Readonly<Record<string, EnumLayout>>;
  /** Member table names; a union's type byte is the member's index + 1 (0 is NONE). */
  readonly unions: Readonly<Record<string, readonly string[]>>;
}
