/**
 * Small byte arrays carved from shared slabs. In V8 every `new Uint8Array(n)` above 64 bytes gets its
 * own off-heap backing store, which costs about a microsecond and loads the garbage collector (measured
 * here: 1.3 µs for 100 bytes, against 60 ns for a view carved from a slab). The engine makes several
 * such arrays per commit and per read, so they come from here instead, the way Node's Buffer pool does
 * for Buffers.
 *
 * The price is retention: a live view keeps its whole slab alive. So pieces are for bytes that die
 * young (WAL records until written, values handed to the caller) or whose owner re-homes them: a tree
 * node that a checkpoint writes gets its keys and values re-pointed into its own page bytes
 * (PageStore.freeze), so cached nodes never pin slabs.
 */

/** Bytes of one slab; allocating it is amortized over many pieces. */
const SLAB_BYTES = 64 * 1024;
/** Larger arrays get a backing store of their own: the per-allocation cost is then small in relation. */
const PIECE_BYTES_MAX = 1024;
/** Pieces start 8-byte aligned, so a DataView or wider typed array over a piece stays aligned. */
const PIECE_ALIGN_BYTES = 8;

let slab = new ArrayBuffer(SLAB_BYTES);
let usedBytes = 0;

/** A zero-filled Uint8Array of `byteLength` bytes (a slab piece when small). */
export function allocBytes(byteLength: number): Uint8Array {
  if (byteLength > PIECE_BYTES_MAX) return new Uint8Array(byteLength);
  if (usedBytes + byteLength > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    usedBytes = 0;
  }
  const piece = new Uint8Array(slab, usedBytes, byteLength);
  usedBytes = (usedBytes + byteLength + PIECE_ALIGN_BYTES - 1) & ~(PIECE_ALIGN_BYTES - 1);
  return piece;
}

/** A copy of `bytes` that shares no memory with it. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = allocBytes(bytes.length);
  copy.set(bytes);
  return copy;
}
