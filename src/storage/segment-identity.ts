/**
 * Whether a segment header (WAL or value log) belongs where it lies: to this database, under the
 * sequence its file name gives. Stale bytes of another database or a renamed file never pass.
 */
import { bytesEqual, toHex } from '../util/bytes.js';

export interface SegmentIdentity {
  readonly databaseUuid: Uint8Array;
  readonly segmentSequence: number;
}

/** What is wrong with the header's identity, or undefined when it is the expected one. */
export function segmentIdentityProblem(
  header: SegmentIdentity,
  expected: SegmentIdentity,
): string | undefined {
  if (!bytesEqual(header.databaseUuid, expected.databaseUuid)) {
    return `segment header belongs to database ${toHex(header.databaseUuid)}`;
  }
  if (header.segmentSequence !== expected.segmentSequence) {
    return `segment header says sequence ${header.segmentSequence}, the file name ${expected.segmentSequence}`;
  }
  return undefined;
}
