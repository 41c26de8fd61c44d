/**
 * bench/engine: the workloads. Each runs on every engine in turn and returns measurements by id;
 * report.mjs turns them into rows with ratios.
 */
import { fork } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RANGE_SCAN_KEYS } from './engines.mjs';
import { formatCount, pooled, timedLoop, timedOnce, timedWriters } from './measure.mjs';
import { rawAppend } from './raw-disk.mjs';
import { keyOf, VALUE_BYTES } from './workload.mjs';

export const BATCH_ROWS = 16;
const WRITER_COUNTS = [1, 16, 256];

/** Unique keys for one database, in increasing order: `entry()` is one [key, value], `entries(n)` n. */
function keyCounter(values) {
  let next = 0;
  return {
    entry: () => {
      const index = next++;
      return [keyOf(index), values[index % values.length]];
    },
    entries: (count) =>
      Array.from({ length: count }, () => {
        const index = next++;
        return [keyOf(index), values[index % values.length]];
      }),
  };
}

/** The write workloads; an engine without the method (or `skip`ping it) leaves the workload out. */
const WRITE_WORKLOADS = [
  ...WRITER_COUNTS.map((writers) => ({
    id: `durable-${writers}`,
    label: `durable, ${writers} writers`,
    writers,
    method: 'put',
    // better-sqlite3 is synchronous: one commit at a time.
    skip: (engine) => engine.name === 'sqlite' && writers > 1,
  })),
  ...[16, 256].map((writers) => ({
    id: `committed-${writers}`,
    label: `committed, ${writers} writers`,
    writers,
    method: 'putCommitted',
  })),
  { id: 'batch', label: `batch of ${BATCH_ROWS}`, writers: 1, method: 'putBatch', rows: BATCH_ROWS },
  { id: 'relaxed-16', label: 'relaxed, 16 writers', writers: 16, method: 'putRelaxed', yieldAfterOp: true },
];

/**
 * Opens every engine's database in a directory of its own under `root`. Workloads then run on each
 * engine in turn, so a change in the machine's load during the run affects the engines alike.
 */
async function openAll({ engines, root, phase, options }) {
  const open = [];
  for (const engine of engines) {
    const directory = join(root, `${phase}-${engine.name}`);
    await mkdir(directory, { recursive: true });
    open.push({ engine, directory, db: await engine.open(directory, options) });
  }
  return open;
}

async function closeAll(open, { remove }) {
  for (const { db, directory } of open) {
    await db.close();
    if (remove) await rm(directory, { recursive: true, force: true });
  }
}

/**
 * Runs `measure(entry, sliceSeconds, round)` for every entry in `--rounds` rounds of
 * `--seconds / --rounds` each, the entries taking turns, and pools each entry's slices. On a shared
 * machine the disk and CPU vary by the second; taking turns in short slices lets every engine (and
 * the raw disk reference) see the same conditions, which a single long phase each does not.
 */
async function inRounds({ entries, flags, measure }) {
  const slices = entries.map(() => []);
  const sliceSeconds = flags.seconds / flags.rounds;
  for (let round = 0; round < flags.rounds; round++) {
    for (const [index, entry] of entries.entries()) {
      slices[index].push(await measure(entry, sliceSeconds, round));
    }
  }
  return slices.map(pooled);
}

/** WAL batches, records and checkpoints between two `stats()` of jubilant-db. */
function walDelta(before, after) {
  if (before === undefined || after === undefined) return undefined;
  return {
    batches: after.wal.batches - before.wal.batches,
    records: after.wal.records - before.wal.records,
    checkpoints: after.checkpoints - before.checkpoints,
  };
}

/**
 * Every write workload on every engine, each engine on a fresh database of its own. The durable
 * workloads also take turns with the raw 4 KiB append + fdatasync reference, so each has its own.
 */
export async function writePhases({ engines, root, flags, values }) {
  const open = await openAll({ engines, root, phase: 'writes' });
  const measured = Object.fromEntries(engines.map((engine) => [engine.name, {}]));
  measured.append = {};
  const append = { raw: 'append' };
  try {
    for (const workload of WRITE_WORKLOADS) {
      const entries = open.filter(
        ({ engine, db }) => db[workload.method] !== undefined && !workload.skip?.(engine),
      );
      if (workload.id.startsWith('durable-')) entries.unshift(append);
      const pooledRuns = await inRounds({
        entries,
        flags,
        measure: async (entry, seconds, round) => {
          const roundText = `round ${round + 1}/${flags.rounds}`;
          if (entry === append)
            return rawAppend(root, seconds, `raw append (${workload.label}, ${roundText})`);
          const { engine, db } = entry;
          entry.keys ??= keyCounter(values);
          const op =
            workload.rows === undefined
              ? () => db[workload.method](...entry.keys.entry())
              : () => db[workload.method](entry.keys.entries(workload.rows));
          const before = db.stats?.();
          const result = await timedWriters({
            label: `${engine.title} ${workload.label}, ${roundText}`,
            writers: workload.writers,
            seconds,
            opsPerCall: workload.rows ?? 1,
            yieldAfterOp: workload.yieldAfterOp === true,
            op,
          });
          return { ...result, wal: walDelta(before, db.stats?.()) };
        },
      });
      for (const [index, entry] of entries.entries()) {
        const name = entry === append ? 'append' : entry.engine.name;
        measured[name][workload.id] = pooledRuns[index];
      }
    }
  } finally {
    await closeAll(open, { remove: true });
  }
  return measured;
}

