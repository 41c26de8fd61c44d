/**
 * Shared by the WAL segment tests: records whose key names their LSN (so a replay is checkable against
 * a list), simulated file systems with a /db directory, and segment images built byte by byte.
 */
import { join } from 'node:path';
import { SimFileSystem } from '../../../src/io/sim-file-system.js';
import { FORMAT_MAJOR } from '../../../src/meta/manifest.js';
import { encodeWalRecord, type WalRecord } from '../../../src/storage/wal/wal-record.js';
import { recoverWal, type WalRecoveryResult } from '../../../src/storage/wal/wal-recovery.js';
import {
  encodeWalBatch,
  encodeWalSegmentHeaderBlock,
  WAL_SEGMENT_HEADER_BYTES,
  type WalEnd,
  walSegmentFileName,
} from '../../../src/storage/wal/wal-segment-format.js';
import { WalWriter } from '../../../src/storage/wal/wal-writer.js';
import { toHex, utf8 } from '../../../src/util/bytes.js';
import { lsn } from '../../../src/util/ids.js';
import type { SeededRandom } from '../../../src/util/random.js';

export const DIR = '/db';
export const UUID = Uint8Array.from({ length: 16 }, (_, index) => index + 1);

export function segmentPath(sequence: number): string {
  return join(DIR, walSegmentFileName(sequence));
}

/** A commit record at `lsnValue` whose one upsert is key `k<lsn>` = `value`. */
export function recordPayload(lsnValue: bigint, value: Uint8Array = utf8(`v${lsnValue}`)): Uint8Array {
  return encodeWalRecord({
    lsn: lsn(lsnValue),
    body: {
      kind: 'commit',
      committedAtMs: 1_795_000_000_000,
      mutations: [
        { kind: 'upsert', key: utf8(`k${lsnValue}`), valueType: 'bytes', inlineValue: value, expiresAtMs: 0 },
      ],
    },
  });
}

/** `count` records from `firstLsn`, with values of up to `valueBytesMax` random bytes. */
export function randomPayloads(
  rng: SeededRandom,
  request: { firstLsn: bigint; count: number; valueBytesMax: number },
): Uint8Array[] {
  return Array.from({ length: request.count }, (_, index) =>
    recordPayload(request.firstLsn + BigInt(index), rng.bytes(rng.range(1, request.valueBytesMax))),
  );
}

export function payloadsFrom(firstLsn: bigint, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, index) => recordPayload(firstLsn + BigInt(index)));
}

/** A record as one comparable line: LSN, key and value. */
export function describeRecord(record: WalRecord): string {
  if (record.body.kind !== 'commit') return `${record.lsn}:checkpoint`;
  const [mutation] = record.body.mutations;
  if (mutation?.kind !== 'upsert') return `${record.lsn}:?`;
  return `${record.lsn}:${new TextDecoder().decode(mutation.key)}=${toHex(mutation.inlineValue ?? new Uint8Array())}`;
}

export async function newSim(seed: number, trace = false): Promise<SimFileSystem> {
  const fs = new SimFileSystem({ seed, trace });
  await fs.mkdir(DIR);
  return fs;
}

export function openWriter(
  fs: SimFileSystem,
  options: { end: WalEnd | undefined; segmentBytes: number; spareSegmentsMax?: number },
): Promise<WalWriter> {
  return WalWriter.open(fs, DIR, { databaseUuid: UUID, formatMajor: FORMAT_MAJOR, ...options });
}

export interface Recovered {
  readonly result: WalRecoveryResult;
  readonly lines: string[];
}

export async function recover(
  fs: SimFileSystem,
  options: { checkpointLsn?: bigint; repair?: boolean } = {},
): Promise<Recovered> {
  const lines: string[] = [];
  const result = await recoverWal(fs, DIR, {
    databaseUuid: UUID,
    checkpointLsn: lsn(options.checkpointLsn ?? 0n),
    repair: options.repair ?? true,
    onRecord: (record) => {
      lines.push(describeRecord(record));
    },
  });
  return { result, lines };
}

/** A segment image: header block, then the given batches at their offsets (default: back to back). */
export function segmentImage(request: {
  sequence: number;
  firstLsn: bigint;
  sizeBytes?: number;
  batches?: ReadonlyArray<{ bytes: Uint8Array; offsetBytes?: number }>;
  databaseUuid?: Uint8Array;
}): Uint8Array {
  const image = new Uint8Array(request.sizeBytes ?? 4096);
  const header = encodeWalSegmentHeaderBlock({
    databaseUuid: request.databaseUuid ?? UUID,
    segmentSequence: request.sequence,
    firstLsn: lsn(request.firstLsn),
    formatMajor: FORMAT_MAJOR,
  });
  image.set(header, 0);
  let atBytes = WAL_SEGMENT_HEADER_BYTES;
  for (const batch of request.batches ?? []) {
    const offsetBytes = batch.offsetBytes ?? atBytes;
    image.set(batch.bytes, offsetBytes);
    atBytes = offsetBytes + batch.bytes.byteLength;
  }
  return image;
}

export function batchOf(firstLsn: bigint, count: number): Uint8Array {
  return encodeWalBatch(lsn(firstLsn), payloadsFrom(firstLsn, count));
}

/** A fresh simulated machine holding exactly these WAL files (by name), all durable. */
export async function simWith(seed: number, files: ReadonlyMap<string, Uint8Array>): Promise<SimFileSystem> {
  const fs = await newSim(seed);
  for (const [name, bytes] of files) {
    const handle = await fs.open(join(DIR, name), { create: true });
    await handle.write(0, bytes);
    await handle.datasync();
    await handle.close();
  }
  await fs.syncDirectory(DIR);
  return fs;
}
