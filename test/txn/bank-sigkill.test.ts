// Proves issue 7 under crashes: a child running concurrent bank transfers (fsync and relaxed) is SIGKILLed at random moments, and after every recovery the accounts are all int64, their sum is exactly the initial total (by point reads and by a prefix scan transaction), and the image validates.
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Database } from '../../src/index.js';
import { NodeFileSystem } from '../../src/io/node-file-system.js';
import { readManifest } from '../../src/meta/manifest.js';
import { validateImage } from '../../src/storage/btree/validate.js';
import { SeededRandom, testSeed } from '../../src/util/random.js';
import {
  BANK_ACCOUNTS,
  BANK_DATABASE_OPTIONS,
  BANK_PREFIX,
  BANK_TOTAL,
  type BankChildMessage,
  bankAccount,
} from '../helpers/bank-child.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Kills per run; `JUBILANT_CRASH_ROUNDS=200 npx vitest run test/txn/bank-sigkill.test.ts` soaks longer. */
const ROUNDS = Number(process.env.JUBILANT_CRASH_ROUNDS ?? 20);
const RUN_MS_MIN = 30;
const RUN_MS_MAX = 200;
const READY_TIMEOUT_MS = 20_000;

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD_PATH = join(REPO_ROOT, 'dist/test/helpers/bank-child.js');

interface BankRun {
  ready: boolean;
  created: boolean;
  readonly errors: string[];
  output: string;
  signal: NodeJS.Signals | null;
}

/** Forks the child, SIGKILLs it `delayMs` after it reports ready, and resolves once it is gone. */
function runChild(directory: string, seed: number, delayMs: number): Promise<BankRun> {
  const child: ChildProcess = fork(CHILD_PATH, [directory, String(seed)], {
    execArgv: ['--enable-source-maps'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const run: BankRun = { ready: false, created: false, errors: [], output: '', signal: null };
  const timers = [setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS)];
  child.stdout?.on('data', (chunk: Buffer) => (run.output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (run.output += chunk.toString()));
  child.on('message', (message: BankChildMessage) => {
    if (message.type === 'ready') {
      run.ready = true;
      run.created = message.created;
      timers.push(setTimeout(() => child.kill('SIGKILL'), delayMs));
    } else {
      run.errors.push(message.message);
    }
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      for (const timer of timers) clearTimeout(timer);
      run.signal = signal;
      resolve(run);
    });
  });
}

describe('bank under SIGKILL (issue 7)', () => {
  it(`the bank total holds after recovery, over ${ROUNDS} kills of a transferring child`, {
    timeout: Math.max(60_000, ROUNDS * 3_000),
  }, async () => {
    if (!existsSync(CHILD_PATH)) throw new Error(`${CHILD_PATH} is missing: run \`npm run build\` first`);
    const seed = testSeed();
    console.log(`bank-sigkill: seed ${seed} (replay the kill times with JUBILANT_SEED=${seed})`);
    const rng = new SeededRandom(seed);
    const directory = await tempDir('jubilant-bank-sigkill-');
    const fs = new NodeFileSystem();
    const startedMs = performance.now();
    let roundsWithMovedBalances = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const delayMs = rng.range(RUN_MS_MIN, RUN_MS_MAX);
      const at = `seed ${seed} round ${round} (killed ${delayMs} ms after ready)`;
      const run = await runChild(directory, rng.nextU32(), delayMs);
      expect(run.errors, `${at}: the child reported a failure:\n${run.output}`).toEqual([]);
      expect(run.ready, `${at}: the child never got ready:\n${run.output}`).toBe(true);
      expect(run.created, `${at}: accounts created only in the first round`).toBe(round === 0);
      expect(run.signal, `${at}: the child ended without being killed:\n${run.output}`).toBe('SIGKILL');

      const db = await Database.open(directory, BANK_DATABASE_OPTIONS);
      try {
        let total = 0n;
        for (let index = 0; index < BANK_ACCOUNTS; index++) {
          const balance = await db.get(bankAccount(index));
          expect(typeof balance, `${at}: ${bankAccount(index)} is an int64`).toBe('bigint');
          total += balance as bigint;
        }
        expect(total, `${at}: the sum of point reads`).toBe(BANK_TOTAL);
        const { results } = await db.transaction({
          keys: [{ id: 0, mode: 'R', prefix: BANK_PREFIX }],
          ops: [{ op: 'SCAN', id: 0 }],
        });
        const entries = results[0] as Array<{ key: string; value: unknown }>;
        expect(entries, `${at}: the prefix scan`).toHaveLength(BANK_ACCOUNTS);
        for (const { key, value } of entries) expect(typeof value, `${at}: ${key}`).toBe('bigint');
        const scanned = entries.reduce((sum, { value }) => sum + (value as bigint), 0n);
        expect(scanned, `${at}: the sum of the prefix scan`).toBe(BANK_TOTAL);
        if (entries.some(({ value }) => value !== BANK_TOTAL / BigInt(BANK_ACCOUNTS)))
          roundsWithMovedBalances += 1;
      } finally {
        await db.close();
      }
      const manifest = await readManifest(fs, directory);
      const report = await validateImage(fs, directory, {
        pageSizeBytes: manifest.pageSizeBytes,
        databaseUuid: manifest.databaseUuid,
      });
      expect(report.errors, `${at}: the image after reopen and close`).toEqual([]);
    }
    console.log(
      `bank-sigkill: ${ROUNDS} kills, balances had moved in ${roundsWithMovedBalances} recoveries, ` +
        `${Math.round(performance.now() - startedMs)} ms`,
    );
    expect(roundsWithMovedBalances, 'transfers committed before the kills').toBeGreaterThan(0);
  });
});
