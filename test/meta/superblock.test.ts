// Proves superblocks round-trip and that a torn or corrupt one falls back to the other, per the choice table.
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import {
  decodeSuperblock,
  encodeSuperblock,
  encodeSuperblockFile,
  readSuperblockSlot,
  SUPERBLOCK_FILES,
  type Superblock,
  type SuperblockRead,
  type SuperblockSlot,
  writeSuperblockSlot,
} from '../../src/meta/superblock.js';
import { chooseSuperblock, inactiveSlot, SUPERBLOCK_CHOICE_TABLE } from '../../src/meta/superblock-choice.js';
import { isJubilantError } from '../../src/util/errors.js';
import { lsn, pageId } from '../../src/util/ids.js';
import { testSeed } from '../../src/util/random.js';

const UUID = new Uint8Array(16).fill(0x42);

function superblock(generation: bigint, overrides: Partial<Superblock> = {}): Superblock {
  return {
    generation,
    databaseUuid: UUID,
    treeRootPageId: pageId(5),
    freeListRootPageId: pageId(6),
    pageCount: 9,
    checkpointLsn: lsn(1000n + generation),
    wallBaseMs: 1_790_000_000_000,
    monoBaseMs: 12345.625,
    nowFloorMs: 1_790_000_000_500,
    ...overrides,
  };
}

async function freshDatabase(seed: number): Promise<SimFileSystem> {
  const fs = new SimFileSystem({ seed });
  await fs.mkdir('/db');
  await writeSuperblockSlot(fs, '/db', 'A', superblock(1n), { create: true });
  await writeSuperblockSlot(fs, '/db', 'B', superblock(0n), { create: true });
  await fs.syncDirectory('/db');
  return fs;
}

async function choose(fs: SimFileSystem) {
  const a = await readSuperblockSlot(fs, '/db', 'A', UUID);
  const b = await readSuperblockSlot(fs, '/db', 'B', UUID);
  return chooseSuperblock(a, b, '/db');
}

