/**
 * bench/engine (issue 5): durable commits per second at 1, 16 and 256 concurrent writers, batch commits,
 * point reads (cache hit and miss) and scans of jubilant-db's embedded Database, against the raw
 * 4 KiB append + fdatasync rate of the same disk, lmdb-js and better-sqlite3, all in one run; and the
 * resident memory of jubilant-db in a child process. It measures, never asserts timings: the targets of
 * issue 5 are printed as PASS or MISS.
 *
 * Everything runs on the real file system in a fresh temporary directory, removed at the end. Every
 * timed operation's latency is kept, for exact p50 and p99; ops/s is operations over wall time.
 *
 * Run: `npm run build` at the repository root, then `cd bench && npm ci && npm run engine`, or for a
 * quick run `npm run engine -- --quick`. `--help` lists the flags.
 */
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fileSystemName, flagChecks, machineLine } from '../common/cli.mjs';
import { ENGINE_NAMES, jubilantEngine, lmdbEngine, RANGE_SCAN_KEYS, sqliteEngine } from './engines.mjs';
import { formatCount, formatSeconds, formatTable } from './measure.mjs';
import { BATCH_ROWS, readPhases, residentMemory, writePhases } from './phases.mjs';
import { rawOverwrite } from './raw-disk.mjs';
import { buildRows, summarize } from './report.mjs';
import { loadDist, loadReferences, VALUE_BYTES, valuePool } from './workload.mjs';

const MiB = 1024 * 1024;
/** Default hot cache: room for every decoded page of the read data set (about 240 B per key), 4 times. */
const HOT_CACHE_BYTES_PER_KEY = 1024;
const HOT_CACHE_MIB_MIN = 64;

const USAGE = `usage: node --expose-gc engine/engine-bench.mjs [flags]
  --seconds S          time of each timed workload per engine (default 4; --quick: 1)
  --rounds N           slices each workload's time is cut into, the engines taking turns (default 4; --quick: 2)
  --keys N             keys of the read and scan data set (default 100000; --quick: 20000)
  --miss-cache-mib N   cache after reopening, for the cache-miss reads (default 4)
  --rss-cache-mib N    cache budget of the resident-memory child (default 32)
  --rss-keys N         keys the resident-memory child loads (default 2 x --keys)
  --engines LIST       comma-separated subset of ${ENGINE_NAMES.join(',')} (default all)
  --dir PATH           parent of the temporary directory (default ${tmpdir()})
  --seed N             seed of values, load order and read keys (default 1)
  --quick              small counts and 1 s phases, for a smoke run`;

const { fail, positiveNumber, positiveInteger } = flagChecks('engine-bench', USAGE);

// ---------------------------------------------------------------------------------------------------
// Flags and header.

function parseFlags() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      keys: { type: 'string' },
      'miss-cache-mib': { type: 'string', default: '4' },
      'rss-cache-mib': { type: 'string', default: '32' },
      'rss-keys': { type: 'string' },
      engines: { type: 'string', default: ENGINE_NAMES.join(',') },
      dir: { type: 'string', default: tmpdir() },
      seed: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const engines = values.engines.split(',').map((name) => name.trim());
  for (const name of engines) if (!ENGINE_NAMES.includes(name)) fail(`unknown engine '${name}'`);
  if (!engines.includes('jubilant')) fail('--engines must include jubilant');
  const seconds = positiveNumber(values.seconds ?? (values.quick ? '1' : '4'), '--seconds');
  const keys = positiveInteger(values.keys ?? (values.quick ? '20000' : '100000'), '--keys');
  if (keys <= RANGE_SCAN_KEYS) fail(`--keys must be above ${RANGE_SCAN_KEYS}`);
  return {
    seconds,
    rounds: positiveInteger(values.rounds ?? (values.quick ? '2' : '4'), '--rounds'),
    keys,
    hotCacheBytes: Math.max(HOT_CACHE_MIB_MIN, Math.ceil((keys * HOT_CACHE_BYTES_PER_KEY) / MiB)) * MiB,
    missCacheBytes: positiveInteger(values['miss-cache-mib'], '--miss-cache-mib') * MiB,
    rssCacheBytes: positiveInteger(values['rss-cache-mib'], '--rss-cache-mib') * MiB,
    rssKeys: values['rss-keys'] === undefined ? 2 * keys : positiveInteger(values['rss-keys'], '--rss-keys'),
    engines,
    dir: values.dir,
    seed: positiveInteger(values.seed, '--seed'),
  };
}

