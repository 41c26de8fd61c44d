/**
 * Wire frame (docs/format/wire.md): how one Request or Response travels on a connection.
 *
 *   offset  size  field        notes
 *   0       4     lengthBytes  u32 LE, length n of the buffer; 0 is malformed, above the limit too large
 *   4       n     buffer       one FlatBuffers buffer, file identifier JBWR, root Request or Response
 *
 * The decoder judges a length the moment its four bytes arrive, so a peer declaring a 4 GiB frame is
 * refused before any of it is buffered. After any error the decoder stays failed: the caller closes the
 * connection, because a stream that lost its framing cannot be resynchronised.
 */
import { assert } from '../util/assert.js';
import { JubilantError } from '../util/errors.js';

export const FRAME_LENGTH_BYTES = 4;
export const FRAME_OVERHEAD_BYTES = FRAME_LENGTH_BYTES;
export const FRAME_IDENTIFIER = 'JBWR';
/** The largest length a u32 prefix can declare. */
export const FRAME_BUFFER_BYTES_LIMIT = 0xffff_ffff;

export function frameSizeBytes(bufferBytes: number): number {
  return FRAME_OVERHEAD_BYTES + bufferBytes;
}

/** Prefixes `buffer` with its length; the one copy a frame needs. */
export function encodeFrame(buffer: Uint8Array): Uint8Array {
  assert(buffer.length > 0, 'a frame buffer is never empty');
  assert(buffer.length <= FRAME_BUFFER_BYTES_LIMIT, 'a frame buffer must fit a u32 length');
  const frame = new Uint8Array(frameSizeBytes(buffer.length));
  new DataView(frame.buffer).setUint32(0, buffer.length, true);
  frame.set(buffer, FRAME_LENGTH_BYTES);
  return frame;
}

export interface FrameDecoderOptions {
  /** The largest buffer (excluding the length prefix) a peer may send. */
  frameBytesMax: number;
}

/**
 * Splits a byte stream into frame buffers. `push` returns the FlatBuffers buffer of every frame the
 * chunk completes, without the length prefix. A frame wholly inside one chunk is returned as a view of
 * that chunk (no copy), so callers must not reuse chunk memory; only a frame spread over several
 * chunks is copied, once, when its last byte arrives. Memory held is bounded by the bytes received,
 * never by a declared length.
 */
export class FrameDecoder {
  readonly frameBytesMax: number;
  private readonly prefix = new Uint8Array(FRAME_LENGTH_BYTES);
  private prefixFilledBytes = 0;
  /** The declared length of the frame being received, or -1 while its prefix is incomplete. */
  private pendingBytes = -1;
  private pendingParts: Uint8Array[] = [];
  private pendingFilledBytes = 0;
  private failure: JubilantError | undefined;

  constructor(options: FrameDecoderOptions) {
    const { frameBytesMax } = options;
    assert(Number.isInteger(frameBytesMax), 'frameBytesMax must be an integer');
    assert(frameBytesMax > 0 && frameBytesMax <= FRAME_BUFFER_BYTES_LIMIT, 'frameBytesMax out of range');
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.prefixFilledBytes + this.pendingFilledBytes;
  }

  /**
   * Feeds one chunk. Throws FRAME_TOO_LARGE or MALFORMED_FRAME on a bad length prefix; frames that
   * the same chunk completed before it are dropped with the connection.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failure !== undefined) throw this.failure;
    const frames: Uint8Array[] = [];
    let offsetBytes = 0;
    while (offsetBytes < chunk.length) {
      if (this.pendingBytes < 0) {
        offsetBytes = this.readPrefix(chunk, offsetBytes);
      } else {
        offsetBytes = this.readBuffer(chunk, offsetBytes, frames);
      }
    }
    return frames;
  }

  private readPrefix(chunk: Uint8Array, offsetBytes: number): number {
    if (this.prefixFilledBytes === 0 && chunk.length - offsetBytes >= FRAME_LENGTH_BYTES) {
      const view = new DataView(chunk.buffer, chunk.byteOffset + offsetBytes, FRAME_LENGTH_BYTES);
      this.startFrame(view.getUint32(0, true));
      return offsetBytes + FRAME_LENGTH_BYTES;
    }
    const takeBytes = Math.min(FRAME_LENGTH_BYTES - this.prefixFilledBytes, chunk.length - offsetBytes);
    this.prefix.set(chunk.subarray(offsetBytes, offsetBytes + takeBytes), this.prefixFilledBytes);
    this.prefixFilledBytes += takeBytes;
    if (this.prefixFilledBytes === FRAME_LENGTH_BYTES) {
      this.prefixFilledBytes = 0;
      this.startFrame(new DataView(this.prefix.buffer).getUint32(0, true));
    }
    return offsetBytes + takeBytes;
  }

  private startFrame(lengthBytes: number): void {
    if (lengthBytes === 0) this.fail('MALFORMED_FRAME', 'a frame declares a zero length');
    if (lengthBytes > this.frameBytesMax) {
      this.fail(
        'FRAME_TOO_LARGE',
        `a frame declares ${lengthBytes} bytes; the limit is ${this.frameBytesMax}`,
      );
    }
    this.pendingBytes = lengthBytes;
  }

  private readBuffer(chunk: Uint8Array, offsetBytes: number, frames: Uint8Array[]): number {
    const missingBytes = this.pendingBytes - this.pendingFilledBytes;
    const takeBytes = Math.min(missingBytes, chunk.length - offsetBytes);
    const part = chunk.subarray(offsetBytes, offsetBytes + takeBytes);
    if (takeBytes === missingBytes) {
      frames.push(this.pendingParts.length === 0 ? part : this.joinParts(part));
      this.pendingBytes = -1;
    } else {
      this.pendingParts.push(part);
      this.pendingFilledBytes += takeBytes;
    }
    return offsetBytes + takeBytes;
  }

  private joinParts(lastPart: Uint8Array): Uint8Array {
    const buffer = new Uint8Array(this.pendingBytes);
    let filledBytes = 0;
    for (const part of this.pendingParts) {
      buffer.set(part, filledBytes);
      filledBytes += part.length;
    }
    buffer.set(lastPart, filledBytes);
    assert(filledBytes + lastPart.length === this.pendingBytes, 'frame parts add up to its length');
    this.pendingParts = [];
    this.pendingFilledBytes = 0;
    return buffer;
  }

  private fail(code: 'MALFORMED_FRAME' | 'FRAME_TOO_LARGE', message: string): never {
    this.failure = new JubilantError(code, message);
    throw this.failure;
  }
}
