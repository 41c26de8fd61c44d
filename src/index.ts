/**
 * The package root: the embedded API. `Database.open(dir)` creates or opens a data directory; errors
 * are `JubilantError`s whose string `code` is the same one the wire protocol reports.
 */
export {
  Database,
  type DatabaseOptions,
  type DatabaseStats,
  type ScanOptions,
  type SetOptions,
  type Value,
} from './engine/database.js';
export {
  CorruptionError,
  ERROR_TABLE,
  type ErrorCode,
  isJubilantError,
  JubilantError,
} from './util/errors.js';
export { IoError } from './io/file-system.js';
