/**
 * The package root: the embedded API. `Database.open(dir)` creates or opens a data directory and offers
 * get/set/del/scan plus serializable multi-key `transaction()`s; errors are `JubilantError`s whose string
 * `code` is the same one the wire protocol reports.
 */
export type { DatabaseOptions, DatabaseStats, ScanOptions, SetOptions } from './engine/database.js';
export { IoError } from './io/file-system.js';
export type {
  AssertedType,
  Durability,
  KeyDecl,
  OpResult,
  TxnOp,
  TxnRequest,
  Value,
} from './txn/ops.js';
export { Database, type TransactionResult, type TransactionStats } from './txn/transactional-database.js';
export {
  CorruptionError,
  ERROR_TABLE,
  type ErrorCode,
  isJubilantError,
  JubilantError,
} from './util/errors.js';
