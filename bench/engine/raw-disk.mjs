/**
 * bench/engine: the raw disk reference. 4 KiB written + fdatasync per operation through node:fs
 * (the same libuv thread-pool path the engine's WAL uses), once appending to a fresh file (each sync
 * also persists the new file size) and once overwriting bytes preallocated with zeros and synced
 * beforehand (what a preallocated WAL segment does).
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { timedWriters } from './measure.mjs';

const BLOCK_BYTES = 4096;
const PREALLOCATED_BYTES = 64 * 1024 * 1024;
const ZERO_CHUNK_BYTES = 1024 * 1024;

/** Appends 4 KiB + fdatasync per op to a fresh file, for `seconds`. */
export async function rawAppend(directory, seconds, label = 'raw 4 KiB append + fdatasync') {
  const path = join(directory, 'raw-append.bin');
  const handle = await open(path, 'wx');
  const block = Buffer.alloc(BLOCK_BYTES, 0xa5);
  let offset = 0;
  try {
    return await timedWriters({
      label,
      writers: 1,
      seconds,
      op: async () => {
        await handle.write(block, 0, BLOCK_BYTES, offset);
        offset += BLOCK_BYTES;
        await handle.datasync();
      },
    });
  } finally {
    await handle.close();
    await rm(path);
  }
}

/** Overwrites 4 KiB blocks of a preallocated, synced file (wrapping around) + fdatasync per op. */
export async function rawOverwrite(directory, seconds) {
  const path = join(directory, 'raw-overwrite.bin');
  const handle = await open(path, 'wx+');
  const zeros = Buffer.alloc(ZERO_CHUNK_BYTES);
  for (let offset = 0; offset < PREALLOCATED_BYTES; offset += ZERO_CHUNK_BYTES) {
    await handle.write(zeros, 0, ZERO_CHUNK_BYTES, offset);
  }
  await handle.sync();
  const block = Buffer.alloc(BLOCK_BYTES, 0x5a);
  let offset = 0;
  try {
    return await timedWriters({
      label: 'raw 4 KiB overwrite + fdatasync',
      writers: 1,
      seconds,
      op: async () => {
        await handle.write(block, 0, BLOCK_BYTES, offset);
        offset = (offset + BLOCK_BYTES) % PREALLOCATED_BYTES;
        await handle.datasync();
      },
    });
  } finally {
    await handle.close();
    await rm(path);
  }
}
