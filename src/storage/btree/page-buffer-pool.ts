/**
 * Page buffers recycled on eviction. Every cache miss reads a page into a buffer, and every eviction
 * drops one; left to the garbage collector, dead page buffers pile up until a major GC (V8 starts one
 * once external memory has grown ~64 MiB since the last), and glibc keeps the freed space resident, so
 * memory grew far past the cache budget. The page store instead hands an evicted packed leaf's buffer
 * back here on the next turn of the event loop (PageStore.recycleRetired) and takes later reads'
 * buffers from here.
 *
 * Safety: a recycled buffer is detached first (`structuredClone` with `transfer` moves its memory to a
 * new ArrayBuffer without copying), so every view of the old buffer reads as empty from then on: a
 * view that outlived its page can never read another page's bytes. Nothing keeps such views past the
 * turn that read them: the tree's loading paths copy inside their attempt, Database copies at its
 * boundary, cursors re-seek from a recycled leaf, and a dirty copy of a leaf copies its page.
 */
import { assert } from '../../util/assert.js';

export class PageBufferPool {
  readonly pageSizeBytes: number;
  /** Recycled buffers kept for reuse; more than this are left to the collector. */
  private readonly keptMax: number;
  private readonly free: ArrayBuffer[] = [];
  private readonly counters = { taken: 0, reused: 0, recycled: 0 };

  constructor(pageSizeBytes: number, keptMax: number) {
    assert(Number.isInteger(keptMax) && keptMax >= 0, `invalid pool size ${keptMax}`);
    this.pageSizeBytes = pageSizeBytes;
    this.keptMax = keptMax;
  }

  /** A page-sized buffer: a recycled one (arbitrary bytes) or a new one. */
  take(): Uint8Array {
    this.counters.taken += 1;
    const reused = this.free.pop();
    if (reused === undefined) return new Uint8Array(this.pageSizeBytes);
    this.counters.reused += 1;
    return new Uint8Array(reused);
  }

  /**
   * Takes back the memory of `page`, which nothing may read again: every view of its buffer reads as
   * empty from now on. Only a buffer that is exactly one page is taken (a page read here, or encoded).
   */
  recycle(page: Uint8Array): void {
    const { buffer } = page;
    if (!(buffer instanceof ArrayBuffer) || new Uint8Array(buffer).length !== this.pageSizeBytes) return;
    if (this.free.length >= this.keptMax) return; // the collector frees it, views and all
    this.free.push(structuredClone(buffer, { transfer: [buffer] }));
    this.counters.recycled += 1;
  }

  stats(): { taken: number; reused: number; recycled: number; kept: number } {
    return { ...this.counters, kept: this.free.length };
  }
}
