/**
 * bench/txn (issue 7): durable multi-key transactions of jubilant-db's embedded Database. W concurrent
 * writers each run back-to-back transactions for a fixed time: the single-key durable `set` (the
 * reference rate), then 1-, 4- and 16-key RW INCR transactions uncontended (each writer its own key
 * range), on a small hot set (uniform) and Zipfian (s = 0.99) over a larger key set. It reports
 * commits/s, p50/p99 commit latency and abort rates, and the target (uncontended 4-key
 * transactions at least half the single-key rate at the same concurrency) as PASS or MISS; it measures,
 * never asserts timings.
 *
 * Every workload runs on a fresh database in a temporary directory, removed at the end. After each
 * transaction workload the counters are read back: their sum must equal keys x commits, or the bench fails.
 *
 * Run: `npm run build` at the repository root, then `cd bench && npm run txn`; `--help` lists the flags.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileSystemName, flagChecks, machineLine } from '../common/cli.mjs';
import { formatCount, formatMicros, formatSeconds, Latencies, progress } from '../engine/measure.mjs';
import { loadDist } from '../engine/workload.mjs';
import { incrementAll, keyChooser, keyOf, OWN_KEYS_PER_WRITER } from './workload.mjs';

const USAGE = `usage: node txn/txn-bench.mjs [flags]
  --writers W          concurrent writers, each awaiting its own transaction (default 16)
  --seconds S          time of each workload (default 5)
  --hot-keys N         keys of the uniform hot set (default 64)
  --zipf-keys N        keys of the Zipfian set (default 10000)
  --zipf-s S           Zipfian exponent (default 0.99)
  --lock-timeout-ms N  lock wait bound; a longer wait aborts with LOCK_TIMEOUT (default 1000)
  --dir PATH           parent of the temporary directory (default ${tmpdir()})
  --seed N             seed of the key choice (default 1)`;

const { fail, positiveNumber, positiveInteger } = flagChecks('txn-bench', USAGE);

const KEYS_PER_TXN = [1, 4, 16];
const TARGET_RATIO = 0.5;
const WARM_UP_SECONDS = 1;
const now = () => process.hrtime.bigint();

// ---------------------------------------------------------------------------------------------------
// Flags and header.

function parseFlags() {
  const { values } = parseArgs({
    options: {
      writers: { type: 'string', default: '16' },
      seconds: { type: 'string', default: '5' },
      'hot-keys': { type: 'string', default: '64' },
      'zipf-keys': { type: 'string', default: '10000' },
      'zipf-s': { type: 'string', default: '0.99' },
      'lock-timeout-ms': { type: 'string', default: '1000' },
      dir: { type: 'string', default: tmpdir() },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const flags = {
    writers: positiveInteger(values.writers, '--writers'),
    seconds: positiveNumber(values.seconds, '--seconds'),
    hotKeys: positiveInteger(values['hot-keys'], '--hot-keys'),
    zipfKeys: positiveInteger(values['zipf-keys'], '--zipf-keys'),
    zipfS: positiveNumber(values['zipf-s'], '--zipf-s'),
    lockTimeoutMs: positiveInteger(values['lock-timeout-ms'], '--lock-timeout-ms'),
    dir: values.dir,
    seed: positiveInteger(values.seed, '--seed'),
  };
  const most = Math.max(...KEYS_PER_TXN);
  if (flags.hotKeys < most || flags.zipfKeys < most)
    fail(`--hot-keys and --zipf-keys must be at least ${most}`);
  return flags;
}

async function printHeader(flags, root) {
  const fsName = await fileSystemName(root);
  console.log('bench/txn: jubilant-db durable multi-key transactions (strict 2PL, one WAL unit per commit)');
  console.log(
    `  workload   ${flags.writers} writers, each awaiting its own transaction before the next; ` +
      `${formatSeconds(flags.seconds)} per workload; durability 'fsync'; a fresh database per workload`,
  );
  console.log(
    `  txns       N-key: N keys declared RW, one INCR by 1n each; set: db.set of one key ` +
      `(a one-key SET transaction), 8 B string values`,
  );
  console.log(
    `  keys       uncontended: each writer cycles over its own ${formatCount(OWN_KEYS_PER_WRITER)} keys; ` +
      `hot: uniform over ${formatCount(flags.hotKeys)} shared keys; zipf: s=${flags.zipfS} over ` +
      `${formatCount(flags.zipfKeys)} shared keys; keys within a transaction distinct`,
  );
  console.log(
    `  aborts     lock timeout ${flags.lockTimeoutMs} ms (LOCK_TIMEOUT); an aborted transaction is ` +
      'counted and not retried; p50/p99 are of committed transactions',
  );
  console.log(`  node       ${machineLine()}`);
  console.log(`  directory  ${root} on ${fsName} (removed at the end)`);
  console.log(`  seed       ${flags.seed}`);
  console.log('');
}

// ---------------------------------------------------------------------------------------------------
// Timed workloads.

/**
 * `writers` loops of `op(writerIndex)` until `seconds` have passed; commits and aborts (rejections with
 * a `code`) are counted apart, and only commits' latencies are kept. Any other error fails the bench.
 */
