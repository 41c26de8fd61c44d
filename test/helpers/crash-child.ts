/**
 * The child process of the SIGKILL drill (TESTING.md #1, test/engine/sigkill.test.ts). It opens the
 * database in the directory its config names and runs concurrent writers until it is killed; after
 * every acknowledged `fsync` commit it tells its parent over IPC. It runs from the built `dist/`
 * (Node 20 cannot run TypeScript), so it lives in test/helpers, which tsconfig.build.json compiles.
 *
 * The parent forks the child early and sends 'go' when the child should open the database, so the
 * child's start-up overlaps the parent's checks of the previous run; the child says 'loaded' once it
 * listens, so the parent never sends 'go' into a child that is not listening yet.
 *
 * Each writer follows a seeded schedule (`writerSchedule`) that the test replays to judge what
 * survived: unique keys `w{w}:{seq}` written once, a counter `counter:{w}` overwritten with the
 * increasing seq, and deletes of the writer's own older keys. A writer awaits each operation before
 * the next, so its operations reach the log in schedule order.
 */
import { pathToFileURL } from 'node:url';
import { Database, type DatabaseOptions, type Value } from '../../src/index.js';
import { SeededRandom } from '../../src/util/random.js';

/** What the parent passes as the child's only argument, as JSON. */
export interface CrashChildConfig {
  readonly directory: string;
  readonly seed: number;
  /** The first seq of every writer in this run; runs on one directory use disjoint ranges. */
  readonly seqBase: number;
  readonly writers: number;
  readonly options: Pick<
    DatabaseOptions,
    'walSegmentBytes' | 'cacheBytes' | 'pageSizeBytes' | 'checkpointWalBytes' | 'checkpointIntervalMs'
  >;
}

export type CrashOpKind = 'put' | 'counter' | 'del';

export interface CrashOp {
  readonly seq: number;
  readonly kind: CrashOpKind;
  /** The key set or deleted. */
  readonly key: string;
  /** What `put` and `counter` write; undefined for `del`. */
  readonly value: Value | undefined;
  readonly durability: 'fsync' | 'relaxed';
  /** Whether the writer calls checkpoint() before this operation. */
  readonly checkpointFirst: boolean;
}

/** The messages the child sends; an `ack` is sent only after its `fsync` commit resolved. */
export type CrashChildMessage =
  | { readonly type: 'loaded' }
  | { readonly type: 'ready'; readonly pid: number }
  | {
      readonly type: 'ack';
      readonly w: number;
      readonly seq: number;
      readonly op: CrashOpKind;
      readonly key: string;
    }
  | { readonly type: 'error'; readonly message: string };

/** The parent's one message: open the database and start writing. */
export type CrashParentMessage = { readonly type: 'go' };

const DELETE_SHARE = 0.1;
const COUNTER_SHARE = 0.3;
const FSYNC_SHARE = 0.85;
const CHECKPOINT_SHARE = 0.01;
const BYTES_VALUE_BYTES_MAX = 300;
/** One bytes value in four is this large or larger: above the 1 KiB inline threshold, in the value log. */
const LARGE_VALUE_BYTES_MIN = 1025;
const LARGE_VALUE_BYTES_MAX = 20_000;
const STRING_VALUE_CHARS_MAX = 60;
/** Characters of 1 to 4 UTF-8 bytes, astral ones included, so string values exercise every width. */
const VALUE_CHARS = ['a', 'Z', '0', ' ', 'é', 'ß', '€', '\uFFFF', '😀', '\u{10FFFF}', '\u0000'];

export function uniqueKey(writer: number, seq: number): string {
  return `w${writer}:${seq}`;
}

export function counterKey(writer: number): string {
  return `counter:${writer}`;
}

function randomValue(rng: SeededRandom): Value {
  switch (rng.int(3)) {
    case 0:
      return rng.int(4) === 0
        ? rng.bytes(rng.range(LARGE_VALUE_BYTES_MIN, LARGE_VALUE_BYTES_MAX))
        : rng.bytes(rng.range(0, BYTES_VALUE_BYTES_MAX));
    case 1:
      return Array.from({ length: rng.range(0, STRING_VALUE_CHARS_MAX) }, () => rng.pick(VALUE_CHARS)).join(
        '',
      );
    default:
      // Two u32 halves make any int64, the extremes included.
      return BigInt.asIntN(64, (BigInt(rng.nextU32()) << 32n) | BigInt(rng.nextU32()));
  }
}

/**
 * The endless, deterministic operation sequence of one writer in one run. The child executes it and
 * the test replays it; both consume the generator's randomness identically.
 */
export function* writerSchedule(options: {
  seed: number;
  writer: number;
  seqBase: number;
}): Generator<CrashOp> {
  const rng = new SeededRandom((options.seed ^ Math.imul(options.writer + 1, 0x9e3779b1)) >>> 0);
  const live: string[] = []; // keys this run has put and not deleted, oldest first
  for (let seq = options.seqBase; ; seq++) {
    const roll = rng.next();
    const durability = rng.chance(FSYNC_SHARE) ? 'fsync' : 'relaxed';
    const checkpointFirst = rng.chance(CHECKPOINT_SHARE);
    const common = { seq, durability, checkpointFirst } as const;
    if (roll < DELETE_SHARE && live.length > 0) {
      const index = rng.int(live.length);
      const key = live[index] as string;
      live[index] = live[live.length - 1] as string;
      live.pop();
      yield { ...common, kind: 'del', key, value: undefined };
    } else if (roll < DELETE_SHARE + COUNTER_SHARE) {
      yield { ...common, kind: 'counter', key: counterKey(options.writer), value: BigInt(seq) };
    } else {
      const key = uniqueKey(options.writer, seq);
      live.push(key);
      yield { ...common, kind: 'put', key, value: randomValue(rng) };
    }
  }
}

function send(message: CrashChildMessage): void {
  process.send?.(message);
}

async function runWriter(db: Database, config: CrashChildConfig, writer: number): Promise<void> {
  for (const op of writerSchedule({ seed: config.seed, writer, seqBase: config.seqBase })) {
    if (op.checkpointFirst) await db.checkpoint();
    if (op.kind === 'del') await db.del(op.key, { durability: op.durability });
    else await db.set(op.key, op.value as Value, { durability: op.durability });
    if (op.durability === 'fsync') send({ type: 'ack', w: writer, seq: op.seq, op: op.kind, key: op.key });
  }
}

async function main(config: CrashChildConfig): Promise<void> {
  const db = await Database.open(config.directory, config.options);
  send({ type: 'ready', pid: process.pid });
  await Promise.all(Array.from({ length: config.writers }, (_, writer) => runWriter(db, config, writer)));
}

function fail(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`crash-child failed: ${message}\n`);
  // Exit at once: the other writers would otherwise keep going. The parent sees the exit code.
  if (process.send === undefined) process.exit(1);
  process.send({ type: 'error', message } satisfies CrashChildMessage, () => process.exit(1));
}

const entry = process.argv[2] === undefined ? undefined : process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const config = JSON.parse(process.argv[2] as string) as CrashChildConfig;
  if (process.send === undefined) {
    main(config).catch(fail);
  } else {
    // The parent starts the child early, so loading modules overlaps its own work, and says when to open.
    process.on('message', (message: CrashParentMessage) => {
      if (message.type === 'go') main(config).catch(fail);
    });
    process.on('disconnect', () => process.exit(0)); // the parent is gone: nobody will kill us
    send({ type: 'loaded' });
  }
}
