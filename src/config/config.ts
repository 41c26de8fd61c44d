/**
 * jubilant.toml: the typed configuration. Keys are snake_case with units in the name; in TypeScript they
 * become camelCase with the unit kept (BRIEF.md, "Names"). Loading validates every key against
 * limits.ts and rejects unknown keys, so a typo is a clear error instead of a silently ignored setting.
 */
import { readFile } from 'node:fs/promises';
import { parse, TomlError } from 'smol-toml';
import { JubilantError } from '../util/errors.js';
import {
  INLINE_VALUE_PAGE_FRACTION_MAX,
  INLINE_VALUE_THRESHOLD_BYTES_DEFAULT,
  isValidPageSize,
  PAGE_SIZE_BYTES_DEFAULT,
  PAGE_SIZE_BYTES_MAX,
  PAGE_SIZE_BYTES_MIN,
} from './limits.js';

export interface StorageConfig {
  /** The data directory (MANIFEST, superblocks, data.pages, WAL and value-log segments, LOCK). */
  readonly dataDir: string;
  /** Page size of a database created with this config; an existing database keeps its own. */
  readonly pageSizeBytes: number;
  /** Values encoded larger than this go to the value log; fixed at creation like the page size. */
  readonly inlineValueThresholdBytes: number;
}

export interface JubilantConfig {
  readonly storage: StorageConfig;
}

export const DEFAULT_CONFIG: JubilantConfig = {
  storage: {
    dataDir: './data',
    pageSizeBytes: PAGE_SIZE_BYTES_DEFAULT,
    inlineValueThresholdBytes: INLINE_VALUE_THRESHOLD_BYTES_DEFAULT,
  },
};

function invalid(source: string, message: string): JubilantError {
  return new JubilantError('CONFIG_INVALID', `${source}: ${message}`);
}

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function rejectUnknownKeys(table: Table, known: readonly string[], where: string, source: string): void {
  for (const key of Object.keys(table)) {
    if (!known.includes(key))
      throw invalid(source, `unknown key ${where}${key} (known: ${known.join(', ')})`);
  }
}

function integerIn(
  table: Table,
  key: string,
  bounds: { min: number; max: number; fallback: number },
  source: string,
) {
  const value = table[key];
  if (value === undefined) return bounds.fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
    throw invalid(source, `storage.${key} must be an integer in [${bounds.min}, ${bounds.max}]`);
  }
  return value;
}

function parseStorage(table: Table, source: string): StorageConfig {
  rejectUnknownKeys(
    table,
    ['data_dir', 'page_size_bytes', 'inline_value_threshold_bytes'],
    'storage.',
    source,
  );
  const fallback = DEFAULT_CONFIG.storage;
  const dataDir = table.data_dir ?? fallback.dataDir;
  if (typeof dataDir !== 'string' || dataDir === '') throw invalid(source, 'storage.data_dir must be a path');
  const pageSizeBytes = integerIn(
    table,
    'page_size_bytes',
    { min: PAGE_SIZE_BYTES_MIN, max: PAGE_SIZE_BYTES_MAX, fallback: fallback.pageSizeBytes },
    source,
  );
  if (!isValidPageSize(pageSizeBytes))
    throw invalid(source, 'storage.page_size_bytes must be a power of two');
  const inlineValueThresholdBytes = integerIn(
    table,
    'inline_value_threshold_bytes',
    {
      min: 1,
      max: Math.floor(pageSizeBytes / INLINE_VALUE_PAGE_FRACTION_MAX),
      fallback: fallback.inlineValueThresholdBytes,
    },
    source,
  );
  return { dataDir, pageSizeBytes, inlineValueThresholdBytes };
}

/** Parses TOML text; `source` names it in error messages. */
export function parseConfig(text: string, source = 'jubilant.toml'): JubilantConfig {
  let document: Table;
  try {
    document = parse(text) as Table;
  } catch (error) {
    if (error instanceof TomlError)
      throw invalid(source, `line ${error.line}: ${error.message.split('\n')[0]}`);
    throw error;
  }
  rejectUnknownKeys(document, ['storage'], '', source);
  const storage = document.storage ?? {};
  if (!isTable(storage)) throw invalid(source, '[storage] must be a table');
  return { storage: parseStorage(storage, source) };
}

export async function loadConfig(path: string): Promise<JubilantConfig> {
  return parseConfig(await readFile(path, 'utf8'), path);
}
