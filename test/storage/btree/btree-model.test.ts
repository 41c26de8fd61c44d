// Proves the B+Tree agrees with a sorted-Map model over random puts, tombstones, removes, reads, scans, checkpoints and reopens.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../../src/io/sim-file-system.js';
import { Btree } from '../../../src/storage/btree/btree.js';
import { type KeyRange, prefixRange } from '../../../src/storage/btree/key-range.js';
import type { LeafEntry } from '../../../src/storage/btree/node.js';
import { leafEntryBytes } from '../../../src/storage/btree/node-format.js';
import { PageStore } from '../../../src/storage/btree/page-store.js';
import { validateBothImages } from '../../../src/storage/btree/validate.js';
import { keySizeMaxBytes } from '../../../src/storage/pager/page-format.js';
import type { ValueType } from '../../../src/storage/value-type.js';
import { compareBytes, toHex } from '../../../src/util/bytes.js';
import { lsn } from '../../../src/util/ids.js';
import { testSeed } from '../../../src/util/random.js';
import { attachCowChecker, type CowChecker } from '../../helpers/cow-checker.js';

const DIR = '/db';
const PAGE_SIZE_BYTES = 4096;
const OPTIONS = { pageSizeBytes: PAGE_SIZE_BYTES, databaseUuid: new Uint8Array(16).fill(0x4d) };
const KEY_BYTES_MAX = keySizeMaxBytes(PAGE_SIZE_BYTES);
const RUNS = Number(process.env.JUBILANT_BTREE_RUNS ?? 100);
/** Bounds the whole property, shrinking included, so a failure in CI reports within this time. */
const TIME_LIMIT_MS = Number(process.env.JUBILANT_BTREE_TIME_LIMIT_MS ?? 20_000 + 100 * RUNS);

// ---------------------------------------------------------------------------------------------------
// What fast-check generates: small descriptions (so a shrunk counterexample prints readably), turned
// into keys and entries inside the property.

/** A key: `stemBytes` copies of `stem`, then `tail`, cut to the largest key size. Long stems force long separators. */
interface KeySpec {
  stem: number;
  stemBytes: number;
  tail: number[];
}

type Op =
  | { kind: 'put'; key: number; value: ValueSpec }
  | { kind: 'putMany'; from: number; count: number; value: ValueSpec }
  | { kind: 'remove'; key: number }
  | { kind: 'removeMany'; from: number; count: number }
  | { kind: 'get'; key: number }
  | { kind: 'range'; start?: Bound; end?: Bound; reverse: boolean; limit?: number }
  | { kind: 'prefix'; key: number; prefixBytes: number; allFf: boolean; reverse: boolean; limit?: number }
  | { kind: 'checkpoint' }
  | { kind: 'reopen'; how: 'close' | 'processCrash' | 'powerLoss' };

interface ValueSpec {
  tombstone: boolean;
  valueType: ValueType;
  valueBytes: number;
  fill: number;
  expiresAtMs: number;
}

/** A pool key, or just after it (the key with a 0x00 byte appended). */
interface Bound {
  key: number;
  after: boolean;
}

const keySpecArb: fc.Arbitrary<KeySpec> = fc.record({
  stem: fc.constantFrom(0x00, 0x61, 0xff),
  stemBytes: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 3 },
    { arbitrary: fc.integer({ min: 4, max: 300 }), weight: 1 },
    { arbitrary: fc.integer({ min: KEY_BYTES_MAX - 8, max: KEY_BYTES_MAX }), weight: 3 },
  ),
  tail: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 }),
});

const valueArb: fc.Arbitrary<ValueSpec> = fc.record({
  tombstone: fc.oneof(
    { arbitrary: fc.constant(false), weight: 4 },
    { arbitrary: fc.constant(true), weight: 1 },
  ),
  valueType: fc.constantFrom<ValueType>('bytes', 'string', 'int64'),
  valueBytes: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 41, max: 1000 })),
  fill: fc.integer({ min: 0, max: 255 }),
  expiresAtMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 40 })),
});