async function timedTransactions({ label, writers, seconds, op }) {
  const latencies = new Latencies();
  const abortsByCode = {};
  const report = progress(label, { marks: seconds >= 3 });
  const durationNs = BigInt(Math.round(seconds * 1e9));
  const started = now();
  const deadline = started + durationNs;
  let commits = 0;
  let aborts = 0;
  const loop = async (writerIndex) => {
    for (;;) {
      const before = now();
      if (before >= deadline) return;
      try {
        await op(writerIndex);
        latencies.add(Number(now() - before));
        commits += 1;
      } catch (error) {
        if (typeof error?.code !== 'string') throw error;
        abortsByCode[error.code] = (abortsByCode[error.code] ?? 0) + 1;
        aborts += 1;
      }
      report(Number(now() - started) / Number(durationNs));
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, index) => loop(index)));
  const elapsedNs = Number(now() - started);
  report(1);
  return { commits, aborts, abortsByCode, elapsedNs, latencies };
}

async function openDatabase(Database, root, name, flags) {
  const db = await Database.open(join(root, name), { durability: 'fsync' });
  db.setLockTimeoutMs(flags.lockTimeoutMs);
  return db;
}

async function singleKeySet(Database, root, flags) {
  const db = await openDatabase(Database, root, 'set', flags);
  try {
    const next = new Array(flags.writers).fill(0);
    const op = (writer) => {
      const index = next[writer];
      next[writer] = (index + 1) % OWN_KEYS_PER_WRITER;
      return db.set(keyOf(`own${writer}`, index), 'value:00');
    };
    // The first workload would otherwise pay the JIT and the first WAL segment alone.
    await timedTransactions({
      label: 'warm-up (not reported)',
      writers: flags.writers,
      seconds: WARM_UP_SECONDS,
      op,
    });
    const result = await timedTransactions({
      label: 'set 1 key (reference)',
      writers: flags.writers,
      seconds: flags.seconds,
      op,
    });
    return { ...result, stats: db.transactionStats() };
  } finally {
    await db.close();
  }
}

/** The keys a workload can touch, for the read-back check. */
function keySpace(kind, flags) {
  if (kind === 'hot') return Array.from({ length: flags.hotKeys }, (_, index) => keyOf('hot', index));
  if (kind === 'zipf') return Array.from({ length: flags.zipfKeys }, (_, index) => keyOf('zipf', index));
  const keys = [];
  for (let writer = 0; writer < flags.writers; writer++) {
    for (let index = 0; index < OWN_KEYS_PER_WRITER; index++) keys.push(keyOf(`own${writer}`, index));
  }
  return keys;
}

