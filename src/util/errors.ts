/**
 * The error table: every error code jubilant-db can report, with its frozen wire number, its
 * retryable flag and a one-line meaning. The wire schema's `ErrorCode` enum carries the same names and
 * numbers, and docs/errors.md lists them; test/util/errors.test.ts fails when the three disagree.
 *
 * Every error that crosses the embedded API or the wire is a `JubilantError` with a string `code`.
 * Corrupt bytes from disk are `CorruptionError`s naming the file and offset, never assertion failures.
 */

export const ERROR_TABLE = {
  INTERNAL: { wire: 1, retryable: false, meaning: 'an internal error; the server log has details' },
  MALFORMED_FRAME: {
    wire: 2,
    retryable: false,
    meaning: 'a frame or FlatBuffers buffer failed verification',
  },
  FRAME_TOO_LARGE: { wire: 3, retryable: false, meaning: 'a frame is longer than the configured limit' },
  INVALID_UTF8: { wire: 4, retryable: false, meaning: 'a key or string value is not well-formed UTF-8' },
  UNSUPPORTED_PROTOCOL: {
    wire: 5,
    retryable: false,
    meaning: 'the client speaks a protocol version the server does not',
  },
  UNAUTHENTICATED: { wire: 6, retryable: false, meaning: 'no valid hello with a valid token came first' },
  PERMISSION_DENIED: { wire: 7, retryable: false, meaning: "the token's role does not allow this request" },
  INVALID_ARGUMENT: { wire: 8, retryable: false, meaning: 'a request field is missing or out of range' },
  INVALID_KEY: { wire: 9, retryable: false, meaning: 'a key is empty or otherwise not a valid key' },
  KEY_TOO_LARGE: { wire: 10, retryable: false, meaning: 'a key is longer than the maximum key size' },
  VALUE_TOO_LARGE: {
    wire: 11,
    retryable: false,
    meaning: 'a value is larger than the largest storable value',
  },
  DUPLICATE_KEY_ID: { wire: 12, retryable: false, meaning: "a transaction's key table uses an id twice" },
  UNKNOWN_KEY_ID: {
    wire: 13,
    retryable: false,
    meaning: 'an op names a key id that the key table does not declare',
  },
  WRITE_TO_READ_KEY: { wire: 14, retryable: false, meaning: 'an op writes a key declared read-only (R)' },
  NOT_A_RANGE: {
    wire: 15,
    retryable: false,
    meaning: 'a SCAN names a key that was not declared as a range or prefix',
  },
  NOT_A_POINT: {
    wire: 16,
    retryable: false,
    meaning: 'a point op names a key that was declared as a range or prefix',
  },
  ASSERTION_FAILED: {
    wire: 17,
    retryable: false,
    meaning: 'an ASSERT op did not hold; the transaction had no effect',
  },
  TYPE_MISMATCH: {
    wire: 18,
    retryable: false,
    meaning: 'an op needs a value of another type (INCR on a non-int64)',
  },
  INT_OVERFLOW: { wire: 19, retryable: false, meaning: 'an INCR would leave the int64 range' },
  TOO_MANY_KEYS: {
    wire: 20,
    retryable: false,
    meaning: "a transaction's key table is longer than the limit",
  },
  TOO_MANY_OPS: { wire: 21, retryable: false, meaning: "a transaction's op list is longer than the limit" },
  LOCK_TIMEOUT: { wire: 22, retryable: true, meaning: 'a lock was not granted within lock_timeout_ms' },
  READ_ONLY: {
    wire: 23,
    retryable: false,
    meaning: 'the database is read-only after an fsync failure; reopen it',
  },
  DISK_FULL: {
    wire: 24,
    retryable: true,
    meaning: 'a write failed with ENOSPC; writes resume when space returns',
  },
  IO_ERROR: { wire: 25, retryable: false, meaning: 'a file operation failed' },
  CORRUPTION: { wire: 26, retryable: false, meaning: 'stored bytes failed a checksum or structural check' },
  VERSION_TOO_NEW: {
    wire: 27,
    retryable: false,
    meaning: 'the data directory was written by a newer major format',
  },
  DATABASE_LOCKED: { wire: 28, retryable: false, meaning: 'another live process owns the data directory' },
  CLOSED: { wire: 29, retryable: false, meaning: 'the database or connection is closed' },
  SHUTTING_DOWN: {
    wire: 30,
    retryable: true,
    meaning: 'the server is shutting down; retry on another connection',
  },
  OVERLOADED: { wire: 31, retryable: true, meaning: 'the server shed load; retry later' },
  TIMEOUT: { wire: 32, retryable: true, meaning: 'the request did not complete in time' },
  CONFIG_INVALID: { wire: 33, retryable: false, meaning: 'a configuration value is missing or out of range' },
} as const satisfies Record<string, { wire: number; retryable: boolean; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export interface JubilantErrorOptions {
  /** The failing op of a transaction, when there is one. */
  opIndex?: number;
  cause?: unknown;
}

export class JubilantError extends Error {
  override name = 'JubilantError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly opIndex: number | undefined;

  constructor(code: ErrorCode, message: string, options: JubilantErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = ERROR_TABLE[code].retryable;
    this.opIndex = options.opIndex;
  }

  get wireCode(): number {
    return ERROR_TABLE[this.code].wire;
  }
}

export interface CorruptionContext {
  file: string;
  offsetBytes?: number;
  /** What was being read, e.g. "page 12" or "superblock". */
  what?: string;
}

/** Stored bytes failed a check. Names the file and offset so an operator can find them. */
export class CorruptionError extends JubilantError {
  override name = 'CorruptionError';
  readonly file: string;
  readonly offsetBytes: number | undefined;

  constructor(message: string, context: CorruptionContext, options: JubilantErrorOptions = {}) {
    const where =
      context.offsetBytes === undefined ? context.file : `${context.file} @ ${context.offsetBytes}`;
    super(
      'CORRUPTION',
      `${message} (${context.what === undefined ? '' : `${context.what}, `}${where})`,
      options,
    );
    this.file = context.file;
    this.offsetBytes = context.offsetBytes;
  }
}

export function isJubilantError(error: unknown, code?: ErrorCode): error is JubilantError {
  return error instanceof JubilantError && (code === undefined || error.code === code);
}
