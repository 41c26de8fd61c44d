/**
 * The SHA-256 of each schema file, as constants that the MANIFEST records. They come from the
 * generated layouts, which `npm run schemas` stamps; test/schemas/generated.test.ts recomputes them from
 * schemas/*.fbs, so a schema edited without regenerating fails the tests.
 */
import { SCHEMA_SHA256 as DISK_SCHEMA_SHA256 } from '../generated/disk/layout.js';
import { SCHEMA_SHA256 as WAL_SCHEMA_SHA256 } from '../generated/wal/layout.js';
import { SCHEMA_SHA256 as WIRE_SCHEMA_SHA256 } from '../generated/wire/layout.js';

export const SCHEMA_SHA256 = {
  disk: DISK_SCHEMA_SHA256,
  wal: WAL_SCHEMA_SHA256,
  wire: WIRE_SCHEMA_SHA256,
} as const;

export type SchemaName = keyof typeof SCHEMA_SHA256;