async function incrementWorkload({ Database, SeededRandom, root, flags, kind, keysPerTxn, label }) {
  const db = await openDatabase(Database, root, `${kind}-${keysPerTxn}`, flags);
  try {
    const choose = keyChooser({
      kind,
      keysPerTxn,
      writers: flags.writers,
      random: new SeededRandom(flags.seed * 1000 + keysPerTxn),
      hotKeys: flags.hotKeys,
      zipfKeys: flags.zipfKeys,
      zipfS: flags.zipfS,
    });
    const result = await timedTransactions({
      label,
      writers: flags.writers,
      seconds: flags.seconds,
      op: (writer) => db.transaction(incrementAll(choose(writer))),
    });
    const stats = db.transactionStats();
    let sum = 0n;
    for (const key of keySpace(kind, flags)) {
      const value = await db.get(key);
      if (value !== undefined) sum += value;
    }
    const expected = BigInt(result.commits * keysPerTxn);
    if (sum !== expected) {
      throw new Error(`${label}: counters sum to ${sum}, expected ${expected} (${result.commits} commits)`);
    }
    if (stats.commits !== result.commits) {
      throw new Error(
        `${label}: transactionStats() counts ${stats.commits} commits, the bench ${result.commits}`,
      );
    }
    return { ...result, stats };
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Table.

function rowOf(workload, keysPerTxn, result, notes = '') {
  const { p50Us, p99Us } = result.latencies.percentilesUs();
  const attempts = result.commits + result.aborts;
  const codes = Object.entries(result.abortsByCode)
    .map(([code, count]) => `${code} ${formatCount(count)}`)
    .join(', ');
  return {
    workload,
    commits: formatCount(result.commits),
    commitsPerSecond: formatCount(result.commits / (result.elapsedNs / 1e9)),
    keysPerSecond: formatCount((result.commits * keysPerTxn) / (result.elapsedNs / 1e9)),
    p50: formatMicros(p50Us),
    p99: formatMicros(p99Us),
    abortRate: attempts === 0 ? '-' : `${((100 * result.aborts) / attempts).toFixed(2)}%`,
    notes: [codes, notes].filter((text) => text !== '').join('; '),
  };
}

const COLUMNS = [
  { title: 'workload', width: 30, align: 'left', key: 'workload' },
  { title: 'commits', width: 9, align: 'right', key: 'commits' },
  { title: 'commits/s', width: 9, align: 'right', key: 'commitsPerSecond' },
  { title: 'keys/s', width: 9, align: 'right', key: 'keysPerSecond' },
  { title: 'p50 µs', width: 7, align: 'right', key: 'p50' },
  { title: 'p99 µs', width: 7, align: 'right', key: 'p99' },
  { title: 'aborts', width: 7, align: 'right', key: 'abortRate' },
  { title: 'notes', width: 0, align: 'left', key: 'notes' },
];

/** A fixed-width table that is also a Markdown table, as bench/engine prints. */
function formatTable(rows) {
  const pad = (column, text) =>
    column.align === 'right' ? text.padStart(column.width) : text.padEnd(column.width);
  const line = (cells) => `| ${cells.join(' | ')} |`.trimEnd();
  const header = line(COLUMNS.map((column) => pad(column, column.title)));
  const rule = line(
    COLUMNS.map((column) => {
      const dashes = '-'.repeat(Math.max(3, column.width));
      return column.align === 'right' ? `${dashes.slice(1)}:` : dashes;
    }),
  );
  const body = rows.map((r) =>
    line(COLUMNS.map((column) => pad(column, String(r[column.key]).replaceAll('|', '/')))),
  );
  return [header, rule, ...body].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Main.

const CONTENTION = [
  { kind: 'own', name: 'uncontended' },
  { kind: 'hot', name: 'hot set' },
  { kind: 'zipf', name: 'zipf' },
];

async function main() {
  const flags = parseFlags();
  const { Database, SeededRandom } = await loadDist();
  const root = await mkdtemp(join(flags.dir, 'jubilant-bench-txn-'));
  process.once('SIGINT', () => {
    rmSync(root, { recursive: true, force: true });
    process.exit(130);
  });
  const startedMs = performance.now();
  try {
    await printHeader(flags, root);
    const reference = await singleKeySet(Database, root, flags);
    const referenceRate = reference.commits / (reference.elapsedNs / 1e9);
    const rows = [rowOf('set 1 key (reference)', 1, reference)];
    let ratio;
    for (const { kind, name } of CONTENTION) {
      for (const keysPerTxn of KEYS_PER_TXN) {
        const label = `txn ${keysPerTxn} key${keysPerTxn === 1 ? '' : 's'}, ${name}`;
        const result = await incrementWorkload({
          Database,
          SeededRandom,
          root,
          flags,
          kind,
          keysPerTxn,
          label,
        });
        const rate = result.commits / (result.elapsedNs / 1e9);
        let notes = '';
        if (kind === 'own') notes = `${(rate / referenceRate).toFixed(2)}x the set rate`;
        if (kind === 'own' && keysPerTxn === 4) ratio = rate / referenceRate;
        const waits = result.stats.locks.waits;
        if (kind !== 'own' && waits !== undefined) notes = `lock waits ${formatCount(waits)}`;
        rows.push(rowOf(label, keysPerTxn, result, notes));
      }
    }
    console.log(formatTable(rows));
    console.log('');
    const verdict = ratio >= TARGET_RATIO ? 'PASS' : 'MISS';
    console.log(
      `target: uncontended 4-key transactions / single-key durable sets at ${flags.writers} writers = ` +
        `${ratio.toFixed(2)} (>= ${TARGET_RATIO}): ${verdict}`,
    );
    const totalSeconds = (performance.now() - startedMs) / 1000;
    const peakRssMib = process.resourceUsage().maxRSS / 1024;
    console.log(
      `\ntotal ${formatSeconds(totalSeconds)}, peak RSS of this process ${peakRssMib.toFixed(0)} MiB`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
