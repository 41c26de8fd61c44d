/**
 * Opens a FlatBuffers payload read from a file: verify it against the schema layout, then hand the
 * generated accessors a ByteBuffer. Bytes from disk that fail verification are corruption of that file,
 * never an assertion failure, so the error names the file, the offset and the root being read.
 */
import * as flatbuffers from 'flatbuffers';
import { copyBytes } from './byte-slab.js';
import { CorruptionError, isJubilantError } from './errors.js';
import type { SchemaLayout } from './flatbuffers-layout.js';
import { verifyFlatBuffer } from './flatbuffers-verifier.js';

export interface StoredBufferContext {
  readonly file: string;
  readonly offsetBytes?: number;
}

export function openStoredBuffer(
  payload: Uint8Array,
  layout: SchemaLayout,
  rootTable: string,
  context: StoredBufferContext,
): flatbuffers.ByteBuffer {
  try {
    verifyFlatBuffer(payload, layout, { rootTable });
  } catch (error) {
    if (!isJubilantError(error)) throw error;
    throw new CorruptionError(
      `invalid ${rootTable}: ${error.message}`,
      { ...context, what: rootTable },
      {
        cause: error,
      },
    );
  }
  return new flatbuffers.ByteBuffer(payload);
}

/**
 * Finishes a buffer with the schema's file identifier and returns a copy of exactly its bytes (a slab
 * piece when small: see byte-slab.ts), so the builder may be reused at once.
 */
export function finishBuffer(
  builder: flatbuffers.Builder,
  root: flatbuffers.Offset,
  layout: SchemaLayout,
): Uint8Array {
  builder.finish(root, layout.fileIdentifier);
  return copyBytes(builder.asUint8Array());
}
