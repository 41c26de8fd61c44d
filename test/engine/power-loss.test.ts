// Proves that a power cut at a random instant under concurrent writers (checkpoints and WAL rollovers included) reopens to exactly the commits of an LSN prefix that holds every acknowledged commit and everything a completed fdatasync covered (TESTING.md #2, #16).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Database, type DatabaseOptions } from '../../src/engine/database.js';
import { SimFileSystem, SimulatedCrashError, type WriteEvent } from '../../src/io/sim-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateBothImages, validateImage } from '../../src/storage/btree/validate.js';
import {
  parseVlogSegmentFileName,
  readVlogRecordFrame,
  VLOG_SEGMENT_HEADER_BYTES,
} from '../../src/storage/vlog/vlog-segment-format.js';
import type { Durability } from '../../src/storage/wal/group-commit.js';
import type { WalRecord } from '../../src/storage/wal/wal-record.js';
import {
  decodeWalBatchRecords,
  readWalBatch,
  WAL_SEGMENT_HEADER_BYTES,
} from '../../src/storage/wal/wal-segment-format.js';
import { isJubilantError } from '../../src/util/errors.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';
import { attachCowChecker, type CowChecker } from '../helpers/cow-checker.js';
import { attachWriteAheadChecker, type WriteAheadChecker } from '../helpers/write-ahead-checker.js';

/** Seeds per variant; raise with JUBILANT_POWER_LOSS_SEEDS for a soak. JUBILANT_SEED replays one seed. */
const SEED_COUNT = Number(process.env.JUBILANT_POWER_LOSS_SEEDS ?? 100);
const DIR = '/db';
const PAGE_SIZE_BYTES = 4096;
/** Power cuts per seed: each reopen continues on what survived the previous one. */
const ROUNDS = 2;
/** Per test: generous, since a soak (JUBILANT_POWER_LOSS_SEEDS) scales the work. */
const TEST_TIMEOUT_MS = 60_000 + SEED_COUNT * 1_000;
/** A writer that has not settled this long after the power cut is reported as a hang. */
const SETTLE_MS_MAX = 5_000;

type Variant = 'fsync' | 'mixed' | 'relaxed';

interface Config {
  readonly options: DatabaseOptions;
  readonly writers: number;
  readonly keySpace: number;
  readonly checkpointChance: number;
}

/** One set or del issued by a writer, and what became of it. */
interface Op {
  readonly writer: number;
  readonly key: string;
  /** undefined for a del. Every set's value is unique, so the WAL record it became can be found. */
  readonly value: string | undefined;
  readonly durability: Durability;
  status: 'in flight' | 'acknowledged' | 'failed';
  error?: unknown;
  /** The LSN of its WAL record, when a record for it reached a WAL write. */
  lsn?: bigint;
}

/** A WAL record as the tap saw it written: the one mutation of a set or del, or an empty commit. */
interface Tapped {
  readonly lsn: bigint;
  readonly key: string | undefined;
  readonly value: string | undefined;
}

