/**
 * What every bench shares on the command line and in its header: flag checks that exit with the
 * usage text, the machine line and the file system a directory is on.
 */
import { statfs } from 'node:fs/promises';
import { arch, cpus, platform, totalmem } from 'node:os';

/** Flag checks for one bench: a bad flag prints the message and the usage, then exits with 2. */
export function flagChecks(benchName, usage) {
  const fail = (message) => {
    console.error(`${benchName}: ${message}\n${usage}`);
    process.exit(2);
  };
  const positiveNumber = (text, flag) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) fail(`${flag} takes a positive number, not '${text}'`);
    return value;
  };
  const positiveInteger = (text, flag) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1) fail(`${flag} takes a positive integer, not '${text}'`);
    return value;
  };
  return { fail, positiveNumber, positiveInteger };
}

/** `node ... , linux x64, 2 x <cpu>, 23.5 GiB RAM` for a header's `node` line. */
export function machineLine() {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return (
    `${process.version}, ${platform()} ${arch()}, ${cpus().length} x ${cpu}, ` +
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`
  );
}

const FS_TYPES = new Map([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs (fsync is a no-op: not a disk measurement)'],
  [0x794c7630, 'overlayfs'],
  [0x2fc12fc1, 'zfs'],
]);

/** The file system `directory` lives on, by name where known (fsync means little on tmpfs). */
export async function fileSystemName(directory) {
  const type = (await statfs(directory)).type;
  return FS_TYPES.get(type) ?? `type 0x${type.toString(16)}`;
}
