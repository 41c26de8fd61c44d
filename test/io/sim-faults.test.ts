// Proves each injected SimFileSystem fault: failed calls, failed fsync, full disk, misdirected I/O, bit rot, write vetoes.
import { describe, expect, it } from 'vitest';
import { type FileHandle, type IoError, isIoError } from '../../src/io/file-system.js';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import { testSeed } from '../../src/util/random.js';
import { bytesOf, expectBytes, pattern, sameBytes, sectorOrigins } from './helpers.js';

const FILE = '/db/data';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function setup(seed = 1): Promise<{ fs: SimFileSystem; file: FileHandle }> {
  const fs = new SimFileSystem({ seed });
  await fs.mkdir('/db');
  const file = await fs.open(FILE, { create: true });
  await fs.syncDirectory('/db');
  return { fs, file };
}

describe('SimFileSystem failCall', () => {
  it('fails the nth call of a kind, counted from when it is armed, and changes nothing', async () => {
    const { fs, file } = await setup();
    await file.write(0, bytesOf('a'));
    fs.failCall({ kind: 'write', nth: 2, errno: 'EIO' });
    await file.write(1, bytesOf('b'));
    const error = await rejection(file.write(2, bytesOf('c')));
    expect(isIoError(error, 'EIO')).toBe(true);
    expect((error as IoError).operation).toBe('write');
    await file.write(3, bytesOf('d'));
    expect(fs.snapshot(FILE)).toEqual(bytesOf('ab\0d'));
    expect(fs.faultLog()).toEqual([`#${fs.callCount() - 1} write ${FILE} failed with EIO`]);
  });

  it('a persistent failure keeps failing until clearFaults', async () => {
    const { fs, file } = await setup();
    fs.failCall({ kind: 'append', errno: 'EIO', persistent: true });
    for (let i = 0; i < 3; i++)
      expect(isIoError(await rejection(file.append(bytesOf('x'))), 'EIO')).toBe(true);
    expect(fs.snapshot(FILE)).toEqual(new Uint8Array(0));
    fs.clearFaults();
    expect(await file.append(bytesOf('x'))).toBe(0);
  });

  it('ENOSPC from a failed call is a retryable DISK_FULL error', async () => {
    const { fs, file } = await setup();
    fs.failCall({ kind: 'append', errno: 'ENOSPC' });
    const error = await rejection(file.append(bytesOf('x')));
    expect(isIoError(error, 'ENOSPC')).toBe(true);
    expect((error as IoError).code).toBe('DISK_FULL');
    expect((error as IoError).retryable).toBe(true);
  });

  it("kind 'any' counts every call, and a path filter limits the failure to matching paths", async () => {
    const { fs, file } = await setup();
    const other = await fs.open('/db/other', { create: true });
    fs.failCall({ kind: 'any', nth: 3, errno: 'EIO' });
    await file.sizeBytes();
    await other.sizeBytes();
    expect(isIoError(await rejection(fs.exists(FILE)), 'EIO')).toBe(true);
    fs.failCall({ kind: 'any', errno: 'EIO', path: /other$/, persistent: true });
    await file.write(0, bytesOf('fine'));
    expect(isIoError(await rejection(other.write(0, bytesOf('no'))), 'EIO')).toBe(true);
    expect(isIoError(await rejection(fs.rename(FILE, '/db/other')), 'EIO')).toBe(true);
  });

  it('a failed close still releases the handle, as on Linux', async () => {
    const { fs, file } = await setup();
    fs.failCall({ kind: 'close', errno: 'EIO' });
    expect(isIoError(await rejection(file.close()), 'EIO')).toBe(true);
    expect(isIoError(await rejection(file.close()), 'EBADF')).toBe(true);
  });
});