/** What a round leaves for the next open to check. */
interface Crash {
  readonly ops: readonly Op[];
  readonly tapped: ReadonlyMap<bigint, Tapped>;
  /** The durable LSN of the crashed database once its in-flight work settled: what completed fdatasyncs covered. */
  readonly durableLsn: bigint;
  /** The durable LSN read at the instant the power was cut (it can only be lower than `durableLsn`). */
  readonly durableLsnAtCut: bigint | undefined;
  readonly report: readonly string[];
  readonly description: string;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function drawConfig(rng: SeededRandom, variant: Variant): Config {
  const durability: Durability = variant === 'relaxed' ? 'relaxed' : 'fsync';
  return {
    options: {
      durability,
      pageSizeBytes: PAGE_SIZE_BYTES,
      cacheBytes: 1024 * 1024,
      walSegmentBytes: rng.pick([2048, 4096, 16384]),
      vlogSegmentBytes: rng.pick([4096, 16384, 1024 * 1024]),
      checkpointWalBytes: rng.pick([1024, 4096, 65536]),
      checkpointIntervalMs: 0,
      groupCommitBatchBytesMax: rng.pick([1024, 64 * 1024]),
    },
    writers: rng.range(2, 8),
    keySpace: rng.pick([6, 40, 150]),
    checkpointChance: rng.pick([0, 0.03]),
  };
}

/** Keys of a few lengths, so leaves split and merge; long ones share a stem. */
function keyOf(n: number): string {
  return n % 5 === 0 ? `long-${'k'.repeat(250)}-${n}` : `key-${n}`;
}

/** A write of a group-commit batch (not a segment header, not preallocation zeros). */
function isWalBatchWrite(event: WriteEvent): boolean {
  if (!/wal-\d+\.(log|spare)$/.test(event.path) || event.offsetBytes < WAL_SEGMENT_HEADER_BYTES) return false;
  return event.bytes.byteLength >= 4 && !event.bytes.subarray(0, 4).every((byte) => byte === 0);
}

/** Value-log records as written, by `segment:offset`: a WAL record names its large value by pointer. */
type VlogTap = Map<string, string>;

/** Records every value-log record write (one frame per write) with the value it holds. */
function attachVlogTap(fs: SimFileSystem, values: VlogTap, problems: string[]): () => void {
  return fs.addWriteObserver((event) => {
    const segment = parseVlogSegmentFileName(event.path.split('/').pop() ?? '');
    if (segment === undefined || event.offsetBytes < VLOG_SEGMENT_HEADER_BYTES) return;
    const read = readVlogRecordFrame(event.bytes, 0, { file: event.path });
    if (!read.ok || read.frameBytes !== event.bytes.byteLength) {
      problems.push(`value-log write at ${event.offsetBytes} of ${event.path} is not one record frame`);
      return;
    }
    values.set(`${segment}:${event.offsetBytes}`, decoder.decode(read.record.value));
  });
}

/** Records every WAL batch as it is written; the LSNs of the records are what the test checks in. */
function attachWalTap(
  fs: SimFileSystem,
  tapped: Map<bigint, Tapped>,
  vlogValues: VlogTap,
  problems: string[],
): () => void {
  return fs.addWriteObserver((event) => {
    if (!isWalBatchWrite(event)) return;
    try {
      const bytes = new Uint8Array(WAL_SEGMENT_HEADER_BYTES + event.bytes.byteLength);
      bytes.set(event.bytes, WAL_SEGMENT_HEADER_BYTES);
      const context = { file: event.path };
      const batch = readWalBatch(bytes, WAL_SEGMENT_HEADER_BYTES, context);
      if (batch.kind !== 'valid') {
        problems.push(
          `WAL write at ${event.offsetBytes} of ${event.path} is not a valid batch: ${batch.kind}`,
        );
        return;
      }
      const decoded = decodeWalBatchRecords(bytes, batch, context);
      if (!decoded.ok) {
        problems.push(`WAL batch at ${event.offsetBytes} of ${event.path}: ${decoded.reason}`);
        return;
      }
      for (const record of decoded.records) tapped.set(record.lsn, describeRecord(record, vlogValues));
    } catch (error) {
      problems.push(`WAL tap failed: ${String(error)}`); // never throw: that would fail the write
    }
  });
}

function describeRecord(record: WalRecord, vlogValues: VlogTap): Tapped {
  if (record.body.kind !== 'commit' || record.body.mutations.length === 0) {
    return { lsn: record.lsn, key: undefined, value: undefined };
  }
  const [mutation] = record.body.mutations;
  if (mutation === undefined || record.body.mutations.length !== 1) {
    throw new Error(
      `record ${record.lsn} has ${record.body.mutations.length} mutations; sets and dels log one`,
    );
  }
  const key = decoder.decode(mutation.key);
  if (mutation.kind === 'tombstone') return { lsn: record.lsn, key, value: undefined };
  if (mutation.vlogPointer !== undefined) {
    // The value log is flushed before the WAL batch is written, so its record was tapped already.
    const value = vlogValues.get(`${mutation.vlogPointer.segment}:${mutation.vlogPointer.offsetBytes}`);
    if (value === undefined)
      throw new Error(`record ${record.lsn} points at a value-log record never written`);
    return { lsn: record.lsn, key, value };
  }
  if (mutation.valueType !== 'string' || mutation.inlineValue === undefined) {
    throw new Error(`record ${record.lsn} holds a ${mutation.valueType} value; the workload writes strings`);
  }
  return { lsn: record.lsn, key, value: decoder.decode(mutation.inlineValue) };
}

/** Is this what a writer may see once the power is cut (the process is gone, or the WAL failed)? */
function isCrashOutcome(error: unknown): boolean {
  return (
    error instanceof SimulatedCrashError ||
    isJubilantError(error, 'READ_ONLY') ||
    isJubilantError(error, 'CLOSED')
  );
}

interface Probes {
  readonly cow: CowChecker;
  readonly writeAhead: WriteAheadChecker;
  readonly tapped: Map<bigint, Tapped>;
  readonly tapProblems: string[];
}

/** `vlogValues` lives across rounds: a reopen rewrites WAL batches whose values were written before. */
function attachProbes(fs: SimFileSystem, vlogValues: VlogTap): Probes {
  const tapped = new Map<bigint, Tapped>();
  const tapProblems: string[] = [];
  attachVlogTap(fs, vlogValues, tapProblems);
  attachWalTap(fs, tapped, vlogValues, tapProblems);
  return {
    cow: attachCowChecker(fs, DIR, { pageSizeBytes: PAGE_SIZE_BYTES }),
    writeAhead: attachWriteAheadChecker(fs, DIR, { pageSizeBytes: PAGE_SIZE_BYTES }),
    tapped,
    tapProblems,
  };
}

function checkProbes(probes: Probes, problems: string[]): void {
  problems.push(...probes.cow.messages.map((message) => `copy-on-write: ${message}`));
  problems.push(...probes.writeAhead.messages.map((message) => `write-ahead: ${message}`));
  problems.push(...probes.tapProblems);
  if (probes.writeAhead.uncheckedWrites > 0) {
    problems.push(`${probes.writeAhead.uncheckedWrites} writes to data.pages were not whole aligned pages`);
  }
}

async function openDatabase(fs: SimFileSystem, config: Config, probes: Probes): Promise<Database> {
  // The crashed process held LOCK; in-process it has our own live pid, so remove it as a new boot would.
  if (await fs.exists(join(DIR, 'LOCK'))) await fs.unlink(join(DIR, 'LOCK'));
  const db = await Database.open(DIR, { ...config.options, fs });
  probes.writeAhead.setDurableLsn(() => db.stats().lsn.durable);
  return db;
}

async function readAll(db: Database): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  for await (const { key, value } of db.scan()) {
    if (typeof value !== 'string') throw new Error(`key ${key} holds a ${typeof value}, not a string`);
    state.set(key, value);
  }
  return state;
}

