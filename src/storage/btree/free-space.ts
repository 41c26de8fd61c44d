/**
 * Free-space management for data.pages. A page released by copy-on-write may still be reachable from a
 * superblock (the durable image, or the older one kept for fallback), so it becomes reusable only once
 * both superblocks' generations have reached the first generation whose image no longer references it
 * (`freedInGeneration`). A page that belonged to no image at all (allocated and released between two
 * checkpoints) is reusable at once. The whole state is persisted with each checkpoint as free-list pages.
 *
 * Invariants: an id is in at most one of `reusable` and `pending`; nothing in `reusable` is referenced by
 * either superblock's image or by an image being written.
 */
import { assert, verify } from '../../util/assert.js';
import type { PageId } from '../../util/ids.js';
import type { FreeListEntry } from './free-list-format.js';

/** The tag of a page that no image references: reusable whenever. */
const FREED_BEFORE_ANY_IMAGE = 0n;

export class FreeSpace {
  /** Ids free for reuse now; taken last-in first-out. */
  private readonly reusable: PageId[] = [];
  /** Ids an image may still reference, with the generation from which none does. */
  private pending: FreeListEntry[] = [];

  /** Rebuilds the state persisted in an image, given the lower of the two superblocks' generations. */
  static fromEntries(entries: readonly FreeListEntry[], durableGenerationMin: bigint): FreeSpace {
    const space = new FreeSpace();
    for (const entry of entries) {
      if (entry.freedInGeneration <= durableGenerationMin) space.reusable.push(entry.pageId);
      else space.pending.push(entry);
    }
    space.verifyDistinct();
    return space;
  }

  get reusableCount(): number {
    return this.reusable.length;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** A reusable id, or undefined when the caller must extend the file. */
  take(): PageId | undefined {
    return this.reusable.pop();
  }

  /** Releases an id that belongs to no image (it was allocated after the last freeze). */
  releaseNow(id: PageId): void {
    this.reusable.push(id);
  }

  /** Releases an id that images before `freedInGeneration` may reference. */
  releaseAfter(id: PageId, freedInGeneration: bigint): void {
    assert(freedInGeneration > FREED_BEFORE_ANY_IMAGE, 'a pending release names a generation');
    this.pending.push({ pageId: id, freedInGeneration });
  }

  /** After a checkpoint is durable: everything no longer referenced by either superblock becomes reusable. */
  onDurable(durableGenerationMin: bigint): void {
    const stillPending: FreeListEntry[] = [];
    for (const entry of this.pending) {
      if (entry.freedInGeneration <= durableGenerationMin) this.reusable.push(entry.pageId);
      else stillPending.push(entry);
    }
    this.pending = stillPending;
    this.verifyDistinct();
  }

  /** The entries to persist with an image: reusable ids (tagged 0) and pending ones with their tags. */
  entries(): FreeListEntry[] {
    return [
      ...this.reusable.map((pageId) => ({ pageId, freedInGeneration: FREED_BEFORE_ANY_IMAGE })),
      ...this.pending,
    ];
  }

  private verifyDistinct(): void {
    verify(() => {
      const ids = [...this.reusable, ...this.pending.map((entry) => entry.pageId)];
      return new Set(ids).size === ids.length ? undefined : 'a page id is free twice';
    });
  }
}
