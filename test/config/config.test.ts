// Proves jubilant.toml is parsed into typed config, with defaults, and that bad input is a clear error.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, loadConfig, parseConfig } from '../../src/config/config.js';
import { isJubilantError } from '../../src/util/errors.js';

function configError(text: string): string {
  try {
    parseConfig(text, 'test.toml');
  } catch (error) {
    if (isJubilantError(error, 'CONFIG_INVALID')) return error.message;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('config', () => {
  it('the shipped jubilant.toml loads and equals the defaults', async () => {
    const config = await loadConfig(join(import.meta.dirname, '..', '..', 'jubilant.toml'));
    expect(config).toEqual(DEFAULT_CONFIG);
  });

  it('an empty file gives the defaults', () => {
    expect(parseConfig('')).toEqual(DEFAULT_CONFIG);
  });

  it('keys map to camelCase with their units kept', () => {
    const config = parseConfig(
      '[storage]\ndata_dir = "/srv/db"\npage_size_bytes = 4096\ninline_value_threshold_bytes = 256',
    );
    expect(config.storage).toEqual({
      dataDir: '/srv/db',
      pageSizeBytes: 4096,
      inlineValueThresholdBytes: 256,
    });
  });

  it('an unknown key is rejected with its name', () => {
    expect(configError('[storage]\npage_size = 4096')).toContain('unknown key storage.page_size');
    expect(configError('[stroage]')).toContain('unknown key stroage');
    expect(configError('[wal]\nsegment_size = 1')).toContain('unknown key wal.segment_size');
  });

  it('wal keys map to camelCase too', () => {
    const wal = parseConfig('[wal]\ngroup_commit_max_latency_ms = 2\ndurability = "relaxed"').wal;
    expect(wal).toMatchObject({ groupCommitMaxLatencyMs: 2, durability: 'relaxed' });
  });

  it('the defaults are the documented ones', () => {
    expect(DEFAULT_CONFIG.wal).toEqual({
      durability: 'fsync',
      segmentBytes: 64 * 1024 * 1024,
      groupCommitMaxLatencyMs: 5,
      groupCommitBytesMax: 4 * 1024 * 1024,
    });
    expect(DEFAULT_CONFIG.checkpoint).toEqual({
      intervalMs: 60_000,
      walBytes: 256 * 1024 * 1024,
      dirtyShareMax: 0.5,
    });
    expect(DEFAULT_CONFIG.cache).toEqual({ cacheBytes: 64 * 1024 * 1024 });
  });

  it('a durability other than fsync or relaxed is rejected', () => {
    expect(configError('[wal]\ndurability = "sometimes"')).toContain('wal.durability must be one of');
  });

  it('a dirty share out of range is rejected', () => {
    expect(configError('[checkpoint]\ndirty_share_max = 1.5')).toContain('checkpoint.dirty_share_max');
  });

  it('a page size that is not a power of two is rejected', () => {
    expect(configError('[storage]\npage_size_bytes = 12288')).toContain('power of two');
  });

  it('a page size out of range is rejected', () => {
    expect(configError('[storage]\npage_size_bytes = 131072')).toContain('page_size_bytes');
  });

  it('an inline threshold above an eighth of the page is rejected', () => {
    expect(configError('[storage]\npage_size_bytes = 4096\ninline_value_threshold_bytes = 1024')).toContain(
      'inline_value_threshold_bytes',
    );
  });

  it('malformed TOML names the line', () => {
    expect(configError('[storage]\ndata_dir = ')).toContain('line 2');
  });
});
