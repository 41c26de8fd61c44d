/**
 * Branded ids, so a page id cannot be passed where a byte offset or an LSN is expected.
 * LSNs are bigint: a u64 counter of WAL records, and a key's revision is the LSN that last wrote it.
 */
import { assert } from './assert.js';

export type PageId = number & { readonly __brand: 'PageId' };
export type Lsn = bigint & { readonly __brand: 'Lsn' };
export type SegmentSequence = number & { readonly __brand: 'SegmentSequence' };

export const PAGE_ID_MAX = 0xffff_ffff;
export const LSN_MAX = (1n << 64n) - 1n;

/** Page id 0 is the file header page of data.pages; as a reference (a root, a child) it means "none". */
export const PAGE_ID_NONE = 0 as PageId;

export function pageId(value: number): PageId {
  assert(Number.isInteger(value) && value >= 0 && value <= PAGE_ID_MAX, `invalid page id ${value}`);
  return value as PageId;
}

export function lsn(value: bigint | number): Lsn {
  const big = BigInt(value);
  assert(big >= 0n && big <= LSN_MAX, `invalid lsn ${big}`);
  return big as Lsn;
}

export function segmentSequence(value: number): SegmentSequence {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff, `invalid segment sequence ${value}`);
  return value as SegmentSequence;
}
