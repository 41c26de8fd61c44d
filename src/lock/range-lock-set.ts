/**
 * The range lock set: every granted or waiting shared range lock, in one array ordered by start key
 * and then by arrival. Finding the ranges that contain a key reads the prefix of entries starting at
 * or before it (a binary search bounds the prefix), so the cost grows with the number of live ranges,
 * which stays small: scans are the rare kind of lock. An interval tree would replace the prefix walk if
 * profiles ever show it.
 */
import { assert } from '../util/assert.js';

/** What the set needs of an entry: its interval (`end === undefined` is unbounded) and arrival. */
export interface RangeEntry {
  readonly start: string;
  readonly end: string | undefined;
  readonly seq: number;
}

export class RangeLockSet<Entry extends RangeEntry> {
  private readonly items: Entry[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The entries, by start key and then arrival; read-only for callers. */
  get entries(): readonly Entry[] {
    return this.items;
  }

  insert(entry: Entry): void {
    // Entries are inserted on arrival, so among equal starts the new one is the latest: it goes last.
    this.items.splice(this.upperBound(entry.start), 0, entry);
  }

  remove(entry: Entry): void {
    let index = this.lowerBound(entry.start);
    while (index < this.items.length && this.items[index] !== entry) index++;
    assert(index < this.items.length, 'removal of a range lock that is not in the set');
    this.items.splice(index, 1);
  }

  /** How many leading entries start at or before `key`: only they can contain it. */
  upperBound(key: string): number {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.items[middle] as Entry).start <= key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The entries whose interval overlaps `[start, end)`. */
  overlapping(start: string, end: string | undefined): Entry[] {
    const found: Entry[] = [];
    const bound = end === undefined ? this.items.length : this.lowerBound(end);
    for (let i = 0; i < bound; i++) {
      const entry = this.items[i] as Entry;
      if (entry.end === undefined || start < entry.end) found.push(entry);
    }
    return found;
  }

  /** Index of the first entry whose start is >= `key`. */
  private lowerBound(key: string): number {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.items[middle] as Entry).start < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