function applyPrefix(
  base: ReadonlyMap<string, string>,
  tapped: ReadonlyMap<bigint, Tapped>,
  range: { after: bigint; upTo: bigint },
): Map<string, string> | string {
  const state = new Map(base);
  for (let at = range.after + 1n; at <= range.upTo; at++) {
    const record = tapped.get(at);
    if (record === undefined) return `LSN ${at} was recovered but no WAL write ever carried it`;
    if (record.key === undefined) continue;
    if (record.value === undefined) state.delete(record.key);
    else state.set(record.key, record.value);
  }
  return state;
}

function describeDifference(
  actual: ReadonlyMap<string, string>,
  expected: ReadonlyMap<string, string>,
): string {
  const lines: string[] = [];
  for (const key of new Set([...actual.keys(), ...expected.keys()])) {
    const got = actual.get(key);
    const want = expected.get(key);
    if (got !== want)
      lines.push(`${key.slice(0, 40)}: found ${got?.slice(0, 24)}, expected ${want?.slice(0, 24)}`);
  }
  return lines.slice(0, 8).join('; ');
}

/**
 * Finds each op's LSN. A set's value is unique, so its record names it; a del is the n-th record on its
 * key, because commits on one key are submitted, and so numbered, in the order they were called.
 */
function assignLsns(
  ops: readonly Op[],
  tapped: ReadonlyMap<bigint, Tapped>,
  baseLsn: bigint,
  problems: string[],
): void {
  const recordsByKey = new Map<string, Tapped[]>();
  for (const record of [...tapped.values()].sort((a, b) => (a.lsn < b.lsn ? -1 : 1))) {
    if (record.lsn <= baseLsn || record.key === undefined) continue;
    const list = recordsByKey.get(record.key) ?? [];
    list.push(record);
    recordsByKey.set(record.key, list);
  }
  const seenByKey = new Map<string, number>();
  for (const op of ops) {
    const index = seenByKey.get(op.key) ?? 0;
    const record = recordsByKey.get(op.key)?.[index];
    if (record === undefined) continue; // never reached a WAL write (and neither did any later op on the key)
    seenByKey.set(op.key, index + 1);
    if (record.value !== op.value) {
      problems.push(
        `the record at LSN ${record.lsn} on ${op.key.slice(0, 40)} is ${record.value?.slice(0, 24) ?? 'a del'}, ` +
          `but the op called there was ${op.value?.slice(0, 24) ?? 'a del'}: commits on one key left call order`,
      );
      return;
    }
    op.lsn = record.lsn;
  }
}

