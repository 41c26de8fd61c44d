/**
 * The applied watermark: the highest LSN L such that every commit with an LSN at or below L has been
 * applied to the tree (or was voided). Commits on different keys may be applied out of LSN order, so a
 * checkpoint records this watermark, not the newest LSN applied; replaying from it is idempotent.
 */
import { assert } from '../util/assert.js';
import { type Lsn, lsn } from '../util/ids.js';

export class AppliedWatermark {
  private watermark: Lsn;
  private readonly ahead = new Set<bigint>();

  constructor(start: Lsn) {
    this.watermark = start;
  }

  get lsn(): Lsn {
    return this.watermark;
  }

  mark(applied: Lsn): void {
    assert(applied > this.watermark && !this.ahead.has(applied), `LSN ${applied} applied twice`);
    if (this.ahead.size === 0 && applied === this.watermark + 1n) {
      this.watermark = applied; // in order, the common case: no set to go through
      return;
    }
    this.ahead.add(applied);
    while (this.ahead.delete(this.watermark + 1n)) this.watermark = lsn(this.watermark + 1n);
  }
}
