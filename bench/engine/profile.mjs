/**
 * bench/engine/profile.mjs: where jubilant-db's time goes in the engine bench's workloads. Runs durable
 * commits from 16 and 256 writers, cached point reads and 100-key range scans on jubilant-db alone, with
 * V8's CPU profiler (the one `node --cpu-prof` uses, here started and stopped around each workload
 * through node:inspector), and prints the top frames of each by self time and by total time.
 * `--out DIR` also writes each profile as a .cpuprofile file (open it in Chrome DevTools).
 *
 * Run: `node engine/profile.mjs` in bench/ (after `npm run build` at the repository root).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jubilantEngine, RANGE_SCAN_KEYS } from './engines.mjs';
import { timedLoop, timedWriters } from './measure.mjs';
import { keyOf, loadDist, valuePool } from './workload.mjs';

const TOP_FRAMES = 15;
const SAMPLING_INTERVAL_US = 250;

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    keys: { type: 'string', default: '100000' },
    out: { type: 'string' },
  },
});
const seconds = Number(flags.seconds);
const keyCount = Number(flags.keys);

/** `name file:line` of a profile node, the file shortened to its last two path parts. */
function frameName(node) {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url === '' ? '' : ` ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${file}`;
}

/** Self and total (inclusive, each frame counted once per stack) time per frame, as shares. */
function topFrames(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const timeById = new Map();
  profile.samples.forEach((id, index) => {
    timeById.set(id, (timeById.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const self = new Map();
  const total = new Map();
  let all = 0;
  for (const [id, time] of timeById) {
    all += time;
    const name = frameName(byId.get(id));
    self.set(name, (self.get(name) ?? 0) + time);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parentOf.get(at)) {
      const frame = frameName(byId.get(at));
      if (seen.has(frame)) continue;
      seen.add(frame);
      total.set(frame, (total.get(frame) ?? 0) + time);
    }
  }
  const top = (map) =>
    [...map]
      .sort((left, right) => right[1] - left[1])
      .slice(0, TOP_FRAMES)
      .map(([name, time]) => `${((100 * time) / all).toFixed(1).padStart(6)}%  ${name}`);
  return { sampledMs: all / 1000, self: top(self), total: top(total) };
}

async function main() {
  const { Database, SeededRandom } = await loadDist();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  const profiled = async (name, work) => {
    await session.post('Profiler.start');
    const result = await work();
    const { profile } = await session.post('Profiler.stop');
    if (flags.out !== undefined)
      await writeFile(join(flags.out, `${name}.cpuprofile`), JSON.stringify(profile));
    const frames = topFrames(profile);
    const rate = Math.round(result.ops / (result.elapsedNs / 1e9)).toLocaleString('en-US');
    console.log(`\n== ${name}: ${rate} ops/s, ${frames.sampledMs.toFixed(0)} ms sampled`);
    console.log('-- self time');
    console.log(frames.self.join('\n'));
    console.log('-- total time (the frame and everything it called)');
    console.log(frames.total.join('\n'));
  };
  const root = await mkdtemp(join(tmpdir(), 'jubilant-bench-profile-'));
  const values = valuePool(new SeededRandom(1));
  const engine = jubilantEngine(Database);
  try {
    const writes = await engine.open(join(root, 'writes'));
    let next = 0;
    for (const writers of [16, 256]) {
      await profiled(`durable commits, ${writers} writers`, () =>
        timedWriters({
          label: `durable, ${writers} writers`,
          writers,
          seconds,
          op: () => {
            const index = next++;
            return writes.put(keyOf(index), values[index % values.length]);
          },
        }),
      );
    }
    await writes.close();
    const reads = await engine.open(join(root, 'reads'), {
      cacheBytes: Math.max(64, keyCount / 1024) * 2 ** 20,
    });
    const order = new SeededRandom(1).shuffle(Array.from({ length: keyCount }, (_, index) => index));
    process.stderr.write(`  load ${keyCount} keys\n`);
    await reads.load(
      keyCount,
      (index) => keyOf(order[index]),
      (index) => values[order[index] % values.length],
    );
    const random = new SeededRandom(2);
    await profiled('get, cache hit', () =>
      timedLoop({ label: 'gets', seconds, op: () => reads.get(keyOf(random.int(keyCount))) }),
    );
    await profiled('range scan, 100 keys', () =>
      timedLoop({
        label: 'range scans',
        seconds,
        op: () => reads.rangeScan(keyOf(random.int(keyCount - RANGE_SCAN_KEYS))),
      }),
    );
    await reads.close();
  } finally {
    session.disconnect();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
