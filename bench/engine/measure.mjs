/**
 * bench/engine: measurement helpers. Latencies are kept per operation (so p50 and p99 are exact,
 * nearest rank), timed phases run for a fixed wall-clock time, and the result table is fixed-width and
 * also a Markdown table.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

// ---------------------------------------------------------------------------------------------------
// Latency samples.

/** A growable array of per-operation latencies in nanoseconds. */
export class Latencies {
  #samples = new Float64Array(1024);
  #count = 0;

  get count() {
    return this.#count;
  }

  add(nanoseconds) {
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(this.#samples.length * 2);
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = nanoseconds;
  }

  addAll(other) {
    for (const sample of other.#samples.subarray(0, other.#count)) this.add(sample);
  }

  /** p50 and p99 in microseconds (nearest rank); NaN without samples. */
  percentilesUs() {
    const sorted = this.#samples.subarray(0, this.#count).sort();
    return { p50Us: percentile(sorted, 0.5) / 1000, p99Us: percentile(sorted, 0.99) / 1000 };
  }
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted, fraction) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[rank - 1];
}

/** Phases shorter than this report progress only when done. */
const MARKS_SECONDS_MIN = 3;
const now = () => process.hrtime.bigint();
const isPromise = (value) => typeof value?.then === 'function';

// ---------------------------------------------------------------------------------------------------
// Timed phases.

/**
 * Prints `label  40%  2.0 s` on stderr about every tenth of a phase (by time or by count), or, with
 * `marks` false (a short slice), only when it is done.
 */
export function progress(label, { marks = true } = {}) {
  const startedMs = performance.now();
  let nextMark = marks ? 0.1 : 1;
  return (fraction) => {
    if (fraction < nextMark || nextMark > 1) return;
    nextMark = fraction >= 1 ? 2 : Math.floor(fraction * 10) / 10 + 0.1;
    const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
    const percent = String(Math.min(100, Math.round(fraction * 100))).padStart(3);
    process.stderr.write(`  ${label.padEnd(40)} ${percent}%  ${seconds} s\n`);
  };
}

/**
 * `writers` concurrent loops, each awaiting its own operation before starting the next, until `seconds`
 * have passed. `op(writerIndex)` returns a promise (or, for a synchronous engine, a plain value). Each
 * operation's latency is from its call to its settlement. With `yieldAfterOp` each writer then waits for
 * the next turn of the event loop (outside the latency), as a server's requests, each arriving from a
 * socket, would let timers and I/O callbacks run. Returns ops, elapsed wall time and latencies.
 */
export async function timedWriters({ label, writers, seconds, op, opsPerCall = 1, yieldAfterOp = false }) {
  const latencies = new Latencies();
  const report = progress(label, { marks: seconds >= MARKS_SECONDS_MIN });
  const durationNs = BigInt(Math.round(seconds * 1e9));
  const started = now();
  const deadline = started + durationNs;
  let calls = 0;
  const loop = async (writerIndex) => {
    for (;;) {
      const before = now();
      if (before >= deadline) return;
      const result = op(writerIndex);
      if (isPromise(result)) await result;
      const after = now();
      latencies.add(Number(after - before));
      calls += 1;
      report(Number(after - started) / Number(durationNs));
      if (yieldAfterOp) await nextTurn();
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, index) => loop(index)));
  const elapsedNs = Number(now() - started);
  report(1);
  return { ops: calls * opsPerCall, calls, elapsedNs, latencies };
}

/**
 * A timed read loop: `op(i)` until `seconds` have passed or `maxOps` operations ran. Synchronous
 * results are not awaited, so a synchronous engine pays no promise per read.
 */
