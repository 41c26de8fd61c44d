// Proves TESTING.md #1: a real child writing under concurrent load and SIGKILLed at random moments leaves a directory whose reopened state holds every acknowledged commit, nothing half-applied, a valid image, and a LOCK the next owner takes over.
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/engine/database-lock.js';
import { Database, type Value } from '../../src/index.js';
import { NodeFileSystem } from '../../src/io/node-file-system.js';
import { MANIFEST_FILE, readManifest } from '../../src/meta/manifest.js';
import { validateBothImages, validateImage } from '../../src/storage/btree/validate.js';
import { parseWalSegmentFileName } from '../../src/storage/wal/wal-segment-format.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';
import {
  type CrashChildConfig,
  type CrashChildMessage,
  type CrashOp,
  type CrashParentMessage,
  counterKey,
  writerSchedule,
} from '../helpers/crash-child.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Kills per run; `JUBILANT_CRASH_ROUNDS=500 npx vitest run test/engine/sigkill.test.ts` soaks longer. */
const ROUNDS = Number(process.env.JUBILANT_CRASH_ROUNDS ?? 50);
const WRITERS = 8;
/** How long the child writes after it reports ready, before the SIGKILL. */
const RUN_MS_MIN = 30;
const RUN_MS_MAX = 300;
/** Some rounds kill the child while it opens the directory instead (a crash during open and recovery). */
const EARLY_KILL_SHARE = 0.1;
const EARLY_KILL_MS_MAX = 60;
/** Each run's seqs start at round × stride, so keys and counter values never repeat across runs. */
const SEQ_STRIDE = 10_000_000;
const READY_TIMEOUT_MS = 20_000;
/** A replay window longer than this without a counter operation (odds 0.7^n) is a test bug. */
const WINDOW_OPS_MAX = 1_000;
/** Small pages, segments and cache, so checkpoints, WAL rollover and tree growth happen every run. */
const DATABASE_OPTIONS: CrashChildConfig['options'] = {
  pageSizeBytes: 4096,
  walSegmentBytes: 64 * 1024,
  cacheBytes: 1024 * 1024,
  checkpointWalBytes: 48 * 1024,
  checkpointIntervalMs: 50,
};

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD_PATH = join(REPO_ROOT, 'dist/test/helpers/crash-child.js');

interface KillPlan {
  /** From the child's report that it opened the database, or from the 'go' (a kill during open). */
  readonly after: 'ready' | 'go';
  readonly delayMs: number;
}

interface ChildRun {
  readonly pid: number | undefined;
  ready: boolean;
  /** The highest acknowledged seq of each writer. */
  readonly ackedSeq: Map<number, number>;
  readonly acks: CrashChildMessage[];
  readonly errors: string[];
  output: string;
  signal: NodeJS.Signals | null;
  code: number | null;
}

interface StartedChild {
  /** Tells the loaded child to open and write, kills it by plan, and resolves once it is gone. */
  run(plan: KillPlan): Promise<ChildRun>;
  kill(): void;
}

/**
 * Forks the built child, which loads its modules and waits for 'go': started during the previous
 * round's checks, its start-up (the bulk of a round on a busy machine) overlaps them.
 */