const boundArb: fc.Arbitrary<Bound> = fc.record({ key: fc.nat(), after: fc.boolean() });
const limitArb = fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.nat(), value: valueArb }), weight: 12 },
  {
    arbitrary: fc.record({
      kind: fc.constant('putMany' as const),
      from: fc.nat(),
      count: fc.integer({ min: 1, max: 200 }),
      value: valueArb,
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('remove' as const), key: fc.nat() }), weight: 6 },
  {
    arbitrary: fc.record({
      kind: fc.constant('removeMany' as const),
      from: fc.nat(),
      count: fc.integer({ min: 1, max: 60 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('get' as const), key: fc.nat() }), weight: 5 },
  {
    arbitrary: fc.record(
      {
        kind: fc.constant('range' as const),
        start: boundArb,
        end: boundArb,
        reverse: fc.boolean(),
        limit: limitArb,
      },
      { requiredKeys: ['kind', 'reverse'] },
    ),
    weight: 3,
  },
  {
    arbitrary: fc.record(
      {
        kind: fc.constant('prefix' as const),
        key: fc.nat(),
        prefixBytes: fc.integer({ min: 1, max: KEY_BYTES_MAX }),
        allFf: fc.boolean(),
        reverse: fc.boolean(),
        limit: limitArb,
      },
      { requiredKeys: ['kind', 'key', 'prefixBytes', 'allFf', 'reverse'] },
    ),
    weight: 3,
  },
  { arbitrary: fc.constant({ kind: 'checkpoint' as const }), weight: 3 },
  {
    arbitrary: fc.record({
      kind: fc.constant('reopen' as const),
      how: fc.constantFrom('close' as const, 'processCrash' as const, 'powerLoss' as const),
    }),
    weight: 2,
  },
);

function keyOf(spec: KeySpec): Uint8Array {
  const bytes = [...new Array<number>(spec.stemBytes).fill(spec.stem), ...spec.tail].slice(0, KEY_BYTES_MAX);
  return new Uint8Array(bytes.length === 0 ? [spec.stem] : bytes);
}

// ---------------------------------------------------------------------------------------------------
// The system under test, the model, and how they are compared.

/** An entry as a comparable string: every field the tree stores. */
function describeEntry(entry: LeafEntry | undefined): string | undefined {
  if (entry === undefined) return undefined;
  const value = entry.inlineValue === undefined ? '-' : toHex(entry.inlineValue);
  const kind = entry.tombstone ? 'tombstone' : entry.valueType;
  return `${toHex(entry.key)} ${kind} ${value} exp=${entry.expiresAtMs} rev=${entry.revision}`;
}

class Harness {
  fs: SimFileSystem;
  store!: PageStore;
  tree!: Btree;
  /** The tree's contents by hex key; tombstones are entries the tree keeps, so they are here too. */
  model = new Map<string, LeafEntry>();
  /** The model at the last completed checkpoint: what any reopen must find. */
  durable = new Map<string, LeafEntry>();
  nextLsn = 1;
  depthMax = 0;
  private checker: CowChecker;
  private violations = 0;

  constructor(seed: number) {
    this.fs = new SimFileSystem({ seed });
    this.checker = attachCowChecker(this.fs, DIR, OPTIONS);
  }

  async create(): Promise<void> {
    await this.fs.mkdir(DIR);
    this.store = await PageStore.create(this.fs, DIR, OPTIONS);
    this.tree = new Btree(this.store);
  }

  entryFor(key: Uint8Array, spec: ValueSpec): LeafEntry {
    const revision = lsn(this.nextLsn++);
    const base = { key, valueType: spec.valueType, expiresAtMs: spec.expiresAtMs, revision };
    if (spec.tombstone) return { ...base, tombstone: true };
    const room =
      this.tree.entryBytesMax - leafEntryBytes({ ...base, tombstone: false, inlineValue: new Uint8Array() });
    const valueBytes = spec.valueType === 'int64' ? 8 : Math.min(spec.valueBytes, room);
    const inlineValue = new Uint8Array(valueBytes).fill(
      spec.valueType === 'string' ? 0x61 + (spec.fill % 26) : spec.fill,
    );
    if (valueBytes >= 4) new DataView(inlineValue.buffer).setUint32(0, this.nextLsn);
    const entry: LeafEntry = { ...base, tombstone: false, inlineValue };
    expect(leafEntryBytes(entry)).toBeLessThanOrEqual(this.tree.entryBytesMax);
    return entry;
  }

  async put(entry: LeafEntry): Promise<void> {
    await this.tree.put(entry);
    this.model.set(toHex(entry.key), entry);
  }

  async remove(key: Uint8Array): Promise<void> {
    const removed = await this.tree.remove(key, lsn(this.nextLsn++));
    expect(removed, `remove ${toHex(key)} reports whether the key was there`).toBe(
      this.model.has(toHex(key)),
    );
    this.model.delete(toHex(key));
  }

  async get(key: Uint8Array): Promise<void> {
    const found = await this.tree.get(key);
    expect(describeEntry(found)).toBe(describeEntry(this.model.get(toHex(key))));
  }

  async scan(range: KeyRange, reverse: boolean, limit: number | undefined): Promise<void> {
    const got: string[] = [];
    for await (const entry of this.tree.cursor({ ...range, reverse })) {
      if (limit !== undefined && got.length >= limit) break;
      got.push(describeEntry(entry) as string);
    }
    expect(got).toEqual(this.expectedScan(range, reverse, limit));
  }

  expectedScan(range: KeyRange, reverse: boolean, limit: number | undefined): string[] {
    const inRange = [...this.model.values()]
      .filter((entry) => range.start === undefined || compareBytes(entry.key, range.start) >= 0)
      .filter((entry) => range.end === undefined || compareBytes(entry.key, range.end) < 0)
      .sort((left, right) => compareBytes(left.key, right.key));
    if (reverse) inRange.reverse();
    return inRange.slice(0, limit).map((entry) => describeEntry(entry) as string);
  }

  async checkpoint(): Promise<void> {
    await this.store.checkpoint(lsn(this.nextLsn - 1));
    this.durable = new Map(this.model);
    this.depthMax = Math.max(this.depthMax, await this.tree.depth());
    await this.expectValid('after a checkpoint');
  }

  async reopen(how: 'close' | 'processCrash' | 'powerLoss'): Promise<void> {
    if (how === 'close') await this.store.close();
    else this.replaceFs(how === 'processCrash' ? this.fs.processCrash() : this.fs.powerLoss().fs);
    this.store = await PageStore.open(this.fs, DIR, OPTIONS);
    this.tree = new Btree(this.store);
    this.model = new Map(this.durable);
    await this.expectValid(`after reopen (${how})`);
    await this.scan({}, false, undefined);
  }

  /** The old instance is dead; its checker's verdict is kept, and a new one watches the successor. */
  private replaceFs(next: SimFileSystem): void {
    this.violations += this.checker.violations;
    this.checker.detach();
    this.fs = next;
    this.checker = attachCowChecker(this.fs, DIR, OPTIONS);
  }

  async expectValid(when: string): Promise<void> {
    const report = await validateBothImages(this.fs, DIR, OPTIONS);
    expect(report.errors, `validator ${when}`).toEqual([]);
    expect(this.violations + this.checker.violations, this.checker.messages.join('\n')).toBe(0);
  }
}

async function apply(h: Harness, keys: readonly Uint8Array[], op: Op): Promise<void> {
  const key = (index: number): Uint8Array => keys[index % keys.length] as Uint8Array;
  const bound = (b: Bound | undefined): Uint8Array | undefined =>
    b === undefined ? undefined : b.after ? new Uint8Array([...key(b.key), 0]) : key(b.key);
  switch (op.kind) {
    case 'put':
      return h.put(h.entryFor(key(op.key), op.value));
    case 'putMany':
      for (let i = 0; i < op.count; i++) await h.put(h.entryFor(key(op.from + i), op.value));
      return;
    case 'remove':
      return h.remove(key(op.key));
    case 'removeMany':
      for (let i = 0; i < op.count; i++) await h.remove(key(op.from + i));
      return;
    case 'get':
      return h.get(key(op.key));
    case 'range':
      return h.scan({ start: bound(op.start), end: bound(op.end) }, op.reverse, op.limit);
    case 'prefix': {
      const prefix = op.allFf
        ? new Uint8Array(op.prefixBytes % 4 || 1).fill(0xff)
        : key(op.key).slice(0, op.prefixBytes);
      return h.scan(prefixRange(prefix), op.reverse, op.limit);
    }
    case 'checkpoint':
      return h.checkpoint();
    case 'reopen':
      return h.reopen(op.how);
  }
}

describe('B+Tree against a sorted-Map model', () => {
  it('agrees with the model at every step of random operation sequences, across checkpoints and reopens', async () => {
    const seed = testSeed();
    console.log(`btree model: seed ${seed} (replay with JUBILANT_SEED=${seed}), ${RUNS} runs`);
    let depthMax = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(keySpecArb, { minLength: 1, maxLength: 400, size: 'max' }),
        fc.array(opArb, { minLength: 1, maxLength: 80, size: 'large' }),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        async (keySpecs, ops, fsSeed) => {
          const keys = keySpecs.map(keyOf);
          const h = new Harness(fsSeed);
          await h.create();
          for (const op of ops) await apply(h, keys, op);
          await h.checkpoint();
          await h.scan({}, false, undefined);
          await h.scan({}, true, undefined);
          depthMax = Math.max(depthMax, h.depthMax);
        },
      ),
      {
        seed,
        numRuns: RUNS,
        plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS, { failOnInterrupt: true })],
      },
    );
    console.log(`btree model: deepest tree seen had ${depthMax} levels`);
  });
});
