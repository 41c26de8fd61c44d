/**
 * jubilant.toml: the typed configuration. Keys are snake_case with units in the name; in TypeScript they
 * become camelCase with the unit kept (BRIEF.md, "Names"). Every key is declared once in CONFIG_KEYS with
 * its default and bounds (from limits.ts); loading rejects unknown keys and out-of-range values with a
 * message naming the key, so a typo is a clear error instead of a silently ignored setting.
 */
import { readFile } from 'node:fs/promises';
import { parse, TomlError } from 'smol-toml';
import { JubilantError } from '../util/errors.js';
import {
  INLINE_VALUE_PAGE_FRACTION_MAX,
  INLINE_VALUE_THRESHOLD_BYTES_DEFAULT,
  isValidPageSize,
  LOCK_TIMEOUT_MS_DEFAULT,
  PAGE_SIZE_BYTES_DEFAULT,
  PAGE_SIZE_BYTES_MAX,
  PAGE_SIZE_BYTES_MIN,
} from './limits.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

type KeySpec =
  | { readonly kind: 'string'; readonly fallback: string }
  | { readonly kind: 'choice'; readonly fallback: string; readonly choices: readonly string[] }
  | { readonly kind: 'integer'; readonly fallback: number; readonly min: number; readonly max: number }
  | { readonly kind: 'share'; readonly fallback: number; readonly min: number; readonly max: number };

const integer = (fallback: number, min: number, max: number): KeySpec => ({
  kind: 'integer',
  fallback,
  min,
  max,
});

/** Every key: section → snake_case key → spec. */
export const CONFIG_KEYS = {
  storage: {
    data_dir: { kind: 'string', fallback: './data' },
    page_size_bytes: integer(PAGE_SIZE_BYTES_DEFAULT, PAGE_SIZE_BYTES_MIN, PAGE_SIZE_BYTES_MAX),
    inline_value_threshold_bytes: integer(INLINE_VALUE_THRESHOLD_BYTES_DEFAULT, 1, PAGE_SIZE_BYTES_MAX / 8),
  },
  cache: {
    cache_bytes: integer(64 * MiB, MiB, 1024 * GiB),
  },
  wal: {
    durability: { kind: 'choice', fallback: 'fsync', choices: ['fsync', 'relaxed'] },
    segment_bytes: integer(64 * MiB, MiB, 4 * GiB),
    group_commit_max_latency_ms: integer(5, 0, 1000),
    group_commit_bytes_max: integer(4 * MiB, 4096, 256 * MiB),
  },
  vlog: {
    segment_bytes: integer(256 * MiB, 4096, 4 * GiB),
    gc_threshold: { kind: 'share', fallback: 0.5, min: 0.05, max: 1 },
    gc_interval_ms: integer(60_000, 0, 24 * 3600 * 1000),
  },
  ttl: {
    sweep_interval_ms: integer(1000, 0, 3600 * 1000),
    sweep_batch_entries: integer(1024, 1, 1_000_000),
  },
  checkpoint: {
    interval_ms: integer(60_000, 0, 24 * 3600 * 1000),
    wal_bytes: integer(256 * MiB, MiB, 64 * GiB),
    dirty_share_max: { kind: 'share', fallback: 0.5, min: 0.05, max: 0.9 },
  },
  txn: {
    lock_timeout_ms: integer(LOCK_TIMEOUT_MS_DEFAULT, 1, 3600 * 1000),
  },
} as const satisfies Record<string, Record<string, KeySpec>>;

export interface JubilantConfig {
  readonly storage: {
    readonly dataDir: string;
    readonly pageSizeBytes: number;
    readonly inlineValueThresholdBytes: number;
  };
  readonly cache: { readonly cacheBytes: number };
  readonly wal: {
    readonly durability: 'fsync' | 'relaxed';
    readonly segmentBytes: number;
    readonly groupCommitMaxLatencyMs: number;
    readonly groupCommitBytesMax: number;
  };
  readonly vlog: {
    readonly segmentBytes: number;
    readonly gcThreshold: number;
    readonly gcIntervalMs: number;
  };
  readonly ttl: { readonly sweepIntervalMs: number; readonly sweepBatchEntries: number };
  readonly checkpoint: {
    readonly intervalMs: number;
    readonly walBytes: number;
    readonly dirtyShareMax: number;
  };
  readonly txn: { readonly lockTimeoutMs: number };
}

function invalid(source: string, message: string): JubilantError {
  return new JubilantError('CONFIG_INVALID', `${source}: ${message}`);
}

function camelCase(snake: string): string {
  return snake.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function readKey(spec: KeySpec, value: unknown, name: string, source: string): string | number {
  if (value === undefined) return spec.fallback;
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string' || value === '')
        throw invalid(source, `${name} must be a non-empty string`);
      return value;
    case 'choice':
      if (typeof value !== 'string' || !spec.choices.includes(value)) {
        throw invalid(
          source,
          `${name} must be one of ${spec.choices.map((choice) => `"${choice}"`).join(', ')}`,
        );
      }
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || value > spec.max) {
        throw invalid(source, `${name} must be an integer in [${spec.min}, ${spec.max}]`);
      }
      return value;
    case 'share':
      if (typeof value !== 'number' || !(value >= spec.min && value <= spec.max)) {
        throw invalid(source, `${name} must be a number in [${spec.min}, ${spec.max}]`);
      }
      return value;
  }
}

function readSection(sectionName: string, table: Table, source: string): Record<string, string | number> {
  const specs: Record<string, KeySpec> = CONFIG_KEYS[sectionName as keyof typeof CONFIG_KEYS];
  for (const key of Object.keys(table)) {
    if (specs[key] === undefined) {
      throw invalid(source, `unknown key ${sectionName}.${key} (known: ${Object.keys(specs).join(', ')})`);
    }
  }
  const out: Record<string, string | number> = {};
  for (const [key, spec] of Object.entries(specs)) {
    out[camelCase(key)] = readKey(spec, table[key], `${sectionName}.${key}`, source);
  }
  return out;
}

function checkRelations(config: JubilantConfig, source: string): void {
  const { pageSizeBytes, inlineValueThresholdBytes } = config.storage;
  if (!isValidPageSize(pageSizeBytes))
    throw invalid(source, 'storage.page_size_bytes must be a power of two');
  if (inlineValueThresholdBytes > pageSizeBytes / INLINE_VALUE_PAGE_FRACTION_MAX) {
    throw invalid(source, 'storage.inline_value_threshold_bytes must be at most page_size_bytes / 8');
  }
  if (config.wal.segmentBytes % 512 !== 0)
    throw invalid(source, 'wal.segment_bytes must be a multiple of 512');
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
  const sections = Object.keys(CONFIG_KEYS);
  for (const key of Object.keys(document)) {
    if (!sections.includes(key))
      throw invalid(source, `unknown key ${key} (known sections: ${sections.join(', ')})`);
  }
  const config: Record<string, unknown> = {};
  for (const section of sections) {
    const table = document[section] ?? {};
    if (!isTable(table)) throw invalid(source, `[${section}] must be a table`);
    config[section] = readSection(section, table, source);
  }
  checkRelations(config as unknown as JubilantConfig, source);
  return config as unknown as JubilantConfig;
}

export const DEFAULT_CONFIG: JubilantConfig = parseConfig('', 'defaults');

export async function loadConfig(path: string): Promise<JubilantConfig> {
  return parseConfig(await readFile(path, 'utf8'), path);
}