export async function timedLoop({ label, seconds, maxOps = Number.POSITIVE_INFINITY, op }) {
  const latencies = new Latencies();
  const report = progress(label, { marks: seconds >= MARKS_SECONDS_MIN });
  const durationNs = BigInt(Math.round(seconds * 1e9));
  const started = now();
  const deadline = started + durationNs;
  let ops = 0;
  while (ops < maxOps) {
    const before = now();
    if (before >= deadline) break;
    const result = op(ops);
    if (isPromise(result)) await result;
    const after = now();
    latencies.add(Number(after - before));
    ops += 1;
    if ((ops & 0xff) === 0) report(Number(after - started) / Number(durationNs));
  }
  const elapsedNs = Number(now() - started);
  report(1);
  return { ops, elapsedNs, latencies };
}

/**
 * Slices of the same timed phase as one: ops, time and the numeric fields of `wal` and page counters
 * added, latencies merged; `runs` keeps the slices.
 */
export function pooled(runs) {
  const latencies = new Latencies();
  for (const run of runs) if (run.latencies !== undefined) latencies.addAll(run.latencies);
  const sum = (pick) => runs.reduce((total, run) => total + (pick(run) ?? 0), 0);
  const result = {
    ops: sum((run) => run.ops),
    elapsedNs: sum((run) => run.elapsedNs),
    latencies,
    runs,
  };
  if (runs.some((run) => run.wal !== undefined)) {
    result.wal = {
      batches: sum((run) => run.wal?.batches),
      records: sum((run) => run.wal?.records),
      checkpoints: sum((run) => run.wal?.checkpoints),
    };
  }
  if (runs.some((run) => run.pageHits !== undefined)) {
    result.pageHits = sum((run) => run.pageHits);
    result.pageMisses = sum((run) => run.pageMisses);
  }
  return result;
}

/** Times one call (a load, a full scan); no per-operation latency. */
export async function timedOnce(work) {
  const started = now();
  const ops = await work();
  return { ops, elapsedNs: Number(now() - started) };
}

// ---------------------------------------------------------------------------------------------------
// Rows and the table.

/**
 * A table row. `result` has ops, elapsedNs and optionally latencies; `extra` adds ratio, target and
 * notes (and may override anything).
 */
export function row(workload, result, extra = {}) {
  const elapsedS = result.elapsedNs / 1e9;
  const percentiles = result.latencies?.percentilesUs() ?? {};
  return {
    workload,
    ops: result.ops,
    opsPerSecond: result.ops / elapsedS,
    ...percentiles,
    elapsedS,
    ...extra,
  };
}

export function formatCount(value) {
  return Math.round(value).toLocaleString('en-US');
}

export function formatMicros(value) {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return formatCount(value);
}

export function formatSeconds(seconds) {
  return seconds < 1 ? `${(seconds * 1000).toFixed(0)} ms` : `${seconds.toFixed(2)} s`;
}

export function formatRatio(ratio) {
  if (ratio === undefined || !Number.isFinite(ratio)) return '-';
  return ratio >= 10 ? `${ratio.toFixed(1)}x` : `${ratio.toFixed(2)}x`;
}

const COLUMNS = [
  { title: 'workload', width: 38, align: 'left', cell: (r) => r.workload },
  { title: 'ops', width: 9, align: 'right', cell: (r) => (r.ops === undefined ? '-' : formatCount(r.ops)) },
  {
    title: 'ops/s',
    width: 9,
    align: 'right',
    cell: (r) => (r.opsPerSecond === undefined ? '-' : formatCount(r.opsPerSecond)),
  },
  { title: 'p50 µs', width: 7, align: 'right', cell: (r) => formatMicros(r.p50Us) },
  { title: 'p99 µs', width: 7, align: 'right', cell: (r) => formatMicros(r.p99Us) },
  { title: 'ratio', width: 38, align: 'left', cell: (r) => r.ratio ?? '' },
  { title: 'target', width: 35, align: 'left', cell: (r) => r.target ?? '' },
  { title: 'notes', width: 0, align: 'left', cell: (r) => r.notes ?? '' },
];

/** A fixed-width table that is also a Markdown table, so it can be pasted into bench/README.md. */
export function formatTable(rows) {
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
    line(COLUMNS.map((column) => pad(column, String(column.cell(r)).replaceAll('|', '/')))),
  );
  return [header, rule, ...body].join('\n');
}
