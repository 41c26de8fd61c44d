// Proves that NodeFileSystem and SimFileSystem keep the same FileSystem contract (src/io/file-system.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FileSystem, IoError, isIoError } from '../../src/io/file-system.js';
import { NodeFileSystem } from '../../src/io/node-file-system.js';
import { SimFileSystem } from '../../src/io/sim-file-system.js';
import { bytesOf, expectBytes, pattern } from './helpers.js';

interface Harness {
  fs: FileSystem;
  root: string;
  cleanup(): Promise<void>;
}

const implementations: [string, () => Promise<Harness>][] = [
  [
    'NodeFileSystem',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'jubilant-io-'));
      return { fs: new NodeFileSystem(), root, cleanup: () => rm(root, { recursive: true, force: true }) };
    },
  ],
  [
    'SimFileSystem',
    async () => {
      // The contract needs no randomness; a fixed seed keeps it a plain specification.
      const fs = new SimFileSystem({ seed: 1 });
      await fs.mkdir('/sim/root');
      return { fs, root: '/sim/root', cleanup: async () => {} };
    },
  ],
];

function thrown(run: () => void): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe.each(implementations)('%s keeps the FileSystem contract', (_name, makeHarness) => {
  let harness: Harness;
  let fs: FileSystem;
  const at = (name: string): string => join(harness.root, name);

  beforeEach(async () => {
    harness = await makeHarness();
    fs = harness.fs;
  });
  afterEach(async () => {
    await harness.cleanup();
  });

  it('reads back exactly what was written', async () => {
    const file = await fs.open(at('data'), { create: true });
    const bytes = pattern(10_000, 1);
    await file.write(0, bytes);
    expectBytes(await file.read(0, bytes.byteLength), bytes);
    expect(await file.read(1234, 10)).toEqual(bytes.slice(1234, 1244));
    await file.close();
  });

  it('a read that reaches past the end of file returns only the bytes that exist', async () => {
    const file = await fs.open(at('data'), { create: true });
    await file.write(0, pattern(100, 2));
    expect(await file.read(90, 50)).toEqual(pattern(100, 2).slice(90));
    expect(await file.read(100, 10)).toEqual(new Uint8Array(0));
    expect(await file.read(5000, 10)).toEqual(new Uint8Array(0));
    await file.close();
  });

  it('a write past the end zero-fills the gap', async () => {
    const file = await fs.open(at('data'), { create: true });
    await file.write(0, bytesOf('ab'));
    await file.write(10, bytesOf('cd'));
    expect(await file.sizeBytes()).toBe(12);
    expect(await file.read(0, 12)).toEqual(new Uint8Array([97, 98, 0, 0, 0, 0, 0, 0, 0, 0, 99, 100]));
    await file.close();
  });

  it('readBlocking returns what read does: the bytes, short only at end of file', async () => {
    const file = await fs.open(at('data'), { create: true });
    const bytes = pattern(10_000, 5);
    await file.write(0, bytes);
    expectBytes(file.readBlocking(0, bytes.byteLength), bytes);
    expect(file.readBlocking(1234, 10)).toEqual(bytes.slice(1234, 1244));
    expect(file.readBlocking(9990, 50)).toEqual(bytes.slice(9990));
    expect(file.readBlocking(20_000, 10)).toEqual(new Uint8Array(0));
    await file.close();
    expect(
      isIoError(
        thrown(() => file.readBlocking(0, 1)),
        'EBADF',
      ),
    ).toBe(true);
  });

  it('writeBlocking has written when it returns, like a resolved write', async () => {
    const file = await fs.open(at('data'), { create: true });
    file.writeBlocking(0, bytesOf('ab'));
    file.writeBlocking(10, pattern(5000, 4));
    expect(await file.sizeBytes()).toBe(5010);
    expect(await file.read(0, 12)).toEqual(
      new Uint8Array([97, 98, 0, 0, 0, 0, 0, 0, 0, 0, ...pattern(2, 4)]),
    );
    expectBytes(await file.read(10, 5000), pattern(5000, 4));
    await file.close();
  });

  it('writeBlocking throws the IoError (EBADF) on a read-only or closed handle, and writes nothing', async () => {
    await (await fs.open(at('data'), { create: true })).close();
    const readOnly = await fs.open(at('data'), { readOnly: true });
    expect(
      isIoError(
        thrown(() => readOnly.writeBlocking(0, bytesOf('x'))),
        'EBADF',
      ),
    ).toBe(true);
    expect(await readOnly.sizeBytes()).toBe(0);
    await readOnly.close();
    expect(
      isIoError(
        thrown(() => readOnly.writeBlocking(0, bytesOf('x'))),
        'EBADF',
      ),
    ).toBe(true);
  });

  it('append returns the offset where its bytes start', async () => {
    const file = await fs.open(at('log'), { create: true });
    expect(await file.append(bytesOf('hello'))).toBe(0);
    expect(await file.append(bytesOf(' world'))).toBe(5);
    await file.write(20, bytesOf('!'));
    expect(await file.append(bytesOf('?'))).toBe(21);
    expect(await file.read(0, 11)).toEqual(bytesOf('hello world'));
    await file.close();
  });

  it('truncate shrinks the file, and extending again reads zeros', async () => {
    const file = await fs.open(at('data'), { create: true });
    await file.write(0, pattern(4096, 3));
    await file.truncate(100);
    expect(await file.sizeBytes()).toBe(100);
    expect(await file.read(0, 4096)).toEqual(pattern(4096, 3).slice(0, 100));
    await file.truncate(200);
    expect(await file.read(100, 100)).toEqual(new Uint8Array(100));
    expect(await file.append(bytesOf('x'))).toBe(200);
    await file.close();
  });

  it('the size survives reopening', async () => {
    const file = await fs.open(at('data'), { create: true });
    await file.write(0, pattern(777, 4));
    await file.sync();
    await file.datasync();
    await file.close();
    const again = await fs.open(at('data'));
    expect(await again.sizeBytes()).toBe(777);
    expect(await again.append(bytesOf('z'))).toBe(777);
    await again.close();
  });

  it('rename replaces the destination', async () => {
    const target = await fs.open(at('CURRENT'), { create: true });
    await target.write(0, bytesOf('old'));
    await target.close();
    const temp = await fs.open(at('CURRENT.tmp'), { create: true });
    await temp.write(0, bytesOf('new'));
    await temp.close();
    await fs.rename(at('CURRENT.tmp'), at('CURRENT'));
    await fs.syncDirectory(harness.root);
    expect(await fs.exists(at('CURRENT.tmp'))).toBe(false);
    const reopened = await fs.open(at('CURRENT'), { readOnly: true });
    expect(await reopened.read(0, 10)).toEqual(bytesOf('new'));
    await reopened.close();
  });

  it('unlink removes the name, and unlinking a missing name fails with ENOENT', async () => {
    await (await fs.open(at('gone'), { create: true })).close();
    await fs.unlink(at('gone'));
    expect(await fs.exists(at('gone'))).toBe(false);
    expect(isIoError(await rejection(fs.unlink(at('gone'))), 'ENOENT')).toBe(true);
  });

  it('list returns names sorted bytewise on UTF-8, not by UTF-16 units', async () => {
    // U+FF5A sorts before U+1F600 in UTF-8 bytes but after it in UTF-16 code units.
    const names = ['b', '\u{1F600}', 'a', '\uFF5A', 'B'];
    for (const name of names) await (await fs.open(at(name), { create: true })).close();
    await fs.mkdir(at('sub'));
    expect(await fs.list(harness.root)).toEqual(['B', 'a', 'b', 'sub', '\uFF5A', '\u{1F600}']);
  });

  it('exists is true for files and directories and false for missing names', async () => {
    await (await fs.open(at('file'), { create: true })).close();
    await fs.mkdir(at('dir/nested'));
    expect(await fs.exists(at('file'))).toBe(true);
    expect(await fs.exists(at('dir'))).toBe(true);
    expect(await fs.exists(at('dir/nested'))).toBe(true);
    expect(await fs.exists(at('missing'))).toBe(false);
  });

  it('opening a missing file without create fails with ENOENT', async () => {
    const error = await rejection(fs.open(at('missing')));
    expect(isIoError(error, 'ENOENT')).toBe(true);
  });

  it('an exclusive create of an existing file fails with EEXIST', async () => {
    await (await fs.open(at('once'), { create: true, exclusive: true })).close();
    const error = await rejection(fs.open(at('once'), { create: true, exclusive: true }));
    expect(isIoError(error, 'EEXIST')).toBe(true);
  });

  it('a read-only handle cannot write', async () => {
    await (await fs.open(at('data'), { create: true })).close();
    const file = await fs.open(at('data'), { readOnly: true });
    expect(isIoError(await rejection(file.write(0, bytesOf('x'))), 'EBADF')).toBe(true);
    expect(await file.sizeBytes()).toBe(0);
    await file.close();
  });

  it('calls on a closed handle fail with EBADF', async () => {
    const file = await fs.open(at('data'), { create: true });
    await file.close();
    expect(isIoError(await rejection(file.read(0, 1)), 'EBADF')).toBe(true);
    expect(isIoError(await rejection(file.close()), 'EBADF')).toBe(true);
  });

  it('an IoError carries the errno, the operation and the path', async () => {
    const error = await rejection(fs.open(at('nope')));
    expect(error).toBeInstanceOf(IoError);
    const ioError = error as IoError;
    expect(ioError.errno).toBe('ENOENT');
    expect(ioError.operation).toBe('open');
    expect(ioError.path).toBe(at('nope'));
    expect(ioError.code).toBe('IO_ERROR');
  });

  it('a missing directory cannot be listed or synced', async () => {
    expect(isIoError(await rejection(fs.list(at('nodir'))), 'ENOENT')).toBe(true);
    expect(isIoError(await rejection(fs.syncDirectory(at('nodir'))), 'ENOENT')).toBe(true);
  });
});
