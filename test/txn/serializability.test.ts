// Proves serializability (issue 7, TESTING.md #13): the results of concurrent random transactions equal a serial replay of the committed ones, in WAL LSN order, on a Map model.
import { describe, expect, it } from 'vitest';
import type { KeyDecl, OpResult, TxnOp, TxnRequest, Value } from '../../src/index.js';
import { isJubilantError } from '../../src/index.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';
import { closeAndValidate, openSim } from './txn-helpers.js';

const STRING_KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'];
const COUNTER_KEYS = ['c0', 'c1', 'c2'];
const WORKERS = 16;
const TXNS_PER_WORKER = 40;

interface Committed {
  readonly name: string;
  readonly request: TxnRequest;
  readonly lsn: bigint;
  readonly readOnly: boolean;
  readonly results: OpResult[];
}

type Range = { start?: string; end?: string } | { prefix: string };

function inRange(key: string, range: Range): boolean {
  if ('prefix' in range) return key.startsWith(range.prefix);
  return (range.start === undefined || key >= range.start) && (range.end === undefined || key < range.end);
}

/** A random transaction over a few point keys and perhaps one range; every SET writes a unique value. */
function randomTransaction(rng: SeededRandom, name: string): TxnRequest {
  const keys: KeyDecl[] = [];
  const ops: TxnOp[] = [];
  const chosen = new Set<string>();
  const pointCount = 1 + rng.int(4);
  for (let index = 0; index < pointCount; index++) {
    const pool = rng.chance(0.35) ? COUNTER_KEYS : STRING_KEYS;
    const key = pool[rng.int(pool.length)] as string;
    if (chosen.has(key)) continue;
    chosen.add(key);
    keys.push({ id: keys.length, mode: rng.chance(0.5) ? 'RW' : 'R', key });
  }
  let rangeId: number | undefined;
  if (rng.chance(0.3)) {
    rangeId = keys.length;
    if (rng.chance(0.3)) keys.push({ id: rangeId, mode: 'R', prefix: 'k' });
    else {
      const from = rng.int(STRING_KEYS.length);
      const to = from + 1 + rng.int(STRING_KEYS.length - from);
      keys.push({
        id: rangeId,
        mode: 'R',
        start: `k${from}`,
        ...(to < STRING_KEYS.length ? { end: `k${to}` } : {}),
      });
    }
  }
  const opCount = 1 + rng.int(6);
  for (let index = 0; index < opCount; index++) {
    if (rangeId !== undefined && rng.chance(0.25)) {
      ops.push({
        op: 'SCAN',
        id: rangeId,
        ...(rng.chance(0.3) ? { limit: 1 + rng.int(4) } : {}),
        ...(rng.chance(0.3) ? { reverse: true } : {}),
      });
      continue;
    }
    const decl = keys[rng.int(chosen.size)] as KeyDecl & { key: string };
    const counter = decl.key.startsWith('c');
    if (decl.mode === 'R' || rng.chance(0.4)) {
      ops.push({ op: 'GET', id: decl.id });
    } else if (counter) {
      ops.push({ op: 'INCR', id: decl.id, by: BigInt(1 + rng.int(100)) });
    } else if (rng.chance(0.2)) {
      ops.push({ op: 'DEL', id: decl.id });
    } else {
      ops.push({ op: 'SET', id: decl.id, value: `${name}.${index}` });
    }
  }
  return { keys, ops, durability: rng.chance(0.5) ? 'fsync' : 'relaxed' };
}

/** Runs one transaction on the model and returns what it should have returned. */
function replay(model: Map<string, Value>, request: TxnRequest): OpResult[] {
  const byId = new Map(request.keys.map((decl) => [decl.id, decl]));
  return request.ops.map((op): OpResult => {
    const decl = byId.get(op.id) as KeyDecl;
    const key = 'key' in decl ? decl.key : '';
    switch (op.op) {
      case 'GET':
        return model.get(key);
      case 'SET':
        model.set(key, op.value);
        return undefined;
      case 'DEL':
        model.delete(key);
        return undefined;
      case 'INCR': {
        const next = ((model.get(key) as bigint | undefined) ?? 0n) + op.by;
        model.set(key, next);
        return next;
      }
      case 'SCAN': {
        const range = decl as Range;
        const entries = [...model.entries()]
          .filter(([candidate]) => inRange(candidate, range))
          .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))
          .map(([entryKey, value]) => ({ key: entryKey, value }));
        if (op.reverse === true) entries.reverse();
        return entries.slice(0, op.limit ?? entries.length);
      }
      default:
        throw new Error(`the generator does not emit ${op.op}`);
    }
  });
}

describe('serializability', () => {
  it('concurrent random transactions return what a serial replay in LSN order returns', async () => {
    const seed = testSeed();
    console.log(`serializability: seed ${seed} (replay with JUBILANT_SEED=${seed})`);
    const rng = new SeededRandom(seed);
    const opened = await openSim(seed);
    const { db } = opened;
    db.setLockTimeoutMs(200);
    const committed: Committed[] = [];
    let timeouts = 0;
    const started = performance.now();

    const worker = async (workerIndex: number, workerRng: SeededRandom) => {
      for (let step = 0; step < TXNS_PER_WORKER; step++) {
        const name = `w${workerIndex}.${step}`;
        const request = randomTransaction(workerRng, name);
        try {
          const { lsn, results } = await db.transaction(request);
          const readOnly = request.ops.every((op) => op.op === 'GET' || op.op === 'SCAN');
          committed.push({ name, request, lsn, readOnly, results });
        } catch (error) {
          if (!isJubilantError(error, 'LOCK_TIMEOUT')) throw error;
          timeouts += 1;
        }
        if (workerRng.chance(0.3)) await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await Promise.all(
      Array.from({ length: WORKERS }, (_, index) => worker(index, new SeededRandom(rng.nextU32()))),
    );

    // Writers at their own LSN; a read-only transaction after every writer with an LSN <= the one it returned.
    const writerLsns = committed.filter((txn) => !txn.readOnly).map((txn) => txn.lsn);
    expect(new Set(writerLsns).size).toBe(writerLsns.length);
    const order = [...committed].sort((left, right) =>
      left.lsn !== right.lsn
        ? left.lsn < right.lsn
          ? -1
          : 1
        : Number(left.readOnly) - Number(right.readOnly),
    );
    const model = new Map<string, Value>();
    for (const txn of order) {
      const expected = replay(model, txn.request);
      expect({ name: txn.name, lsn: txn.lsn, request: txn.request, results: txn.results }).toEqual({
        name: txn.name,
        lsn: txn.lsn,
        request: txn.request,
        results: expected,
      });
    }
    for (const key of [...STRING_KEYS, ...COUNTER_KEYS]) expect(await db.get(key)).toEqual(model.get(key));
    console.log(
      `serializability: ${committed.length} committed (${committed.length - writerLsns.length} read-only), ` +
        `${timeouts} lock timeouts, ${Math.round(performance.now() - started)} ms`,
    );
    expect(committed.length).toBeGreaterThan(WORKERS * TXNS_PER_WORKER * 0.5);
    await closeAndValidate(opened);
  });
});