describe('SimFileSystem failed fsync', () => {
  it('resolves pending writes at random, keeps reads on the page cache, and a retried sync does not help', async () => {
    const seed = testSeed();
    console.log(`seed=${seed}`);
    const before = pattern(16_384, 1);
    const after = pattern(16_384, 2);
    let lostAfterRetry = false;
    for (let i = 0; i < 30; i++) {
      const { fs, file } = await setup(seed + i);
      await file.write(0, before);
      await file.datasync();
      await file.write(0, after);
      fs.failCall({ kind: 'datasync', errno: 'EIO' });
      expect(isIoError(await rejection(file.datasync()), 'EIO')).toBe(true);
      expectBytes(await file.read(0, 16_384), after, `seed=${seed + i}`);
      const durable = fs.durableSnapshot(FILE) ?? new Uint8Array(0);
      expect(sectorOrigins(durable, before, after), `seed=${seed + i}`).toMatch(/^[oN]{32}$/);
      await file.datasync(); // "succeeds": nothing is pending any more
      expectBytes(fs.durableSnapshot(FILE), durable, `seed=${seed + i}`);
      const survived = fs.powerLoss().fs.snapshot(FILE) ?? new Uint8Array(0);
      expectBytes(survived, durable, `seed=${seed + i}`);
      if (!sameBytes(survived, after)) lostAfterRetry = true;
    }
    expect(lostAfterRetry).toBe(true);
  });

  it('the fault log lists the fates a failed fsync chose', async () => {
    const { fs, file } = await setup(5);
    await file.write(0, pattern(8192, 1));
    fs.failCall({ kind: 'sync', errno: 'EIO' });
    await rejection(file.sync());
    const log = fs.faultLog().join('\n');
    expect(log).toContain(`sync ${FILE} failed: 2 pending units resolved at random`);
    expect(log).toMatch(/op 0 write \[0, 4096\): (written|dropped|torn)/);
  });
});

describe('SimFileSystem full disk', () => {
  it('a write, append or truncate that grows past the free space fails with ENOSPC and writes nothing', async () => {
    const { fs, file } = await setup();
    await file.write(0, pattern(1000, 1));
    fs.setFreeSpace(1500);
    expect(isIoError(await rejection(file.write(900, pattern(1000, 2))), 'ENOSPC')).toBe(true);
    expect(isIoError(await rejection(file.append(pattern(501, 2))), 'ENOSPC')).toBe(true);
    expect(isIoError(await rejection(file.truncate(1501)), 'ENOSPC')).toBe(true);
    expectBytes(fs.snapshot(FILE), pattern(1000, 1));
    await file.write(0, pattern(1000, 3)); // an overwrite needs no space
    expect(await file.append(pattern(500, 4))).toBe(1000);
    expect(fs.usedBytes()).toBe(1500);
    fs.setFreeSpace(undefined);
    expect(await file.append(pattern(500, 4))).toBe(1500);
  });

  it('the limit counts every file', async () => {
    const { fs, file } = await setup();
    await file.write(0, pattern(1000, 1));
    fs.setFreeSpace(1200);
    const other = await fs.open('/db/other', { create: true });
    expect(isIoError(await rejection(other.append(pattern(201, 1))), 'ENOSPC')).toBe(true);
    await fs.unlink(FILE); // still open, so its space stays in use
    expect(isIoError(await rejection(other.append(pattern(201, 1))), 'ENOSPC')).toBe(true);
    await file.close();
    expect(await other.append(pattern(201, 1))).toBe(0);
  });
});

describe('SimFileSystem misdirected I/O', () => {
  it('the nth write lands at offset + delta, and the write observer sees the intended offset', async () => {
    const { fs, file } = await setup();
    const seen: number[] = [];
    fs.addWriteObserver((event) => {
      seen.push(event.offsetBytes);
    });
    fs.misdirectWrite({ nth: 2, offsetDeltaBytes: 4096 });
    await file.write(0, pattern(4096, 1));
    await file.write(4096, pattern(4096, 2));
    const bytes = fs.snapshot(FILE) ?? new Uint8Array(0);
    expect(bytes.byteLength).toBe(12_288);
    expectBytes(bytes.subarray(0, 4096), pattern(4096, 1));
    expectBytes(bytes.subarray(4096, 8192), new Uint8Array(4096));
    expectBytes(bytes.subarray(8192), pattern(4096, 2));
    expect(seen).toEqual([0, 4096]);
    expect(fs.faultLog().join('\n')).toContain('misdirected to 8192');
  });

  it('the nth read returns the bytes at offset + delta and leaves the file intact', async () => {
    const { fs, file } = await setup();
    await file.write(0, pattern(8192, 1));
    fs.misdirectRead({ nth: 1, offsetDeltaBytes: 4096 });
    expectBytes(await file.read(0, 4096), pattern(8192, 1).slice(4096));
    expectBytes(await file.read(0, 4096), pattern(8192, 1).slice(0, 4096));
  });
});

