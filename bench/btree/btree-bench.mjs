/**
 * bench/btree (issue 4): B+Tree inserts, point lookups and range scans per second, and page fill.
 *
 * On the real file system, in a fresh temporary directory (removed at the end), it builds one tree from
 * keys inserted in sequential order and another from the same keys in random order, checkpointing each
 * and walking it for page counts, depth and fill. On the random-order tree it then times point lookups
 * with every node in memory, range scans of 100 keys and one full scan; finally it reopens that store
 * with a small node cache and times a sample of lookups that must read leaves from data.pages (the OS
 * page cache is not dropped, so these measure the decode path, not the disk). Every timed operation's
 * latency is kept, for p50 and p99; ops/s is operations over wall time. It measures, never asserts
 * timings.
 *
 * Run: `npm run build` at the repository root, then `cd bench && npm run btree`, or for a quick run
 * `npm run btree -- --keys 100000`. `--help` lists the flags.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { flagChecks, machineLine } from '../common/cli.mjs';

const MiB = 1024 * 1024;
const PAGE_SIZE_BYTES = 16384;
const VALUE_BYTES = 100;
/** Distinct value contents, shared round-robin: the tree copies values into pages, not the objects. */
const VALUE_POOL_SIZE = 256;
const SCAN_COUNT = 10_000;
const SCAN_LENGTH_KEYS = 100;
/** Each cache-miss lookup reads and decodes a leaf, so a sample suffices. */
const COLD_LOOKUPS_DEFAULT = 20_000;
/** Default node cache: room for every decoded node (about 250 bytes per key here), twice over. */
const CACHE_BYTES_PER_KEY = 512;
const CACHE_MIB_MIN = 64;
/** Keys are `key:%08d`, so more than this would no longer sort in insertion order. */
const KEY_COUNT_MAX = 100_000_000;
const DATABASE_UUID = new Uint8Array(16).fill(0xbe);

const USAGE = `usage: node btree/btree-bench.mjs [flags]
  --keys N            keys per tree (default 1000000)
  --cache-mib N       node cache while building and for hot reads (default: ${CACHE_BYTES_PER_KEY} B per key, min ${CACHE_MIB_MIN})
  --cold-cache-mib N  node cache after reopening, for the cache-miss lookups (default 8)
  --cold-lookups N    cache-miss lookups to time (default: min(keys, 20000))
  --seed N            seed of the random insert order, lookups and scan starts (default 1)`;

const { fail, positiveInteger } = flagChecks('btree-bench', USAGE);

// ---------------------------------------------------------------------------------------------------
// Setup: flags and the built engine.

