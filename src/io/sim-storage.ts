/**
 * The storage model behind `SimFileSystem`: byte images, inodes with a page-cache image and a durable
 * image, and the seeded resolution of pending writes when power is lost (the fates are described in
 * sim-file-system.ts). Invariant while no fault has touched a file: applying its pending operations,
 * in order, to its durable image gives its current image.
 */
import { assert } from '../util/assert.js';
import { bytesEqual } from '../util/bytes.js';
import type { SeededRandom } from '../util/random.js';

/** A power loss decides the fate of pending data per file-system block... */
export const SIM_BLOCK_BYTES = 4096;
/** ...and a torn block is torn at sector granularity: each sector is wholly old or wholly new. */
export const SIM_SECTOR_BYTES = 512;
assert(SIM_BLOCK_BYTES % SIM_SECTOR_BYTES === 0, 'a block is a whole number of sectors');

/** A growable byte array. Bytes between `sizeBytes` and the capacity are kept zero, so growth zero-fills. */
export class ByteImage {
  private data: Uint8Array;
  private length: number;

  constructor(initial: Uint8Array = new Uint8Array(0)) {
    this.data = new Uint8Array(initial);
    this.length = initial.length;
  }

  get sizeBytes(): number {
    return this.length;
  }

  /** A copy of up to `lengthBytes` at `offsetBytes`, shorter only at the end of the image. */
  read(offsetBytes: number, lengthBytes: number): Uint8Array {
    const start = Math.min(offsetBytes, this.length);
    const end = Math.min(offsetBytes + lengthBytes, this.length);
    return this.data.slice(start, end);
  }

  write(offsetBytes: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const end = offsetBytes + bytes.length;
    this.reserve(end);
    this.data.set(bytes, offsetBytes);
    this.length = Math.max(this.length, end);
  }

  truncate(sizeBytes: number): void {
    if (sizeBytes < this.length) {
      this.data.fill(0, sizeBytes, this.length); // keeps the zero-tail invariant for a later extension
    } else {
      this.reserve(sizeBytes);
    }
    this.length = sizeBytes;
  }

  flipBit(offsetBytes: number, bitIndex: number): void {
    assert(offsetBytes < this.length, `flipBit past the end: ${offsetBytes} >= ${this.length}`);
    this.data[offsetBytes] = (this.data[offsetBytes] ?? 0) ^ (1 << bitIndex);
  }

  /** Compares without copying, so a verify-mode check after every sync stays cheap. */
  equals(other: ByteImage): boolean {
    return bytesEqual(this.data.subarray(0, this.length), other.data.subarray(0, other.length));
  }

  copy(): ByteImage {
    return new ByteImage(this.bytes());
  }

  /** A copy of the whole image. */
  bytes(): Uint8Array {
    return this.data.slice(0, this.length);
  }

  private reserve(capacityBytes: number): void {
    if (capacityBytes <= this.data.length) return;
    // Doubling keeps a long run of appends linear overall.
    const grown = new Uint8Array(Math.max(capacityBytes, this.data.length * 2, 4096));
    grown.set(this.data.subarray(0, this.length));
    this.data = grown;
  }
}

export type PendingOp =
  | { kind: 'write'; offsetBytes: number; bytes: Uint8Array }
  | { kind: 'truncate'; sizeBytes: number };

export class SimInode {
  /** What reads see: the OS page cache. */
  readonly current: ByteImage;
  /** What survives a power loss. */
  readonly durable: ByteImage;
  /** Writes and truncates since the last sync/datasync, in issue order. */
  pending: PendingOp[] = [];
  /** Set once a fault (failed fsync, corruptAtRest) makes durable + pending differ from current. */
  diverged = false;

  constructor(bytes: Uint8Array = new Uint8Array(0)) {
    this.current = new ByteImage(bytes);
    this.durable = new ByteImage(bytes);
  }

  applyWrite(offsetBytes: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.current.write(offsetBytes, bytes);
    this.pending.push({ kind: 'write', offsetBytes, bytes: bytes.slice() });
  }

  applyTruncate(sizeBytes: number): void {
    this.current.truncate(sizeBytes);
    this.pending.push({ kind: 'truncate', sizeBytes });
  }
}

