// Proves that SimFileSystem numbers every call and crashes exactly after, or in the middle of, call N.
import { describe, expect, it } from 'vitest';
import { isIoError } from '../../src/io/file-system.js';
import { SimFileSystem, SimulatedCrashError } from '../../src/io/sim-file-system.js';
import { testSeed } from '../../src/util/random.js';
import { expectBytes, pattern, sectorOrigins } from './helpers.js';

const LOG = '/db/wal';

/** Calls 1..8: mkdir, open, append, datasync, syncDirectory, append, datasync, close. */
async function workload(fs: SimFileSystem): Promise<void> {
  await fs.mkdir('/db');
  const log = await fs.open(LOG, { create: true });
  await log.append(pattern(1024, 1));
  await log.datasync();
  await fs.syncDirectory('/db');
  await log.append(pattern(4096, 2));
  await log.datasync();
  await log.close();
}
const WORKLOAD_CALLS = 8;

async function runToCrash(fs: SimFileSystem): Promise<unknown> {
  try {
    await workload(fs);
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('SimFileSystem crash points', () => {
  it('numbers every call from 1 and counts them by kind', async () => {
    const fs = new SimFileSystem({ seed: 1, trace: true });
    await workload(fs);
    expect(fs.callCount()).toBe(WORKLOAD_CALLS);
    expect(fs.callCount('append')).toBe(2);
    expect(fs.callCount('datasync')).toBe(2);
    expect(fs.callCount('read')).toBe(0);
    expect(fs.formatTrace(3)).toBe(
      ['#6 append /db/wal @1024 +4096', '#7 datasync /db/wal', '#8 close /db/wal'].join('\n'),
    );
    expect(fs.callTrace()[0]).toEqual({ callNumber: 1, kind: 'mkdir', path: '/db' });
  });

  it('crashAfterCall(n) lets call n complete and rejects the next call, for every n', async () => {
    for (let n = 1; n < WORKLOAD_CALLS; n++) {
      const fs = new SimFileSystem({ seed: n, trace: true });
      fs.crashAfterCall(n);
      const error = await runToCrash(fs);
      expect(error, `crash after call ${n}`).toBeInstanceOf(SimulatedCrashError);
      expect(fs.callCount()).toBe(n);
      expect(fs.crashed).toBe(true);
    }
  });

  it('the call a crash follows has taken effect', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    fs.crashAfterCall(6); // the second append
    await runToCrash(fs);
    expect(fs.snapshot(LOG)?.byteLength).toBe(1024 + 4096);
    expect(fs.durableSnapshot(LOG)?.byteLength).toBe(1024);
    expect(fs.processCrash().snapshot(LOG)?.byteLength).toBe(5120);
  });

  it('crashDuringCall(n) on a non-write call means the call never happened', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    fs.crashDuringCall(7); // the second datasync
    expect(await runToCrash(fs)).toBeInstanceOf(SimulatedCrashError);
    expect(fs.callCount()).toBe(7);
    expect(fs.snapshot(LOG)?.byteLength).toBe(5120);
    expect(fs.durableSnapshot(LOG)?.byteLength).toBe(1024);
  });

  it('crashDuringCall(n) on a write lands a seeded subset of its sectors, each wholly written or not', async () => {
    const seed = testSeed();
    console.log(`seed=${seed}`);
    const shapes = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const fs = new SimFileSystem({ seed: seed + i });
      fs.crashDuringCall(6); // the second append: 8 sectors at 1024..5120
      expect(await runToCrash(fs)).toBeInstanceOf(SimulatedCrashError);
      expect(fs.callCount()).toBe(6);
      const bytes = fs.snapshot(LOG) ?? new Uint8Array(0);
      expectBytes(bytes.subarray(0, 1024), pattern(1024, 1), `seed=${seed + i}`);
      const tail = new Uint8Array(4096);
      tail.set(bytes.subarray(1024));
      const origins = sectorOrigins(tail, new Uint8Array(4096), pattern(4096, 2));
      expect(origins, `seed=${seed + i}`).toMatch(/^[oN]{8}$/);
      // The file ends at the last sector that landed (or at the old end when none did).
      expect(bytes.byteLength).toBe(1024 + (origins.lastIndexOf('N') + 1) * 512);
      shapes.add(
        origins.includes('N') && origins.includes('o') ? 'torn' : origins[0] === 'N' ? 'all' : 'none',
      );
      expect(fs.faultLog().join('\n')).toContain('crash during write /db/wal');
    }
    expect(shapes.has('torn')).toBe(true);
  });

  it('the torn part of a crashed write is still pending, so a power loss may drop it', async () => {
    const seed = testSeed();
    console.log(`seed=${seed}`);
    for (let i = 0; i < 20; i++) {
      const fs = new SimFileSystem({ seed: seed + i });
      fs.crashDuringCall(6);
      await runToCrash(fs);
      const after = fs.powerLoss().fs.snapshot(LOG) ?? new Uint8Array(0);
      expect(after.byteLength, `seed=${seed + i}`).toBeGreaterThanOrEqual(1024);
      expectBytes(after.subarray(0, 1024), pattern(1024, 1), `seed=${seed + i}`);
    }
  });

  it('a crashed instance rejects with SimulatedCrashError, which is not an IoError', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    fs.crashAfterCall(0);
    const error = await runToCrash(fs);
    expect(error).toBeInstanceOf(SimulatedCrashError);
    expect(isIoError(error)).toBe(false);
    expect(fs.callCount()).toBe(0);
    expect(String((error as Error).message)).toContain('seed 1');
  });
});