function startChild(config: CrashChildConfig): StartedChild {
  const child: ChildProcess = fork(CHILD_PATH, [JSON.stringify(config)], {
    execArgv: ['--enable-source-maps'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const run: ChildRun = {
    pid: child.pid,
    ready: false,
    ackedSeq: new Map(),
    acks: [],
    errors: [],
    output: '',
    signal: null,
    code: null,
  };
  const timers: NodeJS.Timeout[] = [];
  const killLater = (delayMs: number) => timers.push(setTimeout(() => child.kill('SIGKILL'), delayMs));
  let plan: KillPlan | undefined;
  let loaded = false;
  const go = () => {
    if (plan === undefined || !loaded) return;
    child.send({ type: 'go' } satisfies CrashParentMessage);
    killLater(plan.after === 'go' ? plan.delayMs : READY_TIMEOUT_MS);
  };
  child.stdout?.on('data', (chunk: Buffer) => (run.output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (run.output += chunk.toString()));
  child.on('message', (message: CrashChildMessage) => {
    if (message.type === 'loaded') {
      loaded = true;
      go();
    } else if (message.type === 'ready') {
      run.ready = true;
      if (plan?.after === 'ready') killLater(plan.delayMs);
    } else if (message.type === 'ack') {
      run.acks.push(message);
      if (message.seq > (run.ackedSeq.get(message.w) ?? -1)) run.ackedSeq.set(message.w, message.seq);
    } else {
      run.errors.push(message.message);
    }
  });
  const gone = new Promise<ChildRun>((resolve, reject) => {
    child.on('error', reject);
    // 'close' comes after the exit and after the IPC channel and pipes are drained: no ack is missed.
    child.on('close', (code, signal) => {
      for (const timer of timers) clearTimeout(timer);
      run.code = code;
      run.signal = signal;
      resolve(run);
    });
  });
  return {
    run(killPlan) {
      plan = killPlan;
      killLater(READY_TIMEOUT_MS); // a child that never loads
      go();
      return gone;
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

async function readAll(db: Database): Promise<Map<string, Value>> {
  const state = new Map<string, Value>();
  for await (const { key, value } of db.scan()) state.set(key, value);
  return state;
}

function sameValue(left: Value | undefined, right: Value | undefined): boolean {
  if (left instanceof Uint8Array && right instanceof Uint8Array) return Buffer.from(left).equals(right);
  return typeof left === typeof right && left === right;
}

function describeValue(value: Value | undefined): string {
  if (value instanceof Uint8Array) {
    return `bytes(${value.byteLength}) ${Buffer.from(value).toString('hex', 0, 24)}`;
  }
  if (typeof value === 'bigint') return `${value}n`;
  return JSON.stringify(value) ?? 'missing';
}

/** Up to ten lines describing where the two states differ (on the keys `include` accepts). */
function differences(
  actual: Map<string, Value>,
  model: Map<string, Value>,
  include: (key: string) => boolean = () => true,
): string[] {
  const lines: string[] = [];
  for (const key of new Set([...actual.keys(), ...model.keys()])) {
    if (lines.length >= 10) break;
    if (!include(key)) continue;
    if (!sameValue(actual.get(key), model.get(key))) {
      lines.push(
        `${key}: found ${describeValue(actual.get(key))}, expected ${describeValue(model.get(key))}`,
      );
    }
  }
  return lines;
}

/** The writer's own keys: its unique keys and its counter. */
function isWriterKey(key: string, writer: number): boolean {
  return key.startsWith(`w${writer}:`) || key === counterKey(writer);
}

/**
 * Replays one writer's schedule onto `model` up to the prefix that the durable state shows, and
 * returns the last seq applied (seqBase − 1 for none), or undefined when no prefix matches.
 *
 * Recovery replays a prefix of the log, and a writer's operations enter the log in schedule order, so
 * the writer's keys must equal the model after some prefix P of its schedule. P is at least `atLeast`
 * (the last acknowledged seq) and at least the newest seq visible in the state (a unique key's seq, the
 * counter's value); and P is below the first counter operation after that, which would have raised the
 * counter further. Within that window a put and a later delete of its key cancel out, so every P
 * in it is tried. The writer's keys then equal the model exactly: nothing half-applied, nothing torn.
 */
function replayWriter(
  schedule: Iterator<CrashOp>,
  state: { actual: Map<string, Value>; model: Map<string, Value> },
  options: { writer: number; seqBase: number; atLeast: number },
): number | undefined {
  const { actual, model } = state;
  let lowerBound = Math.max(options.atLeast, options.seqBase - 1);
  for (const [key, value] of actual) {
    if (!isWriterKey(key, options.writer)) continue;
    const seq = key === counterKey(options.writer) ? Number(value) : Number(key.slice(key.indexOf(':') + 1));
    // Beyond the run's seq range: no prefix can explain it (the comparison below names the key).
    if (!Number.isSafeInteger(seq) || seq >= options.seqBase + SEQ_STRIDE) return undefined;
    if (seq >= options.seqBase) lowerBound = Math.max(lowerBound, seq);
  }
  const mismatched = new Set<string>();
  const recheck = (key: string) => {
    if (sameValue(actual.get(key), model.get(key))) mismatched.delete(key);
    else mismatched.add(key);
  };
  for (const key of [...actual.keys(), ...model.keys()]) if (isWriterKey(key, options.writer)) recheck(key);
  let applied = options.seqBase - 1;
  for (;;) {
    if (applied >= lowerBound && mismatched.size === 0) return applied;
    const op = schedule.next().value as CrashOp;
    if (op.seq > lowerBound && (op.kind === 'counter' || op.seq > lowerBound + WINDOW_OPS_MAX)) {
      return undefined;
    }
    if (op.kind === 'del') model.delete(op.key);
    else model.set(op.key, op.value as Value);
    recheck(op.key);
    applied = op.seq;
  }
}

async function imageOptions(directory: string) {
  const manifest = await readManifest(new NodeFileSystem(), directory);
  return { pageSizeBytes: manifest.pageSizeBytes, databaseUuid: manifest.databaseUuid };
}

function walSegmentSequenceMax(directory: string): number {
  const sequences = readdirSync(directory).map((name) => parseWalSegmentFileName(name) ?? -1);
  return Math.max(-1, ...sequences);
}

/** A missing build fails; a stale one (src newer than dist) would test old code, so it is named. */
function checkBuild(): void {
  if (!existsSync(CHILD_PATH)) throw new Error(`${CHILD_PATH} is missing: run \`npm run build\` first`);
  const stale: string[] = [];
  for (const folder of ['src', 'test/helpers']) {
    for (const name of readdirSync(join(REPO_ROOT, folder), { recursive: true, encoding: 'utf8' })) {
      if (!name.endsWith('.ts') || name.endsWith('.d.ts')) continue;
      const source = join(REPO_ROOT, folder, name);
      const built = join(REPO_ROOT, 'dist', folder, name.replace(/\.ts$/, '.js'));
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) {
        stale.push(relative(REPO_ROOT, source));
      }
    }
  }
  if (stale.length > 0) {
    console.warn(`sigkill: dist/ is older than ${stale.slice(0, 5).join(', ')}: run \`npm run build\``);
  }
}

/**
 * The reopened state against the schedules: each writer's keys are its model after a prefix that
 * covers every acknowledged commit, and no other key exists. Advances `model` to that state.
 */
async function checkState(
  db: Database,
  context: { run: ChildRun; config: CrashChildConfig; model: Map<string, Value>; at: string },
): Promise<void> {
  const { run, config, model, at } = context;
  const actual = await readAll(db);
  for (let writer = 0; writer < WRITERS; writer++) {
    const schedule = writerSchedule({ seed: config.seed, writer, seqBase: config.seqBase });
    const acked = run.ackedSeq.get(writer) ?? config.seqBase - 1;
    const applied = replayWriter(
      schedule,
      { actual, model },
      { writer, seqBase: config.seqBase, atLeast: acked },
    );
    const found = differences(actual, model, (key) => isWriterKey(key, writer));
    expect(found, `${at}: writer ${writer}'s keys vs its schedule, acknowledged up to ${acked}`).toEqual([]);
    expect(applied, `${at}: writer ${writer}: no prefix of its schedule matches`).toBeDefined();
    // Implied by the equality above, and spelled out: the counter is at least the last acknowledged seq.
    const counterAcked = run.acks.findLast(
      (ack) => ack.type === 'ack' && ack.w === writer && ack.op === 'counter',
    );
    if (counterAcked?.type === 'ack') {
      expect(actual.get(counterKey(writer)), `${at}: ${counterKey(writer)}`).toBeGreaterThanOrEqual(
        BigInt(counterAcked.seq),
      );
    }
  }
  expect(differences(actual, model), `${at}: durable state vs the replayed schedules`).toEqual([]);
  // Point reads agree with the scan, for what was acknowledged last.
  for (const ack of run.acks.slice(-200)) {
    if (ack.type !== 'ack') continue;
    expect(sameValue(await db.get(ack.key), model.get(ack.key)), `${at}: get(${ack.key})`).toBe(true);
  }
}

function roundConfig(rng: SeededRandom, directory: string, round: number): CrashChildConfig {
  return {
    directory,
    seed: rng.nextU32(),
    seqBase: (round + 1) * SEQ_STRIDE,
    writers: WRITERS,
    options: DATABASE_OPTIONS,
  };
}

describe('SIGKILL drill (TESTING.md #1)', () => {
  it(`every acknowledged commit survives SIGKILL of a writing child, over ${ROUNDS} kills on one growing directory`, {
    timeout: Math.max(120_000, ROUNDS * 4_000),
  }, async () => {
    checkBuild();
    const seed = testSeed();
    console.log(`sigkill: seed ${seed} (JUBILANT_SEED=${seed} replays the schedules and kill times)`);
    const rng = new SeededRandom(seed);
    const directory = await tempDir('jubilant-sigkill-');
    const fs = new NodeFileSystem();
    const model = new Map<string, Value>();
    const totals = { acks: 0, killsDuringOpen: 0, childCheckpoints: 0, walRollovers: 0, childMs: 0 };
    const startedMs = performance.now();
    let checkpointLsnAtClose = 0n;
    let config = roundConfig(rng, directory, 0);
    let next: StartedChild | undefined = startChild(config);
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const plan: KillPlan = rng.chance(EARLY_KILL_SHARE)
          ? { after: 'go', delayMs: rng.range(0, EARLY_KILL_MS_MAX) }
          : { after: 'ready', delayMs: rng.range(RUN_MS_MIN, RUN_MS_MAX) };
        const at = `seed ${seed} round ${round} (killed ${plan.delayMs} ms after ${plan.after})`;
        const walBefore = walSegmentSequenceMax(directory);
        const runStartedMs = performance.now();
        const run = await (next as StartedChild).run(plan);
        totals.childMs += performance.now() - runStartedMs;
        const current = config;
        next = undefined;
        if (round + 1 < ROUNDS) {
          config = roundConfig(rng, directory, round + 1);
          next = startChild(config);
        }
        expect(run.errors, `${at}: the child reported a failure`).toEqual([]);
        expect(run.signal, `${at}: the child ended without being killed:\n${run.output}`).toBe('SIGKILL');
        if (plan.after === 'ready')
          expect(run.ready, `${at}: the child never got ready:\n${run.output}`).toBe(true);
        totals.acks += run.acks.length;
        if (!run.ready) totals.killsDuringOpen += 1;

        // The image the killed child left is whole: both superblocks' images, as a fallback needs them.
        if (existsSync(join(directory, MANIFEST_FILE))) {
          const left = await validateBothImages(fs, directory, await imageOptions(directory));
          expect(left.errors, `${at}: the images left by the killed child`).toEqual([]);
          const checkpointLsnMax = [left.images.A, left.images.B].reduce(
            (max, image) =>
              image !== undefined && image.stats.checkpointLsn > max ? image.stats.checkpointLsn : max,
            0n,
          );
          if (checkpointLsnMax > checkpointLsnAtClose) totals.childCheckpoints += 1;
          if (walSegmentSequenceMax(directory) > walBefore) totals.walRollovers += 1;
        }
        const lockLeft = await readFile(join(directory, LOCK_FILE), 'utf8').catch(() => undefined);
        if (run.ready)
          expect(lockLeft, `${at}: the killed child's LOCK`).toMatch(new RegExp(`^pid=${run.pid} `));

        const db = await Database.open(directory, DATABASE_OPTIONS); // takes the stale LOCK over
        try {
          expect(await readFile(join(directory, LOCK_FILE), 'utf8')).toMatch(
            new RegExp(`^pid=${process.pid} `),
          );
          await checkState(db, { run, config: current, model, at });
        } finally {
          await db.close();
        }
        const closed = await validateImage(fs, directory, await imageOptions(directory));
        expect(closed.errors, `${at}: the image after reopen and close`).toEqual([]);
        checkpointLsnAtClose = closed.stats.checkpointLsn;
      }
    } finally {
      next?.kill();
    }
    console.log(
      `sigkill: ${ROUNDS} kills (${totals.killsDuringOpen} during open), ${totals.acks} acknowledged ` +
        `commits checked, ${model.size} keys at the end; the killed child had checkpointed in ` +
        `${totals.childCheckpoints} runs and rolled the WAL over in ${totals.walRollovers}; ` +
        `${Math.round(performance.now() - startedMs)} ms in all, ${Math.round(totals.childMs)} ms in child runs`,
    );
    expect(totals.acks).toBeGreaterThan(ROUNDS);
    if (ROUNDS >= 20) {
      expect(totals.childCheckpoints, 'checkpoints happened while children wrote').toBeGreaterThan(0);
      expect(totals.walRollovers, 'WAL segments rolled over while children wrote').toBeGreaterThan(0);
    }
  });
});