/** Applies pending operations in order, as a completed fsync does. */
export function applyAll(image: ByteImage, pending: readonly PendingOp[]): void {
  for (const op of pending) {
    if (op.kind === 'write') image.write(op.offsetBytes, op.bytes);
    else image.truncate(op.sizeBytes);
  }
}

type BlockFate = 'written' | 'dropped' | 'torn';
const BLOCK_FATES: readonly BlockFate[] = ['written', 'dropped', 'torn'];

/** One unit of a power-loss resolution: a write's piece within one 4 KiB block, or a truncate. */
type Unit =
  | {
      kind: 'block';
      opIndex: number;
      offsetBytes: number;
      bytes: Uint8Array;
      fate: BlockFate;
      sectors: boolean[];
    }
  | { kind: 'truncate'; opIndex: number; sizeBytes: number; applied: boolean };

/** Cuts [offset, offset + length) at every multiple of `unitBytes`. */
export function splitAligned(
  offsetBytes: number,
  lengthBytes: number,
  unitBytes: number,
): [number, number][] {
  const pieces: [number, number][] = [];
  let start = offsetBytes;
  const end = offsetBytes + lengthBytes;
  while (start < end) {
    const pieceEnd = Math.min(end, (Math.floor(start / unitBytes) + 1) * unitBytes);
    pieces.push([start, pieceEnd]);
    start = pieceEnd;
  }
  return pieces;
}

function drawUnits(pending: readonly PendingOp[], rng: SeededRandom): Unit[] {
  const units: Unit[] = [];
  pending.forEach((op, opIndex) => {
    if (op.kind === 'truncate') {
      units.push({ kind: 'truncate', opIndex, sizeBytes: op.sizeBytes, applied: rng.chance(0.5) });
      return;
    }
    for (const [start, end] of splitAligned(op.offsetBytes, op.bytes.length, SIM_BLOCK_BYTES)) {
      const bytes = op.bytes.subarray(start - op.offsetBytes, end - op.offsetBytes);
      const fate = rng.pick(BLOCK_FATES);
      const sectorCount = splitAligned(start, end - start, SIM_SECTOR_BYTES).length;
      const sectors = Array.from({ length: sectorCount }, () => fate === 'torn' && rng.chance(0.5));
      units.push({ kind: 'block', opIndex, offsetBytes: start, bytes, fate, sectors });
    }
  });
  return units;
}

function applyUnit(image: ByteImage, unit: Unit): void {
  if (unit.kind === 'truncate') {
    if (unit.applied) image.truncate(unit.sizeBytes);
    return;
  }
  if (unit.fate === 'dropped') return; // a dropped block past the end does not extend the file
  if (unit.fate === 'written') {
    image.write(unit.offsetBytes, unit.bytes);
    return;
  }
  splitAligned(unit.offsetBytes, unit.bytes.length, SIM_SECTOR_BYTES).forEach(([start, end], index) => {
    if (unit.sectors[index] === true) {
      image.write(start, unit.bytes.subarray(start - unit.offsetBytes, end - unit.offsetBytes));
    }
  });
}

function describeUnit(unit: Unit): string {
  if (unit.kind === 'truncate') {
    return `op ${unit.opIndex} truncate to ${unit.sizeBytes}: ${unit.applied ? 'applied' : 'skipped'}`;
  }
  const range = `[${unit.offsetBytes}, ${unit.offsetBytes + unit.bytes.length})`;
  if (unit.fate !== 'torn') return `op ${unit.opIndex} write ${range}: ${unit.fate}`;
  const sectors = unit.sectors.map((landed) => (landed ? 'N' : 'o')).join('');
  return `op ${unit.opIndex} write ${range}: torn, sectors (N new, o old) ${sectors}`;
}

/**
 * Resolves a file's pending operations into `image` the way a power loss might: each 4 KiB block of
 * each write is written, dropped or torn at 512 B; each truncate is applied or skipped; and the units
 * land in a random order. Appends one report line per unit, in the order they landed.
 */
export function resolvePending(request: {
  image: ByteImage;
  pending: readonly PendingOp[];
  rng: SeededRandom;
  label: string;
  report: string[];
}): void {
  const { image, pending, rng, label, report } = request;
  if (pending.length === 0) return;
  const units = rng.shuffle(drawUnits(pending, rng));
  for (const unit of units) {
    applyUnit(image, unit);
    report.push(`${label}: ${describeUnit(unit)}`);
  }
}
