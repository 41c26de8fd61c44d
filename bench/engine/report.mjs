/**
 * bench/engine: turns the measurements into table rows with ratios, and checks issue 5's targets.
 */
import { RANGE_SCAN_KEYS } from './engines.mjs';
import { formatCount, formatRatio, formatSeconds, pooled, row } from './measure.mjs';

const MiB = 1024 * 1024;
const TITLES = { jubilant: 'jubilant', lmdb: 'lmdb-js', sqlite: 'sqlite' };
const RSS_HEADROOM_BYTES = 64 * MiB;

const rate = (result) => (result === undefined ? undefined : result.ops / (result.elapsedNs / 1e9));
const ratioOf = (ours, theirs) => (ours === undefined || theirs === undefined ? undefined : ours / theirs);
const mib = (bytes) => `${(bytes / MiB).toFixed(0)} MiB`;
const pageHitRate = (result) =>
  `${((100 * result.pageHits) / Math.max(1, result.pageHits + result.pageMisses)).toFixed(1)}%`;

/** Issue 5's targets, each with the measured value and PASS/MISS (undefined when not measured). */
export function targets(measured) {
  const append = measured.writes.append;
  const ours = measured.writes.jubilant;
  const lmdbWrites = measured.writes.lmdb;
  const list = [
    {
      id: 'append-16',
      text: 'durable commits, 16 writers >= 8x raw 4 KiB append + fdatasync',
      ratio: ratioOf(rate(ours['durable-16']), rate(append['durable-16'])),
      min: 8,
    },
    {
      id: 'append-256',
      text: 'durable commits, 256 writers >= 15x raw 4 KiB append + fdatasync',
      ratio: ratioOf(rate(ours['durable-256']), rate(append['durable-256'])),
      min: 15,
    },
    {
      id: 'lmdb-16',
      text: 'durable commits, 16 writers >= 1.0x lmdb-js (durable)',
      ratio: ratioOf(rate(ours['durable-16']), rate(lmdbWrites?.['durable-16'])),
      min: 1,
    },
    {
      id: 'lmdb-256',
      text: 'durable commits, 256 writers >= 1.0x lmdb-js (durable)',
      ratio: ratioOf(rate(ours['durable-256']), rate(lmdbWrites?.['durable-256'])),
      min: 1,
    },
    {
      id: 'lmdb-get',
      text: 'cached point reads >= 0.5x lmdb-js',
      ratio: ratioOf(rate(measured.reads.jubilant.hit), rate(measured.reads.lmdb?.hit)),
      min: 0.5,
    },
  ];
  for (const target of list) {
    target.pass = target.ratio === undefined ? undefined : target.ratio >= target.min;
    target.measured = formatRatio(target.ratio);
    target.short = `>= ${target.min}x ${target.id.startsWith('append') ? 'append' : 'lmdb'}`;
  }
  const rss = measured.rss;
  const limit = rss.cacheBytes + RSS_HEADROOM_BYTES;
  list.push({
    id: 'rss',
    text: `resident memory after gc <= cache budget + 64 MiB (${mib(limit)})`,
    pass: rss.rssBytes <= limit,
    measured: mib(rss.rssBytes),
    short: `<= ${mib(limit)}`,
  });
  return list;
}

const verdict = (pass) => (pass === undefined ? 'n/a' : pass ? 'PASS' : 'MISS');

/** The target cell of a row: e.g. `>= 8x append PASS, >= 1x lmdb MISS`. */
function targetCell(list, ids) {
  return ids
    .map((id) => list.find((target) => target.id === id))
    .map((target) => `${target.short} ${verdict(target.pass)}`)
    .join(', ');
}

/** `1.23x lmdb, 4.56x sqlite`, leaving out engines that were not run. */
function versus(ours, references) {
  return Object.entries(references)
    .filter(([, theirs]) => theirs !== undefined && ours !== undefined)
    .map(([name, theirs]) => `${formatRatio(ours / theirs)} ${name}`)
    .join(', ');
}

/** Notes of a jubilant write phase: WAL batches, commits per batch, checkpoints. */
function walNotes(result) {
  if (result.wal === undefined) return '';
  const { batches, records, checkpoints } = result.wal;
  const perBatch = batches === 0 ? '-' : (records / batches).toFixed(1);
  const checkpointText = `${checkpoints} checkpoint${checkpoints === 1 ? '' : 's'}`;
  return `${formatCount(batches)} WAL batches (${perBatch} commits each), ${checkpointText}`;
}