function packageVersion(name) {
  const path = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(fileURLToPath(path), 'utf8')).version;
}

async function printHeader(flags, root, references) {
  const fsName = await fileSystemName(root);
  const versions = [`jubilant-db (../dist)`];
  if (references.lmdb !== undefined) versions.push(`lmdb-js ${packageVersion('lmdb')}`);
  if (references.BetterSqlite3 !== undefined) {
    const probe = new references.BetterSqlite3(':memory:');
    const sqliteVersion = probe.prepare('SELECT sqlite_version()').pluck().get();
    probe.close();
    versions.push(`better-sqlite3 ${packageVersion('better-sqlite3')} (SQLite ${sqliteVersion})`);
  }
  console.log('bench/engine: jubilant-db embedded Database vs raw fdatasync, lmdb-js and better-sqlite3');
  console.log(
    `  workload   unique keys 'key:%010d' (14 B), ${VALUE_BYTES} B values; commits: each writer awaits its ` +
      `own commit; timed phases ${flags.seconds} s`,
  );
  console.log(
    `  batch      ${BATCH_ROWS} rows per commit: jubilant one transaction of ${BATCH_ROWS} SETs (one WAL record); ` +
      `lmdb-js ${BATCH_ROWS} puts in one event turn (one transaction); sqlite ${BATCH_ROWS} INSERTs in one transaction`,
  );
  console.log(
    `  durable    jubilant durability 'fsync'; lmdb-js default sync flags (overlappingSync), each put's ` +
      `own flushed promise awaited; sqlite journal_mode=WAL, synchronous=FULL`,
  );
  console.log(
    `  reads      ${formatCount(flags.keys)} keys loaded in random order; cache hit: ${flags.hotCacheBytes / MiB} MiB ` +
      `cache; cache miss: reopened with ${flags.missCacheBytes / MiB} MiB (OS page cache not dropped)`,
  );
  console.log(`  engines    ${versions.join(', ')}`);
  console.log(`  node       ${machineLine()}`);
  console.log(`  directory  ${root} on ${fsName} (removed at the end)`);
  console.log(`  seed       ${flags.seed}`);
  console.log('');
}

// ---------------------------------------------------------------------------------------------------
// Main.

async function main() {
  const flags = parseFlags();
  const { Database, SeededRandom } = await loadDist();
  const references = await loadReferences(flags.engines);
  const engines = [jubilantEngine(Database)];
  if (references.lmdb !== undefined) engines.push(lmdbEngine(references.lmdb));
  if (references.BetterSqlite3 !== undefined) engines.push(sqliteEngine(references.BetterSqlite3));
  const values = valuePool(new SeededRandom(flags.seed));
  const root = await mkdtemp(join(flags.dir, 'jubilant-bench-engine-'));
  process.once('SIGINT', () => {
    rmSync(root, { recursive: true, force: true });
    process.exit(130);
  });
  const startedMs = performance.now();
  try {
    await printHeader(flags, root, references);
    const measured = { raw: {} };
    measured.raw.overwrite = await rawOverwrite(root, flags.seconds);
    measured.writes = await writePhases({ engines, root, flags, values });
    measured.reads = await readPhases({ engines, root, flags, values, SeededRandom });
    measured.rss = await residentMemory({ root, flags });
    const rows = buildRows(measured, flags);
    console.log(formatTable(rows));
    console.log('');
    console.log(summarize(measured));
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
