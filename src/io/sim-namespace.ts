/**
 * The simulated namespace: which path names which inode, now (`current`) and after a power loss
 * (`durable`). Creations, renames and unlinks change `current` at once and wait, per directory, until
 * that directory is synced; a power loss keeps a random prefix of each directory's pending operations,
 * in order, as a journaling file system commits metadata in order. Directories themselves are durable
 * as soon as they are made (the database makes its directory once, before anything else).
 */
import { posix } from 'node:path';
import type { SeededRandom } from '../util/random.js';
import { sortNamesBytewise } from './file-system.js';
import type { SimInode } from './sim-storage.js';

export type NamespaceOp =
  | { kind: 'create'; path: string; inode: SimInode }
  | { kind: 'unlink'; path: string }
  | { kind: 'rename'; from: string; to: string; inode: SimInode };

/** Paths are compared after normalization, so '/db/' and '/db' name one directory. */
export function normalizePath(path: string): string {
  return posix.resolve('/', path);
}

export function parentOf(path: string): string {
  return posix.dirname(normalizePath(path));
}

function applyOp(names: Map<string, SimInode>, op: NamespaceOp): void {
  if (op.kind === 'create') {
    names.set(op.path, op.inode);
  } else if (op.kind === 'unlink') {
    names.delete(op.path);
  } else {
    names.delete(op.from);
    names.set(op.to, op.inode);
  }
}

function describeOp(op: NamespaceOp): string {
  if (op.kind === 'rename') return `rename ${op.from} -> ${op.to}`;
  return `${op.kind} ${op.path}`;
}

export class SimNamespace {
  readonly current = new Map<string, SimInode>();
  readonly durable = new Map<string, SimInode>();
  readonly directories = new Set<string>(['/']);
  private readonly pendingByDirectory = new Map<string, NamespaceOp[]>();

  /** All paths passed in must be normalized (see `normalizePath`). */
  create(path: string, inode: SimInode): void {
    this.record(parentOf(path), { kind: 'create', path, inode });
  }

  unlink(path: string): void {
    this.record(parentOf(path), { kind: 'unlink', path });
  }

  /**
   * A rename is pending in the destination's directory only, and lands there as one unit (the old
   * name disappears when the new one appears). The database renames within one directory.
   */
  rename(from: string, to: string, inode: SimInode): void {
    this.record(parentOf(to), { kind: 'rename', from, to, inode });
  }

  syncDirectory(directory: string): void {
    for (const op of this.pendingByDirectory.get(directory) ?? []) applyOp(this.durable, op);
    this.pendingByDirectory.delete(directory);
  }

  addDirectory(directory: string): void {
    for (let dir = directory; !this.directories.has(dir); dir = posix.dirname(dir)) this.directories.add(dir);
  }

  /** Names of files and directories directly inside `directory`, sorted bytewise. */
  list(directory: string): string[] {
    const names: string[] = [];
    for (const path of [...this.current.keys(), ...this.directories]) {
      if (path !== '/' && posix.dirname(path) === directory) names.push(posix.basename(path));
    }
    return sortNamesBytewise(names);
  }

  /**
   * The names a power loss leaves: the durable names plus, for each directory, a random prefix of its
   * pending operations. Directories are visited in sorted order so a seed always draws the same way.
   */
  afterPowerLoss(rng: SeededRandom, report: string[]): Map<string, SimInode> {
    const names = new Map(this.durable);
    for (const directory of sortNamesBytewise([...this.pendingByDirectory.keys()])) {
      const ops = this.pendingByDirectory.get(directory) ?? [];
      const keptCount = rng.int(ops.length + 1);
      ops.slice(0, keptCount).forEach((op) => {
        applyOp(names, op);
      });
      const kept = ops.slice(0, keptCount).map(describeOp);
      const lost = ops.slice(keptCount).map(describeOp);
      report.push(
        `directory ${directory}: kept ${keptCount} of ${ops.length} pending name operations` +
          ` [${kept.join('; ')}] lost [${lost.join('; ')}]`,
      );
    }
    return names;
  }

  private record(directory: string, op: NamespaceOp): void {
    applyOp(this.current, op);
    const ops = this.pendingByDirectory.get(directory);
    if (ops === undefined) this.pendingByDirectory.set(directory, [op]);
    else ops.push(op);
  }
}
