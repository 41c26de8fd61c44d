// Proves every row of WAL_RECOVERY_TABLE: a crafted log for each row makes recovery take exactly that row.
import { describe, expect, it } from 'vitest';
import {
  WAL_RECOVERY_TABLE,
  WalCorruptionError,
  type WalRecoveryResult,
  type WalRecoveryRow,
} from '../../../src/storage/wal/wal-recovery.js';
import { WAL_BLOCK_BYTES } from '../../../src/storage/wal/wal-segment-format.js';
import { isJubilantError } from '../../../src/util/errors.js';
import { batchOf, recover, segmentImage, simWith } from './wal-test-helpers.js';

interface Scenario {
  /** File name -> bytes. */
  readonly files: ReadonlyArray<[string, Uint8Array]>;
  readonly checkpointLsn?: bigint;
  /** Extra checks on a successful recovery. */
  readonly check?: (result: WalRecoveryResult) => void;
}

const seg = (sequence: number) => `wal-${String(sequence).padStart(6, '0')}.log`;

/** Batch with LSN 2 whose body is damaged (a flipped byte after its header frame). */
function damagedBatch(firstLsn: bigint, count: number): Uint8Array {
  const bytes = batchOf(firstLsn, count).slice();
  const last = bytes.findLastIndex((byte) => byte !== 0);
  bytes[last] = (bytes[last] ?? 0) ^ 0x40;
  return bytes;
}

const one = batchOf(1n, 1); // LSN 1, one block
const at = (block: number) => block * WAL_BLOCK_BYTES;