/**
 * Loads the read data set into every engine, then a full scan, range scans and cached gets on each;
 * reopens each with a small cache for the cache-miss gets.
 */
export async function readPhases({ engines, root, flags, values, SeededRandom }) {
  const order = new SeededRandom(flags.seed).shuffle(Array.from({ length: flags.keys }, (_, index) => index));
  const keyAt = (index) => keyOf(order[index]);
  const valueAt = (index) => values[order[index] % values.length];
  const measured = Object.fromEntries(engines.map((engine) => [engine.name, {}]));
  const store = (id, entries, results) => {
    for (const [index, { engine }] of entries.entries()) measured[engine.name][id] = results[index];
  };
  let open = await openAll({ engines, root, phase: 'reads', options: { cacheBytes: flags.hotCacheBytes } });
  try {
    for (const { engine, db } of open) {
      process.stderr.write(`  ${engine.title} load ${formatCount(flags.keys)} keys\n`);
      measured[engine.name].load = await timedOnce(async () => {
        await db.load(flags.keys, keyAt, valueAt);
        return flags.keys;
      });
    }
    for (const { engine, db } of open) {
      process.stderr.write(`  ${engine.title} full scan\n`);
      measured[engine.name].fullScan = await timedOnce(async () => {
        const read = await db.fullScan();
        if (read !== flags.keys)
          throw new Error(`${engine.title}: full scan read ${read} of ${flags.keys} keys`);
        return read;
      });
    }
    store(
      'rangeScan',
      open,
      await inRounds({ entries: open, flags, measure: rangeScans(flags, SeededRandom) }),
    );
    store(
      'hit',
      open,
      await inRounds({ entries: open, flags, measure: pointReads('cache hit', flags, SeededRandom) }),
    );
  } finally {
    await closeAll(open, { remove: false });
  }
  open = await openAll({ engines, root, phase: 'reads', options: { cacheBytes: flags.missCacheBytes } });
  try {
    store(
      'miss',
      open,
      await inRounds({ entries: open, flags, measure: pointReads('cache miss', flags, SeededRandom) }),
    );
  } finally {
    await closeAll(open, { remove: true });
  }
  return measured;
}

/** Range scans of RANGE_SCAN_KEYS keys from random loaded keys; each must read exactly that many. */
function rangeScans(flags, SeededRandom) {
  return ({ engine, db }, seconds, round) => {
    const random = new SeededRandom(flags.seed + 100 + round);
    const check = (read) => {
      if (read !== RANGE_SCAN_KEYS) throw new Error(`${engine.title}: a range scan read ${read} keys`);
    };
    return timedLoop({
      label: `${engine.title} range scans of ${RANGE_SCAN_KEYS}, round ${round + 1}/${flags.rounds}`,
      seconds,
      op: () => andThen(db.rangeScan(keyOf(random.int(flags.keys - RANGE_SCAN_KEYS))), check),
    });
  };
}

/** Random point reads of loaded keys; jubilant's page-cache counters are kept for the notes. */
function pointReads(what, flags, SeededRandom) {
  return async ({ engine, db }, seconds, round) => {
    const random = new SeededRandom(flags.seed + 200 + round);
    const check = (value) => {
      if (value?.length !== VALUE_BYTES) throw new Error(`${engine.title}: a loaded key is missing`);
    };
    const before = db.stats?.().cache;
    const result = await timedLoop({
      label: `${engine.title} gets, ${what}, round ${round + 1}/${flags.rounds}`,
      seconds,
      op: () => andThen(db.get(keyOf(random.int(flags.keys))), check),
    });
    const after = db.stats?.().cache;
    if (before === undefined || after === undefined) return result;
    return { ...result, pageHits: after.hits - before.hits, pageMisses: after.misses - before.misses };
  };
}

/** `then(result)` now for a plain value, after it resolves for a promise (no promise for sync engines). */
function andThen(result, then) {
  return typeof result?.then === 'function' ? result.then(then) : then(result);
}

/** Runs rss-child.mjs with --expose-gc and returns its report. */
export async function residentMemory({ root, flags }) {
  const directory = join(root, 'rss');
  await mkdir(directory);
  const input = {
    directory,
    cacheBytes: flags.rssCacheBytes,
    keys: flags.rssKeys,
    seconds: flags.seconds,
    seed: flags.seed,
  };
  const child = fork(fileURLToPath(new URL('./rss-child.mjs', import.meta.url)), [JSON.stringify(input)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let report;
  child.on('message', (message) => {
    report = message;
  });
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? signal));
  });
  await rm(directory, { recursive: true, force: true });
  if (code !== 0 || report === undefined) throw new Error(`the resident-memory child failed (${code})`);
  return report;
}