export function buildRows(measured, flags) {
  const list = targets(measured);
  const { jubilant: ours, lmdb, sqlite, append: appendById } = measured.writes;
  const appendAll = pooled(Object.values(appendById));
  const append = rate(appendAll);
  const slices = Object.values(appendById).flatMap((result) => result.runs.map(rate));
  const perWorkload = Object.entries(appendById)
    .map(([id, result]) => `${formatCount(rate(result))}/s with ${id.replace('durable-', '')}`)
    .join(', ');
  const rows = [
    row('raw 4 KiB append + fdatasync', appendAll, {
      ratio: '1.00x append',
      notes:
        `fresh file per slice: each sync also persists its new size; ${slices.length} slices taking turns ` +
        `with the durable workloads (${perWorkload}); slices ${formatCount(Math.min(...slices))} to ` +
        `${formatCount(Math.max(...slices))}/s`,
    }),
    row('raw 4 KiB overwrite + fdatasync', measured.raw.overwrite, {
      ratio: `${formatRatio(rate(measured.raw.overwrite) / append)} append`,
      notes: 'preallocated, synced 64 MiB file; measured once, at the start',
    }),
  ];
  for (const writers of [1, 16, 256]) {
    const id = `durable-${writers}`;
    const ourRate = rate(ours[id]);
    rows.push(
      row(`jubilant fsync, ${writers} writer${writers === 1 ? '' : 's'}`, ours[id], {
        ratio: [
          `${formatRatio(ourRate / rate(appendById[id]))} append`,
          versus(ourRate, { lmdb: rate(lmdb?.[id]), sqlite: rate(sqlite?.['durable-1']) }),
        ]
          .filter((text) => text !== '')
          .join(', '),
        target: writers === 1 ? '' : targetCell(list, [`append-${writers}`, `lmdb-${writers}`]),
        notes: walNotes(ours[id]),
      }),
    );
  }
  if (lmdb !== undefined) {
    for (const writers of [1, 16, 256]) {
      const id = `durable-${writers}`;
      rows.push(
        row(`lmdb-js durable, ${writers} writer${writers === 1 ? '' : 's'}`, lmdb[id], {
          ratio: `${formatRatio(rate(lmdb[id]) / rate(appendById[id]))} append`,
          notes: "each put's own flushed promise awaited",
        }),
      );
    }
    for (const writers of [16, 256]) {
      const id = `committed-${writers}`;
      rows.push(
        row(`lmdb-js committed only, ${writers} writers`, lmdb[id], {
          ratio: `${formatRatio(rate(lmdb[id]) / append)} append, ours ${formatRatio(rate(ours[`durable-${writers}`]) / rate(lmdb[id]))}`,
          notes: 'put awaited, flush not (overlappingSync): not yet durable when acknowledged',
        }),
      );
    }
  }
  if (sqlite !== undefined) {
    rows.push(
      row('sqlite durable, 1 at a time', sqlite['durable-1'], {
        ratio: `${formatRatio(rate(sqlite['durable-1']) / rate(appendById['durable-1']))} append`,
        notes: 'synchronous API: no concurrent writers; autocommit INSERT OR REPLACE',
      }),
    );
  }
  const batchNotes = (result) => `${formatCount(rate(result) / 16)} commits/s of 16 rows; ops are rows`;
  rows.push(
    row('jubilant batch of 16 (one transaction)', ours.batch, {
      ratio: versus(rate(ours.batch), { lmdb: rate(lmdb?.batch), sqlite: rate(sqlite?.batch) }),
      notes: `${batchNotes(ours.batch)}; ${walNotes(ours.batch)}`,
    }),
  );
  if (lmdb !== undefined) {
    rows.push(row('lmdb-js batch of 16 (one transaction)', lmdb.batch, { notes: batchNotes(lmdb.batch) }));
  }
  if (sqlite !== undefined) {
    rows.push(row('sqlite batch of 16 (one transaction)', sqlite.batch, { notes: batchNotes(sqlite.batch) }));
  }
  rows.push(
    row('jubilant relaxed, 16 writers', ours['relaxed-16'], {
      ratio: `${formatRatio(rate(ours['relaxed-16']) / append)} append`,
      notes: `each writer yields a turn after each commit; ${walNotes(ours['relaxed-16'])}`,
    }),
  );
  rows.push(...readRows(measured, flags, list));
  const rss = measured.rss;
  rows.push({
    workload: 'jubilant resident memory (child)',
    ratio: `RSS ${mib(rss.rssBytes)}`,
    target: targetCell(list, ['rss']),
    notes:
      `after gc, database open (RSS of the bare child at start ${mib(rss.startRssBytes)}, ` +
      `with jubilant-db loaded and an empty database open ${mib(rss.openRssBytes)}): heap ${mib(rss.heapUsedBytes)} used of ${mib(rss.heapTotalBytes)}, ` +
      `external ${mib(rss.externalBytes)}; cache ${mib(rss.cacheAccountedBytes)} accounted of ` +
      `${mib(rss.cacheBytes)} budget; ${formatCount(rss.keys)} keys (${rss.pageCount} pages); ` +
      `peak RSS ${mib(rss.peakRssBytes)}${mappingNotes(rss.mappings)}`,
  });
  return rows;
}