const SCENARIOS: Record<string, Scenario> = {
  'batch|valid =|-': {
    files: [[seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: batchOf(1n, 3) }] })]],
    check: (result) => expect(result.recordsReplayed).toBe(3),
  },
  'batch|valid >|-': {
    files: [
      [
        seg(1),
        segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: one }, { bytes: batchOf(5n, 1) }] }),
      ],
    ],
  },
  'batch|valid <|later': {
    files: [
      [
        seg(1),
        segmentImage({
          sequence: 1,
          firstLsn: 10n,
          batches: [{ bytes: batchOf(10n, 1) }, { bytes: batchOf(3n, 1) }, { bytes: batchOf(11n, 1) }],
        }),
      ],
    ],
    checkpointLsn: 9n,
  },
  'batch|valid <|next =': {
    files: [
      [
        seg(1),
        segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: batchOf(1n, 2) }, { bytes: one }] }),
      ],
      [seg(2), segmentImage({ sequence: 2, firstLsn: 3n })],
    ],
    check: (result) => expect(result.end).toEqual({ segmentSequence: 2, offsetBytes: at(1), nextLsn: 3n }),
  },
  'batch|valid <|next !=': {
    files: [
      [
        seg(1),
        segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: batchOf(1n, 2) }, { bytes: one }] }),
      ],
      [seg(2), segmentImage({ sequence: 2, firstLsn: 7n })],
    ],
  },
  'batch|valid <|none': {
    files: [
      [
        seg(1),
        segmentImage({ sequence: 1, firstLsn: 5n, batches: [{ bytes: batchOf(5n, 1) }, { bytes: one }] }),
      ],
    ],
    checkpointLsn: 4n,
    check: (result) => {
      expect(result.end).toEqual({ segmentSequence: 1, offsetBytes: at(2), nextLsn: 6n });
      expect(result.recordsReplayed).toBe(1);
      expect(result.tornTail).toBeUndefined();
    },
  },
  'batch|zeros|later': {
    files: [
      [
        seg(1),
        segmentImage({
          sequence: 1,
          firstLsn: 1n,
          batches: [{ bytes: one }, { bytes: batchOf(2n, 1), offsetBytes: at(3) }],
        }),
      ],
    ],
  },
  'batch|zeros|next =': {
    files: [
      [seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: one }] })],
      [seg(2), segmentImage({ sequence: 2, firstLsn: 2n, batches: [{ bytes: batchOf(2n, 2) }] })],
    ],
    check: (result) => {
      expect(result.recordsReplayed).toBe(3);
      expect(result.end).toEqual({ segmentSequence: 2, offsetBytes: at(2), nextLsn: 4n });
    },
  },
  'batch|zeros|next !=': {
    files: [
      [seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: one }] })],
      [seg(2), segmentImage({ sequence: 2, firstLsn: 5n })],
    ],
  },
  'batch|zeros|none': {
    files: [[seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: one }] })]],
    check: (result) => expect(result.end).toEqual({ segmentSequence: 1, offsetBytes: at(2), nextLsn: 2n }),
  },
  'batch|invalid|later': {
    files: [
      [
        seg(1),
        segmentImage({
          sequence: 1,
          firstLsn: 1n,
          batches: [{ bytes: one }, { bytes: damagedBatch(2n, 1) }, { bytes: batchOf(3n, 1) }],
        }),
      ],
    ],
  },
  'batch|invalid|next =': {
    files: [
      [
        seg(1),
        segmentImage({
          sequence: 1,
          firstLsn: 1n,
          batches: [{ bytes: one }, { bytes: damagedBatch(2n, 1) }],
        }),
      ],
      [seg(2), segmentImage({ sequence: 2, firstLsn: 2n })],
    ],
    check: (result) => expect(result.tornTail).toBeUndefined(),
  },
  'batch|invalid|next !=': {
    files: [
      [
        seg(1),
        segmentImage({
          sequence: 1,
          firstLsn: 1n,
          batches: [{ bytes: one }, { bytes: damagedBatch(2n, 1) }],
        }),
      ],
      [seg(2), segmentImage({ sequence: 2, firstLsn: 3n })],
    ],
  },
  'batch|invalid|none': {
    files: [
      [
        seg(1),
        segmentImage({
          sequence: 1,
          firstLsn: 1n,
          batches: [{ bytes: one }, { bytes: damagedBatch(2n, 3) }],
        }),
      ],
    ],
    check: (result) => {
      expect(result.tornTail?.offsetBytes).toBe(at(2));
      expect(result.tornTail?.reason).toBe('batch body crc mismatch');
      expect(result.end).toEqual({ segmentSequence: 1, offsetBytes: at(2), nextLsn: 2n });
    },
  },
  'header|valid|-': {
    files: [[seg(1), segmentImage({ sequence: 1, firstLsn: 1n })]],
  },
  'header|invalid|last, empty': {
    files: [
      [seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: one }] })],
      [seg(2), new Uint8Array(4096)],
    ],
    check: (result) => {
      expect(result.tornTail).toMatchObject({ file: '/db/wal-000002.log', offsetBytes: 0 });
      expect(result.end).toEqual({ segmentSequence: 1, offsetBytes: at(2), nextLsn: 2n });
      expect(result.segments.map((segment) => segment.sequence)).toEqual([1]);
    },
  },
  'header|invalid|last, batch': {
    files: [
      [seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: one }] })],
      [
        seg(2),
        segmentImage({
          sequence: 2,
          firstLsn: 2n,
          batches: [{ bytes: batchOf(2n, 1) }],
          databaseUuid: new Uint8Array(16),
        }),
      ],
    ],
  },
  'header|invalid|not last': {
    files: [
      [
        seg(1),
        segmentImage({
          sequence: 1,
          firstLsn: 1n,
          batches: [{ bytes: one }],
          databaseUuid: new Uint8Array(16),
        }),
      ],
      [seg(2), segmentImage({ sequence: 2, firstLsn: 2n })],
    ],
  },
  'log|no segments|checkpoint 0': {
    files: [],
    check: (result) => expect(result.end).toBeUndefined(),
  },
  'log|no segments|checkpoint > 0': { files: [], checkpointLsn: 7n },
  'log|sequence gap|-': {
    files: [
      [seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: one }] })],
      [seg(3), segmentImage({ sequence: 3, firstLsn: 2n })],
    ],
  },
  'log|first LSNs unordered|-': {
    files: [
      [seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: batchOf(1n, 5) }] })],
      [seg(2), segmentImage({ sequence: 2, firstLsn: 1n })],
      [seg(3), segmentImage({ sequence: 3, firstLsn: 6n })],
    ],
    checkpointLsn: 5n,
  },
  'log|starts after checkpoint|-': {
    files: [[seg(4), segmentImage({ sequence: 4, firstLsn: 10n, batches: [{ bytes: batchOf(10n, 1) }] })]],
    checkpointLsn: 3n,
  },
  'log|ends before checkpoint|-': {
    files: [[seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: batchOf(1n, 2) }] })]],
    checkpointLsn: 5n,
  },
  'log|complete|-': {
    files: [[seg(1), segmentImage({ sequence: 1, firstLsn: 1n, batches: [{ bytes: batchOf(1n, 2) }] })]],
    checkpointLsn: 1n,
    check: (result) => expect(result.recordsReplayed).toBe(1),
  },
};