/** Checks the reopened database against the crash and returns the state it now holds. */
async function verifyRecovery(
  db: Database,
  crash: Crash,
  base: { state: ReadonlyMap<string, string>; lsn: bigint },
  problems: string[],
): Promise<{ state: Map<string, string>; lsn: bigint; lostRelaxed: number }> {
  const recovered = db.stats().lsn.next - 1n;
  let tappedMax = base.lsn;
  for (const at of crash.tapped.keys()) if (at > tappedMax) tappedMax = at;
  if (recovered < crash.durableLsn) {
    problems.push(`recovered up to LSN ${recovered}, but fdatasync had completed up to ${crash.durableLsn}`);
  }
  if (crash.durableLsnAtCut !== undefined && crash.durableLsnAtCut > crash.durableLsn) {
    problems.push(`the durable LSN went back from ${crash.durableLsnAtCut} to ${crash.durableLsn}`);
  }
  if (crash.durableLsn > tappedMax) problems.push(`durable LSN ${crash.durableLsn} was never written`);
  assignLsns(crash.ops, crash.tapped, base.lsn, problems);
  let lostRelaxed = 0;
  for (const op of crash.ops) {
    if (op.status !== 'acknowledged') continue;
    const lost = op.lsn === undefined || op.lsn > recovered;
    if (!lost) continue;
    if (op.durability === 'fsync') {
      problems.push(
        `acknowledged fsync commit ${op.value ?? `del ${op.key}`} (LSN ${op.lsn}) is lost (recovered to ${recovered})`,
      );
    } else if (op.lsn !== undefined && op.lsn <= crash.durableLsn) {
      problems.push(
        `relaxed commit at LSN ${op.lsn} is lost, but fdatasync had completed up to ${crash.durableLsn}`,
      );
    } else {
      lostRelaxed += 1; // accepted after the last completed fdatasync began: allowed to go
    }
  }
  const expected = applyPrefix(base.state, crash.tapped, { after: base.lsn, upTo: recovered });
  if (typeof expected === 'string') {
    problems.push(expected);
    return { state: new Map(base.state), lsn: recovered, lostRelaxed };
  }
  const actual = await readAll(db);
  for (const [key, value] of expected) {
    if ((await db.get(key)) !== value) problems.push(`get(${key.slice(0, 40)}) disagrees with scan`);
  }
  if (describeDifference(actual, expected) !== '') {
    problems.push(`state is not the prefix up to LSN ${recovered}: ${describeDifference(actual, expected)}`);
    const matching = findMatchingPrefix(actual, base, crash.tapped, tappedMax);
    problems.push(
      matching === undefined ? 'no LSN prefix matches the state' : `the prefix up to ${matching} matches`,
    );
  }
  return { state: expected, lsn: recovered, lostRelaxed };
}

function findMatchingPrefix(
  actual: ReadonlyMap<string, string>,
  base: { state: ReadonlyMap<string, string>; lsn: bigint },
  tapped: ReadonlyMap<bigint, Tapped>,
  tappedMax: bigint,
): bigint | undefined {
  for (let upTo = base.lsn; upTo <= tappedMax; upTo++) {
    const state = applyPrefix(base.state, tapped, { after: base.lsn, upTo });
    if (typeof state !== 'string' && describeDifference(actual, state) === '') return upTo;
  }
  return undefined;
}