function parseFlags() {
  const { values } = parseArgs({
    options: {
      keys: { type: 'string', default: '1000000' },
      'cache-mib': { type: 'string' },
      'cold-cache-mib': { type: 'string', default: '8' },
      'cold-lookups': { type: 'string' },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const keyCount = positiveInteger(values.keys, '--keys');
  if (keyCount > KEY_COUNT_MAX) fail(`--keys is at most ${KEY_COUNT_MAX}`);
  const cacheMibDefault = Math.max(CACHE_MIB_MIN, Math.ceil((keyCount * CACHE_BYTES_PER_KEY) / MiB));
  return {
    keyCount,
    cacheMib:
      values['cache-mib'] === undefined
        ? cacheMibDefault
        : positiveInteger(values['cache-mib'], '--cache-mib'),
    coldCacheMib: positiveInteger(values['cold-cache-mib'], '--cold-cache-mib'),
    coldLookups: Math.min(
      keyCount,
      values['cold-lookups'] === undefined
        ? COLD_LOOKUPS_DEFAULT
        : positiveInteger(values['cold-lookups'], '--cold-lookups'),
    ),
    seed: positiveInteger(values.seed, '--seed'),
  };
}

/** Imports the compiled engine from dist/, which `npm run build` at the repository root produces. */
async function loadEngine() {
  const dist = new URL('../../dist/src/', import.meta.url);
  if (!existsSync(fileURLToPath(new URL('storage/btree/btree.js', dist)))) {
    console.error(
      `btree-bench: ${fileURLToPath(dist)} has no built B+Tree; run \`npm run build\` at the repository root first.`,
    );
    process.exit(1);
  }
  const load = (path) => import(new URL(path, dist).href);
  const [btree, pageStore, nodeFormat, fileSystem, ids, random, assert] = await Promise.all([
    load('storage/btree/btree.js'),
    load('storage/btree/page-store.js'),
    load('storage/btree/node-format.js'),
    load('io/node-file-system.js'),
    load('util/ids.js'),
    load('util/random.js'),
    load('util/assert.js'),
  ]);
  return {
    Btree: btree.Btree,
    PageStore: pageStore.PageStore,
    DATA_PAGES_FILE: pageStore.DATA_PAGES_FILE,
    nodeUsableBytes: nodeFormat.nodeUsableBytes,
    fs: new fileSystem.NodeFileSystem(),
    lsn: ids.lsn,
    SeededRandom: random.SeededRandom,
    verifyEnabled: assert.verifyEnabled,
  };
}

// ---------------------------------------------------------------------------------------------------
// Data: keys are made per operation outside the timed region; values and the random order up front.

const KEY_PREFIX = new TextEncoder().encode('key:');
const KEY_DIGITS = 8;
const KEY_BYTES = KEY_PREFIX.byteLength + KEY_DIGITS;
const ASCII_ZERO = 0x30;

/** Writes key `index` (`key:%08d`) into `target`, which must be KEY_BYTES long. */
function writeKey(target, index) {
  target.set(KEY_PREFIX);
  let rest = index;
  for (let position = KEY_BYTES - 1; position >= KEY_PREFIX.byteLength; position--) {
    target[position] = ASCII_ZERO + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return target;
}

/** A key the tree may keep: every insert gets its own array, as one decoded from a request would be. */
function newKey(index) {
  return writeKey(new Uint8Array(KEY_BYTES), index);
}

/**
 * Lookups reuse one array: an operation finishes before the next is prepared, and the tree keeps no
 * reference to a lookup key. So the bench holds no million keys of its own for the collector to trace.
 */
function lookupKeyWriter() {
  const scratch = new Uint8Array(KEY_BYTES);
  return (index) => writeKey(scratch, index);
}

function makeValuePool(random) {
  return Array.from({ length: VALUE_POOL_SIZE }, () => {
    const value = new Uint8Array(VALUE_BYTES);
    for (let index = 0; index < VALUE_BYTES; index++) value[index] = random.nextU32() & 0xff;
    return value;
  });
}

/** A seeded Fisher-Yates shuffle of 0..count-1. */
function shuffledIndexes(count, random) {
  const order = new Uint32Array(count);
  for (let index = 0; index < count; index++) order[index] = index;
  for (let index = count - 1; index > 0; index--) {
    const other = random.int(index + 1);
    const swap = order[index];
    order[index] = order[other];
    order[other] = swap;
  }
  return order;
}

// ---------------------------------------------------------------------------------------------------
// Measurement: per-operation latency into a typed array, percentiles by sorting it.

/** Prints `label  30%` on stderr at every tenth of `total`. */
function progress(label, total) {
  const step = Math.max(1, Math.ceil(total / 10));
  const startedMs = performance.now();
  let nextMark = step;
  return (done) => {
    if (done < nextMark && done !== total) return;
    nextMark += step;
    const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
    process.stderr.write(
      `  ${label.padEnd(28)} ${String(Math.round((done / total) * 100)).padStart(3)}%  ${seconds} s\n`,
    );
  };
}

/**
 * Times `count` operations: `prepare(i)` builds the input outside the timed region, `run(input)` is
 * timed. Returns ops, wall-clock elapsed time (preparation included) and the latencies in ns.
 */
async function measure({ label, count, prepare, run }) {
  const latenciesNs = new Float64Array(count);
  const report = progress(label, count);
  const started = process.hrtime.bigint();
  for (let index = 0; index < count; index++) {
    const input = prepare(index);
    const before = process.hrtime.bigint();
    await run(input);
    latenciesNs[index] = Number(process.hrtime.bigint() - before);
    report(index + 1);
  }
  const elapsedNs = Number(process.hrtime.bigint() - started);
  return { ops: count, elapsedNs, latenciesNs };
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted, fraction) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[rank - 1];
}

/** A table row from a measurement: elapsed wall time leads the notes. */
function row(workload, result, notes = '') {
  const sorted = result.latenciesNs.sort();
  const elapsedS = result.elapsedNs / 1e9;
  return {
    workload,
    ops: result.ops,
    opsPerSecond: result.ops / elapsedS,
    p50Us: percentile(sorted, 0.5) / 1000,
    p99Us: percentile(sorted, 0.99) / 1000,
    notes: [`${formatSeconds(elapsedS)}`, notes].filter((note) => note !== '').join(', '),
  };
}

// ---------------------------------------------------------------------------------------------------
// Workloads.

function makeEntry(engine, key, value, revision) {
  return {
    key,
    valueType: 'bytes',
    tombstone: false,
    inlineValue: value,
    expiresAtMs: 0,
    revision: engine.lsn(revision),
  };
}

async function openStore(engine, directory, cacheMib, { create }) {
  const options = { pageSizeBytes: PAGE_SIZE_BYTES, databaseUuid: DATABASE_UUID, cacheBytes: cacheMib * MiB };
  const store = create
    ? await engine.PageStore.create(engine.fs, directory, options)
    : await engine.PageStore.open(engine.fs, directory, options);
  return { store, tree: new engine.Btree(store) };
}

/** Inserts every key, in `order` (key indexes), into an empty tree, then checkpoints it. */
async function build({ engine, data, tree, store, order, label }) {
  const insert = await measure({
    label: `insert ${label}`,
    count: order.length,
    prepare: (index) => {
      const keyIndex = order[index];
      return makeEntry(engine, newKey(keyIndex), data.values[keyIndex % VALUE_POOL_SIZE], index + 1);
    },
    run: (entry) => tree.put(entry),
  });
  const checkpointStarted = process.hrtime.bigint();
  const checkpoint = await store.checkpoint(engine.lsn(order.length));
  const checkpointNs = Number(process.hrtime.bigint() - checkpointStarted);
  const writtenMib = (checkpoint.pagesWritten * PAGE_SIZE_BYTES) / MiB;
  return [
    row(`insert ${label}`, insert, `${VALUE_BYTES} B values`),
    {
      workload: `checkpoint ${label}`,
      ops: checkpoint.pagesWritten,
      opsPerSecond: checkpoint.pagesWritten / (checkpointNs / 1e9),
      notes: `${formatSeconds(checkpointNs / 1e9)}, pages written, ${writtenMib.toFixed(1)} MiB + fsync + superblock`,
    },
  ];
}

/** Walks every node from the root, counting pages and leaf fill (usedBytes / nodeUsableBytes). */
async function treeShape(engine, store, tree) {
  const usableBytes = engine.nodeUsableBytes(store.pageSizeBytes);
  const shape = { leafPages: 0, internalPages: 0, readFromDisk: 0, leafFillSum: 0, leafFillMin: 1 };
  const visit = async (id) => {
    if (store.resident(id) === undefined) shape.readFromDisk += 1;
    const node = await store.loadPinned(id);
    try {
      if (node.kind === 'internal') {
        shape.internalPages += 1;
        for (const child of node.children) await visit(child);
        return;
      }
      const fill = node.usedBytes / usableBytes;
      shape.leafPages += 1;
      shape.leafFillSum += fill;
      shape.leafFillMin = Math.min(shape.leafFillMin, fill);
    } finally {
      store.unpin(id);
    }
  };
  if (store.rootId !== 0) await visit(store.rootId);
  const fileBytes = (await stat(join(store.directory, engine.DATA_PAGES_FILE))).size;
  return { ...shape, depth: await tree.depth(), fileBytes };
}

function shapeRow(label, shape) {
  const percent = (fraction) => `${(fraction * 100).toFixed(1)}%`;
  const notes = [
    `${formatCount(shape.leafPages)} leaf + ${formatCount(shape.internalPages)} internal pages`,
    `depth ${shape.depth}`,
    `leaf fill mean ${percent(shape.leafFillSum / shape.leafPages)} min ${percent(shape.leafFillMin)}`,
    `data.pages ${(shape.fileBytes / MiB).toFixed(1)} MiB`,
  ];
  if (shape.readFromDisk > 0) notes.push(`${formatCount(shape.readFromDisk)} pages not cached`);
  return { workload: `fill ${label}`, notes: notes.join(', ') };
}

async function pointLookups({ tree, data, random, count, label }) {
  let misses = 0;
  const lookupKey = lookupKeyWriter();
  const result = await measure({
    label,
    count,
    prepare: () => lookupKey(random.int(data.keyCount)),
    run: async (key) => {
      if ((await tree.get(key)) === undefined) misses += 1;
    },
  });
  if (misses > 0) throw new Error(`${label}: ${misses} existing keys not found`);
  return result;
}

/** Each scan starts at a random key and reads SCAN_LENGTH_KEYS keys (fewer only near the end). */
async function rangeScans({ tree, data, random }) {
  let keysRead = 0;
  const startMax = Math.max(1, data.keyCount - SCAN_LENGTH_KEYS + 1);
  const startKey = lookupKeyWriter();
  const result = await measure({
    label: 'range scans',
    count: SCAN_COUNT,
    prepare: () => startKey(random.int(startMax)),
    run: async (start) => {
      let read = 0;
      for await (const _entry of tree.cursor({ start })) {
        read += 1;
        if (read === SCAN_LENGTH_KEYS) break;
      }
      keysRead += read;
    },
  });
  const keysPerSecond = keysRead / (result.elapsedNs / 1e9);
  return row(`range scan ${SCAN_LENGTH_KEYS} keys`, result, `${formatCount(keysPerSecond)} keys/s`);
}

/** One forward cursor over the whole tree; each `next()` is one timed operation. */
async function fullScan({ tree, data }) {
  const cursor = tree.cursor();
  let done = false;
  const result = await measure({
    label: 'full scan',
    count: data.keyCount + 1, // the last step reports the end
    prepare: () => undefined,
    run: async () => {
      done = (await cursor.next()).done === true;
    },
  });
  if (!done) throw new Error('full scan: the cursor returned more keys than were inserted');
  return row('full scan (per key)', { ...result, ops: data.keyCount }, 'one forward cursor');
}

// ---------------------------------------------------------------------------------------------------
// Output.

function formatCount(value) {
  return Math.round(value).toLocaleString('en-US');
}

function formatMicros(value) {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return formatCount(value);
}

function formatSeconds(seconds) {
  return seconds < 1 ? `${(seconds * 1000).toFixed(0)} ms` : `${seconds.toFixed(2)} s`;
}

const COLUMNS = [
  { title: 'workload', width: 26, align: 'left', cell: (r) => r.workload },
  { title: 'ops', width: 10, align: 'right', cell: (r) => (r.ops === undefined ? '-' : formatCount(r.ops)) },
  {
    title: 'ops/s',
    width: 10,
    align: 'right',
    cell: (r) => (r.opsPerSecond === undefined ? '-' : formatCount(r.opsPerSecond)),
  },
  { title: 'p50 µs', width: 8, align: 'right', cell: (r) => formatMicros(r.p50Us) },
  { title: 'p99 µs', width: 8, align: 'right', cell: (r) => formatMicros(r.p99Us) },
  { title: 'notes', width: 0, align: 'left', cell: (r) => r.notes ?? '' },
];

/** A fixed-width table that is also a Markdown table, so it can be pasted into bench/README.md. */
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
  const body = rows.map((r) => line(COLUMNS.map((column) => pad(column, column.cell(r)))));
  return [header, rule, ...body].join('\n');
}

function printHeader(engine, flags, directory) {
  console.log('bench/btree: jubilant-db B+Tree (src/storage/btree) on the real file system');
  console.log(
    `  workload   ${formatCount(flags.keyCount)} keys 'key:%08d' (12 B), ${VALUE_BYTES} B inline values; ` +
      'sequential-order and random-order builds',
  );
  console.log(`  node       ${machineLine()}`);
  console.log(`  page size  ${PAGE_SIZE_BYTES} B`);
  console.log(
    `  cache      ${flags.cacheMib} MiB (builds, hot reads), ${flags.coldCacheMib} MiB (cold lookups)`,
  );
  console.log(
    `  verify     JUBILANT_VERIFY ${engine.verifyEnabled ? 'on (slow: expensive checks run)' : 'off'}`,
  );
  console.log(`  seed       ${flags.seed}`);
  console.log(`  directory  ${directory} (removed at the end)`);
  console.log('');
}

// ---------------------------------------------------------------------------------------------------
// Main.

/** Sequential-order build: insert, checkpoint, shape; the store is closed afterwards to free memory. */
async function sequentialPhase({ engine, data, flags, directory }) {
  const { store, tree } = await openStore(engine, directory, flags.cacheMib, { create: true });
  try {
    const order = Uint32Array.from({ length: data.keyCount }, (_, index) => index);
    const rows = await build({ engine, data, tree, store, order, label: 'sequential' });
    rows.push(shapeRow('sequential', await treeShape(engine, store, tree)));
    return rows;
  } finally {
    await store.close();
  }
}

/** Random-order build, then the read workloads on it with every node in memory. */
async function randomPhase({ engine, data, flags, directory, random }) {
  const { store, tree } = await openStore(engine, directory, flags.cacheMib, { create: true });
  try {
    const order = shuffledIndexes(data.keyCount, random);
    const rows = await build({ engine, data, tree, store, order, label: 'random' });
    rows.push(shapeRow('random', await treeShape(engine, store, tree)));
    const hot = await pointLookups({ tree, data, random, count: data.keyCount, label: 'lookups (cached)' });
    rows.push(row('get random, cached', hot, 'random-order tree, all nodes in memory'));
    rows.push(await rangeScans({ tree, data, random }));
    rows.push(await fullScan({ tree, data }));
    return rows;
  } finally {
    await store.close();
  }
}

/**
 * Reopens the random-order tree with a small node cache, so most lookups read and decode a leaf. A
 * function of its own, so the closed store's million decoded entries are garbage by now and the
 * collector does not trace them during this phase.
 */
async function coldPhase({ engine, data, flags, directory, random }) {
  const { store, tree } = await openStore(engine, directory, flags.coldCacheMib, { create: false });
  try {
    const label = 'lookups (cold)';
    const result = await pointLookups({ tree, data, random, count: flags.coldLookups, label });
    const notes = `reopened, ${flags.coldCacheMib} MiB node cache, OS page cache warm`;
    return row('get random, cache miss', result, notes);
  } finally {
    await store.close();
  }
}

async function main() {
  const flags = parseFlags();
  const engine = await loadEngine();
  const random = new engine.SeededRandom(flags.seed);
  const data = { keyCount: flags.keyCount, values: makeValuePool(random) };
  const root = await mkdtemp(join(tmpdir(), 'jubilant-bench-btree-'));
  // An interrupted run still removes its directory (a million-key tree is a few hundred MiB).
  process.once('SIGINT', () => {
    rmSync(root, { recursive: true, force: true });
    process.exit(130);
  });
  const startedMs = performance.now();
  try {
    printHeader(engine, flags, root);
    const sequentialDirectory = join(root, 'sequential');
    const randomDirectory = join(root, 'random');
    await mkdir(sequentialDirectory);
    await mkdir(randomDirectory);
    const rows = await sequentialPhase({ engine, data, flags, directory: sequentialDirectory });
    await rm(sequentialDirectory, { recursive: true, force: true });
    rows.push(...(await randomPhase({ engine, data, flags, directory: randomDirectory, random })));
    rows.push(await coldPhase({ engine, data, flags, directory: randomDirectory, random }));
    console.log(formatTable(rows));
    const totalSeconds = (performance.now() - startedMs) / 1000;
    const peakRssMib = process.resourceUsage().maxRSS / 1024;
    console.log(`\ntotal ${formatSeconds(totalSeconds)}, peak RSS ${peakRssMib.toFixed(0)} MiB`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
