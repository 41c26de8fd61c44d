import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lmdb from 'lmdb';
const writers = Number(process.argv[2] ?? 256);
const dir = mkdtempSync(join(tmpdir(), 'l256-'));
const db = lmdb.open({ path: join(dir, 'lmdb'), encoding: 'binary', separateFlushed: true });
const value = Buffer.alloc(100, 3);
let next = 0; let stop = false;
const keyOf = (i) => `key:${String(i).padStart(10, '0')}`;
const loop = async () => { while (!stop) { const i = next++; await db.put(keyOf(i), value).flushed; } };
const rates = [];
for (let r = 0; r < Number(process.env.ROUNDS ?? 6); r++) {
  stop = false; const start = next; const t0 = performance.now();
  const ls = Array.from({ length: writers }, loop);
  setTimeout(() => { stop = true; }, 3000);
  await Promise.all(ls);
  rates.push(Math.round((next - start) / ((performance.now() - t0) / 1000)));
}
console.log('lmdb', writers, rates.join(' '));
await db.close(); rmSync(dir, { recursive: true });
