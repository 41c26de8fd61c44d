/**
 * Invariant checks in three tiers (STYLE.md, "Assertions in three tiers").
 *
 * `assert` is always on: a broken invariant is a bug, and stopping beats writing bad data. `verify`
 * runs an expensive check only when JUBILANT_VERIFY=1 (the tests set it). Corrupt bytes from disk or
 * the network are never assertion failures: they are typed errors (see errors.ts).
 */

export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** For `switch` exhaustiveness: the compiler proves `value` is `never`, the runtime double-checks. */
export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}

export const verifyEnabled: boolean = process.env.JUBILANT_VERIFY === '1';

/** Runs an expensive invariant check when JUBILANT_VERIFY=1; the check returns a failure text or nothing. */
export function verify(check: () => string | undefined): void {
  if (!verifyEnabled) return;
  const failure = check();
  if (typeof failure === 'string') throw new AssertionError(`verify failed: ${failure}`);
}
