/**
 * bench/engine: resident memory of jubilant-db, in a child process of its own (forked by
 * engine-bench.mjs with --expose-gc, so nothing the parent holds, lmdb's map or sqlite's cache, counts).
 *
 * With one cache budget for the whole run it loads a data set larger than that budget (durable sets from
 * 256 writers, in key order: in random order, with the tree larger than the cache, nearly every leaf is
 * dirty again between checkpoints, which is far slower and not what this measures), runs durable
 * commits from 256 writers, random point reads, 100-key range scans and a full scan, then collects
 * garbage twice and reports RSS, heap and the cache's accounted bytes with the database still open.
 * Input: one JSON argument; output: one IPC message.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { jubilantEngine } from './engines.mjs';
import { timedLoop, timedWriters } from './measure.mjs';
import { keyOf, loadDist, VALUE_BYTES, valuePool } from './workload.mjs';

const MiB = 1024 * 1024;

async function main() {
  if (typeof globalThis.gc !== 'function') throw new Error('rss-child needs --expose-gc');
  globalThis.gc();
  const startRssBytes = process.memoryUsage().rss;
  const { directory, cacheBytes, keys, seconds, seed } = JSON.parse(process.argv[2]);
  const { Database, SeededRandom } = await loadDist();
  const random = new SeededRandom(seed);
  const values = valuePool(random);
  const valueAt = (index) => values[index % values.length];
  const engine = jubilantEngine(Database);
  const db = await engine.open(directory, { cacheBytes });
  // The floor: node, jubilant-db's modules and an open database with an empty cache.
  globalThis.gc();
  const openRssBytes = process.memoryUsage().rss;
  process.stderr.write(`  rss child: loading ${keys.toLocaleString('en-US')} keys in key order\n`);
  await db.load(keys, keyOf, valueAt);
  let written = keys;
  await timedWriters({
    label: 'rss child: fsync, 256 writers',
    writers: 256,
    seconds,
    op: () => {
      const index = written++;
      return db.put(keyOf(index), valueAt(index));
    },
  });
  const lookups = await timedLoop({
    label: 'rss child: random gets',
    seconds,
    op: async () => {
      const value = await db.get(keyOf(random.int(keys)));
      if (value?.byteLength !== VALUE_BYTES) throw new Error('rss child: a loaded key is missing');
    },
  });
  await timedLoop({
    label: 'rss child: range scans',
    seconds,
    op: () => db.rangeScan(keyOf(random.int(keys))),
  });
  const scanned = await db.fullScan();
  if (scanned !== written) throw new Error(`rss child: full scan read ${scanned} keys, wrote ${written}`);
  globalThis.gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  globalThis.gc();
  const memory = process.memoryUsage();
  const mappings = residentByMapping();
  const stats = db.stats();
  process.send({
    keys: written,
    lookups: lookups.ops,
    cacheBytes,
    startRssBytes,
    openRssBytes,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    arrayBuffersBytes: memory.arrayBuffers,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    mappings,
    cacheAccountedBytes: stats.cache.accountedBytes,
    cacheEntries: stats.cache.entries,
    cacheEvictions: stats.cache.evictions,
    pageCount: stats.tree.pageCount,
  });
  await db.close();
  await rm(join(directory, 'jubilant'), { recursive: true, force: true });
  process.stderr.write(`  rss child: RSS ${(memory.rss / MiB).toFixed(0)} MiB after gc\n`);
}

/**
 * Resident bytes by kind of mapping, from /proc/self/smaps (Linux; empty elsewhere): the malloc heap
 * (`[heap]`: ArrayBuffer backing stores among others, and what freeing them leaves behind), anonymous
 * mappings (mostly the V8 heap), and files (the node binary and libraries).
 */
function residentByMapping() {
  let text;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return {};
  }
  const totals = { mallocHeapBytes: 0, anonymousBytes: 0, fileBytes: 0 };
  let kind = 'anonymousBytes';
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header !== null) {
      const name = header[1] ?? '';
      kind = name === '[heap]' ? 'mallocHeapBytes' : name.startsWith('/') ? 'fileBytes' : 'anonymousBytes';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) totals[kind] += Number(rss[1]) * 1024;
  }
  return totals;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
