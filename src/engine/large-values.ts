/**
 * Where a value lives, seen from the engine: in its leaf, or in the value log. `toLogged` moves the
 * values that do not stay inline into the value log as a commit is logged; `resolve` reads them back
 * for readers, as if inline. The value log itself (src/storage/vlog/) knows nothing of leaves or
 * commits; the rules of which value goes where are here.
 */
import { type LeafEntry, makeLeafEntry } from '../storage/btree/node.js';
import { inlineLeafEntryBytes } from '../storage/btree/node-format.js';
import { SegmentGoneError, type StoredValue, type ValueLog } from '../storage/vlog/value-log.js';
import type { WalMutation } from '../storage/wal/wal-record.js';
import { CorruptionError } from '../util/errors.js';
import type { Lsn } from '../util/ids.js';

export interface LargeValuesOptions {
  readonly inlineValueThresholdBytes: number;
  /** The largest leaf entry (slot + cell): a quarter page. */
  readonly entryBytesMax: number;
}

export class LargeValues {
  private readonly valueLog: ValueLog;
  private readonly options: LargeValuesOptions;

  constructor(valueLog: ValueLog, options: LargeValuesOptions) {
    this.valueLog = valueLog;
    this.options = options;
  }

  /** Whether a value stays in the leaf: at most the inline threshold, and the entry fits a quarter page. */
  isInline(keyBytes: number, valueBytes: number): boolean {
    return (
      valueBytes <= this.options.inlineValueThresholdBytes &&
      inlineLeafEntryBytes(keyBytes, valueBytes) <= this.options.entryBytesMax
    );
  }

  /**
   * The mutations as logged: values that do not stay inline are appended to the value log (with the
   * commit's LSN) and replaced by their pointers. Runs inside the group commit's submit step, so the
   * value log sees records in LSN order.
   */
  toLogged(mutations: readonly WalMutation[], recordLsn: Lsn): readonly WalMutation[] {
    if (mutations.every((mutation) => this.staysInline(mutation))) return mutations;
    return mutations.map((mutation) => {
      if (mutation.kind !== 'upsert' || this.staysInline(mutation)) return mutation;
      const value = mutation.inlineValue as Uint8Array;
      const pointer = this.valueLog.append(mutation.key, mutation.valueType, value, recordLsn);
      return {
        kind: 'upsert',
        key: mutation.key,
        valueType: mutation.valueType,
        vlogPointer: pointer,
        expiresAtMs: mutation.expiresAtMs,
      };
    });
  }

  /**
   * The entry with a value-log value read in as if inline (the tree's entry is left as it is). When GC
   * deleted the segment meanwhile, the key was rewritten since this entry was read: `reread` reads it
   * again (waiting for its durability, as every read does).
   */
  async resolve(
    entry: LeafEntry,
    reread: (key: Uint8Array) => Promise<LeafEntry | undefined>,
  ): Promise<LeafEntry | undefined> {
    if (entry.pointer === undefined || entry.tombstone) return entry;
    let stored: StoredValue;
    try {
      stored = await this.valueLog.read(entry.pointer, entry.key, entry.revision);
    } catch (error) {
      if (!(error instanceof SegmentGoneError)) throw error;
      const again = await reread(entry.key);
      return again === undefined ? undefined : this.resolve(again, reread);
    }
    if (stored.valueType !== entry.valueType) {
      throw new CorruptionError(`the record holds a ${stored.valueType}, the leaf says ${entry.valueType}`, {
        file: this.valueLog.directory,
        what: 'value-log record',
      });
    }
    return makeLeafEntry(
      entry.key,
      entry.valueType,
      false,
      stored.value,
      undefined,
      entry.expiresAtMs,
      entry.revision,
    );
  }

  private staysInline(mutation: WalMutation): boolean {
    return (
      mutation.kind !== 'upsert' ||
      mutation.inlineValue === undefined ||
      this.isInline(mutation.key.length, mutation.inlineValue.length)
    );
  }
}