describe('superblock', () => {
  it('encode then decode gives back every field', () => {
    const original = superblock(7n);
    expect(decodeSuperblock(encodeSuperblock(original), 'SUPERBLOCK_A')).toEqual(original);
  });

  it('the file image is one 4 KiB block', () => {
    expect(encodeSuperblockFile(superblock(1n)).byteLength).toBe(4096);
  });

  it('an update writes the inactive slot with generation + 1, and open picks the newest', async () => {
    const fs = await freshDatabase(1);
    let choice = await choose(fs);
    expect(choice.active).toBe('A');
    for (let step = 0; step < 5; step++) {
      const next = superblock(choice.superblock.generation + 1n);
      await writeSuperblockSlot(fs, '/db', inactiveSlot(choice.active), next);
      const previous = choice;
      choice = await choose(fs);
      expect(choice.active).toBe(inactiveSlot(previous.active));
      expect(choice.superblock).toEqual(next);
      expect(choice.fallback).toEqual(previous.superblock);
      expect(choice.notes).toEqual([]);
    }
  });

  for (const slot of ['A', 'B'] as const) {
    it(`tearing SUPERBLOCK_${slot} at every byte while it is written falls back to the other`, async () => {
      const fs = await freshDatabase(2);
      // Make `slot` the one being written: the other must be the newer, active one.
      const activeGeneration = 10n;
      await writeSuperblockSlot(fs, '/db', inactiveSlot(slot), superblock(activeGeneration));
      await writeSuperblockSlot(fs, '/db', slot, superblock(activeGeneration - 1n));
      const old = fs.snapshot(`/db/${SUPERBLOCK_FILES[slot]}`) as Uint8Array;
      const next = encodeSuperblockFile(superblock(activeGeneration + 1n));
      const frameEnd = encodeSuperblock(superblock(activeGeneration + 1n)).byteLength + 8;
      for (let cut = 0; cut < frameEnd; cut++) {
        const torn = old.slice();
        torn.set(next.subarray(0, cut));
        const file = await fs.open(`/db/${SUPERBLOCK_FILES[slot]}`);
        await file.write(0, torn);
        await file.close();
        const choice = await choose(fs);
        expect(choice.active, `cut at ${cut}`).toBe(inactiveSlot(slot));
        expect(choice.superblock.generation).toBe(activeGeneration);
      }
    });

    it(`flipping any bit of SUPERBLOCK_${slot}'s frame makes open use the other and say why`, async () => {
      const fs = await freshDatabase(3);
      const path = `/db/${SUPERBLOCK_FILES[slot]}`;
      const frameEnd = encodeSuperblock(superblock(slot === 'A' ? 1n : 0n)).byteLength + 8;
      for (let bit = 0; bit < frameEnd * 8; bit++) {
        fs.corruptAtRest(path, Math.floor(bit / 8), bit % 8);
        const choice = await choose(fs);
        fs.corruptAtRest(path, Math.floor(bit / 8), bit % 8);
        expect(choice.active, `bit ${bit}`).toBe(inactiveSlot(slot));
        expect(choice.notes.join()).toContain(`SUPERBLOCK_${slot} is invalid`);
      }
    });
  }

  it('both superblocks corrupt is a typed refusal, not a salvage', async () => {
    const fs = await freshDatabase(4);
    fs.corruptAtRest('/db/SUPERBLOCK_A', 10, 1);
    fs.corruptAtRest('/db/SUPERBLOCK_B', 10, 1);
    await expect(choose(fs)).rejects.toSatisfy(
      (error) => isJubilantError(error, 'CORRUPTION') && error.message.includes('no usable superblock'),
    );
  });

  it('a superblock of another database is invalid even though its CRC is right', async () => {
    const fs = await freshDatabase(5);
    await writeSuperblockSlot(fs, '/db', 'B', superblock(9n, { databaseUuid: new Uint8Array(16) }));
    const read = await readSuperblockSlot(fs, '/db', 'B', UUID);
    expect(read).toEqual({ state: 'invalid', reason: expect.stringContaining('another database') });
    expect((await choose(fs)).active).toBe('A');
  });

  it('a crash or power loss at any call of an update leaves the old or the new superblock in force', async () => {
    const seed = testSeed();
    console.log(`superblock crash seed=${seed}`);
    for (let crashAt = 1; crashAt <= 5; crashAt++) {
      for (const mode of ['after', 'during'] as const) {
        const fs = await freshDatabase(seed + crashAt);
        if (mode === 'after') fs.crashAfterCall(fs.callCount() + crashAt);
        else fs.crashDuringCall(fs.callCount() + crashAt);
        await writeSuperblockSlot(fs, '/db', 'B', superblock(2n)).catch(() => undefined);
        const choice = await choose(fs.powerLoss().fs);
        expect([1n, 2n], `crash ${mode} call +${crashAt}`).toContain(choice.superblock.generation);
      }
    }
  });

  it('a tree root past the page count is corruption', () => {
    const payload = encodeSuperblock(superblock(1n, { treeRootPageId: pageId(9), pageCount: 9 }));
    expect(() => decodeSuperblock(payload, 'SUPERBLOCK_A')).toThrow('tree root is past the page count');
  });
});

describe('superblock choice table', () => {
  const reads = {
    V: (generation: bigint): SuperblockRead => ({ state: 'valid', superblock: superblock(generation) }),
    I: (): SuperblockRead => ({ state: 'invalid', reason: 'crc' }),
    M: (): SuperblockRead => ({ state: 'missing' }),
  };

  /** The rule the table encodes, stated independently: the unique newest valid superblock, if any. */
  function expected(a: SuperblockRead, b: SuperblockRead): SuperblockSlot | 'refuse' {
    const valid = (['A', 'B'] as const).filter((slot) => (slot === 'A' ? a : b).state === 'valid');
    if (valid.length === 0) return 'refuse';
    if (valid.length === 1) return valid[0] as SuperblockSlot;
    const genA = a.state === 'valid' ? a.superblock.generation : -1n;
    const genB = b.state === 'valid' ? b.superblock.generation : -1n;
    return genA === genB ? 'refuse' : genA > genB ? 'A' : 'B';
  }

  it('every combination of slot states and generations matches the rule, and each has one row', () => {
    let combinations = 0;
    for (const letterA of ['V', 'I', 'M'] as const) {
      for (const letterB of ['V', 'I', 'M'] as const) {
        for (const [genA, genB] of [
          [1n, 2n],
          [2n, 1n],
          [3n, 3n],
        ] as const) {
          const a = reads[letterA](genA);
          const b = reads[letterB](genB);
          const want = expected(a, b);
          combinations += 1;
          if (want === 'refuse') {
            expect(() => chooseSuperblock(a, b, '/db')).toThrow('no usable superblock');
          } else {
            expect(chooseSuperblock(a, b, '/db').active, `${letterA}${genA} ${letterB}${genB}`).toBe(want);
          }
        }
      }
    }
    expect(combinations).toBe(27);
    const keys = SUPERBLOCK_CHOICE_TABLE.map((row) => `${row.a}${row.b}${row.gen}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