describe('SimFileSystem bit rot', () => {
  it('flipBitsOnRead flips exactly one bit of the returned copy and never the stored bytes', async () => {
    const { fs, file } = await setup();
    await file.write(0, pattern(4096, 1));
    fs.flipBitsOnRead({ path: FILE, probability: 1 });
    const stored = pattern(4096, 1);
    for (let i = 0; i < 20; i++) {
      const read = await file.read(0, 4096);
      let flippedBits = 0;
      read.forEach((value, index) => {
        let diff = value ^ (stored[index] ?? 0);
        for (; diff !== 0; diff &= diff - 1) flippedBits += 1;
      });
      expect(flippedBits).toBe(1);
    }
    expectBytes(fs.snapshot(FILE), pattern(4096, 1));
  });

  it('flipBitsOnRead leaves other paths alone and fires with its probability, reproducibly', async () => {
    const seed = testSeed();
    console.log(`seed=${seed}`);
    const flipsFor = async (): Promise<string> => {
      const { fs, file } = await setup(seed);
      const other = await fs.open('/db/other', { create: true });
      await file.write(0, pattern(512, 1));
      await other.write(0, pattern(512, 1));
      fs.flipBitsOnRead({ path: FILE, probability: 0.5 });
      let outcomes = '';
      for (let i = 0; i < 40; i++) {
        expectBytes(await other.read(0, 512), pattern(512, 1));
        outcomes += sameBytes(await file.read(0, 512), pattern(512, 1)) ? '.' : 'x';
      }
      return outcomes;
    };
    const outcomes = await flipsFor();
    expect(outcomes).toContain('x');
    expect(outcomes).toContain('.');
    expect(await flipsFor()).toBe(outcomes);
  });

  it('corruptAtRest flips a bit in the current and durable bytes, and it survives a power loss', async () => {
    const { fs, file } = await setup();
    await file.write(0, pattern(1024, 1));
    await file.datasync();
    fs.corruptAtRest(FILE, 100, 3);
    const expected = pattern(1024, 1);
    expected[100] = (expected[100] ?? 0) ^ 0b1000;
    expectBytes(await file.read(0, 1024), expected);
    expectBytes(fs.durableSnapshot(FILE), expected);
    expectBytes(fs.powerLoss().fs.snapshot(FILE), expected);
  });
});

describe('SimFileSystem write observers', () => {
  it('an observer that throws vetoes the write, which then writes nothing', async () => {
    const { fs, file } = await setup();
    const veto = new Error('copy-on-write violated');
    const remove = fs.addWriteObserver((event) => {
      if (event.offsetBytes === 0) throw veto;
    });
    expect(await rejection(file.write(0, bytesOf('x')))).toBe(veto);
    expect(await rejection(file.append(bytesOf('y')))).toBe(veto);
    expect(fs.snapshot(FILE)).toEqual(new Uint8Array(0));
    await file.write(4, bytesOf('z'));
    remove();
    await file.write(0, bytesOf('x'));
    expect(fs.snapshot(FILE)).toEqual(bytesOf('x\0\0\0z'));
  });

  it('an observer sees each write and append with its path, offset and bytes', async () => {
    const { fs, file } = await setup();
    const events: string[] = [];
    fs.addWriteObserver((event) => {
      events.push(`${event.path}@${event.offsetBytes}:${new TextDecoder().decode(event.bytes)}`);
    });
    await file.append(bytesOf('ab'));
    await file.write(10, bytesOf('cd'));
    await file.append(bytesOf('ef'));
    expect(events).toEqual([`${FILE}@0:ab`, `${FILE}@10:cd`, `${FILE}@12:ef`]);
  });
});
