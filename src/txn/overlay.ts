/**
 * The transaction's overlay: its own writes, consulted before storage, so every op reads the effects of
 * the ops before it (read-your-writes). At commit the overlay's final state per key is the WAL record.
 */

import type { KeyRange } from '../storage/btree/key-range.js';
import { inRange } from '../storage/btree/key-range.js';
import type { ValueType } from '../storage/value-type.js';
import { compareBytes } from '../util/bytes.js';

/** What a key holds as this transaction sees it. */
export type KeyState =
  | { readonly present: false }
  | {
      readonly present: true;
      readonly valueType: ValueType;
      readonly bytes: Uint8Array;
      readonly expiresAtMs: number;
    };

export const MISSING: KeyState = { present: false };

export class Overlay {
  private readonly writes = new Map<string, { key: Uint8Array; state: KeyState }>();

  private static nameOf(key: Uint8Array): string {
    return Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
  }

  get(key: Uint8Array): KeyState | undefined {
    return this.writes.get(Overlay.nameOf(key))?.state;
  }

  set(key: Uint8Array, state: KeyState): void {
    this.writes.set(Overlay.nameOf(key), { key, state });
  }

  get size(): number {
    return this.writes.size;
  }

  /** The written keys inside `range`, in key order. */
  within(range: KeyRange): Array<{ key: Uint8Array; state: KeyState }> {
    return [...this.writes.values()]
      .filter((write) => inRange(write.key, range))
      .sort((left, right) => compareBytes(left.key, right.key));
  }

  entries(): Array<{ key: Uint8Array; state: KeyState }> {
    return [...this.writes.values()];
  }
}
