/**
 * Every bound of jubilant-db in one place ("put a limit on everything"), with the relations between
 * them asserted when the module loads. Config values are checked against these at load time.
 */
import { assert } from '../util/assert.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Pages are a power of two in this range; the size is fixed when a database is created. */
export const PAGE_SIZE_BYTES_MIN = 4 * KiB;
export const PAGE_SIZE_BYTES_MAX = 64 * KiB;
export const PAGE_SIZE_BYTES_DEFAULT = 16 * KiB;

/** A B+Tree entry must fit four to a page, so that splits always leave pages at least a quarter full. */
export const ENTRIES_PER_PAGE_MIN = 4;

/** Values whose encoded size is above this go to the value log (recorded in the MANIFEST). */
export const INLINE_VALUE_THRESHOLD_BYTES_DEFAULT = 1 * KiB;

/** The largest value a key can hold. */
export const VALUE_SIZE_BYTES_MAX = 64 * MiB;

/** Bounds the length field of a checksummed frame in MANIFEST and superblock files. */
export const META_FRAME_PAYLOAD_BYTES_MAX = 64 * KiB;

/** Superblocks are written as one block of this size (frame plus zero padding): one sector-aligned write. */
export const SUPERBLOCK_FILE_BYTES = 4 * KiB;

export function isValidPageSize(pageSizeBytes: number): boolean {
  return (
    Number.isInteger(pageSizeBytes) &&
    pageSizeBytes >= PAGE_SIZE_BYTES_MIN &&
    pageSizeBytes <= PAGE_SIZE_BYTES_MAX &&
    (pageSizeBytes & (pageSizeBytes - 1)) === 0
  );
}

assert(isValidPageSize(PAGE_SIZE_BYTES_MIN) && isValidPageSize(PAGE_SIZE_BYTES_MAX));
assert(isValidPageSize(PAGE_SIZE_BYTES_DEFAULT));
/** An inline value may take at most this share of a page, so entries still fit four to a page. */
export const INLINE_VALUE_PAGE_FRACTION_MAX = 8;
assert(INLINE_VALUE_THRESHOLD_BYTES_DEFAULT <= PAGE_SIZE_BYTES_DEFAULT / INLINE_VALUE_PAGE_FRACTION_MAX);
assert(SUPERBLOCK_FILE_BYTES <= META_FRAME_PAYLOAD_BYTES_MAX);

/** A transaction's key table and op list are bounded, so one request cannot hold unbounded locks. */
export const TXN_KEYS_MAX = 1024;
export const TXN_OPS_MAX = 4096;
/** The default bound on waiting for a lock (a timeout aborts with the retryable LOCK_TIMEOUT). */
export const LOCK_TIMEOUT_MS_DEFAULT = 5000;
