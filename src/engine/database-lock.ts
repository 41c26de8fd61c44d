/**
 * The LOCK file: one process owns a data directory at a time. LOCK is created exclusively and holds the
 * owner's pid and process start time (from /proc, so a recycled pid is not mistaken for the owner). A
 * LOCK whose process is gone is stale — a SIGKILLed owner leaves one behind — and is taken over.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileSystem } from '../io/file-system.js';
import { isIoError } from '../io/file-system.js';
import { JubilantError } from '../util/errors.js';

export const LOCK_FILE = 'LOCK';

interface LockOwner {
  readonly pid: number;
  readonly startTime: string;
}

/** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); '' where unknown. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: fields after it follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return process.platform === 'linux' ? undefined : '';
  }
}

function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const startTime = processStartTime(owner.pid);
  return startTime !== undefined && (owner.startTime === '' || startTime === owner.startTime);
}

function parseOwner(text: string): LockOwner | undefined {
  const match = /^pid=(\d+) start=(\S*)\n?$/.exec(text);
  return match === null ? undefined : { pid: Number(match[1]), startTime: match[2] ?? '' };
}

export class DatabaseLock {
  private constructor(
    private readonly fs: FileSystem,
    private readonly path: string,
  ) {}

  /** Takes the directory's LOCK, or fails with DATABASE_LOCKED naming the live owner. */
  static async acquire(fs: FileSystem, directory: string): Promise<DatabaseLock> {
    const path = join(directory, LOCK_FILE);
    const me = `pid=${process.pid} start=${processStartTime(process.pid) ?? ''}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const file = await fs.open(path, { create: true, exclusive: true });
        await file.write(0, new TextEncoder().encode(me));
        await file.sync();
        await file.close();
        await fs.syncDirectory(directory);
        return new DatabaseLock(fs, path);
      } catch (error) {
        if (!isIoError(error, 'EEXIST')) throw error;
      }
      const owner = await DatabaseLock.readOwner(fs, path);
      if (owner !== undefined && isAlive(owner)) {
        throw new JubilantError(
          'DATABASE_LOCKED',
          `${directory} is in use by process ${owner.pid} (LOCK held); close it there first`,
        );
      }
      await fs.unlink(path).catch(() => undefined); // stale: its owner is gone
    }
    throw new JubilantError('DATABASE_LOCKED', `could not take ${path}: another process keeps taking it`);
  }

  private static async readOwner(fs: FileSystem, path: string): Promise<LockOwner | undefined> {
    try {
      const file = await fs.open(path, { readOnly: true });
      const bytes = await file.read(0, 256);
      await file.close();
      return parseOwner(new TextDecoder().decode(bytes));
    } catch {
      return undefined;
    }
  }

  async release(): Promise<void> {
    await this.fs.unlink(this.path).catch(() => undefined);
  }
}