/** `; resident: malloc heap X, anonymous (V8) Y, files Z` when the child could read its smaps. */
function mappingNotes(mappings) {
  if (mappings?.mallocHeapBytes === undefined) return '';
  const { mallocHeapBytes, anonymousBytes, fileBytes } = mappings;
  return `; resident by mapping: malloc heap ${mib(mallocHeapBytes)}, anonymous (V8 heap, ...) ${mib(anonymousBytes)}, files ${mib(fileBytes)}`;
}

function readRows(measured, flags, list) {
  const reads = measured.reads;
  const names = Object.keys(reads);
  const rows = [];
  const versusOthers = (name, pick) =>
    name === 'jubilant'
      ? versus(rate(pick(reads.jubilant)), {
          lmdb: rate(pick(reads.lmdb ?? {})),
          sqlite: rate(pick(reads.sqlite ?? {})),
        })
      : '';
  const loadNotes = {
    jubilant: 'durable sets from 256 writers, then a checkpoint',
    lmdb: 'putSync in transactions of 10,000',
    sqlite: 'one transaction',
  };
  for (const name of names) {
    const { hit, load } = reads[name];
    const hitRate = hit.pageHits === undefined ? '' : `page hit rate ${pageHitRate(hit)}; `;
    rows.push(
      row(`${TITLES[name]} get, cache hit`, hit, {
        ratio: versusOthers(name, (r) => r.hit),
        target: name === 'jubilant' ? targetCell(list, ['lmdb-get']) : '',
        notes: `${hitRate}loaded ${formatCount(flags.keys)} keys in ${formatSeconds(load.elapsedNs / 1e9)} (${loadNotes[name]})`,
      }),
    );
  }
  const missNotes = {
    jubilant: `reopened with a ${flags.missCacheBytes / MiB} MiB cache`,
    lmdb: 'reopened; no cache of its own (mmap): reads the OS page cache like the hit row',
    sqlite: `reopened with cache_size ${flags.missCacheBytes / MiB} MiB, no mmap`,
  };
  for (const name of names) {
    const { miss } = reads[name];
    const hitRate = miss.pageHits === undefined ? '' : `, page hit rate ${pageHitRate(miss)}`;
    rows.push(
      row(`${TITLES[name]} get, cache miss`, miss, {
        ratio: versusOthers(name, (r) => r.miss),
        notes: `${missNotes[name]}${hitRate}; OS page cache warm`,
      }),
    );
  }
  for (const name of names) {
    const scan = reads[name].rangeScan;
    rows.push(
      row(`${TITLES[name]} range scan, 100 keys`, scan, {
        ratio: versusOthers(name, (r) => r.rangeScan),
        notes: `${formatCount(rate(scan) * RANGE_SCAN_KEYS)} keys/s`,
      }),
    );
  }
  for (const name of names) {
    const scan = reads[name].fullScan;
    rows.push(
      row(`${TITLES[name]} full scan (keys)`, scan, {
        ratio: versusOthers(name, (r) => r.fullScan),
        notes: `${formatSeconds(scan.elapsedNs / 1e9)}, one scan; ops/s is keys/s`,
      }),
    );
  }
  return rows;
}

/** The closing summary: every target with its measured value and PASS/MISS. */
export function summarize(measured) {
  const list = targets(measured);
  const lines = ['targets (issue 5):'];
  for (const target of list) {
    lines.push(`  ${verdict(target.pass).padEnd(4)}  ${target.text}: ${target.measured}`);
  }
  const decided = list.filter((target) => target.pass !== undefined);
  const met = decided.filter((target) => target.pass).length;
  lines.push(`${met} of ${decided.length} measured targets met`);
  return lines.join('\n');
}
