// Proves the group commit tells every LogRequest its fate exactly once, also when a batch that failed
// with ENOSPC (its fsync records voided) is retried and then fails for good (fdatasync EIO); and that
// its backlog (bytes queued or being written) is counted and waited on exactly.
import { describe, expect, it } from 'vitest';
import { IoError } from '../../../src/io/file-system.js';
import { type Durability, GroupCommit, type LogRequest } from '../../../src/storage/wal/group-commit.js';
import { encodeWalRecord } from '../../../src/storage/wal/wal-record.js';
import type { WalWriter } from '../../../src/storage/wal/wal-writer.js';
import { type Lsn, lsn } from '../../../src/util/ids.js';

/** A WAL writer whose writeBatch fails with the given errors in turn, then succeeds. */
function scriptedWriter(failures: Error[]): WalWriter {
  let next = lsn(1);
  const writer = {
    get nextLsn(): Lsn {
      return next;
    },
    durableLsn: lsn(0),
    async writeBatch(firstLsn: Lsn, records: readonly Uint8Array[]): Promise<void> {
      const failure = failures.shift();
      if (failure !== undefined) throw failure;
      next = lsn(firstLsn + BigInt(records.length));
    },
  };
  return writer as unknown as WalWriter;
}

/** A WAL writer whose writeBatch waits until `release` is called for it. */
function gatedWriter(): { writer: WalWriter; batches: number[]; release: () => void } {
  let next = lsn(1);
  const gates: Array<() => void> = [];
  const batches: number[] = [];
  const writer = {
    get nextLsn(): Lsn {
      return next;
    },
    durableLsn: lsn(0),
    async writeBatch(firstLsn: Lsn, records: readonly Uint8Array[]): Promise<void> {
      batches.push(records.length);
      await new Promise<void>((resolve) => gates.push(resolve));
      next = lsn(firstLsn + BigInt(records.length));
    },
  };
  return { writer: writer as unknown as WalWriter, batches, release: () => gates.shift()?.() };
}

class CountingRequest implements LogRequest {
  durableCalls = 0;
  failures: Error[] = [];

  encode(recordLsn: Lsn): Uint8Array {
    return encodeWalRecord({ lsn: recordLsn, body: { kind: 'commit', mutations: [], committedAtMs: 0 } });
  }

  durable(): void {
    this.durableCalls += 1;
  }

  failed(error: Error): void {
    this.failures.push(error);
  }

  get calls(): number {
    return this.durableCalls + this.failures.length;
  }
}

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1000 && !condition(); turn++)
    await new Promise((resolve) => setTimeout(resolve, 1));
  expect(condition()).toBe(true);
}

describe('GroupCommit', () => {
  it('after ENOSPC and then a fatal error, every request is told exactly once', async () => {
    const enospc = new IoError('ENOSPC', 'write', '/wal');
    const eio = new IoError('EIO', 'datasync', '/wal');
    const failures: Error[] = [];
    const groupCommit = new GroupCommit(scriptedWriter([enospc, eio]), {
      maxLatencyMs: 5,
      batchBytesMax: 1 << 20,
      retryDelayMs: 1,
      onFailure: (error) => failures.push(error),
    });
    const submitted: Array<[CountingRequest, Durability]> = [
      [new CountingRequest(), 'fsync'],
      [new CountingRequest(), 'relaxed'],
      [new CountingRequest(), 'fsync'],
    ];
    for (const [request, durability] of submitted) groupCommit.submitRequest(request, durability);
    await until(() => failures.length === 1);
    // A request submitted after the failure is refused at once, logging nothing.
    expect(() => groupCommit.submitRequest(new CountingRequest(), 'fsync')).toThrow(/read-only/);
    for (const [request, durability] of submitted) {
      expect(request.calls, `one call for each request (${durability})`).toBe(1);
      expect(request.durableCalls).toBe(0);
    }
    // The fsync records heard DISK_FULL from the ENOSPC; the relaxed one stayed queued until the EIO.
    expect(submitted[0]?.[0].failures[0]).toBe(enospc);
    expect(submitted[2]?.[0].failures[0]).toBe(enospc);
    expect(String(submitted[1]?.[0].failures[0])).toMatch(/read-only/);
    expect(failures[0]).toBe(eio);
  });

  it('after ENOSPC the retried batch succeeds: voided records are not told again', async () => {
    const enospc = new IoError('ENOSPC', 'write', '/wal');
    const groupCommit = new GroupCommit(scriptedWriter([enospc]), {
      maxLatencyMs: 5,
      batchBytesMax: 1 << 20,
      retryDelayMs: 1,
    });
    const voided = new CountingRequest();
    const relaxed = new CountingRequest();
    groupCommit.submitRequest(voided, 'fsync');
    groupCommit.submitRequest(relaxed, 'relaxed');
    await until(() => relaxed.calls === 1);
    await groupCommit.drain();
    expect(voided.failures).toEqual([enospc]);
    expect(voided.durableCalls).toBe(0);
    expect(relaxed.durableCalls).toBe(1);
    expect(groupCommit.durableLsn).toBe(2n);
    groupCommit.close();
  });

  it('counts the backlog (queued and being written) and wakes a waiter once it shrinks', async () => {
    const { writer, batches, release } = gatedWriter();
    const groupCommit = new GroupCommit(writer, { maxLatencyMs: 5, batchBytesMax: 1 << 20, retryDelayMs: 1 });
    const recordBytes = new CountingRequest().encode(lsn(1)).length;
    for (let i = 0; i < 3; i++) groupCommit.submitRequest(new CountingRequest(), 'relaxed');
    expect(groupCommit.backlogBytes).toBe(3 * recordBytes);
    await until(() => batches.length === 1); // the first batch (3 records) is being written
    for (let i = 0; i < 2; i++) groupCommit.submitRequest(new CountingRequest(), 'relaxed');
    expect(groupCommit.backlogBytes).toBe(5 * recordBytes);

    let woken = false;
    void groupCommit.whenBacklogAtMost(2 * recordBytes).then(() => (woken = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(woken).toBe(false);
    release(); // the first batch is done: only the two queued records remain
    await until(() => woken);
    expect(groupCommit.backlogBytes).toBe(2 * recordBytes);
    await until(() => batches.length === 2);
    release();
    await groupCommit.drain();
    expect(groupCommit.backlogBytes).toBe(0);
    await groupCommit.whenBacklogAtMost(0); // already true: resolves at once
    groupCommit.close();
  });

  it('a failed log wakes backlog waiters and holds no backlog', async () => {
    const eio = new IoError('EIO', 'datasync', '/wal');
    const groupCommit = new GroupCommit(scriptedWriter([eio]), {
      maxLatencyMs: 5,
      batchBytesMax: 1 << 20,
      retryDelayMs: 1,
    });
    for (let i = 0; i < 3; i++) groupCommit.submitRequest(new CountingRequest(), 'relaxed');
    await groupCommit.whenBacklogAtMost(0);
    expect(groupCommit.failedWith).toBe(eio);
    expect(groupCommit.backlogBytes).toBe(0);
  });
});
