// Proves that a crash at any I/O call of a checkpoint reopens to exactly the previous or the new checkpoint's contents, never a mix.
import { describe, expect, it } from 'vitest';
import { SimFileSystem, SimulatedCrashError } from '../../../src/io/sim-file-system.js';
import { Btree } from '../../../src/storage/btree/btree.js';
import type { LeafEntry } from '../../../src/storage/btree/node.js';
import { leafEntryBytes, nodeEntryBytesMax } from '../../../src/storage/btree/node-format.js';
import { PageStore } from '../../../src/storage/btree/page-store.js';
import { validateBothImages } from '../../../src/storage/btree/validate.js';
import { keySizeMaxBytes } from '../../../src/storage/pager/page-format.js';
import { toHex } from '../../../src/util/bytes.js';
import { lsn } from '../../../src/util/ids.js';
import { SeededRandom, testSeed } from '../../../src/util/random.js';
import { attachCowChecker } from '../../helpers/cow-checker.js';

const DIR = '/db';
const PAGE_SIZE_BYTES = 4096;
const OPTIONS = { pageSizeBytes: PAGE_SIZE_BYTES, databaseUuid: new Uint8Array(16).fill(0xc7) };
const KEY_BYTES_MAX = keySizeMaxBytes(PAGE_SIZE_BYTES);
const ENTRY_BYTES_MAX = nodeEntryBytesMax(PAGE_SIZE_BYTES);
/** Scales the workload: keys in C1, and the changes of the batch that makes C2. */
const SCALE = Number(process.env.JUBILANT_BTREE_CRASH_SCALE ?? 1);
const C1_KEYS = 120 * SCALE;
const BATCH = { inserts: 40 * SCALE, overwrites: 30 * SCALE, tombstones: 10 * SCALE, removes: 60 * SCALE };

type CrashKind = 'after' | 'during';
type Loss = 'powerLoss' | 'processCrash';

/** The workload, drawn from one seed so a dry run and every crash run make exactly the same calls. */
class Workload {
  readonly model = new Map<string, LeafEntry>();
  private readonly random: SeededRandom;
  private nextLsn = 1;

  constructor(seed: number) {
    this.random = new SeededRandom(seed);
  }

  get lastLsn(): number {
    return this.nextLsn - 1;
  }

  /** Short, medium and very long keys; the long ones share a stem, so separators are long and the tree deep. */
  newKey(): Uint8Array {
    const shape = this.random.int(3);
    if (shape === 0) return this.random.bytes(this.random.range(1, 8));
    if (shape === 1) return this.random.bytes(this.random.range(20, 100));
    const tail = this.random.bytes(this.random.range(1, 3));
    return new Uint8Array([...new Uint8Array(KEY_BYTES_MAX - 3).fill(0x61), ...tail]);
  }

  entry(key: Uint8Array, tombstone: boolean): LeafEntry {
    const revision = lsn(this.nextLsn++);
    if (tombstone) return { key, valueType: 'bytes', tombstone, expiresAtMs: 0, revision };
    const room =
      ENTRY_BYTES_MAX -
      leafEntryBytes({
        key,
        valueType: 'bytes',
        tombstone,
        inlineValue: new Uint8Array(),
        expiresAtMs: 0,
        revision,
      });
    const inlineValue = this.random.bytes(Math.min(room, this.random.range(0, 300)));
    return { key, valueType: 'bytes', tombstone, inlineValue, expiresAtMs: 0, revision };
  }

  existingKey(): Uint8Array {
    const keys = [...this.model.values()].map((entry) => entry.key);
    return this.random.pick(keys);
  }

  async put(tree: Btree, entry: LeafEntry): Promise<void> {
    await tree.put(entry);
    this.model.set(toHex(entry.key), entry);
  }

  async buildC1(tree: Btree): Promise<void> {
    for (let i = 0; i < C1_KEYS; i++)
      await this.put(tree, this.entry(this.newKey(), this.random.chance(0.1)));
  }

  /** Inserts, overwrites, tombstones and removes: enough to split some pages and merge others. */
  async applyBatch(tree: Btree): Promise<void> {
    for (let i = 0; i < BATCH.inserts; i++) await this.put(tree, this.entry(this.newKey(), false));
    for (let i = 0; i < BATCH.overwrites; i++) await this.put(tree, this.entry(this.existingKey(), false));
    for (let i = 0; i < BATCH.tombstones; i++) await this.put(tree, this.entry(this.existingKey(), true));
    for (let i = 0; i < BATCH.removes; i++) {
      const key = this.existingKey();
      expect(await tree.remove(key, lsn(this.nextLsn++))).toBe(true);
      this.model.delete(toHex(key));
    }
  }

  contents(): string {
    return [...this.model.values()]
      .sort((left, right) => Buffer.compare(left.key, right.key))
      .map(describeEntry)
      .join('\n');
  }
}

function describeEntry(entry: LeafEntry): string {
  const value = entry.inlineValue === undefined ? '-' : toHex(entry.inlineValue);
  return `${toHex(entry.key)} ${entry.tombstone ? 'tombstone' : entry.valueType} ${value} rev=${entry.revision}`;
}

async function contentsOf(tree: Btree): Promise<string> {
  const lines: string[] = [];
  for await (const entry of tree.cursor()) lines.push(describeEntry(entry));
  return lines.join('\n');
}

