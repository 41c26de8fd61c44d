/**
 * Shared plumbing for the disk schema (schemas/disk.fbs): open verified roots, finish buffers with the
 * JBDK identifier, and copy values out so decoded objects never alias a file buffer.
 */
import type * as flatbuffers from 'flatbuffers';
import { LAYOUT as DISK_LAYOUT } from '../generated/disk/layout.js';
import { assert } from '../util/assert.js';
import { CorruptionError } from '../util/errors.js';
import { finishBuffer, openStoredBuffer } from '../util/stored-buffer.js';

export const DISK_FILE_IDENTIFIER = DISK_LAYOUT.fileIdentifier;

/** Verifies `payload` as the disk-schema table `rootTable` and returns a ByteBuffer over it. */
export function verifiedDiskBuffer(
  payload: Uint8Array,
  rootTable: string,
  context: { file: string; offsetBytes?: number },
): flatbuffers.ByteBuffer {
  return openStoredBuffer(payload, DISK_LAYOUT, rootTable, context);
}

/** Finishes a disk-schema buffer with the JBDK identifier and returns a copy of its bytes. */
export function finishDiskBuffer(builder: flatbuffers.Builder, root: flatbuffers.Offset): Uint8Array {
  return finishBuffer(builder, root, DISK_LAYOUT);
}
/** Copies a vector read through an accessor, so decoded objects never alias a file buffer. */
export function copyBytes(bytes: Uint8Array | null): Uint8Array {
  assert(bytes !== null, 'a verified required vector is present');
  return bytes.slice();
}

/** u64 fields that hold milliseconds or counts must fit a JS number exactly. */
export function safeNumber(value: bigint, field: string, context: { file: string }): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CorruptionError(`${field} ${value} is out of range`, { file: context.file, what: field });
  }
  return Number(value);
}
