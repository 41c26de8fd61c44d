/**
 * Checksummed frame (docs/format/checksummed-frame.md): how every FlatBuffers buffer sits in a file —
 * MANIFEST, SUPERBLOCK_A/B, WAL records and headers, value-log records.
 *
 *   offset  size  field        notes
 *   0       4     lengthBytes  u32 LE, length n of the payload
 *   4       n     payload      one FlatBuffers buffer
 *   4+n     4     crc32c       u32 LE, CRC32C over bytes [0, 4+n): the length and the payload
 *
 * The CRC covers the length too, so a torn or rotted length is caught rather than trusted. Decoding
 * never throws on bad bytes: it reports why a frame is not valid, because the WAL must tell a torn tail
 * (truncated) from corruption, and only the caller knows which file it is reading.
 */
import { assert } from './assert.js';
import { crc32c } from './crc32c.js';

export const FRAME_LENGTH_BYTES = 4;
export const FRAME_CRC_BYTES = 4;
export const FRAME_OVERHEAD_BYTES = FRAME_LENGTH_BYTES + FRAME_CRC_BYTES;

export type FrameReadResult =
  | { readonly ok: true; readonly payload: Uint8Array; readonly frameBytes: number }
  /** `truncated`: the bytes end inside the frame. `length`: zero or above the limit. `crc`: mismatch. */
  | { readonly ok: false; readonly problem: 'truncated' | 'length' | 'crc' };

export function frameSizeBytes(payloadBytes: number): number {
  return FRAME_OVERHEAD_BYTES + payloadBytes;
}

/** Writes the frame for `payload` into `target` at `offsetBytes`; returns the offset after it. */
export function writeFrame(target: Uint8Array, offsetBytes: number, payload: Uint8Array): number {
  assert(payload.length > 0 && payload.length <= 0xffff_ffff, 'frame payload length out of range');
  assert(offsetBytes + frameSizeBytes(payload.length) <= target.length, 'frame does not fit');
  const view = new DataView(target.buffer, target.byteOffset, target.length);
  view.setUint32(offsetBytes, payload.length, true);
  target.set(payload, offsetBytes + FRAME_LENGTH_BYTES);
  const crcOffset = offsetBytes + FRAME_LENGTH_BYTES + payload.length;
  view.setUint32(crcOffset, crc32c(target.subarray(offsetBytes, crcOffset)), true);
  return crcOffset + FRAME_CRC_BYTES;
}

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(frameSizeBytes(payload.length));
  writeFrame(out, 0, payload);
  return out;
}

/**
 * Reads the frame starting at `offsetBytes`. The payload is a view into `bytes` (no copy).
 * `payloadBytesMax` bounds the length field so a rotted length cannot claim gigabytes.
 */
export function readFrame(bytes: Uint8Array, offsetBytes: number, payloadBytesMax: number): FrameReadResult {
  if (offsetBytes + FRAME_LENGTH_BYTES > bytes.length) return { ok: false, problem: 'truncated' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const payloadBytes = view.getUint32(offsetBytes, true);
  if (payloadBytes === 0 || payloadBytes > payloadBytesMax) return { ok: false, problem: 'length' };
  const crcOffset = offsetBytes + FRAME_LENGTH_BYTES + payloadBytes;
  if (crcOffset + FRAME_CRC_BYTES > bytes.length) return { ok: false, problem: 'truncated' };
  const stored = view.getUint32(crcOffset, true);
  if (crc32c(bytes.subarray(offsetBytes, crcOffset)) !== stored) return { ok: false, problem: 'crc' };
  return {
    ok: true,
    payload: bytes.subarray(offsetBytes + FRAME_LENGTH_BYTES, crcOffset),
    frameBytes: frameSizeBytes(payloadBytes),
  };
}
