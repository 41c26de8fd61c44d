// Proves jubilant.toml's defaults and Database.open's defaults are the same, and bad options are typed errors.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { databaseOptionsFromConfig, resolveOptions } from '../../src/engine/database-options.js';
import { isJubilantError } from '../../src/util/errors.js';

describe('database options', () => {
  it('the config defaults resolve to exactly the options defaults', () => {
    expect(resolveOptions(databaseOptionsFromConfig(DEFAULT_CONFIG))).toEqual(resolveOptions({}));
  });

  it('an invalid option is an INVALID_ARGUMENT naming it', () => {
    for (const [options, name] of [
      [{ durability: 'sometimes' as never }, 'durability'],
      [{ pageSizeBytes: 5000 }, 'pageSizeBytes'],
      [{ cacheBytes: 10 }, 'cacheBytes'],
      [{ dirtyShareMax: 1 }, 'dirtyShareMax'],
      [{ walSegmentBytes: 1000 }, 'walSegmentBytes'],
    ] as const) {
      let caught: unknown;
      try {
        resolveOptions(options);
      } catch (error) {
        caught = error;
      }
      expect(isJubilantError(caught, 'INVALID_ARGUMENT') && caught.message.includes(name), name).toBe(true);
    }
  });
});