async function validate(fs: SimFileSystem, problems: string[], both: boolean): Promise<void> {
  const manifest = await readManifest(fs, DIR);
  const options = { pageSizeBytes: manifest.pageSizeBytes, databaseUuid: manifest.databaseUuid };
  const report = both ? await validateBothImages(fs, DIR, options) : await validateImage(fs, DIR, options);
  if (!report.ok) problems.push(`validator: ${report.errors.slice(0, 5).join('; ')}`);
}

type CutMode =
  | 'between ops'
  | 'a few calls after an op'
  | 'after a checkpoint write'
  | 'after a WAL batch write';

interface Cut {
  readonly next: SimFileSystem;
  readonly report: string[];
  readonly durableLsn: bigint;
}

/**
 * Decides when the power goes: between two ops; a few I/O calls after a random op (wherever the
 * engine is then: a batch, a rollover, a checkpoint); right after the n-th write of a checkpoint (a
 * data.pages page or a superblock); or right after the n-th WAL batch write, before its fdatasync. A
 * cut point past the end of the workload cuts once the writers are done.
 */
class PowerSwitch {
  readonly mode: CutMode;
  readonly description: string;
  private readonly cutAtOp: number;
  private readonly callsAfterOp: number;
  private cutValue: Cut | undefined;
  private readonly detach: () => void;

  constructor(
    private readonly fs: SimFileSystem,
    private readonly db: Database,
    draw: { rng: SeededRandom; opsTotal: number },
  ) {
    const { rng, opsTotal } = draw;
    this.mode = rng.pick<CutMode>([
      'between ops',
      'a few calls after an op',
      'after a checkpoint write',
      'after a WAL batch write',
    ]);
    this.cutAtOp = rng.int(opsTotal + 5);
    this.callsAfterOp = rng.range(1, 6);
    const nthWrite = this.mode === 'after a checkpoint write' ? rng.range(1, 40) : rng.range(1, 25);
    const descriptions: Record<CutMode, string> = {
      'between ops': `power cut at op ${this.cutAtOp}`,
      'a few calls after an op': `crash ${this.callsAfterOp} calls after op ${this.cutAtOp}`,
      'after a checkpoint write': `crash after checkpoint write ${nthWrite}`,
      'after a WAL batch write': `crash after WAL batch write ${nthWrite}`,
    };
    this.description = descriptions[this.mode];
    const pattern =
      this.mode === 'after a checkpoint write'
        ? /(data\.pages|SUPERBLOCK_[AB])$/
        : this.mode === 'after a WAL batch write'
          ? /wal-\d+\.log$/
          : undefined;
    let writes = 0;
    this.detach =
      pattern === undefined
        ? () => undefined
        : fs.addWriteObserver((event) => {
            if (!pattern.test(event.path)) return;
            if (this.mode === 'after a WAL batch write' && !isWalBatchWrite(event)) return;
            writes += 1;
            if (writes === nthWrite) fs.crashAfterCall(fs.callCount()); // this write lands, no later call does
          });
  }

  /** True when writers must stop: the power is out, or the process died at its crash point. */
  get down(): boolean {
    return this.cutValue !== undefined || this.fs.crashed;
  }

  /** Called by a writer before it issues op `index`. */
  beforeOp(index: number): void {
    if (index !== this.cutAtOp) return;
    if (this.mode === 'between ops') this.cutNow();
    else if (this.mode === 'a few calls after an op')
      this.fs.crashAfterCall(this.fs.callCount() + this.callsAfterOp);
  }

  /** Cuts the power now (if not yet), drawing the fate of every write not yet synced. */
  cutNow(): Cut {
    if (this.cutValue === undefined) {
      this.detach();
      const durableLsn = this.db.stats().lsn.durable;
      const { fs: next, report } = this.fs.powerLoss();
      this.cutValue = { next, report, durableLsn };
    }
    return this.cutValue;
  }
}

