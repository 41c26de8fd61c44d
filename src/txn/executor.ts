/**
 * Executes a planned transaction under strict two-phase locking: take every lock (canonical order,
 * bounded wait), run the ops in order against the overlay and storage, and either commit the overlay as
 * one WAL record — releasing the locks only once the commit is acknowledged — or abort with a typed
 * error naming the op, having logged and changed nothing.
 *
 * A read-only transaction writes no WAL record; it is acknowledged once every value it read is durable,
 * so no client observes a write a crash could take back.
 */
import { createHash } from 'node:crypto';
import {
  decodeKey,
  decodeValue,
  encodeValue,
  INT64_MAX,
  INT64_MIN,
  isLive,
  type Value,
} from '../engine/value-codec.js';
import type { KeyRange } from '../storage/btree/key-range.js';
import type { LeafEntry } from '../storage/btree/node.js';
import type { WalMutation } from '../storage/wal/wal-record.js';
import { assert } from '../util/assert.js';
import { bytesEqual } from '../util/bytes.js';
import { JubilantError } from '../util/errors.js';
import { type Lsn, lsn } from '../util/ids.js';
import type { Durability, OpResult } from './ops.js';
import { type KeyState, MISSING, Overlay } from './overlay.js';
import type { Plan, PlannedOp } from './plan.js';

/** What the executor needs from the storage engine below it. */
export interface TxnStorage {
  readEntry(key: Uint8Array): Promise<LeafEntry | undefined>;
  /** Every entry (tombstones included) in the range, in key order, read consistently. */
  scanEntries(range: KeyRange): Promise<LeafEntry[]>;
  /** Throws VALUE_TOO_LARGE when the value cannot be stored with this key. */
  checkValueFits(key: Uint8Array, valueBytes: number, opIndex: number): void;
  commitMutations(mutations: readonly WalMutation[], durability: Durability): Promise<Lsn>;
  waitDurableLsn(target: Lsn): Promise<void>;
  readonly durableLsn: Lsn;
  nowMs(): number;
}

export interface TxnOutcome {
  readonly lsn: Lsn;
  readonly results: OpResult[];
}

export class TxnExecution {
  private readonly overlay = new Overlay();
  private revisionMax: Lsn = lsn(0);

  constructor(
    private readonly storage: TxnStorage,
    private readonly plan: Plan,
  ) {}

  /** Runs the ops; the caller holds the plan's locks throughout and releases them after `commit`. */
  async run(): Promise<OpResult[]> {
    const results: OpResult[] = [];
    for (const [opIndex, op] of this.plan.ops.entries()) results.push(await this.runOp(op, opIndex));
    return results;
  }

  /** Logs the overlay as one commit (or, read-only, waits for what it read to be durable). */
  async commit(durability: Durability): Promise<Lsn> {
    const mutations = this.mutations();
    if (mutations.length === 0) {
      await this.storage.waitDurableLsn(this.revisionMax);
      return this.storage.durableLsn;
    }
    return this.storage.commitMutations(mutations, durability);
  }

  private async runOp(op: PlannedOp, opIndex: number): Promise<OpResult> {
    switch (op.op) {
      case 'GET':
        return this.valueOf(await this.read(op.key));
      case 'SET': {
        this.storage.checkValueFits(op.key, op.value.bytes.length, opIndex);
        const expiresAtMs =
          op.ttl === undefined
            ? 0
            : 'ttlMs' in op.ttl
              ? this.storage.nowMs() + op.ttl.ttlMs
              : op.ttl.expiresAtMs;
        if (!Number.isSafeInteger(expiresAtMs)) {
          const message = `op ${opIndex}: the expiry is past the largest time stored exactly`;
          throw new JubilantError('INVALID_ARGUMENT', message, { opIndex });
        }
        this.overlay.set(op.key, {
          present: true,
          valueType: op.value.valueType,
          bytes: op.value.bytes,
          expiresAtMs,
        });
        return undefined;
      }
      case 'DEL':
        this.overlay.set(op.key, MISSING);
        return undefined;
      case 'INCR':
        return this.increment(op.key, op.by, opIndex);
      case 'SCAN':
        return this.scan(op.range, op.limit, op.reverse);
      default:
        this.check(op, await this.read(op.key), opIndex);
        return undefined;
    }
  }

  private async read(key: Uint8Array): Promise<KeyState> {
    const written = this.overlay.get(key);
    if (written !== undefined) return written;
    return this.stateOf(await this.storage.readEntry(key));
  }