/** C1 checkpointed and the batch applied in memory: the state just before the checkpoint under test. */
async function prepare(seed: number, fs: SimFileSystem) {
  await fs.mkdir(DIR);
  const store = await PageStore.create(fs, DIR, OPTIONS);
  const tree = new Btree(store);
  const workload = new Workload(seed);
  await workload.buildC1(tree);
  await store.checkpoint(lsn(workload.lastLsn));
  const c1 = workload.contents();
  await workload.applyBatch(tree);
  return { store, tree, workload, c1, c2: workload.contents() };
}

/** Counts the calls of the checkpoint under test, and checks the uninterrupted run. */
async function dryRun(seed: number): Promise<{ calls: number; depth: number }> {
  const fs = new SimFileSystem({ seed });
  const checker = attachCowChecker(fs, DIR, OPTIONS);
  const { store, tree, workload, c1, c2 } = await prepare(seed, fs);
  expect(c1).not.toBe(c2);
  expect(await contentsOf(tree)).toBe(c2);
  const before = fs.callCount();
  await store.checkpoint(lsn(workload.lastLsn));
  const calls = fs.callCount() - before;
  const depth = await tree.depth();
  await store.close();
  const reopened = await PageStore.open(fs, DIR, OPTIONS);
  expect(await contentsOf(new Btree(reopened))).toBe(c2);
  expect((await validateBothImages(fs, DIR, OPTIONS)).errors).toEqual([]);
  expect(checker.messages).toEqual([]);
  return { calls, depth };
}

/** Crashes the checkpoint at its call `n`, loses power or the process, reopens; returns which image it found. */
async function crashRun(seed: number, n: number, kind: CrashKind, loss: Loss): Promise<'C1' | 'C2'> {
  const where = `seed ${seed}, crash ${kind} call ${n} of the checkpoint, then ${loss}`;
  const fs = new SimFileSystem({ seed: (seed + n * 7919) >>> 0 });
  const checker = attachCowChecker(fs, DIR, OPTIONS);
  const { store, workload, c1, c2 } = await prepare(seed, fs);
  const base = fs.callCount();
  if (kind === 'after') fs.crashAfterCall(base + n);
  else fs.crashDuringCall(base + n);
  const outcome = await store.checkpoint(lsn(workload.lastLsn)).then(
    () => 'completed' as const,
    (error: unknown) => error,
  );
  if (outcome !== 'completed') expect(outcome, where).toBeInstanceOf(SimulatedCrashError);
  const next = loss === 'powerLoss' ? fs.powerLoss().fs : fs.processCrash();
  const nextChecker = attachCowChecker(next, DIR, OPTIONS);
  const reopened = await PageStore.open(next, DIR, OPTIONS);
  const tree = new Btree(reopened);
  const found = await contentsOf(tree);
  expect(found === c1 || found === c2, `${where}: contents are neither C1 nor C2`).toBe(true);
  if (outcome === 'completed') expect(found === c2, `${where}: a completed checkpoint was lost`).toBe(true);
  expect((await validateBothImages(next, DIR, OPTIONS)).errors, where).toEqual([]);
  await checkpointAfterRecovery(next, reopened, tree, workload.lastLsn + 1, where);
  expect([...checker.messages, ...nextChecker.messages], where).toEqual([]);
  return found === c2 ? 'C2' : 'C1';
}

/** The recovered store keeps working: a change and a checkpoint leave both images whole. */
async function checkpointAfterRecovery(
  fs: SimFileSystem,
  store: PageStore,
  tree: Btree,
  nextLsn: number,
  where: string,
): Promise<void> {
  const key = new Uint8Array([0x42, 0x42]);
  await tree.put({
    key,
    valueType: 'bytes',
    tombstone: false,
    inlineValue: key,
    expiresAtMs: 0,
    revision: lsn(nextLsn),
  });
  expect(await tree.remove(key, lsn(nextLsn + 1))).toBe(true);
  await tree.put({
    key,
    valueType: 'string',
    tombstone: false,
    inlineValue: key,
    expiresAtMs: 0,
    revision: lsn(nextLsn + 2),
  });
  await store.checkpoint(lsn(nextLsn + 2));
  expect((await validateBothImages(fs, DIR, OPTIONS)).errors, `${where}, then a checkpoint`).toEqual([]);
  await store.close();
}

describe('B+Tree checkpoints under crashes', () => {
  const seed = testSeed();

  for (const loss of ['powerLoss', 'processCrash'] as const) {
    it(`a crash after or during any call of a checkpoint, then ${loss}, reopens to C1 or C2 exactly`, async () => {
      console.log(`btree crash (${loss}): seed ${seed} (replay with JUBILANT_SEED=${seed})`);
      const { calls, depth } = await dryRun(seed);
      console.log(`btree crash (${loss}): the checkpoint makes ${calls} calls; tree depth ${depth}`);
      const seen = { after: { C1: 0, C2: 0 }, during: { C1: 0, C2: 0 } };
      for (let n = 1; n <= calls; n++) {
        for (const kind of ['after', 'during'] as const) seen[kind][await crashRun(seed, n, kind, loss)] += 1;
      }
      console.log(`btree crash (${loss}): images found ${JSON.stringify(seen)}`);
      // The early crash points must find C1 and the late ones C2: the loop really straddled the switch.
      expect(seen.after.C1 > 0 && seen.after.C2 > 0 && seen.during.C1 > 0).toBe(true);
    });
  }
});