/** Runs concurrent writers on `db` and cuts the power at a seeded instant; returns what happened. */
async function runRound(
  db: Database,
  fs: SimFileSystem,
  run: { rng: SeededRandom; config: Config; variant: Variant; probes: Probes; problems: string[] },
): Promise<{ crash: Crash; next: SimFileSystem }> {
  const { rng, config, variant, problems } = run;
  const opsTotal = rng.range(80, 180);
  const power = new PowerSwitch(fs, db, { rng, opsTotal });
  const ops: Op[] = [];
  let issued = 0;
  const writer = async (id: number): Promise<void> => {
    for (let seq = 0; issued < opsTotal && !power.down; seq++) {
      power.beforeOp(issued);
      if (power.down) return;
      issued += 1;
      if (rng.chance(config.checkpointChance)) {
        try {
          await db.checkpoint();
        } catch (error) {
          if (!isCrashOutcome(error)) problems.push(`checkpoint failed unexpectedly: ${String(error)}`);
          return;
        }
      }
      const key = keyOf(rng.int(config.keySpace));
      const durability: Durability =
        variant === 'mixed'
          ? rng.pick<Durability>(['fsync', 'relaxed'])
          : (config.options.durability ?? 'fsync');
      const isSet = rng.chance(0.75);
      // One set in four is larger than the inline threshold (512 B at 4 KiB pages): the value log.
      const length = rng.int(4) === 0 ? 600 + rng.int(3000) : rng.int(300);
      const value = isSet ? `w${id}.${seq}:${'v'.repeat(length)}` : undefined;
      const op: Op = { writer: id, key, value, durability, status: 'in flight' };
      ops.push(op);
      try {
        if (value === undefined) await db.del(key, { durability });
        else await db.set(key, value, { durability });
        op.status = 'acknowledged';
      } catch (error) {
        op.status = 'failed';
        op.error = error;
        if (!isCrashOutcome(error))
          problems.push(`${op.value ?? 'a del'} failed unexpectedly: ${String(error)}`);
        return;
      }
    }
  };
  const writers = Array.from({ length: config.writers }, (_, id) => writer(id));
  const settled = await settleWithin(Promise.allSettled(writers), SETTLE_MS_MAX);
  if (!settled) problems.push(`writers did not settle within ${SETTLE_MS_MAX} ms of ${power.description}`);
  // Let the crashed database's background work (failed batches, the read-only reload) run out.
  await new Promise((resolve) => setTimeout(resolve, 1));
  const cut = power.cutNow();
  checkProbes(run.probes, problems);
  return {
    crash: {
      ops,
      tapped: run.probes.tapped,
      durableLsn: db.stats().lsn.durable,
      durableLsnAtCut: cut.durableLsn,
      report: cut.report,
      description: power.description,
    },
    next: cut.next,
  };
}