const keyOf = (row: WalRecoveryRow) => `${row.at}|${row.found}|${row.after}`;

async function outcomeOf(scenario: Scenario): Promise<{ result?: WalRecoveryResult; error?: unknown }> {
  const fs = await simWith(1, new Map(scenario.files));
  try {
    return { result: (await recover(fs, { checkpointLsn: scenario.checkpointLsn ?? 0n })).result };
  } catch (error) {
    return { error };
  }
}

describe('the WAL recovery decision table', () => {
  it('has exactly one scenario per row and no two rows with the same inputs', () => {
    const keys = WAL_RECOVERY_TABLE.map(keyOf);
    expect(new Set(keys).size).toBe(keys.length);
    expect(Object.keys(SCENARIOS).sort()).toEqual([...keys].sort());
  });

  it.each(WAL_RECOVERY_TABLE.map((row) => [keyOf(row), row] as const))(
    'row %s decides as the table says',
    async (key, row) => {
      const scenario = SCENARIOS[key];
      expect(scenario, key).toBeDefined();
      if (scenario === undefined) return;
      const { result, error } = await outcomeOf(scenario);
      if (row.decision === 'refuse') {
        expect(error, key).toBeInstanceOf(WalCorruptionError);
        expect((error as WalCorruptionError).row).toBe(row);
        expect(isJubilantError(error, 'CORRUPTION')).toBe(true);
        expect((error as Error).message).toContain(row.why ?? '');
        expect((error as Error).message).toContain('will not silently skip committed transactions');
        return;
      }
      expect(error, String(error)).toBeUndefined();
      if (result === undefined) return;
      if (row.decision !== 'replay') expect(result.decisions).toContain(row);
      scenario.check?.(result);
    },
  );

  it('a repaired log recovers again to the same end with nothing torn, for every row that repairs', async () => {
    for (const key of ['batch|invalid|none', 'header|invalid|last, empty']) {
      const scenario = SCENARIOS[key];
      if (scenario === undefined) throw new Error(key);
      const fs = await simWith(2, new Map(scenario.files));
      const first = await recover(fs);
      const second = await recover(fs);
      expect(first.result.tornTail, key).toBeDefined();
      expect(second.result.tornTail, key).toBeUndefined();
      expect(second.result.end, key).toEqual(first.result.end);
      expect(second.lines, key).toEqual(first.lines);
    }
  });

  it('without repair nothing is written, and the torn tail is reported every time', async () => {
    const scenario = SCENARIOS['batch|invalid|none'];
    if (scenario === undefined) throw new Error('missing scenario');
    const fs = await simWith(3, new Map(scenario.files));
    const before = fs.snapshot('/db/wal-000001.log');
    const first = await recover(fs, { repair: false });
    const second = await recover(fs, { repair: false });
    expect(fs.snapshot('/db/wal-000001.log')).toEqual(before);
    expect(second.result.tornTail).toEqual(first.result.tornTail);
  });
});
