/**
 * The write-ahead checker (TESTING.md, "Invariants the fault layer checks on every write", 2): a
 * SimFileSystem write observer that fails the write, and so the test, on the first page written to
 * data.pages whose page LSN is above the WAL's durable LSN at that instant. A page may reach disk only
 * once the log that can redo it is durable; otherwise a power loss could keep the page and lose the log.
 *
 * The durable LSN comes from a callback (`() => db.stats().lsn.durable`), set once the database is
 * open. Before that, no page carrying a change (page LSN above 0) may be written at all: nothing is
 * known to be durable. Only whole pages at page-aligned offsets are checked; other writes to
 * data.pages (none are expected) are counted in `uncheckedWrites` so a test can assert there were none.
 */
import { join, resolve } from 'node:path';
import type { SimFileSystem, WriteEvent } from '../../src/io/sim-file-system.js';
import { DATA_PAGES_FILE } from '../../src/storage/btree/page-store.js';
import { PAGE_HEADER_BYTES, readPageHeader } from '../../src/storage/pager/page-format.js';
import type { Lsn } from '../../src/util/ids.js';

export interface WriteAheadChecker {
  /** Sets (or replaces, after a reopen on the same fs) where the durable WAL LSN is read from. */
  setDurableLsn(source: () => Lsn): void;
  /** Page writes checked so far. */
  readonly checkedPages: number;
  /** Writes to data.pages that were not whole aligned pages, so went unchecked. */
  readonly uncheckedWrites: number;
  /** The highest page LSN seen in a checked write. */
  readonly pageLsnMax: bigint;
  /** Violations seen so far (each one also failed its write). */
  readonly violations: number;
  /** One line per violation. */
  readonly messages: readonly string[];
  /** Stops observing; the counts stay readable. */
  detach(): void;
}

export interface WriteAheadCheckerOptions {
  readonly pageSizeBytes: number;
}

/** Attaches a checker to `fs` for the database in `directory`. */
export function attachWriteAheadChecker(
  fs: SimFileSystem,
  directory: string,
  options: WriteAheadCheckerOptions,
): WriteAheadChecker {
  const state = new CheckerState(resolve(join(directory, DATA_PAGES_FILE)), options.pageSizeBytes);
  const remove = fs.addWriteObserver((event) => state.observe(event));
  return {
    setDurableLsn(source) {
      state.durableLsn = source;
    },
    get checkedPages() {
      return state.checkedPages;
    },
    get uncheckedWrites() {
      return state.uncheckedWrites;
    },
    get pageLsnMax() {
      return state.pageLsnMax;
    },
    get violations() {
      return state.messages.length;
    },
    get messages() {
      return state.messages;
    },
    detach: remove,
  };
}

class CheckerState {
  readonly messages: string[] = [];
  durableLsn: (() => Lsn) | undefined;
  checkedPages = 0;
  uncheckedWrites = 0;
  pageLsnMax = 0n;

  constructor(
    private readonly dataPath: string,
    private readonly pageSizeBytes: number,
  ) {}

  observe(event: WriteEvent): void {
    if (resolve(event.path) !== this.dataPath) return;
    const { offsetBytes, bytes } = event;
    if (bytes.byteLength !== this.pageSizeBytes || offsetBytes % this.pageSizeBytes !== 0) {
      this.uncheckedWrites += 1;
      return;
    }
    const header = readPageHeader(bytes.subarray(0, PAGE_HEADER_BYTES));
    const pageNumber = offsetBytes / this.pageSizeBytes;
    this.checkedPages += 1;
    if (header.pageLsn > this.pageLsnMax) this.pageLsnMax = header.pageLsn;
    if (header.pageLsn === 0n) return; // the file header page, or a page no commit has touched
    if (this.durableLsn === undefined) {
      this.fail(
        `page ${pageNumber} with page LSN ${header.pageLsn} written before any WAL LSN was known durable`,
      );
    }
    const durable = this.durableLsn();
    if (header.pageLsn > durable) {
      this.fail(
        `page ${pageNumber} written with page LSN ${header.pageLsn}, but the WAL is durable only to ${durable}`,
      );
    }
  }

  private fail(message: string): never {
    this.messages.push(message);
    throw new Error(`write-ahead violation: ${message}`);
  }
}
