/**
 * Which superblock to trust at open, as a literal table of cases (TigerBeetle's recovery_cases);
 * test/meta/superblock-choice.test.ts enumerates every input combination against it.
 *
 * Legend: V = valid (frame, CRC, FlatBuffers and UUID check out), I = invalid (torn, rotted, or another
 * database's), M = missing file. "gen" compares the generations of two valid superblocks.
 *
 *   A  B  gen    decision
 *   V  V  A > B  use A; B is the fallback
 *   V  V  B > A  use B; A is the fallback
 *   V  V  A = B  refuse: two superblocks cannot share a generation (CORRUPTION)
 *   V  I  -      use A; report B invalid
 *   V  M  -      use A; report B missing
 *   I  V  -      use B; report A invalid
 *   M  V  -      use B; report A missing
 *   I  I  -      refuse (CORRUPTION): no silent salvage
 *   I  M  -      refuse (CORRUPTION)
 *   M  I  -      refuse (CORRUPTION)
 *   M  M  -      refuse (CORRUPTION): a database with a MANIFEST always has superblocks
 *
 * The chosen slot is the active one; the next checkpoint writes the other ("inactive") slot.
 */
import { CorruptionError } from '../util/errors.js';
import type { Superblock, SuperblockRead, SuperblockSlot } from './superblock.js';

type Decision = 'use A' | 'use B' | 'refuse';
type Letter = 'V' | 'I' | 'M';

export const SUPERBLOCK_CHOICE_TABLE: ReadonlyArray<{
  a: Letter;
  b: Letter;
  gen: string;
  decision: Decision;
}> = [
  { a: 'V', b: 'V', gen: 'A > B', decision: 'use A' },
  { a: 'V', b: 'V', gen: 'B > A', decision: 'use B' },
  { a: 'V', b: 'V', gen: 'A = B', decision: 'refuse' },
  { a: 'V', b: 'I', gen: '-', decision: 'use A' },
  { a: 'V', b: 'M', gen: '-', decision: 'use A' },
  { a: 'I', b: 'V', gen: '-', decision: 'use B' },
  { a: 'M', b: 'V', gen: '-', decision: 'use B' },
  { a: 'I', b: 'I', gen: '-', decision: 'refuse' },
  { a: 'I', b: 'M', gen: '-', decision: 'refuse' },
  { a: 'M', b: 'I', gen: '-', decision: 'refuse' },
  { a: 'M', b: 'M', gen: '-', decision: 'refuse' },
];

export interface SuperblockChoice {
  readonly active: SuperblockSlot;
  readonly superblock: Superblock;
  /** The other slot's superblock when it is valid (the older image, kept for fallback). */
  readonly fallback: Superblock | undefined;
  /** Human-readable notes for the log: which slot was damaged and why. */
  readonly notes: readonly string[];
}

function letterOf(read: SuperblockRead): Letter {
  return read.state === 'valid' ? 'V' : read.state === 'invalid' ? 'I' : 'M';
}

function genOf(a: SuperblockRead, b: SuperblockRead): string {
  if (a.state !== 'valid' || b.state !== 'valid') return '-';
  if (a.superblock.generation > b.superblock.generation) return 'A > B';
  if (b.superblock.generation > a.superblock.generation) return 'B > A';
  return 'A = B';
}

function describe(slot: SuperblockSlot, read: SuperblockRead): string | undefined {
  if (read.state === 'invalid') return `SUPERBLOCK_${slot} is invalid: ${read.reason}`;
  if (read.state === 'missing') return `SUPERBLOCK_${slot} is missing`;
  return undefined;
}

export function chooseSuperblock(a: SuperblockRead, b: SuperblockRead, file: string): SuperblockChoice {
  const key = { a: letterOf(a), b: letterOf(b), gen: genOf(a, b) };
  const row = SUPERBLOCK_CHOICE_TABLE.find((r) => r.a === key.a && r.b === key.b && r.gen === key.gen);
  if (row === undefined) throw new Error(`superblock choice table has no row for ${JSON.stringify(key)}`);
  const notes = [describe('A', a), describe('B', b)].filter((note): note is string => note !== undefined);
  if (row.decision === 'refuse') {
    const why = key.gen === 'A = B' ? 'both superblocks claim the same generation' : notes.join('; ');
    throw new CorruptionError(`no usable superblock: ${why}; run jubectl validate`, {
      file,
      what: 'superblocks',
    });
  }
  const [chosen, other] = row.decision === 'use A' ? [a, b] : [b, a];
  if (chosen.state !== 'valid') throw new Error('the choice table picked a slot that is not valid');
  return {
    active: row.decision === 'use A' ? 'A' : 'B',
    superblock: chosen.superblock,
    fallback: other.state === 'valid' ? other.superblock : undefined,
    notes,
  };
}

export function inactiveSlot(active: SuperblockSlot): SuperblockSlot {
  return active === 'A' ? 'B' : 'A';
}