async function settleWithin(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Counts that show the seeds reach the interesting cases, printed per variant. */
interface SeedSummary {
  acknowledged: number;
  lostRelaxed: number;
  checkpoints: number;
  walSegmentsMax: number;
  /** Cuts that found these writes or name operations not yet synced (their fates drawn by the seed). */
  cutsPendingPages: number;
  cutsPendingSuperblock: number;
  cutsPendingWal: number;
  cutsPendingNames: number;
  /** Reopens that kept records past the durable LSN, and that lost written records. */
  keptPastDurable: number;
  lostWritten: number;
}

function countCoverage(crash: Crash, recovered: bigint, summary: SeedSummary): void {
  const pending = (pattern: RegExp) => crash.report.some((line) => pattern.test(line));
  if (pending(/data\.pages: op/)) summary.cutsPendingPages += 1;
  if (pending(/SUPERBLOCK_[AB]: op/)) summary.cutsPendingSuperblock += 1;
  if (pending(/wal-\d+\.(log|spare): op/)) summary.cutsPendingWal += 1;
  if (pending(/of [1-9]\d* pending name operations/)) summary.cutsPendingNames += 1;
  if (recovered > crash.durableLsn) summary.keptPastDurable += 1;
  if ([...crash.tapped.keys()].some((at) => at > recovered)) summary.lostWritten += 1;
}

async function runSeed(seed: number, variant: Variant, summary: SeedSummary): Promise<void> {
  const rng = new SeededRandom(seed);
  const config = drawConfig(rng, variant);
  const problems: string[] = [];
  const context: string[] = [`config ${JSON.stringify({ ...config, options: { ...config.options } })}`];
  let crash: Crash | undefined;
  try {
    let fs = new SimFileSystem({ seed });
    let base: { state: ReadonlyMap<string, string>; lsn: bigint } = { state: new Map(), lsn: 0n };
    const vlogValues: VlogTap = new Map();
    for (let round = 0; round <= ROUNDS && problems.length === 0; round++) {
      const probes = attachProbes(fs, vlogValues);
      const db = await openDatabase(fs, config, probes);
      if (crash !== undefined) {
        const recovered = db.stats().lsn.next - 1n;
        context.push(
          `reopen ${round}: ${crash.description}, durable ${crash.durableLsn}, recovered ${recovered}`,
        );
        const verified = await verifyRecovery(db, crash, base, problems);
        summary.lostRelaxed += verified.lostRelaxed;
        summary.acknowledged += crash.ops.filter((op) => op.status === 'acknowledged').length;
        countCoverage(crash, verified.lsn, summary);
        base = verified;
        await validate(fs, problems, round === ROUNDS);
      }
      if (round === ROUNDS || problems.length > 0) {
        await db.close();
        await validate(fs, problems, true);
        checkProbes(probes, problems);
        break;
      }
      const result = await runRound(db, fs, { rng, config, variant, probes, problems });
      summary.checkpoints += db.stats().checkpoints;
      summary.walSegmentsMax = Math.max(summary.walSegmentsMax, db.stats().wal.segments);
      crash = result.crash;
      fs = result.next;
    }
  } catch (error) {
    problems.push(`threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  if (problems.length > 0) {
    const replay = `JUBILANT_SEED=${seed} npx vitest run test/engine/power-loss.test.ts -t ${variant}`;
    const tail = crash?.report.slice(-12).join('\n  ') ?? '';
    throw new Error(
      `seed ${seed} (${variant}) failed; replay with ${replay}\n${context.join('\n')}\n` +
        `${problems.slice(0, 12).join('\n')}\npower-loss report (tail):\n  ${tail}`,
    );
  }
}

function seedsToRun(): number[] {
  const fromEnv = process.env.JUBILANT_SEED;
  const first = testSeed();
  if (fromEnv !== undefined && fromEnv !== '') return [first];
  return Array.from({ length: SEED_COUNT }, (_, index) => (first + index) >>> 0);
}

async function runVariant(variant: Variant): Promise<SeedSummary> {
  const seeds = seedsToRun();
  console.log(
    `power-loss ${variant}: seeds ${seeds[0]}..${seeds.at(-1)} (replay one with JUBILANT_SEED=<seed>)`,
  );
  const summary: SeedSummary = {
    acknowledged: 0,
    lostRelaxed: 0,
    checkpoints: 0,
    walSegmentsMax: 0,
    cutsPendingPages: 0,
    cutsPendingSuperblock: 0,
    cutsPendingWal: 0,
    cutsPendingNames: 0,
    keptPastDurable: 0,
    lostWritten: 0,
  };
  const failures: string[] = [];
  for (const seed of seeds) {
    try {
      await runSeed(seed, variant, summary);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      console.error(message);
      failures.push(message);
      if (failures.length >= 3) break;
    }
  }
  console.log(`power-loss ${variant}: ${JSON.stringify(summary)}`);
  expect(failures, failures.join('\n\n')).toEqual([]);
  return summary;
}

describe('power loss at a random instant under concurrent writers', () => {
  it(
    'fsync: the reopened state is an LSN prefix holding every acknowledged commit',
    async () => {
      const summary = await runVariant('fsync');
      expect(summary.acknowledged).toBeGreaterThan(0);
      expect(summary.checkpoints).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'mixed fsync and relaxed: fsync commits are never lost, relaxed only past the durable LSN',
    async () => {
      await runVariant('mixed');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'relaxed: only commits past the durable LSN at the crash are lost',
    async () => {
      await runVariant('relaxed');
    },
    TEST_TIMEOUT_MS,
  );
});