  private stateOf(entry: LeafEntry | undefined): KeyState {
    if (entry === undefined) return MISSING;
    if (entry.revision > this.revisionMax) this.revisionMax = entry.revision;
    if (!isLive(entry, this.storage.nowMs())) return MISSING;
    assert(entry.inlineValue !== undefined, 'value-log values arrive with the value-log issue');
    return {
      present: true,
      valueType: entry.valueType,
      bytes: entry.inlineValue,
      expiresAtMs: entry.expiresAtMs,
    };
  }

  private valueOf(state: KeyState): Value | undefined {
    return state.present ? decodeValue(state.valueType, state.bytes) : undefined;
  }

  private async increment(key: Uint8Array, by: bigint, opIndex: number): Promise<bigint> {
    const state = await this.read(key);
    if (state.present && state.valueType !== 'int64') {
      throw new JubilantError(
        'TYPE_MISMATCH',
        `op ${opIndex} (INCR): the value is ${state.valueType}, not int64`,
        {
          opIndex,
        },
      );
    }
    const current = state.present ? (decodeValue('int64', state.bytes) as bigint) : 0n;
    const next = current + by;
    if (next < INT64_MIN || next > INT64_MAX) {
      throw new JubilantError('INT_OVERFLOW', `op ${opIndex} (INCR): ${current} + ${by} leaves int64`, {
        opIndex,
      });
    }
    const encoded = encodeValue(next, opIndex);
    const expiresAtMs = state.present ? state.expiresAtMs : 0;
    this.overlay.set(key, { present: true, valueType: 'int64', bytes: encoded.bytes, expiresAtMs });
    return next;
  }

  /** The range as this transaction sees it: storage merged with its own writes inside the range. */
  private async scan(
    range: KeyRange,
    limit: number,
    reverse: boolean,
  ): Promise<Array<{ key: string; value: Value }>> {
    const merged = new Map<string, { key: Uint8Array; state: KeyState }>();
    for (const entry of await this.storage.scanEntries(range)) {
      merged.set(Buffer.from(entry.key).toString('latin1'), { key: entry.key, state: this.stateOf(entry) });
    }
    for (const write of this.overlay.within(range))
      merged.set(Buffer.from(write.key).toString('latin1'), write);
    const ordered = [...merged.entries()].sort(([left], [right]) =>
      left < right ? -1 : left > right ? 1 : 0,
    );
    if (reverse) ordered.reverse();
    const out: Array<{ key: string; value: Value }> = [];
    for (const [, { key, state }] of ordered) {
      if (out.length >= limit) break;
      if (state.present) out.push({ key: decodeKey(key), value: decodeValue(state.valueType, state.bytes) });
    }
    return out;
  }

  private check(op: PlannedOp, state: KeyState, opIndex: number): void {
    if (this.holds(op, state)) return;
    throw new JubilantError(
      'ASSERTION_FAILED',
      `op ${opIndex} (${op.op}) does not hold; nothing was changed`,
      {
        opIndex,
      },
    );
  }

  private holds(op: PlannedOp, state: KeyState): boolean {
    switch (op.op) {
      case 'ASSERT_EXISTS':
        return state.present;
      case 'ASSERT_NOT_EXISTS':
        return !state.present;
      case 'ASSERT_TYPE':
        return op.type === 'missing' || op.type === 'tombstone'
          ? !state.present
          : state.present && state.valueType === op.type;
      case 'ASSERT_INT_EQ':
        return state.present && state.valueType === 'int64' && decodeValue('int64', state.bytes) === op.value;
      case 'ASSERT_BYTES_HASH_EQ':
      case 'ASSERT_STRING_HASH_EQ': {
        const type = op.op === 'ASSERT_BYTES_HASH_EQ' ? 'bytes' : 'string';
        if (!state.present || state.valueType !== type) return false;
        return bytesEqual(createHash('sha256').update(state.bytes).digest(), op.sha256);
      }
      default:
        throw new Error(`not an assertion: ${op.op}`);
    }
  }

  private mutations(): WalMutation[] {
    return this.overlay.entries().map(({ key, state }) =>
      state.present
        ? {
            kind: 'upsert',
            key,
            valueType: state.valueType,
            inlineValue: state.bytes,
            expiresAtMs: state.expiresAtMs,
          }
        : { kind: 'tombstone', key },
    );
  }
}
