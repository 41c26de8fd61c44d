/**
 * The package root: the embedded API. The Database class arrives with the WAL issue; today the root
 * exports the error types that every layer reports through.
 */

export { IoError } from './io/file-system.js';
export {
  CorruptionError,
  ERROR_TABLE,
  type ErrorCode,
  isJubilantError,
  JubilantError,
} from './util/errors.js';
